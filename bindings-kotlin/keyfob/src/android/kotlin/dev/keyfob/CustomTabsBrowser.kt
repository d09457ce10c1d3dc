package dev.keyfob

import android.app.Activity

/**
 * The browser round trip on Android: an Auth Tab where the browser has them, else a Custom Tab,
 * else the browser itself, opened by `KeyfobAuthorizationActivity` over [activity] (which is where
 * the user lands afterwards). The choice is [BrowserChoice]'s, under [options].
 */
public class CustomTabsBrowser @JvmOverloads constructor(
    private val activity: Activity,
    private val options: BrowserOptions = BrowserOptions(),
    private val kind: RoundTripRequest.Kind = RoundTripRequest.Kind.LOGIN,
) : AuthorizationBrowser {
    override fun isAvailable(): Boolean = choose() != null

    override suspend fun open(url: String, redirectUri: String?): BrowserOutcome {
        val browser = choose() ?: return BrowserOutcome.NoBrowser
        val launch = CustomTabs.launch(url, browser, redirectUri, activity.packageName, options)
        val request = RoundTripRequest(RoundTrips.shared.newId(), kind, redirectUri, launch)
        return RoundTrips.shared.await(request.id) {
            // On the main thread, without needing kotlinx-coroutines-android's Dispatchers.Main.
            activity.runOnUiThread { activity.startActivity(KeyfobAuthorizationActivity.intent(activity, request)) }
        }
    }

    /** Also for the end-session page of [Keyfob.logout]. */
    internal fun forLogout(): CustomTabsBrowser = CustomTabsBrowser(activity, options, RoundTripRequest.Kind.LOGOUT)

    private fun choose(): InstalledBrowser? = BrowserChoice.choose(InstalledBrowsers.query(activity), options)
}
