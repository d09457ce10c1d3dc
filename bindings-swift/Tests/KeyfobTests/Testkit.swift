import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Keyfob

/// The `keyfob-testkit` provider and servers A and B that scripts/test.d/20-swift.sh started for
/// these tests: its ready line (`{"issuer","crm","orders","client_id"}`) is in the environment
/// variable `KEYFOB_TESTKIT`, or in the file named by `KEYFOB_TESTKIT_FILE`.
///
/// Its faults and counters are shared by every test, so the tests that use it run one at a time
/// (``TestkitSuite`` is serialized) and each starts with ``reset()``.
struct Testkit: Sendable {
    let issuer: URL
    let crm: URL
    let orders: URL
    let clientID: String
    /// The transport under test doubles as the tests' HTTP client (and as the "browser").
    let http = URLSessionTransport()

    static let redirectURI = URL(string: "myapp://callback")!

    private struct ReadyLine: Decodable {
        let issuer: String
        let crm: String
        let orders: String
        let client_id: String
    }

    struct Missing: Error, CustomStringConvertible {
        let description: String
    }

    static func current() throws -> Testkit {
        let environment = ProcessInfo.processInfo.environment
        var json = environment["KEYFOB_TESTKIT"] ?? ""
        if json.isEmpty, let file = environment["KEYFOB_TESTKIT_FILE"] {
            json = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        }
        guard !json.isEmpty else {
            throw Missing(description: "no testkit: run these tests with scripts/test.sh swift (or set KEYFOB_TESTKIT to a keyfob-testkit ready line)")
        }
        let line = try JSONDecoder().decode(ReadyLine.self, from: Data(json.utf8))
        return Testkit(issuer: URL(string: line.issuer)!, crm: URL(string: line.crm)!,
                       orders: URL(string: line.orders)!, clientID: line.client_id)
    }

    /// A client of this provider with its session in memory only, so that no test meets another
    /// test's session (on a Mac the default storage is the Keychain, shared by every test).
    func client(refreshMargin: TimeInterval = 30, transport: (any HTTPTransport)? = nil) throws -> KeyfobClient {
        try KeyfobClient(configuration: configuration(refreshMargin: refreshMargin), storage: .memory, transport: transport)
    }

    /// The app's configuration for this provider.
    func configuration(refreshMargin: TimeInterval = 30) -> KeyfobClient.Configuration {
        KeyfobClient.Configuration(
            issuer: issuer,
            clientID: clientID,
            redirectURI: Self.redirectURI,
            scopes: ["email", "offline_access"],
            postLogoutRedirectURI: URL(string: "myapp://signed-out"),
            refreshMargin: refreshMargin
        )
    }

    // MARK: - The browser and the APIs

    /// What the system browser does: loads the authorization URL (the provider signs the test
    /// user in without asking) and returns the deep link it redirects to.
    func browse(_ url: URL) async throws -> URL {
        let response = try await get(url)
        guard (300..<400).contains(response.status),
              let location = response.value(forHeader: "Location"),
              let callback = URL(string: location)
        else {
            throw Missing(description: "authorize answered \(response.status) without a redirect")
        }
        return callback
    }

    /// `begin_login` → browser → `handle_redirect`; with `user`, as the testkit's user of that
    /// name (`login_hint`).
    @discardableResult
    func signIn(_ client: KeyfobClient, as user: String? = nil) async throws -> Claims {
        let url = try await client.beginLogin(KeyfobClient.LoginOptions(loginHint: user))
        return try await client.handleRedirect(try await browse(url))
    }

    /// Calls Server A (`GET /api/customers`) or B (`GET /api/orders`) with a Bearer token.
    func callAPI(_ server: URL, path: String, token: String) async throws -> (status: Int, body: [String: Any]) {
        let response = try await get(server.appendingPathComponent(path), headers: [
            HTTPHeader(name: "Authorization", value: "Bearer \(token)"),
        ])
        let body = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
        return (Int(response.status), body)
    }

    func callCRM(token: String) async throws -> (status: Int, body: [String: Any]) {
        try await callAPI(crm, path: "api/customers", token: token)
    }

    func callOrders(token: String) async throws -> (status: Int, body: [String: Any]) {
        try await callAPI(orders, path: "api/orders", token: token)
    }

    func get(_ url: URL, headers: [HTTPHeader] = [], timeout: TimeInterval = 10,
             maxResponseBytes: Int = 1 << 20) async throws -> HTTPResponse {
        try await http.send(HTTPRequest(url: url, headers: headers, timeout: timeout, maxResponseBytes: maxResponseBytes))
    }

    // MARK: - Control endpoints

    /// Request counters (`GET /__testkit/stats`); only the ones the tests read.
    struct Stats: Decodable {
        let token: Int
        let authorizationCode: Int
        let refreshToken: Int
        let revoke: Int
        let userinfo: Int
        let discovery: Int
        let jwks: Int
        let authorize: Int
        let crm: Int
        let orders: Int
        let crmRejected: Int
        let par: Int
        let dpopProofs: Int
        let dpopProofsRejected: Int
        let dpopNonceChallenges: Int

        /// What a launch cost the provider: token requests, of them refreshes, discovery and
        /// JWKS requests (`[1, 1, 0, 0]`: the refresh alone, issue 15).
        var launchRequests: [Int] { [token, refreshToken, discovery, jwks] }
    }

    func stats() async throws -> Stats {
        let response = try await get(admin("stats"))
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Stats.self, from: response.body)
    }

    /// Replaces the active faults with `json` (a `Faults` object).
    func setFaults(_ json: String) async throws {
        try await control("faults", body: json)
    }

    /// What the testkit demands (`POST /__testkit/policy`): e.g.
    /// `{"dpop_nonce": true}`, `{"require_par": true}`; absent members are `false`.
    func setPolicy(_ json: String) async throws {
        try await control("policy", body: json)
    }

    /// New DPoP nonces at the provider and servers A and B.
    func rotateDPoPNonces() async throws {
        try await control("rotate-dpop-nonces")
    }

    /// No faults, nothing demanded, counters at zero.
    func reset() async throws {
        try await control("faults", body: "{}")
        try await control("policy", body: "{}")
        try await control("reset-stats")
    }

    private func admin(_ name: String) -> URL {
        issuer.appendingPathComponent("__testkit").appendingPathComponent(name)
    }

    /// `POST /__testkit/{name}` with a JSON body.
    private func control(_ name: String, body: String = "{}") async throws {
        let response = try await http.send(HTTPRequest(
            method: "POST", url: admin(name),
            headers: [HTTPHeader(name: "Content-Type", value: "application/json")],
            body: Data(body.utf8)))
        guard response.status == 200 else {
            let text = String(decoding: response.body, as: UTF8.self)
            throw Missing(description: "POST /__testkit/\(name) answered \(response.status): \(text)")
        }
    }
}
