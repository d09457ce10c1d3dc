package dev.keyfob

import android.app.Activity
import android.content.ActivityNotFoundException
import android.content.Context
import android.content.Intent
import android.os.Bundle

/**
 * Owns the browser round trip of `keyfob.login(activity)`: started over the calling activity, it
 * opens the browser, receives what comes back (the redirect that [KeyfobRedirectActivity]
 * forwards, or an Auth Tab's result), reports it and finishes, so the user is back on the calling
 * activity. Invisible, not exported (the library's manifest declares it `singleTask`, so the
 * forwarded redirect finds it and clears the Custom Tab above it).
 *
 * Glue only: every decision — when to open the browser, what an empty return means, process
 * death, redirects nobody waits for — is [BrowserRoundTrip]'s, tested on the JVM.
 */
public class KeyfobAuthorizationActivity : Activity() {
    private lateinit var roundTrip: BrowserRoundTrip

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val request = RoundTripRequest.decode(intent.extras.strings(EXTRA_REQUEST))
        val saved = savedInstanceState?.let {
            BrowserRoundTrip.Snapshot(RoundTripRequest.decode(it.strings(EXTRA_REQUEST)), it.getBoolean(STATE_LAUNCHED))
        }
        // A first intent with data came from the redirect activity, with no round trip of ours.
        roundTrip = BrowserRoundTrip(request, saved, if (savedInstanceState == null) intent.dataString else null)
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        setIntent(intent)
        roundTrip.onNewIntent(intent.dataString)
    }

    @Deprecated("Activity result API without androidx")
    @Suppress("DEPRECATION")
    override fun onActivityResult(requestCode: Int, resultCode: Int, data: Intent?) {
        super.onActivityResult(requestCode, resultCode, data)
        if (requestCode == AUTH_TAB_REQUEST) roundTrip.onActivityResult(resultCode, data?.dataString)
    }

    override fun onResume() {
        super.onResume()
        run(roundTrip.onResume())
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        val snapshot = roundTrip.snapshot()
        snapshot.request?.let { outState.putBundle(EXTRA_REQUEST, it.encode().toBundle()) }
        outState.putBoolean(STATE_LAUNCHED, snapshot.launched)
    }

    private fun run(steps: List<BrowserRoundTrip.Step>) {
        for (step in steps) {
            when (step) {
                is BrowserRoundTrip.Step.Launch -> launch(step.launch)
                is BrowserRoundTrip.Step.Report -> RoundTrips.shared.finish(step.request, step.outcome)
                is BrowserRoundTrip.Step.Deliver -> RedirectRouter.shared.deliver(step.url)
                is BrowserRoundTrip.Step.Finish -> {
                    if (step.returnToApp) returnToApp()
                    finish()
                }
            }
        }
    }

    @Suppress("DEPRECATION") // startActivityForResult: the Auth Tab answers with an activity result
    private fun launch(launch: BrowserLaunch) {
        val intent = BrowserIntents.intent(this, launch)
        try {
            if (launch.forResult) startActivityForResult(intent, AUTH_TAB_REQUEST) else startActivity(intent)
        } catch (e: ActivityNotFoundException) {
            run(roundTrip.launchFailed())
        }
    }

    /** Brings the app's launch activity back over the browser (a redirect with no round trip of ours). */
    private fun returnToApp() {
        val launch = packageManager.getLaunchIntentForPackage(packageName) ?: return
        launch.addFlags(Intent.FLAG_ACTIVITY_CLEAR_TOP or Intent.FLAG_ACTIVITY_SINGLE_TOP)
        startActivity(launch)
    }

    internal companion object {
        private const val EXTRA_REQUEST = "dev.keyfob.ROUND_TRIP"
        private const val STATE_LAUNCHED = "dev.keyfob.LAUNCHED"
        private const val AUTH_TAB_REQUEST = 0x4b66

        /** Starts [request] over [context]. */
        fun intent(context: Context, request: RoundTripRequest): Intent =
            Intent(context, KeyfobAuthorizationActivity::class.java)
                .putExtra(EXTRA_REQUEST, request.encode().toBundle())

        /** Brings the running round trip back with [redirect] (from [KeyfobRedirectActivity]). */
        fun redirectIntent(context: Context, redirect: android.net.Uri?): Intent =
            Intent(context, KeyfobAuthorizationActivity::class.java)
                .setData(redirect)
                .addFlags(Intent.FLAG_ACTIVITY_CLEAR_TOP or Intent.FLAG_ACTIVITY_SINGLE_TOP)

        private fun Map<String, String>.toBundle(): Bundle = Bundle().also { b -> forEach { (k, v) -> b.putString(k, v) } }

        private fun Bundle?.strings(key: String): Map<String, String> {
            val bundle = this?.getBundle(key) ?: return emptyMap()
            return bundle.keySet().mapNotNull { k -> bundle.getString(k)?.let { k to it } }.toMap()
        }
    }
}
