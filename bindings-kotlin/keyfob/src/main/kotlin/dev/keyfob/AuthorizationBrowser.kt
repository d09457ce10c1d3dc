package dev.keyfob

/**
 * The browser round trip of a login or an end-session request: open a page, and tell what came
 * back. On Android, `CustomTabsBrowser` (an Auth Tab or Custom Tab, by `keyfob.login(activity)`);
 * tests and other platforms pass their own.
 */
public interface AuthorizationBrowser {
    /**
     * Whether a browser can open the page at all. [Keyfob.login] asks before it stores anything,
     * so that a device without a usable browser fails with [KeyfobException.NoBrowser] and no
     * pending login.
     */
    public fun isAvailable(): Boolean

    /**
     * Opens [url] and suspends until the browser comes back to the app.
     *
     * @param redirectUri the URI the provider redirects to when it is done (the login's redirect
     *   URI, or the post-logout redirect URI); `null` when nothing will come back.
     */
    public suspend fun open(url: String, redirectUri: String?): BrowserOutcome
}

/** What came back from an [AuthorizationBrowser]. */
public sealed class BrowserOutcome {
    /** The provider redirected to [url] (the deep link with `code` and `state`, or an `error`). */
    public data class Redirect(val url: String) : BrowserOutcome()

    /** The user came back without a redirect: closed the tab, pressed back. */
    public object Closed : BrowserOutcome() {
        override fun toString(): String = "Closed"
    }

    /** The browser refused the round trip (an Auth Tab that could not verify an https redirect). */
    public data class Failed(val reason: String) : BrowserOutcome()

    /** No browser could be started. */
    public object NoBrowser : BrowserOutcome() {
        override fun toString(): String = "NoBrowser"
    }
}
