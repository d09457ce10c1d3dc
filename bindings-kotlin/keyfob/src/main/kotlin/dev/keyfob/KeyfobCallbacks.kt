package dev.keyfob

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import java.util.concurrent.Executor
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration.Companion.seconds

/**
 * The answer to one [KeyfobCallbacks] call: exactly one of the two methods is called, on the
 * executor the [KeyfobCallbacks] was made with (on Android, by default, the main thread), unless
 * the call was cancelled first.
 */
public interface KeyfobCallback<T> {
    /** The call succeeded with [value] (`null` for calls that return nothing, typed `Void`). */
    public fun onSuccess(value: T)

    /** The call failed; decide on the subclass, [KeyfobException.requiresSignIn] or [KeyfobException.isRetryable]. */
    public fun onError(error: KeyfobException)
}

/** Receives [Keyfob.state] changes (see [KeyfobCallbacks.observeState]). */
public fun interface KeyfobStateListener {
    /** The session is now in [state]. */
    public fun onState(state: SessionState)
}

/** A call in flight, or a state subscription. */
public class KeyfobCall internal constructor(private val job: Job, private val cancelled: AtomicBoolean) {
    /**
     * Stops waiting: no callback is made after this returns. The work itself is not undone —
     * like the `suspend` functions, a call that may obtain tokens still finishes and keeps them.
     */
    public fun cancel() {
        cancelled.set(true)
        job.cancel()
    }
}

/**
 * [Keyfob] for Java callers: every `suspend` function as a method that returns at once and
 * answers a [KeyfobCallback] later, on [executor]. Kotlin code uses the `suspend` functions.
 *
 * ```java
 * KeyfobCallbacks calls = KeyfobAndroid.callbacks(keyfob);   // answers on the main thread
 * calls.accessToken(new KeyfobCallback<String>() {
 *     public void onSuccess(String token) { send(token); }
 *     public void onError(KeyfobException e) { if (e.getRequiresSignIn()) showSignIn(); }
 * });
 * ```
 */
public class KeyfobCallbacks(private val keyfob: Keyfob, private val executor: Executor) {
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /** [Keyfob.login]: the user's claims, or [KeyfobException.Cancelled] / [KeyfobException.NoBrowser] / … */
    @JvmOverloads
    public fun login(browser: AuthorizationBrowser, options: LoginOptions? = null, callback: KeyfobCallback<Claims>): KeyfobCall =
        run(callback) { keyfob.login(browser, options) }

    /** [Keyfob.beginLogin]. */
    public fun beginLogin(options: LoginOptions?, callback: KeyfobCallback<String>): KeyfobCall =
        run(callback) { keyfob.beginLogin(options) }

    /** [Keyfob.handleRedirect]. */
    public fun handleRedirect(url: String, callback: KeyfobCallback<Claims>): KeyfobCall =
        run(callback) { keyfob.handleRedirect(url) }

    /** [Keyfob.cancelLogin]. */
    public fun cancelLogin(callback: KeyfobCallback<Void?>): KeyfobCall = run(callback) { keyfob.cancelLogin(); null }

    /** [Keyfob.accessToken]. */
    public fun accessToken(callback: KeyfobCallback<String>): KeyfobCall = run(callback) { keyfob.accessToken() }

    /** [Keyfob.accessToken] with a token lasting at least [minTtlSeconds] seconds. */
    public fun accessToken(minTtlSeconds: Long, callback: KeyfobCallback<String>): KeyfobCall =
        run(callback) { keyfob.accessToken(minTtlSeconds.seconds) }

    /** [Keyfob.refresh]. */
    public fun refresh(callback: KeyfobCallback<Void?>): KeyfobCall = run(callback) { keyfob.refresh(); null }

    /** [Keyfob.logout]: the local session only. */
    public fun logout(callback: KeyfobCallback<LogoutResult>): KeyfobCall = run(callback) { keyfob.logout() }

    /** [Keyfob.logout] with the provider's session ended in [browser]. */
    public fun logout(browser: AuthorizationBrowser, callback: KeyfobCallback<LogoutResult>): KeyfobCall =
        run(callback) { keyfob.logout(browser) }

    /** [Keyfob.userinfo]. */
    public fun userinfo(callback: KeyfobCallback<String>): KeyfobCall = run(callback) { keyfob.userinfo() }

    /** [Keyfob.claims]: `null` when signed out. */
    public fun claims(callback: KeyfobCallback<Claims?>): KeyfobCall = run(callback) { keyfob.claims() }

    /** [Keyfob.tokens]: `null` when signed out. */
    public fun tokens(callback: KeyfobCallback<Tokens?>): KeyfobCall = run(callback) { keyfob.tokens() }

    /** [Keyfob.restore]. */
    public fun restore(callback: KeyfobCallback<SessionState>): KeyfobCall = run(callback) { keyfob.restore() }

    /**
     * Calls [listener] on [executor] with the current state and then every change, until the
     * returned call is cancelled.
     */
    public fun observeState(listener: KeyfobStateListener): KeyfobCall {
        val cancelled = AtomicBoolean(false)
        val job = scope.launch {
            keyfob.state.collect { state -> deliver(cancelled) { listener.onState(state) } }
        }
        return KeyfobCall(job, cancelled)
    }

    private fun <T> run(callback: KeyfobCallback<T>, block: suspend () -> T): KeyfobCall {
        val cancelled = AtomicBoolean(false)
        val job = scope.launch {
            val result: Result<T> = try {
                Result.success(block())
            } catch (e: CancellationException) {
                throw e
            } catch (e: KeyfobException) {
                Result.failure(e)
            } catch (e: IllegalStateException) {
                // The client was closed.
                Result.failure(KeyfobException.Internal(e.message ?: "the Keyfob client was closed", e))
            }
            deliver(cancelled) {
                result.fold(callback::onSuccess) { callback.onError(it as KeyfobException) }
            }
        }
        return KeyfobCall(job, cancelled)
    }

    private fun deliver(cancelled: AtomicBoolean, answer: () -> Unit) {
        if (cancelled.get()) return
        executor.execute { if (!cancelled.get()) answer() }
    }
}
