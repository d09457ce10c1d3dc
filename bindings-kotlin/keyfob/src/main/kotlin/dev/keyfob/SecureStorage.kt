package dev.keyfob

import dev.keyfob.ffi.KeyfobStorage
import dev.keyfob.ffi.StorageFailure

/**
 * Where Keyfob keeps the session (tokens, ID token claims) and the pending login, across app
 * launches. The Android library's default is the Keystore-backed `AndroidKeystoreStorage`; an app
 * may implement its own.
 *
 * Keys are short ASCII names (`session`, `pending`). Values are secrets: keep them encrypted at
 * rest and never log them. Calls come from any thread, possibly concurrently.
 *
 * Failures are [StorageException]s, and their kind matters: only "nothing stored" (`load` returning
 * `null`) means signed out. [StorageException.Unavailable] (device locked) keeps the session for
 * later, [StorageException.KeyInvalidated] and [StorageException.Corrupt] lose it.
 */
public interface SecureStorage {
    /** The bytes stored under [key], or `null` when nothing is stored (which is not a failure). */
    @Throws(StorageException::class)
    public fun load(key: String): ByteArray?

    /** Stores [value] under [key], replacing any previous value, atomically: all or nothing. */
    @Throws(StorageException::class)
    public fun save(key: String, value: ByteArray)

    /** Removes [key]; succeeds when nothing is stored. */
    @Throws(StorageException::class)
    public fun delete(key: String)

    /**
     * Replaces the value under [key] with [new] (`null`: removes it) only if it still is
     * [expected] (`null`: nothing stored), and says whether it did. Keyfob writes the session with
     * it, so that processes sharing the storage (a WorkManager job in another process) never
     * overwrite each other's newer tokens and make one refresh for all. Storage shared between
     * processes must do it atomically (as [EncryptedFileStorage] does with a file lock); this
     * default reads, compares and writes, which is enough for storage that one process uses.
     */
    @Throws(StorageException::class)
    public fun compareAndSwap(key: String, expected: ByteArray?, new: ByteArray?): Boolean {
        if (!sameValue(loadForComparison(key), expected)) return false
        if (new == null) delete(key) else save(key, new)
        return true
    }
}

/**
 * What [SecureStorage.load] gives for a compare-and-swap's comparison: a value that cannot be read
 * back (its key invalidated, corrupt) counts as nothing stored, as Keyfob saw it, so that a new
 * sign-in can replace it.
 */
internal fun SecureStorage.loadForComparison(key: String): ByteArray? = try {
    load(key)
} catch (e: StorageException.KeyInvalidated) {
    null
} catch (e: StorageException.Corrupt) {
    null
}

/** Whether two stored values (or two absences) are the same. */
internal fun sameValue(a: ByteArray?, b: ByteArray?): Boolean =
    if (a == null || b == null) a == b else a.contentEquals(b)

/** How a [SecureStorage] failed. Messages must not contain the stored values. */
public sealed class StorageException(message: String, cause: Throwable? = null) : Exception(message, cause) {
    /** Not readable now (device locked, user not authenticated); the data is still there. */
    public class Unavailable(message: String, cause: Throwable? = null) : StorageException(message, cause)

    /** The protecting key is gone or was invalidated (lock screen removed, restored backup): the data is lost. */
    public class KeyInvalidated(message: String, cause: Throwable? = null) : StorageException(message, cause)

    /** The stored bytes are unreadable (truncated, tampered with, unknown format). */
    public class Corrupt(message: String, cause: Throwable? = null) : StorageException(message, cause)

    /** Anything else (I/O error, full disk, Keystore failure). */
    public class Failed(message: String, cause: Throwable? = null) : StorageException(message, cause)
}

/** Presents a [SecureStorage] to the core, with its failures as the generated [StorageFailure]. */
internal class StorageBridge(private val storage: SecureStorage) : KeyfobStorage {
    override fun load(key: String): ByteArray? = guarded { storage.load(key) }

    override fun save(key: String, value: ByteArray) = guarded { storage.save(key, value) }

    override fun delete(key: String) = guarded { storage.delete(key) }

    override fun compareAndSwap(key: String, expected: ByteArray?, new: ByteArray?): Boolean =
        guarded { storage.compareAndSwap(key, expected, new) }

    private inline fun <T> guarded(block: () -> T): T = asStorageFailures("the storage", block)
}

/**
 * Runs [block] (app or platform code behind a bridge to the core) and hands its failure to the
 * core as the generated [StorageFailure]: a [StorageException] keeps its kind; anything else is
 * `Failed`, naming [what] failed.
 */
internal inline fun <T> asStorageFailures(what: String, block: () -> T): T = try {
    block()
} catch (e: StorageException) {
    val reason = e.message ?: e.javaClass.simpleName
    throw when (e) {
        is StorageException.Unavailable -> StorageFailure.Unavailable(reason)
        is StorageException.KeyInvalidated -> StorageFailure.KeyInvalidated(reason)
        is StorageException.Corrupt -> StorageFailure.Corrupt(reason)
        is StorageException.Failed -> StorageFailure.Failed(reason)
    }
} catch (e: RuntimeException) {
    // Code that throws something else: a failure, never "nothing stored".
    throw StorageFailure.Failed("$what failed: ${e.javaClass.name}")
}
