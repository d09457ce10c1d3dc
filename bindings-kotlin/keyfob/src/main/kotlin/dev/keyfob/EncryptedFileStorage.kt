package dev.keyfob

import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import java.io.RandomAccessFile
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.locks.ReentrantLock
import java.security.GeneralSecurityException
import javax.crypto.AEADBadTagException

/**
 * An AES-256-GCM key that never leaves its keystore (on Android, `AndroidKeyStore`), as
 * [EncryptedFileStorage] uses it. Exceptions pass through unchanged: the storage classifies them.
 */
public interface SealingKey {
    /** Encrypts [plaintext] bound to [aad] with a fresh IV, creating the key first if there is none. */
    public fun seal(plaintext: ByteArray, aad: ByteArray): SealedBox

    /** Decrypts [box]; throws [SealingKeyMissingException] when the key does not exist. */
    public fun open(box: SealedBox, aad: ByteArray): ByteArray

    /** Deletes the key, so that the next [seal] creates a new one (after it was invalidated). */
    public fun reset()
}

/** An IV and the ciphertext with its 16-byte GCM tag. */
public class SealedBox(public val iv: ByteArray, public val ciphertext: ByteArray)

/** The key that encrypted the stored data no longer exists (app data restored to another device, keystore reset). */
public class SealingKeyMissingException(message: String) : GeneralSecurityException(message)

/**
 * Makes a directory's entries durable (`fsync` of the directory itself), so that a file renamed
 * into it survives a power loss: without it the rename may be lost even though the file's data
 * was synced.
 */
public fun interface DirectorySync {
    /** Flushes [directory]'s entries to storage. */
    @Throws(IOException::class)
    public fun sync(directory: File)

    public companion object {
        /**
         * Through `FileChannel` (Java 7's `java.nio.file`): Linux and macOS JVMs. Android uses
         * `android.system.Os` instead (`java.nio.file` needs Android 8; minSdk is 24).
         */
        @JvmField
        public val FILE_CHANNEL: DirectorySync = DirectorySync { directory ->
            java.nio.channels.FileChannel.open(directory.toPath(), java.nio.file.StandardOpenOption.READ).use { it.force(true) }
        }
    }
}

/**
 * A [SecureStorage] keeping each entry in its own file in [directory], encrypted by a
 * [SealingKey]: on Android, `AndroidKeystoreStorage` puts it in the app's no-backup files with a
 * non-exportable Keystore key. The format is [CiphertextFile]'s; writes are atomic (temporary
 * file, `fsync`, rename, `fsync` of the directory), so a crash leaves the previous value or the
 * new one, never half of one.
 *
 * Errors are classified by [StorageErrors]: a missing or invalidated key is
 * [StorageException.KeyInvalidated], a locked device or unauthenticated user is
 * [StorageException.Unavailable], a bad tag or format is [StorageException.Corrupt].
 *
 * Several instances — in this process or in others, such as a WorkManager job in its own process —
 * may share one [directory]: writes and [compareAndSwap] hold the directory's `.lock` file
 * (`FileChannel.lock`, released by the OS if the process dies) and, within this process, a lock
 * shared by every instance on that directory, so a compare-and-swap is atomic across them.
 *
 * An entry whose key was invalidated is never deleted by reading it: it keeps reading as
 * [StorageException.KeyInvalidated], so every launch shows "sign in again"
 * ([SessionState.NEEDS_RE_LOGIN]) rather than a silent [SessionState.SIGNED_OUT]. The next save
 * replaces the key and removes the entries the old key sealed, which no key can open any more.
 *
 * @param syncDirectory how the directory is synced after a rename.
 */
public class EncryptedFileStorage @JvmOverloads constructor(
    private val directory: File,
    private val key: SealingKey,
    private val syncDirectory: DirectorySync = DirectorySync.FILE_CHANNEL,
) : SecureStorage {

    @Synchronized
    override fun load(key: String): ByteArray? {
        val file = fileFor(key)
        val bytes = try {
            if (!file.exists()) return null
            file.readBytes()
        } catch (e: IOException) {
            throw StorageErrors.classify(e, "reading $key")
        }
        val box = CiphertextFile.decode(bytes)
        return try {
            this.key.open(box, CiphertextFile.aad(key))
        } catch (e: GeneralSecurityException) {
            // Even KeyInvalidated keeps the file: it says "sign in again" at every launch.
            throw StorageErrors.classify(e, "decrypting $key")
        } catch (e: StorageException) {
            throw e
        } catch (e: RuntimeException) {
            throw StorageErrors.classify(e, "decrypting $key")
        }
    }

    override fun save(key: String, value: ByteArray): Unit = exclusively { saveLocked(key, value) }

    override fun delete(key: String): Unit = exclusively { deleteLocked(key) }

    /**
     * Atomic across instances and processes: the read, the comparison and the write happen under
     * the lock. An entry that cannot be read back (its key invalidated, corrupt) compares as
     * nothing stored, as the core saw it, so that a new sign-in can replace it.
     */
    override fun compareAndSwap(key: String, expected: ByteArray?, new: ByteArray?): Boolean = exclusively {
        val same = sameValue(loadForComparison(key), expected)
        if (same) {
            if (new == null) deleteLocked(key) else saveLocked(key, new)
        }
        same
    }

    /** Runs [block] holding this directory's writer locks (this process's, then the file lock). */
    private fun <T> exclusively(block: () -> T): T {
        val inProcess = writers.computeIfAbsent(directory.absoluteFile.normalize().path) { ReentrantLock() }
        inProcess.lock()
        try {
            try {
                ensureDirectory()
            } catch (e: IOException) {
                throw StorageErrors.classify(e, "creating the storage directory")
            }
            val lockFile = try {
                RandomAccessFile(File(directory, LOCK_FILE), "rw")
            } catch (e: IOException) {
                throw StorageErrors.classify(e, "opening the storage lock")
            }
            return lockFile.use { raf ->
                val held = try {
                    raf.channel.lock()
                } catch (e: IOException) {
                    throw StorageErrors.classify(e, "locking the storage")
                }
                held.use { block() }
            }
        } finally {
            inProcess.unlock()
        }
    }

    private fun saveLocked(key: String, value: ByteArray) {
        val file = fileFor(key)
        val aad = CiphertextFile.aad(key)
        val box = try {
            sealOrRenew(value, aad)
        } catch (e: GeneralSecurityException) {
            throw StorageErrors.classify(e, "encrypting $key")
        } catch (e: StorageException) {
            throw e
        } catch (e: RuntimeException) {
            throw StorageErrors.classify(e, "encrypting $key")
        }
        try {
            writeAtomically(file, CiphertextFile.encode(box))
        } catch (e: IOException) {
            throw StorageErrors.classify(e, "writing $key")
        }
    }

    private fun deleteLocked(key: String) {
        val file = fileFor(key)
        if (file.exists() && !file.delete() && file.exists()) {
            throw StorageException.Failed("cannot delete $key")
        }
    }

    /** Seals with the current key; an invalidated key is replaced once (its data is lost anyway). */
    private fun sealOrRenew(value: ByteArray, aad: ByteArray): SealedBox = try {
        key.seal(value, aad)
    } catch (e: GeneralSecurityException) {
        if (StorageErrors.classify(e, "") !is StorageException.KeyInvalidated) throw e
        key.reset()
        directory.listFiles { f -> f.name.endsWith(SUFFIX) }?.forEach { it.delete() }
        key.seal(value, aad)
    }

    private fun fileFor(key: String): File {
        require(KEY_NAME.matches(key)) { "storage keys are short ASCII names, not \"$key\"" }
        return File(directory, key + SUFFIX)
    }

    private fun ensureDirectory() {
        if (!directory.isDirectory && !directory.mkdirs() && !directory.isDirectory) {
            throw IOException("cannot create ${directory.name}")
        }
    }

    private fun writeAtomically(file: File, bytes: ByteArray) {
        ensureDirectory()
        val temp = File(directory, file.name + ".tmp")
        try {
            FileOutputStream(temp).use { out ->
                out.write(bytes)
                out.fd.sync()
            }
            if (!temp.renameTo(file)) throw IOException("cannot rename ${temp.name} to ${file.name}")
            syncDirectory.sync(directory)
        } finally {
            temp.delete()
        }
    }

    private companion object {
        const val SUFFIX = ".kfs"
        const val LOCK_FILE = ".lock"
        val KEY_NAME = Regex("[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}")

        /** Per directory, the writers of this process: a `FileChannel` lock is held per process. */
        val writers = ConcurrentHashMap<String, ReentrantLock>()
    }
}

/**
 * The file format of [EncryptedFileStorage], version 1:
 *
 * ```
 * "KFS" 0x01 | IV length n (1 byte, 12) | IV (n bytes) | AES-GCM ciphertext with its 16-byte tag
 * ```
 *
 * The additional authenticated data is `"dev.keyfob.storage/1/" + key name`, which binds each file
 * to its entry: a file copied over another entry fails to decrypt ([StorageException.Corrupt]).
 */
public object CiphertextFile {
    private val MAGIC = byteArrayOf('K'.code.toByte(), 'F'.code.toByte(), 'S'.code.toByte(), 1)
    private const val TAG_BYTES = 16

    /** The additional authenticated data for entry [key]. */
    public fun aad(key: String): ByteArray = "dev.keyfob.storage/1/$key".toByteArray(Charsets.UTF_8)

    /** The file's bytes for [box]. */
    public fun encode(box: SealedBox): ByteArray {
        require(box.iv.size in 1..255) { "IV of ${box.iv.size} bytes" }
        return MAGIC + byteArrayOf(box.iv.size.toByte()) + box.iv + box.ciphertext
    }

    /** Parses a file; anything but version 1 with a plausible IV and tag is [StorageException.Corrupt]. */
    public fun decode(bytes: ByteArray): SealedBox {
        if (bytes.size < MAGIC.size + 1 || !bytes.copyOfRange(0, MAGIC.size).contentEquals(MAGIC)) {
            throw StorageException.Corrupt("not a Keyfob storage file (or an unknown version)")
        }
        val ivLength = bytes[MAGIC.size].toInt() and 0xff
        val ivStart = MAGIC.size + 1
        if (ivLength !in 12..16 || bytes.size < ivStart + ivLength + TAG_BYTES) {
            throw StorageException.Corrupt("truncated Keyfob storage file")
        }
        return SealedBox(
            bytes.copyOfRange(ivStart, ivStart + ivLength),
            bytes.copyOfRange(ivStart + ivLength, bytes.size),
        )
    }
}

/**
 * Which [StorageException] a storage failure is. Android's Keystore exceptions are recognised by
 * class name (anywhere in the class hierarchy and cause chain), so this runs — and is tested — on
 * any JVM.
 */
public object StorageErrors {
    /** The key was invalidated (lock screen removed, biometrics changed): the data is lost. */
    public const val KEY_PERMANENTLY_INVALIDATED: String = "android.security.keystore.KeyPermanentlyInvalidatedException"

    /** The key needs an unlocked device or an authenticated user: try again later. */
    public const val USER_NOT_AUTHENTICATED: String = "android.security.keystore.UserNotAuthenticatedException"

    /** The device has no StrongBox: generate the key in the TEE instead ([KeyGeneration]). */
    public const val STRONGBOX_UNAVAILABLE: String = "android.security.keystore.StrongBoxUnavailableException"

    /** Whether [error] (or a cause) is an instance of the class named [className], by name. */
    public fun isA(error: Throwable, className: String): Boolean =
        generateSequence(error) { it.cause }.take(MAX_CAUSES).any { t ->
            generateSequence<Class<*>>(t.javaClass) { it.superclass }.any { it.name == className }
        }

    /** [error] as a [StorageException] whose message names [action] and the error's class. */
    public fun classify(error: Throwable, action: String): StorageException {
        if (error is StorageException) return error
        val message = "$action: ${error.javaClass.simpleName}"
        for (t in generateSequence(error) { it.cause }.take(MAX_CAUSES)) {
            val names = generateSequence<Class<*>>(t.javaClass) { it.superclass }.map { it.name }.toList()
            when {
                KEY_PERMANENTLY_INVALIDATED in names -> return StorageException.KeyInvalidated(message, error)
                USER_NOT_AUTHENTICATED in names -> return StorageException.Unavailable(message, error)
                t is SealingKeyMissingException -> return StorageException.KeyInvalidated(message, error)
                t is AEADBadTagException -> return StorageException.Corrupt(message, error)
            }
        }
        return StorageException.Failed(message, error)
    }

    private const val MAX_CAUSES = 8
}
