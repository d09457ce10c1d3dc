import Foundation
import KeyfobFFI

// The values apps meet, as Swift types: `URL`, `Date`, `TimeInterval`, lower-camel-case enum
// cases, Swift documentation. The generated records they are made from stay in `KeyfobFFI`,
// which apps never import; each conversion lives next to the type it produces.

/// Where the session stands.
public enum SessionState: Sendable, Equatable, Hashable, CaseIterable {
    /// Nobody is signed in and no login is under way.
    case signedOut
    /// A login was started (``KeyfobClient/beginLogin(_:)``) and waits for its callback.
    case loginPending
    /// Signed in: ``KeyfobClient/accessToken(minTTL:isolation:)`` returns a token, refreshing it when needed.
    case signedIn
    /// The provider rejected the refresh token (expired or revoked): the user must sign in again.
    case needsReLogin
    /// The stored session cannot be read right now (the device is locked, or the user dismissed
    /// the Face ID prompt). It is not gone: call ``KeyfobClient/restore()`` again later.
    case storageUnavailable

    init(_ state: KeyfobFFI.SessionState) {
        switch state {
        case .signedOut: self = .signedOut
        case .loginPending: self = .loginPending
        case .signedIn: self = .signedIn
        case .needsReLogin: self = .needsReLogin
        case .storageUnavailable: self = .storageUnavailable
        }
    }
}

/// What just happened to the session.
public enum SessionEvent: Sendable, Equatable, Hashable, CaseIterable {
    /// A login was started.
    case loginStarted
    /// The user signed in.
    case signedIn
    /// New tokens were obtained with the refresh token (the state does not change).
    case refreshed
    /// The session ended (``KeyfobClient/logout()``).
    case signedOut
    /// The provider rejected the refresh token; the tokens were cleared.
    case needsReLogin
    /// The pending login was given up: the user closed the browser sheet, or the app called
    /// ``KeyfobClient/cancelLogin()``.
    case loginCancelled
    /// Another account became the active one (``KeyfobClient/switchAccount(to:)``, or another
    /// process sharing the storage did it).
    case accountSwitched

    init(_ event: KeyfobFFI.SessionEvent) {
        switch event {
        case .loginStarted: self = .loginStarted
        case .signedIn: self = .signedIn
        case .refreshed: self = .refreshed
        case .signedOut: self = .signedOut
        case .needsReLogin: self = .needsReLogin
        case .loginCancelled: self = .loginCancelled
        case .accountSwitched: self = .accountSwitched
        }
    }
}

/// A session event together with the state after it.
public struct SessionChange: Sendable, Equatable, Hashable {
    /// What happened.
    public let event: SessionEvent
    /// The state after the event.
    public let state: SessionState
}

/// Why a storage operation failed; it decides whether the session is kept, retried or dropped.
public enum StorageErrorKind: Sendable, Equatable, Hashable, CaseIterable {
    /// Not readable now (device locked, authentication prompt dismissed): try again later. The
    /// session is not gone.
    case unavailable
    /// The key protecting the data is gone (e.g. the enrolled fingers or faces changed): the
    /// session is lost and the user signs in again.
    case keyInvalidated
    /// The stored bytes are unreadable.
    case corrupt
    /// The stored session belongs to another issuer or client id: it is not used (and left as
    /// it is until a sign-in replaces it); the user signs in for this client.
    case foreign
    /// Any other failure.
    case failed

    init(_ kind: KeyfobFFI.StorageErrorKind) {
        switch kind {
        case .unavailable: self = .unavailable
        case .keyInvalidated: self = .keyInvalidated
        case .corrupt: self = .corrupt
        case .failed: self = .failed
        case .foreign: self = .foreign
        }
    }

    var generated: KeyfobFFI.StorageErrorKind {
        switch self {
        case .unavailable: return .unavailable
        case .keyInvalidated: return .keyInvalidated
        case .corrupt: return .corrupt
        case .failed: return .failed
        case .foreign: return .foreign
        }
    }
}

/// The ID token check that failed (OpenID Connect Core §3.1.3.7).
public enum IdTokenCheck: Sendable, Equatable, Hashable, CaseIterable {
    /// Not a well-formed JWS compact serialization.
    case malformed
    /// An algorithm that is not allowed (`none`, HMAC, or not the provider's).
    case algorithm
    /// No key of the provider's key set verifies it (unknown `kid`).
    case unknownKey
    /// The signature does not verify.
    case signature
    /// A required claim is missing.
    case missingClaim
    /// A claim has the wrong type.
    case claimType
    /// `iss` is not the provider's issuer.
    case issuer
    /// `aud` does not contain the client id.
    case audience
    /// `azp` is present and is not the client id.
    case authorizedParty
    /// `exp` has passed.
    case expired
    /// `iat` lies in the future beyond the allowed clock skew.
    case issuedInFuture
    /// `nonce` does not match the login's.
    case nonce
    /// A refreshed ID token names another user (`sub`) than the session's.
    case subjectChanged
    /// Step-up: `auth_time` is missing (with ``KeyfobClient/LoginOptions/maxAge``), older than
    /// asked, or from before a `prompt=login` login began.
    case authTime
    /// Step-up: the `acr` is none of the required ``KeyfobClient/LoginOptions/acrValues``.
    case acr

    init(_ check: KeyfobFFI.IdTokenCheck) {
        switch check {
        case .malformed: self = .malformed
        case .algorithm: self = .algorithm
        case .unknownKey: self = .unknownKey
        case .signature: self = .signature
        case .missingClaim: self = .missingClaim
        case .claimType: self = .claimType
        case .issuer: self = .issuer
        case .audience: self = .audience
        case .authorizedParty: self = .authorizedParty
        case .expired: self = .expired
        case .issuedInFuture: self = .issuedInFuture
        case .nonce: self = .nonce
        case .subjectChanged: self = .subjectChanged
        case .authTime: self = .authTime
        case .acr: self = .acr
        }
    }

    var generated: KeyfobFFI.IdTokenCheck {
        switch self {
        case .malformed: return .malformed
        case .algorithm: return .algorithm
        case .unknownKey: return .unknownKey
        case .signature: return .signature
        case .missingClaim: return .missingClaim
        case .claimType: return .claimType
        case .issuer: return .issuer
        case .audience: return .audience
        case .authorizedParty: return .authorizedParty
        case .expired: return .expired
        case .issuedInFuture: return .issuedInFuture
        case .nonce: return .nonce
        case .subjectChanged: return .subjectChanged
        case .authTime: return .authTime
        case .acr: return .acr
        }
    }
}

/// The validated ID token claims of the signed-in user.
public struct Claims: Sendable, Equatable, Hashable {
    /// `iss`: the provider, exactly as its discovery document names it.
    public let issuer: String
    /// `sub`: the user's stable identifier at the provider.
    public let subject: String
    /// `aud`: the clients the token is for (this app's client id among them).
    public let audience: [String]
    /// `exp`: when the ID token expires.
    public let expirationDate: Date
    /// `iat`: when the ID token was issued.
    public let issueDate: Date
    /// `auth_time`: when the user last authenticated, if the provider said.
    public let authenticationDate: Date?
    /// `acr`: the authentication context class the authentication satisfied, if the provider
    /// said (see ``KeyfobClient/LoginOptions/acrValues``).
    public let authenticationContextClass: String?
    /// `email`.
    public let email: String?
    /// `email_verified`.
    public let emailVerified: Bool?
    /// `name`.
    public let name: String?
    /// `preferred_username`.
    public let preferredUsername: String?
    /// Every other claim, as the JSON object the provider sent (UTF-8). Read one with
    /// ``claim(_:as:)``.
    public let additionalClaimsJSON: Data

    init(_ claims: KeyfobClaims) {
        issuer = claims.issuer
        subject = claims.subject
        audience = claims.audience
        expirationDate = Date(epochSeconds: claims.expiresAt)
        issueDate = Date(epochSeconds: claims.issuedAt)
        authenticationDate = claims.authTime.map(Date.init(epochSeconds:))
        authenticationContextClass = claims.acr
        email = claims.email
        emailVerified = claims.emailVerified
        name = claims.name
        preferredUsername = claims.preferredUsername
        additionalClaimsJSON = Data(claims.extraJson.utf8)
    }

    /// The additional claim `name` decoded as `T` (e.g. `String`, `[String]`, a `Decodable`
    /// struct), or `nil` when the token has no such claim or it is not a `T`.
    public func claim<T: Decodable>(_ name: String, as type: T.Type = T.self) -> T? {
        guard let object = try? JSONSerialization.jsonObject(with: additionalClaimsJSON) as? [String: Any],
              let value = object[name], !(value is NSNull),
              let fragment = try? JSONSerialization.data(withJSONObject: value, options: .fragmentsAllowed)
        else { return nil }
        return try? JSONDecoder().decode(T.self, from: fragment)
    }
}

/// The tokens of the signed-in session, for apps that send the ID token to their own backend or
/// show when the session expires. ``accessToken`` and ``idToken`` are secrets: `description`,
/// `debugDescription` and `dump` never show them.
public struct Tokens: Sendable, Equatable, Hashable {
    /// The access token (for each API call prefer ``KeyfobClient/accessToken(minTTL:isolation:)``,
    /// which refreshes it).
    public let accessToken: String
    /// The raw ID token (a JWT) of the sign-in or the latest refresh, validated by Keyfob.
    public let idToken: String
    /// When the access token expires, if the provider said.
    public let expirationDate: Date?
    /// The granted scopes (the requested ones when the provider did not list them).
    public let scopes: [String]
    /// The token type for the `Authorization` header: `Bearer`.
    public let tokenType: String
    /// The APIs the sign-in asked access for (``KeyfobClient/Configuration/resources``).
    public let resources: [String]

    init(_ tokens: KeyfobTokens) {
        accessToken = tokens.accessToken
        idToken = tokens.idToken
        expirationDate = tokens.expiresAt.map(Date.init(epochSeconds:))
        scopes = tokens.scopes
        tokenType = tokens.tokenType
        resources = tokens.resources
    }
}

extension Tokens: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The expiry and scopes, never a token.
    public var description: String {
        "Tokens(expirationDate: \(expirationDate.map { "\($0)" } ?? "nil"), scopes: \(scopes), tokenType: \(tokenType))"
    }

    /// Same as ``description``.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: no token.
    public var customMirror: Mirror {
        Mirror(self, children: ["expirationDate": expirationDate as Any, "scopes": scopes, "tokenType": tokenType])
    }
}

/// The outcome of ``KeyfobClient/logout()``.
public struct LogoutResult: Sendable, Equatable, Hashable {
    /// The provider's end-session page, to open in the browser so that the provider's own session
    /// ends too; `nil` when the provider has none. It carries the ID token as a hint: do not log it.
    public let endSessionURL: URL?
    /// The `state` sent with ``endSessionURL``, which the provider returns on the post-logout
    /// redirect.
    public let endSessionState: String?
    /// Why revoking the refresh token failed, if it did (the local session is cleared anyway).
    public let revocationError: String?
    /// Whether the provider accepted the revocation of the refresh token. `false` with no
    /// ``revocationError``: there was nothing to revoke it with.
    public let refreshTokenRevoked: Bool

    init(_ result: KeyfobFFI.LogoutResult) {
        endSessionURL = result.endSessionUrl.flatMap(URL.init(string:))
        endSessionState = result.endSessionState
        revocationError = result.revocationError
        refreshTokenRevoked = result.refreshTokenRevoked
    }
}

extension Date {
    /// A time the core gives as whole seconds since 1970.
    init(epochSeconds: Int64) {
        self.init(timeIntervalSince1970: TimeInterval(epochSeconds))
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

/// One signed-in account (see ``KeyfobClient/accounts()``).
public struct Account: Sendable, Equatable, Hashable {
    /// Its validated ID token claims; `claims.subject` identifies the account.
    public let claims: Claims
    /// Whether it is the active account, the one ``KeyfobClient/accessToken(minTTL:isolation:)`` uses.
    public let isActive: Bool

    init(_ account: KeyfobFFI.KeyfobAccount) {
        claims = Claims(account.claims)
        isActive = account.active
    }
}

/// The headers for one request to the app's API (``KeyfobClient/authorizationHeaders(method:url:)``):
/// `Authorization`, and `DPoP` for a DPoP-bound session. Iterate over them, or read one by name
/// (case-insensitive, as HTTP header names are). Their values are secrets: `description`,
/// `debugDescription` and `dump` show only the names.
public struct AuthorizationHeaders: Sequence, Sendable, Equatable, Hashable {
    private let fields: [(name: String, value: String)]

    init(_ fields: [(name: String, value: String)]) {
        self.fields = fields
    }

    /// The value of the header `name` (e.g. `"Authorization"`), if present.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The header names, in the order they are sent.
    public var names: [String] { fields.map(\.name) }

    /// The headers as `(name, value)` pairs, in the order they are sent.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0 == $1 }
    }

    public func hash(into hasher: inout Hasher) {
        for (name, value) in fields {
            hasher.combine(name)
            hasher.combine(value)
        }
    }
}

extension AuthorizationHeaders: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The header names, never a value.
    public var description: String { "AuthorizationHeaders(\(names), values redacted)" }

    /// Same as ``description``.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: the names only.
    public var customMirror: Mirror { Mirror(self, children: ["names": names]) }
}
