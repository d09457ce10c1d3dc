package dev.keyfob

/**
 * How the authorization page is opened, as plain data: the Android layer turns it into an
 * `Intent` (`BrowserIntents`). Kept apart from Android so the choice, the extras and the
 * fallbacks are tested on the JVM.
 *
 * @property url the page to open.
 * @property browserPackage the browser to open it in, or `null` for the system's default browser.
 * @property mode an Auth Tab, a Custom Tab or a plain page.
 * @property intExtras / [booleanExtras] / [stringExtras] further intent extras.
 * @property referrer the app's `android-app://` referrer, for `Intent.EXTRA_REFERRER`.
 * @property anyBrowserFallback whether, when [browserPackage] cannot be started, the page may be
 *   opened in whatever browser the system picks (not when the app restricted browsers).
 */
public data class BrowserLaunch(
    val url: String,
    val browserPackage: String?,
    val mode: Mode,
    val intExtras: Map<String, Int>,
    val booleanExtras: Map<String, Boolean>,
    val stringExtras: Map<String, String>,
    val referrer: String?,
    val anyBrowserFallback: Boolean,
) {
    /** The kinds of browser window. */
    public enum class Mode {
        /** Chrome's Auth Tab: the result comes back as an activity result, not through a deep link. */
        AUTH_TAB,

        /** A Custom Tab over the app; the redirect comes back through `KeyfobRedirectActivity`. */
        CUSTOM_TAB,

        /** The browser itself. */
        PLAIN,
    }

    /** Whether the intent must carry [CustomTabs.EXTRA_SESSION] (with a `null` binder). */
    val customTabSession: Boolean get() = mode != Mode.PLAIN

    /** Whether the browser answers with an activity result (start it for a result). */
    val forResult: Boolean get() = mode == Mode.AUTH_TAB

    /**
     * What to try when this launch cannot be started (`ActivityNotFoundException`): an Auth Tab
     * becomes a Custom Tab in the same browser, a Custom Tab the same browser's plain page, that
     * the default browser's page (when allowed); then nothing (`null`).
     */
    public fun fallback(): BrowserLaunch? = when {
        mode == Mode.AUTH_TAB -> copy(
            mode = Mode.CUSTOM_TAB,
            booleanExtras = booleanExtras - CustomTabs.EXTRA_LAUNCH_AUTH_TAB,
            stringExtras = stringExtras - CustomTabs.AUTH_TAB_EXTRAS,
        )
        mode == Mode.CUSTOM_TAB -> copy(mode = Mode.PLAIN, intExtras = emptyMap(), booleanExtras = emptyMap(), stringExtras = emptyMap())
        browserPackage != null && anyBrowserFallback -> copy(browserPackage = null)
        else -> null
    }

    /** The last resort of the old API: a plain `ACTION_VIEW` for the default browser. */
    public fun plainView(): BrowserLaunch =
        copy(browserPackage = null, mode = Mode.PLAIN, intExtras = emptyMap(), booleanExtras = emptyMap(), stringExtras = emptyMap())
}

/**
 * The Custom Tabs and Auth Tab intent protocols, spoken with intent extras so that the library
 * needs no `androidx.browser` (which lives outside Maven Central) and no dependency at all. The
 * names are the protocol's (androidx.browser's `CustomTabsIntent`, `AuthTabIntent`).
 */
public object CustomTabs {
    /** The service a browser that supports Custom Tabs exports. */
    public const val ACTION_CUSTOM_TABS_SERVICE: String = "android.support.customtabs.action.CustomTabsService"

    /** The category of that service's intent filter when the browser also has Auth Tabs. */
    public const val CATEGORY_AUTH_TAB: String = "androidx.browser.auth.category.AuthTab"

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

    /** Boolean extra that makes the intent an Auth Tab for a browser that has them. */
    public const val EXTRA_LAUNCH_AUTH_TAB: String = "androidx.browser.auth.extra.LAUNCH_AUTH_TAB"

    /** The custom scheme an Auth Tab watches for: the redirect ends it. */
    public const val EXTRA_REDIRECT_SCHEME: String = "androidx.browser.auth.extra.REDIRECT_SCHEME"

    /** The host of an https redirect an Auth Tab watches for (verified by Digital Asset Links). */
    public const val EXTRA_HTTPS_REDIRECT_HOST: String = "androidx.browser.auth.extra.HTTPS_REDIRECT_HOST"

    /** The path of that https redirect. */
    public const val EXTRA_HTTPS_REDIRECT_PATH: String = "androidx.browser.auth.extra.HTTPS_REDIRECT_PATH"

    /** Value of [EXTRA_TITLE_VISIBILITY_STATE]. */
    public const val SHOW_PAGE_TITLE: Int = 1

    /** Value of [EXTRA_SHARE_STATE]. */
    public const val SHARE_STATE_OFF: Int = 2

    /** Auth Tab result: the redirect came, its URL is the result's data. */
    public const val AUTH_TAB_RESULT_OK: Int = -1

    /** Auth Tab result: closed without the redirect. */
    public const val AUTH_TAB_RESULT_CANCELED: Int = 0

    /** Auth Tab result: the https redirect's ownership could not be verified. */
    public const val AUTH_TAB_RESULT_VERIFICATION_FAILED: Int = 2

    /** Auth Tab result: verifying the https redirect's ownership took too long. */
    public const val AUTH_TAB_RESULT_VERIFICATION_TIMED_OUT: Int = 3

    internal val AUTH_TAB_EXTRAS = setOf(EXTRA_REDIRECT_SCHEME, EXTRA_HTTPS_REDIRECT_HOST, EXTRA_HTTPS_REDIRECT_PATH)

    /**
     * The extras that tell an Auth Tab where the flow ends: the scheme of a custom-scheme
     * redirect URI, or the host and path of an `https` one; `null` when an Auth Tab cannot watch
     * for [redirectUri] (plain `http`, no host, not a URI), and a Custom Tab is used instead.
     */
    public fun authTabRedirect(redirectUri: String): Map<String, String>? {
        val uri = RedirectUris.parse(redirectUri) ?: return null
        val scheme = uri.scheme.lowercase()
        return when (scheme) {
            "http" -> null
            "https" -> {
                val host = uri.host ?: return null
                mapOf(EXTRA_HTTPS_REDIRECT_HOST to host.lowercase(), EXTRA_HTTPS_REDIRECT_PATH to uri.rawPath.orEmpty().ifEmpty { "/" })
            }
            else -> mapOf(EXTRA_REDIRECT_SCHEME to scheme)
        }
    }

    /**
     * How an Auth Tab's activity result ends the round trip: the redirect ([BrowserOutcome.Redirect]),
     * a close ([BrowserOutcome.Closed]), or a failed ownership check ([BrowserOutcome.Failed]).
     */
    public fun authTabOutcome(resultCode: Int, data: String?): BrowserOutcome = when (resultCode) {
        AUTH_TAB_RESULT_OK -> if (data != null) BrowserOutcome.Redirect(data) else BrowserOutcome.Closed
        AUTH_TAB_RESULT_VERIFICATION_FAILED ->
            BrowserOutcome.Failed("the app's https redirect could not be verified (Digital Asset Links)")
        AUTH_TAB_RESULT_VERIFICATION_TIMED_OUT ->
            BrowserOutcome.Failed("verifying the app's https redirect took too long")
        else -> BrowserOutcome.Closed
    }

    /**
     * How to open [url] in [browser]: an Auth Tab when the browser has them, [options] allow it
     * and [redirectUri] is one an Auth Tab can watch; else a Custom Tab when it has those; else
     * its plain page.
     */
    public fun launch(
        url: String,
        browser: InstalledBrowser,
        redirectUri: String?,
        appPackage: String?,
        options: BrowserOptions,
    ): BrowserLaunch {
        val referrer = appPackage?.let { "android-app://$it" }
        val anyBrowser = options.allowList == null
        if (!browser.customTabs) {
            return BrowserLaunch(url, browser.packageName, BrowserLaunch.Mode.PLAIN, emptyMap(), emptyMap(), emptyMap(), referrer, anyBrowser)
        }
        val ints = buildMap {
            put(EXTRA_TITLE_VISIBILITY_STATE, SHOW_PAGE_TITLE)
            put(EXTRA_SHARE_STATE, SHARE_STATE_OFF)
            options.toolbarColor?.let { put(EXTRA_TOOLBAR_COLOR, it) }
        }
        val authTab = redirectUri?.takeIf { browser.authTab && options.useAuthTab }?.let(::authTabRedirect)
        val booleans = buildMap {
            put(EXTRA_ENABLE_URLBAR_HIDING, false)
            if (authTab != null) put(EXTRA_LAUNCH_AUTH_TAB, true)
        }
        val mode = if (authTab != null) BrowserLaunch.Mode.AUTH_TAB else BrowserLaunch.Mode.CUSTOM_TAB
        return BrowserLaunch(url, browser.packageName, mode, ints, booleans, authTab.orEmpty(), referrer, anyBrowser)
    }
}
