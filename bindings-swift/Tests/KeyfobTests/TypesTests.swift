import Foundation
@testable import Keyfob
import KeyfobFFI
import Testing

/// What apps meet is Swift: dates, URLs, lower-camel-case cases, no secrets in descriptions.
@Suite struct SwiftTypes {
    @Test func claimsAreSwiftValuesWithTheirAdditionalClaims() throws {
        let claims = Claims(KeyfobClaims(
            issuer: "https://auth.company.com", subject: "user-123", audience: ["my-app"],
            expiresAt: 1_700_000_300, issuedAt: 1_700_000_000, authTime: nil, acr: nil, email: "ada@company.com",
            emailVerified: true, name: "Ada", preferredUsername: nil,
            extraJson: #"{"roles":["admin","dev"],"tenant":"acme","level":3,"gone":null}"#))
        #expect(claims.expirationDate == Date(timeIntervalSince1970: 1_700_000_300))
        #expect(claims.issueDate.timeIntervalSince1970 == 1_700_000_000)
        #expect(claims.authenticationDate == nil)
        #expect(claims.claim("roles", as: [String].self) == ["admin", "dev"])
        #expect(claims.claim("tenant", as: String.self) == "acme")
        #expect(claims.claim("level", as: Int.self) == 3)
        #expect(claims.claim("tenant", as: Int.self) == nil, "wrong type")
        #expect(claims.claim("gone", as: String.self) == nil)
        #expect(claims.claim("missing", as: String.self) == nil)
    }

    @Test func tokensNeverShowTheirSecrets() {
        let tokens = Tokens(KeyfobTokens(
            accessToken: "at-secret", idToken: "idt-secret", expiresAt: 1_700_000_300,
            scopes: ["openid", "email"], tokenType: "Bearer", resources: []))
        #expect(tokens.expirationDate == Date(timeIntervalSince1970: 1_700_000_300))
        var dumped = ""
        dump(tokens, to: &dumped)
        for shown in [tokens.description, tokens.debugDescription, "\(tokens)", String(reflecting: tokens), dumped] {
            #expect(!shown.contains("secret"), "\(shown)")
        }
        #expect(tokens.description.contains("email"))
    }

    @Test func headersNeverShowTheirValues() {
        let header = HTTPHeader(name: "DPoP", value: "proof-secret")
        let request = HTTPRequest(method: "GET", url: URL(string: "https://api.example.com")!, headers: [header])
        var dumped = ""
        dump(request.headers, to: &dumped)
        for shown in [header.description, header.debugDescription, "\(header)", String(reflecting: header), "\(request.headers)", dumped] {
            #expect(!shown.contains("secret"), "\(shown)")
        }
        #expect(header.description.contains("DPoP"))
    }

    @Test func logoutResultCarriesAnEndSessionURL() {
        let result = Keyfob.LogoutResult(KeyfobFFI.LogoutResult(
            endSessionUrl: "https://auth.company.com/logout?state=s", endSessionState: "s",
            revocationError: nil, refreshTokenRevoked: true))
        #expect(result.endSessionURL?.host == "auth.company.com")
        #expect(result.refreshTokenRevoked)
    }

    @Test func statesAndEventsMapOneToOne() {
        let states: [KeyfobFFI.SessionState] = [.signedOut, .loginPending, .signedIn, .needsReLogin, .storageUnavailable]
        #expect(Set(states.map(Keyfob.SessionState.init)) == Set(Keyfob.SessionState.allCases))
        let events: [KeyfobFFI.SessionEvent] = [
            .loginStarted, .signedIn, .refreshed, .signedOut, .needsReLogin, .accountSwitched, .loginCancelled,
        ]
        #expect(Set(events.map(Keyfob.SessionEvent.init)) == Set(Keyfob.SessionEvent.allCases))
    }

    @Test func minimumLifetimesBecomeWholeSecondsRoundedUp() {
        #expect(secondsAtLeast(0) == 0)
        #expect(secondsAtLeast(-5) == 0)
        #expect(secondsAtLeast(.nan) == 0)
        #expect(secondsAtLeast(59.2) == 60, "at least that long")
        #expect(secondsAtLeast(60) == 60)
        #expect(secondsAtLeast(.infinity) == .max)
        #expect(secondsAtLeast(1e12) == .max)
    }

    @Test func optionsBecomeTheCoreRecordsInAStableOrder() {
        let configuration = KeyfobClient.Configuration(
            issuer: URL(string: "https://auth.company.com")!, clientID: "app",
            redirectURI: URL(string: "myapp://callback")!, additionalParameters: ["b": "2", "a": "1"],
            httpTimeout: 12.4, clockSkew: .infinity, refreshMargin: -3)
        let config = configuration.ffiConfig
        #expect(config.extraParams.map(\.name) == ["a", "b"])
        #expect(config.httpTimeoutSecs == 12)
        #expect(config.clockSkewSecs == 0, "not a number of seconds: left for the core to refuse")
        #expect(config.refreshMarginSecs == 0)
        #expect(config.refreshAhead, "refresh-ahead is on by default")
        var off = configuration
        off.refreshAhead = false
        #expect(!off.ffiConfig.refreshAhead)
        #expect(config.metadataMaxAgeSecs == 86_400)
        #expect(config.metadataMinAgeSecs == 60)
        let options = KeyfobClient.LoginOptions(prompt: "login", additionalParameters: ["ui_locales": "fr"]).ffiOptions
        #expect(options.prompt == "login")
        #expect(options.extraParams == [AuthParam(name: "ui_locales", value: "fr")])
    }
}

/// The HTTP seam between the core and Swift: Swift values both ways, every failure a core kind.
@Suite struct TransportSeam {
    struct Failing: HTTPTransport {
        let error: any Error
        func send(_ request: HTTPRequest) async throws -> HTTPResponse { throw error }
    }

    struct Answering: HTTPTransport {
        let status: Int
        func send(_ request: HTTPRequest) async throws -> HTTPResponse { HTTPResponse(status: status) }
    }

    static let request = KeyfobHttpRequest(
        method: "POST", url: "https://auth.company.com/token", headers: [HttpHeader(name: "Content-Type", value: "x")],
        body: Data("a=b".utf8), timeoutMs: 2500, maxResponseBytes: 1024)

    @Test func requestsArriveAsSwiftValues() throws {
        let request = try TransportBridge.request(Self.request)
        #expect(request.url == URL(string: "https://auth.company.com/token"))
        #expect(request.timeout == 2.5)
        #expect(request.maxResponseBytes == 1024)
        #expect(request.headers == [HTTPHeader(name: "Content-Type", value: "x")])
    }

    @Test func everyTransportFailureReachesTheCoreAsItsKind() async {
        struct Unexpected: Error {}
        let cases: [(any Error, TransportFailure)] = [
            (HTTPTransportError.timeout(reason: "t"), .Timeout(reason: "t")),
            (HTTPTransportError.connect(reason: "c"), .Connect(reason: "c")),
            (HTTPTransportError.tooLarge(reason: "l"), .TooLarge(reason: "l")),
            (HTTPTransportError.other(reason: "o"), .Other(reason: "o")),
        ]
        for (thrown, expected) in cases {
            let error = await thrownError { try await TransportBridge(Failing(error: thrown)).send(request: Self.request) }
            #expect(error as? TransportFailure == expected)
        }
        let unexpected = await thrownError { try await TransportBridge(Failing(error: Unexpected())).send(request: Self.request) }
        guard case .Other = unexpected as? TransportFailure else {
            Issue.record("expected Other, got \(String(describing: unexpected))")
            return
        }
        let badStatus = await thrownError { try await TransportBridge(Answering(status: 70_000)).send(request: Self.request) }
        guard case .Other = badStatus as? TransportFailure else {
            Issue.record("expected Other, got \(String(describing: badStatus))")
            return
        }
    }
}
