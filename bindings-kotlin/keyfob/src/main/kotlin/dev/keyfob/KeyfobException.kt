package dev.keyfob

import dev.keyfob.ffi.FfiException
import dev.keyfob.ffi.InternalException
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * Every failure of a [Keyfob] call: one subclass per stable kind of the core's error, so an app
 * can `when` over them exhaustively.
 *
 * [reason] is for developers and logs; it never contains a token, code or verifier. Decide on
 * the subclass (or [isRetryable] / [requiresSignIn]), never on the text.
 */
public sealed class KeyfobException(
    /** What went wrong, for developers. */
    public val reason: String,
    cause: Throwable?,
) : Exception(reason, cause) {

    /**
     * Trying again later may succeed (network, timeout, 5xx/429, storage unavailable). Decided by
     * the Rust core, the same way for Rust, Swift and Kotlin; [Cancelled] and [NoBrowser], which
     * only this layer raises, are neither retryable nor a reason to sign in.
     */
    public val isRetryable: Boolean get() = toGenerated()?.isRetryable() ?: false

    /**
     * The user has to sign in (again) before tokens can be had: nobody is signed in, the refresh
     * token was rejected, or the stored session is lost. Decided by the Rust core.
     */
    public val requiresSignIn: Boolean get() = toGenerated()?.requiresSignIn() ?: false

    /** The configuration is invalid (thrown when the [Keyfob] is created). */
    public class Config(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** An endpoint is not HTTPS (plain HTTP only for loopback hosts). */
    public class InsecureUrl(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** No complete HTTP response (connection, DNS, TLS). */
    public class Network(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** A request timed out. */
    public class Timeout(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** An unexpected HTTP [status]; retryable for 5xx and 429. */
    public class HttpStatus(
        /** The HTTP status code. */
        public val status: Int,
        reason: String,
        cause: Throwable? = null,
        /**
         * How long the provider asked to wait before trying again (`Retry-After` of a 429 or 503,
         * at most a day), or `null` when it did not say.
         */
        public val retryAfter: Duration? = null,
    ) : KeyfobException(reason, cause)

    /** An OAuth error from the provider; [error] is its code (`access_denied`, `invalid_grant`, …). */
    public class Provider(
        /** The OAuth error code. */
        public val error: String,
        reason: String,
        cause: Throwable? = null,
    ) : KeyfobException(reason, cause)

    /** A malformed provider response (bad JSON, missing or mistyped fields, too large). */
    public class InvalidResponse(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** The provider's discovery document is unusable (issuer mismatch, missing endpoint, no S256). */
    public class Discovery(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** The redirect URL is not a valid callback for this client. */
    public class InvalidCallback(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** The callback's `state` does not match the pending login (a forged or stale callback). */
    public class StateMismatch(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** The callback's `iss` is missing or names another issuer (RFC 9207 mix-up defence). */
    public class IssuerMismatch(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** No login is pending for this callback (never started, already used, or expired). */
    public class NoPendingLogin(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** The ID token failed [check]. */
    public class IdToken(
        /** The check that failed. */
        public val check: IdTokenCheck,
        reason: String,
        cause: Throwable? = null,
    ) : KeyfobException(reason, cause)

    /** Nobody is signed in. */
    public class NotSignedIn(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /** The provider rejected the refresh token; the session was cleared. */
    public class ReLoginRequired(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /**
     * The secure storage failed. [StorageErrorKind.UNAVAILABLE] (device locked) is retryable and
     * the session is not gone; [StorageErrorKind.KEY_INVALIDATED], [StorageErrorKind.CORRUPT] and
     * [StorageErrorKind.FOREIGN] (the stored session is another issuer's or client's)
     * mean it is ([requiresSignIn]).
     */
    public class Storage(
        /** How the storage failed. */
        public val kind: StorageErrorKind,
        reason: String,
        cause: Throwable? = null,
    ) : KeyfobException(reason, cause)

    /** A bug, or a platform callback (transport, storage) that failed unexpectedly. */
    public class Internal(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /**
     * The user came back from the browser without signing in (closed the tab, pressed back), or
     * the Auth Tab could not verify the app's https redirect. The pending login was cleared: the
     * state is back to where it was before the login began.
     */
    public class Cancelled(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /**
     * No browser on the device can open the sign-in page (or none that the app's browser policy
     * allows). Checked before anything is stored; a browser that disappears between the check and
     * the launch also ends here, with the pending login cleared.
     */
    public class NoBrowser(reason: String, cause: Throwable? = null) : KeyfobException(reason, cause)

    /**
     * This exception as the generated error, whose methods carry the core's classification;
     * `null` for the kinds only this layer raises ([Cancelled], [NoBrowser]).
     */
    internal fun toGenerated(): FfiException? = when (this) {
        is Config -> FfiException.Config(reason)
        is InsecureUrl -> FfiException.InsecureUrl(reason)
        is Network -> FfiException.Network(reason)
        is Timeout -> FfiException.Timeout(reason)
        is HttpStatus -> FfiException.HttpStatus(
            status.coerceIn(0, UShort.MAX_VALUE.toInt()).toUShort(),
            retryAfter?.inWholeSeconds?.coerceIn(0, UInt.MAX_VALUE.toLong())?.toUInt(),
            reason,
        )
        is Provider -> FfiException.Provider(error, reason)
        is InvalidResponse -> FfiException.InvalidResponse(reason)
        is Discovery -> FfiException.Discovery(reason)
        is InvalidCallback -> FfiException.InvalidCallback(reason)
        is StateMismatch -> FfiException.StateMismatch(reason)
        is IssuerMismatch -> FfiException.IssuerMismatch(reason)
        is NoPendingLogin -> FfiException.NoPendingLogin(reason)
        is IdToken -> FfiException.IdToken(check.sameNamed(), reason)
        is NotSignedIn -> FfiException.NotSignedIn(reason)
        is ReLoginRequired -> FfiException.ReLoginRequired(reason)
        is Storage -> FfiException.Storage(kind.sameNamed(), reason)
        is Internal -> FfiException.Internal(reason)
        is Cancelled, is NoBrowser -> null
    }

    internal companion object {
        /** The one place where the generated errors become the public ones. */
        fun from(e: FfiException): KeyfobException = when (e) {
            is FfiException.Config -> Config(e.reason, e)
            is FfiException.InsecureUrl -> InsecureUrl(e.reason, e)
            is FfiException.Network -> Network(e.reason, e)
            is FfiException.Timeout -> Timeout(e.reason, e)
            is FfiException.HttpStatus ->
                HttpStatus(e.status.toInt(), e.reason, e, e.retryAfterSeconds?.toLong()?.seconds)
            is FfiException.Provider -> Provider(e.error, e.reason, e)
            is FfiException.InvalidResponse -> InvalidResponse(e.reason, e)
            is FfiException.Discovery -> Discovery(e.reason, e)
            is FfiException.InvalidCallback -> InvalidCallback(e.reason, e)
            is FfiException.StateMismatch -> StateMismatch(e.reason, e)
            is FfiException.IssuerMismatch -> IssuerMismatch(e.reason, e)
            is FfiException.NoPendingLogin -> NoPendingLogin(e.reason, e)
            is FfiException.IdToken -> IdToken(e.check.sameNamed(), e.reason, e)
            is FfiException.NotSignedIn -> NotSignedIn(e.reason, e)
            is FfiException.ReLoginRequired -> ReLoginRequired(e.reason, e)
            is FfiException.Storage -> Storage(e.kind.sameNamed(), e.reason, e)
            is FfiException.Internal -> Internal(e.reason, e)
        }

        /** Runs [block], turning the generated errors (and a Rust panic) into [KeyfobException]s. */
        inline fun <T> translate(block: () -> T): T = try {
            block()
        } catch (e: FfiException) {
            throw from(e)
        } catch (e: InternalException) {
            throw Internal("the Keyfob library failed: ${e.message}", e)
        }
    }
}

/** Which ID token check failed, in [KeyfobException.IdToken]. */
public enum class IdTokenCheck {
    /** Not a compact JWS (three base64url parts with JSON header and claims). */
    MALFORMED,

    /** `alg` is not one of RS256, PS256, ES256 (e.g. `none` or HS256), or a `crit` header is set. */
    ALGORITHM,

    /** No key in the provider's JWKS matches the token's `kid` and `alg`, even after a refetch. */
    UNKNOWN_KEY,

    /** The signature does not verify. */
    SIGNATURE,

    /** A required claim is missing. */
    MISSING_CLAIM,

    /** A claim has the wrong JSON type. */
    CLAIM_TYPE,

    /** `iss` is not the provider's issuer. */
    ISSUER,

    /** `aud` does not contain this client. */
    AUDIENCE,

    /** `azp` names another client. */
    AUTHORIZED_PARTY,

    /** `exp` has passed (beyond the allowed skew). */
    EXPIRED,

    /** `iat` is in the future (beyond the allowed skew). */
    ISSUED_IN_FUTURE,

    /** `nonce` does not match the login's. */
    NONCE,

    /** A refreshed ID token names another user (`sub`) than the session's. */
    SUBJECT_CHANGED,
}

/** How storage failed, in [KeyfobException.Storage]. */
public enum class StorageErrorKind {
    /** Not readable now (device locked, user not authenticated): retry later; the session is kept. */
    UNAVAILABLE,

    /** The protecting key was invalidated (lock screen changed, biometrics changed): sign in again. */
    KEY_INVALIDATED,

    /** The stored bytes are unreadable: sign in again. */
    CORRUPT,

    /**
     * The stored session belongs to another issuer or client id: it is not used (and left as it
     * is until a sign-in replaces it); sign in for this client.
     */
    FOREIGN,

    /** Anything else (I/O error, full disk, Keystore failure). */
    FAILED,
}

/**
 * The constant of [E] with this constant's name: the public enums mirror the generated ones name
 * for name (a test checks every generated constant has its twin).
 */
internal inline fun <reified E : Enum<E>> Enum<*>.sameNamed(): E = enumValueOf(name)
