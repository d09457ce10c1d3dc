//! The client configuration and its validation.

use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};
use crate::http::caching::AgeBounds;
use crate::http::parse_url;
use crate::http::url_policy::{is_loopback, require_secure_url};

/// Parameters the SDK sets itself on the authorization request; `extra_params` may not set them.
pub(crate) const RESERVED_AUTH_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    // Set by Keyfob when the session is DPoP-bound (RFC 9449 §10).
    "dpop_jkt",
    // Not supported: each would change what the response means or how it comes back, and
    // Keyfob would not check it (max_age needs auth_time checks; JAR could replace state,
    // nonce and the PKCE challenge; response_mode could move the code out of the query).
    "max_age",
    "response_mode",
    "request",
    "request_uri",
];

/// The largest clock skew Keyfob accepts: more would keep expired tokens alive.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The default of [`ConfigBuilder::metadata_max_age`]: a day.
const DEFAULT_METADATA_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The default of [`ConfigBuilder::metadata_min_age`]: a minute.
const DEFAULT_METADATA_MIN_AGE: Duration = Duration::from_secs(60);
/// The largest [`ConfigBuilder::metadata_max_age`]: a removed signing key must stop being
/// trusted within a week whatever the configuration.
const MAX_METADATA_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A validated client configuration. Build it with [`Config::builder`].
///
/// A `Config` that exists is valid: the issuer and every URL are HTTPS (or loopback), the redirect
/// URI is usable by a native app, and `openid` is among the scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: Url,
    pub(crate) scopes: Vec<String>,
    pub(crate) post_logout_redirect_uri: Option<Url>,
    pub(crate) extra_params: Vec<(String, String)>,
    pub(crate) http_timeout: Duration,
    pub(crate) clock_skew: Duration,
    pub(crate) max_response_bytes: u64,
    pub(crate) refresh_margin: Duration,
    pub(crate) insecure_http_hosts: Vec<String>,
    pub(crate) multiple_accounts: bool,
    pub(crate) metadata_max_age: Duration,
    pub(crate) metadata_min_age: Duration,
    pub(crate) pushed_authorization_requests: bool,
}

impl Config {
    /// Starts a configuration for `issuer` (exactly as the provider's discovery document spells
    /// it), a public client `client_id`, and the app's `redirect_uri` (a custom scheme such as
    /// `myapp://callback` or `com.example.app:/callback`, a claimed `https` link, or a loopback
    /// `http://127.0.0.1:PORT/path`).
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> ConfigBuilder {
        ConfigBuilder {
            issuer: issuer.into(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scopes: vec!["openid".into()],
            post_logout_redirect_uri: None,
            extra_params: Vec::new(),
            http_timeout: Duration::from_secs(30),
            clock_skew: Duration::from_secs(60),
            max_response_bytes: 1024 * 1024,
            refresh_margin: Duration::from_secs(30),
            insecure_http_hosts: Vec::new(),
            multiple_accounts: false,
            metadata_max_age: DEFAULT_METADATA_MAX_AGE,
            metadata_min_age: DEFAULT_METADATA_MIN_AGE,
            pushed_authorization_requests: false,
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The client identifier.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The redirect URI, as sent to the provider.
    pub fn redirect_uri(&self) -> &str {
        self.redirect_uri.as_str()
    }

    /// The requested scopes; `openid` is always first.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The post-logout redirect URI, if any.
    pub fn post_logout_redirect_uri(&self) -> Option<&str> {
        self.post_logout_redirect_uri.as_ref().map(Url::as_str)
    }

    /// The timeout of every HTTP request.
    pub fn http_timeout(&self) -> Duration {
        self.http_timeout
    }

    /// The clock skew tolerated when checking `exp` and `iat`.
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    /// An access token with less than this left is refreshed before it is handed out.
    pub fn refresh_margin(&self) -> Duration {
        self.refresh_margin
    }

    /// Whether several accounts may be signed in at once (see
    /// [`ConfigBuilder::multiple_accounts`]).
    pub fn multiple_accounts(&self) -> bool {
        self.multiple_accounts
    }

    /// The longest time the provider's metadata is used before it is revalidated (see
    /// [`ConfigBuilder::metadata_max_age`]).
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }

    /// The shortest time the provider's metadata is used before it is revalidated (see
    /// [`ConfigBuilder::metadata_min_age`]).
    pub fn metadata_min_age(&self) -> Duration {
        self.metadata_min_age
    }

    /// The metadata age bounds, in seconds, for the caches.
    pub(crate) fn metadata_age_bounds(&self) -> AgeBounds {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        AgeBounds {
            min: secs(self.metadata_min_age),
            max: secs(self.metadata_max_age),
        }
    }

    /// Whether authorization requests are pushed when the provider offers it (see
    /// [`ConfigBuilder::pushed_authorization_requests`]).
    pub fn pushed_authorization_requests(&self) -> bool {
        self.pushed_authorization_requests
    }
}

/// Builder for [`Config`]; [`ConfigBuilder::build`] validates everything at once.
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    issuer: String,
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    post_logout_redirect_uri: Option<String>,
    extra_params: Vec<(String, String)>,
    http_timeout: Duration,
    clock_skew: Duration,
    max_response_bytes: u64,
    refresh_margin: Duration,
    insecure_http_hosts: Vec<String>,
    multiple_accounts: bool,
    metadata_max_age: Duration,
    metadata_min_age: Duration,
    pushed_authorization_requests: bool,
}

impl ConfigBuilder {
    /// Adds scopes (`openid` is always included; duplicates are dropped).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Where the provider sends the browser after logout (RP-initiated logout).
    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uri = Some(uri.into());
        self
    }

    /// An extra authorization request parameter, e.g. `audience`, `prompt`, `login_hint`,
    /// `ui_locales`. The parameters Keyfob sets itself cannot be overridden.
    pub fn extra_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// Timeout of each HTTP request (default 30 s; between 1 s and 120 s).
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Tolerated clock difference with the provider (default 60 s; at most 5 minutes).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// Largest accepted response body (default 1 MiB; between 16 KiB and 16 MiB).
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Refresh an access token that has less than this left (default 30 s; at most 10 minutes),
    /// so that it does not expire on its way to the API.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Keeps several accounts signed in at once (default: one). A sign-in adds the account of
    /// the user who signed in (or replaces that user's earlier session) and makes it the active
    /// one; the others stay, to switch to with [`crate::Client::switch_account`]. With one
    /// account (the default), a sign-in as another user replaces the previous user's session and
    /// revokes its refresh token.
    pub fn multiple_accounts(mut self, enabled: bool) -> Self {
        self.multiple_accounts = enabled;
        self
    }

    /// How long the provider's metadata (its discovery document and signing keys) is used at
    /// most before Keyfob asks the provider again (default 24 hours; at most 7 days).
    ///
    /// The metadata is kept beside the session in the same storage, so that a new process or an
    /// app launch needs no discovery or key-set request: an expired access token costs exactly
    /// one request, the refresh. How long each copy stays fresh is what the provider's HTTP
    /// caching headers say (`Cache-Control: max-age`, `Expires`; this maximum when they say
    /// nothing), within [`ConfigBuilder::metadata_min_age`] and this maximum. A stale copy is
    /// revalidated (`If-None-Match` / `If-Modified-Since` when the provider sent `ETag` /
    /// `Last-Modified`): beside the token request when a refresh or sign-in can use the stale
    /// copy meanwhile, before anything else otherwise. Keys are never trusted past their
    /// freshness: a key the provider removed stops being trusted once the copy expires. A
    /// response with `Cache-Control: no-store` is not written to storage.
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.metadata_max_age = age;
        self
    }

    /// How long the provider's metadata is used at least before Keyfob asks the provider again,
    /// whatever its caching headers say (default 60 seconds; between 1 second and
    /// [`ConfigBuilder::metadata_max_age`]): `max-age=0`, `no-cache` or `no-store` cannot make
    /// Keyfob fetch on every request.
    pub fn metadata_min_age(mut self, age: Duration) -> Self {
        self.metadata_min_age = age;
        self
    }

    /// Pushes authorization requests (RFC 9126) whenever the provider offers a pushed
    /// authorization request endpoint, so that the browser carries only `client_id` and a
    /// `request_uri` (default: only when the provider requires it).
    pub fn pushed_authorization_requests(mut self, enabled: bool) -> Self {
        self.pushed_authorization_requests = enabled;
        self
    }

    /// DEVELOPMENT ONLY: allows plain `http://` for the issuer and the provider's endpoints on
    /// `host` (e.g. `10.0.2.2`, the Android emulator's address for the developer's machine).
    /// Loopback hosts never need this. Never ship a build that sets it.
    pub fn allow_insecure_http_host(mut self, host: impl Into<String>) -> Self {
        self.insecure_http_hosts.push(host.into());
        self
    }

    /// Validates the configuration.
    pub fn build(self) -> Result<Config> {
        if let Some(h) = self
            .insecure_http_hosts
            .iter()
            .find(|h| h.is_empty() || h.contains(['/', ':', '@']))
        {
            return Err(Error::config(format!(
                "insecure http host {h:?} must be a bare host name or IPv4 address"
            )));
        }
        for h in &self.insecure_http_hosts {
            log::warn!("plain http allowed for {h}: development builds only");
        }
        let issuer = validate_issuer(&self.issuer, &self.insecure_http_hosts)?;
        let client_id = self.client_id.trim().to_string();
        if client_id.is_empty() || client_id != self.client_id {
            return Err(Error::config(
                "client_id must be non-empty and have no surrounding spaces",
            ));
        }
        let redirect_uri = validate_redirect_uri(&self.redirect_uri, "redirect_uri")?;
        let post_logout_redirect_uri = self
            .post_logout_redirect_uri
            .as_deref()
            .map(|u| validate_redirect_uri(u, "post_logout_redirect_uri"))
            .transpose()?;
        let scopes = normalize_scopes(self.scopes)?;
        for (name, _) in &self.extra_params {
            if RESERVED_AUTH_PARAMS.contains(&name.as_str()) {
                return Err(Error::config(format!(
                    "extra parameter `{name}` is set by Keyfob itself and cannot be overridden"
                )));
            }
            if name.is_empty() {
                return Err(Error::config("extra parameter names must be non-empty"));
            }
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(120)).contains(&self.http_timeout) {
            return Err(Error::config(
                "http_timeout must be between 1 and 120 seconds",
            ));
        }
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(Error::config("clock_skew must be at most 300 seconds"));
        }
        if !(16 * 1024..=16 * 1024 * 1024).contains(&self.max_response_bytes) {
            return Err(Error::config(
                "max_response_bytes must be between 16 KiB and 16 MiB",
            ));
        }
        if self.refresh_margin > Duration::from_secs(600) {
            return Err(Error::config("refresh_margin must be at most 600 seconds"));
        }
        if self.metadata_max_age > MAX_METADATA_AGE {
            return Err(Error::config("metadata_max_age must be at most 7 days"));
        }
        if !(Duration::from_secs(1)..=self.metadata_max_age).contains(&self.metadata_min_age) {
            return Err(Error::config(
                "metadata_min_age must be at least 1 second and at most metadata_max_age",
            ));
        }
        Ok(Config {
            issuer,
            client_id,
            redirect_uri,
            scopes,
            post_logout_redirect_uri,
            extra_params: self.extra_params,
            http_timeout: self.http_timeout,
            clock_skew: self.clock_skew,
            max_response_bytes: self.max_response_bytes,
            refresh_margin: self.refresh_margin,
            insecure_http_hosts: self.insecure_http_hosts,
            multiple_accounts: self.multiple_accounts,
            metadata_max_age: self.metadata_max_age,
            metadata_min_age: self.metadata_min_age,
            pushed_authorization_requests: self.pushed_authorization_requests,
        })
    }
}

fn validate_issuer(issuer: &str, insecure_hosts: &[String]) -> Result<String> {
    let url =
        parse_url(issuer).map_err(|e| Error::config(format!("issuer is not a valid URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            "issuer must not have a query or fragment (OpenID Connect Discovery §2)",
        ));
    }
    require_secure_url(&url, "issuer", insecure_hosts)?;
    // Keep the issuer exactly as given: it is compared byte for byte with the provider's.
    Ok(issuer.to_string())
}

fn validate_redirect_uri(uri: &str, field: &str) -> Result<Url> {
    let url =
        parse_url(uri).map_err(|e| Error::config(format!("{field} is not a valid URI: {e}")))?;
    if url.fragment().is_some() || url.query().is_some() {
        return Err(Error::config(format!(
            "{field} must not contain a query or fragment"
        )));
    }
    match url.scheme() {
        "http"
            // RFC 8252 §7.3: plain http only for the loopback interface.
            if !is_loopback(&url) => {
                return Err(Error::config(format!(
                    "{field}: http is only allowed for loopback addresses (127.0.0.1, [::1], localhost); use a custom scheme or https"
                )));
            }
        "https" => {}
        "javascript" | "data" | "file" | "about" | "blob" => {
            return Err(Error::config(format!(
                "{field}: scheme `{}` cannot be a redirect URI",
                url.scheme()
            )));
        }
        _ => {
            // A private-use URI scheme (RFC 8252 §7.1), e.g. `com.example.app:/callback`.
        }
    }
    Ok(url)
}

fn normalize_scopes(scopes: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        if scope.is_empty() || scope.bytes().any(|b| b <= b' ' || b == b'"' || b == b'\\') {
            return Err(Error::config(format!(
                "invalid scope {scope:?}: scopes are non-empty and contain no spaces, quotes or backslashes"
            )));
        }
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn build(issuer: &str, redirect: &str) -> Result<Config> {
        Config::builder(issuer, "app", redirect).build()
    }

    #[test]
    fn accepts_native_redirects() {
        for r in [
            "myapp://callback",
            "com.example.app:/callback",
            "https://app.example.com/callback",
            "http://127.0.0.1:8765/callback",
            "http://[::1]:8765/callback",
            "http://localhost/callback",
        ] {
            build("https://auth.company.com", r).unwrap_or_else(|e| panic!("{r}: {e}"));
        }
    }

    #[test]
    fn rejects_unsafe_redirects() {
        for r in [
            "http://app.example.com/callback",
            "myapp://callback#frag",
            "myapp://callback?x=1",
            "javascript:alert(1)",
            "not a uri",
        ] {
            let e = build("https://auth.company.com", r).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{r}");
        }
    }

    #[test]
    fn issuer_must_be_https_unless_loopback() {
        assert_eq!(
            build("http://auth.company.com", "myapp://cb")
                .unwrap_err()
                .kind(),
            ErrorKind::InsecureUrl
        );
        build("http://127.0.0.1:9000", "myapp://cb").unwrap();
        assert_eq!(
            build("https://auth.company.com?x=1", "myapp://cb")
                .unwrap_err()
                .kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn non_ascii_hosts_must_be_given_in_punycode() {
        // The mobile build carries no Unicode IDNA tables (idna_adapter 1.0.0).
        assert_eq!(
            build("https://bücher.example", "myapp://cb")
                .unwrap_err()
                .kind(),
            ErrorKind::Config
        );
        build("https://xn--bcher-kva.example", "myapp://cb").unwrap();
    }

    #[test]
    fn insecure_http_only_for_explicitly_allowed_hosts() {
        assert_eq!(
            build("http://10.0.2.2:9400", "myapp://cb")
                .unwrap_err()
                .kind(),
            ErrorKind::InsecureUrl
        );
        Config::builder("http://10.0.2.2:9400", "app", "myapp://cb")
            .allow_insecure_http_host("10.0.2.2")
            .build()
            .unwrap();
        assert!(
            Config::builder("http://10.0.2.2:9400", "app", "myapp://cb")
                .allow_insecure_http_host("10.0.2.2:9400")
                .build()
                .is_err()
        );
    }

    #[test]
    fn openid_is_always_first_and_scopes_are_deduplicated() {
        let c = Config::builder("https://a.example", "app", "myapp://cb")
            .scopes(["email", "openid", "email", "offline_access"])
            .build()
            .unwrap();
        assert_eq!(c.scopes(), ["openid", "email", "offline_access"]);
        let e = Config::builder("https://a.example", "app", "myapp://cb")
            .scopes(["two words"])
            .build()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
    }

    #[test]
    fn reserved_parameters_and_bounds_are_enforced() {
        let base = || Config::builder("https://a.example", "app", "myapp://cb");
        assert!(base().extra_param("state", "x").build().is_err());
        assert!(base().extra_param("audience", "api").build().is_ok());
        for unsupported in ["max_age", "response_mode", "request", "request_uri"] {
            assert!(
                base().extra_param(unsupported, "x").build().is_err(),
                "{unsupported}"
            );
        }
        assert!(base().clock_skew(Duration::from_secs(301)).build().is_err());
        assert!(base().http_timeout(Duration::ZERO).build().is_err());
        assert!(
            base()
                .refresh_margin(Duration::from_secs(601))
                .build()
                .is_err()
        );
        assert!(
            Config::builder("https://a.example", " ", "myapp://cb")
                .build()
                .is_err()
        );
    }

    #[test]
    fn metadata_ages_default_to_a_day_and_a_minute_within_bounds() {
        let base = || Config::builder("https://a.example", "app", "myapp://cb");
        let c = base().build().unwrap();
        assert_eq!(
            (c.metadata_max_age(), c.metadata_min_age()),
            (Duration::from_secs(86_400), Duration::from_secs(60))
        );
        assert_eq!(
            c.metadata_age_bounds(),
            AgeBounds {
                min: 60,
                max: 86_400
            }
        );
        let hour = Duration::from_secs(3600);
        let c = base()
            .metadata_max_age(hour)
            .metadata_min_age(hour)
            .build()
            .unwrap();
        assert_eq!(
            c.metadata_age_bounds(),
            AgeBounds {
                min: 3600,
                max: 3600
            }
        );
        for (max, min) in [
            (MAX_METADATA_AGE + Duration::from_secs(1), hour),
            (hour, Duration::ZERO),
            (hour, hour + Duration::from_secs(1)),
        ] {
            let e = base()
                .metadata_max_age(max)
                .metadata_min_age(min)
                .build()
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{max:?} {min:?}");
        }
    }
}
