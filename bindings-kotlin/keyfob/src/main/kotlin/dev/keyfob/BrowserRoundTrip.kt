package dev.keyfob

import kotlinx.coroutines.CompletableDeferred
import java.util.UUID
import java.util.concurrent.ConcurrentHashMap

/**
 * One browser round trip as `KeyfobAuthorizationActivity` runs it: what to open, and where the
 * answer goes. It travels in the activity's intent and saved state, as strings ([encode]).
 *
 * @property id the waiting [RoundTrips] entry.
 * @property kind a login (its redirect completes or cancels the pending login) or an end-session request.
 * @property redirectUri the URI the browser comes back to, if any.
 * @property launch how to open the page.
 */
public data class RoundTripRequest(
    val id: String,
    val kind: Kind,
    val redirectUri: String?,
    val launch: BrowserLaunch,
) {
    /** What the round trip is for. */
    public enum class Kind {
        /** A sign-in: an empty return cancels the pending login. */
        LOGIN,

        /** An end-session request: nothing to cancel. */
        LOGOUT,
    }

    /** This request as string pairs, for an `Intent` or a `Bundle`. */
    public fun encode(): Map<String, String> = buildMap {
        put("id", id)
        put("kind", kind.name)
        redirectUri?.let { put("redirect", it) }
        put("url", launch.url)
        launch.browserPackage?.let { put("package", it) }
        put("mode", launch.mode.name)
        launch.referrer?.let { put("referrer", it) }
        put("anyBrowser", launch.anyBrowserFallback.toString())
        launch.intExtras.forEach { (k, v) -> put("int:$k", v.toString()) }
        launch.booleanExtras.forEach { (k, v) -> put("bool:$k", v.toString()) }
        launch.stringExtras.forEach { (k, v) -> put("str:$k", v) }
    }

    public companion object {
        /** The request [encode] wrote, or `null` for anything else (an intent without one). */
        @JvmStatic
        public fun decode(values: Map<String, String>): RoundTripRequest? {
            val id = values["id"] ?: return null
            val kind = values["kind"]?.let { k -> Kind.entries.firstOrNull { it.name == k } } ?: return null
            val url = values["url"] ?: return null
            val mode = values["mode"]?.let { m -> BrowserLaunch.Mode.entries.firstOrNull { it.name == m } } ?: return null
            fun <T> extras(prefix: String, parse: (String) -> T?): Map<String, T> =
                values.filterKeys { it.startsWith(prefix) }
                    .mapNotNull { (k, v) -> parse(v)?.let { k.removePrefix(prefix) to it } }
                    .toMap()
            val launch = BrowserLaunch(
                url = url,
                browserPackage = values["package"],
                mode = mode,
                intExtras = extras("int:") { it.toIntOrNull() },
                booleanExtras = extras("bool:") { it.toBooleanStrictOrNull() },
                stringExtras = extras("str:") { it },
                referrer = values["referrer"],
                anyBrowserFallback = values["anyBrowser"] == "true",
            )
            return RoundTripRequest(id, kind, values["redirect"], launch)
        }
    }
}

/**
 * The decisions of `KeyfobAuthorizationActivity`, the activity that owns the browser round trip
 * and returns to the activity that started the login (as AppAuth's management activity does).
 * The activity only forwards its lifecycle here and carries out the [Step]s; this class runs, and
 * is tested, on any JVM.
 *
 * The story: created by [Keyfob.login] on top of the calling activity, it opens the browser at its
 * first resume. It resumes again when the browser is gone: after the redirect (which
 * `KeyfobRedirectActivity` forwards to it, clearing the Custom Tab above it) or the Auth Tab's
 * result, it reports the redirect; with neither, the user came back on their own: it reports a
 * close, and the login is cancelled. Either way it finishes, and the caller is on top again.
 *
 * Process death between launch and redirect: the system recreates the activity from its saved
 * state ([snapshot]), already launched; the redirect then arrives as usual, and since nobody
 * waits in the new process, [RoundTrips.finish] hands it to the [Keyfob] the app created in
 * `Application.onCreate`, which completes it from the pending login the core stored.
 *
 * A redirect with no round trip at all (an app that opened the browser itself after
 * [Keyfob.beginLogin]) creates the activity with only the redirect: it is delivered through the
 * [RedirectRouter], and the app's launch activity is brought back over the browser.
 *
 * @param request the round trip from the activity's intent, `null` when it was started by a redirect alone.
 * @param saved the [snapshot] saved before the activity was destroyed, if it was.
 * @param redirect the redirect in the activity's first intent, if any.
 */
public class BrowserRoundTrip(
    request: RoundTripRequest?,
    saved: Snapshot? = null,
    redirect: String? = null,
) {
    /** What survives the activity: its request (with the launch last tried) and whether the browser was opened. */
    public data class Snapshot(val request: RoundTripRequest?, val launched: Boolean)

    /** What the activity does next. */
    public sealed class Step {
        /** Start [launch]'s intent (for a result when [BrowserLaunch.forResult]); report failure with [launchFailed]. */
        public data class Launch(val launch: BrowserLaunch) : Step()

        /** Hand [outcome] to [RoundTrips.finish] for [request]. */
        public data class Report(val request: RoundTripRequest, val outcome: BrowserOutcome) : Step()

        /** A redirect that belongs to no round trip of this activity: hand it to the [RedirectRouter]. */
        public data class Deliver(val url: String) : Step()

        /** Finish the activity; with [returnToApp], first bring the app's launch activity back over the browser. */
        public data class Finish(val returnToApp: Boolean) : Step()
    }

    private val request: RoundTripRequest? = saved?.request ?: request
    private var launched: Boolean = saved?.launched ?: false
    private var launch: BrowserLaunch? = this.request?.launch
    private var redirect: String? = redirect
    private var result: BrowserOutcome? = null
    private var finished = false

    /** What to save in `onSaveInstanceState`. */
    public fun snapshot(): Snapshot = Snapshot(request?.let { r -> launch?.let { r.copy(launch = it) } ?: r }, launched)

    /** A new intent reached the activity (the redirect activity forwarded [url]). */
    public fun onNewIntent(url: String?) {
        if (url != null) redirect = url
    }

    /** The Auth Tab answered (`onActivityResult`). */
    public fun onActivityResult(resultCode: Int, data: String?) {
        result = CustomTabs.authTabOutcome(resultCode, data)
    }

    /** The activity resumed: the first time it opens the browser, after that the round trip ends. */
    public fun onResume(): List<Step> {
        if (finished) return emptyList()
        val request = request
        if (request == null) {
            finished = true
            val url = redirect ?: return listOf(Step.Finish(returnToApp = false))
            return listOf(Step.Deliver(url), Step.Finish(returnToApp = true))
        }
        if (!launched) {
            val launch = launch ?: return end(request, BrowserOutcome.NoBrowser)
            launched = true
            return listOf(Step.Launch(launch))
        }
        val url = redirect
        return when {
            url != null && (request.redirectUri == null || RedirectUris.matches(request.redirectUri, url)) ->
                end(request, BrowserOutcome.Redirect(url))
            // Some other deep link brought the activity back: route it, and the browser is gone.
            url != null -> listOf(Step.Deliver(url)) + end(request, BrowserOutcome.Closed)
            else -> end(request, result ?: BrowserOutcome.Closed)
        }
    }

    /** Starting the last [Step.Launch] failed (`ActivityNotFoundException`): the next fallback, or the end. */
    public fun launchFailed(): List<Step> {
        val request = request ?: return emptyList()
        val next = launch?.fallback()
        launch = next
        return if (next != null) listOf(Step.Launch(next)) else end(request, BrowserOutcome.NoBrowser)
    }

    private fun end(request: RoundTripRequest, outcome: BrowserOutcome): List<Step> {
        finished = true
        return listOf(Step.Report(request, outcome), Step.Finish(returnToApp = false))
    }
}

/**
 * Where a [Keyfob.login] waits for its browser round trip, by id, in this process. The activity
 * that runs the round trip reports to it with [finish]; when nobody waits any more (the app's
 * process was restarted, or the caller went away), [finish] completes the round trip through the
 * [RedirectRouter] instead: a login's redirect is handed to its client, an empty return cancels
 * its pending login.
 */
public class RoundTrips internal constructor() {
    private val waiting = ConcurrentHashMap<String, CompletableDeferred<BrowserOutcome>>()

    /** A fresh id for a round trip that [await] will wait for. */
    public fun newId(): String = UUID.randomUUID().toString()

    /**
     * Runs [start] (which starts the activity for round trip [id]) and suspends until the round
     * trip is reported. A [start] that throws reports nothing and rethrows.
     */
    public suspend fun await(id: String, start: suspend () -> Unit): BrowserOutcome {
        val answer = CompletableDeferred<BrowserOutcome>()
        waiting[id] = answer
        try {
            start()
            return answer.await()
        } finally {
            waiting.remove(id, answer)
        }
    }

    /**
     * Ends round trip [request] with [outcome]: hands it to whoever [await]s it, or else, through
     * [router], completes or cancels the login it was for. Returns whether someone was waiting.
     */
    public fun finish(request: RoundTripRequest, outcome: BrowserOutcome, router: RedirectRouter = RedirectRouter.shared): Boolean {
        if (waiting.remove(request.id)?.complete(outcome) == true) return true
        if (request.kind == RoundTripRequest.Kind.LOGIN) {
            when (outcome) {
                is BrowserOutcome.Redirect -> router.deliver(outcome.url)
                else -> request.redirectUri?.let(router::cancelPending)
            }
        }
        return false
    }

    public companion object {
        /** The process-wide registry `CustomTabsBrowser` and `KeyfobAuthorizationActivity` share. */
        @JvmStatic
        public val shared: RoundTrips = RoundTrips()
    }
}
