package dev.keyfob

import dev.keyfob.ffi.KeyfobLoginOptions

/**
 * The client configuration. Validated by the core when a [Keyfob] is created: an invalid value
 * throws [KeyfobException.Config], a plain `http` issuer [KeyfobException.InsecureUrl].
 *
 * @property issuer the issuer, exactly as in the provider's discovery document.
 * @property clientId the public client's identifier at the provider.
 * @property redirectUri where the provider sends the browser back: `com.example.app:/callback`
 *   (on Android, by default the library receives the app's `applicationId` as scheme), or an
 *   `https` App Link the app declares for `KeyfobRedirectActivity`.
 * @property scopes scopes besides `openid` (always sent), e.g. `email`, `offline_access`.
 * @property postLogoutRedirectUri where the provider sends the browser after an end-session
 *   request, if the app wants it back (`keyfob.logout(activity)` then waits for it).
 * @property extraParams extra authorization request parameters (e.g. `audience`).
 * @property httpTimeoutSecs the timeout of each HTTP request, 1–120 seconds.
 * @property clockSkewSecs the clock skew tolerated for ID token times, at most 300 seconds.
 * @property refreshMarginSecs access tokens with less than this left are refreshed first, at most
 *   600 seconds.
 * @property allowInsecureHttpHosts DEVELOPMENT ONLY: hosts allowed over plain `http` besides
 *   loopback (e.g. `10.0.2.2`, the emulator's host). Leave it empty in release builds.
 * @property metadataMaxAgeSecs the provider's metadata (discovery document and signing keys) is
 *   kept in the storage beside the session, so that a launch with an expired access token costs
 *   one request, the refresh; it is used for at most this many seconds (at most a week) before
 *   it is revalidated, less when the provider's caching headers say so.
 * @property metadataMinAgeSecs ... and for at least this many seconds (at least 1), whatever the
 *   provider's caching headers say (`max-age=0`, `no-cache`, `no-store`).
 */
public data class KeyfobConfig @JvmOverloads constructor(
    val issuer: String,
    val clientId: String,
    val redirectUri: String,
    val scopes: List<String> = emptyList(),
    val postLogoutRedirectUri: String? = null,
    val extraParams: List<AuthParam> = emptyList(),
    val httpTimeoutSecs: Int = 30,
    val clockSkewSecs: Int = 60,
    val refreshMarginSecs: Int = 30,
    val allowInsecureHttpHosts: List<String> = emptyList(),
    /**
     * Keep several accounts signed in at once ([Keyfob.accounts]). Off by default: a sign-in as
     * another user replaces the previous user's session.
     */
    val multipleAccounts: Boolean = false,
    val metadataMaxAgeSecs: Int = 86_400,
    val metadataMinAgeSecs: Int = 60,
    /**
     * Push authorization requests (RFC 9126) whenever the provider offers it, so that the browser
     * carries only `client_id` and a `request_uri`. Off by default: then they are pushed only
     * when the provider requires it.
     */
    val pushAuthorizationRequests: Boolean = false,
) {
    /** The record the core takes; a negative number is a [KeyfobException.Config] here already. */
    internal fun toFfi(): dev.keyfob.ffi.KeyfobConfig = dev.keyfob.ffi.KeyfobConfig(
        issuer = issuer,
        clientId = clientId,
        redirectUri = redirectUri,
        scopes = scopes.toList(),
        postLogoutRedirectUri = postLogoutRedirectUri,
        extraParams = extraParams.map(AuthParam::toFfi),
        httpTimeoutSecs = seconds("httpTimeoutSecs", httpTimeoutSecs),
        clockSkewSecs = seconds("clockSkewSecs", clockSkewSecs),
        refreshMarginSecs = seconds("refreshMarginSecs", refreshMarginSecs),
        allowInsecureHttpHosts = allowInsecureHttpHosts.toList(),
        multipleAccounts = multipleAccounts,
        metadataMaxAgeSecs = seconds("metadataMaxAgeSecs", metadataMaxAgeSecs),
        metadataMinAgeSecs = seconds("metadataMinAgeSecs", metadataMinAgeSecs),
        pushedAuthorizationRequests = pushAuthorizationRequests,
    )

    private fun seconds(name: String, value: Int): UInt {
        if (value < 0) throw KeyfobException.Config("$name must not be negative, not $value")
        return value.toUInt()
    }
}

/** A name/value parameter added to the authorization request. */
public data class AuthParam(val name: String, val value: String) {
    internal fun toFfi(): dev.keyfob.ffi.AuthParam = dev.keyfob.ffi.AuthParam(name, value)
}

/**
 * Per-login options.
 *
 * @property prompt `login`, `consent`, `select_account` or `none`.
 * @property loginHint prefills the user name at the provider.
 * @property extraParams further parameters (e.g. `ui_locales`).
 */
public data class LoginOptions @JvmOverloads constructor(
    val prompt: String? = null,
    val loginHint: String? = null,
    val extraParams: List<AuthParam> = emptyList(),
) {
    internal fun toFfi(): KeyfobLoginOptions =
        KeyfobLoginOptions(prompt, loginHint, extraParams.map(AuthParam::toFfi))
}
