package dev.keyfob

import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * Refresh-ahead and minimum lifetimes through the Kotlin layer (issue 21): a token that is due for
 * a refresh but not expired is served at once while the client's coroutine scope refreshes it;
 * `minTtl` asks for a token that lasts.
 */
class RefreshAheadTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    /**
     * Runs [block] with a client restarted on a fresh storage 280 s after signing in: its 300 s
     * token has 20 s left, inside the 30 s refresh margin — due, not expired — and is passed along.
     */
    private fun withADueToken(
        config: KeyfobConfig = testConfig(),
        block: suspend (Keyfob, String) -> Unit,
    ) = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(config, storage).use { it.signIn() }
        storage.ageSession(280)
        Keyfob(config, storage).use { keyfob ->
            assertEquals(SessionState.SIGNED_IN, keyfob.restored())
            val due = keyfob.tokens()!!.accessToken
            assertNull(keyfob.cachedAccessToken(), "due for a refresh")
            block(keyfob, due)
        }
    }

    @Test
    fun `a due token is served at once to 1000 callers while the scope refreshes it once`() = withADueToken { keyfob, due ->
        // The refresh is held up at the provider: a caller that waited for it would get the new token.
        Testkit.faults("""{"endpoints": [{"path": "/token", "delay_ms": 3000, "times": 1}]}""")
        val before = Testkit.count("refresh_token")

        val tokens = allAtOnce(1000) { keyfob.accessToken() }

        assertEquals(setOf(due), tokens.toSet(), "every caller got the due token at once")
        val fresh = withTimeout(30_000) {
            var token = keyfob.cachedAccessToken()
            while (token == null) {
                delay(20.milliseconds)
                token = keyfob.cachedAccessToken()
            }
            token
        }
        assertEquals(before + 1, Testkit.count("refresh_token"), "exactly one refresh grant")
        assertNotEquals(due, fresh)
        assertEquals(200, Testkit.callApi(Testkit.crm + "/api/customers", fresh).first)
    }

    @Test
    fun `with refresh-ahead off the caller waits for the refresh`() =
        withADueToken(testConfig().copy(refreshAhead = false)) { keyfob, due ->
            val before = Testkit.count("refresh_token")
            assertNotEquals(due, keyfob.accessToken())
            assertEquals(before + 1, Testkit.count("refresh_token"))
        }

    @Test
    fun `minTtl refreshes a token that expires sooner and refuses one beyond the lifetime`() = withADueToken { keyfob, due ->
        // 20 s are left; a caller that needs a minute waits for a new token.
        val before = Testkit.count("refresh_token")
        val lasting = keyfob.accessToken(minTtl = 60.seconds)
        assertNotEquals(due, lasting)
        assertEquals(before + 1, Testkit.count("refresh_token"))
        assertEquals(lasting, keyfob.accessToken(minTtl = 60.seconds), "it lasts: no second refresh")

        // The testkit's tokens live 300 s: no token lasts that long, and no request is made.
        val requests = Testkit.count("token")
        val e = expectFailure<KeyfobException.MinTtlExceedsLifetime> { keyfob.accessToken(minTtl = 300.seconds) }
        assertFalse(e.isRetryable)
        assertFalse(e.requiresSignIn)
        expectFailure<KeyfobException.MinTtlExceedsLifetime> {
            keyfob.accessToken("user-123", minTtl = 3600.seconds)
        }
        assertEquals(requests, Testkit.count("token"))
        assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
    }

    @Test
    fun `minimum lifetimes become whole seconds rounded up`() {
        assertEquals(0u, Duration.ZERO.wholeSecondsAtLeast())
        assertEquals(0u, (-5).seconds.wholeSecondsAtLeast())
        assertEquals(60u, 59200.milliseconds.wholeSecondsAtLeast(), "at least that long")
        assertEquals(60u, 60.seconds.wholeSecondsAtLeast())
        assertEquals(UInt.MAX_VALUE, Duration.INFINITE.wholeSecondsAtLeast())
        assertTrue(testConfig().toFfi().refreshAhead, "refresh-ahead is on by default")
        assertFalse(testConfig().copy(refreshAhead = false).toFfi().refreshAhead)
    }
}
