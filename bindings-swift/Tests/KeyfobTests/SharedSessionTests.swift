import Foundation
import Keyfob
import Testing

extension TestkitSuite {
    /// One session for several processes and accounts. Each client over the same storage stands
    /// for a process of its own (the app and its widget or share extension): they share nothing
    /// but the storage.
    @Suite struct SharedSession {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func aSiblingsRefreshIsAdoptedWithoutARequest() async throws {
            let storage = DictionaryStorage()
            let app = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            // Signed in with a token issued for 0 s: expired at once.
            try await kit.setFaults(#"{"token_response": {"expires_in": 0}}"#)
            try await kit.signIn(app)
            let widget = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            #expect(try await widget.restore() == .signedIn)
            try await kit.reset()

            let token = try await app.accessToken()
            #expect(try await kit.stats().refreshToken == 1)
            // The widget's memory holds the expired token; it reads the storage before refreshing
            // and takes the app's newer one.
            #expect(try await widget.accessToken() == token)
            #expect(try await kit.stats().refreshToken == 1)
        }

        @Test func aNewClientOverTheSameStorageRefreshesWithOneRequest() async throws {
            let storage = DictionaryStorage()
            let app = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            // Signed in with a token issued for 0 s: expired at once (a 1 s token would serve for
            // its second: the refresh margin is at most half a token's lifetime).
            try await kit.setFaults(#"{"token_response": {"expires_in": 0}}"#)
            try await kit.signIn(app)
            try await kit.reset()

            // The next launch: the session and the provider's metadata come from the storage,
            // and the expired access token costs one request, the refresh (its ID token checked
            // against the stored keys).
            let relaunched = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            let token = try await relaunched.accessToken()
            #expect(!token.isEmpty)
            #expect(try await kit.stats().launchRequests == [1, 1, 0, 0])
        }

        @Test func aSiblingsLogoutShowsAfterAReload() async throws {
            let storage = DictionaryStorage()
            let app = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            try await kit.signIn(app)
            let widget = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            #expect(try await widget.restore() == .signedIn)
            try await app.logout()
            #expect(try await widget.reload() == .signedOut)
            let error = await keyfobError { try await widget.accessToken() }
            #expect(error?.requiresSignIn == true)
        }

        @Test func twoAccountsSignInSwitchRefreshAndSignOutOneByOne() async throws {
            var configuration = kit.configuration()
            configuration.multipleAccounts = true
            let client = try KeyfobClient(configuration: configuration, storage: .custom(DictionaryStorage()))
            let ada = try await kit.signIn(client).subject
            try await kit.signIn(client, as: "grace")
            let accounts = try await client.accounts()
            #expect(Set(accounts.map(\.claims.subject)) == [ada, "grace"])
            #expect(accounts.filter(\.isActive).map(\.claims.subject) == ["grace"])

            try await client.switchAccount(to: ada)
            #expect(client.claims?.subject == ada)
            let unknown = await keyfobError { try await client.switchAccount(to: "nobody") }
            #expect(unknown == .notSignedIn(reason: unknown?.reason ?? ""))

            try await kit.reset()
            try await client.refresh()
            try await client.refresh(account: "grace")
            #expect(try await kit.stats().refreshToken == 2)
            let graceToken = try await client.accessToken(account: "grace")
            let adaToken = try await client.accessToken()
            #expect(graceToken != adaToken)

            try await client.logout(account: "grace")
            #expect(try await client.accounts().map(\.claims.subject) == [ada])
            #expect(client.state == .signedIn)
        }
    }
}
