package dev.keyfob

import kotlinx.coroutines.flow.filterNotNull
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * What `KeyfobRedirectActivity` does with the deep link — hand it to the right client, or keep it
 * until that client exists — without a device.
 */
class RedirectRouterTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    private suspend fun Keyfob.awaitState(state: SessionState) =
        withTimeout(10_000) { this@awaitState.state.first { it == state } }

    @Test
    fun `deep links are matched on scheme, host and path, whatever the query`() {
        assertTrue(RedirectUris.matches("myapp://callback", "myapp://callback?code=a&state=b"))
        assertTrue(RedirectUris.matches("myapp://callback", "MyApp://CALLBACK?code=a"))
        assertTrue(RedirectUris.matches("com.example.app:/callback", "com.example.app:/callback?code=a#x"))
        assertTrue(RedirectUris.matches("https://app.example.com/cb", "https://app.example.com/cb?code=a"))
        assertFalse(RedirectUris.matches("myapp://callback", "myapp://other?code=a"))
        assertFalse(RedirectUris.matches("myapp://callback", "otherapp://callback?code=a"))
        assertFalse(RedirectUris.matches("com.example.app:/callback", "com.example.app:/callback/x"))
        assertFalse(RedirectUris.matches("https://app.example.com/cb", "https://app.example.com:8443/cb"))
        assertFalse(RedirectUris.matches("myapp://callback", "mailto:someone@example.com"))
        assertFalse(RedirectUris.matches("myapp://callback", "not a uri"))
    }

    @Test
    fun `a delivered deep link completes the login of the matching client`() = runBlocking<Unit> {
        val router = RedirectRouter()
        Keyfob(testConfig(), MapStorage(), HttpUrlConnectionTransport(), router).use { keyfob ->
            val callback = Testkit.authorize(keyfob.beginLogin())
            assertEquals(RedirectRouter.Delivery.LOGIN, router.deliver(callback))
            keyfob.awaitState(SessionState.SIGNED_IN)
            assertNull(keyfob.loginError.value)
            assertEquals("user-123", keyfob.claims()?.subject)
        }
    }

    @Test
    fun `a deep link that arrives before the client exists waits for it (process death)`() = runBlocking<Unit> {
        val router = RedirectRouter()
        val storage = MapStorage()
        val url = Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), router).use { it.beginLogin() }
        val callback = Testkit.authorize(url)

        // The process was killed: no client when the redirect activity delivers the link.
        assertEquals(RedirectRouter.Delivery.QUEUED, router.deliver(callback))
        Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), router).use { restarted ->
            restarted.awaitState(SessionState.SIGNED_IN)
            assertEquals(200, Testkit.callApi(Testkit.crm + "/api/customers", restarted.accessToken()).first)
        }
    }

    @Test
    fun `a failing callback shows in loginError, and a new login clears it`() = runBlocking<Unit> {
        val router = RedirectRouter()
        Keyfob(testConfig(), MapStorage(), HttpUrlConnectionTransport(), router).use { keyfob ->
            val callback = Testkit.authorize(keyfob.beginLogin())
            router.deliver(callback.withQueryParam("state", "forged"))
            val error = withTimeout(10_000) { keyfob.loginError.filterNotNull().first() }
            assertTrue(error is KeyfobException.StateMismatch, "$error")
            assertEquals(SessionState.LOGIN_PENDING, keyfob.state.value)

            keyfob.beginLogin()
            assertNull(keyfob.loginError.value)
        }
    }

    @Test
    fun `only the client whose redirect URI matches gets the link`() = runBlocking<Unit> {
        val router = RedirectRouter()
        val other = Keyfob(testConfig(redirectUri = "com.example.app:/callback"), MapStorage(), HttpUrlConnectionTransport(), router)
        other.use {
            Keyfob(testConfig(), MapStorage(), HttpUrlConnectionTransport(), router).use { keyfob ->
                val callback = Testkit.authorize(keyfob.beginLogin())
                assertEquals(RedirectRouter.Delivery.LOGIN, router.deliver(callback))
                keyfob.awaitState(SessionState.SIGNED_IN)
                assertEquals(SessionState.SIGNED_OUT, other.restored())
                assertNull(other.loginError.value)
            }
        }
    }

    @Test
    fun `the post-logout redirect is recognised, and junk is ignored`() = runBlocking<Unit> {
        val router = RedirectRouter()
        val config = testConfig().copy(postLogoutRedirectUri = "myapp://signed-out")
        Keyfob(config, MapStorage(), HttpUrlConnectionTransport(), router).use {
            assertEquals(RedirectRouter.Delivery.POST_LOGOUT, router.deliver("myapp://signed-out?state=x"))
            assertEquals(RedirectRouter.Delivery.IGNORED, router.deliver("::not a url"))
        }
    }

    @Test
    fun `a kept deep link expires with the pending login`() = runBlocking<Unit> {
        // A real callback for a login stored in `storage`: handed over, it would sign the user in.
        val storage = MapStorage()
        val url = Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), RedirectRouter()).use { it.beginLogin() }
        val callback = Testkit.authorize(url)
        var now = 1_000_000L
        val router = RedirectRouter { now }
        assertEquals(RedirectRouter.Delivery.QUEUED, router.deliver(callback))
        now += RedirectRouter.QUEUE_LIFETIME_MS + 1
        val codeGrants = Testkit.count("authorization_code")

        // The client registers with the router that kept the link, as a restarted app's would.
        Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), RedirectRouter()).use { keyfob ->
            router.register(keyfob)?.join()
            // Nothing was handed over: no attempt, no error, no sign-in.
            assertEquals(SessionState.LOGIN_PENDING, keyfob.restored())
            assertNull(keyfob.loginError.value)
            assertEquals(codeGrants, Testkit.count("authorization_code"), "the code was not exchanged")
        }
        // The link is gone, not kept for another client.
        Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), RedirectRouter()).use { keyfob ->
            router.register(keyfob)?.join()
            assertEquals(SessionState.LOGIN_PENDING, keyfob.restored())
        }
    }

    @Test
    fun `a kept deep link within its lifetime is handed to the client that registers`() = runBlocking<Unit> {
        // The same as above, a minute later instead of after the lifetime: the link signs in.
        val storage = MapStorage()
        val url = Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), RedirectRouter()).use { it.beginLogin() }
        var now = 1_000_000L
        val router = RedirectRouter { now }
        assertEquals(RedirectRouter.Delivery.QUEUED, router.deliver(Testkit.authorize(url)))
        now += 60_000
        Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), RedirectRouter()).use { keyfob ->
            val delivery = router.register(keyfob)
            assertNotNull(delivery, "the kept link was handed over")
            delivery!!.join()
            assertNull(keyfob.loginError.value)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
        }
    }
}
