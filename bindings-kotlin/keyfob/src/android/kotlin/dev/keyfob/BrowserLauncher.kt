package dev.keyfob

import android.app.Activity
import android.content.ActivityNotFoundException
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.net.Uri
import android.os.Bundle

/**
 * Starts a login and opens the provider's page in a Custom Tab — in the default browser when it
 * supports them, else in one that does, else as a plain page in the default browser. Call it from
 * the main thread (e.g. `lifecycleScope.launch { keyfob.login(this@MainActivity) }`).
 *
 * The redirect comes back to `KeyfobRedirectActivity`, which completes the login: watch
 * [Keyfob.state] for [SessionState.SIGNED_IN] and [Keyfob.loginError] for failures. If the user
 * closes the tab, the login simply stays pending until the next one replaces it.
 *
 * @param toolbarColor the Custom Tab's toolbar colour (ARGB), if any.
 */
public suspend fun Keyfob.login(context: Context, options: LoginOptions? = null, toolbarColor: Int? = null) {
    val url = beginLogin(options)
    BrowserLauncher.open(context, url, toolbarColor)
}

/** Opens URLs the way a sign-in should: a Custom Tab (by its intent extras) or the default browser. */
public object BrowserLauncher {
    /** Opens [url]; throws [ActivityNotFoundException] when the device has no browser at all. */
    @JvmStatic
    @JvmOverloads
    public fun open(context: Context, url: String, toolbarColor: Int? = null) {
        val pm = context.packageManager
        val webIntent = Intent(Intent.ACTION_VIEW, Uri.parse("https://example.com"))
            .addCategory(Intent.CATEGORY_BROWSABLE)
        val defaultBrowser = pm.resolveActivity(webIntent, PackageManager.MATCH_DEFAULT_ONLY)
            ?.activityInfo?.packageName
        @Suppress("DEPRECATION") // the flags overload is API 33+
        val customTabsBrowsers = pm.queryIntentServices(Intent(CustomTabs.ACTION_CUSTOM_TABS_SERVICE), 0)
            .mapNotNull { it.serviceInfo?.packageName }
            .distinct()
        val launch = CustomTabs.launch(url, defaultBrowser, customTabsBrowsers, context.packageName, toolbarColor)
        try {
            context.startActivity(launch.toIntent(context))
        } catch (e: ActivityNotFoundException) {
            if (!launch.customTab) throw e
            context.startActivity(launch.plainView().toIntent(context))
        }
    }

    private fun BrowserLaunch.toIntent(context: Context): Intent {
        val intent = Intent(Intent.ACTION_VIEW, Uri.parse(url)).addCategory(Intent.CATEGORY_BROWSABLE)
        browserPackage?.let { intent.setPackage(it) }
        if (customTab) {
            // The session extra, even without a session, is what makes a browser open a Custom Tab.
            intent.putExtras(Bundle().apply { putBinder(CustomTabs.EXTRA_SESSION, null) })
        }
        for ((name, value) in intExtras) intent.putExtra(name, value)
        for ((name, value) in booleanExtras) intent.putExtra(name, value)
        referrer?.let { intent.putExtra(Intent.EXTRA_REFERRER, Uri.parse(it)) }
        if (context !is Activity) intent.addFlags(Intent.FLAG_ACTIVITY_NEW_TASK)
        return intent
    }
}
