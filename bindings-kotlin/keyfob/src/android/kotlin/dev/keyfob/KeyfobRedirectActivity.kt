package dev.keyfob

import android.app.Activity
import android.content.Intent
import android.os.Bundle

/**
 * Receives the provider's redirect — the library's manifest exports it for
 * `${keyfobRedirectScheme}`, set by the app like AppAuth's `appAuthRedirectScheme`:
 *
 * ```kotlin
 * android { defaultConfig { manifestPlaceholders["keyfobRedirectScheme"] = "com.example.app" } }
 * ```
 *
 * It hands the deep link to the [Keyfob] it belongs to ([RedirectRouter]), brings the app back
 * (which also closes the Custom Tab) and finishes at once; the login completes in the background
 * and shows in [Keyfob.state]. If the app's process was killed while the browser was open, it is
 * started again for this activity: create the [Keyfob] in `Application.onCreate`, and the core,
 * which stored the pending login, completes it (a callback that arrives before any client exists
 * waits for the first one).
 */
public open class KeyfobRedirectActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val url = intent?.dataString
        // A recreated instance (savedInstanceState != null) has already delivered its URL.
        if (savedInstanceState == null && url != null) RedirectRouter.shared.deliver(url)
        returnToApp()
        finish()
    }

    /**
     * Brings the app's task back: its launch activity, clearing what is above it (the Custom Tab).
     * Override to return elsewhere.
     */
    protected open fun returnToApp() {
        val launch = packageManager.getLaunchIntentForPackage(packageName) ?: return
        launch.addFlags(Intent.FLAG_ACTIVITY_CLEAR_TOP or Intent.FLAG_ACTIVITY_SINGLE_TOP)
        startActivity(launch)
    }
}
