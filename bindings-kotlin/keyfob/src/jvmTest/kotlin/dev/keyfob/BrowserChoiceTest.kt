package dev.keyfob

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.Base64

/** Which browser opens the sign-in page, and the intent extras that `BrowserIntents` turns into an Intent. */
class BrowserChoiceTest {
    private val url = "https://auth.company.com/authorize?client_id=x"
    private val chromeHash = KnownBrowsers.CHROME.signatureHashes.single()
    private val firefoxHash = KnownBrowsers.FIREFOX.signatureHashes.single()

    private fun browser(
        pkg: String,
        hash: String = "self-signed",
        isDefault: Boolean = false,
        customTabs: Boolean = true,
        authTab: Boolean = false,
    ) = InstalledBrowser(pkg, setOf(hash), isDefault, customTabs, authTab)

    private val chrome = browser("com.android.chrome", chromeHash)
    private val firefox = browser("org.mozilla.firefox", firefoxHash)

    @Test
    fun `the default browser is used when it supports Custom Tabs, whatever it is`() {
        val brave = browser("com.brave.browser", isDefault = true)
        assertEquals(brave, BrowserChoice.choose(listOf(chrome, brave, firefox)))
    }

    @Test
    fun `without Custom Tabs in the default browser, a known browser that has them`() {
        val plain = browser("com.plain.browser", isDefault = true, customTabs = false)
        assertEquals(firefox, BrowserChoice.choose(listOf(plain, firefox)))
        assertEquals(chrome, BrowserChoice.choose(listOf(firefox, plain, chrome)), "Chrome first among the known ones")
    }

    @Test
    fun `an unknown app exporting the Custom Tabs service is never picked on its own say-so`() {
        val plain = browser("com.plain.browser", isDefault = true, customTabs = false)
        val intruder = browser("com.evil.tabs")
        assertEquals(plain, BrowserChoice.choose(listOf(intruder, plain)), "the default browser's plain page instead")
        assertNull(BrowserChoice.choose(listOf(intruder)))
    }

    @Test
    fun `a known package name with another signature is not the known browser`() {
        val fakeChrome = browser("com.android.chrome", "someone-else")
        assertNull(BrowserChoice.choose(listOf(fakeChrome)))
        val plain = browser("com.plain.browser", isDefault = true, customTabs = false)
        assertEquals(plain, BrowserChoice.choose(listOf(fakeChrome, plain)))
    }

    @Test
    fun `an allow-list restricts the choice, in its order, checked by signature`() {
        val brave = browser("com.brave.browser", "brave-key", isDefault = true)
        val onlyFirefoxThenChrome = BrowserOptions(allowList = listOf(KnownBrowsers.FIREFOX, KnownBrowsers.CHROME))
        assertEquals(firefox, BrowserChoice.choose(listOf(brave, chrome, firefox), onlyFirefoxThenChrome))

        // The default browser first when it is on the list.
        val withBrave = BrowserOptions(allowList = listOf(KnownBrowsers.CHROME, AllowedBrowser("com.brave.browser", setOf("brave-key"))))
        assertEquals(brave, BrowserChoice.choose(listOf(chrome, brave), withBrave))

        // A package-only entry accepts any signature; a signed entry does not.
        assertEquals(brave, BrowserChoice.choose(listOf(brave), BrowserOptions(allowList = listOf(AllowedBrowser("com.brave.browser", emptySet())))))
        assertNull(BrowserChoice.choose(listOf(brave), BrowserOptions(allowList = listOf(AllowedBrowser("com.brave.browser", setOf("other-key"))))))
        assertNull(BrowserChoice.choose(emptyList(), onlyFirefoxThenChrome))
    }

    @Test
    fun `no browser at all is no choice`() {
        assertNull(BrowserChoice.choose(emptyList()))
    }

    @Test
    fun `a Custom Tab carries the protocol's extras`() {
        val launch = CustomTabs.launch(url, chrome, "com.example.app:/callback", "com.example.app", BrowserOptions(useAuthTab = true, toolbarColor = 0xFF112233.toInt()))
        assertEquals(BrowserLaunch.Mode.CUSTOM_TAB, launch.mode, "Chrome without the Auth Tab category")
        assertTrue(launch.customTabSession)
        assertFalse(launch.forResult)
        assertEquals("com.android.chrome", launch.browserPackage)
        assertEquals(
            mapOf(
                "android.support.customtabs.extra.TITLE_VISIBILITY" to 1,
                "androidx.browser.customtabs.extra.SHARE_STATE" to 2,
                "android.support.customtabs.extra.TOOLBAR_COLOR" to 0xFF112233.toInt(),
            ),
            launch.intExtras,
        )
        assertEquals(mapOf("android.support.customtabs.extra.ENABLE_URLBAR_HIDING" to false), launch.booleanExtras)
        assertTrue(launch.stringExtras.isEmpty())
        assertEquals("android-app://com.example.app", launch.referrer)
        assertEquals("android.support.customtabs.extra.SESSION", CustomTabs.EXTRA_SESSION)
    }

    @Test
    fun `an Auth Tab for a custom-scheme redirect names the scheme and answers with a result`() {
        val authTabChrome = chrome.copy(authTab = true)
        val launch = CustomTabs.launch(url, authTabChrome, "com.example.app:/callback", "com.example.app", BrowserOptions())
        assertEquals(BrowserLaunch.Mode.AUTH_TAB, launch.mode)
        assertTrue(launch.forResult)
        assertTrue(launch.customTabSession, "the session extra makes browsers without Auth Tabs open a Custom Tab")
        assertEquals(true, launch.booleanExtras["androidx.browser.auth.extra.LAUNCH_AUTH_TAB"])
        assertEquals(mapOf("androidx.browser.auth.extra.REDIRECT_SCHEME" to "com.example.app"), launch.stringExtras)
    }

    @Test
    fun `an Auth Tab for an https redirect names its host and path`() {
        assertEquals(
            mapOf(
                "androidx.browser.auth.extra.HTTPS_REDIRECT_HOST" to "app.example.com",
                "androidx.browser.auth.extra.HTTPS_REDIRECT_PATH" to "/oauth/callback",
            ),
            CustomTabs.authTabRedirect("https://App.Example.com/oauth/callback"),
        )
        assertEquals(mapOf("androidx.browser.auth.extra.REDIRECT_SCHEME" to "myapp"), CustomTabs.authTabRedirect("MyApp://callback"))
        assertNull(CustomTabs.authTabRedirect("http://127.0.0.1/callback"), "plain http: a Custom Tab")
        assertNull(CustomTabs.authTabRedirect("not a uri"))
    }

    @Test
    fun `no Auth Tab when the app turns it off, for a plain-http redirect, or without a redirect`() {
        val authTabChrome = chrome.copy(authTab = true)
        assertEquals(BrowserLaunch.Mode.CUSTOM_TAB, CustomTabs.launch(url, authTabChrome, "com.example.app:/cb", null, BrowserOptions(useAuthTab = false)).mode)
        assertEquals(BrowserLaunch.Mode.CUSTOM_TAB, CustomTabs.launch(url, authTabChrome, "http://10.0.2.2/cb", null, BrowserOptions()).mode)
        assertEquals(BrowserLaunch.Mode.CUSTOM_TAB, CustomTabs.launch(url, authTabChrome, null, null, BrowserOptions()).mode)
    }

    @Test
    fun `a browser without Custom Tabs gets its plain page`() {
        val plain = browser("com.plain.browser", isDefault = true, customTabs = false)
        val launch = CustomTabs.launch(url, plain, "com.example.app:/cb", "com.example.app", BrowserOptions())
        assertEquals(BrowserLaunch.Mode.PLAIN, launch.mode)
        assertFalse(launch.customTabSession)
        assertEquals("com.plain.browser", launch.browserPackage)
        assertTrue(launch.intExtras.isEmpty() && launch.booleanExtras.isEmpty() && launch.stringExtras.isEmpty())
    }

    @Test
    fun `a launch that cannot start falls back step by step`() {
        val launch = CustomTabs.launch(url, chrome.copy(authTab = true), "com.example.app:/cb", "com.example.app", BrowserOptions())
        val customTab = launch.fallback()!!
        assertEquals(BrowserLaunch.Mode.CUSTOM_TAB, customTab.mode)
        assertEquals("com.android.chrome", customTab.browserPackage)
        assertFalse("androidx.browser.auth.extra.LAUNCH_AUTH_TAB" in customTab.booleanExtras)
        assertTrue(customTab.stringExtras.isEmpty())
        val page = customTab.fallback()!!
        assertEquals(BrowserLaunch.Mode.PLAIN, page.mode)
        assertEquals("com.android.chrome", page.browserPackage)
        val anyBrowser = page.fallback()!!
        assertNull(anyBrowser.browserPackage, "the system's pick, since the app did not restrict browsers")
        assertNull(anyBrowser.fallback())
    }

    @Test
    fun `with an allow-list the fallbacks never leave the allowed browser`() {
        val launch = CustomTabs.launch(url, chrome, null, null, BrowserOptions(allowList = listOf(KnownBrowsers.CHROME)))
        val page = launch.fallback()!!
        assertEquals("com.android.chrome", page.browserPackage)
        assertNull(page.fallback())
    }

    @Test
    fun `signature hashes are SHA-512 in URL-safe Base64, as the known browsers list them`() {
        for (size in 0..70) {
            val bytes = ByteArray(size) { (it * 37 + 11).toByte() }
            assertEquals(Base64.getUrlEncoder().encodeToString(bytes), BrowserChoice.base64Url(bytes), "size $size")
        }
        val cert = "a certificate".toByteArray()
        val expected = Base64.getUrlEncoder().encodeToString(java.security.MessageDigest.getInstance("SHA-512").digest(cert))
        assertEquals(expected, BrowserChoice.signatureHash(cert))
        assertEquals(88, chromeHash.length, "the known hashes have the same shape")
    }

    @Test
    fun `an Auth Tab result becomes the round trip's outcome`() {
        assertEquals(BrowserOutcome.Redirect("com.example.app:/cb?code=1"), CustomTabs.authTabOutcome(-1, "com.example.app:/cb?code=1"))
        assertEquals(BrowserOutcome.Closed, CustomTabs.authTabOutcome(0, null))
        assertEquals(BrowserOutcome.Closed, CustomTabs.authTabOutcome(-1, null))
        assertTrue(CustomTabs.authTabOutcome(2, null) is BrowserOutcome.Failed)
        assertTrue(CustomTabs.authTabOutcome(3, null) is BrowserOutcome.Failed)
        assertEquals(BrowserOutcome.Closed, CustomTabs.authTabOutcome(-2, null), "an unknown code")
    }
}
