package dev.keyfob

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.Collections

/** [Keyfob.state] follows the session through its life, as a collector sees it. */
class StateFlowTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    @Test
    fun `the state flow goes signed out, pending, signed in, signed out`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            assertEquals(SessionState.SIGNED_OUT, keyfob.restored())
            val seen = Collections.synchronizedList(mutableListOf<SessionState>())
            val collector = launch(Dispatchers.Default) { keyfob.state.collect { seen += it } }
            suspend fun reached(state: SessionState) = withTimeout(5_000) {
                while (seen.lastOrNull() != state) delay(5)
            }

            reached(SessionState.SIGNED_OUT)
            val url = keyfob.beginLogin()
            reached(SessionState.LOGIN_PENDING)
            keyfob.handleRedirect(Testkit.authorize(url))
            reached(SessionState.SIGNED_IN)
            keyfob.refresh() // stays signed in: no new state
            keyfob.accessToken()
            keyfob.logout()
            reached(SessionState.SIGNED_OUT)
            collector.cancel()

            assertEquals(
                listOf(
                    SessionState.SIGNED_OUT,
                    SessionState.LOGIN_PENDING,
                    SessionState.SIGNED_IN,
                    SessionState.SIGNED_OUT,
                ),
                seen.toList(),
            )
        }
    }

    @Test
    fun `a rejected refresh token shows as NEEDS_RE_LOGIN, and a new login clears it`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.signIn()
            Testkit.faults(
                """{"endpoints": [{"path": "/token", "status": 400, "times": 1,
                    "body": "{\"error\": \"invalid_grant\"}"}]}""",
            )
            val e = expectFailure<KeyfobException.ReLoginRequired> { keyfob.refresh() }
            assertTrue(e.requiresSignIn)
            assertEquals(SessionState.NEEDS_RE_LOGIN, keyfob.state.first())
            keyfob.signIn()
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
        }
    }

    @Test
    fun `a failed callback after the pending login was used leaves the flow signed out`() = runBlocking<Unit> {
        Testkit.faults("""{"callback": {"error": "access_denied", "code": null}}""")
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val url = keyfob.beginLogin()
            assertEquals(SessionState.LOGIN_PENDING, keyfob.state.value)
            val e = expectFailure<KeyfobException.Provider> { keyfob.handleRedirect(Testkit.authorize(url)) }
            assertEquals("access_denied", e.error)
            // No session event for this: the flow is updated after every call anyway.
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
        }
    }
}
