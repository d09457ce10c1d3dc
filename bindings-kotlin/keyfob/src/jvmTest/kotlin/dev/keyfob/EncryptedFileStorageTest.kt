package dev.keyfob

import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.UserNotAuthenticatedException
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.io.IOException
import java.security.GeneralSecurityException
import java.security.ProviderException
import java.security.SecureRandom
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The storage behind `AndroidKeystoreStorage` — file format, atomic writes, error mapping — with a
 * software AES-256-GCM key in place of the Keystore's.
 */
class EncryptedFileStorageTest {
    @TempDir
    lateinit var dir: File

    /** AES-256-GCM in software; can lose its key or fail the way the Keystore does. */
    class SoftwareKey : SealingKey {
        var key: SecretKey? = null
        var failNextSeal: GeneralSecurityException? = null
        var failOpen: Exception? = null
        var resets = 0

        override fun seal(plaintext: ByteArray, aad: ByteArray): SealedBox {
            failNextSeal?.let { failNextSeal = null; throw it }
            val k = key ?: KeyGenerator.getInstance("AES").apply { init(256) }.generateKey().also { key = it }
            val iv = ByteArray(12).also { SecureRandom().nextBytes(it) }
            val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            cipher.init(Cipher.ENCRYPT_MODE, k, GCMParameterSpec(128, iv))
            cipher.updateAAD(aad)
            return SealedBox(iv, cipher.doFinal(plaintext))
        }

        override fun open(box: SealedBox, aad: ByteArray): ByteArray {
            failOpen?.let { throw it }
            val k = key ?: throw SealingKeyMissingException("no key")
            val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            cipher.init(Cipher.DECRYPT_MODE, k, GCMParameterSpec(128, box.iv))
            cipher.updateAAD(aad)
            return cipher.doFinal(box.ciphertext)
        }

        override fun reset() {
            resets++
            key = null
        }
    }

    private val key = SoftwareKey()
    private val storage by lazy { EncryptedFileStorage(File(dir, "keyfob"), key) }
    private val secret = """{"access_token":"eyJ-very-secret","refresh_token":"rt-secret"}""".toByteArray()

    @Test
    fun `stores, replaces, loads and deletes entries`() {
        assertNull(storage.load("session"))
        storage.save("session", "one".toByteArray())
        storage.save("session", secret)
        assertArrayEquals(secret, storage.load("session"))
        storage.delete("session")
        assertNull(storage.load("session"))
        storage.delete("session") // deleting nothing succeeds
    }

    @Test
    fun `the file holds version 1 ciphertext, never the plaintext`() {
        storage.save("session", secret)
        val bytes = File(dir, "keyfob/session.kfs").readBytes()
        assertArrayEquals(byteArrayOf('K'.code.toByte(), 'F'.code.toByte(), 'S'.code.toByte(), 1, 12), bytes.copyOfRange(0, 5))
        assertEquals(5 + 12 + secret.size + 16, bytes.size)
        assertFalse(String(bytes, Charsets.ISO_8859_1).contains("secret"))
        // No temporary file is left; the writers' lock file stays (empty).
        assertEquals(setOf("session.kfs", ".lock"), File(dir, "keyfob").list()!!.toSet(), "no temporary file left")
        assertEquals(0, File(dir, "keyfob/.lock").length())
    }

    @Test
    fun `a tampered or truncated file is Corrupt`() {
        storage.save("session", secret)
        val file = File(dir, "keyfob/session.kfs")
        val bytes = file.readBytes()
        file.writeBytes(bytes.copyOf().also { it[it.size - 1] = (it[it.size - 1] + 1).toByte() })
        assertThrows<StorageException.Corrupt> { storage.load("session") }
        file.writeBytes(bytes.copyOf(10))
        assertThrows<StorageException.Corrupt> { storage.load("session") }
        file.writeBytes("{\"format\":1}".toByteArray())
        assertThrows<StorageException.Corrupt> { storage.load("session") }
    }

    @Test
    fun `a file copied over another entry does not decrypt`() {
        storage.save("session", secret)
        storage.save("pending", "p".toByteArray())
        File(dir, "keyfob/session.kfs").copyTo(File(dir, "keyfob/pending.kfs"), overwrite = true)
        assertThrows<StorageException.Corrupt> { storage.load("pending") }
    }

    @Test
    fun `a lost key is KeyInvalidated at every read, until the next save starts over with a new key`() {
        storage.save("session", secret)
        key.key = null // e.g. the app's files were restored on another device
        assertThrows<StorageException.KeyInvalidated> { storage.load("session") }
        // Not deleted by the read: the next launch must still say "sign in again", not "signed out".
        assertThrows<StorageException.KeyInvalidated> { EncryptedFileStorage(File(dir, "keyfob"), key).load("session") }
        assertTrue(File(dir, "keyfob/session.kfs").exists())
        storage.save("session", secret)
        assertArrayEquals(secret, storage.load("session"))
    }

    @Test
    fun `the directory is synced after each rename, so the new file survives a power loss`() {
        val synced = mutableListOf<File>()
        val recording = EncryptedFileStorage(File(dir, "keyfob"), key) { synced += it }
        recording.save("session", secret)
        recording.save("pending", secret)
        assertEquals(listOf(File(dir, "keyfob"), File(dir, "keyfob")), synced)
        // The JVM implementation works on a real directory.
        DirectorySync.FILE_CHANNEL.sync(File(dir, "keyfob"))
    }

    @Test
    fun `a directory that cannot be synced fails the save`() {
        val failing = EncryptedFileStorage(File(dir, "keyfob"), key) { throw IOException("EIO") }
        assertThrows<StorageException.Failed> { failing.save("session", secret) }
    }

    @Test
    fun `an invalidated key is replaced when saving`() {
        storage.save("pending", "old".toByteArray())
        key.failNextSeal = KeyPermanentlyInvalidatedException()
        storage.save("session", secret)
        assertEquals(1, key.resets)
        assertArrayEquals(secret, storage.load("session"))
        // Entries sealed under the old key were unreadable anyway and are gone.
        assertNull(storage.load("pending"))
    }

    @Test
    fun `a failed encryption leaves the previous value in place`() {
        storage.save("session", "previous".toByteArray())
        key.failNextSeal = GeneralSecurityException("keystore busy")
        assertThrows<StorageException.Failed> { storage.save("session", secret) }
        assertArrayEquals("previous".toByteArray(), storage.load("session"))
    }

    @Test
    fun `Keystore failures map to the storage error kinds`() {
        fun kind(e: Throwable) = StorageErrors.classify(e, "test")::class
        assertEquals(StorageException.KeyInvalidated::class, kind(KeyPermanentlyInvalidatedException()))
        assertEquals(StorageException.KeyInvalidated::class, kind(GeneralSecurityException("wrapped", KeyPermanentlyInvalidatedException())))
        assertEquals(StorageException.KeyInvalidated::class, kind(SealingKeyMissingException("gone")))
        assertEquals(StorageException.Unavailable::class, kind(UserNotAuthenticatedException()))
        assertEquals(StorageException.Unavailable::class, kind(ProviderException("locked", UserNotAuthenticatedException())))
        assertEquals(StorageException.Corrupt::class, kind(AEADBadTagException()))
        assertEquals(StorageException.Failed::class, kind(IOException("disk full")))
        assertEquals(StorageException.Failed::class, kind(ProviderException("keystore crashed")))
    }

    @Test
    fun `a locked device reads as Unavailable and keeps the file`() {
        storage.save("session", secret)
        key.failOpen = UserNotAuthenticatedException()
        assertThrows<StorageException.Unavailable> { storage.load("session") }
        key.failOpen = null
        assertArrayEquals(secret, storage.load("session"))
    }

    @Test
    fun `entry names are checked`() {
        assertThrows<IllegalArgumentException> { storage.save("../escape", secret) }
        assertThrows<IllegalArgumentException> { storage.load(".hidden") }
    }

    @Test
    fun `a Keyfob session lives in the encrypted files across clients`() = runBlocking<Unit> {
        Keyfob(testConfig(), storage).use { it.signIn() }
        assertTrue(File(dir, "keyfob/session.kfs").exists())
        Keyfob(testConfig(), EncryptedFileStorage(File(dir, "keyfob"), key)).use { again ->
            assertEquals(SessionState.SIGNED_IN, again.restored())
            assertEquals(200, Testkit.callApi(Testkit.crm + "/api/customers", again.accessToken()).first)
        }
    }

    @Test
    fun `a lost key makes a Keyfob client ask for a new sign-in`() = runBlocking<Unit> {
        Keyfob(testConfig(), storage).use { it.signIn() }
        key.key = null
        // Every launch says so until the user signs in: the unreadable session is not deleted.
        Keyfob(testConfig(), EncryptedFileStorage(File(dir, "keyfob"), key)).use { first ->
            assertEquals(SessionState.NEEDS_RE_LOGIN, first.restored())
            assertTrue(expectFailure<KeyfobException> { first.accessToken() }.requiresSignIn)
        }
        Keyfob(testConfig(), EncryptedFileStorage(File(dir, "keyfob"), key)).use { again ->
            assertEquals(SessionState.NEEDS_RE_LOGIN, again.restored())
            again.signIn()
            assertEquals(SessionState.SIGNED_IN, again.state.value)
        }
    }
}
