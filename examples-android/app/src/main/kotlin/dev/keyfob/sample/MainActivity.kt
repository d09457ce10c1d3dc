package dev.keyfob.sample

import android.app.Activity
import android.graphics.Typeface
import android.os.Bundle
import android.view.View
import android.widget.Button
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import dev.keyfob.Claims
import dev.keyfob.EndSession
import dev.keyfob.Keyfob
import dev.keyfob.KeyfobException
import dev.keyfob.SessionState
import dev.keyfob.login
import dev.keyfob.logout
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch

/**
 * Sign in, see who signed in, call servers A and B, refresh, sign out — with the live session
 * state at the top. Plain framework views built in code, so the sample needs nothing but the
 * library and kotlinx-coroutines-android. Nothing here touches storage on the main thread: the
 * state comes from memory, the claims from a `suspend` call.
 */
class MainActivity : Activity() {
    private val scope = MainScope()
    private lateinit var keyfob: Keyfob

    private lateinit var stateView: TextView
    private lateinit var userView: TextView
    private lateinit var errorView: TextView
    private lateinit var outputView: TextView
    private lateinit var signIn: Button
    private lateinit var callA: Button
    private lateinit var callB: Button
    private lateinit var refresh: Button
    private lateinit var signOut: Button

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        setContentView(buildLayout())
        when (val start = (application as SampleApp).start) {
            is SampleStart.Misconfigured -> {
                // The release build pointed at a plain-http issuer: say so, offer nothing else.
                stateView.text = "Cannot sign in"
                errorView.text = start.message
                for (button in listOf(signIn, callA, callB, refresh, signOut)) button.isEnabled = false
                return
            }
            is SampleStart.Ready -> keyfob = start.keyfob
        }
        scope.launch { keyfob.state.collect(::render) }
        scope.launch {
            // Logins completed in the background (the app was restarted while the browser was open).
            keyfob.loginError.collect { e -> e?.let { errorView.text = "Sign-in failed: ${describe(it)}" } }
        }
    }

    override fun onResume() {
        super.onResume()
        // After the device was unlocked, a session that could not be read can be read now.
        if (::keyfob.isInitialized && keyfob.state.value == SessionState.STORAGE_UNAVAILABLE) {
            scope.launch { runCatching { keyfob.restore() } }
        }
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    private fun render(state: SessionState) {
        stateView.text = "Session: " + when (state) {
            SessionState.RESTORING -> "reading the stored session…"
            SessionState.SIGNED_OUT -> "signed out"
            SessionState.LOGIN_PENDING -> "sign-in in progress"
            SessionState.SIGNED_IN -> "signed in"
            SessionState.NEEDS_RE_LOGIN -> "expired — sign in again"
            SessionState.STORAGE_UNAVAILABLE -> "locked — unlock the device"
        }
        scope.launch { showUser(runCatching { keyfob.claims() }.getOrNull()) }
        val signedIn = state == SessionState.SIGNED_IN
        signIn.isEnabled = !signedIn && state != SessionState.RESTORING
        for (button in listOf(callA, callB, refresh, signOut)) button.isEnabled = signedIn
    }

    private fun showUser(claims: Claims?) {
        userView.text = if (claims == null) {
            "Nobody is signed in."
        } else {
            buildString {
                appendLine(claims.name ?: claims.preferredUsername ?: claims.subject)
                claims.email?.let { appendLine(it) }
                appendLine("sub: ${claims.subject}")
                append("issuer: ${claims.issuer}")
            }
        }
    }

    private fun signIn() = scope.launch {
        errorView.text = ""
        try {
            // Awaited: the Auth Tab / Custom Tab opens over this activity, and we are back here after.
            val claims = keyfob.login(this@MainActivity)
            show("Signed in as ${claims.name ?: claims.subject}.")
        } catch (e: KeyfobException.Cancelled) {
            show("Sign-in cancelled.")
        } catch (e: KeyfobException) {
            errorView.text = "Sign-in failed: ${describe(e)}"
        }
    }

    private fun call(label: String, url: String) = scope.launch {
        show("$label…")
        try {
            val answer = ResourceServers.get(url, keyfob.accessToken())
            show("$label: HTTP ${answer.status}\n${answer.body}")
        } catch (e: KeyfobException) {
            show("$label: ${describe(e)}")
        } catch (e: java.io.IOException) {
            show("$label: ${e.javaClass.simpleName}: ${e.message}")
        }
    }

    private fun refreshNow() = scope.launch {
        try {
            keyfob.refresh()
            show("Tokens refreshed.")
        } catch (e: KeyfobException) {
            show("Refresh: ${describe(e)}")
        }
    }

    private fun signOut() = scope.launch {
        try {
            // Also ends the provider's session in the browser, so the next sign-in asks again.
            val result = keyfob.logout(this@MainActivity)
            val provider = if (result.endSession == EndSession.RETURNED) "provider session ended" else "provider session: ${result.endSession}"
            show(result.revocationError?.let { "Signed out (revocation failed: $it; $provider)." } ?: "Signed out; refresh token revoked; $provider.")
        } catch (e: KeyfobException) {
            show("Sign-out: ${describe(e)}")
        }
    }

    /** What the user should know; an app would decide on the type, as here. */
    private fun describe(e: KeyfobException): String = when (e) {
        is KeyfobException.Network, is KeyfobException.Timeout ->
            "cannot reach the provider (is the testkit running on the host, port 9400?)"
        is KeyfobException.NotSignedIn, is KeyfobException.ReLoginRequired -> "please sign in"
        is KeyfobException.Provider -> "the provider said ${e.error}"
        is KeyfobException.NoBrowser -> "no browser is installed that can show the sign-in page"
        else -> "${e.javaClass.simpleName}: ${e.reason}"
    }

    private fun show(text: String) {
        outputView.text = text
    }

    private fun buildLayout(): View {
        val pad = (16 * resources.displayMetrics.density).toInt()
        val column = LinearLayout(this).apply {
            orientation = LinearLayout.VERTICAL
            setPadding(pad, pad, pad, pad)
        }
        fun text(size: Float, mono: Boolean = false) = TextView(this).apply {
            textSize = size
            setTextIsSelectable(true)
            if (mono) typeface = Typeface.MONOSPACE
            setPadding(0, pad / 2, 0, pad / 2)
        }.also(column::addView)
        fun button(label: String, action: () -> Unit) = Button(this).apply {
            text = label
            setOnClickListener { action() }
        }.also(column::addView)

        stateView = text(20f)
        userView = text(16f)
        errorView = text(14f).apply { setTextColor(0xFFB00020.toInt()) }
        signIn = button("Sign in") { signIn() }
        callA = button("Call server A (customers)") { call("Server A", SampleConfig.SERVER_A) }
        callB = button("Call server B (orders)") { call("Server B", SampleConfig.SERVER_B) }
        refresh = button("Refresh tokens") { refreshNow() }
        signOut = button("Sign out") { signOut() }
        outputView = text(13f, mono = true)
        return ScrollView(this).apply { addView(column) }
    }
}
