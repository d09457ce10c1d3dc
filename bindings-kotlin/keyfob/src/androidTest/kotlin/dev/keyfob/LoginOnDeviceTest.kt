package dev.keyfob

import android.content.Intent
import android.net.Uri
import androidx.test.core.app.ActivityScenario
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test
import org.junit.runner.RunWith

/**
 * The Android-only glue on a device: the library's merged manifest (the redirect activity for
 * `${applicationId}`, the authorization activity), the browser intents, the round trip that
 * returns to the calling activity, and the redirect activity's hand-off — against the testkit.
 */
@RunWith(AndroidJUnit4::class)
class LoginOnDeviceTest {
    private val context = InstrumentationRegistry.getInstrumentation().targetContext
    private val keyfob = Keyfob(HostTestkit.config())

    @After
    fun close() {
        keyfob.close()
        StandInBrowserActivity.behaviour = StandInBrowserActivity.Behaviour.REDIRECT
    }

    @Test
    fun loginReturnsClaimsAndTheUserIsBackOnTheCallingActivity() {
        ActivityScenario.launch(HostActivity::class.java).use { scenario ->
            var host: HostActivity? = null
            scenario.onActivity { host = it }
            val claims = runBlocking { withTimeout(60_000) { keyfob.login(host!!, browser = StandInBrowserActivity.OPTIONS) } }
            assertEquals("user-123", claims.subject)
            assertEquals(SessionState.SIGNED_IN, keyfob.state.value)
            InstrumentationRegistry.getInstrumentation().waitForIdleSync()
            assertEquals(androidx.lifecycle.Lifecycle.State.RESUMED, scenario.state)
            assertEquals(200, HostTestkit.status(HostTestkit.CRM, runBlocking { keyfob.accessToken() }))
        }
    }

    @Test
    fun comingBackWithoutSigningInIsCancelled() {
        StandInBrowserActivity.behaviour = StandInBrowserActivity.Behaviour.CLOSE
        ActivityScenario.launch(HostActivity::class.java).use { scenario ->
            var host: HostActivity? = null
            scenario.onActivity { host = it }
            try {
                runBlocking { withTimeout(60_000) { keyfob.login(host!!, browser = StandInBrowserActivity.OPTIONS) } }
                fail("expected Cancelled")
            } catch (e: KeyfobException.Cancelled) {
                assertEquals(SessionState.SIGNED_OUT, keyfob.state.value)
            }
        }
    }

    @Test
    fun noAllowedBrowserFailsBeforeAnythingIsStored() {
        ActivityScenario.launch(HostActivity::class.java).use { scenario ->
            var host: HostActivity? = null
            scenario.onActivity { host = it }
            val nobody = BrowserOptions(allowList = listOf(AllowedBrowser("no.such.browser", emptySet())))
            try {
                runBlocking { keyfob.login(host!!, browser = nobody) }
                fail("expected NoBrowser")
            } catch (e: KeyfobException.NoBrowser) {
                assertEquals(SessionState.SIGNED_OUT, runBlocking { keyfob.state.first { it != SessionState.RESTORING } })
            }
        }
    }

    @Test
    fun aDeepLinkReachesTheRedirectActivityAndCompletesTheLogin() {
        // The app opened the browser itself: the deep link alone must complete the login.
        val url = runBlocking { keyfob.beginLogin() }
        val deepLink = HostTestkit.follow(url)
        assertTrue(deepLink, deepLink.startsWith(HostTestkit.REDIRECT_URI))
        context.startActivity(
            Intent(Intent.ACTION_VIEW, Uri.parse(deepLink))
                .addCategory(Intent.CATEGORY_BROWSABLE)
                .setPackage(context.packageName)
                .addFlags(Intent.FLAG_ACTIVITY_NEW_TASK),
        )
        runBlocking { withTimeout(30_000) { keyfob.state.first { it == SessionState.SIGNED_IN } } }
    }
}
