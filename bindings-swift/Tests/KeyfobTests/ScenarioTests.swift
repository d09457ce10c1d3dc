import Foundation
@testable import Keyfob
import Testing

/// A ``SecureStorage`` that counts its calls and records whether each ran on Keyfob's storage
/// queue (never the main thread, never Swift's cooperative pool).
final class CountingStorage: SecureStorage, @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private let inner = DictionaryStorage()
    private var _reads = 0
    private var _offQueue = 0

    var reads: Int { lock.locked { _reads } }
    /// Calls that did not run on a Keyfob storage queue.
    var offQueue: Int { lock.locked { _offQueue } }

    private func note(read: Bool) {
        let onQueue = BlockingIO.isCurrent
        lock.locked {
            if read { _reads += 1 }
            if !onQueue { _offQueue += 1 }
        }
    }

    func data(forKey key: String) throws -> Data? {
        note(read: true)
        return try inner.data(forKey: key)
    }

    func setData(_ data: Data, forKey key: String) throws {
        try inner.setData(data, forKey: key)
    }

    func removeData(forKey key: String) throws {
        try inner.removeData(forKey: key)
    }
}

extension TestkitSuite {
    /// What an app meets on day one: launches, blocked storage, errors it must tell apart.
    @Suite struct Scenarios {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func creatingAClientReadsNoStorageAndStateAnswersFromMemory() async throws {
            let storage = CountingStorage()
            try await kit.signIn(try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage)))
            // Signing in wrote the session with a compare-and-swap, which reads the record first,
            // where the write runs (a detached task, never the main actor). From here on, this
            // client's reads must all run on its storage queue.
            let readsBefore = storage.reads
            let offQueueBefore = storage.offQueue

            let client = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            #expect(storage.reads == readsBefore, "init touches no storage")
            #expect(client.state == nil && client.claims == nil, "nothing read yet")
            #expect(try await client.restore() == .signedIn)
            let readsAfterRestore = storage.reads
            for _ in 0..<100 {
                #expect(client.state == .signedIn)
                #expect(client.claims?.subject == "user-123")
            }
            _ = try await client.accessToken()
            #expect(storage.reads == readsAfterRestore, "read once; then memory")
            #expect(storage.offQueue == offQueueBefore, "every read ran on Keyfob's storage queue")
        }

        @Test func aStreamOnAFreshClientStartsWithTheStoredState() async throws {
            let storage = CountingStorage()
            try await kit.signIn(try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage)))
            let offQueueBefore = storage.offQueue
            let client = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            #expect(await first(1, of: client.states()) == [.signedIn])
            #expect(storage.offQueue == offQueueBefore)
        }

        @Test func aCallbackForAnotherRedirectURIIsAnInvalidCallback() async throws {
            let client = try kit.client()
            _ = try await client.beginLogin()
            let error = await keyfobError { try await client.handleRedirect(URL(string: "otherapp://callback?code=c&state=s")!) }
            guard case .invalidCallback = error else {
                Issue.record("expected invalidCallback, got \(String(describing: error))")
                return
            }
            #expect(client.state == .loginPending, "a stray link does not end the login")
        }

        @Test func aReplayedCallbackIsNoPendingLogin() async throws {
            let client = try kit.client()
            let callback = try await kit.browse(try await client.beginLogin())
            try await client.handleRedirect(callback)
            let replayed = await keyfobError { try await client.handleRedirect(callback) }
            guard case .noPendingLogin = replayed else {
                Issue.record("expected noPendingLogin, got \(String(describing: replayed))")
                return
            }
            #expect(try await kit.stats().authorizationCode == 1, "the code is redeemed once")
            #expect(client.state == .signedIn, "the session is untouched")
        }

        @Test func anIDTokenForAnotherAudienceNamesTheCheck() async throws {
            try await kit.setFaults(#"{"id_token_claims": {"aud": "someone-else"}}"#)
            let client = try kit.client()
            let error = await keyfobError { try await kit.signIn(client) }
            #expect(error == nil ? false : { if case .idToken(.audience, _) = error! { return true }; return false }(),
                    "got \(String(describing: error))")
            #expect(client.state == .signedOut)
        }

        @Test func accessBeforeSignInIsNotSignedIn() async throws {
            let client = try kit.client()
            let error = await keyfobError { try await client.accessToken() }
            guard case .notSignedIn = error else {
                Issue.record("expected notSignedIn, got \(String(describing: error))")
                return
            }
            #expect(error?.requiresSignIn == true)
        }

        @Test func aLostStorageKeyMeansSigningInAgainNotACrash() async throws {
            let storage = DictionaryStorage()
            try await kit.signIn(try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage)))
            storage.failReads(with: SecureStorageError(.keyInvalidated, "key gone"))
            let client = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            let error = await keyfobError { try await client.restore() }
            guard case .storage(.keyInvalidated, _) = error else {
                Issue.record("expected storage(keyInvalidated), got \(String(describing: error))")
                return
            }
            #expect(error?.requiresSignIn == true)
            #expect(client.state == .needsReLogin)
        }

        @Test func aStorageThatThrowsSomethingElseIsAStorageFailure() async throws {
            struct Bug: Error {}
            let storage = DictionaryStorage()
            let client = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            let callback = try await kit.browse(try await client.beginLogin())
            storage.failWrites(with: Bug())
            let error = await keyfobError { try await client.handleRedirect(callback) }
            guard case .storage(.failed, _) = error else {
                Issue.record("expected storage(failed), got \(String(describing: error))")
                return
            }
        }

        @Test func aLoginSurvivesTheAppBeingKilledWhileTheBrowserIsOpen() async throws {
            let storage = DictionaryStorage()
            let before = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            let url = try await before.beginLogin()
            // The app is killed; the browser redirects; the app starts again with the deep link.
            let callback = try await kit.browse(url)
            let after = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            #expect(try await after.restore() == .loginPending)
            #expect(try await after.handleRedirect(callback).subject == "user-123")
        }

        @Test func cancelLoginForgetsThePendingLogin() async throws {
            let client = try kit.client()
            let changes = client.changes()
            let callback = try await kit.browse(try await client.beginLogin())
            try await client.cancelLogin()
            #expect(client.state == .signedOut)
            #expect(await first(2, of: changes).map(\.event) == [.loginStarted, .loginCancelled])
            let late = await keyfobError { try await client.handleRedirect(callback) }
            guard case .noPendingLogin = late else {
                Issue.record("expected noPendingLogin, got \(String(describing: late))")
                return
            }
            #expect(try await kit.stats().authorizationCode == 0)
        }

        @Test func tokensCarryTheRawIDTokenExpiryAndScopes() async throws {
            let client = try kit.client()
            #expect(try await client.tokens() == nil)
            try await kit.signIn(client)
            let tokens = try #require(try await client.tokens())
            #expect(tokens.idToken.split(separator: ".").count == 3, "a JWT")
            #expect(tokens.accessToken == client.cachedAccessToken)
            #expect(tokens.tokenType == "Bearer")
            #expect(try #require(tokens.expirationDate) > Date())
            #expect(tokens.scopes.contains("email"))
        }

        @Test func aRejectedRefreshTokenShowsNeedsReLoginAndANewLoginClearsIt() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            try await kit.setFaults(#"{"endpoints": [{"path": "/token", "status": 400, "body": "{\"error\": \"invalid_grant\"}", "times": 1}]}"#)
            _ = await keyfobError { try await client.refresh() }
            #expect(client.state == .needsReLogin)
            #expect(client.claims == nil)
            try await kit.signIn(client)
            #expect(client.state == .signedIn)
            #expect(client.claims?.subject == "user-123")
        }
    }
}
