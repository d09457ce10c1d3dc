package dev.keyfob

import android.app.Activity
import android.os.Bundle

/**
 * Receives the provider's redirect. The library's manifest exports it for the scheme
 * `${applicationId}` (a redirect URI such as `com.example.app:/callback` when the app's
 * applicationId is `com.example.app`); an app with another scheme, or an `https` App Link, adds
 * its own intent filter to this activity in its manifest.
 *
 * It only forwards the deep link to [KeyfobAuthorizationActivity], which owns the round trip:
 * that brings the app back where the login started (closing the Custom Tab), completes the login
 * — or, if the app's process was restarted meanwhile, hands the link to the [Keyfob] created in
 * `Application.onCreate`, which completes it from the pending login the core stored — and
 * finishes.
 */
public open class KeyfobRedirectActivity : Activity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // A recreated instance (savedInstanceState != null) has already forwarded its link.
        if (savedInstanceState == null && intent?.data != null) {
            startActivity(KeyfobAuthorizationActivity.redirectIntent(this, intent.data))
        }
        finish()
    }
}
