// Stand-ins with the real names of three Android Keystore exceptions, so that StorageErrors'
// recognition by class name is tested on the JVM exactly as it runs on a device. Test-only: the
// real classes come from the Android framework.
package android.security.keystore

import java.security.InvalidKeyException
import java.security.ProviderException

class KeyPermanentlyInvalidatedException : InvalidKeyException("key permanently invalidated")

class UserNotAuthenticatedException : InvalidKeyException("user not authenticated")

class StrongBoxUnavailableException : ProviderException("no StrongBox")
