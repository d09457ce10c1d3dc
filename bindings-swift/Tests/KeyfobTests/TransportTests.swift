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
            let client = try kit.client()
            let response = try await kit.get(try await client.beginLogin())
            #expect((300..<400).contains(response.status))
            #expect(response.value(forHeader: "location")?.hasPrefix("myapp://callback?") == true)
        }

        @Test func oversizedBodyFailsWhileReceiving() async throws {
            try await kit.setFaults(#"{"endpoints": [{"path": "/api/customers", "body_bytes": 50000000}]}"#)
            let started = Date()
            let error = await thrownError {
                try await kit.get(kit.crm.appendingPathComponent("api/customers"), maxResponseBytes: 64 * 1024)
            }
            guard case .tooLarge = error as? HTTPTransportError else {
                Issue.record("expected TooLarge, got \(String(describing: error))")
                return
            }
            // 50 MB are streamed without Content-Length: stopping at the cap is quick.
            #expect(Date().timeIntervalSince(started) < 5)
        }

        @Test func slowResponseTimesOut() async throws {
            try await kit.setFaults(#"{"endpoints": [{"path": "/api/orders", "delay_ms": 5000}]}"#)
            let started = Date()
            let error = await thrownError {
                try await kit.get(kit.orders.appendingPathComponent("api/orders"), timeout: 0.3)
            }
            guard case .timeout = error as? HTTPTransportError else {
                Issue.record("expected Timeout, got \(String(describing: error))")
                return
            }
            #expect(Date().timeIntervalSince(started) < 3)
        }

        @Test func refusedConnectionIsAConnectFailure() async throws {
            let error = await thrownError { try await kit.get(URL(string: "http://127.0.0.1:9/")!) }
            guard case .connect = error as? HTTPTransportError else {
                Issue.record("expected Connect, got \(String(describing: error))")
                return
            }
        }

        @Test func timeoutSurfacesAsARetryableKeyfobError() async throws {
            try await kit.setFaults(#"{"endpoints": [{"path": "/.well-known/openid-configuration", "delay_ms": 5000}]}"#)
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
