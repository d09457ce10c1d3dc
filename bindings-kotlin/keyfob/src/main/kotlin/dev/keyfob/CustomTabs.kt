package dev.keyfob

/**
 * How the authorization page is opened, as plain data: the Android layer turns it into an
 * `Intent` (`BrowserLauncher`). Kept apart from Android so the choice and the extras are tested on
 * the JVM.
 *
 * @property url the authorization URL.
 * @property browserPackage the browser to open it in, or `null` for the system's default browser.
 * @property customTab whether to open it as a Custom Tab (then the intent carries
 *   [CustomTabs.EXTRA_SESSION] with a `null` binder, which is what makes it one).
 * @property intExtras / [booleanExtras] further intent extras.
 * @property referrer the app's `android-app://` referrer, for `Intent.EXTRA_REFERRER`.
 */
public data class BrowserLaunch(
    val url: String,
    val browserPackage: String?,
    val customTab: Boolean,
    val intExtras: Map<String, Int>,
    val booleanExtras: Map<String, Boolean>,
    val referrer: String?,
) {
    /** The last resort: a plain `ACTION_VIEW` for the default browser, no Custom Tab. */
    public fun plainView(): BrowserLaunch = BrowserLaunch(url, null, false, emptyMap(), emptyMap(), referrer)
}

/**
 * The Custom Tabs intent protocol, spoken with intent extras so that the library needs no
 * `androidx.browser` (which lives outside Maven Central) and no dependency at all.
 */
public object CustomTabs {
    /** The service a browser that supports Custom Tabs exports. */
    public const val ACTION_CUSTOM_TABS_SERVICE: String = "android.support.customtabs.action.CustomTabsService"

    /** Present (with a `null` binder when there is no session) on every Custom Tabs intent. */
    public const val EXTRA_SESSION: String = "android.support.customtabs.extra.SESSION"

    /** Toolbar colour, an ARGB int. */
    public const val EXTRA_TOOLBAR_COLOR: String = "android.support.customtabs.extra.TOOLBAR_COLOR"

    /** Whether to show the page title: [SHOW_PAGE_TITLE]. */
    public const val EXTRA_TITLE_VISIBILITY_STATE: String = "android.support.customtabs.extra.TITLE_VISIBILITY"

    /** The share action: [SHARE_STATE_OFF] (a login page is nothing to share). */
    public const val EXTRA_SHARE_STATE: String = "androidx.browser.customtabs.extra.SHARE_STATE"

    /** Whether the URL bar may hide on scroll: off, so the user always sees which site asks for the password. */
    public const val EXTRA_ENABLE_URLBAR_HIDING: String = "android.support.customtabs.extra.ENABLE_URLBAR_HIDING"

    /** Value of [EXTRA_TITLE_VISIBILITY_STATE]. */
    public const val SHOW_PAGE_TITLE: Int = 1

    /** Value of [EXTRA_SHARE_STATE]. */
    public const val SHARE_STATE_OFF: Int = 2

    /**
     * The browser to use: the default browser when it supports Custom Tabs, else the first
     * browser that does, else `null` (plain view in the default browser).
     *
     * @param defaultBrowser the package that handles `https` links by default, if any.
     * @param customTabsBrowsers the packages exporting [ACTION_CUSTOM_TABS_SERVICE], in the order
     *   the package manager lists them.
     */
    public fun chooseBrowser(defaultBrowser: String?, customTabsBrowsers: List<String>): String? =
        if (defaultBrowser != null && defaultBrowser in customTabsBrowsers) defaultBrowser else customTabsBrowsers.firstOrNull()

    /** How to open [url]: a Custom Tab in the chosen browser, or a plain view when none supports them. */
    public fun launch(
        url: String,
        defaultBrowser: String?,
        customTabsBrowsers: List<String>,
        appPackage: String?,
        toolbarColor: Int? = null,
    ): BrowserLaunch {
        val referrer = appPackage?.let { "android-app://$it" }
        val browser = chooseBrowser(defaultBrowser, customTabsBrowsers)
            ?: return BrowserLaunch(url, null, false, emptyMap(), emptyMap(), referrer)
        val ints = buildMap {
            put(EXTRA_TITLE_VISIBILITY_STATE, SHOW_PAGE_TITLE)
            put(EXTRA_SHARE_STATE, SHARE_STATE_OFF)
            if (toolbarColor != null) put(EXTRA_TOOLBAR_COLOR, toolbarColor)
        }
        return BrowserLaunch(url, browser, true, ints, mapOf(EXTRA_ENABLE_URLBAR_HIDING to false), referrer)
    }
}
