import Foundation
@testable import Keyfob
import Testing

extension TestkitSuite {
    /// The synchronous cached token (the core's C accessor) and the async `accessToken()` that
    /// answers from it: the same rules as the core's `cached_access_token` and Kotlin's tests.
    @Suite struct CachedToken {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func sameTokenAsAccessTokenAndNilWhenSignedOutOrAfterLogout() async throws {
            let client = try kit.client()
            #expect(client.cachedAccessToken == nil, "signed out")
            try await kit.signIn(client)
            let token = try await client.accessToken()
            #expect(client.cachedAccessToken == token)
            try await client.logout()
            #expect(client.cachedAccessToken == nil)
        }

        @Test func nilWithinTheRefreshMarginThenAccessTokenRefreshes() async throws {
            let client = try kit.client()
            try await kit.setFaults(#"{"token_response": {"expires_in": 1}}"#)
            try await kit.signIn(client)
            #expect(client.cachedAccessToken == nil, "1 s left is inside the 30 s margin")
            try await kit.reset()
            let token = try await client.accessToken()
            #expect(try await kit.stats().refreshToken == 1)
            #expect(client.cachedAccessToken == token)
        }

        @Test func nilUntilTheTokensAreSavedAndWhileTheStoredSessionCannotBeRead() async throws {
            struct DiskFull: Error {}
            let storage = DictionaryStorage()
            let client = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            let callback = try await kit.browse(try await client.beginLogin())
            storage.failWrites(with: DiskFull())
            _ = await keyfobError { try await client.handleRedirect(callback) }
            #expect(client.cachedAccessToken == nil, "tokens that are not saved are not handed out")
            storage.failWrites(with: nil)
            let token = try await client.accessToken()
            #expect(client.cachedAccessToken == token, "saved by the next call")

            storage.failReads(with: SecureStorageError(.unavailable, "locked"))
            let locked = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            _ = try? await locked.restore()
            #expect(locked.cachedAccessToken == nil)
        }

        @Test func aTokenLongerThanTheBufferIsReadInFull() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            let token = try await client.accessToken()
            let reader = Keyfob.CachedToken(handle: client.tokenHandle, initialCapacity: 8)
            #expect(reader.read() == token)
            #expect(reader.read() == token, "and again, with the capacity it learnt")
        }

        @Test func handlesOfFreedOrUnknownClientsReadNothing() async throws {
            var client: KeyfobClient? = try kit.client()
            try await kit.signIn(client!)
            let handle = client!.tokenHandle
            #expect(Keyfob.CachedToken(handle: handle).read() != nil)
            client = nil
            // The native client goes when its last reference does: a task that ran one of its
            // calls may hold one for a moment after the call returned.
            var gone = false
            for _ in 0..<500 where !gone {
                gone = Keyfob.CachedToken(handle: handle).read() == nil
                if !gone { try await Task.sleep(nanoseconds: 10_000_000) }
            }
            #expect(gone, "the client is gone")
            #expect(Keyfob.CachedToken(handle: 0).read() == nil)
            #expect(Keyfob.CachedToken(handle: .max).read() == nil)
        }

        @Test func theCachedPathSendsNoRequest() async throws {
            let transport = RecordingTransport()
            let client = try kit.client(transport: transport)
            try await kit.signIn(client)
            let sent = transport.paths.count
            let token = try await client.accessToken()
            for _ in 0..<1000 {
                #expect(try await client.accessToken() == token)
            }
            #expect(transport.paths.count == sent)
        }

        @Test func manyTasksReadItWhileTheTokenIsRefreshed() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            let tokens = try await withThrowingTaskGroup(of: [String].self) { group in
                group.addTask {
                    try await client.refresh()
                    return []
                }
                for _ in 0..<8 {
                    group.addTask {
                        var seen: [String] = []
                        for _ in 0..<200 { if let token = client.cachedAccessToken { seen.append(token) } }
                        seen.append(try await client.accessToken())
                        return seen
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(!tokens.isEmpty)
            for token in Set(tokens) {
                #expect(try await kit.callCRM(token: token).status == 200)
            }
        }
    }
}
