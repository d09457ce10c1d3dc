import Foundation
import KeyfobFFI

// The grants beyond a browser sign-in: a token for each API (RFC 8707), the user's identity
// traded for another authorization server's token (RFC 8693), and sign-in on a device without a
// browser (RFC 8628). Step-up is part of ``KeyfobClient/LoginOptions``.

extension KeyfobClient {
    // MARK: - A token for each API

    /// A valid access token for the API `resource` alone (its RFC 8707 resource indicator, e.g.
    /// `https://crm.company.com`): a token leaked from one API does not work at another. The
    /// first call gets it with the refresh token (no new login) and keeps it with the session;
    /// later calls answer from memory until it is about to expire. Concurrent callers for the
    /// same API share one request. ``accessToken(isolation:)`` is not affected.
    ///
    /// Throws ``KeyfobError/provider(error:reason:)`` with `invalid_target` when the grant does
    /// not cover that API (the session stays). Runs to completion even when the calling task is
    /// cancelled (the refresh token may rotate).
    public func accessToken(for resource: URL) async throws -> String {
        let core = self.core
        let resource = resource.absoluteString
        return try await call {
            try await shielded { try await translatingErrors { try await core.accessToken(resource: resource) } }
        }
    }

    // MARK: - Token exchange

    /// Trades the signed-in user's identity for an access token of the authorization server
    /// `request.issuer` (RFC 8693), now, and keeps it under that issuer. The seed's external
    /// identity, internal authorization: the app's own server checks the provider's token,
    /// looks the user's permissions up and issues the app's token.
    ///
    /// Throws ``KeyfobError/provider(error:reason:)`` with `invalid_grant` when that server
    /// rejects the identity (forged, expired, another issuer's), `invalid_target` for an
    /// audience or resource it does not serve; ``KeyfobError/discovery(reason:)`` when its
    /// discovery document is unusable. The session itself is not changed by an exchange.
    public func exchange(_ request: TokenExchange) async throws -> ExchangedToken {
        let core = self.core
        let ffiRequest = request.ffiRequest
        let exchanged = try await call {
            try await shielded {
                try await translatingErrors { try await core.exchange(request: ffiRequest, cancellation: nil) }
            }
        }
        return ExchangedToken(exchanged)
    }

    /// A valid token of the exchange `request`: the one kept from the last exchange while it is
    /// fresh, else refreshed at that server, else exchanged again.
    public func exchangedAccessToken(_ request: TokenExchange) async throws -> String {
        let core = self.core
        let ffiRequest = request.ffiRequest
        return try await call {
            try await shielded { try await translatingErrors { try await core.exchangedAccessToken(request: ffiRequest) } }
        }
    }

    // MARK: - Devices without a browser

    /// Starts a device login (RFC 8628) and returns what to show the user: the code and where
    /// to enter it, or ``DeviceAuthorization/verificationURIComplete`` for a QR code. Then call
    /// ``completeDeviceLogin()``. Cancelling the calling task stops it.
    public func beginDeviceLogin() async throws -> DeviceAuthorization {
        let core = self.core
        let device = try await call { try await translatingErrors { try await core.beginDeviceLogin() } }
        return try DeviceAuthorization(device)
    }

    /// Waits until the user approved the device login on another device (polling at the
    /// provider's interval, 5 s more after each `slow_down`), then stores the session and
    /// returns the user's claims. Throws ``KeyfobError/provider(error:reason:)`` with
    /// `access_denied` or `expired_token`, and `CancellationError` when the calling task is
    /// cancelled (the device login stays under way).
    @discardableResult
    public func completeDeviceLogin() async throws -> Claims {
        let core = self.core
        let claims = try await call {
            try await cancellable { token in try await core.completeDeviceLogin(cancellation: token) }
        }
        return Claims(claims)
    }

    /// Gives up the device login under way; returns whether there was one.
    @discardableResult
    public func cancelDeviceLogin() throws -> Bool {
        try translatingErrors { try core.cancelDeviceLogin() }
    }
}

/// A token exchange (RFC 8693) with a second authorization server, for the active account.
public struct TokenExchange: Sendable, Equatable, Hashable {
    /// What proves who the user is.
    public enum Subject: Sendable, Equatable, Hashable {
        /// The session's ID token (refreshed first when it has expired).
        case idToken
        /// The session's access token (refreshed first when needed).
        case accessToken
        /// A token the app holds from elsewhere, with its RFC 8693 token type URI.
        case token(String, type: String)
    }

    /// The second server's issuer, exactly as its discovery document names it.
    public var issuer: URL
    /// This app's client id at that server.
    public var clientID: String
    /// What proves who the user is (the session's ID token by default).
    public var subject: Subject
    /// `audience` values.
    public var audience: [String]
    /// `resource` values: the APIs the token is for.
    public var resources: [URL]
    /// `scope` values: the permissions asked for.
    public var scopes: [String]
    /// `requested_token_type`; `nil` leaves the choice to the server.
    public var requestedTokenType: String?
    /// The token of a party acting for the user (delegation), with its token type URI.
    public var actorToken: ActorToken?

    /// A party acting for the user: its token (a secret, never shown) and the token's type URI.
    public struct ActorToken: Sendable, Equatable, Hashable {
        /// The actor's token.
        public var token: String
        /// Its RFC 8693 token type URI.
        public var type: String

        /// The actor `token`, of type `type`.
        public init(token: String, type: String) {
            self.token = token
            self.type = type
        }
    }

    /// An exchange of the session's ID token with the server `issuer`.
    public init(
        issuer: URL, clientID: String, subject: Subject = .idToken, audience: [String] = [],
        resources: [URL] = [], scopes: [String] = [], requestedTokenType: String? = nil,
        actorToken: ActorToken? = nil
    ) {
        self.issuer = issuer
        self.clientID = clientID
        self.subject = subject
        self.audience = audience
        self.resources = resources
        self.scopes = scopes
        self.requestedTokenType = requestedTokenType
        self.actorToken = actorToken
    }

    var ffiRequest: KeyfobTokenExchange {
        let ffiSubject: KeyfobSubject
        switch subject {
        case .idToken: ffiSubject = .idToken
        case .accessToken: ffiSubject = .accessToken
        case .token(let token, let type): ffiSubject = .token(token: token, tokenType: type)
        }
        return KeyfobTokenExchange(
            issuer: issuer.absoluteString, clientId: clientID, subject: ffiSubject,
            actorToken: actorToken?.token, actorTokenType: actorToken?.type, audience: audience,
            resource: resources.map(\.absoluteString),
            scope: scopes, requestedTokenType: requestedTokenType)
    }
}

extension TokenExchange.Subject: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The kind of subject, never the token.
    public var description: String {
        switch self {
        case .idToken: return "idToken"
        case .accessToken: return "accessToken"
        case .token(_, let type): return "token(type: \(type))"
        }
    }

    /// Same as ``description``.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: no token.
    public var customMirror: Mirror { Mirror(self, children: ["kind": description]) }
}

extension TokenExchange.ActorToken: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The token's type, never the token.
    public var description: String { "ActorToken(type: \(type))" }

    /// Same as ``description``.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: no token.
    public var customMirror: Mirror { Mirror(self, children: ["type": type]) }
}

/// The outcome of ``KeyfobClient/exchange(_:)``. ``accessToken`` is a secret: `description`,
/// `debugDescription` and `dump` never show it.
public struct ExchangedToken: Sendable, Equatable, Hashable {
    /// The issued token, for `Authorization: Bearer` at the APIs that server serves.
    public let accessToken: String
    /// Its type URI (`issued_token_type`).
    public let issuedTokenType: String
    /// When it expires, if the server said.
    public let expirationDate: Date?
    /// The granted scopes (permissions).
    public let scopes: [String]

    init(_ token: KeyfobExchangedToken) {
        accessToken = token.accessToken
        issuedTokenType = token.issuedTokenType
        expirationDate = token.expiresAt.map(Date.init(epochSeconds:))
        scopes = token.scopes
    }
}

extension ExchangedToken: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The type, expiry and scopes, never the token.
    public var description: String {
        "ExchangedToken(issuedTokenType: \(issuedTokenType), expirationDate: \(expirationDate.map { "\($0)" } ?? "nil"), scopes: \(scopes))"
    }

    /// Same as ``description``.
    public var debugDescription: String { description }

    /// What `dump` and debuggers show: no token.
    public var customMirror: Mirror {
        Mirror(self, children: ["issuedTokenType": issuedTokenType, "expirationDate": expirationDate as Any, "scopes": scopes])
    }
}

/// What a device login shows the user (RFC 8628).
public struct DeviceAuthorization: Sendable, Equatable, Hashable {
    /// The code the user enters at ``verificationURI``.
    public let userCode: String
    /// Where the user approves, on a phone or computer.
    public let verificationURI: URL
    /// The same page with the code in it, for a QR code, when the provider offers one.
    public let verificationURIComplete: URL?
    /// When the codes expire.
    public let expirationDate: Date
    /// The time between two polls.
    public let interval: TimeInterval

    init(_ device: KeyfobDeviceAuthorization) throws {
        guard let uri = URL(string: device.verificationUri) else {
            throw KeyfobError.internal(reason: "the verification URI does not parse as a URL")
        }
        userCode = device.userCode
        verificationURI = uri
        verificationURIComplete = device.verificationUriComplete.flatMap(URL.init(string:))
        expirationDate = Date(epochSeconds: device.expiresAt)
        interval = TimeInterval(device.intervalSecs)
    }
}
