package dev.keyfob

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.KeyStore
import java.security.PrivateKey
import java.security.spec.ECGenParameterSpec

/**
 * A DPoP key in the Android Keystore: a non-exportable P-256 signing key
 * (`KeyProperties.PURPOSE_SIGN`, SHA-256), generated in the StrongBox where the device has one
 * (per [strongBox]), else in the TEE. The private key never leaves the Keystore, not even to
 * Keyfob: Keyfob hands it each proof to sign ([signEs256], the code the JVM's [JcaDpopKey] runs).
 *
 * One key per [alias]: the sessions of every account signed in with it are bound to it. It is
 * made at the first sign-in that needs it. A key invalidated by the Keystore, or deleted, is
 * [StorageException.KeyInvalidated] when signing: the session bound to it must sign in again.
 * Call [delete] when the last account signs out, if no session should outlive it.
 */
public class KeystoreDpopKey @JvmOverloads constructor(
    private val alias: String = DEFAULT_ALIAS,
    private val strongBox: StrongBox = StrongBox.PREFERRED,
) : DpopKey {
    override fun publicKey(): ByteArray = keystoreCall("reading the DPoP key") {
        val existing = keyStore().getCertificate(alias)?.publicKey
        (existing ?: generate().public).encoded
    }

    override fun sign(message: ByteArray): ByteArray {
        val key = keystoreCall("reading the DPoP key") { keyStore().getKey(alias, null) as PrivateKey? }
            ?: throw StorageException.KeyInvalidated("the DPoP key is gone")
        return signEs256(key, message)
    }

    /** Deletes the key: sessions bound to it can no longer be used; the next sign-in makes a new one. */
    public fun delete(): Unit = keystoreCall("deleting the DPoP key") { keyStore().deleteEntry(alias) }

    private fun generate(): KeyPair =
        KeyGeneration.generate(KeyGeneration.attempts(strongBox, Build.VERSION.SDK_INT)) { inStrongBox ->
            val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_SIGN)
                .setAlgorithmParameterSpec(ECGenParameterSpec("secp256r1"))
                .setDigests(KeyProperties.DIGEST_SHA256)
                .apply { if (inStrongBox && Build.VERSION.SDK_INT >= 28) setIsStrongBoxBacked(true) }
                .build()
            KeyPairGenerator.getInstance(KeyProperties.KEY_ALGORITHM_EC, KEYSTORE).run {
                initialize(spec)
                generateKeyPair()
            }
        }

    private fun keyStore(): KeyStore = KeyStore.getInstance(KEYSTORE).apply { load(null) }

    private inline fun <T> keystoreCall(action: String, block: () -> T): T = try {
        block()
    } catch (e: StorageException) {
        throw e
    } catch (e: Exception) {
        throw StorageErrors.classify(e, action)
    }

    public companion object {
        /** The key's alias unless the app chooses another. */
        public const val DEFAULT_ALIAS: String = "dev.keyfob.dpop"

        private const val KEYSTORE = "AndroidKeyStore"
    }
}
