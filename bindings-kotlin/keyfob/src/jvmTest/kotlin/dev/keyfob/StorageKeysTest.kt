package dev.keyfob

import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.StrongBoxUnavailableException
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.security.ProviderException
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The decisions behind `AndroidKeystoreStorage`'s options, with a software key: StrongBox with a
 * fallback, a key bound to biometrics (asked for each operation, never on the main thread).
 */
class StorageKeysTest {
    @TempDir
    lateinit var dir: File

    /** A software AES-GCM key handing out ciphers, as `AndroidKeyStore` does. */
    class SoftwareKeystore : CipherKeystore {
        var key: SecretKey? = null
        var invalidated = false

        override fun encryptCipher(): Cipher {
            if (invalidated) throw KeyPermanentlyInvalidatedException()
            val k = key ?: KeyGenerator.getInstance("AES").apply { init(256) }.generateKey().also { key = it }
            return Cipher.getInstance("AES/GCM/NoPadding").apply { init(Cipher.ENCRYPT_MODE, k) }
        }

        override fun decryptCipher(iv: ByteArray): Cipher {
            if (invalidated) throw KeyPermanentlyInvalidatedException()
            val k = key ?: throw SealingKeyMissingException("no key")
            return Cipher.getInstance("AES/GCM/NoPadding").apply { init(Cipher.DECRYPT_MODE, k, GCMParameterSpec(128, iv)) }
        }

        override fun reset() {
            key = null
            invalidated = false
        }
    }

    private val secret = "refresh-token-secret".toByteArray()

    @Test
    fun `a key bound to the user is authorised for every encryption and decryption`() {
        val asked = mutableListOf<Int>()
        val key = CipherSealingKey(SoftwareKeystore(), { cipher -> asked += 1; cipher })
        val storage = EncryptedFileStorage(File(dir, "keyfob"), key)
        storage.save("session", secret)
        assertArrayEquals(secret, storage.load("session"))
        assertEquals(2, asked.size)
    }

    @Test
    fun `a declined prompt is Unavailable and keeps the session`() {
        val keystore = SoftwareKeystore()
        var decline = false
        val key = CipherSealingKey(keystore, { cipher ->
            if (decline) throw BiometricSupport.failure(10) else cipher
        })
        val storage = EncryptedFileStorage(File(dir, "keyfob"), key)
        storage.save("session", secret)
        decline = true
        assertThrows<StorageException.Unavailable> { storage.load("session") }
        decline = false
        assertArrayEquals(secret, storage.load("session"))
    }

    @Test
    fun `the prompt is never asked on the main thread`() {
        val key = CipherSealingKey(SoftwareKeystore(), { error("must not be asked") }, isMainThread = { true })
        assertThrows<StorageException.Unavailable> { EncryptedFileStorage(File(dir, "keyfob"), key).save("session", secret) }
        // Without an authorizer the main thread does not matter.
        EncryptedFileStorage(File(dir, "plain"), CipherSealingKey(SoftwareKeystore(), null) { true }).save("session", secret)
    }

    @Test
    fun `a key invalidated by a new biometric enrollment needs a new sign-in`() {
        val keystore = SoftwareKeystore()
        val storage = EncryptedFileStorage(File(dir, "keyfob"), CipherSealingKey(keystore))
        storage.save("session", secret)
        keystore.invalidated = true
        assertThrows<StorageException.KeyInvalidated> { storage.load("session") }
        assertThrows<StorageException.KeyInvalidated> { storage.load("session") }
        storage.save("session", "new".toByteArray()) // replaces the key
        assertArrayEquals("new".toByteArray(), storage.load("session"))
    }

    @Test
    fun `StrongBox is tried first where wanted and possible`() {
        assertEquals(listOf(true, false), KeyGeneration.attempts(StrongBox.PREFERRED, 28))
        assertEquals(listOf(false), KeyGeneration.attempts(StrongBox.PREFERRED, 27))
        assertEquals(listOf(false), KeyGeneration.attempts(StrongBox.OFF, 36))
        assertEquals(listOf(true), KeyGeneration.attempts(StrongBox.REQUIRED, 36))
        assertEquals(listOf(true), KeyGeneration.attempts(StrongBox.REQUIRED, 24), "then generating fails, as it should")
    }

    @Test
    fun `a device without StrongBox falls back to the TEE, unless StrongBox is required`() {
        val tried = mutableListOf<Boolean>()
        val made = KeyGeneration.generate(listOf(true, false)) { strongBox ->
            tried += strongBox
            if (strongBox) throw StrongBoxUnavailableException() else "tee-key"
        }
        assertEquals("tee-key", made)
        assertEquals(listOf(true, false), tried)
        assertThrows<StorageException.Failed> {
            KeyGeneration.generate(listOf(true)) { throw ProviderException("wrapped", StrongBoxUnavailableException()) }
        }
    }

    @Test
    fun `other key generation failures are not mistaken for a missing StrongBox`() {
        val tried = mutableListOf<Boolean>()
        assertThrows<ProviderException> {
            KeyGeneration.generate(listOf(true, false)) { strongBox -> tried += strongBox; throw ProviderException("keystore crashed") }
        }
        assertEquals(listOf(true), tried)
        assertTrue(StorageErrors.isA(StrongBoxUnavailableException(), StorageErrors.STRONGBOX_UNAVAILABLE))
    }

    @Test
    fun `a key bound to biometrics needs Android 9, a secure lock screen and an enrolled biometric`() {
        assertNull(BiometricSupport.problem(30, deviceSecure = true, canAuthenticate = BiometricSupport.SUCCESS))
        assertNull(BiometricSupport.problem(28, deviceSecure = true, canAuthenticate = null), "Android 9 cannot tell in advance")
        for ((sdk, secure, status) in listOf(Triple(27, true, 0), Triple(30, false, 0), Triple(30, true, 11), Triple(30, true, 12), Triple(30, true, 1))) {
            assertTrue(BiometricSupport.problem(sdk, secure, status) != null, "$sdk $secure $status")
        }
        assertTrue(BiometricSupport.failure(7) is StorageException.Unavailable, "a lockout keeps the session")
    }

    @Test
    fun `a blocking answer returns the first answer from another thread, or gives up`() {
        val pool = Executors.newSingleThreadExecutor()
        try {
            val answered = BlockingAnswer<String>(10_000)
            pool.execute { answered.succeed("cipher"); answered.fail(StorageException.Unavailable("late")) }
            assertEquals("cipher", answered.await())

            val refused = BlockingAnswer<String>(10_000)
            pool.execute { refused.fail(StorageException.Unavailable("declined")) }
            assertThrows<StorageException.Unavailable> { refused.await() }

            var dismissed = false
            val unanswered = BlockingAnswer<String>(1) { dismissed = true }
            assertThrows<StorageException.Unavailable> { unanswered.await() }
            assertTrue(dismissed, "the prompt is dismissed when nobody answers")
        } finally {
            pool.shutdown()
            pool.awaitTermination(5, TimeUnit.SECONDS)
        }
    }
}
