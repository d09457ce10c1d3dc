import Foundation
import KeyfobFFI

extension KeyfobClient {
    /// How the app is registered with the provider.
    public struct Configuration: Sendable, Equatable, Hashable {
        /// The issuer, exactly as in the provider's discovery document (HTTPS; HTTP only for
        /// loopback during development).
        public var issuer: URL
        /// The app's client identifier (a public client: there is no secret).
        public var clientID: String
        /// Where the provider sends the browser back: a custom scheme registered in the app's
        /// Info.plist (`myapp://callback`), a reverse-DNS one (`com.example.app:/callback`), or
        /// on iOS 17.4 / macOS 14.4 and later an `https` universal link of an associated domain
        /// (`https://app.example.com/callback`).
        public var redirectURI: URL
        /// Scopes besides `openid` (always sent), e.g. `email`, `offline_access` (needed for a
        /// refresh token at most providers).
        public var scopes: [String]
        /// Where the provider sends the browser after logout, if the app wants it back.
        public var postLogoutRedirectURI: URL?
        /// Extra authorization request parameters for every login, e.g. `audience`.
        public var additionalParameters: [String: String]
        /// Timeout of each HTTP request, in seconds (1–120).
        public var httpTimeout: TimeInterval
        /// Tolerated clock skew for ID token times, in seconds (at most 300).
        public var clockSkew: TimeInterval
        /// Access tokens with less than this many seconds left are refreshed first (at most 600).
        public var refreshMargin: TimeInterval
        /// DEVELOPMENT ONLY: hosts allowed over plain HTTP besides loopback (e.g. a laptop's LAN
        /// address for a test provider reached from a device). Leave empty in release builds.
        public var allowInsecureHTTPHosts: [String]
        /// Keep several accounts signed in at once (see ``KeyfobClient/accounts()``). Off by
        /// default: a sign-in as another user replaces the previous user's session.
        public var multipleAccounts: Bool
        /// The provider's metadata (discovery document and signing keys) is kept in the storage
        /// beside the session, so that a launch with an expired access token costs one request,
        /// the refresh. It is used for at most this many seconds (at most a week) before it is
        /// revalidated; less when the provider's caching headers say so.
        public var metadataMaxAge: TimeInterval
        /// ... and for at least this many seconds (at least 1), whatever the provider's caching
        /// headers say (`max-age=0`, `no-cache`, `no-store`).
        public var metadataMinAge: TimeInterval
        /// Push authorization requests (RFC 9126) whenever the provider offers it, so that the
        /// browser carries only `client_id` and a `request_uri`. Off by default: then they are
        /// pushed only when the provider requires it.
        public var pushAuthorizationRequests: Bool

        /// A configuration; only `issuer`, `clientID` and `redirectURI` have no default.
        public init(
            issuer: URL,
            clientID: String,
            redirectURI: URL,
            scopes: [String] = [],
            postLogoutRedirectURI: URL? = nil,
            additionalParameters: [String: String] = [:],
            httpTimeout: TimeInterval = 30,
            clockSkew: TimeInterval = 60,
            refreshMargin: TimeInterval = 30,
            allowInsecureHTTPHosts: [String] = [],
            multipleAccounts: Bool = false,
            metadataMaxAge: TimeInterval = 86_400,
            metadataMinAge: TimeInterval = 60,
            pushAuthorizationRequests: Bool = false
        ) {
            self.issuer = issuer
            self.clientID = clientID
            self.redirectURI = redirectURI
            self.scopes = scopes
            self.postLogoutRedirectURI = postLogoutRedirectURI
            self.additionalParameters = additionalParameters
            self.httpTimeout = httpTimeout
            self.clockSkew = clockSkew
            self.refreshMargin = refreshMargin
            self.allowInsecureHTTPHosts = allowInsecureHTTPHosts
            self.multipleAccounts = multipleAccounts
            self.metadataMaxAge = metadataMaxAge
            self.metadataMinAge = metadataMinAge
            self.pushAuthorizationRequests = pushAuthorizationRequests
        }

        var ffiConfig: KeyfobConfig {
            KeyfobConfig(
                issuer: issuer.absoluteString,
                clientId: clientID,
                redirectUri: redirectURI.absoluteString,
                scopes: scopes,
                postLogoutRedirectUri: postLogoutRedirectURI?.absoluteString,
                extraParams: authParams(additionalParameters),
                httpTimeoutSecs: seconds(httpTimeout),
                clockSkewSecs: seconds(clockSkew),
                refreshMarginSecs: seconds(refreshMargin),
                allowInsecureHttpHosts: allowInsecureHTTPHosts,
                multipleAccounts: multipleAccounts,
                metadataMaxAgeSecs: seconds(metadataMaxAge),
                metadataMinAgeSecs: seconds(metadataMinAge),
                pushedAuthorizationRequests: pushAuthorizationRequests
            )
        }
    }

    /// Options for one login.
    public struct LoginOptions: Sendable, Equatable, Hashable {
        /// `prompt`: `login`, `consent`, `select_account` or `none`.
        public var prompt: String?
        /// `login_hint`: prefills the user name on the provider's page.
        public var loginHint: String?
        /// Further authorization request parameters, e.g. `ui_locales`.
        public var additionalParameters: [String: String]

        /// Options for one login.
        public init(prompt: String? = nil, loginHint: String? = nil, additionalParameters: [String: String] = [:]) {
            self.prompt = prompt
            self.loginHint = loginHint
            self.additionalParameters = additionalParameters
        }

        var ffiOptions: KeyfobLoginOptions {
            KeyfobLoginOptions(prompt: prompt, loginHint: loginHint, extraParams: authParams(additionalParameters))
        }
    }
}

/// Parameters in a stable order (sorted by name), so that equal configurations build equal URLs.
private func authParams(_ parameters: [String: String]) -> [AuthParam] {
    parameters.sorted { $0.key < $1.key }.map { AuthParam(name: $0.key, value: $0.value) }
}

/// Seconds as the core's whole-second integers; out-of-range values are left for the core's
/// validation to reject (negative and NaN become 0, huge values saturate).
private func seconds(_ interval: TimeInterval) -> UInt32 {
    guard interval.isFinite, interval > 0 else { return 0 }
    return interval >= TimeInterval(UInt32.max) ? UInt32.max : UInt32(interval.rounded())
}
