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
        assertEquals("android.support.customtabs.extra.SESSION", CustomTabs.EXTRA_SESSION)
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
        assertEquals("android.support.customtabs.action.CustomTabsService", CustomTabs.ACTION_CUSTOM_TABS_SERVICE)

        val fallback = launch.plainView()
        assertFalse(fallback.customTab)
        assertNull(fallback.browserPackage)
        assertEquals(url, fallback.url)
    }
}
