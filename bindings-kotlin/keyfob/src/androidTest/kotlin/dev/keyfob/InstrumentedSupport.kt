package dev.keyfob

import android.app.Activity
import android.content.Intent
import android.net.Uri
import android.os.Bundle
import java.net.HttpURLConnection
import java.net.URL
import kotlin.concurrent.thread

/**
 * The testkit on the emulator's host (started by .github/workflows/android.yml with
 * `--public-host 10.0.2.2 --redirect-uri dev.keyfob.test:/callback`).
 */
object HostTestkit {
    const val ISSUER = "http://10.0.2.2:9400"
    const val CRM = "http://10.0.2.2:9401/api/customers"

    /** This test APK's applicationId is the scheme the library's manifest registers. */
    const val REDIRECT_URI = "dev.keyfob.test:/callback"

    fun config() = KeyfobConfig(
        issuer = ISSUER,
        clientId = "keyfob-demo",
        redirectUri = REDIRECT_URI,
        scopes = listOf("email", "offline_access"),
        allowInsecureHttpHosts = listOf("10.0.2.2"),
    )

    /** What a browser does with the authorization URL: the testkit signs in at once and redirects. */
    fun follow(url: String): String {
        val c = URL(url).openConnection() as HttpURLConnection
        c.instanceFollowRedirects = false
        check(c.responseCode in 300..399) { "the authorization endpoint answered ${c.responseCode}" }
        return c.getHeaderField("Location") ?: error("no Location")
    }

    fun status(url: String, token: String): Int {
        val c = URL(url).openConnection() as HttpURLConnection
        c.setRequestProperty("Authorization", "Bearer $token")
        return c.responseCode
    }
}

/** An empty activity to log in from. */
class HostActivity : Activity()

/**
 * A stand-in browser: with [behaviour] REDIRECT it fetches the page like a browser and opens the
 * deep link the provider redirects to; with CLOSE it closes as a user pressing back would.
 */
class StandInBrowserActivity : Activity() {
    enum class Behaviour { REDIRECT, CLOSE }

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val url = intent.dataString
        if (behaviour == Behaviour.CLOSE || url == null) {
            finish()
            return
        }
        thread {
            val deepLink = HostTestkit.follow(url)
            runOnUiThread {
                startActivity(Intent(Intent.ACTION_VIEW, Uri.parse(deepLink)).addCategory(Intent.CATEGORY_BROWSABLE))
                finish()
            }
        }
    }

    companion object {
        @Volatile
        var behaviour: Behaviour = Behaviour.REDIRECT

        /** The policy that picks this stand-in (the test APK's package) over any real browser. */
        val OPTIONS = BrowserOptions(allowList = listOf(AllowedBrowser("dev.keyfob.test", emptySet())))
    }
}
