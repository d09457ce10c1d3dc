import Foundation
import KeyfobFFI

/// Every failure of a ``KeyfobClient`` call, one case per kind, so that an app can `switch` on
/// what to do: sign in again, retry later, or report a bug.
///
/// `reason` is a message for developers (logs, bug reports). It never contains a token, an
/// authorization code or a PKCE verifier, but it is not meant for end users either.
///
/// A Swift task cancelled while it awaits Keyfob throws `CancellationError`, as Swift APIs do;
/// ``userCancelled`` is the user closing the browser sheet.
public enum KeyfobError: Error, Sendable, Equatable, Hashable {
    /// The configuration is invalid (fix the app).
    case config(reason: String)
    /// An endpoint is not HTTPS and not loopback.
    case insecureURL(reason: String)
    /// No complete HTTP response (no connection, DNS, TLS). Retry later.
    case network(reason: String)
    /// The request timed out. Retry later.
    case timeout(reason: String)
    /// An unexpected HTTP status; retryable for 5xx and 429. `retryAfter`: how long the provider
    /// asked to wait (`Retry-After` of a 429 or 503, at most a day), when it said.
    case httpStatus(status: Int, retryAfter: TimeInterval?, reason: String)
    /// An OAuth error from the provider, e.g. `access_denied` when the user declined.
    case provider(error: String, reason: String)
    /// A malformed response (bad JSON, missing or mistyped fields, too large).
    case invalidResponse(reason: String)
    /// The provider's discovery document is unusable (issuer mismatch, missing endpoint, no S256).
    case discovery(reason: String)
    /// The URL handed to ``KeyfobClient/handleRedirect(_:)`` is not a callback for this client.
    case invalidCallback(reason: String)
    /// The callback's `state` does not match the pending login (a forged or stale callback).
    case stateMismatch(reason: String)
    /// The callback's `iss` is missing or names another provider (RFC 9207 mix-up defence).
    case issuerMismatch(reason: String)
    /// No login is pending for this callback: never started, already completed, or expired.
    case noPendingLogin(reason: String)
    /// The ID token failed `check`.
    case idToken(check: IdTokenCheck, reason: String)
    /// Nobody is signed in.
    case notSignedIn(reason: String)
    /// The provider rejected the refresh token (expired or revoked): sign in again.
    case reLoginRequired(reason: String)
    /// The secure storage failed; `kind` tells whether to retry (`unavailable`) or sign in again.
    case storage(kind: StorageErrorKind, reason: String)
    /// ``KeyfobClient/accessToken(minTTL:isolation:)`` was asked for a token lasting as long as the
    /// provider's tokens live, or longer: ask for less (no refresh can help).
    case minTTLExceedsLifetime(reason: String)
    /// A bug, or a platform callback that failed unexpectedly.
    case `internal`(reason: String)
    /// The user closed the browser sheet without signing in. The pending login was cancelled
    /// (the state is back where it was); nothing to report to the user.
    case userCancelled
    /// A sign-in sheet is already open (e.g. a double tap on "Sign in"); the open one goes on.
    case loginInProgress
    /// The browser sheet could not be shown (no window to present it from, or the system refused).
    case presentationFailed(reason: String)

    /// The message for developers.
    public var reason: String {
        switch self {
        case .config(let reason), .insecureURL(let reason), .network(let reason),
             .timeout(let reason), .httpStatus(_, _, let reason), .provider(_, let reason),
             .invalidResponse(let reason), .discovery(let reason), .invalidCallback(let reason),
             .stateMismatch(let reason), .issuerMismatch(let reason), .noPendingLogin(let reason),
             .idToken(_, let reason), .notSignedIn(let reason), .reLoginRequired(let reason),
             .storage(_, let reason), .minTTLExceedsLifetime(let reason), .internal(let reason),
             .presentationFailed(let reason):
            return reason
        case .userCancelled:
            return "the user closed the browser sheet"
        case .loginInProgress:
            return "a sign-in sheet is already open"
        }
    }

    /// Whether the same call may succeed later without the user doing anything (network
    /// trouble, a provider hiccup, a locked device). Decided by the Rust core, the same way for
    /// Rust, Swift and Kotlin; `false` for the browser-sheet cases, which only the user resolves.
    public var isRetryable: Bool { generated?.isRetryable() ?? false }

    /// How long the provider asked the app to wait before trying again (`Retry-After` of a 429 or
    /// 503), when it said; `nil` for every other error.
    public var retryAfter: TimeInterval? { generated?.retryAfterSecs().map(TimeInterval.init) }

    /// Whether the user has to sign in (again) before an access token can be had: nobody is
    /// signed in, the refresh token was rejected, or the stored session is lost. Decided by the
    /// Rust core, the same way for Rust, Swift and Kotlin; `false` for the browser-sheet cases.
    public var requiresSignIn: Bool { generated?.requiresSignIn() ?? false }
}

extension KeyfobError: LocalizedError, CustomStringConvertible {
    /// The same as ``description``: for developers, not end users.
    public var errorDescription: String? { description }

    /// The kind and its details, e.g. `provider(access_denied): The user declined`.
    public var description: String {
        switch self {
        case .config: return "config: \(reason)"
        case .insecureURL: return "insecureURL: \(reason)"
        case .network: return "network: \(reason)"
        case .timeout: return "timeout: \(reason)"
        case .httpStatus(let status, _, _): return "httpStatus(\(status)): \(reason)"
        case .provider(let error, _): return "provider(\(error)): \(reason)"
        case .invalidResponse: return "invalidResponse: \(reason)"
        case .discovery: return "discovery: \(reason)"
        case .invalidCallback: return "invalidCallback: \(reason)"
        case .stateMismatch: return "stateMismatch: \(reason)"
        case .issuerMismatch: return "issuerMismatch: \(reason)"
        case .noPendingLogin: return "noPendingLogin: \(reason)"
        case .idToken(let check, _): return "idToken(\(check)): \(reason)"
        case .notSignedIn: return "notSignedIn: \(reason)"
        case .reLoginRequired: return "reLoginRequired: \(reason)"
        case .storage(let kind, _): return "storage(\(kind)): \(reason)"
        case .minTTLExceedsLifetime: return "minTTLExceedsLifetime: \(reason)"
        case .internal: return "internal: \(reason)"
        case .userCancelled: return "userCancelled: \(reason)"
        case .loginInProgress: return "loginInProgress: \(reason)"
        case .presentationFailed: return "presentationFailed: \(reason)"
        }
    }
}

extension KeyfobError {
    /// The one place where the generated error enum becomes this one.
    init(_ error: KeyfobFFI.KeyfobError) {
        switch error {
        case .Config(let reason): self = .config(reason: reason)
        case .InsecureUrl(let reason): self = .insecureURL(reason: reason)
        case .Network(let reason): self = .network(reason: reason)
        case .Timeout(let reason): self = .timeout(reason: reason)
        case .HttpStatus(let status, let retryAfter, let reason):
            self = .httpStatus(status: Int(status), retryAfter: retryAfter.map(TimeInterval.init), reason: reason)
        case .Provider(let code, let reason): self = .provider(error: code, reason: reason)
        case .InvalidResponse(let reason): self = .invalidResponse(reason: reason)
        case .Discovery(let reason): self = .discovery(reason: reason)
        case .InvalidCallback(let reason): self = .invalidCallback(reason: reason)
        case .StateMismatch(let reason): self = .stateMismatch(reason: reason)
        case .IssuerMismatch(let reason): self = .issuerMismatch(reason: reason)
        case .NoPendingLogin(let reason): self = .noPendingLogin(reason: reason)
        case .IdToken(let check, let reason): self = .idToken(check: IdTokenCheck(check), reason: reason)
        case .NotSignedIn(let reason): self = .notSignedIn(reason: reason)
        case .ReLoginRequired(let reason): self = .reLoginRequired(reason: reason)
        case .Storage(let kind, let reason): self = .storage(kind: StorageErrorKind(kind), reason: reason)
        case .MinTtlExceedsLifetime(let reason): self = .minTTLExceedsLifetime(reason: reason)
        case .Internal(let reason): self = .internal(reason: reason)
        }
    }

    /// This error as the generated enum, whose methods carry the core's classification; `nil`
    /// for the cases of the browser sheet, which the core does not know.
    var generated: KeyfobFFI.KeyfobError? {
        switch self {
        case .config(let reason): return .Config(reason: reason)
        case .insecureURL(let reason): return .InsecureUrl(reason: reason)
        case .network(let reason): return .Network(reason: reason)
        case .timeout(let reason): return .Timeout(reason: reason)
        case .httpStatus(let status, let retryAfter, let reason):
            return .HttpStatus(
                status: UInt16(clamping: status),
                retryAfterSeconds: retryAfter.map(wholeSeconds),
                reason: reason)
        case .provider(let code, let reason): return .Provider(error: code, reason: reason)
        case .invalidResponse(let reason): return .InvalidResponse(reason: reason)
        case .discovery(let reason): return .Discovery(reason: reason)
        case .invalidCallback(let reason): return .InvalidCallback(reason: reason)
        case .stateMismatch(let reason): return .StateMismatch(reason: reason)
        case .issuerMismatch(let reason): return .IssuerMismatch(reason: reason)
        case .noPendingLogin(let reason): return .NoPendingLogin(reason: reason)
        case .idToken(let check, let reason): return .IdToken(check: check.generated, reason: reason)
        case .notSignedIn(let reason): return .NotSignedIn(reason: reason)
        case .reLoginRequired(let reason): return .ReLoginRequired(reason: reason)
        case .storage(let kind, let reason): return .Storage(kind: kind.generated, reason: reason)
        case .minTTLExceedsLifetime(let reason): return .MinTtlExceedsLifetime(reason: reason)
        case .internal(let reason): return .Internal(reason: reason)
        case .userCancelled, .loginInProgress, .presentationFailed: return nil
        }
    }

    /// A wait in whole seconds for the generated enum, never trapping (NaN is 0, huge is the
    /// largest value).
    private func wholeSeconds(_ seconds: TimeInterval) -> UInt32 {
        guard seconds.isFinite, seconds > 0 else { return seconds == .infinity ? .max : 0 }
        return seconds >= Double(UInt32.max) ? .max : UInt32(seconds.rounded())
    }

    /// Any error thrown by the generated bindings, as what the app catches: a `KeyfobError`, or
    /// `CancellationError` as it was thrown.
    static func from(_ error: any Error) -> any Error {
        switch error {
        case let error as KeyfobError: return error
        case let error as CancellationError: return error
        case let error as KeyfobFFI.KeyfobError: return KeyfobError(error)
        // A panic in the core (uniffi's `rustPanic`), or a lifting/lowering failure of the
        // generated code (a version mismatch): reported, never a crash.
        default: return KeyfobError.internal(reason: "unexpected error from the Keyfob library: \(error)")
        }
    }
}

/// Runs a call into the generated bindings, translating its errors.
func translatingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch {
        throw KeyfobError.from(error)
    }
}

/// Runs an async call into the generated bindings, translating its errors.
func translatingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw KeyfobError.from(error)
    }
}
