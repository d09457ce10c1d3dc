package dev.keyfob.sample

import dev.keyfob.KeyfobConfig

/**
 * Where the sample signs in: the testkit provider and servers A and B running on the development
 * machine, which the Android emulator reaches as 10.0.2.2. Start them with
 *
 * ```
 * cargo run -p keyfob-cli -- testkit --host 0.0.0.0 --port 9400 --public-host 10.0.2.2
 * ```
 *
 * For a real provider: its issuer, the client id it registered for the app, and a redirect URI
 * whose scheme is `keyfobRedirectScheme` in app/build.gradle.kts.
 */
object SampleConfig {
    /** The host machine as seen from the emulator. */
    const val HOST = "10.0.2.2"
    const val ISSUER = "http://$HOST:9400"
    const val SERVER_A = "http://$HOST:9401/api/customers"
    const val SERVER_B = "http://$HOST:9402/api/orders"
    const val CLIENT_ID = "keyfob-demo"

    /**
     * Registered by the testkit by default (RFC 8252 private-use scheme). Not the app's
     * applicationId, so the app's manifest adds this scheme to `KeyfobRedirectActivity`.
     */
    const val REDIRECT_URI = "com.example.app:/callback"

    /** Where the testkit sends the browser after ending its session (`keyfob.logout(activity)`). */
    const val POST_LOGOUT_REDIRECT_URI = "com.example.app:/signed-out"

    fun keyfobConfig(debuggable: Boolean) = KeyfobConfig(
        issuer = ISSUER,
        clientId = CLIENT_ID,
        redirectUri = REDIRECT_URI,
        scopes = listOf("email", "profile", "offline_access"),
        postLogoutRedirectUri = POST_LOGOUT_REDIRECT_URI,
        // DEVELOPMENT ONLY: plain http to the testkit on the host. Never in a release build, where
        // Keyfob requires https (and the release network security config forbids cleartext).
        allowInsecureHttpHosts = if (debuggable) listOf(HOST) else emptyList(),
    )
}
