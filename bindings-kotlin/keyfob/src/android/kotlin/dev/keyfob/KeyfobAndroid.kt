@file:JvmName("KeyfobAndroid")

package dev.keyfob

import android.app.Activity
import android.content.Context
import android.os.Handler
import android.os.Looper
import java.util.concurrent.Executor

/**
 * The usual Android client: the session in [AndroidKeystoreStorage], HTTP through
 * [HttpUrlConnectionTransport]. Create it once, in `Application.onCreate` (it does no I/O there),
 * so that a login completes even when the redirect restarts the app's process. With a
 * [dpopKey] (e.g. [KeystoreDpopKey]) sessions are bound to it when the provider supports DPoP.
 */
@JvmOverloads
public fun Keyfob.Companion.create(
    context: Context,
    config: KeyfobConfig,
    storage: SecureStorage = AndroidKeystoreStorage(
        context.applicationContext,
        directory = StoreNamespace.directory(config.issuer, config.clientId),
    ),
    dpopKey: DpopKey? = null,
): Keyfob = Keyfob(config, storage, dpopKey = dpopKey)

/**
 * Signs the user in from [activity] and returns their claims: the provider's page opens in an
 * Auth Tab or Custom Tab over [activity] ([BrowserOptions] decide which browser), and when the
 * browser is done the user is back on [activity]. Call it from the main thread, e.g.
 * `lifecycleScope.launch { val claims = keyfob.login(this@MainActivity) }`.
 *
 * Throws [KeyfobException.Cancelled] when the user comes back without signing in (the pending
 * login is cleared), [KeyfobException.NoBrowser] when no allowed browser exists (before anything
 * is stored), and the callback's failures. See [Keyfob.login].
 */
public suspend fun Keyfob.login(
    activity: Activity,
    options: LoginOptions? = null,
    browser: BrowserOptions = BrowserOptions(),
): Claims = login(CustomTabsBrowser(activity, browser), options)

/**
 * Signs out, then ends the provider's session in the browser over [activity] and waits until
 * the user is back ([LogoutResult.endSession]). See [Keyfob.logout].
 */
public suspend fun Keyfob.logout(activity: Activity, browser: BrowserOptions = BrowserOptions()): LogoutResult =
    logout(CustomTabsBrowser(activity, browser).forLogout())

/** [KeyfobCallbacks] that answer on the main thread, for Java callers. */
public fun Keyfob.callbacks(): KeyfobCallbacks = KeyfobCallbacks(this, MainThread)

/** Runs tasks on the main thread. */
private object MainThread : Executor {
    private val handler = Handler(Looper.getMainLooper())

    override fun execute(command: Runnable) {
        if (Looper.myLooper() == Looper.getMainLooper()) command.run() else handler.post(command)
    }
}
