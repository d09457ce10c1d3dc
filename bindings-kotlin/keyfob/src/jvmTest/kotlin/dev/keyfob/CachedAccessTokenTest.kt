package dev.keyfob

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger

/**
 * `cachedAccessToken()`, the synchronous accessor: the core's C function through JNA direct
 * mapping ([CachedTokenAccess]) instead of the generated bindings, with the same answers.
 */
class CachedAccessTokenTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    @Test
    fun `the same token as accessToken(), and null when signed out or after logout`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            assertNull(keyfob.cachedAccessToken(), "signed out")
            keyfob.beginLogin()
            assertNull(keyfob.cachedAccessToken(), "login pending")

            keyfob.signIn()
            val token = keyfob.accessToken()
            assertEquals(token, keyfob.cachedAccessToken())
            assertEquals(200, Testkit.callApi(Testkit.crm + "/api/customers", keyfob.cachedAccessToken()!!).first)

            keyfob.refresh()
            val refreshed = keyfob.accessToken()
            assertNotEquals(token, refreshed)
            assertEquals(refreshed, keyfob.cachedAccessToken())

            keyfob.logout()
            assertNull(keyfob.cachedAccessToken(), "after logout")
        }
    }

    @Test
    fun `null while the token is due for a refresh`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { keyfob ->
            keyfob.signIn()
            assertNotEquals(null, keyfob.cachedAccessToken(), "a 300 s token, just issued")
        }
        // The next launch, 280 s later: 20 s are left, inside the 30 s margin.
        storage.ageSession(280)
        Keyfob(testConfig(), storage).use { keyfob ->
            assertEquals(SessionState.SIGNED_IN, keyfob.restored())
            assertNull(keyfob.cachedAccessToken())
        }
    }

    @Test
    fun `null until the tokens are saved, and while the stored session cannot be read`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { keyfob ->
            keyfob.signIn()
            val before = keyfob.accessToken()
            // The refresh lease is written; the refreshed tokens are not.
            storage.writesBeforeFailure = 1
            storage.writeFailure = StorageException.Failed("disk full")
            expectFailure<KeyfobException.Storage> { keyfob.refresh() }
            assertNull(keyfob.cachedAccessToken(), "refreshed tokens not yet saved are not handed out")

            storage.writeFailure = null
            val token = keyfob.accessToken() // saves them now
            assertNotEquals(before, token)
            assertEquals(token, keyfob.cachedAccessToken())
        }

        storage.failure = StorageException.Unavailable("device locked")
        Keyfob(testConfig(), storage).use { keyfob ->
            assertEquals(SessionState.STORAGE_UNAVAILABLE, keyfob.restored())
            assertNull(keyfob.cachedAccessToken())
            storage.failure = null
            keyfob.restore()
            assertEquals(keyfob.accessToken(), keyfob.cachedAccessToken())
        }
    }

    @Test
    fun `a token longer than the buffer is read in full`() = runBlocking<Unit> {
        Keyfob(testConfig()).use { keyfob ->
            keyfob.signIn()
            val token = keyfob.accessToken()
            keyfob.tokenBufferSize = 1
            assertEquals(token, keyfob.cachedAccessToken())
            assertEquals(token.length, keyfob.tokenBufferSize, "the buffer grows to the token")
            keyfob.tokenBufferSize = 0
            assertEquals(token, keyfob.cachedAccessToken())
            keyfob.tokenBufferSize = 4 * token.length
            assertEquals(token, keyfob.cachedAccessToken())
            assertEquals(token.length, keyfob.tokenBufferSize, "and fits it again")
        }
    }

    @Test
    fun `throws IllegalStateException after close, and the native handle is then stale`() = runBlocking<Unit> {
        val keyfob = Keyfob(testConfig())
        keyfob.signIn()
        val handle = keyfob.tokenHandle
        val token = keyfob.accessToken()
        val buf = ByteArray(token.length)
        assertEquals(token.length, CachedTokenAccess.keyfob_cached_access_token(handle, buf, buf.size))
        assertEquals(token, String(buf, Charsets.UTF_8))

        keyfob.close()
        assertThrows<IllegalStateException> { keyfob.cachedAccessToken() }
        keyfob.close() // twice is fine
        assertThrows<IllegalStateException> { keyfob.cachedAccessToken() }
        // The native client is freed once nothing uses it any more; its handle then names nothing.
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10)
        var result: Int
        do {
            result = CachedTokenAccess.keyfob_cached_access_token(handle, buf, buf.size)
        } while (result != CachedTokenAccess.CLOSED && System.nanoTime() < deadline && sleep(10))
        assertEquals(CachedTokenAccess.CLOSED, result)
        // Handles are never reused: a new client gets another one.
        Keyfob(testConfig()).use { assertNotEquals(handle, it.tokenHandle) }
        assertEquals(CachedTokenAccess.CLOSED, CachedTokenAccess.keyfob_cached_access_token(handle, buf, buf.size))
    }

    @Test
    fun `handles that name no client are refused without touching memory`() {
        val buf = ByteArray(16)
        for (handle in listOf(0L, -1L, Long.MAX_VALUE, Long.MIN_VALUE, 123_456_789L)) {
            assertEquals(CachedTokenAccess.CLOSED, CachedTokenAccess.keyfob_cached_access_token(handle, buf, buf.size))
        }
        assertTrue(buf.all { it == 0.toByte() })
        Keyfob(testConfig()).use { keyfob ->
            // A negative size is refused before anything else.
            assertTrue(CachedTokenAccess.keyfob_cached_access_token(keyfob.tokenHandle, buf, -1) < CachedTokenAccess.CLOSED)
            assertEquals(CachedTokenAccess.NONE, CachedTokenAccess.keyfob_cached_access_token(keyfob.tokenHandle, buf, buf.size))
        }
    }

    @Test
    fun `many threads read it while the token is refreshed`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.signIn()
            val issued = Collections.synchronizedSet(mutableSetOf(keyfob.accessToken()))
            val seen = Collections.synchronizedSet(mutableSetOf<String>())
            val reads = AtomicInteger()
            val done = AtomicBoolean(false)
            val threads = 8
            val started = CountDownLatch(threads)
            val pool = Executors.newFixedThreadPool(threads)
            try {
                val readers = List(threads) {
                    pool.submit {
                        started.countDown()
                        while (!done.get()) {
                            // Null is allowed for the moment between a refresh and its save.
                            keyfob.cachedAccessToken()?.let(seen::add)
                            reads.incrementAndGet()
                        }
                    }
                }
                started.await()
                repeat(3) {
                    keyfob.refresh()
                    issued.add(keyfob.accessToken())
                }
                done.set(true)
                readers.forEach { it.get(30, TimeUnit.SECONDS) }
            } finally {
                pool.shutdownNow()
            }
            assertTrue(reads.get() > threads, "readers ran: ${reads.get()}")
            assertTrue(seen.isNotEmpty())
            assertTrue(issued.containsAll(seen), "every token read was one the client issued")
            assertEquals(keyfob.accessToken(), keyfob.cachedAccessToken())
        }
    }

    @Test
    fun `closing while other threads read never crashes`() = runBlocking<Unit> {
        repeat(5) {
            val keyfob = Keyfob(testConfig())
            keyfob.signIn()
            val token = keyfob.accessToken()
            val threads = 4
            val started = CountDownLatch(threads)
            val unexpected = Collections.synchronizedList(mutableListOf<String>())
            val pool = Executors.newFixedThreadPool(threads)
            try {
                val readers = List(threads) {
                    pool.submit {
                        started.countDown()
                        while (true) {
                            val got = try {
                                keyfob.cachedAccessToken()
                            } catch (e: IllegalStateException) {
                                break // closed
                            }
                            if (got != token) unexpected.add(if (got == null) "null" else "another token")
                        }
                    }
                }
                started.await()
                keyfob.close()
                readers.forEach { it.get(30, TimeUnit.SECONDS) }
            } finally {
                pool.shutdownNow()
            }
            assertEquals(emptyList<String>(), unexpected)
        }
    }

    private fun sleep(ms: Long): Boolean {
        Thread.sleep(ms)
        return true
    }
}
