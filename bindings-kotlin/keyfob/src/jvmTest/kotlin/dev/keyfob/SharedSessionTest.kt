package dev.keyfob

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit

/**
 * One session for several processes and accounts. Each [Keyfob] over the same storage stands for
 * a process of its own (the app and a WorkManager job in its own process): they share nothing but
 * the storage.
 */
class SharedSessionTest {
    @TempDir
    lateinit var dir: File

    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    @Test
    fun `a sibling's refresh is adopted without a request`() = runBlocking<Unit> {
        val storage = MapStorage()
        // Signed in with a token issued for 0 s: expired at once.
        Testkit.faults("""{"token_response": {"expires_in": 0}}""")
        Keyfob(testConfig(), storage).use { app ->
            app.signIn()
            Keyfob(testConfig(), storage).use { worker ->
                assertEquals(SessionState.SIGNED_IN, worker.restore())
                Testkit.clearFaults()
                val before = Testkit.count("refresh_token")
                val token = app.accessToken()
                assertEquals(before + 1, Testkit.count("refresh_token"))
                // The worker's memory holds the expired token; it reads the storage before
                // refreshing and takes the app's newer one.
                assertEquals(token, worker.accessToken())
                assertEquals(before + 1, Testkit.count("refresh_token"))
            }
        }
    }

    @Test
    fun `a new client over the same storage refreshes with exactly one request`() = runBlocking<Unit> {
        val storage = MapStorage()
        // Signed in with a token issued for 0 s: expired at once (a 1 s token would serve for its
        // second: the refresh margin is at most half a token's lifetime).
        Testkit.faults("""{"token_response": {"expires_in": 0}}""")
        Keyfob(testConfig(), storage).use { it.signIn() }
        Testkit.clearFaults()
        val before = Testkit.stats()

        // The next launch: the session and the provider's metadata come from the storage, and the
        // expired access token costs one request, the refresh (its ID token checked against the
        // stored keys).
        Keyfob(testConfig(), storage).use { relaunched -> relaunched.accessToken() }
        val after = Testkit.stats()
        fun delta(name: String) = after.getInt(name) - before.getInt(name)
        assertEquals(
            mapOf("token" to 1, "refresh_token" to 1, "discovery" to 0, "jwks" to 0),
            listOf("token", "refresh_token", "discovery", "jwks").associateWith(::delta),
        )
    }

    @Test
    fun `a sibling's logout shows after a reload`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { app ->
            app.signIn()
            Keyfob(testConfig(), storage).use { worker ->
                assertEquals(SessionState.SIGNED_IN, worker.restore())
                app.logout()
                assertEquals(SessionState.SIGNED_OUT, worker.reload())
                assertEquals(SessionState.SIGNED_OUT, worker.state.value)
                expectFailure<KeyfobException.NotSignedIn> { worker.accessToken() }
            }
        }
    }

    @Test
    fun `two accounts sign in, switch, refresh one by one, and sign out one by one`() = runBlocking<Unit> {
        Keyfob(testConfig().copy(multipleAccounts = true), MapStorage()).use { keyfob ->
            val ada = keyfob.signIn().subject
            keyfob.signIn(LoginOptions(loginHint = "grace"))
            val accounts = keyfob.accounts()
            assertEquals(setOf(ada, "grace"), accounts.map { it.claims.subject }.toSet())
            assertEquals(listOf("grace"), accounts.filter { it.active }.map { it.claims.subject })

            keyfob.switchAccount(ada)
            assertEquals(ada, keyfob.claims()?.subject)
            expectFailure<KeyfobException.NotSignedIn> { keyfob.switchAccount("nobody") }

            val before = Testkit.count("refresh_token")
            keyfob.refresh()
            keyfob.refresh(account = "grace")
            assertEquals(before + 2, Testkit.count("refresh_token"))
            assertTrue(keyfob.accessToken(account = "grace") != keyfob.accessToken())

            keyfob.logout(account = "grace")
            assertEquals(listOf(ada), keyfob.accounts().map { it.claims.subject })
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            expectFailure<KeyfobException.NotSignedIn> { keyfob.accessToken(account = "grace") }
        }
    }

    @Test
    fun `storage instances sharing a directory lose no compare-and-swap`() {
        val key = EncryptedFileStorageTest.SoftwareKey()
        EncryptedFileStorage(dir, key).save("counter", ByteArray(0))
        // Four instances, as separate processes would have, each adding 25 bytes one at a time.
        val pool = Executors.newFixedThreadPool(4)
        repeat(4) {
            val storage = EncryptedFileStorage(dir, key)
            pool.execute {
                repeat(25) {
                    while (true) {
                        val old = storage.load("counter")!!
                        if (storage.compareAndSwap("counter", old, old + byteArrayOf(1))) break
                    }
                }
            }
        }
        pool.shutdown()
        assertTrue(pool.awaitTermination(2, TimeUnit.MINUTES))
        assertEquals(100, EncryptedFileStorage(dir, key).load("counter")!!.size)
        // Nothing is left but the entry and the writers' lock file.
        assertEquals(setOf("counter.kfs", ".lock"), dir.list()!!.toSet())
    }
}

/** The default Android store keeps one directory per issuer and client id. */
class StoreNamespaceTest {
    @TempDir
    lateinit var root: File

    @Test
    fun `two clients get two directories and do not see each other's session`() {
        val a = StoreNamespace.directory("https://a.example", "app")
        val b = StoreNamespace.directory("https://b.example", "app")
        val c = StoreNamespace.directory("https://a.example", "other-app")
        assertEquals(3, setOf(a, b, c).size)
        // The name the core's FileStorage gives the same issuer and client (its unit test checks
        // the same vector).
        assertEquals("keyfob/5a3cb3b5622a6fe51489220c", a)

        val key = EncryptedFileStorageTest.SoftwareKey()
        EncryptedFileStorage(File(root, a), key).save("session", byteArrayOf(1))
        assertEquals(null, EncryptedFileStorage(File(root, b), key).load("session"))
    }
}
