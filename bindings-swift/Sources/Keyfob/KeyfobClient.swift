import Foundation
import KeyfobFFI

/// OpenID Connect sign-in for one provider and one app: PKCE in the system browser, ID token
/// validation, tokens kept in secure storage, access tokens refreshed when they expire.
///
/// Create one per app (it is `Sendable`; share it) and:
///
/// ```swift
/// let client = try KeyfobClient(configuration: .init(
///     issuer: URL(string: "https://auth.company.com")!,
///     clientID: "my-app",
///     redirectURI: URL(string: "myapp://callback")!,
///     scopes: ["email", "offline_access"]))
///
/// // Sign in: open `url` in ASWebAuthenticationSession (WebAuthenticationPresenter does all
/// // three steps), then hand the callback URL to the client.
/// let url = try await client.beginLogin()
/// let claims = try await client.handleRedirect(callbackURL)
///
/// // Every API call: a valid access token, refreshed when it is about to expire.
/// let token = try await client.accessToken()
/// request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
/// ```
///
/// Every method throws ``KeyfobError``. Tokens are returned to the caller only by
/// ``accessToken()`` and ``cachedAccessToken``: never log them.
public final class KeyfobClient: Sendable {
    /// The configuration this client was created with.
    public let configuration: Configuration
    let core: KeyfobFFI.KeyfobClient
    private let broadcaster = SessionBroadcaster()

    /// A client for `configuration`.
    ///
    /// - Parameters:
    ///   - storage: where the session is kept between launches: the Keychain by default on
    ///     Apple platforms (see ``SessionStorage``).
    ///   - transport: how HTTP requests are sent; the default is a ``URLSessionTransport``.
    /// - Throws: ``KeyfobError/config(reason:)`` or ``KeyfobError/insecureURL(reason:)`` when the
    ///   configuration is invalid; ``KeyfobError/storage(kind:reason:)`` for `.keychain` where
    ///   there is no Keychain.
    public init(
        configuration: Configuration,
        storage: SessionStorage = .platformDefault,
        transport: (any HTTPTransport)? = nil
    ) throws {
        self.configuration = configuration
        let config = configuration.ffiConfig
        let transport = transport ?? URLSessionTransport()
        core = try translatingErrors {
            switch storage {
            case .keychain(let accessGroup, let requireUserPresence):
                let keychain = KeyfobKeychainOptions(accessGroup: accessGroup, requireUserPresence: requireUserPresence)
                return try KeyfobFFI.KeyfobClient.withKeychain(config: config, transport: transport, keychain: keychain)
            case .custom(let storage):
                return try KeyfobFFI.KeyfobClient(config: config, transport: transport, storage: StorageBridge(storage))
            case .memory:
                return try KeyfobFFI.KeyfobClient(config: config, transport: transport, storage: nil)
            }
        }
        core.addObserver(observer: broadcaster)
    }

    deinit {
        broadcaster.finishAll()
    }

    /// Starts a login and returns the authorization URL to open in the system browser
    /// (`ASWebAuthenticationSession`). The pending login is saved before this returns, so it
    /// survives the app being suspended or killed while the browser is open.
    public func beginLogin(_ options: LoginOptions = LoginOptions()) async throws -> URL {
        let core = self.core
        let string = try await translatingErrors { try await core.beginLogin(options: options.ffiOptions) }
        guard let url = URL(string: string) else {
            throw KeyfobError.internal(reason: "the authorization URL does not parse as a URL")
        }
        return url
    }

    /// Completes the login with the URL the app was opened with (the redirect URI plus `code`,
    /// `state` and `iss`). Returns the validated ID token claims.
    @discardableResult
    public func handleRedirect(_ url: URL) async throws -> Claims {
        let core = self.core
        return try await translatingErrors { try await core.handleRedirect(url: url.absoluteString) }
    }

    /// A valid access token, refreshed first when it expires within the refresh margin.
    /// Concurrent callers share one refresh.
    public func accessToken() async throws -> String {
        // The core's own first step, without the cost of an async call across the FFI.
        if let token = cachedAccessToken { return token }
        let core = self.core
        return try await translatingErrors { try await core.accessToken() }
    }

    /// The access token in memory if it is valid for longer than the refresh margin, without
    /// any I/O; `nil` means: call ``accessToken()``.
    public var cachedAccessToken: String? { core.cachedAccessToken() }

    /// Refreshes the tokens now, whatever the access token's expiry.
    public func refresh() async throws {
        let core = self.core
        try await translatingErrors { try await core.refresh() }
    }

    /// Signs out: forgets the session (memory and storage), revokes the refresh token, and
    /// returns the provider's end-session URL to open, if it has one. The local session is
    /// cleared even when revocation fails (see ``LogoutResult/revocationError``).
    @discardableResult
    public func logout() async throws -> LogoutResult {
        let core = self.core
        return try await translatingErrors { try await core.logout() }
    }

    /// The provider's UserInfo response: a JSON object whose `sub` was checked against the
    /// signed-in user. Decode it with `JSONDecoder` into the claims you need.
    public func userInfo() async throws -> Data {
        let core = self.core
        let json = try await translatingErrors { try await core.userinfo() }
        return Data(json.utf8)
    }

    /// The signed-in user's validated ID token claims, or `nil` when signed out.
    public var claims: Claims? { core.claims() }

    /// Where the session stands. Reads storage the first time; never touches the network.
    public var state: SessionState { core.state() }

    /// Reads the stored session now and returns the state; unlike ``state`` it reports storage
    /// failures (e.g. ``KeyfobError/storage(kind:reason:)`` with `unavailable` while locked).
    @discardableResult
    public func restore() throws -> SessionState {
        try translatingErrors { try core.restore() }
    }

    /// The session state: first the current one, then each change, until the client is gone.
    /// Every call returns a new stream; iterate it from any task:
    ///
    /// ```swift
    /// for await state in client.states() { self.state = state }
    /// ```
    public func states() -> AsyncStream<SessionState> {
        let core = self.core
        return broadcaster.states { core.state() }
    }

    /// Every session event from now on (including refreshes, which do not change the state),
    /// each with the state after it.
    public func changes() -> AsyncStream<SessionChange> {
        broadcaster.changes()
    }
}

extension KeyfobClient {
    /// How the app is registered with the provider.
    public struct Configuration: Sendable, Equatable, Hashable {
        /// The issuer, exactly as in the provider's discovery document (HTTPS; HTTP only for
        /// loopback during development).
        public var issuer: URL
        /// The app's client identifier (a public client: there is no secret).
        public var clientID: String
        /// Where the provider sends the browser back: a custom scheme registered in the app's
        /// Info.plist (`myapp://callback`) or a reverse-DNS one (`com.example.app:/callback`).
        public var redirectURI: URL
        /// Scopes besides `openid` (always sent), e.g. `email`, `offline_access` (needed for a
        /// refresh token at most providers).
        public var scopes: [String]
        /// Where the provider sends the browser after logout, if the app wants it back.
        public var postLogoutRedirectURI: URL?
        /// Extra authorization request parameters for every login, e.g. `audience`.
        public var additionalParameters: [String: String]
        /// Timeout of each HTTP request, in seconds (1–120).
        public var httpTimeout: TimeInterval
        /// Tolerated clock skew for ID token times, in seconds (at most 300).
        public var clockSkew: TimeInterval
        /// Access tokens with less than this many seconds left are refreshed first (at most 600).
        public var refreshMargin: TimeInterval
        /// DEVELOPMENT ONLY: hosts allowed over plain HTTP besides loopback (e.g. a laptop's LAN
        /// address for a test provider reached from a device). Leave empty in release builds.
        public var allowInsecureHTTPHosts: [String]
        /// Keep several accounts signed in at once (see ``KeyfobClient/accounts()``). Off by
        /// default: a sign-in as another user replaces the previous user's session.
        public var multipleAccounts: Bool

        public init(
            issuer: URL,
            clientID: String,
            redirectURI: URL,
            scopes: [String] = [],
            postLogoutRedirectURI: URL? = nil,
            additionalParameters: [String: String] = [:],
            httpTimeout: TimeInterval = 30,
            clockSkew: TimeInterval = 60,
            refreshMargin: TimeInterval = 30,
            allowInsecureHTTPHosts: [String] = [],
            multipleAccounts: Bool = false
        ) {
            self.issuer = issuer
            self.clientID = clientID
            self.redirectURI = redirectURI
            self.scopes = scopes
            self.postLogoutRedirectURI = postLogoutRedirectURI
            self.additionalParameters = additionalParameters
            self.httpTimeout = httpTimeout
            self.clockSkew = clockSkew
            self.refreshMargin = refreshMargin
            self.allowInsecureHTTPHosts = allowInsecureHTTPHosts
            self.multipleAccounts = multipleAccounts
        }

        var ffiConfig: KeyfobConfig {
            KeyfobConfig(
                issuer: issuer.absoluteString,
                clientId: clientID,
                redirectUri: redirectURI.absoluteString,
                scopes: scopes,
                postLogoutRedirectUri: postLogoutRedirectURI?.absoluteString,
                extraParams: authParams(additionalParameters),
                httpTimeoutSecs: seconds(httpTimeout),
                clockSkewSecs: seconds(clockSkew),
                refreshMarginSecs: seconds(refreshMargin),
                allowInsecureHttpHosts: allowInsecureHTTPHosts,
                multipleAccounts: multipleAccounts
            )
        }
    }

    /// Options for one login.
    public struct LoginOptions: Sendable, Equatable, Hashable {
        /// `prompt`: `login`, `consent`, `select_account` or `none`.
        public var prompt: String?
        /// `login_hint`: prefills the user name on the provider's page.
        public var loginHint: String?
        /// Further authorization request parameters, e.g. `ui_locales`.
        public var additionalParameters: [String: String]

        public init(prompt: String? = nil, loginHint: String? = nil, additionalParameters: [String: String] = [:]) {
            self.prompt = prompt
            self.loginHint = loginHint
            self.additionalParameters = additionalParameters
        }

        var ffiOptions: KeyfobLoginOptions {
            KeyfobLoginOptions(prompt: prompt, loginHint: loginHint, extraParams: authParams(additionalParameters))
        }
    }
}

/// Parameters in a stable order (sorted by name), so that equal configurations build equal URLs.
private func authParams(_ parameters: [String: String]) -> [AuthParam] {
    parameters.sorted { $0.key < $1.key }.map { AuthParam(name: $0.key, value: $0.value) }
}

/// Seconds as the core's whole-second integers; out-of-range values are left for the core's
/// validation to reject (negative and NaN become 0, huge values saturate).
private func seconds(_ interval: TimeInterval) -> UInt32 {
    guard interval.isFinite, interval > 0 else { return 0 }
    return interval >= TimeInterval(UInt32.max) ? UInt32.max : UInt32(interval.rounded())
}
