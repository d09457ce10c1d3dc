package dev.keyfob

import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

private const val CRM_API = "https://crm.company.com"
private const val ORDERS_API = "https://orders.company.com"
private const val ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"

/**
 * The grants beyond a browser sign-in, from Kotlin: a token for each API (RFC 8707), the identity
 * exchanged for the internal server's token (RFC 8693), sign-in on a device without a browser
 * (RFC 8628), and step-up.
 */
class GrantsTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    /** The testkit's clock [seconds] ahead while [block] runs (it is shared by every test). */
    private suspend fun withClockAhead(seconds: Int, block: suspend () -> Unit) {
        Testkit.advanceClock(seconds)
        try {
            block()
        } finally {
            Testkit.advanceClock(-seconds)
        }
    }

    private fun status(url: String, token: String): Int = Testkit.callApi(url, token).first
    private val customers get() = Testkit.crm + "/api/customers"
    private val orders get() = Testkit.orders + "/api/orders"

    @Test
    fun `each API gets a token for it alone`() = runBlocking<Unit> {
        Keyfob(testConfig().copy(resources = listOf(CRM_API, ORDERS_API)), MapStorage()).use { keyfob ->
            keyfob.signIn()
            assertEquals(listOf(CRM_API, ORDERS_API), keyfob.tokens()?.resources)
            val refreshes = Testkit.count("refresh_token")
            val crm = keyfob.accessTokenFor(CRM_API)
            val ordersToken = keyfob.accessTokenFor(ORDERS_API)
            assertEquals(200, status(customers, crm))
            assertEquals(401, status(orders, crm))
            assertEquals(200, status(orders, ordersToken))
            assertEquals(401, status(customers, ordersToken))
            val both = keyfob.accessToken()
            assertEquals(200, status(customers, both))
            assertEquals(200, status(orders, both))
            assertEquals(crm, keyfob.accessTokenFor(CRM_API), "kept with the session")
            assertEquals(refreshes + 2, Testkit.count("refresh_token"))
        }
    }

    @Test
    fun `concurrent callers share one refresh per API and an expiring token is refreshed`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.signIn()
            // Tokens issued for 0 s: expired at once (a 1 s token would serve for its second: the
            // refresh margin is at most half a token's lifetime).
            Testkit.faults("""{"token_response": {"expires_in": 0}}""")
            val refreshes = Testkit.count("refresh_token")
            val tokens = coroutineScope { (1..10).map { async { keyfob.accessTokenFor(CRM_API) } }.awaitAll() }
            assertEquals(1, tokens.toSet().size)
            assertEquals(refreshes + 1, Testkit.count("refresh_token"), "one refresh for ten callers")
            keyfob.accessTokenFor(CRM_API)
            assertEquals(refreshes + 2, Testkit.count("refresh_token"), "expired: refreshed again")
        }
    }

    @Test
    fun `an API outside the grant is invalid_target and the session stays`() = runBlocking<Unit> {
        Keyfob(testConfig().copy(resources = listOf(CRM_API)), MapStorage()).use { keyfob ->
            keyfob.signIn()
            val e = expectFailure<KeyfobException.Provider> { keyfob.accessTokenFor(ORDERS_API) }
            assertEquals("invalid_target", e.error)
            assertFalse(e.requiresSignIn)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
        }
    }

    @Test
    fun `the identity is exchanged for an internal token that A and B accept`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.signIn()
            val before = keyfob.tokens()
            val exchanges = Testkit.count("token_exchange")
            val request = TokenExchange(Testkit.internalIssuer, Testkit.clientId)
            val exchanged = keyfob.exchange(request)
            assertEquals("urn:ietf:params:oauth:token-type:access_token", exchanged.issuedTokenType)
            assertEquals(listOf("customers:read", "orders:read"), exchanged.scopes)
            assertFalse(exchanged.accessToken in exchanged.toString())
            assertEquals(200, status(customers, exchanged.accessToken))
            assertEquals(200, status(orders, exchanged.accessToken))
            assertEquals(exchanged.accessToken, keyfob.exchangedAccessToken(request), "kept under that issuer")
            assertEquals(exchanges + 1, Testkit.count("token_exchange"))
            assertEquals(before, keyfob.tokens(), "the session is untouched")
        }
    }

    @Test
    fun `forged, expired or foreign subjects and forged actors are rejected with invalid_grant`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.signIn()
            val rejected = Testkit.count("token_exchange_rejected")
            val idToken = keyfob.tokens()!!.idToken
            val forged = idToken.dropLast(1) + (if (idToken.endsWith("A")) "B" else "A")
            val forgedRequest = TokenExchange(
                Testkit.internalIssuer, Testkit.clientId, TokenExchange.Subject.Token(forged, ID_TOKEN_TYPE),
            )
            assertEquals("invalid_grant", expectFailure<KeyfobException.Provider> { keyfob.exchange(forgedRequest) }.error)
            // The actor's token is sent and checked too; toString() never shows it.
            val forgedActor = TokenExchange(
                Testkit.internalIssuer, Testkit.clientId, actor = TokenExchange.Subject.Token(forged, ID_TOKEN_TYPE),
            )
            assertFalse(forged in forgedActor.toString(), forgedActor.toString())
            assertEquals("invalid_grant", expectFailure<KeyfobException.Provider> { keyfob.exchange(forgedActor) }.error)
            withClockAhead(301) {
                val expired = TokenExchange(Testkit.internalIssuer, Testkit.clientId)
                assertEquals("invalid_grant", expectFailure<KeyfobException.Provider> { keyfob.exchange(expired) }.error)
            }
            Testkit.faults("""{"access_token_claims": {"iss": "https://evil.example"}}""")
            Keyfob(testConfig(), MapStorage()).use { other ->
                other.signIn()
                val foreign = TokenExchange(Testkit.internalIssuer, Testkit.clientId, TokenExchange.Subject.AccessToken)
                assertEquals("invalid_grant", expectFailure<KeyfobException.Provider> { other.exchange(foreign) }.error)
            }
            assertEquals(rejected + 4, Testkit.count("token_exchange_rejected"))
        }
    }

    @Test
    fun `a device polls until the user approves on another device`() = runBlocking<Unit> {
        Testkit.faults("""{"device_interval": 1}""")
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.restored()
            val polls = Testkit.count("device_code")
            val device = keyfob.beginDeviceLogin()
            assertEquals(1, device.intervalSecs)
            assertEquals(9, device.userCode.length)
            val complete = device.verificationUriComplete!!
            assertTrue(complete.startsWith(device.verificationUri), complete)
            val claims = coroutineScope {
                val waiting = async { keyfob.completeDeviceLogin() }
                withTimeout(10_000) { while (Testkit.count("device_code") < polls + 1) delay(20) }
                assertEquals(200, Testkit.visit(complete))
                waiting.await()
            }
            assertEquals("user-123", claims.subject)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            assertEquals(200, status(customers, keyfob.accessToken()))
        }
    }

    @Test
    fun `slow_down adds five seconds to the interval`() = runBlocking<Unit> {
        Testkit.faults("""{"device_interval": 1, "device_slow_down": 1}""")
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.restored()
            val polls = Testkit.count("device_code")
            val slowDowns = Testkit.count("device_slow_down")
            val device = keyfob.beginDeviceLogin()
            assertEquals(200, Testkit.visit(device.verificationUriComplete!!))
            val started = System.nanoTime()
            keyfob.completeDeviceLogin()
            // 1 s, then slow_down: 6 s (a sooner poll would have been slowed down again).
            assertTrue(System.nanoTime() - started >= 6_000_000_000L)
            assertEquals(slowDowns + 1, Testkit.count("device_slow_down"))
            assertEquals(polls + 2, Testkit.count("device_code"))
        }
    }

    @Test
    fun `a denied or expired device login is a provider error`() = runBlocking<Unit> {
        Testkit.faults("""{"device_interval": 1}""")
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.restored()
            val device = keyfob.beginDeviceLogin()
            assertEquals(200, Testkit.visit(device.verificationUriComplete!! + "&action=deny"))
            assertEquals("access_denied", expectFailure<KeyfobException.Provider> { keyfob.completeDeviceLogin() }.error)
            keyfob.beginDeviceLogin()
            withClockAhead(601) {
                assertEquals("expired_token", expectFailure<KeyfobException.Provider> { keyfob.completeDeviceLogin() }.error)
            }
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
        }
    }

    @Test
    fun `a fresh authentication with the asked acr is accepted`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val claims = keyfob.signIn(LoginOptions(maxAgeSecs = 0, acrValues = listOf("urn:keyfob:loa:2"), requireAcr = true))
            assertEquals("urn:keyfob:loa:2", claims.acr)
            assertNotNull(claims.authTime)
            assertEquals("urn:keyfob:loa:2", keyfob.claims()?.acr)
        }
    }

    @Test
    fun `a stale or missing auth_time or another acr is rejected and the session stays`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.signIn()
            val session = keyfob.tokens()
            val old = System.currentTimeMillis() / 1000 - 3600
            Testkit.faults("""{"id_token_claims": {"auth_time": $old}}""")
            val stale = expectFailure<KeyfobException.IdToken> { keyfob.signIn(LoginOptions(maxAgeSecs = 300)) }
            assertEquals(IdTokenCheck.AUTH_TIME, stale.check)
            Testkit.faults("""{"id_token_claims": {"auth_time": null}}""")
            val missing = expectFailure<KeyfobException.IdToken> { keyfob.signIn(LoginOptions(maxAgeSecs = 300)) }
            assertEquals(IdTokenCheck.AUTH_TIME, missing.check)
            Testkit.faults("""{"id_token_claims": {"acr": "urn:keyfob:loa:1"}}""")
            val weaker = expectFailure<KeyfobException.IdToken> {
                keyfob.signIn(LoginOptions(acrValues = listOf("urn:keyfob:loa:2"), requireAcr = true))
            }
            assertEquals(IdTokenCheck.ACR, weaker.check)
            assertEquals(session, keyfob.tokens(), "the session before the step-up stays")
        }
    }
}
