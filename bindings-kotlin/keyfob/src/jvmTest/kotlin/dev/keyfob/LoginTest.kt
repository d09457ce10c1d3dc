package dev.keyfob

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/** A browser for [Keyfob.login] and [Keyfob.logout]: answers with [answer], records what it opened. */
class FakeBrowser(
    private val available: Boolean = true,
    private val answer: suspend (url: String, redirectUri: String?) -> BrowserOutcome,
) : AuthorizationBrowser {
    val opened = mutableListOf<Pair<String, String?>>()

    override fun isAvailable(): Boolean = available

    override suspend fun open(url: String, redirectUri: String?): BrowserOutcome {
        opened += url to redirectUri
        return answer(url, redirectUri)
    }

    companion object {
        /** The testkit's page: signs the user in at once and redirects. */
        fun signsIn() = FakeBrowser { url, _ -> BrowserOutcome.Redirect(Testkit.authorize(url)) }
    }
}

/** `login()` awaited end to end: claims, a typed cancellation, no browser, and the browser step of logout. */
class LoginTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    @Test
    fun `login opens the page for the redirect URI and returns the signed-in claims`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val browser = FakeBrowser.signsIn()
            val claims = keyfob.login(browser)
            assertEquals("user-123", claims.subject)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            val (url, redirect) = browser.opened.single()
            assertTrue(url.startsWith(Testkit.issuer + "/authorize?"), url)
            assertEquals("myapp://callback", redirect)
        }
    }

    @Test
    fun `closing the browser is Cancelled, and the pending login is gone for good`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { keyfob ->
            var callback = ""
            val browser = FakeBrowser { url, _ ->
                callback = Testkit.authorize(url) // the page was open, the user closed it anyway
                BrowserOutcome.Closed
            }
            val e = expectFailure<KeyfobException.Cancelled> { keyfob.login(browser) }
            assertFalse(e.isRetryable || e.requiresSignIn)
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
            assertFalse(storage.entries.containsKey("pending"))
            // Its callback can no longer be redeemed.
            expectFailure<KeyfobException.NoPendingLogin> { keyfob.handleRedirect(callback) }
        }
    }

    @Test
    fun `cancelling a new login while signed in keeps the session`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.login(FakeBrowser.signsIn())
            expectFailure<KeyfobException.Cancelled> { keyfob.login(FakeBrowser { _, _ -> BrowserOutcome.Closed }) }
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            assertEquals(200, Testkit.callApi(Testkit.crm + "/api/customers", keyfob.accessToken()).first)
        }
    }

    @Test
    fun `with no browser the login fails before anything is stored`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { keyfob ->
            val browser = FakeBrowser(available = false) { _, _ -> error("never opened") }
            val e = expectFailure<KeyfobException.NoBrowser> { keyfob.login(browser) }
            assertFalse(e.isRetryable || e.requiresSignIn)
            assertTrue(browser.opened.isEmpty())
            assertTrue(storage.entries.isEmpty(), "nothing stored: ${storage.entries.keys}")
            assertEquals(SessionState.SIGNED_OUT, keyfob.restored())
        }
    }

    @Test
    fun `a browser that cannot be started after all clears the pending login`() = runBlocking<Unit> {
        val storage = MapStorage()
        Keyfob(testConfig(), storage).use { keyfob ->
            expectFailure<KeyfobException.NoBrowser> { keyfob.login(FakeBrowser { _, _ -> BrowserOutcome.NoBrowser }) }
            assertFalse(storage.entries.containsKey("pending"))
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
        }
    }

    @Test
    fun `an Auth Tab that refuses the redirect is Cancelled`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            expectFailure<KeyfobException.Cancelled> { keyfob.login(FakeBrowser { _, _ -> BrowserOutcome.Failed("unverified") }) }
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
        }
    }

    @Test
    fun `a refusal at the provider is a Provider error from login`() = runBlocking<Unit> {
        Testkit.faults("""{"callback": {"error": "access_denied", "code": null}}""")
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val e = expectFailure<KeyfobException.Provider> { keyfob.login(FakeBrowser.signsIn()) }
            assertEquals("access_denied", e.error)
        }
    }

    @Test
    fun `a caller that goes away leaves the login pending, and a late redirect completes it in the background`() = runBlocking<Unit> {
        val router = RedirectRouter()
        Keyfob(testConfig(), MapStorage(), HttpUrlConnectionTransport(), router).use { keyfob ->
            val opened = CompletableDeferred<String>()
            val never = CompletableDeferred<BrowserOutcome>()
            val caller = async(Dispatchers.Default) {
                keyfob.login(FakeBrowser { url, _ -> opened.complete(url); never.await() })
            }
            val url = withTimeout(10_000) { opened.await() }
            caller.cancelAndJoin() // the screen went away while the browser was open
            assertEquals(SessionState.LOGIN_PENDING, keyfob.state.value)
            router.deliver(Testkit.authorize(url))
            withTimeout(10_000) { keyfob.state.first { it == SessionState.SIGNED_IN } }
            assertNull(keyfob.loginError.value)
        }
    }

    @Test
    fun `logout in the browser ends the provider's session and checks the returned state`() = runBlocking<Unit> {
        val config = testConfig().copy(postLogoutRedirectUri = "myapp://signed-out")
        Keyfob(config, MapStorage()).use { keyfob ->
            keyfob.login(FakeBrowser.signsIn())
            val browser = FakeBrowser { url, _ -> BrowserOutcome.Redirect(Testkit.authorize(url)) }
            val result = keyfob.logout(browser)
            assertEquals(EndSession.RETURNED, result.endSession)
            assertEquals("myapp://signed-out", browser.opened.single().second)
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
            assertNull(keyfob.claims())
        }
    }

    @Test
    fun `the end-session outcome follows what the browser brought back`() {
        val redirect = "myapp://signed-out"
        fun outcome(o: BrowserOutcome) = RedirectUris.endSessionOutcome(o, redirect, "s1")
        assertEquals(EndSession.RETURNED, outcome(BrowserOutcome.Redirect("$redirect?state=s1")))
        assertEquals(EndSession.STATE_MISMATCH, outcome(BrowserOutcome.Redirect("$redirect?state=forged")))
        assertEquals(EndSession.STATE_MISMATCH, outcome(BrowserOutcome.Redirect(redirect)))
        assertEquals(EndSession.CLOSED, outcome(BrowserOutcome.Redirect("myapp://callback?code=x")))
        assertEquals(EndSession.CLOSED, outcome(BrowserOutcome.Closed))
        assertEquals(EndSession.NO_BROWSER, outcome(BrowserOutcome.NoBrowser))
        assertEquals(EndSession.CLOSED, RedirectUris.endSessionOutcome(BrowserOutcome.Redirect("$redirect?state=s1"), null, "s1"))
        assertEquals(EndSession.RETURNED, RedirectUris.endSessionOutcome(BrowserOutcome.Redirect(redirect), redirect, null))
    }

    @Test
    fun `logout without a browser still ends the local session`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            keyfob.login(FakeBrowser.signsIn())
            val result = keyfob.logout(FakeBrowser(available = false) { _, _ -> error("never opened") })
            assertEquals(EndSession.NO_BROWSER, result.endSession)
            assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
            assertEquals(EndSession.NOT_REQUESTED, Keyfob(testConfig()).use { it.logout() }.endSession)
        }
    }

    @Test
    fun `construction reads no storage on the caller's thread`() = runBlocking<Unit> {
        val caller = Thread.currentThread()
        val release = CountDownLatch(1)
        val readers = mutableListOf<Thread>()
        val slow = object : SecureStorage by MapStorage() {
            override fun load(key: String): ByteArray? {
                synchronized(readers) { readers += Thread.currentThread() }
                release.await(10, TimeUnit.SECONDS)
                return null
            }
        }
        Keyfob(testConfig(), slow).use { keyfob ->
            assertEquals(SessionState.RESTORING, keyfob.state.value, "constructed while the storage is still blocked")
            release.countDown()
            assertEquals(SessionState.SIGNED_OUT, keyfob.restored())
            assertTrue(synchronized(readers) { readers.isNotEmpty() && caller !in readers }, "read on $readers")
        }
    }

    @Test
    fun `tokens hold the raw ID token, expiry and scopes, and never show them`() = runBlocking<Unit> {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            assertNull(keyfob.tokens())
            keyfob.login(FakeBrowser.signsIn())
            val tokens = keyfob.tokens()!!
            assertEquals(3, tokens.idToken.split('.').size, "a compact JWS")
            assertEquals(keyfob.accessToken(), tokens.accessToken)
            assertTrue(tokens.expiresAt!! > System.currentTimeMillis() / 1000)
            assertTrue("offline_access" in tokens.scopes, "${tokens.scopes}")
            assertEquals("Bearer", tokens.tokenType)
            assertFalse(tokens.idToken in tokens.toString() || tokens.accessToken in tokens.toString())
            assertNotEquals(null, keyfob.claims())
        }
    }
}
