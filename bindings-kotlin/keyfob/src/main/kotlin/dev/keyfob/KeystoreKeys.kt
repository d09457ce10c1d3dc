package dev.keyfob

import java.security.GeneralSecurityException
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import javax.crypto.Cipher

/**
 * Where the AES-GCM key of a [CipherSealingKey] lives (on Android, `AndroidKeyStore`): it hands
 * out ciphers initialised with the key and never the key itself.
 */
public interface CipherKeystore {
    /** A cipher initialised to encrypt with a fresh IV, creating the key first if there is none. */
    @Throws(GeneralSecurityException::class)
    public fun encryptCipher(): Cipher

    /** A cipher initialised to decrypt with [iv]; throws [SealingKeyMissingException] when there is no key. */
    @Throws(GeneralSecurityException::class)
    public fun decryptCipher(iv: ByteArray): Cipher

    /** Deletes the key, so that the next [encryptCipher] creates a new one. */
    public fun reset()
}

/**
 * Lets the user unlock a key bound to their authentication for one operation: shows the prompt
 * (on Android, `BiometricPrompt` with the cipher as its `CryptoObject`), blocks the calling thread
 * until it is answered, and returns the cipher the platform authorised. A refusal, a cancel or a
 * lockout is [StorageException.Unavailable]: the session is kept and a later call asks again.
 */
public fun interface CipherAuthorizer {
    /** Returns [cipher], authorised for one operation, or throws [StorageException]. */
    @Throws(StorageException::class)
    public fun authorize(cipher: Cipher): Cipher
}

/**
 * A [SealingKey] made of a [CipherKeystore] and, for a key bound to the user's authentication, a
 * [CipherAuthorizer] asked before each encryption and decryption.
 *
 * An authorizer blocks until the user answers, so it is never asked on the main thread
 * ([isMainThread]): that is [StorageException.Unavailable] at once. Keyfob itself reads and writes
 * storage only on background threads.
 */
public class CipherSealingKey @JvmOverloads constructor(
    private val keystore: CipherKeystore,
    private val authorizer: CipherAuthorizer? = null,
    private val isMainThread: () -> Boolean = { false },
) : SealingKey {
    override fun seal(plaintext: ByteArray, aad: ByteArray): SealedBox {
        val cipher = authorized(keystore.encryptCipher())
        cipher.updateAAD(aad)
        val ciphertext = cipher.doFinal(plaintext)
        return SealedBox(cipher.iv, ciphertext)
    }

    override fun open(box: SealedBox, aad: ByteArray): ByteArray {
        val cipher = authorized(keystore.decryptCipher(box.iv))
        cipher.updateAAD(aad)
        return cipher.doFinal(box.ciphertext)
    }

    override fun reset(): Unit = keystore.reset()

    private fun authorized(cipher: Cipher): Cipher {
        val authorizer = authorizer ?: return cipher
        if (isMainThread()) {
            throw StorageException.Unavailable("the storage key needs the user's authentication, which is never asked on the main thread")
        }
        return authorizer.authorize(cipher)
    }
}

/** Whether the storage key lives in a StrongBox (a separate secure chip), where the device has one. */
public enum class StrongBox {
    /** Never: the key lives in the TEE (or software on devices without one). */
    OFF,

    /** In the StrongBox when the device has one (Android 9+), else in the TEE. */
    PREFERRED,

    /** Only in a StrongBox: on a device without one, storage fails ([StorageException.Failed]). */
    REQUIRED,
}

/** The attempts at generating the Keystore key, StrongBox first where wanted and possible. */
public object KeyGeneration {
    /** Whether each attempt asks for a StrongBox, in order: `[true, false]`, `[false]` or `[true]`. */
    public fun attempts(strongBox: StrongBox, sdkInt: Int): List<Boolean> = when {
        strongBox == StrongBox.OFF -> listOf(false)
        sdkInt < 28 && strongBox == StrongBox.PREFERRED -> listOf(false)
        strongBox == StrongBox.PREFERRED -> listOf(true, false)
        else -> listOf(true)
    }

    /**
     * Runs [generate] for each attempt until one succeeds; a StrongBox that is missing
     * (`StrongBoxUnavailableException`) moves on to the next attempt, anything else is thrown.
     * With no attempt left after a missing StrongBox, throws [StorageException.Failed].
     */
    public fun <T> generate(attempts: List<Boolean>, generate: (strongBox: Boolean) -> T): T {
        var missing: Throwable? = null
        for (strongBox in attempts) {
            try {
                return generate(strongBox)
            } catch (e: Exception) {
                if (!strongBox || !StorageErrors.isA(e, StorageErrors.STRONGBOX_UNAVAILABLE)) throw e
                missing = e
            }
        }
        throw StorageException.Failed("this device has no StrongBox for the storage key", missing)
    }
}

/**
 * Whether a key bound to biometrics can be used on this device, before one is created: Android 9+,
 * a secure lock screen, and an enrolled strong biometric.
 */
public object BiometricSupport {
    /** `BiometricManager.BIOMETRIC_SUCCESS`. */
    public const val SUCCESS: Int = 0

    /** `BiometricManager.BIOMETRIC_ERROR_NONE_ENROLLED`. */
    public const val NONE_ENROLLED: Int = 11

    /** `BiometricManager.BIOMETRIC_ERROR_NO_HARDWARE`. */
    public const val NO_HARDWARE: Int = 12

    /**
     * Why such a key cannot be used now, or `null` when it can.
     *
     * @param canAuthenticate `BiometricManager.canAuthenticate(BIOMETRIC_STRONG)` (Android 11+) or
     *   `canAuthenticate()` (Android 10); `null` on Android 9, which cannot tell in advance.
     */
    public fun problem(sdkInt: Int, deviceSecure: Boolean, canAuthenticate: Int?): String? = when {
        sdkInt < 28 -> "a key bound to biometrics needs Android 9 or later"
        !deviceSecure -> "the device has no secure lock screen"
        canAuthenticate == null || canAuthenticate == SUCCESS -> null
        canAuthenticate == NONE_ENROLLED -> "no biometric is enrolled"
        canAuthenticate == NO_HARDWARE -> "the device has no biometric hardware"
        else -> "biometric authentication is not available now ($canAuthenticate)"
    }

    /** A prompt's error (`BiometricPrompt.BIOMETRIC_ERROR_*`) as a storage failure: the session is kept. */
    public fun failure(errorCode: Int): StorageException =
        StorageException.Unavailable("biometric authentication did not succeed (BiometricPrompt error $errorCode)")
}

/**
 * Waits on the calling thread for an answer that arrives on another (the user's answer to a
 * prompt shown on the main thread), at most [timeoutMs]; then [onTimeout] runs (to dismiss the
 * prompt) and the wait is [StorageException.Unavailable].
 */
public class BlockingAnswer<T : Any>(private val timeoutMs: Long, private val onTimeout: () -> Unit = {}) {
    private val done = CountDownLatch(1)
    private val answered = AtomicBoolean(false)

    @Volatile
    private var value: T? = null

    @Volatile
    private var failure: StorageException? = null

    /** The answer; only the first of [succeed] and [fail] counts. */
    public fun succeed(answer: T) {
        if (!answered.compareAndSet(false, true)) return
        value = answer
        done.countDown()
    }

    /** The refusal; only the first of [succeed] and [fail] counts. */
    public fun fail(error: StorageException) {
        if (!answered.compareAndSet(false, true)) return
        failure = error
        done.countDown()
    }

    /** Blocks until [succeed] or [fail], or the timeout. */
    public fun await(): T {
        if (!done.await(timeoutMs, TimeUnit.MILLISECONDS)) {
            onTimeout()
            throw StorageException.Unavailable("nobody answered the authentication prompt within $timeoutMs ms")
        }
        failure?.let { throw it }
        return value ?: throw StorageException.Unavailable("the authentication prompt gave no answer")
    }
}
