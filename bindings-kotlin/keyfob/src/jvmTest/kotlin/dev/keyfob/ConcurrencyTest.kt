package dev.keyfob

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Test

/** Many callers, one refresh; cancelled callers lose no rotated refresh token. */
class ConcurrencyTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    @Test
    fun `1000 coroutines asking for an expired token share one refresh`() = runBlocking<Unit> {
        // Signed in with a token issued for 0 s: expired at once, so every caller needs the
        // refresh (a token that is only due would be served at once: RefreshAheadTest).
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            Testkit.faults("""{"token_response": {"expires_in": 0}}""")
            keyfob.signIn()
            val stale = keyfob.cachedAccessToken()
            assertEquals(null, stale, "the token must have expired")
            // Slow the refresh down so that the callers arrive while it is in flight. Its token
            // lives an hour, beyond the margin: a caller that a loaded machine starts only after
            // the refresh finished gets that token, and no second refresh is made either way.
            Testkit.faults(
                """{"token_response": {"expires_in": 3600},
                    "endpoints": [{"path": "/token", "delay_ms": 1500, "times": 1}]}""",
            )
            val before = Testkit.count("refresh_token")

            val tokens = allAtOnce(1000) { keyfob.accessToken() }

            assertEquals(before + 1, Testkit.count("refresh_token"), "exactly one refresh grant")
            assertEquals(1, tokens.toSet().size, "every caller got the same, refreshed token")
            assertEquals(200, Testkit.callApi(Testkit.crm + "/api/customers", tokens.first()).first)
        }
    }

    @Test
    fun `a refresh whose caller is cancelled still completes and keeps the rotated token`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { keyfob ->
            keyfob.signIn()
            val sessionBefore = storage.entries.getValue("session").copyOf()
            Testkit.faults("""{"endpoints": [{"path": "/token", "delay_ms": 2000, "times": 1}]}""")
            val before = Testkit.count("refresh_token")

            val caller = launch(Dispatchers.Default) { keyfob.refresh() }
            // The testkit counts the request on arrival, before its delay: the refresh is in flight.
            withTimeout(10_000) { while (Testkit.count("refresh_token") == before) delay(20) }
            caller.cancelAndJoin()
            // The refresh goes on without its caller and stores the rotated tokens.
            withTimeout(10_000) {
                while (storage.entries.getValue("session").contentEquals(sessionBefore)) delay(20)
            }
            assertEquals(before + 1, Testkit.count("refresh_token"))
            // The rotated refresh token is the stored one: the next refresh is accepted (a replayed
            // old one would be refused as reuse, and the session dropped).
            keyfob.refresh()
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            assertNotEquals(null, keyfob.cachedAccessToken())
        }
    }
}
