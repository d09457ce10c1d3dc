package dev.keyfob

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.net.ServerSocket
import kotlin.time.Duration.Companion.seconds

/** Each failure reaches Kotlin as the [KeyfobException] subclass of its kind. */
class ErrorMappingTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    @Test
    fun `a callback with the wrong state is a StateMismatch, and the login stays pending`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val callback = Testkit.authorize(keyfob.beginLogin())
            val forged = callback.withQueryParam("state", "forged-state-value")
            val e = expectFailure<KeyfobException.StateMismatch> { keyfob.handleRedirect(forged) }
            assertFalse(e.isRetryable)
            assertFalse(e.reason.contains("code="), "no secret in the message")
            assertEquals(SessionState.LOGIN_PENDING, keyfob.state.value)
            // The genuine callback still completes the login.
            keyfob.handleRedirect(callback)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
        }
    }

    @Test
    fun `a callback for another redirect URI is an InvalidCallback`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val callback = Testkit.authorize(keyfob.beginLogin())
            val elsewhere = callback.replace("myapp://callback", "myapp://elsewhere")
            expectFailure<KeyfobException.InvalidCallback> { keyfob.handleRedirect(elsewhere) }
        }
    }

    @Test
    fun `a callback without a login is NoPendingLogin, and a replayed one too`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            expectFailure<KeyfobException.NoPendingLogin> {
                keyfob.handleRedirect("myapp://callback?code=abc&state=def&iss=x")
            }
            val callback = Testkit.authorize(keyfob.beginLogin())
            keyfob.handleRedirect(callback)
            expectFailure<KeyfobException.NoPendingLogin> { keyfob.handleRedirect(callback) }
        }
    }

    @Test
    fun `an error from the provider is a Provider exception with its OAuth code`() = runBlocking<Unit> {
        Testkit.faults("""{"callback": {"error": "access_denied", "error_description": "User said no", "code": null}}""")
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val callback = Testkit.authorize(keyfob.beginLogin())
            val e = expectFailure<KeyfobException.Provider> { keyfob.handleRedirect(callback) }
            assertEquals("access_denied", e.error)
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
        }
    }

    @Test
    fun `an ID token for another audience is an IdToken exception naming the check`() = runBlocking<Unit> {
        Testkit.faults("""{"id_token_claims": {"aud": "someone-else"}}""")
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val e = expectFailure<KeyfobException.IdToken> { keyfob.signIn() }
            assertEquals(IdTokenCheck.AUDIENCE, e.check)
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
        }
    }

    @Test
    fun `a rejected refresh token is ReLoginRequired and the session is cleared`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.signIn()
            Testkit.faults(
                """{"endpoints": [{"path": "/token", "status": 400,
                    "body": "{\"error\": \"invalid_grant\", \"error_description\": \"revoked\"}"}]}""",
            )
            val e = expectFailure<KeyfobException.ReLoginRequired> { keyfob.refresh() }
            assertTrue(e.requiresSignIn)
            assertEquals(SessionState.NEEDS_RE_LOGIN, keyfob.state.value)
            expectFailure<KeyfobException.ReLoginRequired> { keyfob.accessToken() }
        }
    }

    @Test
    fun `access before sign-in is NotSignedIn`() = runBlocking<Unit> {
        Keyfob(testConfig()).use { keyfob ->
            val e = expectFailure<KeyfobException.NotSignedIn> { keyfob.accessToken() }
            assertTrue(e.requiresSignIn)
            expectFailure<KeyfobException.NotSignedIn> { keyfob.refresh() }
        }
    }

    @Test
    fun `an unreachable provider is a retryable Network failure`() = runBlocking<Unit> {
        val closedPort = ServerSocket(0).use { it.localPort }
        Keyfob(testConfig(issuer = "http://127.0.0.1:$closedPort")).use { keyfob ->
            val e = expectFailure<KeyfobException.Network> { keyfob.beginLogin() }
            assertTrue(e.isRetryable)
        }
    }

    @Test
    fun `a provider slower than the timeout is a retryable Timeout`() = runBlocking<Unit> {
        // The answer would come after 20 s: only the 1 s timeout can end the wait before.
        Testkit.faults("""{"endpoints": [{"path": "/.well-known/openid-configuration", "delay_ms": 20000, "times": 1}]}""")
        Keyfob(testConfig(httpTimeoutSecs = 1)).use { keyfob ->
            val started = System.nanoTime()
            val e = expectFailure<KeyfobException.Timeout> { keyfob.beginLogin() }
            assertTrue(e.isRetryable)
            val ms = (System.nanoTime() - started) / 1_000_000
            assertTrue(ms in 900 until 10_000, "gave up after $ms ms, not about 1 s")
        }
    }

    @Test
    fun `a 5xx from the token endpoint is a retryable HttpStatus and keeps the session`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.signIn()
            Testkit.faults("""{"endpoints": [{"path": "/token", "status": 503, "body": "down"}]}""")
            val e = expectFailure<KeyfobException.HttpStatus> { keyfob.refresh() }
            assertEquals(503, e.status)
            assertTrue(e.isRetryable)
            assertEquals(null, e.retryAfter)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)

            // A provider that says when to come back.
            Testkit.faults("""{"endpoints": [{"path": "/token", "status": 429, "headers": [["Retry-After", "120"]]}]}""")
            val busy = expectFailure<KeyfobException.HttpStatus> { keyfob.refresh() }
            assertEquals(429, busy.status)
            assertEquals(120.seconds, busy.retryAfter)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
        }
    }

    @Test
    fun `a lost or unreadable session needs a sign-in, a locked device a retry`() {
        fun storage(kind: StorageErrorKind) = KeyfobException.Storage(kind, "storage")
        for (kind in listOf(StorageErrorKind.KEY_INVALIDATED, StorageErrorKind.CORRUPT)) {
            assertTrue(storage(kind).requiresSignIn, "$kind")
            assertFalse(storage(kind).isRetryable, "$kind")
        }
        assertTrue(storage(StorageErrorKind.UNAVAILABLE).isRetryable)
        assertFalse(storage(StorageErrorKind.UNAVAILABLE).requiresSignIn)
        assertFalse(storage(StorageErrorKind.FAILED).requiresSignIn)
    }

    @Test
    fun `an invalid or insecure configuration fails when the client is created`() {
        assertThrows<KeyfobException.Config> { Keyfob(testConfig().copy(clientId = " ")) }
        assertThrows<KeyfobException.InsecureUrl> { Keyfob(testConfig(issuer = "http://auth.company.com")) }
    }

    @Test
    fun `an unavailable storage keeps the session and says so`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { it.signIn() }

        storage.failure = StorageException.Unavailable("device locked")
        Keyfob(testConfig(), storage).use { keyfob ->
            assertEquals(SessionState.STORAGE_UNAVAILABLE, keyfob.restored())
            val e = expectFailure<KeyfobException.Storage> { keyfob.accessToken() }
            assertEquals(StorageErrorKind.UNAVAILABLE, e.kind)
            assertTrue(e.isRetryable)
            assertFalse(e.requiresSignIn)

            storage.failure = null // unlocked
            assertEquals(SessionState.SIGNED_IN, keyfob.restore())
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            keyfob.accessToken()
        }
    }

    @Test
    fun `a storage that fails to write is a Storage error, never a silent loss`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { keyfob ->
            val url = keyfob.beginLogin()
            storage.failure = StorageException.Failed("disk full")
            val e = expectFailure<KeyfobException.Storage> { keyfob.handleRedirect(Testkit.authorize(url)) }
            assertEquals(StorageErrorKind.FAILED, e.kind)
        }
    }

    @Test
    fun `a lost storage key means signing in again, not a crash`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { it.signIn() }

        storage.failure = StorageException.KeyInvalidated("lock screen removed")
        Keyfob(testConfig(), storage).use { keyfob ->
            assertEquals(SessionState.NEEDS_RE_LOGIN, keyfob.restored())
            storage.failure = null
            storage.entries.clear()
            keyfob.signIn()
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
        }
    }

    @Test
    fun `a storage that throws something unexpected is a Storage failure`() = runBlocking<Unit> {
        val broken = object : SecureStorage {
            override fun load(key: String): ByteArray? = throw IllegalStateException("bug in the app's storage")
            override fun save(key: String, value: ByteArray) = throw IllegalStateException("bug")
            override fun delete(key: String) = throw IllegalStateException("bug")
        }
        Keyfob(testConfig(), broken).use { keyfob ->
            val e = expectFailure<KeyfobException.Storage> { keyfob.beginLogin() }
            assertEquals(StorageErrorKind.FAILED, e.kind)
        }
    }
}
