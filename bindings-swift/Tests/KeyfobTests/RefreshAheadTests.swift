import Foundation
import Keyfob
import Testing

extension TestkitSuite {
    /// Refresh-ahead and minimum lifetimes through the Swift layer (issue 21): a token that is due
    /// for a refresh but not expired is served at once while a task of the layer's own refreshes
    /// it; `minTTL` asks for a token that lasts.
    @Suite struct RefreshAhead {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        /// A client restarted on `storage` 280 s after signing in: its 300 s token has 20 s left,
        /// inside the 30 s refresh margin — due, not expired. Counters at zero.
        private func relaunchedWithADueToken(
            _ storage: DictionaryStorage, refreshAhead: Bool = true
        ) async throws -> (client: KeyfobClient, due: String) {
            var configuration = kit.configuration()
            configuration.refreshAhead = refreshAhead
            let first = try KeyfobClient(configuration: configuration, storage: .custom(storage))
            try await kit.signIn(first)
            storage.ageSession(by: 280)
            let client = try KeyfobClient(configuration: configuration, storage: .custom(storage))
            #expect(try await client.restore() == .signedIn)
            let due = try #require(try await client.tokens()).accessToken
            #expect(client.cachedAccessToken == nil, "due for a refresh")
            try await kit.reset()
            return (client, due)
        }

        @Test func aDueTokenIsServedAtOnceWhileATaskRefreshesIt() async throws {
            let (client, due) = try await relaunchedWithADueToken(DictionaryStorage())
            // The refresh is held up at the provider: a caller that waited for it would get the
            // new token.
            try await kit.setFaults(#"{"endpoints": [{"path": "/token", "delay_ms": 3000, "times": 1}]}"#)

            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<100 {
                    group.addTask { try await client.accessToken() }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }

            #expect(Set(tokens) == [due], "every caller got the due token at once")
            #expect(await eventually { client.cachedAccessToken != nil }, "a task refreshed it")
            #expect(try await kit.stats().refreshToken == 1)
            let fresh = try #require(client.cachedAccessToken)
            #expect(fresh != due)
            #expect(try await kit.callCRM(token: fresh).status == 200)
        }

        @Test func withRefreshAheadOffTheCallerWaitsForTheRefresh() async throws {
            let (client, due) = try await relaunchedWithADueToken(DictionaryStorage(), refreshAhead: false)
            let token = try await client.accessToken()
            #expect(token != due)
            #expect(try await kit.stats().refreshToken == 1)
        }

        @Test func minTTLRefreshesATokenThatExpiresSoonerAndRefusesOneBeyondTheLifetime() async throws {
            let (client, due) = try await relaunchedWithADueToken(DictionaryStorage())
            // 20 s are left; a caller that needs a minute waits for a new token.
            let lasting = try await client.accessToken(minTTL: 60)
            #expect(lasting != due)
            #expect(try await kit.stats().refreshToken == 1)
            #expect(try await client.accessToken(minTTL: 60) == lasting, "it lasts: no second refresh")

            // The testkit's tokens live 300 s: no token lasts that long, and no request is made.
            let requests = try await kit.stats().token
            let error = await keyfobError { try await client.accessToken(minTTL: 300) }
            guard case .minTTLExceedsLifetime = error else {
                Issue.record("expected minTTLExceedsLifetime, got \(String(describing: error))")
                return
            }
            #expect(error?.isRetryable == false)
            #expect(error?.requiresSignIn == false)
            let forAccount = await keyfobError { try await client.accessToken(account: "user-123", minTTL: 3600) }
            #expect(forAccount == .minTTLExceedsLifetime(reason: forAccount?.reason ?? ""))
            #expect(try await kit.stats().token == requests)
            #expect(client.state == .signedIn)
        }
    }
}
