import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
@testable import Keyfob
import Testing

/// A DPoP key in a PEM file, made and used by the `openssl` command: a software key that the
/// tests hold through the same rules as the Secure Enclave's (``StoredDPoPKey``) and hand to the
/// core through the same foreign key holder, on Linux as on a Mac.
struct OpenSSLKeyStore: P256KeyStore {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("keyfob-dpop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var pem: URL { directory.appendingPathComponent("key.pem") }

    func find() throws -> URL? {
        FileManager.default.fileExists(atPath: pem.path) ? pem : nil
    }

    func create() throws -> URL {
        _ = try openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", pem.path])
        return pem
    }

    func publicKey(of key: URL) throws -> Data {
        try present(key)
        return try openssl(["ec", "-in", key.path, "-pubout", "-outform", "DER"])
    }

    func sign(_ message: Data, with key: URL) throws -> Data {
        try present(key)
        let input = directory.appendingPathComponent("message-\(UUID().uuidString)")
        try message.write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        return try openssl(["dgst", "-sha256", "-sign", key.path, input.path])
    }

    func delete() throws {
        try? FileManager.default.removeItem(at: pem)
    }

    /// A key whose file is gone is reported the way a platform store reports a lost key.
    private func present(_ key: URL) throws {
        guard FileManager.default.fileExists(atPath: key.path) else {
            throw SecureStorageError(.keyInvalidated, "the key file is gone")
        }
    }

    private func openssl(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SecureStorageError(.failed, "openssl \(arguments[0]) failed")
        }
        return data
    }
}

/// A store whose one key the test can take away, and that counts what it was asked.
final class CountingKeyStore: P256KeyStore, @unchecked Sendable {
    // @unchecked: all state is guarded by `lock`.
    private let lock = NSLock()
    private var key: Int?
    private var made = 0
    private var finds = 0

    var created: Int { lock.locked { made } }
    var lookups: Int { lock.locked { finds } }

    func find() throws -> Int? { lock.locked { finds += 1; return key } }
    func create() throws -> Int { lock.locked { made += 1; key = made; return made } }
    func publicKey(of key: Int) throws -> Data {
        try lock.locked {
            guard self.key == key else { throw SecureStorageError(.keyInvalidated, "gone") }
            return Data([4] + [UInt8](repeating: UInt8(key), count: 64))
        }
    }
    func sign(_ message: Data, with key: Int) throws -> Data {
        try lock.locked {
            guard self.key == key else { throw SecureStorageError(.keyInvalidated, "gone") }
            return Data(repeating: 1, count: 64)
        }
    }
    func delete() throws { lock.locked { key = nil } }
}

/// The ``SecureStorageError`` `body` throws, if it throws one.
private func failure<T>(_ body: () throws -> T) -> SecureStorageError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error as? SecureStorageError
    }
}

@Suite struct DPoPKeyRules {
    @Test func theKeyIsMadeByTheFirstPublicKeyRequestAndNeverBySigning() throws {
        let store = CountingKeyStore()
        let key = StoredDPoPKey(store: store)
        #expect(failure { try key.sign(Data("m".utf8)) }?.kind == .keyInvalidated,
                "no key yet: signing does not make one")
        #expect(store.created == 0)
        let first = try key.publicKey()
        #expect(first.count == 65 && store.created == 1)
        #expect(try key.publicKey() == first)
        #expect(try key.sign(Data("m".utf8)).count == 64)
        #expect(store.lookups == 2, "the handle is kept once found")

        // Taken away behind the key's back: reported as gone, then a sign-in makes a new one.
        try store.delete()
        #expect(failure { try key.sign(Data("m".utf8)) }?.kind == .keyInvalidated)
        #expect(try key.publicKey() != first)
        #expect(store.created == 2)
    }

    @Test func theBridgeHandsStorageKindsToTheCore() throws {
        let bridge = DPoPKeyBridge(StoredDPoPKey(store: CountingKeyStore()))
        #expect(throws: (any Error).self) { try bridge.sign(message: Data()) }
        #expect(try bridge.publicKey().count == 65)
    }
}

extension TestkitSuite {
    /// Sender-constrained sessions (DPoP) and pushed authorization requests, through the Swift
    /// layer, with a software key behind the foreign key holder.
    @Suite struct DPoP {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        func client(_ key: any DPoPKey, configuration: KeyfobClient.Configuration? = nil) throws -> KeyfobClient {
            try KeyfobClient(configuration: configuration ?? kit.configuration(), storage: .memory, dpopKey: key)
        }

        var session: URLSession { URLSession(configuration: .ephemeral) }

        func get(_ url: URL, with client: KeyfobClient) async throws -> (Int, [String: Any]) {
            let (data, response) = try await client.data(for: URLRequest(url: url), session: session)
            let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return (response.statusCode, body)
        }

        @Test func aSessionSignsInCallsRefreshesAndSignsOutWithProofs() async throws {
            let client = try client(StoredDPoPKey(store: try OpenSSLKeyStore()))
            try await kit.signIn(client)
            let tokens = try #require(try await client.tokens())
            #expect(tokens.tokenType == "DPoP")

            let crm = kit.crm.appendingPathComponent("api/customers")
            let (status, body) = try await get(crm, with: client)
            #expect(status == 200 && body["server"] as? String == "crm")
            #expect(try await get(kit.orders.appendingPathComponent("api/orders"), with: client).0 == 200)
            #expect(try await kit.callCRM(token: tokens.accessToken).status == 401, "the token alone is refused")
            let headers = try await client.authorizationHeaders(url: crm)
            #expect(headers["Authorization"]?.hasPrefix("DPoP ") == true && headers["DPoP"] != nil)
            #expect(headers["authorization"] == headers["Authorization"], "names are case-insensitive")
            #expect(Set(headers.names) == ["Authorization", "DPoP"])
            // Printed, debug-printed or dumped, the headers show neither the token nor the proof.
            var dumped = ""
            dump(headers, to: &dumped)
            for shown in ["\(headers)", String(reflecting: headers), dumped] {
                #expect(shown.contains("DPoP") && !shown.contains(tokens.accessToken))
                #expect(!shown.contains(try #require(headers["DPoP"])))
            }

            try await client.refresh()
            #expect(try await get(crm, with: client).0 == 200)
            _ = try await client.logout()
            let stats = try await kit.stats()
            #expect(stats.revoke == 1 && stats.refreshToken == 1)
            #expect(stats.dpopProofsRejected == 0)
            // Exchange, three API calls, the headers above (unsent), refresh, revocation.
            #expect(stats.dpopProofs == 6)
        }

        @Test func serverNoncesCostOneRetry() async throws {
            try await kit.setPolicy(#"{"dpop_nonce": true}"#)
            let client = try client(StoredDPoPKey(store: try OpenSSLKeyStore()))
            try await kit.signIn(client)
            let crm = kit.crm.appendingPathComponent("api/customers")
            #expect(try await get(crm, with: client).0 == 200)
            #expect(try await get(crm, with: client).0 == 200)
            var stats = try await kit.stats()
            #expect(stats.crm == 3 && stats.crmRejected == 1, "one retry, then the nonce is remembered")
            #expect(stats.token == 2)
            try await kit.rotateDPoPNonces()
            try await client.refresh()
            stats = try await kit.stats()
            #expect(stats.token == 4 && stats.dpopNonceChallenges == 3)
        }

        @Test func aSessionWhoseKeyIsGoneMustSignInAgain() async throws {
            let store = try OpenSSLKeyStore()
            let client = try client(StoredDPoPKey(store: store))
            try await kit.signIn(client)
            try store.delete()
            let error = await keyfobError { try await client.authorizationHeaders(url: kit.crm) }
            guard case .storage(.keyInvalidated, _) = error else {
                Issue.record("expected storage(keyInvalidated), got \(String(describing: error))")
                return
            }
            #expect(error?.requiresSignIn == true)
            #expect(client.state == .needsReLogin)
        }

        @Test func aProviderThatRequiresPARGetsAPushedRequest() async throws {
            try await kit.setPolicy(#"{"require_par": true}"#)
            let client = try client(StoredDPoPKey(store: try OpenSSLKeyStore()))
            let url = try await client.beginLogin()
            let names = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems?.map(\.name)
            #expect(names == ["client_id", "request_uri"])
            try await client.handleRedirect(try await kit.browse(url))
            #expect(try await client.tokens()?.tokenType == "DPoP")
            #expect(try await kit.stats().par == 1)
        }

        @Test func aRefusedPushIsAProviderErrorAndNothingIsStored() async throws {
            try await kit.setPolicy(#"{"require_par": true}"#)
            try await kit.setFaults(#"{"endpoints": [{"path": "/par", "status": 400, "body": "{\"error\": \"invalid_request\"}"}]}"#)
            let storage = DictionaryStorage()
            let client = try KeyfobClient(configuration: kit.configuration(), storage: .custom(storage))
            let error = await keyfobError { try await client.beginLogin() }
            guard case .provider(error: "invalid_request", _) = error else {
                Issue.record("expected provider(invalid_request), got \(String(describing: error))")
                return
            }
            #expect(storage.keys == ["metadata"], "no pending login, no session: only the provider's public metadata (issue 15)")
            #expect(client.state == .signedOut)
        }
    }
}
