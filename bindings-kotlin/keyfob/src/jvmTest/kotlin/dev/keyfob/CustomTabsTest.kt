package dev.keyfob

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The browser choice and the Custom Tabs extras that `BrowserLauncher` turns into an Intent. */
class CustomTabsTest {
    private val url = "https://auth.company.com/authorize?client_id=x"

    @Test
    fun `the default browser is used when it supports Custom Tabs`() {
        assertEquals("com.chrome", CustomTabs.chooseBrowser("com.chrome", listOf("org.firefox", "com.chrome")))
    }

    @Test
    fun `otherwise the first browser that supports them`() {
        assertEquals("org.firefox", CustomTabs.chooseBrowser("com.plain", listOf("org.firefox", "com.chrome")))
        assertEquals("org.firefox", CustomTabs.chooseBrowser(null, listOf("org.firefox")))
    }

    @Test
    fun `without Custom Tabs support it falls back to a plain view in the default browser`() {
        val launch = CustomTabs.launch(url, "com.plain", emptyList(), "com.example.app")
        assertFalse(launch.customTab)
        assertNull(launch.browserPackage)
        assertTrue(launch.intExtras.isEmpty() && launch.booleanExtras.isEmpty())
        assertEquals(url, launch.url)
    }

    @Test
    fun `a Custom Tab carries the protocol's extras`() {
        val launch = CustomTabs.launch(url, "com.chrome", listOf("com.chrome"), "com.example.app", toolbarColor = 0xFF112233.toInt())
        assertTrue(launch.customTab)
        assertEquals("com.chrome", launch.browserPackage)
        // The wire names and values the browser reads (Custom Tabs protocol).
        assertEquals(
            mapOf(
                "android.support.customtabs.extra.TITLE_VISIBILITY" to 1,
                "androidx.browser.customtabs.extra.SHARE_STATE" to 2,
                "android.support.customtabs.extra.TOOLBAR_COLOR" to 0xFF112233.toInt(),
            ),
            launch.intExtras,
        )
        assertEquals(mapOf("android.support.customtabs.extra.ENABLE_URLBAR_HIDING" to false), launch.booleanExtras)
        assertEquals("android-app://com.example.app", launch.referrer)

        // When the chosen browser cannot be started: a plain view, still with the referrer.
        val fallback = launch.plainView()
        assertFalse(fallback.customTab)
        assertNull(fallback.browserPackage)
        assertTrue(fallback.intExtras.isEmpty() && fallback.booleanExtras.isEmpty())
        assertEquals(url, fallback.url)
        assertEquals("android-app://com.example.app", fallback.referrer)
    }

    @Test
    fun `the toolbar colour and the referrer are only sent when known`() {
        val launch = CustomTabs.launch(url, null, listOf("org.firefox"), appPackage = null)
        assertTrue(launch.customTab)
        assertEquals("org.firefox", launch.browserPackage)
        assertFalse("android.support.customtabs.extra.TOOLBAR_COLOR" in launch.intExtras)
        assertEquals(1, launch.intExtras["android.support.customtabs.extra.TITLE_VISIBILITY"])
        assertNull(launch.referrer)
        assertNull(CustomTabs.launch(url, "com.plain", emptyList(), appPackage = null).referrer)
    }
}
