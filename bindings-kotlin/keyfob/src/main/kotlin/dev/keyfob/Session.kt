package dev.keyfob

import dev.keyfob.ffi.KeyfobClaims
import dev.keyfob.ffi.KeyfobTokens

/** Where the session stands, as [Keyfob.state] tells it. */
public enum class SessionState {
    /**
     * Just created: the stored session is being read in the background (never on the caller's
     * thread). Every call waits for it; the state moves on by itself within a moment.
     */
    RESTORING,

    /** No session and no login under way. */
    SIGNED_OUT,

    /** A login was started and waits for the browser to come back. */
    LOGIN_PENDING,

    /** Signed in: [Keyfob.accessToken] returns a token, refreshing when needed. */
    SIGNED_IN,

    /**
     * The session ended without the user signing out: the provider rejected the refresh token,
     * or the key protecting the stored session was invalidated (lock screen changed). Sign in again.
     */
    NEEDS_RE_LOGIN,

    /** The stored session cannot be read right now (device locked); it is not gone: [Keyfob.restore] later. */
    STORAGE_UNAVAILABLE,
    ;

    internal companion object {
        fun from(state: dev.keyfob.ffi.SessionState): SessionState = state.sameNamed()
    }
}

/**
 * The validated ID token claims of the signed-in user. Times are seconds since the epoch.
 *
 * @property issuer `iss`.
 * @property subject `sub`: the user's stable identifier at the provider.
 * @property audience `aud`.
 * @property expiresAt `exp` of the ID token.
 * @property issuedAt `iat`.
 * @property authTime `auth_time`, when present.
 * @property email `email`.
 * @property emailVerified `email_verified`.
 * @property name `name`.
 * @property preferredUsername `preferred_username`.
 * @property extraJson all other claims, as a JSON object text.
 * @property acr `acr`, when present: the authentication context class the authentication
 *   satisfied (see [LoginOptions.acrValues]).
 */
public data class Claims(
    val issuer: String,
    val subject: String,
    val audience: List<String>,
    val expiresAt: Long,
    val issuedAt: Long,
    val authTime: Long?,
    val email: String?,
    val emailVerified: Boolean?,
    val name: String?,
    val preferredUsername: String?,
    val extraJson: String,
    val acr: String? = null,
) {
    internal companion object {
        fun from(c: KeyfobClaims): Claims = Claims(
            c.issuer, c.subject, c.audience.toList(), c.expiresAt, c.issuedAt, c.authTime,
            c.email, c.emailVerified, c.name, c.preferredUsername, c.extraJson, c.acr,
        )
    }
}

/**
 * The signed-in session's tokens, for an app that sends the ID token to its own backend or shows
 * when the session expires. Every string but [tokenType] is a secret: `toString()` shows none of
 * them; never log them. For API calls prefer [Keyfob.accessToken], which refreshes.
 *
 * @property accessToken the access token, for `Authorization: Bearer`.
 * @property idToken the raw ID token (a JWT) from sign-in or the latest refresh, validated by Keyfob.
 * @property expiresAt when the access token expires, in seconds since the epoch, if the provider said.
 * @property scopes the granted scopes (the requested ones when the provider did not list them).
 * @property tokenType `Bearer`.
 * @property resources the APIs the sign-in asked access for ([KeyfobConfig.resources]).
 */
public data class Tokens(
    val accessToken: String,
    val idToken: String,
    val expiresAt: Long?,
    val scopes: List<String>,
    val tokenType: String,
    val resources: List<String> = emptyList(),
) {
    override fun toString(): String =
        "Tokens(expiresAt=$expiresAt, scopes=$scopes, tokenType=$tokenType, resources=$resources)"

    internal companion object {
        fun from(t: KeyfobTokens): Tokens =
            Tokens(t.accessToken, t.idToken, t.expiresAt, t.scopes.toList(), t.tokenType, t.resources.toList())
    }
}

/**
 * One signed-in account ([Keyfob.accounts]).
 *
 * @property claims its validated ID token claims; `claims.subject` identifies the account.
 * @property active whether it is the active account, the one [Keyfob.accessToken] uses.
 */
public data class Account(val claims: Claims, val active: Boolean) {
    internal companion object {
        fun from(a: dev.keyfob.ffi.KeyfobAccount): Account = Account(Claims.from(a.claims), a.active)
    }
}

/** What happened to the provider's own browser session in [Keyfob.logout] with a browser. */
public enum class EndSession {
    /** Not attempted: a plain [Keyfob.logout], or the provider has no end-session endpoint. */
    NOT_REQUESTED,

    /** The provider ended its session and sent the browser back to the post-logout redirect URI. */
    RETURNED,

    /** The browser came back without the post-logout redirect (closed, or no redirect URI configured). */
    CLOSED,

    /** A post-logout redirect came back with another `state` than the one sent: not this request's answer. */
    STATE_MISMATCH,

    /** No browser could open the end-session page. */
    NO_BROWSER,
}

/**
 * The outcome of a logout. The local session is cleared in every case.
 *
 * @property endSessionUrl the provider's end-session URL, to open in the browser to end its own
 *   session (carries the ID token as `id_token_hint`: `toString()` hides it; never log it).
 * @property endSessionState the `state` sent with [endSessionUrl].
 * @property revocationError why revoking the refresh token failed, if it did.
 * @property refreshTokenRevoked whether the provider accepted the revocation; `false` with no
 *   [revocationError] when there was nothing to revoke it with.
 * @property endSession what the browser step did, for [Keyfob.logout] with a browser.
 */
public data class LogoutResult(
    val endSessionUrl: String?,
    val endSessionState: String?,
    val revocationError: String?,
    val refreshTokenRevoked: Boolean,
    val endSession: EndSession = EndSession.NOT_REQUESTED,
) {
    override fun toString(): String =
        "LogoutResult(endSessionUrl=${if (endSessionUrl == null) "null" else "<hidden>"}, " +
            "revocationError=$revocationError, refreshTokenRevoked=$refreshTokenRevoked, endSession=$endSession)"

    internal companion object {
        fun from(r: dev.keyfob.ffi.LogoutResult): LogoutResult =
            LogoutResult(r.endSessionUrl, r.endSessionState, r.revocationError, r.refreshTokenRevoked)
    }
}

/**
 * The headers for one request to the app's API ([Keyfob.authorizationHeaders]): `Authorization`,
 * and `DPoP` for a DPoP-bound session, by name in the order they are sent. A read-only [Map];
 * the values are secrets, so [toString] shows only the names.
 */
public class AuthorizationHeaders internal constructor(
    private val headers: Map<String, String>,
) : Map<String, String> by headers {
    /** The header names, never a value. */
    override fun toString(): String = "AuthorizationHeaders(names=$keys, values redacted)"

    /** Equal to any map with the same headers, as [Map] requires. */
    override fun equals(other: Any?): Boolean = other is Map<*, *> && headers == other

    override fun hashCode(): Int = headers.hashCode()
}
