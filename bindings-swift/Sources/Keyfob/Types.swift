import Foundation
import KeyfobFFI

// The records and enums of the generated bindings that apps meet, under the names this module
// uses. Apps import `Keyfob` only; `KeyfobFFI` is an implementation detail.

/// Where the session stands (`signedOut`, `loginPending`, `signedIn`, `needsReLogin`,
/// `storageUnavailable`).
public typealias SessionState = KeyfobFFI.SessionState

/// What just happened to the session (`loginStarted`, `signedIn`, `refreshed`, `signedOut`,
/// `needsReLogin`).
public typealias SessionEvent = KeyfobFFI.SessionEvent

/// Why a storage operation failed (`unavailable`, `keyInvalidated`, `corrupt`, `failed`).
public typealias StorageErrorKind = KeyfobFFI.StorageErrorKind

/// The ID token check that failed (`signature`, `audience`, `expired`, `nonce`, …).
public typealias IdTokenCheck = KeyfobFFI.IdTokenCheck

/// The validated ID token claims of the signed-in user.
public typealias Claims = KeyfobFFI.KeyfobClaims

/// The outcome of ``KeyfobClient/logout()``: the end-session URL to open, if the provider has one,
/// and whether revoking the refresh token failed (the local session is cleared anyway).
public typealias LogoutResult = KeyfobFFI.LogoutResult

/// The HTTP stack the core sends its requests through. ``URLSessionTransport`` is the default;
/// implement it yourself only to route Keyfob's traffic through your own networking layer, and
/// then keep its contract: no redirects followed, no cookies, no cache, the request's timeout and
/// response-size cap enforced.
public typealias HTTPTransport = KeyfobFFI.KeyfobHttpTransport
/// A request from the core to an ``HTTPTransport``. Its body and `Authorization` header may
/// hold secrets: never log them.
public typealias HTTPRequest = KeyfobFFI.KeyfobHttpRequest
/// An ``HTTPTransport``'s answer, whatever its status (redirects are returned, not followed).
public typealias HTTPResponse = KeyfobFFI.KeyfobHttpResponse
/// An HTTP header of an ``HTTPRequest`` or ``HTTPResponse``.
public typealias HTTPHeader = KeyfobFFI.HttpHeader
/// How an ``HTTPTransport`` failed to get a response (`Timeout`, `Connect`, `TooLarge`, `Other`).
public typealias TransportFailure = KeyfobFFI.TransportFailure

/// A session event together with the state after it.
public struct SessionChange: Sendable, Equatable, Hashable {
    /// What happened.
    public let event: SessionEvent
    /// The state after the event.
    public let state: SessionState
}

extension Claims {
    /// When the ID token expires (`exp`).
    public var expirationDate: Date { Date(timeIntervalSince1970: TimeInterval(expiresAt)) }
    /// When the ID token was issued (`iat`).
    public var issueDate: Date { Date(timeIntervalSince1970: TimeInterval(issuedAt)) }
    /// When the user last authenticated (`auth_time`), if the provider said.
    public var authenticationDate: Date? {
        authTime.map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }
}

extension HTTPResponse {
    /// The value of the first header named `name` (compared case-insensitively).
    public func value(forHeader name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

extension NSLock {
    /// Runs `body` with the lock held (Foundation's `withLock` needs iOS 16 / macOS 13).
    func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
