//! Plain data records across the FFI (Swift structs, Kotlin data classes).

use crate::http::json_text;
use crate::oidc::id_token::IdTokenClaims;

/// The client configuration. See [`crate::Config`] for what each field means and its bounds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobConfig {
    /// The issuer, exactly as in the provider's discovery document.
    pub issuer: String,
    /// The public client's identifier.
    pub client_id: String,
    /// The app's redirect URI (`myapp://callback`, `com.example.app:/callback`, …).
    pub redirect_uri: String,
    /// Scopes besides `openid` (which is always sent), e.g. `email`, `offline_access`.
    #[uniffi(default)]
    pub scopes: Vec<String>,
    /// Where the provider sends the browser after logout.
    #[uniffi(default)]
    pub post_logout_redirect_uri: Option<String>,
    /// Extra authorization request parameters (e.g. `audience`).
    #[uniffi(default)]
    pub extra_params: Vec<AuthParam>,
    /// Timeout of each HTTP request, in seconds (1–120).
    #[uniffi(default = 30)]
    pub http_timeout_secs: u32,
    /// Tolerated clock skew for ID token times, in seconds (at most 300).
    #[uniffi(default = 60)]
    pub clock_skew_secs: u32,
    /// Refresh access tokens with less than this many seconds left (at most 600), or less than
    /// half their lifetime when that is shorter.
    #[uniffi(default = 30)]
    pub refresh_margin_secs: u32,
    /// Refresh-ahead: a token due for a refresh but not expired is handed out at once while one
    /// refresh runs on the client's executor (see [`crate::ConfigBuilder::refresh_ahead`]).
    #[uniffi(default = true)]
    pub refresh_ahead: bool,
    /// DEVELOPMENT ONLY: hosts allowed over plain `http` besides loopback (e.g. `10.0.2.2` for
    /// the Android emulator). Leave empty in release builds.
    #[uniffi(default)]
    pub allow_insecure_http_hosts: Vec<String>,
    /// Keep several accounts signed in at once (default: one; a sign-in as another user then
    /// replaces the previous user's session). See [`crate::ConfigBuilder::multiple_accounts`].
    #[uniffi(default)]
    pub multiple_accounts: bool,
    /// The provider's metadata (discovery and keys, kept in the storage beside the session) is
    /// used for at most this many seconds before it is revalidated; less when its caching
    /// headers say so (at most 604800). See [`crate::ConfigBuilder::metadata_max_age`].
    #[uniffi(default = 86400)]
    pub metadata_max_age_secs: u32,
    /// ... and for at least this many seconds, whatever its caching headers say (at least 1).
    /// See [`crate::ConfigBuilder::metadata_min_age`].
    #[uniffi(default = 60)]
    pub metadata_min_age_secs: u32,
    /// Push authorization requests (RFC 9126) whenever the provider offers it (default: only
    /// when it requires it). See [`crate::ConfigBuilder::pushed_authorization_requests`].
    #[uniffi(default)]
    pub pushed_authorization_requests: bool,
    /// The APIs the app calls, by RFC 8707 resource indicator (see
    /// [`crate::ConfigBuilder::resource`]): sent with the sign-in, and what `accessTokenFor`
    /// gets narrower tokens for.
    #[uniffi(default)]
    pub resources: Vec<String>,
}

impl KeyfobConfig {
    /// The configuration of a public client with `issuer`, `client_id` and `redirect_uri`, and
    /// every other field at its default: the core's [`crate::Config`] defaults (a test checks
    /// they agree), which the `#[uniffi(default)]`s above repeat for Swift and Kotlin.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        KeyfobConfig {
            issuer: issuer.into(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scopes: Vec::new(),
            post_logout_redirect_uri: None,
            extra_params: Vec::new(),
            http_timeout_secs: 30,
            clock_skew_secs: 60,
            refresh_margin_secs: 30,
            refresh_ahead: true,
            allow_insecure_http_hosts: Vec::new(),
            multiple_accounts: false,
            metadata_max_age_secs: 86_400,
            metadata_min_age_secs: 60,
            pushed_authorization_requests: false,
            resources: Vec::new(),
        }
    }
}

/// A name/value parameter.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuthParam {
    /// Parameter name.
    pub name: String,
    /// Parameter value.
    pub value: String,
}

/// Per-login options.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobLoginOptions {
    /// `prompt` (`login`, `consent`, `select_account`, `none`).
    #[uniffi(default)]
    pub prompt: Option<String>,
    /// `login_hint` (prefills the user name).
    #[uniffi(default)]
    pub login_hint: Option<String>,
    /// Further parameters (e.g. `ui_locales`).
    #[uniffi(default)]
    pub extra_params: Vec<AuthParam>,
    /// Step-up: `max_age` in seconds (`0`: authenticate now); the ID token's `auth_time` must
    /// be within it.
    #[uniffi(default)]
    pub max_age_secs: Option<u32>,
    /// Step-up: `acr_values`, in order of preference.
    #[uniffi(default)]
    pub acr_values: Vec<String>,
    /// Step-up: the ID token's `acr` must be one of `acr_values`.
    #[uniffi(default)]
    pub require_acr: bool,
}

impl From<KeyfobLoginOptions> for crate::LoginOptions {
    fn from(o: KeyfobLoginOptions) -> Self {
        crate::LoginOptions {
            prompt: o.prompt,
            login_hint: o.login_hint,
            extra_params: o
                .extra_params
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect(),
            max_age: o.max_age_secs.map(u64::from),
            acr_values: o.acr_values,
            require_acr: o.require_acr,
        }
    }
}

/// The validated ID token claims of the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobClaims {
    /// `iss`.
    pub issuer: String,
    /// `sub`: the user's stable identifier at the provider.
    pub subject: String,
    /// `aud`.
    pub audience: Vec<String>,
    /// `exp` of the ID token (seconds since the epoch).
    pub expires_at: i64,
    /// `iat` (seconds since the epoch).
    pub issued_at: i64,
    /// `auth_time`, when present: when the user last authenticated.
    pub auth_time: Option<i64>,
    /// `acr`, when present: the authentication context class the authentication satisfied.
    pub acr: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: Option<bool>,
    /// `name`.
    pub name: Option<String>,
    /// `preferred_username`.
    pub preferred_username: Option<String>,
    /// All other claims, as a JSON object.
    pub extra_json: String,
}

impl From<IdTokenClaims> for KeyfobClaims {
    fn from(c: IdTokenClaims) -> Self {
        KeyfobClaims {
            issuer: c.issuer,
            subject: c.subject,
            audience: c.audience,
            expires_at: c.expires_at,
            issued_at: c.issued_at,
            auth_time: c.auth_time,
            acr: c.acr,
            email: c.email,
            email_verified: c.email_verified,
            name: c.name,
            preferred_username: c.preferred_username,
            extra_json: json_text(&serde_json::Value::Object(c.extra)),
        }
    }
}

/// The tokens of the signed-in session, for apps that send the ID token to their own backend
/// (as the seed scenario does) or show when the session expires. Every string but `token_type`
/// is a secret: never log it (`Debug` shows none of them).
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobTokens {
    /// The access token, for `Authorization: Bearer` (prefer `accessToken()`, which refreshes).
    pub access_token: String,
    /// The raw ID token (a JWT) from sign-in or the latest refresh, validated by Keyfob.
    pub id_token: String,
    /// When the access token expires, in seconds since the epoch, if the provider said.
    pub expires_at: Option<i64>,
    /// The granted scopes (the requested ones when the provider did not list them).
    pub scopes: Vec<String>,
    /// `Bearer`, or `DPoP` for tokens bound to the client's DPoP key (send them with
    /// `authorizationHeaders`).
    pub token_type: String,
    /// The APIs the sign-in asked access for (RFC 8707 resource indicators).
    pub resources: Vec<String>,
}

impl std::fmt::Debug for KeyfobTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyfobTokens")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}

impl From<crate::session::Tokens> for KeyfobTokens {
    fn from(t: crate::session::Tokens) -> Self {
        KeyfobTokens {
            access_token: t.access_token().expose().to_string(),
            id_token: t.id_token().expose().to_string(),
            expires_at: t.expires_at(),
            scopes: t.scopes().to_vec(),
            token_type: t.token_type().to_string(),
            resources: t.resources().to_vec(),
        }
    }
}

/// One signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobAccount {
    /// The account's validated ID token claims (`subject` identifies it).
    pub claims: KeyfobClaims,
    /// Whether it is the active account.
    pub active: bool,
}

impl From<crate::session::AccountInfo> for KeyfobAccount {
    fn from(a: crate::session::AccountInfo) -> Self {
        KeyfobAccount {
            claims: a.claims.into(),
            active: a.active,
        }
    }
}

impl From<crate::client::Logout> for LogoutResult {
    fn from(outcome: crate::client::Logout) -> Self {
        LogoutResult {
            end_session_url: outcome.end_session_url.map(|u| u.expose().to_string()),
            end_session_state: outcome.end_session_state.map(|s| s.expose().to_string()),
            revocation_error: outcome.revocation_error.map(|e| e.to_string()),
            refresh_token_revoked: outcome.refresh_token_revoked,
        }
    }
}

/// The outcome of a logout.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogoutResult {
    /// The provider's end-session URL to open in the browser, if it has one (carries the ID token
    /// as `id_token_hint`: do not log it).
    pub end_session_url: Option<String>,
    /// The `state` sent with the end-session URL, to check on the post-logout redirect.
    pub end_session_state: Option<String>,
    /// Why revocation failed, if it did; the local session is cleared anyway.
    pub revocation_error: Option<String>,
    /// Whether the provider accepted the revocation of the session's refresh token. `false`
    /// with no `revocation_error`: nothing to revoke it with (no revocation endpoint, or no
    /// refresh token).
    pub refresh_token_revoked: bool,
}

/// An HTTP header. Its value may be a secret (`Authorization`, `DPoP`): `Debug` shows the name
/// only.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

impl std::fmt::Debug for HttpHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHeader")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A request for the platform transport. The body and `authorization` header may hold secrets:
/// never log them.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobHttpRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// Absolute URL (HTTPS, or HTTP to a loopback host).
    pub url: String,
    /// Headers to send.
    pub headers: Vec<HttpHeader>,
    /// Body (empty for GET).
    pub body: Vec<u8>,
    /// The whole exchange must finish within this many milliseconds.
    pub timeout_ms: u64,
    /// Stop reading and fail with `TooLarge` beyond this many body bytes.
    pub max_response_bytes: u64,
}

impl std::fmt::Debug for KeyfobHttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyfobHttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The platform transport's response. Redirects must be returned, not followed.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobHttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<HttpHeader>,
    /// Body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for KeyfobHttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyfobHttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_debug_shows_no_token() {
        let tokens = KeyfobTokens {
            access_token: "at-secret".into(),
            id_token: "idt-secret".into(),
            expires_at: Some(5),
            scopes: vec!["openid".into()],
            token_type: "Bearer".into(),
            resources: vec![],
        };
        let shown = format!("{tokens:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("expires_at"));
    }

    #[test]
    fn header_debug_shows_its_name_only() {
        let header = HttpHeader {
            name: "Authorization".into(),
            value: "DPoP at-secret".into(),
        };
        let shown = format!("{:?}", vec![header]);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("Authorization"));
    }
}
