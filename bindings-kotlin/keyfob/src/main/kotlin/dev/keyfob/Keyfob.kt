package dev.keyfob

import dev.keyfob.KeyfobException.Companion.translate
import dev.keyfob.ffi.HttpHeader
import dev.keyfob.ffi.KeyfobBackgroundTask
import dev.keyfob.ffi.KeyfobClient
import dev.keyfob.ffi.KeyfobExecutor
import dev.keyfob.ffi.KeyfobSessionObserver
import dev.keyfob.ffi.SessionEvent
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import java.lang.ref.WeakReference
import java.net.HttpURLConnection
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * OpenID Connect sign-in for one provider and one app: the Kotlin face of Keyfob's Rust core.
 *
 * Create one per app, at startup (`Application.onCreate` on Android: construction does no I/O),
 * and share it. Then [login] opens the provider's page in the browser and returns the signed-in
 * user's claims (on Android, `keyfob.login(activity)`, in an Auth Tab or Custom Tab); after that
 * [accessToken] returns a valid access token for `Authorization: Bearer`, refreshing when needed.
 * [state] tells where the session stands at any time. [beginLogin] and [handleRedirect] are the
 * two halves of [login], for an app that runs the browser itself.
 *
 * What is persisted when is the core's guarantee: the pending login before [beginLogin] returns (so
 * a login survives the app being killed while the browser is open), new tokens before they are
 * returned, and a rotated refresh token is never dropped. Calls that may obtain tokens run to
 * completion even if the calling coroutine is cancelled, so that cancelling a screen never loses a
 * rotated refresh token.
 *
 * Threads: nothing here blocks its caller on I/O. The constructor only sets things up; the stored
 * session is read on a background thread ([SessionState.RESTORING] until then), and every call
 * that may touch storage or the network is a `suspend` function that runs on [Dispatchers.IO].
 * Java callers use [KeyfobCallbacks].
 *
 * @param config the client configuration; invalid values throw [KeyfobException.Config].
 * @param storage where the session is kept; `null` keeps it in memory only.
 * @param transport HTTP for the core; [HttpUrlConnectionTransport] by default.
 * @param dpopKey binds sessions to this key (DPoP, RFC 9449) when the provider supports it; then
 *   send API requests with [authorizationHeaders] (or [authorize]) and [shouldRetry].
 */
public class Keyfob internal constructor(
    config: KeyfobConfig,
    storage: SecureStorage?,
    transport: HttpTransport,
    private val router: RedirectRouter,
    dpopKey: DpopKey? = null,
) : AutoCloseable {

    @JvmOverloads
    public constructor(
        config: KeyfobConfig,
        storage: SecureStorage? = null,
        transport: HttpTransport = HttpUrlConnectionTransport(),
        dpopKey: DpopKey? = null,
    ) : this(config, storage, transport, RedirectRouter.shared, dpopKey)

    /** The configuration this client was created with. */
    public val config: KeyfobConfig = config

    /**
     * Runs the core's calls, so that they finish even when their caller is cancelled, and its
     * background work (the refresh ahead of a token's expiry).
     */
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO + CoroutineName("keyfob"))

    private val client: KeyfobClient = config.toFfi().let { ffiConfig ->
        translate {
            KeyfobClient(ffiConfig, TransportBridge(transport), storage?.let(::StorageBridge), dpopKey?.let(::DpopKeyBridge), ScopeExecutor(scope))
        }
    }

    /** This client's id for [CachedTokenAccess] (not a pointer: stale once the client is freed). */
    internal val tokenHandle: Long = client.tokenHandle().toLong()

    /**
     * The size of the array for [CachedTokenAccess]: the last token's length. JNA copies the whole
     * array to native memory and back on each call, so an exact fit is fastest; a longer token
     * costs one more call. Internal for the tests.
     */
    @Volatile
    internal var tokenBufferSize = 1024

    private val stateLock = Any()
    private val mutableState = MutableStateFlow(SessionState.RESTORING)

    /**
     * Where the session stands, updated after every change (sign-in, refresh, sign-out, rejected
     * refresh token, cancelled login) and after every call; read from memory, so any thread may
     * read it. [SessionState.RESTORING] at first, until the stored session was read in the
     * background. [SessionState.STORAGE_UNAVAILABLE] means the stored session cannot be read now
     * (device locked): call [restore] later, it is not gone.
     */
    public val state: StateFlow<SessionState> = mutableState.asStateFlow()

    private val mutableLoginError = MutableStateFlow<KeyfobException?>(null)

    /**
     * Why the last login completed in the background failed — one whose redirect arrived after
     * the app's process was restarted, or whose [login] caller went away; `null` after a success
     * and when a new login begins. Success shows in [state]; a [login] that is awaited reports
     * its own outcome.
     */
    public val loginError: StateFlow<KeyfobException?> = mutableLoginError.asStateFlow()

    @Volatile
    private var closed = false

    init {
        // The observer holds this client weakly: the core holds the observer, and a strong
        // reference back would keep both alive forever.
        client.addObserver(StateObserver(WeakReference(this)))
        router.register(this)
        // The first read of the stored session, off the caller's thread.
        scope.launch { publishState() }
    }

    /**
     * Signs the user in through [browser] and returns their validated claims: begins a login,
     * opens the authorization page, and completes the login with the redirect that comes back.
     *
     * Throws [KeyfobException.NoBrowser] before anything is stored when no browser can open the
     * page, [KeyfobException.Cancelled] when the user comes back without signing in (the pending
     * login is cleared and [state] returns to what it was), and the callback's failures
     * ([KeyfobException.Provider] for `access_denied`, [KeyfobException.StateMismatch], …).
     *
     * If the calling coroutine is cancelled while the browser is open (the screen went away), the
     * login stays pending: a redirect that still arrives completes it in the background, with
     * the outcome in [state] and [loginError].
     */
    public suspend fun login(browser: AuthorizationBrowser, options: LoginOptions? = null): Claims {
        if (!browser.isAvailable()) throw KeyfobException.NoBrowser("no browser can open the sign-in page")
        val url = beginLogin(options)
        return when (val outcome = browser.open(url, config.redirectUri)) {
            is BrowserOutcome.Redirect -> handleRedirect(outcome.url)
            BrowserOutcome.Closed -> {
                cancelLogin()
                throw KeyfobException.Cancelled("the user came back from the browser without signing in")
            }
            is BrowserOutcome.Failed -> {
                cancelLogin()
                throw KeyfobException.Cancelled("the browser ended the sign-in: ${outcome.reason}")
            }
            BrowserOutcome.NoBrowser -> {
                cancelLogin()
                throw KeyfobException.NoBrowser("the browser could not be started")
            }
        }
    }

    /**
     * Starts a login and returns the authorization URL to open in the system browser (never in a
     * WebView). The pending login is stored before this returns. A new login replaces a pending one.
     * [login] does this and the rest; use it directly only to run the browser yourself.
     */
    public suspend fun beginLogin(options: LoginOptions? = null): String {
        mutableLoginError.value = null
        return call { it.beginLogin(options?.toFfi()) }
    }

    /**
     * Completes the login with the redirect URL the app received (`myapp://callback?code=…`):
     * checks it, exchanges the code, validates the ID token, stores the session, and returns the
     * user's claims. Throws [KeyfobException.StateMismatch], [KeyfobException.NoPendingLogin],
     * [KeyfobException.Provider] (e.g. `access_denied`), … on failure.
     */
    public suspend fun handleRedirect(url: String): Claims = call { Claims.from(it.handleRedirect(url)) }

    /**
     * Gives up the pending login (the user closed the browser): its callback can no longer be
     * redeemed and [state] leaves [SessionState.LOGIN_PENDING]. Does nothing when none is pending.
     */
    public suspend fun cancelLogin(): Unit = call { it.cancelLogin() }

    /**
     * A valid access token. One that is due for a refresh (less than the refresh margin left, or half
     * its lifetime when that is shorter) but has not expired is returned at once, while one refresh
     * runs in this client's coroutine scope ([KeyfobConfig.refreshAhead]); an expired one is refreshed
     * first. Concurrent callers share one refresh. A secret: send it only as `Authorization: Bearer`.
     *
     * @param minTtl how long the token must stay valid at least (Auth0's `minTTL`), e.g. for a long
     *   upload; one that expires sooner is refreshed first. As long as the provider's token lifetime
     *   or longer, it throws [KeyfobException.MinTtlExceedsLifetime] (without a request once the
     *   lifetime is known).
     */
    public suspend fun accessToken(minTtl: Duration = Duration.ZERO): String {
        // The core's own first step, without a dispatch and an async call across the FFI. Only
        // when [state] already says signed in: then the skipped publish would change nothing.
        if (minTtl <= Duration.ZERO && state.value == SessionState.SIGNED_IN) cachedAccessToken()?.let { return it }
        val seconds = minTtl.wholeSecondsAtLeast()
        return call { it.accessToken(seconds) }
    }

    /**
     * The access token from memory when it is saved and not due for a refresh, without I/O or
     * waiting; else `null` (then call [accessToken]). Fast enough for every request (well
     * under a microsecond on the JVM): it calls the core's C accessor directly ([CachedTokenAccess])
     * rather than through the generated bindings. Throws [IllegalStateException] after [close].
     */
    public fun cachedAccessToken(): String? {
        check(!closed) { "this Keyfob client was closed" }
        while (true) {
            val buf = ByteArray(tokenBufferSize)
            val n = CachedTokenAccess.keyfob_cached_access_token(tokenHandle, buf, buf.size)
            when {
                n in 0..buf.size -> {
                    if (n != buf.size) tokenBufferSize = n
                    return String(buf, 0, n, Charsets.UTF_8).also { buf.fill(0, 0, n) }
                }
                // A longer token: again with room for it (it may change again meanwhile).
                n > buf.size -> tokenBufferSize = n
                n == CachedTokenAccess.NONE -> return null
                n == CachedTokenAccess.CLOSED -> throw IllegalStateException("this Keyfob client was closed")
                else -> throw KeyfobException.Internal("the Keyfob library could not read the cached access token ($n)")
            }
        }
    }

    /**
     * The headers for one request to the app's API, with the session's access token (refreshed
     * first when it is about to expire): `Authorization: Bearer …`, or for a DPoP-bound session
     * `Authorization: DPoP …` and a `DPoP` proof made for exactly [method] and [url]. The same
     * call for both, so app code does not branch; add them to an `HttpURLConnection` ([authorize])
     * or an OkHttp `Request.Builder`. Secrets: never log them (printing the answer shows only the
     * names). Ask again for every request, and pass the answer to [shouldRetry].
     */
    public suspend fun authorizationHeaders(method: String, url: String): AuthorizationHeaders =
        call { session -> AuthorizationHeaders(session.authorizationHeaders(method, url).associate { it.name to it.value }) }

    /**
     * Sets [authorizationHeaders] for the connection's method and URL on [connection] (before it
     * connects), and turns off its redirect following (`instanceFollowRedirects = false`): a 3xx
     * is returned to the app as the response. Following it would send the `Authorization` and
     * `DPoP` headers to wherever the `Location` points, and take that server's nonce for this one's.
     */
    public suspend fun authorize(connection: HttpURLConnection) {
        connection.instanceFollowRedirects = false
        for ((name, value) in authorizationHeaders(connection.requestMethod, connection.url.toString())) {
            connection.setRequestProperty(name, value)
        }
    }

    /**
     * Reads an API's answer to a request made with [authorizationHeaders]: keeps the server's new
     * DPoP nonce, and says whether the server refused the proof for want of it (`401` with
     * `WWW-Authenticate: DPoP error="use_dpop_nonce"`). Then send the request once more, with new
     * headers — once: the next refusal is the answer. [headers] as `HttpURLConnection.headerFields`
     * or OkHttp's `headers.toMultimap()` give them. Memory only: any thread.
     */
    public fun shouldRetry(url: String, status: Int, headers: Map<out String?, List<String>>): Boolean {
        check(!closed) { "this Keyfob client was closed" }
        val flat = headers.flatMap { (name, values) ->
            if (name == null) emptyList() else values.map { HttpHeader(name, it) }
        }
        return translate { client.resourceResponse(url, status.coerceIn(0, 65_535).toUShort(), flat) }
    }

    /** [shouldRetry] for a connection that has its answer. */
    public fun shouldRetry(connection: HttpURLConnection): Boolean =
        shouldRetry(connection.url.toString(), connection.responseCode, connection.headerFields)

    /** Refreshes the tokens now with the refresh token. */
    public suspend fun refresh(): Unit = call { it.refresh() }

    /**
     * Signs out: forgets the session here, revokes the refresh token at the provider, and returns
     * the provider's end-session URL (to open in the browser to end the provider's own session).
     * The local session is cleared even when revocation fails ([LogoutResult.revocationError]).
     */
    public suspend fun logout(): LogoutResult = call { LogoutResult.from(it.logout()) }

    /**
     * Signs out as [logout] does, then ends the provider's own session in [browser] (so that the
     * next login asks for the password again) and waits until the browser comes back:
     * [LogoutResult.endSession] tells how that went. Without an end-session endpoint, or without a
     * browser, only the local session ends.
     */
    public suspend fun logout(browser: AuthorizationBrowser): LogoutResult {
        val result = logout()
        val url = result.endSessionUrl ?: return result
        if (!browser.isAvailable()) return result.copy(endSession = EndSession.NO_BROWSER)
        val redirect = config.postLogoutRedirectUri
        val outcome = browser.open(url, redirect)
        return result.copy(endSession = RedirectUris.endSessionOutcome(outcome, redirect, result.endSessionState))
    }

    /**
     * A valid access token of the account of user [account] (the ID token's `sub`), active or not,
     * that lasts at least [minTtl] (see [accessToken]).
     */
    public suspend fun accessToken(account: String, minTtl: Duration = Duration.ZERO): String {
        val seconds = minTtl.wholeSecondsAtLeast()
        return call { it.accessToken(seconds, account) }
    }

    /** Refreshes the account of user [account] now. */
    public suspend fun refresh(account: String): Unit = call { it.refresh(account) }

    /** Signs out of [account]'s account only; the other accounts stay signed in. */
    public suspend fun logout(account: String): LogoutResult = call { LogoutResult.from(it.logout(account)) }

    /**
     * Every signed-in account, the active one marked: one unless [KeyfobConfig.multipleAccounts]
     * is set. Reads storage the first time.
     */
    public suspend fun accounts(): List<Account> = call { session -> session.accounts().map(Account::from) }

    /**
     * Makes the account of user [subject] the active one, in every process sharing the storage.
     * Throws [KeyfobException.NotSignedIn] when no such account is signed in.
     */
    public suspend fun switchAccount(subject: String): Unit = call { it.switchAccount(subject) }

    /**
     * Reads the stored session again and returns the state: what another process sharing the
     * storage changed (a refresh, a sign-out, another account) is taken in and shows in [state].
     * Call it when the app comes back to the foreground.
     */
    public suspend fun reload(): SessionState = call { SessionState.from(it.reload()) }

    /** The provider's UserInfo claims as a JSON object text (its `sub` checked against the session). */
    public suspend fun userinfo(): String = call { it.userinfo() }

    /** The signed-in user's validated ID token claims, or `null` when signed out. */
    public suspend fun claims(): Claims? = call { session -> session.claims()?.let(Claims::from) }

    /**
     * The signed-in session's tokens (raw ID token, expiry, scopes), or `null` when signed out:
     * for an app that sends the ID token to its own backend. Secrets: never log them.
     */
    public suspend fun tokens(): Tokens? = call { session -> session.tokens()?.let(Tokens::from) }

    /**
     * Reads the stored session again if it could not be read before (device was locked) and returns
     * the state. Throws [KeyfobException.Storage] when the storage still fails, or once for a
     * stored session that is lost (key invalidated: [SessionState.NEEDS_RE_LOGIN]; corrupt).
     */
    public suspend fun restore(): SessionState = call { SessionState.from(it.restore()) }

    /**
     * Stops this client: cancels calls in flight and frees the native client. Only needed when an
     * app drops a client before the process ends (tests, account switching).
     */
    override fun close() {
        if (closed) return
        closed = true
        router.unregister(this)
        scope.cancel()
        client.close()
    }

    /**
     * A redirect delivered without a [login] waiting for it (the redirect activity after a
     * process restart): completes the login in the background.
     */
    internal fun completeRedirect(url: String): Job = scope.launch {
        try {
            handleRedirect(url)
            mutableLoginError.value = null
        } catch (e: KeyfobException) {
            mutableLoginError.value = e
        } catch (e: CancellationException) {
            throw e
        } catch (e: Exception) {
            // Nobody awaits this job: an escaping exception would crash the app.
            if (!closed) mutableLoginError.value = KeyfobException.Internal("completing the login failed: $e", e)
        }
    }

    /** A login whose browser came back empty with no [login] waiting: cancelled in the background. */
    internal fun cancelLoginInBackground(): Job = scope.launch {
        try {
            cancelLogin()
        } catch (e: KeyfobException) {
            mutableLoginError.value = e
        } catch (e: IllegalStateException) {
            // Closed meanwhile: nothing left to cancel.
        }
    }

    internal suspend fun <T> call(operation: suspend (KeyfobClient) -> T): T {
        check(!closed) { "this Keyfob client was closed" }
        // The state is published inside the job, on an IO thread (the first read of the stored
        // session may block), and before the caller resumes, even when the caller was cancelled.
        return scope.async {
            try {
                translate { operation(client) }
            } finally {
                publishState()
            }
        }.await()
    }

    /**
     * Sets [state] from the core. Re-reading under a lock (rather than trusting the state an event
     * carried) keeps the flow right when events and calls finish on different threads. Reads
     * storage the first time, so it runs on the client's IO scope or after a call.
     */
    private fun publishState() {
        if (closed) return
        synchronized(stateLock) {
            mutableState.value = SessionState.from(client.state())
        }
    }

    /** Allows an app to add `Keyfob.Companion` extensions (the Android library adds `create`). */
    public companion object {}

    /**
     * Runs the core's background work in [scope]: the core has no runtime of its own. Holds the
     * scope, not the client (the core holds this executor: a reference back to the client would keep
     * both alive). Once the client is closed the scope is cancelled and a task is dropped unrun,
     * which costs only that refresh.
     */
    private class ScopeExecutor(private val scope: CoroutineScope) : KeyfobExecutor {
        override fun spawn(task: KeyfobBackgroundTask) {
            scope.launch { task.use { it.run() } }
        }
    }

    private class StateObserver(private val owner: WeakReference<Keyfob>) : KeyfobSessionObserver {
        override fun onSessionEvent(event: SessionEvent, state: dev.keyfob.ffi.SessionState) {
            owner.get()?.publishState()
        }
    }
}

/** A minimum lifetime as the core's whole seconds, rounded up (at least that long). */
internal fun Duration.wholeSecondsAtLeast(): UInt = when {
    this <= Duration.ZERO -> 0u
    this >= UInt.MAX_VALUE.toLong().seconds -> UInt.MAX_VALUE
    else -> (inWholeSeconds + if (this > inWholeSeconds.seconds) 1 else 0).toUInt()
}
