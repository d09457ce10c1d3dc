package dev.keyfob.sample

import android.app.Activity
import android.graphics.Typeface
import android.os.Bundle
import android.view.View
import android.widget.Button
import android.widget.LinearLayout
import android.widget.ScrollView
import android.widget.TextView
import dev.keyfob.Keyfob
import dev.keyfob.KeyfobException
import dev.keyfob.SessionState
import dev.keyfob.login
import kotlinx.coroutines.MainScope
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch

/**
 * Sign in, see who signed in, call servers A and B, refresh, sign out — with the live session
 * state at the top. Plain framework views built in code, so the sample needs nothing but the
 * library and kotlinx-coroutines-android.
 */
class MainActivity : Activity() {
    private val scope = MainScope()
    private val keyfob: Keyfob get() = (application as SampleApp).keyfob

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
        scope.launch { keyfob.state.collect(::render) }
        scope.launch {
            keyfob.loginError.collect { e -> errorView.text = e?.let { "Sign-in failed: ${describe(it)}" }.orEmpty() }
        }
    }

    override fun onResume() {
        super.onResume()
        // After the device was unlocked, a session that could not be read can be read now.
        if (keyfob.state.value == SessionState.STORAGE_UNAVAILABLE) {
            scope.launch { runCatching { keyfob.restore() } }
        }
    }

    override fun onDestroy() {
        scope.cancel()
        super.onDestroy()
    }

    private fun render(state: SessionState) {
        stateView.text = "Session: " + when (state) {
            SessionState.SIGNED_OUT -> "signed out"
            SessionState.LOGIN_PENDING -> "sign-in in progress"
            SessionState.SIGNED_IN -> "signed in"
            SessionState.NEEDS_RE_LOGIN -> "expired — sign in again"
            SessionState.STORAGE_UNAVAILABLE -> "locked — unlock the device"
        }
        val claims = keyfob.claims
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
        val signedIn = state == SessionState.SIGNED_IN
        signIn.isEnabled = !signedIn
        for (button in listOf(callA, callB, refresh, signOut)) button.isEnabled = signedIn
    }

    private fun signIn() = scope.launch {
        try {
            keyfob.login(this@MainActivity)
        } catch (e: KeyfobException) {
            show("Cannot start the sign-in: ${describe(e)}")
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
            val result = keyfob.logout()
            show(result.revocationError?.let { "Signed out (revocation failed: $it)." } ?: "Signed out; refresh token revoked.")
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
