import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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
/// // At launch: read the stored session (off the main thread; may ask for Face ID).
/// let state = try await client.restore()
///
/// // Sign in: WebAuthenticationPresenter opens the browser sheet and completes the login.
/// let claims = try await WebAuthenticationPresenter().signIn(with: client)
///
/// // Every API call: a valid access token, refreshed before it expires (off the caller's path).
/// let token = try await client.accessToken()
/// request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
/// ```
///
/// Nothing here blocks the calling thread: creating the client touches no storage, ``state`` and
/// ``claims`` answer from memory, and the calls that may read the Keychain (or wait for Face ID)
/// are `async` and run on a queue of their own, off the main thread and off Swift's cooperative
/// pool.
///
/// Every method throws ``KeyfobError``, or `CancellationError` when the calling task is
/// cancelled. Tokens are returned only by ``accessToken(minTTL:isolation:)``, ``cachedAccessToken`` and
/// ``tokens()``: never log them.
public final class KeyfobClient: Sendable {
    /// The configuration this client was created with.
    public let configuration: Configuration
    let core: KeyfobFFI.KeyfobClient
    private let broadcaster = SessionBroadcaster()
    private let cached: CachedToken
    private let io = BlockingIO(label: "dev.keyfob.storage")

    /// A client for `configuration`. Touches no storage and no network.
    ///
    /// - Parameters:
    ///   - storage: where the session is kept between launches: the Keychain by default on
    ///     Apple platforms (see ``SessionStorage``).
    ///   - transport: how HTTP requests are sent; the default is a ``URLSessionTransport``.
    ///   - dpopKey: binds sessions to this key (DPoP, RFC 9449) when the provider supports it,
    ///     e.g. a ``SecureEnclaveDPoPKey``; then send API requests with ``data(for:session:)`` or
    ///     ``authorizationHeaders(method:url:)``.
    /// - Throws: ``KeyfobError/config(reason:)`` or ``KeyfobError/insecureURL(reason:)`` when the
    ///   configuration is invalid; ``KeyfobError/storage(kind:reason:)`` for `.keychain` where
    ///   there is no Keychain.
    public init(
        configuration: Configuration,
        storage: SessionStorage = .platformDefault,
        transport: (any HTTPTransport)? = nil,
        dpopKey: (any DPoPKey)? = nil
    ) throws {
        self.configuration = configuration
        let config = configuration.ffiConfig
        let bridge = TransportBridge(transport ?? URLSessionTransport())
        let store = try Self.store(storage, for: configuration)
        let client = try translatingErrors {
            try KeyfobFFI.KeyfobClient(
                config: config, transport: bridge, storage: store.map(StorageBridge.init),
                dpopKey: dpopKey.map(DPoPKeyBridge.init), executor: TaskExecutor())
        }
        core = client
        cached = CachedToken(handle: try translatingErrors { try client.tokenHandle() })
        let broadcaster = self.broadcaster
        try translatingErrors {
            try client.addObserver(observer: EventRelay(broadcaster: broadcaster) { [weak client] in
                // Called on the thread of the operation that caused the event, after Keyfob read
                // the stored session: memory only.
                try? client?.claims().map(Claims.init)
            })
        }
    }

    deinit {
        broadcaster.finishAll()
    }

    /// The storage for `storage`: `nil` keeps the session in memory.
    private static func store(_ storage: SessionStorage, for configuration: Configuration) throws -> (any SecureStorage)? {
        switch storage {
        case .memory:
            return nil
        case .custom(let storage):
            return storage
        case .keychain(let options):
            #if canImport(Security)
            return KeychainStorage(
                service: KeychainStorage.serviceName(issuer: configuration.issuer, clientID: configuration.clientID),
                options: options,
                items: SecItemKeychain(options: options))
            #else
            _ = options
            throw KeyfobError.storage(kind: .failed, reason: "the Keychain exists only on Apple platforms")
            #endif
        }
    }

    // MARK: - The session, from memory

    /// Where the session stands, from memory; `nil` until the stored session was read (by
    /// ``restore()``, ``states()`` or any call that needs the session).
    public var state: SessionState? { broadcaster.snapshot.state }

    /// The signed-in user's validated ID token claims, from memory; `nil` when signed out or
    /// before the stored session was read.
    public var claims: Claims? { broadcaster.snapshot.claims }

    /// This client's handle for the core's C accessor (for the tests).
    var tokenHandle: UInt64 { cached.handle }

    /// The access token in memory if it is saved and not due for a refresh, without any I/O or
    /// waiting; `nil` means: call ``accessToken(minTTL:isolation:)``.
    public var cachedAccessToken: String? { cached.read() }

    // MARK: - Calls that may read storage

    /// Reads the stored session (off the main thread; with Face ID protection this is when the
    /// user is asked) and returns the state. Reports storage failures, e.g.
    /// ``KeyfobError/storage(kind:reason:)`` with `unavailable` while the device is locked; call
    /// it again later. A session that cannot be read at all (corrupt, key invalidated) is
    /// reported once, and the client is then signed out.
    @discardableResult
    public func restore() async throws -> SessionState {
        let core = self.core
        let broadcaster = self.broadcaster
        return try await io.run {
            let events = broadcaster.events
            do {
                let state = SessionState(try core.restore())
                broadcaster.publish(try Self.snapshot(core), readAfter: events)
                return state
            } catch {
                // The state that goes with the failure (`storageUnavailable`, or signed out).
                broadcaster.publish(try Self.snapshot(core), readAfter: events)
                throw error
            }
        }
    }

    /// The session's tokens (access token, raw ID token, expiry, granted scopes), for apps that
    /// send the ID token to their own backend; `nil` when signed out. Secrets: never log them.
    public func tokens() async throws -> Tokens? {
        try await ensureRestored()
        let core = self.core
        return try await io.run { try core.tokens().map(Tokens.init) }
    }

    /// A valid access token. One that is due for a refresh (less than the refresh margin left,
    /// or half its lifetime when that is shorter) but has not expired is returned at once, while
    /// one refresh runs in a task of its own (``Configuration/refreshAhead``); an expired one is
    /// refreshed first. Concurrent callers share one refresh.
    ///
    /// From the cached token it answers on the caller's actor without suspending (about a
    /// microsecond: no hop off the main actor). A caller that is cancelled while a refresh runs
    /// gets `CancellationError` at once; the refresh completes and its tokens are kept.
    ///
    /// - Parameters:
    ///   - minTTL: how long, in seconds, the token must stay valid at least (Auth0's `minTTL`),
    ///     e.g. for a long upload; one that expires sooner is refreshed first. As long as the
    ///     provider's token lifetime or longer, it throws ``KeyfobError/minTTLExceedsLifetime(reason:)``
    ///     (without a request once the lifetime is known).
    ///   - isolation: the caller's actor; leave the default.
    public func accessToken(minTTL: TimeInterval = 0, isolation: isolated (any Actor)? = #isolation) async throws -> String {
        if minTTL <= 0, let token = cached.read() { return token }
        return try await accessTokenFromCore(minTTL: secondsAtLeast(minTTL))
    }

    private func accessTokenFromCore(minTTL: UInt32) async throws -> String {
        let core = self.core
        return try await call { try await shielded { try await translatingErrors { try await core.accessToken(minTtlSecs: minTTL) } } }
    }

    // MARK: - The app's API calls

    /// The headers for one request to the app's API, with the session's access token (refreshed
    /// first when it is about to expire): `Authorization: Bearer …`, or for a DPoP-bound session
    /// `Authorization: DPoP …` and a `DPoP` proof made for exactly `method` and `url`. The same
    /// call for both, so app code does not branch. Secrets: never log them (printing the answer
    /// shows only the names). Ask again for every request, and pass the answer to
    /// ``shouldRetry(after:)``.
    public func authorizationHeaders(method: String = "GET", url: URL) async throws -> AuthorizationHeaders {
        let core = self.core
        let target = url.absoluteString
        let headers = try await call {
            try await shielded { try await translatingErrors { try await core.authorizationHeaders(method: method, url: target) } }
        }
        return AuthorizationHeaders(headers.map { (name: $0.name, value: $0.value) })
    }

    /// `request` with ``authorizationHeaders(method:url:)`` set on it.
    public func authorize(_ request: URLRequest) async throws -> URLRequest {
        guard let url = request.url else {
            throw KeyfobError.config(reason: "the request has no URL")
        }
        var authorized = request
        for (name, value) in try await authorizationHeaders(method: request.httpMethod ?? "GET", url: url) {
            authorized.setValue(value, forHTTPHeaderField: name)
        }
        return authorized
    }

    /// Reads an API's answer to a request made with ``authorizationHeaders(method:url:)``: keeps
    /// the server's new DPoP nonce, and says whether the server refused the proof for want of
    /// it (`401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"`). Then send the request
    /// once more, with new headers — once: the next refusal is the answer.
    public func shouldRetry(after response: HTTPURLResponse) -> Bool {
        guard let url = response.url else { return false }
        return shouldRetry(after: response, from: url)
    }

    /// ``shouldRetry(after:)`` for the server of `url` (the URL the request was made for).
    private func shouldRetry(after response: HTTPURLResponse, from url: URL) -> Bool {
        let headers = response.allHeaderFields.compactMap { name, value -> KeyfobFFI.HttpHeader? in
            guard let name = name as? String else { return nil }
            return KeyfobFFI.HttpHeader(name: name, value: "\(value)")
        }
        let status = UInt16(clamping: response.statusCode)
        return (try? core.resourceResponse(url: url.absoluteString, status: status, headers: headers)) ?? false
    }

    /// Sends `request` to the app's API with the session's access token — Bearer, or DPoP with a
    /// proof (sent once more with the server's nonce when it asks for one) — and returns the
    /// answer, whatever its status.
    ///
    /// Redirects are returned, not followed: the request carries the access token (and a proof
    /// made for its URL), which must not go wherever a `3xx` points. Without `session` it is sent
    /// through Keyfob's own session for API calls, which refuses redirects and, like the rest of
    /// Keyfob, sends and stores no cookies. A `session` of the app's follows its own rules:
    /// `URLSession.shared` follows redirects.
    public func data(for request: URLRequest, session: URLSession? = nil) async throws -> (Data, HTTPURLResponse) {
        let session = session ?? APISession.shared
        var retried = false
        while true {
            let (data, response) = try await session.data(for: try await authorize(request))
            guard let http = response as? HTTPURLResponse else {
                throw KeyfobError.network(reason: "the answer is not an HTTP response")
            }
            if !retried, let url = request.url, shouldRetry(after: http, from: url) {
                retried = true
                continue
            }
            return (data, http)
        }
    }

    // MARK: - Sign-in

    /// Starts a login and returns the authorization URL to open in the system browser
    /// (``WebAuthenticationPresenter`` does that). The pending login is saved before this
    /// returns, so it survives the app being suspended or killed while the browser is open.
    /// Cancelling the calling task stops it, with its requests.
    public func beginLogin(_ options: LoginOptions = LoginOptions()) async throws -> URL {
        let core = self.core
        let ffiOptions = options.ffiOptions
        let string = try await call {
            try await cancellable { token in try await core.beginLogin(options: ffiOptions, cancellation: token) }
        }
        guard let url = URL(string: string) else {
            throw KeyfobError.internal(reason: "the authorization URL does not parse as a URL")
        }
        return url
    }

    /// Gives up the pending login (for apps that present the browser themselves, when the user
    /// comes back without signing in): its callback can no longer be redeemed, the state leaves
    /// `loginPending`, and ``changes()`` reports ``SessionEvent/loginCancelled``. A signed-in
    /// session is not touched. ``WebAuthenticationPresenter`` calls it when the sheet is closed.
    public func cancelLogin() async throws {
        let core = self.core
        let io = self.io
        try await call { try await io.run { try core.cancelLogin() } }
    }

    /// Completes the login with the URL the app was opened with (the redirect URI plus `code`,
    /// `state` and `iss`). Returns the validated ID token claims. Runs to completion even when
    /// the calling task is cancelled (which then gets `CancellationError`).
    @discardableResult
    public func handleRedirect(_ url: URL) async throws -> Claims {
        let core = self.core
        let string = url.absoluteString
        let claims = try await call { try await shielded { try await translatingErrors { try await core.handleRedirect(url: string) } } }
        return Claims(claims)
    }

    // MARK: - The session

    /// Refreshes the tokens now, whatever the access token's expiry. Runs to completion even
    /// when the calling task is cancelled.
    public func refresh() async throws {
        let core = self.core
        try await call { try await shielded { try await translatingErrors { try await core.refresh() } } }
    }

    /// Signs out: forgets the session (memory and storage), revokes the refresh token, and
    /// returns the provider's end-session URL to open, if it has one. The local session is
    /// cleared even when revocation fails (see ``LogoutResult/revocationError``).
    @discardableResult
    public func logout() async throws -> LogoutResult {
        let core = self.core
        let result = try await call { try await shielded { try await translatingErrors { try await core.logout() } } }
        return LogoutResult(result)
    }

    /// The provider's UserInfo response: a JSON object whose `sub` was checked against the
    /// signed-in user. Decode it with `JSONDecoder` into the claims you need. Cancelling the
    /// calling task stops it.
    public func userInfo() async throws -> Data {
        let core = self.core
        let json = try await call { try await cancellable { token in try await core.userinfo(cancellation: token) } }
        return Data(json.utf8)
    }

    // MARK: - Several accounts, and other processes

    /// Every signed-in account, the active one marked; one unless the configuration sets
    /// ``Configuration/multipleAccounts``.
    public func accounts() async throws -> [Account] {
        try await ensureRestored()
        let core = self.core
        return try await io.run { try translatingErrors { try core.accounts() } }.map(Account.init)
    }

    /// Makes the account of user `subject` (the ID token's `sub`) the active one, in every
    /// process sharing the storage. Throws ``KeyfobError/notSignedIn(reason:)`` when no such
    /// account is signed in.
    public func switchAccount(to subject: String) async throws {
        let core = self.core
        let io = self.io
        try await call { try await io.run { try translatingErrors { try core.switchAccount(subject: subject) } } }
    }

    /// A valid access token of `subject`'s account, active or not, that lasts at least `minTTL`
    /// seconds (see ``accessToken(minTTL:isolation:)``).
    public func accessToken(account subject: String, minTTL: TimeInterval = 0) async throws -> String {
        let core = self.core
        let minTTL = secondsAtLeast(minTTL)
        return try await call {
            try await shielded {
                try await translatingErrors { try await core.accessToken(minTtlSecs: minTTL, account: subject) }
            }
        }
    }

    /// Refreshes `subject`'s account now.
    public func refresh(account subject: String) async throws {
        let core = self.core
        try await call {
            try await shielded { try await translatingErrors { try await core.refresh(account: subject) } }
        }
    }

    /// Signs out of `subject`'s account only; the other accounts stay signed in.
    @discardableResult
    public func logout(account subject: String) async throws -> LogoutResult {
        let core = self.core
        let result = try await call {
            try await shielded { try await translatingErrors { try await core.logout(account: subject) } }
        }
        return LogoutResult(result)
    }

    /// Reads the stored session again (off the main thread) and returns the state: what an app
    /// extension or widget sharing the storage changed (a refresh, a sign-out, another account)
    /// is taken in, and ``states()`` and ``changes()`` report it. Call it when the app returns
    /// to the foreground.
    @discardableResult
    public func reload() async throws -> SessionState {
        let core = self.core
        let broadcaster = self.broadcaster
        return try await io.run {
            let events = broadcaster.events
            defer { try? broadcaster.publish(Self.snapshot(core), readAfter: events) }
            return SessionState(try translatingErrors { try core.reload() })
        }
    }

    // MARK: - Observing

    /// The session state: first the current one (read from storage first if needed, off the
    /// main thread), then each change, until the client is gone. Every call returns a new
    /// stream; iterate it from any task:
    ///
    /// ```swift
    /// for await state in client.states() { self.state = state }
    /// ```
    public func states() -> AsyncStream<SessionState> {
        let (stream, needsRead) = broadcaster.states()
        if needsRead {
            Task { [weak self] in _ = try? await self?.restore() }
        }
        return stream
    }

    /// Every session event from now on (including refreshes, which do not change the state),
    /// each with the state after it.
    public func changes() -> AsyncStream<SessionChange> {
        broadcaster.changes()
    }

    // MARK: - Internals

    /// Reads the stored session, off the cooperative pool, unless done: every call that needs the
    /// session starts here, so that the core never reads storage on a thread of Swift's pool.
    private func ensureRestored() async throws {
        if broadcaster.snapshot.restored { return }
        try await restore()
    }

    /// Runs one of the core's calls after ``ensureRestored()``, then records where the session
    /// stands, whatever the outcome: not every change comes with an event (a failed callback
    /// uses up the pending login silently).
    func call<T>(_ body: () async throws -> T) async throws -> T {
        try await ensureRestored()
        do {
            let result = try await body()
            republish()
            return result
        } catch {
            republish()
            throw error
        }
    }

    /// The core's state and claims into the snapshot: memory only, since the session was read.
    private func republish() {
        guard broadcaster.snapshot.restored else { return }
        let events = broadcaster.events
        if let snapshot = try? Self.snapshot(core) {
            broadcaster.publish(snapshot, readAfter: events)
        }
    }

    /// What the core says now: after a restore, memory only.
    private static func snapshot(_ core: KeyfobFFI.KeyfobClient) throws -> Snapshot {
        let state = SessionState(try core.state())
        let restored = state != .storageUnavailable
        return Snapshot(state: state, claims: restored ? try core.claims().map(Claims.init) : nil, restored: restored)
    }
}
