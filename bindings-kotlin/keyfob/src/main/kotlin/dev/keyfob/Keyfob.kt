package dev.keyfob

import dev.keyfob.KeyfobException.Companion.translate
import dev.keyfob.ffi.KeyfobClient
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

/**
 * OpenID Connect sign-in for one provider and one app: the Kotlin face of Keyfob's Rust core.
 *
 * Create one per app, at startup (`Application.onCreate` on Android), and share it. Then:
 * [beginLogin] gives the authorization URL to open in the browser (on Android,
 * `keyfob.login(activity)` opens it in a Custom Tab); the deep link that comes back goes to
 * [handleRedirect] (on Android, the library's redirect activity does that); after that
 * [accessToken] returns a valid access token for `Authorization: Bearer`, refreshing when needed.
 * [state] tells where the session stands at any time.
 *
 * What is persisted when is the core's guarantee: the pending login before [beginLogin] returns (so
 * a login survives the app being killed while the browser is open), new tokens before they are
 * returned, and a rotated refresh token is never dropped. Calls that may obtain tokens run to
 * completion even if the calling coroutine is cancelled, so that cancelling a screen never loses a
 * rotated refresh token.
 *
 * The constructor reads the stored session once (one small file on Android) to set [state].
 *
 * @param config the client configuration; invalid values throw [KeyfobException.Config].
 * @param storage where the session is kept; `null` keeps it in memory only.
 * @param transport HTTP for the core; [HttpUrlConnectionTransport] by default.
 */
public class Keyfob internal constructor(
    config: KeyfobConfig,
    storage: SecureStorage?,
    transport: HttpTransport,
    private val router: RedirectRouter,
) : AutoCloseable {

    public constructor(
        config: KeyfobConfig,
        storage: SecureStorage? = null,
        transport: HttpTransport = HttpUrlConnectionTransport(),
    ) : this(config, storage, transport, RedirectRouter.shared)

    /** The configuration this client was created with. */
    public val config: KeyfobConfig = config.copy()

    private val client: KeyfobClient =
        translate { KeyfobClient(config, transport, storage?.let(::StorageBridge)) }

    /** This client's id for [CachedTokenAccess] (not a pointer: stale once the client is freed). */
    internal val tokenHandle: Long = client.tokenHandle().toLong()

    /**
     * The size of the array for [CachedTokenAccess]: the last token's length. JNA copies the whole
     * array to native memory and back on each call, so an exact fit is fastest; a longer token
     * costs one more call. Internal for the tests.
     */
    @Volatile
    internal var tokenBufferSize = 1024

    /** Runs the core's calls, so that they finish even when their caller is cancelled. */
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.IO + CoroutineName("keyfob"))

    private val stateLock = Any()
    private val mutableState = MutableStateFlow(client.state())

    /**
     * Where the session stands, updated after every change (sign-in, refresh, sign-out, rejected
     * refresh token) and after every call. [SessionState.STORAGE_UNAVAILABLE] means the stored
     * session cannot be read now (device locked): call [restore] later, it is not gone.
     */
    public val state: StateFlow<SessionState> = mutableState.asStateFlow()

    private val mutableLoginError = MutableStateFlow<KeyfobException?>(null)

    /**
     * Why the last login completed through the redirect activity (or [RedirectRouter]) failed;
     * `null` after a success and when a new login begins. Success shows in [state].
     */
    public val loginError: StateFlow<KeyfobException?> = mutableLoginError.asStateFlow()

    @Volatile
    private var closed = false

    init {
        // The observer holds this client weakly: the core holds the observer, and a strong
        // reference back would keep both alive forever.
        client.addObserver(StateObserver(WeakReference(this)))
        router.register(this)
    }

    /**
     * Starts a login and returns the authorization URL to open in the system browser (never in a
     * WebView). The pending login is stored before this returns. A new login replaces a pending one.
     */
    public suspend fun beginLogin(options: LoginOptions? = null): String {
        mutableLoginError.value = null
        return call { it.beginLogin(options) }
    }

    /**
     * Completes the login with the redirect URL the app received (`myapp://callback?code=…`):
     * checks it, exchanges the code, validates the ID token, stores the session, and returns the
     * user's claims. Throws [KeyfobException.StateMismatch], [KeyfobException.NoPendingLogin],
     * [KeyfobException.Provider] (e.g. `access_denied`), … on failure.
     */
    public suspend fun handleRedirect(url: String): Claims = call { it.handleRedirect(url) }

    /**
     * A valid access token, refreshed first when it has less than the configured margin left;
     * concurrent callers share one refresh. A secret: send it only as `Authorization: Bearer`.
     */
    public suspend fun accessToken(): String {
        // The core's own first step, without a dispatch and an async call across the FFI. Only
        // when [state] already says signed in: then the skipped publish would change nothing.
        if (state.value == SessionState.SIGNED_IN) cachedAccessToken()?.let { return it }
        return call { it.accessToken() }
    }

    /**
     * The access token from memory when it is saved and still valid for the refresh margin, without
     * I/O or waiting; else `null` (then call [accessToken]). Fast enough for every request (well
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

    /** Refreshes the tokens now with the refresh token. */
    public suspend fun refresh(): Unit = call { it.refresh() }

    /**
     * Signs out: forgets the session here, revokes the refresh token at the provider, and returns
     * the provider's end-session URL (to open in the browser to end the provider's own session).
     * The local session is cleared even when revocation fails ([LogoutResult.revocationError]).
     */
    public suspend fun logout(): LogoutResult = call { it.logout() }

    /** A valid access token of the account of user [account] (the ID token's `sub`), active or not. */
    public suspend fun accessToken(account: String): String = call { it.accessTokenForAccount(account) }

    /** Refreshes the account of user [account] now. */
    public suspend fun refresh(account: String): Unit = call { it.refreshAccount(account) }

    /** Signs out of [account]'s account only; the other accounts stay signed in. */
    public suspend fun logout(account: String): LogoutResult = call { it.logoutAccount(account) }

    /**
     * Every signed-in account, the active one marked: one unless [KeyfobConfig.multipleAccounts]
     * is set. Reads storage the first time.
     */
    public suspend fun accounts(): List<Account> = call { it.accounts() }

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
    public suspend fun reload(): SessionState = call { it.reload() }

    /** The provider's UserInfo claims as a JSON object text (its `sub` checked against the session). */
    public suspend fun userinfo(): String = call { it.userinfo() }

    /** The signed-in user's validated ID token claims, or `null` when signed out. */
    public val claims: Claims? get() = translate { client.claims() }

    /**
     * Reads the stored session again if it could not be read before (device was locked) and returns
     * the state. Throws [KeyfobException.Storage] when the storage still fails.
     */
    public suspend fun restore(): SessionState = call { it.restore() }

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

    /** A redirect delivered by the redirect activity: completes the login in the background. */
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

    private suspend fun <T> call(operation: suspend (KeyfobClient) -> T): T {
        check(!closed) { "this Keyfob client was closed" }
        val result = scope.async { translate { operation(client) } }
        try {
            return result.await()
        } finally {
            publishState()
        }
    }

    /**
     * Sets [state] from the core. Re-reading under a lock (rather than trusting the state an event
     * carried) keeps the flow right when events and calls finish on different threads.
     */
    private fun publishState() {
        if (closed) return
        synchronized(stateLock) {
            mutableState.value = client.state()
        }
    }

    /** Allows an app to add `Keyfob.Companion` extensions (the Android library adds `create`). */
    public companion object {}

    private class StateObserver(private val owner: WeakReference<Keyfob>) : KeyfobSessionObserver {
        override fun onSessionEvent(event: SessionEvent, state: SessionState) {
            owner.get()?.publishState()
        }
    }
}
