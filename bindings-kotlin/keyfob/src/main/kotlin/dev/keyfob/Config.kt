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
 * @property refreshMarginSecs access tokens with less than this left are due for a refresh, at most
 *   600 seconds; a token that lives shorter than twice this is due after half its lifetime (a 10 s
 *   token: after 5 s).
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
     * Refresh-ahead (on by default): [Keyfob.accessToken] returns a token that is due for a refresh
     * but not expired at once, while one refresh runs in the client's coroutine scope; a failed
     * one changes nothing until the token expires. Off: callers wait for the refresh of a due token.
     */
    val refreshAhead: Boolean = true,
    /**
     * Push authorization requests (RFC 9126) whenever the provider offers it, so that the browser
     * carries only `client_id` and a `request_uri`. Off by default: then they are pushed only
     * when the provider requires it.
     */
    val pushAuthorizationRequests: Boolean = false,
    /**
     * The APIs the app calls, by RFC 8707 resource indicator (e.g. `https://crm.company.com`):
     * sent with the sign-in, listed in [Tokens.resources], and what [Keyfob.accessTokenFor] gets
     * narrower tokens for.
     */
    val resources: List<String> = emptyList(),
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
        refreshAhead = refreshAhead,
        allowInsecureHttpHosts = allowInsecureHttpHosts.toList(),
        multipleAccounts = multipleAccounts,
        metadataMaxAgeSecs = seconds("metadataMaxAgeSecs", metadataMaxAgeSecs),
        metadataMinAgeSecs = seconds("metadataMinAgeSecs", metadataMinAgeSecs),
        pushedAuthorizationRequests = pushAuthorizationRequests,
        resources = resources.toList(),
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
 * Per-login options. A step-up ("sign in again, now, with a stronger method, before this
 * transfer") sets [maxAgeSecs] (`0`: authenticate now) and [acrValues] with [requireAcr]: the
 * login then fails with [KeyfobException.IdToken] ([IdTokenCheck.AUTH_TIME] or
 * [IdTokenCheck.ACR]) unless the provider's ID token shows that authentication, and the previous
 * session stays as it was.
 *
 * @property prompt `login`, `consent`, `select_account` or `none`; with `login`, an `auth_time`
 *   from before the login began fails it.
 * @property loginHint prefills the user name at the provider.
 * @property extraParams further parameters (e.g. `ui_locales`).
 * @property maxAgeSecs `max_age`: the user must have authenticated at most this many seconds ago.
 * @property acrValues `acr_values`: the authentication context classes asked for, in order of
 *   preference.
 * @property requireAcr the ID token's `acr` must be one of [acrValues].
 */
public data class LoginOptions @JvmOverloads constructor(
    val prompt: String? = null,
    val loginHint: String? = null,
    val extraParams: List<AuthParam> = emptyList(),
    val maxAgeSecs: Int? = null,
    val acrValues: List<String> = emptyList(),
    val requireAcr: Boolean = false,
) {
    internal fun toFfi(): KeyfobLoginOptions {
        val maxAge = maxAgeSecs?.let {
            if (it < 0) throw KeyfobException.Config("maxAgeSecs must not be negative, not $it")
            it.toUInt()
        }
        return KeyfobLoginOptions(prompt, loginHint, extraParams.map(AuthParam::toFfi), maxAge, acrValues.toList(), requireAcr)
    }
}
