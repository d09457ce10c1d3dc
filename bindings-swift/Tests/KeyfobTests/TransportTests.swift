import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Keyfob
import Testing

extension TestkitSuite {
    /// The URLSession transport's contract, against the testkit's misbehaving endpoints.
    @Suite struct Transport {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func redirectIsReturnedNotFollowed() async throws {
            // Server A redirects to server B: an http URL that URLSession could follow, and whose
            // requests the testkit counts.
            let target = kit.orders.appendingPathComponent("api/orders").absoluteString
            try await kit.setFaults(#"""
                {"endpoints": [{"path": "/api/customers", "status": 302, "headers": [["Location", "\#(target)"]]}]}
                """#)
            let response = try await kit.get(kit.crm.appendingPathComponent("api/customers"))
            #expect(response.status == 302)
            #expect(response.value(forHeader: "location") == target)
            let stats = try await kit.stats()
            #expect(stats.crm == 1)
            #expect(stats.orders == 0, "the redirect target was requested")
            // The counter does see a request to the target.
            _ = try await kit.get(try #require(URL(string: target)))
            #expect(try await kit.stats().orders == 1)
        }

        @Test func apiCallsReturnRedirectsWithoutFollowingThem() async throws {
            // `data(for:)` sends the access token: a 302 from server A to server B must come back
            // as the answer, and B must not be asked (the testkit counts its requests).
            let client = try kit.client()
            _ = try await kit.signIn(client)
            let target = kit.orders.appendingPathComponent("api/orders").absoluteString
            try await kit.setFaults(#"""
                {"endpoints": [{"path": "/api/customers", "status": 302, "headers": [["Location", "\#(target)"]]}]}
                """#)
            let customers = URLRequest(url: kit.crm.appendingPathComponent("api/customers"))
            let before = try await kit.stats()
            let (_, response) = try await client.data(for: customers)
            #expect(response.statusCode == 302)
            #expect(response.value(forHTTPHeaderField: "Location") == target)
            let after = try await kit.stats()
            #expect(after.crm == before.crm + 1)
            #expect(after.orders == before.orders, "the redirect target was requested with the token")
            // The counter does see a followed redirect: through a session that follows them.
            _ = try await client.data(for: customers, session: URLSession(configuration: .ephemeral))
            #expect(try await kit.stats().orders == after.orders + 1)
        }

        @Test func oversizedBodyFailsWhileReceiving() async throws {
            // A terabyte, streamed without Content-Length: a transport that buffered the body
            // before checking its size would run into its deadline (a Timeout) instead.
            try await kit.setFaults(#"{"endpoints": [{"path": "/api/customers", "body_bytes": 1000000000000}]}"#)
            let error = await thrownError {
                try await kit.get(kit.crm.appendingPathComponent("api/customers"), maxResponseBytes: 64 * 1024)
            }
            guard case .tooLarge = error as? HTTPTransportError else {
                Issue.record("expected TooLarge, got \(String(describing: error))")
                return
            }
        }

        @Test func slowResponseTimesOut() async throws {
            // The answer would come after a minute: a Timeout means the 300 ms deadline ended the
            // wait, and not before it was due.
            try await kit.setFaults(#"{"endpoints": [{"path": "/api/orders", "delay_ms": 60000, "times": 1}]}"#)
            let started = Date()
            let error = await thrownError {
                try await kit.get(kit.orders.appendingPathComponent("api/orders"), timeout: 0.3)
            }
            guard case .timeout = error as? HTTPTransportError else {
                Issue.record("expected Timeout, got \(String(describing: error))")
                return
            }
            #expect(Date().timeIntervalSince(started) >= 0.3)
        }

        @Test func refusedConnectionIsAConnectFailure() async throws {
            let error = await thrownError { try await kit.get(URL(string: "http://127.0.0.1:9/")!) }
            guard case .connect = error as? HTTPTransportError else {
                Issue.record("expected Connect, got \(String(describing: error))")
                return
            }
        }

        @Test func timeoutSurfacesAsARetryableKeyfobError() async throws {
            try await kit.setFaults(#"{"endpoints": [{"path": "/.well-known/openid-configuration", "delay_ms": 60000, "times": 1}]}"#)
            var configuration = kit.configuration()
            configuration.httpTimeout = 1
            let client = try KeyfobClient(configuration: configuration)

            let error = await keyfobError { try await client.beginLogin() }
            guard case .timeout = error else {
                Issue.record("expected timeout, got \(String(describing: error))")
                return
            }
            #expect(error?.isRetryable == true)
        }
    }
}

@Suite struct TransportCookies {
    /// Against a server that sets a cookie on every answer, as the Kotlin transport's twin test.
    @Test func cookiesAreNeitherKeptNorSent() async throws {
        let server = try CookieServer()
        defer { server.stop() }
        let transport = URLSessionTransport()
        let base = "http://127.0.0.1:\(server.port)"
        func get(_ path: String, headers: [HTTPHeader] = []) async throws -> HTTPResponse {
            try await transport.send(HTTPRequest(
                method: "GET", url: try #require(URL(string: base + path)), headers: headers,
                timeout: 10, maxResponseBytes: 1024))
        }
        let first = try await get("/login")
        #expect(first.value(forHeader: "Set-Cookie")?.hasPrefix("SID=") == true)
        _ = try await get("/api")
        _ = try await get("/login")
        // The server does see a cookie that is sent.
        _ = try await get("/api", headers: [HTTPHeader(name: "Cookie", value: "SID=explicit")])
        let heads = server.requestHeads.map { $0.lowercased() }
        #expect(heads.count == 4)
        #expect(heads.prefix(3).allSatisfy { !$0.contains("\r\ncookie:") }, "a cookie was sent back")
        #expect(heads.last?.contains("\r\ncookie: sid=explicit") == true)
    }
}

@Suite struct TransportConfiguration {
    @Test func sessionKeepsNoCookiesCacheOrCredentials() {
        let configuration = URLSessionTransport.makeConfiguration()
        #expect(configuration.httpShouldSetCookies == false)
        #expect(configuration.httpCookieAcceptPolicy == .never)
        #expect(configuration.httpCookieStorage == nil)
        #expect(configuration.urlCache == nil)
        #expect(configuration.urlCredentialStorage == nil)
        #expect(configuration.requestCachePolicy == .reloadIgnoringLocalAndRemoteCacheData)
    }
}
