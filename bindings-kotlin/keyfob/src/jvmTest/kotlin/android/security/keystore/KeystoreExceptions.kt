// Stand-ins with the real names of two Android Keystore exceptions, so that StorageErrors'
// recognition by class name is tested on the JVM exactly as it runs on a device. Test-only: the
// real classes come from the Android framework.
package android.security.keystore

import java.security.InvalidKeyException

class KeyPermanentlyInvalidatedException : InvalidKeyException("key permanently invalidated")

class UserNotAuthenticatedException : InvalidKeyException("user not authenticated")
