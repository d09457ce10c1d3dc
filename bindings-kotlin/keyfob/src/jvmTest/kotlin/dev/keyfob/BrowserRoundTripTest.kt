package dev.keyfob

import dev.keyfob.BrowserRoundTrip.Step
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/**
 * What `KeyfobAuthorizationActivity` does at each point of its life, driven here through the
 * lifecycle sequences Android produces: return with a redirect, return without one, the Auth Tab's
 * result, a launch that fails, and process death between the launch and the redirect.
 */
class BrowserRoundTripTest {
    @AfterEach
    fun clearFaults() = Testkit.clearFaults()

    private val redirectUri = "com.example.app:/callback"
    private val launch = BrowserLaunch(
        "https://auth.company.com/authorize?x=1", "com.android.chrome", BrowserLaunch.Mode.CUSTOM_TAB,
        mapOf(CustomTabs.EXTRA_SHARE_STATE to 2), mapOf(CustomTabs.EXTRA_ENABLE_URLBAR_HIDING to false),
        emptyMap(), "android-app://com.example.app", anyBrowserFallback = true,
    )
    private val request = RoundTripRequest("id-1", RoundTripRequest.Kind.LOGIN, redirectUri, launch)

    @Test
    fun `the first resume opens the browser, a resume with the redirect reports it and finishes`() {
        val trip = BrowserRoundTrip(request)
        assertEquals(listOf(Step.Launch(launch)), trip.onResume())
        trip.onNewIntent("$redirectUri?code=c&state=s")
        assertEquals(
            listOf(Step.Report(request, BrowserOutcome.Redirect("$redirectUri?code=c&state=s")), Step.Finish(returnToApp = false)),
            trip.onResume(),
        )
        assertEquals(emptyList<Step>(), trip.onResume(), "finished: nothing more")
    }

    @Test
    fun `coming back without a redirect is a close`() {
        val trip = BrowserRoundTrip(request)
        trip.onResume()
        assertEquals(listOf(Step.Report(request, BrowserOutcome.Closed), Step.Finish(false)), trip.onResume())
    }

    @Test
    fun `the Auth Tab's result ends the round trip at the next resume`() {
        val authTab = request.copy(launch = launch.copy(mode = BrowserLaunch.Mode.AUTH_TAB))
        val ok = BrowserRoundTrip(authTab)
        ok.onResume()
        ok.onActivityResult(CustomTabs.AUTH_TAB_RESULT_OK, "$redirectUri?code=c")
        assertEquals(Step.Report(authTab, BrowserOutcome.Redirect("$redirectUri?code=c")), ok.onResume().first())

        val closed = BrowserRoundTrip(authTab)
        closed.onResume()
        closed.onActivityResult(CustomTabs.AUTH_TAB_RESULT_CANCELED, null)
        assertEquals(Step.Report(authTab, BrowserOutcome.Closed), closed.onResume().first())

        val unverified = BrowserRoundTrip(authTab)
        unverified.onResume()
        unverified.onActivityResult(CustomTabs.AUTH_TAB_RESULT_VERIFICATION_FAILED, null)
        assertTrue((unverified.onResume().first() as Step.Report).outcome is BrowserOutcome.Failed)
    }

    @Test
    fun `another deep link is routed elsewhere, and the round trip ends as closed`() {
        val trip = BrowserRoundTrip(request)
        trip.onResume()
        trip.onNewIntent("com.example.app:/somewhere-else?x=1")
        assertEquals(
            listOf(Step.Deliver("com.example.app:/somewhere-else?x=1"), Step.Report(request, BrowserOutcome.Closed), Step.Finish(false)),
            trip.onResume(),
        )
    }

    @Test
    fun `a launch that fails tries the fallbacks, then reports no browser`() {
        val trip = BrowserRoundTrip(request)
        trip.onResume()
        val plain = trip.launchFailed().single() as Step.Launch
        assertEquals(BrowserLaunch.Mode.PLAIN, plain.launch.mode)
        val anyBrowser = trip.launchFailed().single() as Step.Launch
        assertNull(anyBrowser.launch.browserPackage)
        assertEquals(listOf(Step.Report(request, BrowserOutcome.NoBrowser), Step.Finish(false)), trip.launchFailed())
    }

    @Test
    fun `process death between launch and redirect, the recreated activity reports the redirect`() {
        val before = BrowserRoundTrip(request)
        before.onResume()
        val saved = before.snapshot()
        assertTrue(saved.launched)

        // A new process: the system recreates the activity with its first intent and the saved state.
        val after = BrowserRoundTrip(RoundTripRequest.decode(request.encode()), saved)
        after.onNewIntent("$redirectUri?code=c&state=s")
        assertEquals(Step.Report(request, BrowserOutcome.Redirect("$redirectUri?code=c&state=s")), after.onResume().first())
    }

    @Test
    fun `process death while the browser is open, then the user returns, a close, not a second launch`() {
        val before = BrowserRoundTrip(request)
        before.onResume()
        val after = BrowserRoundTrip(request, before.snapshot())
        assertEquals(listOf(Step.Report(request, BrowserOutcome.Closed), Step.Finish(false)), after.onResume())
    }

    @Test
    fun `the saved state keeps the fallback that was being tried`() {
        val trip = BrowserRoundTrip(request)
        trip.onResume()
        trip.launchFailed()
        assertEquals(BrowserLaunch.Mode.PLAIN, trip.snapshot().request!!.launch.mode)
    }

    @Test
    fun `a redirect with no round trip is delivered and the app is brought back`() {
        val orphan = BrowserRoundTrip(request = null, redirect = "$redirectUri?code=c")
        assertEquals(listOf(Step.Deliver("$redirectUri?code=c"), Step.Finish(returnToApp = true)), orphan.onResume())
        assertEquals(listOf(Step.Finish(returnToApp = false)), BrowserRoundTrip(null).onResume())
    }

    @Test
    fun `a request survives its trip through intent extras, and anything else decodes to nothing`() {
        val authTab = request.copy(
            redirectUri = null,
            kind = RoundTripRequest.Kind.LOGOUT,
            launch = launch.copy(mode = BrowserLaunch.Mode.AUTH_TAB, browserPackage = null, referrer = null, stringExtras = mapOf(CustomTabs.EXTRA_REDIRECT_SCHEME to "x")),
        )
        for (r in listOf(request, authTab)) assertEquals(r, RoundTripRequest.decode(r.encode()))
        assertNull(RoundTripRequest.decode(emptyMap()))
        assertNull(RoundTripRequest.decode(request.encode() + ("mode" to "HOLOGRAM")))
        assertNull(RoundTripRequest.decode(request.encode() - "url"))
    }

    @Test
    fun `a waiting login gets the outcome reported for its round trip`() = runBlocking<Unit> {
        val trips = RoundTrips()
        val started = CompletableDeferred<Unit>()
        val outcome = async(Dispatchers.Default) { trips.await(request.id) { started.complete(Unit) } }
        started.await()
        assertTrue(trips.finish(request, BrowserOutcome.Redirect("$redirectUri?code=c"), RedirectRouter()))
        assertEquals(BrowserOutcome.Redirect("$redirectUri?code=c"), withTimeout(5_000) { outcome.await() })
        assertFalse(trips.finish(request, BrowserOutcome.Closed, RedirectRouter()), "reported once")
    }

    @Test
    fun `a start that throws leaves nothing waiting`() = runBlocking<Unit> {
        val trips = RoundTrips()
        assertThrows<IllegalStateException> { runBlocking { trips.await("x") { error("no activity") } } }
        assertFalse(trips.finish(request.copy(id = "x", kind = RoundTripRequest.Kind.LOGOUT), BrowserOutcome.Closed, RedirectRouter()))
    }

    @Test
    fun `with nobody waiting (process restarted), the redirect completes the login through the router`() = runBlocking<Unit> {
        val router = RedirectRouter()
        val storage = MapStorage()
        val url = Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), router).use { it.beginLogin() }
        val callback = Testkit.authorize(url)
        Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), router).use { restarted ->
            val trip = request.copy(redirectUri = "myapp://callback")
            assertFalse(RoundTrips().finish(trip, BrowserOutcome.Redirect(callback), router))
            assertEquals(SessionState.SIGNED_IN, withTimeout(10_000) { restarted.state.first { it == SessionState.SIGNED_IN } })
        }
    }

    @Test
    fun `with nobody waiting, an empty return cancels the pending login through the router`() = runBlocking<Unit> {
        val router = RedirectRouter()
        val storage = MapStorage()
        Keyfob(testConfig(), storage, HttpUrlConnectionTransport(), router).use { keyfob ->
            keyfob.beginLogin()
            assertTrue(storage.entries.containsKey("pending"))
            assertFalse(RoundTrips().finish(request.copy(redirectUri = "myapp://callback"), BrowserOutcome.Closed, router))
            assertEquals(SessionState.SIGNED_OUT, withTimeout(10_000) { keyfob.state.first { it == SessionState.SIGNED_OUT } })
            assertFalse(storage.entries.containsKey("pending"), "the pending login is gone from storage too")
        }
        assertFalse(router.cancelPending("otherapp://callback"), "no client for that redirect URI")
    }
}
