import Foundation
import Keyfob
import Testing

private let crmAPI = URL(string: "https://crm.company.com")!
private let ordersAPI = URL(string: "https://orders.company.com")!

extension TestkitSuite {
    /// The grants beyond a browser sign-in, from Swift: a token for each API (RFC 8707), the
    /// identity exchanged for the internal server's token (RFC 8693), sign-in on a device without
    /// a browser (RFC 8628), and step-up.
    @Suite struct Grants {
        let kit: Testkit

        init() async throws {
            kit = try Testkit.current()
            try await kit.reset()
        }

        /// The testkit's clock `seconds` ahead while `body` runs (it is shared by every test).
        private func withClockAhead(_ seconds: Int, _ body: () async throws -> Void) async throws {
            try await kit.advanceClock(seconds)
            do {
                try await body()
            } catch {
                try await kit.advanceClock(-seconds)
                throw error
            }
            try await kit.advanceClock(-seconds)
        }

        private func providerError(_ error: KeyfobError?) -> String? {
            guard case .provider(let code, _) = error else { return nil }
            return code
        }

        // MARK: - A token for each API

        @Test func eachAPIGetsATokenForItAlone() async throws {
            var configuration = kit.configuration()
            configuration.resources = [crmAPI, ordersAPI]
            let client = try KeyfobClient(configuration: configuration, storage: .memory)
            try await kit.signIn(client)
            #expect(try await client.tokens()?.resources == [crmAPI.absoluteString, ordersAPI.absoluteString])

            let crm = try await client.accessToken(for: crmAPI)
            let orders = try await client.accessToken(for: ordersAPI)
            #expect(try await kit.callCRM(token: crm).status == 200)
            #expect(try await kit.callOrders(token: crm).status == 401)
            #expect(try await kit.callOrders(token: orders).status == 200)
            #expect(try await kit.callCRM(token: orders).status == 401)
            // The session's own token still serves both.
            let both = try await client.accessToken()
            #expect(try await kit.callCRM(token: both).status == 200)
            #expect(try await kit.callOrders(token: both).status == 200)

            // Kept: no request the second time, and concurrent callers share one.
            #expect(try await client.accessToken(for: crmAPI) == crm)
            #expect(try await kit.stats().refreshToken == 2)
        }

        @Test func concurrentCallersShareOneRefreshPerAPIAndExpiryIsPerToken() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            // Tokens issued for 0 s: expired at once (a 1 s token would serve for its second:
            // the refresh margin is at most half a token's lifetime).
            try await kit.setFaults(#"{"token_response": {"expires_in": 0}}"#)
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<10 { group.addTask { try await client.accessToken(for: crmAPI) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(tokens).count == 1)
            #expect(try await kit.stats().refreshToken == 1, "one refresh for ten callers")
            // Expired: the next call refreshes again.
            _ = try await client.accessToken(for: crmAPI)
            #expect(try await kit.stats().refreshToken == 2)
        }

        @Test func anAPIOutsideTheGrantIsInvalidTarget() async throws {
            var configuration = kit.configuration()
            configuration.resources = [crmAPI]
            let client = try KeyfobClient(configuration: configuration, storage: .memory)
            try await kit.signIn(client)
            let error = await keyfobError { try await client.accessToken(for: ordersAPI) }
            #expect(providerError(error) == "invalid_target")
            #expect(error?.requiresSignIn == false)
            #expect(client.state == .signedIn)
        }

        // MARK: - Token exchange

        @Test func theIdentityIsExchangedForAnInternalTokenThatAAndBAccept() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            let before = try await client.tokens()
            let request = TokenExchange(issuer: kit.internalIssuer, clientID: kit.clientID)
            let exchanged = try await client.exchange(request)
            #expect(exchanged.issuedTokenType == "urn:ietf:params:oauth:token-type:access_token")
            #expect(exchanged.scopes == ["customers:read", "orders:read"])
            #expect(!"\(exchanged)".contains(exchanged.accessToken))
            #expect(try await kit.callCRM(token: exchanged.accessToken).status == 200)
            #expect(try await kit.callOrders(token: exchanged.accessToken).status == 200)
            #expect(try await client.exchangedAccessToken(request) == exchanged.accessToken)
            #expect(try await kit.stats().tokenExchange == 1)
            #expect(try await client.tokens() == before, "the session is untouched")
        }

        @Test func forgedExpiredOrForeignSubjectsAndForgedActorsAreRejected() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            let idToken = try #require(try await client.tokens()?.idToken)
            let forged = String(idToken.dropLast()) + (idToken.hasSuffix("A") ? "B" : "A")
            let forgedRequest = TokenExchange(
                issuer: kit.internalIssuer, clientID: kit.clientID,
                subject: .token(forged, type: "urn:ietf:params:oauth:token-type:id_token"))
            #expect(providerError(await keyfobError { try await client.exchange(forgedRequest) }) == "invalid_grant")

            // The actor's token is sent and checked too; neither `description` nor `dump` shows it.
            let forgedActor = TokenExchange(
                issuer: kit.internalIssuer, clientID: kit.clientID,
                actorToken: .init(token: forged, type: "urn:ietf:params:oauth:token-type:id_token"))
            var dumped = ""
            dump(forgedActor, to: &dumped)
            #expect(!dumped.contains(forged) && !"\(forgedActor)".contains(forged))
            #expect(providerError(await keyfobError { try await client.exchange(forgedActor) }) == "invalid_grant")

            try await withClockAhead(301) {
                let expired = TokenExchange(issuer: kit.internalIssuer, clientID: kit.clientID)
                #expect(providerError(await keyfobError { try await client.exchange(expired) }) == "invalid_grant")
            }

            // An access token whose issuer is not the provider.
            try await kit.setFaults(#"{"access_token_claims": {"iss": "https://evil.example"}}"#)
            let other = try kit.client()
            try await kit.signIn(other)
            let foreign = TokenExchange(issuer: kit.internalIssuer, clientID: kit.clientID, subject: .accessToken)
            #expect(providerError(await keyfobError { try await other.exchange(foreign) }) == "invalid_grant")
            #expect(try await kit.stats().tokenExchangeRejected == 4)
        }

        // MARK: - Devices without a browser

        @Test func aDevicePollsUntilTheUserApproves() async throws {
            try await kit.setFaults(#"{"device_interval": 1}"#)
            let client = try kit.client()
            let device = try await client.beginDeviceLogin()
            #expect(device.interval == 1)
            #expect(device.userCode.count == 9)
            let complete = try #require(device.verificationURIComplete)
            #expect(complete.absoluteString.hasPrefix(device.verificationURI.absoluteString))
            async let claims = client.completeDeviceLogin()
            // The user approves on their phone once the device has polled (pending) once.
            #expect(try await eventually { try await kit.stats().deviceCode >= 1 })
            #expect(try await kit.get(complete).status == 200)
            #expect(try await claims.subject == "user-123")
            #expect(client.state == .signedIn)
            let token = try await client.accessToken()
            #expect(try await kit.callCRM(token: token).status == 200)
        }

        @Test func slowDownAddsFiveSeconds() async throws {
            try await kit.setFaults(#"{"device_interval": 1, "device_slow_down": 1}"#)
            let client = try kit.client()
            let device = try await client.beginDeviceLogin()
            #expect(try await kit.get(try #require(device.verificationURIComplete)).status == 200)
            let started = Date()
            try await client.completeDeviceLogin()
            // 1 s, then slow_down: 6 s (had the client not waited, the testkit would have
            // answered slow_down again).
            #expect(Date().timeIntervalSince(started) >= 6)
            let stats = try await kit.stats()
            #expect(stats.deviceSlowDown == 1)
            #expect(stats.deviceCode == 2)
        }

        @Test func aDeniedOrExpiredDeviceLoginIsAProviderError() async throws {
            try await kit.setFaults(#"{"device_interval": 1}"#)
            let client = try kit.client()
            let device = try await client.beginDeviceLogin()
            let deny = URL(string: try #require(device.verificationURIComplete).absoluteString + "&action=deny")!
            #expect(try await kit.get(deny).status == 200)
            #expect(providerError(await keyfobError { try await client.completeDeviceLogin() }) == "access_denied")

            _ = try await client.beginDeviceLogin()
            try await withClockAhead(601) {
                #expect(providerError(await keyfobError { try await client.completeDeviceLogin() }) == "expired_token")
            }
            #expect(client.state == .signedOut)
        }

        // MARK: - Step-up

        @Test func aFreshAuthenticationWithTheAskedACRIsAccepted() async throws {
            let client = try kit.client()
            let options = KeyfobClient.LoginOptions(maxAge: 0, acrValues: ["urn:keyfob:loa:2"], requireACR: true)
            let claims = try await client.handleRedirect(try await kit.browse(try await client.beginLogin(options)))
            #expect(claims.authenticationContextClass == "urn:keyfob:loa:2")
            #expect(claims.authenticationDate != nil)
            #expect(client.claims?.authenticationContextClass == "urn:keyfob:loa:2")
        }

        @Test func aStaleOrMissingAuthTimeOrAnotherACRIsRejected() async throws {
            let client = try kit.client()
            try await kit.signIn(client)
            let session = try await client.tokens()
            let stepUp = { (options: KeyfobClient.LoginOptions) async -> KeyfobError? in
                await keyfobError {
                    try await client.handleRedirect(try await kit.browse(try await client.beginLogin(options)))
                }
            }
            let old = Int(Date().timeIntervalSince1970) - 3600
            try await kit.setFaults(#"{"id_token_claims": {"auth_time": \#(old)}}"#)
            guard case .idToken(let stale, _) = await stepUp(.init(maxAge: 300)) else {
                Issue.record("a stale auth_time was accepted")
                return
            }
            #expect(stale == .authTime)
            try await kit.setFaults(#"{"id_token_claims": {"auth_time": null}}"#)
            guard case .idToken(let missing, _) = await stepUp(.init(maxAge: 300)) else {
                Issue.record("a missing auth_time was accepted")
                return
            }
            #expect(missing == .authTime)
            try await kit.setFaults(#"{"id_token_claims": {"acr": "urn:keyfob:loa:1"}}"#)
            guard case .idToken(let weaker, _) = await stepUp(.init(acrValues: ["urn:keyfob:loa:2"], requireACR: true)) else {
                Issue.record("another acr was accepted")
                return
            }
            #expect(weaker == .acr)
            #expect(try await client.tokens() == session, "the session before the step-up stays")
        }
    }
}
