@file:JvmName("KeyfobGrants")

package dev.keyfob

import dev.keyfob.ffi.KeyfobCancellation
import dev.keyfob.ffi.KeyfobDeviceAuthorization
import dev.keyfob.ffi.KeyfobExchangedToken
import dev.keyfob.ffi.KeyfobSubject
import dev.keyfob.ffi.KeyfobTokenExchange
import kotlinx.coroutines.CancellationException

// The grants beyond a browser sign-in: a token for each API (RFC 8707), the user's identity
// traded for another authorization server's token (RFC 8693), and sign-in on a device without a
// browser (RFC 8628). Step-up is part of [LoginOptions].

/**
 * A valid access token for the API [resource] alone (its RFC 8707 resource indicator, e.g.
 * `https://crm.company.com`): a token leaked from one API does not work at another. The first call
 * gets it with the refresh token (no new login) and keeps it with the session; later calls answer
 * from memory until it is about to expire. Concurrent callers for the same API share one request;
 * [Keyfob.accessToken] is not affected. Throws [KeyfobException.Provider] `invalid_target` when the
 * grant does not cover that API (the session stays). Runs to completion even if the caller is
 * cancelled (the refresh token may rotate).
 */
public suspend fun Keyfob.accessTokenFor(resource: String): String = call { it.accessToken(resource = resource) }

/**
 * Trades the signed-in user's identity for an access token of the authorization server
 * [TokenExchange.issuer] (RFC 8693), now, and keeps it under that issuer: the seed's external
 * identity, internal authorization. Throws [KeyfobException.Provider] `invalid_grant` when that
 * server rejects the identity (forged, expired, another issuer's), `invalid_target` for an
 * audience or resource it does not serve; [KeyfobException.Discovery] when its discovery document
 * is unusable. The session itself is not changed by an exchange.
 */
public suspend fun Keyfob.exchange(request: TokenExchange): ExchangedToken =
    call { ExchangedToken.from(it.exchange(request.toFfi(), null)) }

/**
 * A valid token of the exchange [request]: the one kept from the last exchange while it is fresh,
 * else refreshed at that server, else exchanged again.
 */
public suspend fun Keyfob.exchangedAccessToken(request: TokenExchange): String =
    call { it.exchangedAccessToken(request.toFfi()) }

/**
 * Starts a device login (RFC 8628) and returns what to show the user: the code and where to enter
 * it, or [DeviceAuthorization.verificationUriComplete] for a QR code. Then call
 * [completeDeviceLogin].
 */
public suspend fun Keyfob.beginDeviceLogin(): DeviceAuthorization =
    call { DeviceAuthorization.from(it.beginDeviceLogin()) }

/**
 * Waits until the user approved the device login on another device (polling at the provider's
 * interval, 5 s more after each `slow_down`), then stores the session and returns the user's
 * claims. Throws [KeyfobException.Provider] `access_denied` or `expired_token`. Cancelling the
 * calling coroutine stops the polling (the device login stays under way).
 */
public suspend fun Keyfob.completeDeviceLogin(): Claims {
    val cancellation = KeyfobCancellation()
    try {
        return call { Claims.from(it.completeDeviceLogin(cancellation)) }
    } catch (e: CancellationException) {
        cancellation.cancel()
        throw e
    }
}

/** Gives up the device login under way; returns whether there was one. */
public suspend fun Keyfob.cancelDeviceLogin(): Boolean = call { it.cancelDeviceLogin() }

/**
 * A token exchange (RFC 8693) with a second authorization server, for the active account.
 *
 * @property issuer the second server's issuer, exactly as its discovery document names it.
 * @property clientId this app's client id at that server.
 * @property subject what proves who the user is (the session's ID token by default).
 * @property audience `audience` values.
 * @property resources `resource` values: the APIs the token is for.
 * @property scopes `scope` values: the permissions asked for.
 * @property requestedTokenType `requested_token_type`; `null` leaves the choice to the server.
 * @property actor the token of a party acting for the user (delegation), with its token type URI;
 *   `toString()` hides the token.
 */
public data class TokenExchange @JvmOverloads constructor(
    val issuer: String,
    val clientId: String,
    val subject: Subject = Subject.IdToken,
    val audience: List<String> = emptyList(),
    val resources: List<String> = emptyList(),
    val scopes: List<String> = emptyList(),
    val requestedTokenType: String? = null,
    val actor: Subject.Token? = null,
) {
    /** What a token exchange sends as proof of who the user is. */
    public sealed class Subject {
        /** The session's ID token (refreshed first when it has expired). */
        public object IdToken : Subject()

        /** The session's access token (refreshed first when needed). */
        public object AccessToken : Subject()

        /** A token the app holds from elsewhere, with its RFC 8693 token type URI. */
        public data class Token(val token: String, val tokenType: String) : Subject() {
            override fun toString(): String = "Token(tokenType=$tokenType)"
        }
    }

    internal fun toFfi(): KeyfobTokenExchange = KeyfobTokenExchange(
        issuer = issuer,
        clientId = clientId,
        subject = when (subject) {
            Subject.IdToken -> KeyfobSubject.IdToken
            Subject.AccessToken -> KeyfobSubject.AccessToken
            is Subject.Token -> KeyfobSubject.Token(subject.token, subject.tokenType)
        },
        actorToken = actor?.token,
        actorTokenType = actor?.tokenType,
        audience = audience.toList(),
        resource = resources.toList(),
        scope = scopes.toList(),
        requestedTokenType = requestedTokenType,
    )
}

/**
 * The outcome of [exchange]. [accessToken] is a secret: `toString()` hides it.
 *
 * @property accessToken the issued token, for `Authorization: Bearer` at that server's APIs.
 * @property issuedTokenType its type URI (`issued_token_type`).
 * @property expiresAt when it expires, in seconds since the epoch, if the server said.
 * @property scopes the granted scopes (permissions).
 */
public data class ExchangedToken(
    val accessToken: String,
    val issuedTokenType: String,
    val expiresAt: Long?,
    val scopes: List<String>,
) {
    override fun toString(): String =
        "ExchangedToken(issuedTokenType=$issuedTokenType, expiresAt=$expiresAt, scopes=$scopes)"

    internal companion object {
        fun from(t: KeyfobExchangedToken): ExchangedToken =
            ExchangedToken(t.accessToken, t.issuedTokenType, t.expiresAt, t.scopes.toList())
    }
}

/**
 * What a device login shows the user (RFC 8628).
 *
 * @property userCode the code the user enters at [verificationUri].
 * @property verificationUri where the user approves, on a phone or computer.
 * @property verificationUriComplete the same page with the code in it, for a QR code, when the
 *   provider offers one.
 * @property expiresAt when the codes expire, in seconds since the epoch.
 * @property intervalSecs seconds between two polls.
 */
public data class DeviceAuthorization(
    val userCode: String,
    val verificationUri: String,
    val verificationUriComplete: String?,
    val expiresAt: Long,
    val intervalSecs: Long,
) {
    internal companion object {
        fun from(d: KeyfobDeviceAuthorization): DeviceAuthorization = DeviceAuthorization(
            d.userCode, d.verificationUri, d.verificationUriComplete, d.expiresAt, d.intervalSecs.toLong(),
        )
    }
}
