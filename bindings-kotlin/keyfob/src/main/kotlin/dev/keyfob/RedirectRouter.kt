package dev.keyfob

import kotlinx.coroutines.Job
import java.lang.ref.WeakReference
import java.net.URI
import java.net.URISyntaxException
import java.net.URLDecoder

/**
 * Hands the deep links that reach the app (the redirect activity's intent data) to the [Keyfob]
 * they belong to: the logic behind `KeyfobRedirectActivity`, kept here so it runs on any JVM.
 *
 * Every [Keyfob] registers itself with [shared] when created. A callback that arrives before any
 * matching client exists — the app's process was killed while the browser was open, and the
 * redirect started it again — is kept (the latest one, for as long as a pending login lives) and
 * handed to the first matching client that registers. The core keeps the pending login in
 * storage, so that client completes the login.
 */
public class RedirectRouter internal constructor(
    private val now: () -> Long = System::currentTimeMillis,
) {
    /** What [deliver] did with a URL. */
    public enum class Delivery {
        /** Handed to a client as a login callback; its outcome shows in [Keyfob.state] / [Keyfob.loginError]. */
        LOGIN,

        /** The provider's redirect after logout: nothing to do, the session was already cleared. */
        POST_LOGOUT,

        /** No client matches yet: kept for the next client that registers. */
        QUEUED,

        /** Not a URL Keyfob can use. */
        IGNORED,
    }

    private val clients = mutableListOf<WeakReference<Keyfob>>()
    private var queued: String? = null
    private var queuedAt = 0L

    /** Hands [url] to the client whose redirect URI it matches (or keeps it for later). */
    public fun deliver(url: String): Delivery {
        if (RedirectUris.parse(url) == null) return Delivery.IGNORED
        val target = synchronized(this) {
            val live = liveClients()
            live.firstOrNull { RedirectUris.matches(it.config.redirectUri, url) } ?: run {
                val postLogout = live.any { c ->
                    c.config.postLogoutRedirectUri?.let { RedirectUris.matches(it, url) } == true
                }
                if (postLogout) return Delivery.POST_LOGOUT
                queued = url
                queuedAt = now()
                return Delivery.QUEUED
            }
        }
        target.completeRedirect(url)
        return Delivery.LOGIN
    }

    /**
     * Gives up the pending login of the client whose redirect URI is [redirectUri]: the browser
     * came back without a redirect and no [Keyfob.login] was waiting (the app's process was
     * restarted meanwhile). Returns whether a client was found.
     */
    public fun cancelPending(redirectUri: String): Boolean {
        val target = synchronized(this) {
            liveClients().firstOrNull { RedirectUris.matches(it.config.redirectUri, redirectUri) }
        } ?: return false
        target.cancelLoginInBackground()
        return true
    }

    /**
     * Adds [client] to the clients links are handed to, and hands it the kept link if it matches
     * and has not expired. Returns the completion of that hand-over, or `null` when there was none.
     */
    internal fun register(client: Keyfob): Job? {
        val url = synchronized(this) {
            clients += WeakReference(client)
            val url = queued ?: return null
            if (now() - queuedAt > QUEUE_LIFETIME_MS) {
                queued = null
                return null
            }
            if (!RedirectUris.matches(client.config.redirectUri, url)) return null
            queued = null
            url
        }
        return client.completeRedirect(url)
    }

    internal fun unregister(client: Keyfob) {
        synchronized(this) {
            clients.removeAll { it.get().let { c -> c == null || c === client } }
        }
    }

    private fun liveClients(): List<Keyfob> {
        clients.removeAll { it.get() == null }
        return clients.mapNotNull { it.get() }
    }

    public companion object {
        /** The process-wide router that every [Keyfob] registers with and the redirect activity uses. */
        @JvmStatic
        public val shared: RedirectRouter = RedirectRouter()

        /** As long as the core keeps a pending login (10 minutes). */
        internal const val QUEUE_LIFETIME_MS: Long = 10 * 60 * 1000L
    }
}

/** Which client a deep link is for. The core checks the callback exactly; this only routes it. */
internal object RedirectUris {
    fun parse(uri: String): URI? = try {
        URI(uri).takeIf { it.scheme != null && !it.isOpaque }
    } catch (e: URISyntaxException) {
        null
    }

    /** The first value of query parameter [name] in [uri], decoded; `null` when absent or not a URI. */
    fun queryParameter(uri: String, name: String): String? {
        val query = parse(uri)?.rawQuery ?: return null
        return query.split('&').firstNotNullOfOrNull { pair ->
            val (key, value) = pair.split('=', limit = 2).let { it[0] to it.getOrElse(1) { "" } }
            if (key == name) URLDecoder.decode(value, "UTF-8") else null
        }
    }

    /**
     * What the browser step of a logout did: [outcome] of opening the end-session URL, checked
     * against the post-logout [redirectUri] and the [state] sent with the request.
     */
    fun endSessionOutcome(outcome: BrowserOutcome, redirectUri: String?, state: String?): EndSession = when (outcome) {
        is BrowserOutcome.Redirect -> when {
            redirectUri == null || !matches(redirectUri, outcome.url) -> EndSession.CLOSED
            state == null || queryParameter(outcome.url, "state") == state -> EndSession.RETURNED
            else -> EndSession.STATE_MISMATCH
        }
        BrowserOutcome.Closed, is BrowserOutcome.Failed -> EndSession.CLOSED
        BrowserOutcome.NoBrowser -> EndSession.NO_BROWSER
    }

    /**
     * Same scheme and host (case-insensitive), port and path as [configured]; query and fragment
     * (the callback's parameters) are ignored. `myapp://callback` and `com.example.app:/callback`
     * both work.
     */
    fun matches(configured: String, received: String): Boolean {
        val a = parse(configured) ?: return false
        val b = parse(received) ?: return false
        return a.scheme.equals(b.scheme, ignoreCase = true) &&
            a.rawAuthority?.lowercase() == b.rawAuthority?.lowercase() &&
            a.rawPath.orEmpty().ifEmpty { "/" } == b.rawPath.orEmpty().ifEmpty { "/" }
    }
}
