import Foundation
import Keyfob
import Testing

extension TestkitSuite {
    /// The session seen from Swift: storage written in Swift, one refresh for many callers,
    /// and the state streams.
    @Suite struct Session {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func swiftStorageKeepsTheSessionAcrossLaunches() async throws {
            let storage = DictionaryStorage()
            let firstLaunch = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            try await kit.signIn(firstLaunch)
            let token = try await firstLaunch.accessToken()
            #expect(storage.keys == ["session", "metadata"], "the pending login is replaced by the session; the provider's metadata is kept beside it")
            #expect(storage.writes.contains("pending"), "the pending login was saved before the browser opened")

            // The next launch finds the session in storage: no login, no token request.
            let tokenRequests = try await kit.stats().token
            let nextLaunch = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            #expect(try await nextLaunch.restore() == .signedIn)
            #expect(nextLaunch.claims?.subject == "user-123")
            #expect(try await nextLaunch.accessToken() == token)
            #expect(try await kit.stats().token == tokenRequests)

            try await nextLaunch.logout()
            #expect(storage.keys == ["metadata"], "only the provider's public metadata is left")
        }

        @Test func lockedStorageIsUnavailableNotSignedOut() async throws {
            let storage = DictionaryStorage()
            let client = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            try await kit.signIn(client)

            // A later launch while the device is locked: the session is there but unreadable.
            storage.failReads(with: SecureStorageError(.unavailable, "device locked"))
            let locked = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            let error = await keyfobError { try await locked.restore() }
            guard case .storage(let kind, _) = error else {
                Issue.record("expected storage(unavailable), got \(String(describing: error))")
                return
            }
            #expect(kind == .unavailable)
            #expect(error?.isRetryable == true)
            #expect(error?.requiresSignIn == false)
            #expect(locked.state == .storageUnavailable)

            // Unlocked: the same client reads the session.
            storage.failReads(with: nil)
            #expect(try await locked.restore() == .signedIn)
        }

        @Test func failedWriteFailsTheLogin() async throws {
            struct DiskFull: Error {}
            let storage = DictionaryStorage()
            let client = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            let callback = try await kit.browse(try await client.beginLogin())
            storage.failWrites(with: DiskFull())

            // Tokens that cannot be persisted are not handed out.
            let error = await keyfobError { try await client.handleRedirect(callback) }
            guard case .storage(let kind, _) = error else {
                Issue.record("expected storage(failed), got \(String(describing: error))")
                return
            }
            #expect(kind == .failed)
        }

        @Test func hundredConcurrentCallersShareOneRefresh() async throws {
            let client = try kit.client()
            // Sign in with an access token that lives 1 s: already inside the 30 s refresh margin.
            try await kit.setFaults(#"{"token_response": {"expires_in": 1}}"#)
            try await kit.signIn(client)
            #expect(client.cachedAccessToken == nil, "the token is stale")
            // Counters to zero; the refresh answers with a normal lifetime, after a delay that
            // keeps every caller waiting on the same refresh.
            try await kit.reset()
            try await kit.setFaults(#"{"endpoints": [{"path": "/token", "delay_ms": 300}]}"#)

            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<100 {
                    group.addTask { try await client.accessToken() }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }

            #expect(tokens.count == 100)
            #expect(Set(tokens).count == 1, "every caller got the same, refreshed token")
            let stats = try await kit.stats()
            #expect(stats.refreshToken == 1)
            #expect(stats.token == 1)
            #expect(client.cachedAccessToken == tokens.first)
            #expect(try await kit.callCRM(token: tokens[0]).status == 200)
        }

        @Test func stateStreamFollowsTheSession() async throws {
            let client = try kit.client()
            let states = client.states()
            let changes = client.changes()
            let laterSubscriber = client.states()

            try await kit.signIn(client)
            try await client.refresh()
            try await client.logout()

            // Refreshing does not change the state, so the state stream does not repeat it.
            #expect(await first(4, of: states) == [.signedOut, .loginPending, .signedIn, .signedOut])
            #expect(await first(4, of: changes).map(\.event) == [.loginStarted, .signedIn, .refreshed, .signedOut])
            #expect(await first(4, of: laterSubscriber).count == 4, "every stream gets every state")

            // A stream opened now starts with the current state.
            #expect(await first(1, of: client.states()) == [.signedOut])
        }

        @Test func aBusyProviderSaysWhenToRetryAndTheSessionStays() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            try await kit.setFaults(#"{"endpoints": [{"path": "/token", "status": 503, "headers": [["Retry-After", "120"]]}]}"#)

            let error = await keyfobError { try await client.refresh() }
            guard case .httpStatus(503, 120, _) = error else {
                Issue.record("expected httpStatus(503, retryAfter 120), got \(String(describing: error))")
                return
            }
            #expect(error?.isRetryable == true)
            #expect(error?.retryAfter == 120)
            #expect(client.state == .signedIn)
        }

        @Test func rejectedRefreshTokenAsksForSignIn() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            let states = client.states()
            try await kit.setFaults(#"{"endpoints": [{"path": "/token", "status": 400, "body": "{\"error\": \"invalid_grant\"}"}]}"#)

            let error = await keyfobError { try await client.refresh() }
            guard case .reLoginRequired = error else {
                Issue.record("expected reLoginRequired, got \(String(describing: error))")
                return
            }
            #expect(error?.requiresSignIn == true)
            #expect(client.state == .needsReLogin)
            #expect(await first(2, of: states) == [.signedIn, .needsReLogin])
        }
    }
}

@Suite struct KeychainSelection {
    #if !canImport(Darwin)
    @Test func keychainIsRefusedWhereThereIsNone() {
        let configuration = KeyfobClient.Configuration(
            issuer: URL(string: "https://auth.company.com")!,
            clientID: "app",
            redirectURI: URL(string: "myapp://callback")!)
        #expect(SessionStorage.platformDefault.isMemory)
        #expect {
            try KeyfobClient(configuration: configuration, storage: .keychain())
        } throws: { error in
            guard case .storage(kind: .failed, _) = error as? KeyfobError else { return false }
            return true
        }
    }
    #endif
}

extension SessionStorage {
    var isMemory: Bool {
        if case .memory = self { return true }
        return false
    }
}
