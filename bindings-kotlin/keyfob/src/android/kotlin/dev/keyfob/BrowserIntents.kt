package dev.keyfob

import android.app.Activity
import android.content.ActivityNotFoundException
import android.content.Context
import android.content.Intent
import android.net.Uri
import android.os.Bundle

/** Turns a [BrowserLaunch] into the `Intent` that starts it. */
internal object BrowserIntents {
    fun intent(context: Context, launch: BrowserLaunch): Intent {
        val intent = Intent(Intent.ACTION_VIEW, Uri.parse(launch.url)).addCategory(Intent.CATEGORY_BROWSABLE)
        launch.browserPackage?.let { intent.setPackage(it) }
        if (launch.customTabSession) {
            // The session extra, even without a session, is what makes a browser open a Custom Tab.
            intent.putExtras(Bundle().apply { putBinder(CustomTabs.EXTRA_SESSION, null) })
        }
        for ((name, value) in launch.intExtras) intent.putExtra(name, value)
        for ((name, value) in launch.booleanExtras) intent.putExtra(name, value)
        for ((name, value) in launch.stringExtras) intent.putExtra(name, value)
        launch.referrer?.let { intent.putExtra(Intent.EXTRA_REFERRER, Uri.parse(it)) }
        if (context !is Activity) intent.addFlags(Intent.FLAG_ACTIVITY_NEW_TASK)
        return intent
    }
}

/**
 * Opens a URL the way a sign-in should, for an app that runs the browser itself after
 * [Keyfob.beginLogin] (`keyfob.login(activity)` does all of it): a Custom Tab in the browser
 * [BrowserChoice] picks, else its page. The redirect then comes back through
 * `KeyfobRedirectActivity`, which completes the login in the background ([Keyfob.state]).
 */
public object BrowserLauncher {
    /** Opens [url]; throws [KeyfobException.NoBrowser] when no allowed browser can. */
    @JvmStatic
    @JvmOverloads
    public fun open(context: Context, url: String, options: BrowserOptions = BrowserOptions()) {
        val browser = BrowserChoice.choose(InstalledBrowsers.query(context), options)
            ?: throw KeyfobException.NoBrowser("no browser can open $url")
        // No Auth Tab: its result would need an activity waiting for it.
        var launch: BrowserLaunch? = CustomTabs.launch(url, browser, null, context.packageName, options)
        while (launch != null) {
            try {
                context.startActivity(BrowserIntents.intent(context, launch))
                return
            } catch (e: ActivityNotFoundException) {
                launch = launch.fallback()
            }
        }
        throw KeyfobException.NoBrowser("no browser could be started for $url")
    }
}
