package dev.keyfob.sample

import android.content.Intent
import androidx.test.ext.junit.runners.AndroidJUnit4
import androidx.test.platform.app.InstrumentationRegistry
import androidx.test.uiautomator.By
import androidx.test.uiautomator.UiDevice
import androidx.test.uiautomator.Until
import org.junit.Assert.assertNotNull
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith

/**
 * The sample on an emulator with the device's real browser (Chrome: an Auth Tab or a Custom Tab):
 * sign in against the testkit on the host, call server A, sign out. Run by
 * .github/workflows/android.yml, which starts the testkit and skips Chrome's first-run screens.
 */
@RunWith(AndroidJUnit4::class)
class SampleOnDeviceTest {
    private val device = UiDevice.getInstance(InstrumentationRegistry.getInstrumentation())
    private val timeout = 60_000L

    @Before
    fun launch() {
        val context = InstrumentationRegistry.getInstrumentation().targetContext
        val intent = context.packageManager.getLaunchIntentForPackage(context.packageName)!!
            .addFlags(Intent.FLAG_ACTIVITY_CLEAR_TASK or Intent.FLAG_ACTIVITY_NEW_TASK)
        context.startActivity(intent)
        assertNotNull("the sample did not start", device.wait(Until.findObject(By.textStartsWith("Session:")), timeout))
    }

    private fun waitFor(text: String) =
        assertNotNull("\"$text\" never appeared", device.wait(Until.findObject(By.textContains(text)), timeout))

    @Test
    fun signsInCallsServerAAndSignsOutWithTheRealBrowser() {
        // A session left by an earlier run: sign out first.
        if (device.hasObject(By.text("Session: signed in"))) {
            device.findObject(By.text("Sign out")).click()
            waitFor("Session: signed out")
        }
        device.wait(Until.findObject(By.text("Sign in").enabled(true)), timeout)!!.click()
        // The testkit signs the test user in at once; the browser closes on the redirect.
        waitFor("Session: signed in")
        waitFor("Ada")
        device.findObject(By.text("Call server A (customers)")).click()
        waitFor("HTTP 200")
        device.findObject(By.text("Sign out")).click()
        waitFor("Session: signed out")
    }
}
