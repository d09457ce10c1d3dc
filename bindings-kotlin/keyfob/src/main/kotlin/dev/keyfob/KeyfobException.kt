package dev.keyfob

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
     * the Rust core, the same way for Rust, Swift and Kotlin.
     */
    public val isRetryable: Boolean get() = toGenerated().isRetryable()

    /**
     * The user has to sign in (again) before tokens can be had: nobody is signed in, the refresh
     * token was rejected, or the stored session is lost. Decided by the Rust core.
     */
    public val requiresSignIn: Boolean get() = toGenerated().requiresSignIn()

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
     * the session is not gone; [StorageErrorKind.KEY_INVALIDATED] and [StorageErrorKind.CORRUPT]
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

    /** This exception as the generated error, whose methods carry the core's classification. */
    internal fun toGenerated(): dev.keyfob.ffi.KeyfobException = when (this) {
        is Config -> dev.keyfob.ffi.KeyfobException.Config(reason)
        is InsecureUrl -> dev.keyfob.ffi.KeyfobException.InsecureUrl(reason)
        is Network -> dev.keyfob.ffi.KeyfobException.Network(reason)
        is Timeout -> dev.keyfob.ffi.KeyfobException.Timeout(reason)
        is HttpStatus -> dev.keyfob.ffi.KeyfobException.HttpStatus(
            status.coerceIn(0, UShort.MAX_VALUE.toInt()).toUShort(),
            retryAfter?.inWholeSeconds?.coerceIn(0, UInt.MAX_VALUE.toLong())?.toUInt(),
            reason,
        )
        is Provider -> dev.keyfob.ffi.KeyfobException.Provider(error, reason)
        is InvalidResponse -> dev.keyfob.ffi.KeyfobException.InvalidResponse(reason)
        is Discovery -> dev.keyfob.ffi.KeyfobException.Discovery(reason)
        is InvalidCallback -> dev.keyfob.ffi.KeyfobException.InvalidCallback(reason)
        is StateMismatch -> dev.keyfob.ffi.KeyfobException.StateMismatch(reason)
        is IssuerMismatch -> dev.keyfob.ffi.KeyfobException.IssuerMismatch(reason)
        is NoPendingLogin -> dev.keyfob.ffi.KeyfobException.NoPendingLogin(reason)
        is IdToken -> dev.keyfob.ffi.KeyfobException.IdToken(check, reason)
        is NotSignedIn -> dev.keyfob.ffi.KeyfobException.NotSignedIn(reason)
        is ReLoginRequired -> dev.keyfob.ffi.KeyfobException.ReLoginRequired(reason)
        is Storage -> dev.keyfob.ffi.KeyfobException.Storage(kind, reason)
        is Internal -> dev.keyfob.ffi.KeyfobException.Internal(reason)
    }

    internal companion object {
        /** The one place where the generated errors become the public ones. */
        fun from(e: dev.keyfob.ffi.KeyfobException): KeyfobException = when (e) {
            is dev.keyfob.ffi.KeyfobException.Config -> Config(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.InsecureUrl -> InsecureUrl(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.Network -> Network(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.Timeout -> Timeout(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.HttpStatus ->
                HttpStatus(e.status.toInt(), e.reason, e, e.retryAfterSeconds?.toLong()?.seconds)
            is dev.keyfob.ffi.KeyfobException.Provider -> Provider(e.error, e.reason, e)
            is dev.keyfob.ffi.KeyfobException.InvalidResponse -> InvalidResponse(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.Discovery -> Discovery(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.InvalidCallback -> InvalidCallback(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.StateMismatch -> StateMismatch(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.IssuerMismatch -> IssuerMismatch(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.NoPendingLogin -> NoPendingLogin(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.IdToken -> IdToken(e.check, e.reason, e)
            is dev.keyfob.ffi.KeyfobException.NotSignedIn -> NotSignedIn(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.ReLoginRequired -> ReLoginRequired(e.reason, e)
            is dev.keyfob.ffi.KeyfobException.Storage -> Storage(e.kind, e.reason, e)
            is dev.keyfob.ffi.KeyfobException.Internal -> Internal(e.reason, e)
        }

        /** Runs [block], turning the generated errors (and a Rust panic) into [KeyfobException]s. */
        inline fun <T> translate(block: () -> T): T = try {
            block()
        } catch (e: dev.keyfob.ffi.KeyfobException) {
            throw from(e)
        } catch (e: InternalException) {
            throw Internal("the Keyfob library failed: ${e.message}", e)
        }
    }
}
