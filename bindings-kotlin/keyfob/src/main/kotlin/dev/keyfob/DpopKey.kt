package dev.keyfob

import dev.keyfob.ffi.KeyfobDpopKey
import java.security.GeneralSecurityException
import java.security.KeyPairGenerator
import java.security.PrivateKey
import java.security.PublicKey
import java.security.Signature
import java.security.spec.ECGenParameterSpec

/**
 * A P-256 key that a DPoP-bound session proves possession of (RFC 9449): tokens bound to it are
 * useless to anyone who copies them without it. Pass one to [Keyfob]; on Android,
 * `KeystoreDpopKey` keeps it in the Android Keystore (StrongBox when the device has it).
 *
 * Keyfob builds every proof itself and asks the key only for its public half and for signatures,
 * so the private key stays where the platform keeps it. Throw [StorageException.KeyInvalidated]
 * when the key is gone (a session bound to it must sign in again), [StorageException.Unavailable]
 * when it cannot be used now.
 */
public interface DpopKey {
    /**
     * The public key: its DER SubjectPublicKeyInfo (Java's `PublicKey.getEncoded()`) or the
     * uncompressed P-256 point. Makes the key when there is none yet (a sign-in then binds the
     * new session to it).
     */
    @Throws(StorageException::class)
    public fun publicKey(): ByteArray

    /** An ES256 signature of [message] (`SHA256withECDSA`): DER, as Java makes it, or raw `r ‖ s`. */
    @Throws(StorageException::class)
    public fun sign(message: ByteArray): ByteArray
}

/**
 * A DPoP key held by `java.security` objects: signs with `SHA256withECDSA`. [generate] makes a
 * software key in memory (for the JVM, desktop and tests); the Android Keystore key signs through
 * the same code with keys that never leave the Keystore.
 */
public class JcaDpopKey(private val privateKey: PrivateKey, private val publicKey: PublicKey) : DpopKey {
    override fun publicKey(): ByteArray = publicKey.encoded

    override fun sign(message: ByteArray): ByteArray = signEs256(privateKey, message)

    override fun toString(): String = "JcaDpopKey(${publicKey.algorithm})"

    public companion object {
        /** A new P-256 key pair in memory (lost when the process ends). */
        @JvmStatic
        public fun generate(): JcaDpopKey {
            val generator = KeyPairGenerator.getInstance("EC")
            generator.initialize(ECGenParameterSpec("secp256r1"))
            val pair = generator.generateKeyPair()
            return JcaDpopKey(pair.private, pair.public)
        }
    }
}

/** `SHA256withECDSA` with [key]; a key the provider refuses is [StorageException.Failed]. */
internal fun signEs256(key: PrivateKey, message: ByteArray): ByteArray = try {
    Signature.getInstance("SHA256withECDSA").run {
        initSign(key)
        update(message)
        sign()
    }
} catch (e: GeneralSecurityException) {
    throw StorageErrors.classify(e, "signing a DPoP proof")
}

/** Presents a [DpopKey] to the core. */
internal class DpopKeyBridge(private val key: DpopKey) : KeyfobDpopKey {
    override fun publicKey(): ByteArray = asStorageFailures("the DPoP key") { key.publicKey() }

    override fun sign(message: ByteArray): ByteArray = asStorageFailures("the DPoP key") { key.sign(message) }
}
