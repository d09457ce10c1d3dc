import Foundation
import Keyfob
import Testing

extension TestkitSuite {
    /// The seed scenario through the Swift package: the real Rust library, the URLSession
    /// transport, and the testkit provider with servers A and B.
    @Suite struct SignIn {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        @Test func signInCallsBothServersRefreshesAndSignsOut() async throws {
            let client = try kit.client()
            #expect(client.state == nil, "nothing read before restore")
            #expect(try await client.restore() == .signedOut)

            // The app opens this URL in the browser: PKCE S256, state and nonce.
            let url = try await client.beginLogin()
            let query = URLComponents(url: url, resolvingAgainstBaseURL: false)?.queryItems ?? []
            #expect(query.first { $0.name == "code_challenge_method" }?.value == "S256")
            #expect(query.contains { $0.name == "state" } && query.contains { $0.name == "nonce" })
            #expect(client.state == .loginPending)

            // The provider redirects the browser to the app's deep link; the app hands it over.
            let callback = try await kit.browse(url)
            #expect(callback.absoluteString.hasPrefix("myapp://callback?"))
            let claims = try await client.handleRedirect(callback)
            #expect(claims.subject == "user-123")
            #expect(claims.email == "ada@company.com")
            #expect(claims.issuer == kit.issuer.absoluteString)
            #expect(client.state == .signedIn)
            #expect(client.claims == claims)

            // Servers A and B accept the access token.
            let token = try await client.accessToken()
            let crm = try await kit.callCRM(token: token)
            #expect(crm.status == 200)
            #expect(crm.body["server"] as? String == "crm")
            #expect(crm.body["sub"] as? String == "user-123")
            let orders = try await kit.callOrders(token: token)
            #expect(orders.status == 200)
            #expect(orders.body["server"] as? String == "orders")

            // UserInfo, checked against the ID token's subject.
            let userInfo = try JSONSerialization.jsonObject(with: try await client.userInfo()) as? [String: Any]
            #expect(userInfo?["sub"] as? String == "user-123")

            // A refresh gives a new access token that the servers accept.
            #expect(try await kit.stats().refreshToken == 0)
            try await client.refresh()
            let fresh = try await client.accessToken()
            #expect(fresh != token)
            #expect(try await kit.stats().refreshToken == 1)
            #expect(try await kit.callCRM(token: fresh).status == 200)
            #expect(try await kit.callOrders(token: fresh).status == 200)
            #expect(client.cachedAccessToken == fresh)

            // Logout revokes the refresh token and forgets the session.
            let logout = try await client.logout()
            #expect(logout.revocationError == nil)
            #expect(logout.endSessionURL?.absoluteString.hasPrefix(kit.issuer.absoluteString) == true)
            #expect(logout.endSessionState != nil)
            #expect(try await kit.stats().revoke == 1)
            #expect(client.state == .signedOut)
            #expect(client.claims == nil)
            let afterLogout = await keyfobError { try await client.accessToken() }
            #expect(afterLogout?.requiresSignIn == true)
            guard case .notSignedIn = afterLogout else {
                Issue.record("expected notSignedIn, got \(String(describing: afterLogout))")
                return
            }
        }

        @Test func callbackWithAnotherStateIsAStateMismatch() async throws {
            let client = try kit.client()
            let callback = try await kit.browse(try await client.beginLogin())
            var forged = URLComponents(url: callback, resolvingAgainstBaseURL: false)!
            forged.queryItems = forged.queryItems?.map {
                $0.name == "state" ? URLQueryItem(name: "state", value: "forged-state") : $0
            }

            let error = await keyfobError { try await client.handleRedirect(forged.url!) }
            guard case .stateMismatch = error else {
                Issue.record("expected stateMismatch, got \(String(describing: error))")
                return
            }
            #expect(error?.isRetryable == false)
            #expect(try await kit.stats().authorizationCode == 0, "no code exchange for a forged callback")
            #expect(client.state != .signedIn)
        }

        @Test func providerErrorKeepsItsOAuthCode() async throws {
            try await kit.setFaults(#"{"callback": {"error": "access_denied", "error_description": "User said no", "code": null}}"#)
            let client = try kit.client()
            let callback = try await kit.browse(try await client.beginLogin())

            let error = await keyfobError { try await client.handleRedirect(callback) }
            guard case .provider(let code, _) = error else {
                Issue.record("expected provider(access_denied), got \(String(describing: error))")
                return
            }
            #expect(code == "access_denied")
        }

        @Test func unsignedIdTokenIsRejected() async throws {
            try await kit.setFaults(#"{"id_token_signing": "alg_none"}"#)
            let client = try kit.client()

            let error = await keyfobError { try await kit.signIn(client) }
            guard case .idToken(let check, _) = error else {
                Issue.record("expected idToken, got \(String(describing: error))")
                return
            }
            #expect(check == .algorithm)
            #expect(client.state != .signedIn)
        }

        @Test func unreachableProviderIsARetryableNetworkError() async throws {
            var configuration = kit.configuration()
            configuration.issuer = URL(string: "http://127.0.0.1:9")!  // discard port: nobody listens
            let client = try KeyfobClient(configuration: configuration)

            let error = await keyfobError { try await client.beginLogin() }
            guard case .network = error else {
                Issue.record("expected network, got \(String(describing: error))")
                return
            }
            #expect(error?.isRetryable == true)
        }
    }
}

@Suite struct ConfigurationChecks {
    @Test(arguments: ["http://auth.company.com", "http://10.0.2.2:8080"])
    func plainHTTPIssuerIsRefused(issuer: String) {
        let configuration = KeyfobClient.Configuration(
            issuer: URL(string: issuer)!,
            clientID: "app",
            redirectURI: URL(string: "myapp://callback")!)
        #expect {
            try KeyfobClient(configuration: configuration)
        } throws: { error in
            guard case .insecureURL = error as? KeyfobError else { return false }
            return true
        }
    }

    @Test func outOfRangeTimeoutIsAConfigError() {
        var configuration = KeyfobClient.Configuration(
            issuer: URL(string: "https://auth.company.com")!,
            clientID: "app",
            redirectURI: URL(string: "myapp://callback")!)
        configuration.httpTimeout = 0
        #expect {
            try KeyfobClient(configuration: configuration)
        } throws: { error in
            guard case .config = error as? KeyfobError else { return false }
            return true
        }
    }
}
