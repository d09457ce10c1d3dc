//! The OpenID provider (`auth.company.com`): its state, its routes, discovery and
//! the JWKS. The other endpoints live in the submodules.

mod admin;
mod authorize;
mod caching;
mod grants;
mod issue;
mod logout;
mod par;
mod token;
mod userinfo;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::middleware::from_fn_with_state;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use url::{Host, Url};

use crate::faults::{Signing, apply_endpoint_faults, merge_object};
use crate::keys::{KeyRing, SigningKey};
use crate::resource::is_resource_server_request;
use crate::stats::count_provider_requests;
use crate::{Options, Shared, SigningAlg, TestUser};
use caching::Metadata;
use grants::Grants;

/// The provider's fixed configuration, taken from [`Options`].
struct Config {
    issuer: String,
    client_id: String,
    redirect_uris: Vec<String>,
    access_token_ttl: u64,
    id_token_ttl: u64,
    refresh_token_ttl: u64,
    code_ttl: u64,
    id_token_alg: SigningAlg,
    user: TestUser,
}

/// The provider's state, shared by its handlers.
pub(crate) struct Provider {
    shared: Arc<Shared>,
    config: Config,
    keys: RwLock<KeyRing>,
    grants: Mutex<Grants>,
    /// When each version of discovery and the JWKS was first served (`Last-Modified`).
    metadata_versions: caching::Versions,
}

impl Provider {
    /// Builds the provider, generating (or taking from the pool) its first keys.
    pub(crate) async fn new(
        opts: &Options,
        issuer: String,
        shared: Arc<Shared>,
    ) -> io::Result<Arc<Provider>> {
        let id_alg = opts.id_token_alg;
        let keys = tokio::task::spawn_blocking(move || KeyRing::new(id_alg))
            .await
            .map_err(io::Error::other)?;
        Ok(Arc::new(Provider {
            shared,
            config: Config {
                issuer,
                client_id: opts.client_id.clone(),
                redirect_uris: opts.redirect_uris.clone(),
                access_token_ttl: opts.access_token_ttl,
                id_token_ttl: opts.id_token_ttl,
                refresh_token_ttl: opts.refresh_token_ttl,
                code_ttl: opts.code_ttl,
                id_token_alg: opts.id_token_alg,
                user: opts.user.clone(),
            },
            keys: RwLock::new(keys),
            grants: Mutex::new(Grants::default()),
            metadata_versions: caching::Versions::default(),
        }))
    }

    /// New signing keys for future tokens (see [`crate::Testkit::rotate_keys`]).
    pub(crate) fn rotate_keys(&self, keep_old: bool) {
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .rotate(keep_old);
    }

    fn keys(&self) -> RwLockReadGuard<'_, KeyRing> {
        self.keys.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn grants(&self) -> MutexGuard<'_, Grants> {
        self.grants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        self.shared.clock.now()
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }

    /// Whether `uri` is a registered redirect URI: an exact match, or an `http`
    /// URI on 127.0.0.1 or [::1] with the path and query of a registered loopback
    /// URI, on any port (RFC 8252 §7.3).
    fn is_registered_redirect(&self, uri: &str) -> bool {
        let registered = &self.config.redirect_uris;
        if registered.iter().any(|known| known == uri) {
            return true;
        }
        let Some(candidate) = loopback_url(uri) else {
            return false;
        };
        registered
            .iter()
            .filter_map(|known| loopback_url(known))
            .any(|known| known.path() == candidate.path() && known.query() == candidate.query())
    }
}

/// `uri` parsed, if it is a plain `http` URL on 127.0.0.1 or [::1].
fn loopback_url(uri: &str) -> Option<Url> {
    let url = Url::parse(uri).ok()?;
    let loopback = match url.host()? {
        Host::Ipv4(ip) => ip == Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => ip == Ipv6Addr::LOCALHOST,
        Host::Domain(_) => false,
    };
    let plain = url.scheme() == "http"
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none();
    (loopback && plain).then_some(url)
}

/// Request parameters (query or form body) in their order of appearance.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(encoded: &[u8]) -> Params {
        Params(url::form_urlencoded::parse(encoded).into_owned().collect())
    }

    /// The first value of `name`; an empty value counts as absent (RFC 6749 §3.1).
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// The first parameter that appears more than once (RFC 6749 §3.1, §3.2).
    fn repeated(&self) -> Option<&str> {
        self.0
            .iter()
            .enumerate()
            .find(|(i, (name, _))| self.0[..*i].iter().any(|(earlier, _)| earlier == name))
            .map(|(_, (name, _))| name.as_str())
    }
}

/// `base` with `params` appended as its query (after `&` if it already has one).
/// Spaces are encoded as `%20`, which every URL parser decodes.
fn with_query(base: &str, params: &[(String, String)]) -> String {
    let query = params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    match (query.is_empty(), base.contains('?')) {
        (true, _) => base.to_owned(),
        (false, true) => format!("{base}&{query}"),
        (false, false) => format!("{base}?{query}"),
    }
}

fn encode(text: &str) -> String {
    // `byte_serialize` writes a space as `+` and a literal `+` as `%2B`.
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The value of the cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The provider's routes: the OpenID endpoints (counted, faultable) and the
/// `/__testkit/*` admin endpoints (neither).
pub(crate) fn router(provider: Arc<Provider>) -> Router {
    let shared = provider.shared.clone();
    let endpoints = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/authorize", get(authorize::authorize))
        .route("/par", post(par::push))
        .route("/token", post(token::token))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/revoke", post(token::revoke))
        .route(
            "/end_session",
            get(logout::end_session).post(logout::end_session),
        )
        .layer(from_fn_with_state(shared.clone(), apply_endpoint_faults))
        .layer(from_fn_with_state(shared.clone(), count_provider_requests))
        .layer(from_fn_with_state(shared, crate::clock::stamp_date));
    endpoints.merge(admin::router()).with_state(provider)
}

/// `GET /.well-known/openid-configuration`, with caching headers (see [`caching`]).
async fn discovery(State(provider): State<Arc<Provider>>, headers: HeaderMap) -> Response {
    let config = &provider.config;
    let Value::Object(mut document) = json!({
        "issuer": config.issuer,
        "authorization_endpoint": provider.endpoint("/authorize"),
        "token_endpoint": provider.endpoint("/token"),
        "userinfo_endpoint": provider.endpoint("/userinfo"),
        "jwks_uri": provider.endpoint("/.well-known/jwks.json"),
        "revocation_endpoint": provider.endpoint("/revoke"),
        "end_session_endpoint": provider.endpoint("/end_session"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": [config.id_token_alg.as_str()],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "subject_types_supported": ["public"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp",
            "email", "name", "preferred_username"
        ],
        "authorization_response_iss_parameter_supported": true,
        "pushed_authorization_request_endpoint": provider.endpoint("/par"),
        "require_pushed_authorization_requests": provider.shared.dpop.policy().require_par,
        "dpop_signing_alg_values_supported": ["ES256"],
    }) else {
        unreachable!("a JSON object literal")
    };
    merge_object(
        &mut document,
        provider.shared.faults.current().discovery.as_ref(),
    );
    provider.metadata_answer(Metadata::Discovery, &headers, &Value::Object(document))
}

/// `GET /.well-known/jwks.json`: the published keys, after any extra fault keys (and
/// followed by the short RSA key of `Signing::ShortRsaKey`). Servers A and B always get the
/// real key set. With caching headers (see [`caching`]).
async fn jwks(State(provider): State<Arc<Provider>>, headers: HeaderMap) -> Response {
    let for_client = !is_resource_server_request(&headers);
    let faults = provider.shared.faults.current();
    let mut keys = if for_client {
        faults.jwks_extra_keys
    } else {
        Vec::new()
    };
    keys.extend(provider.keys().published().iter().map(|key| key.jwk()));
    if for_client && faults.id_token_signing == Some(Signing::ShortRsaKey) {
        keys.push(SigningKey::short_rsa(provider.keys().id_key().alg()).jwk());
    }
    provider.metadata_answer(Metadata::Jwks, &headers, &json!({ "keys": keys }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_appended_and_encoded() {
        let params = vec![
            ("code".to_owned(), "a+b".to_owned()),
            ("error_description".to_owned(), "User said no".to_owned()),
        ];
        assert_eq!(
            with_query("myapp://callback", &params),
            "myapp://callback?code=a%2Bb&error_description=User%20said%20no"
        );
        assert_eq!(
            with_query("myapp://callback?x=1", &params[..1]),
            "myapp://callback?x=1&code=a%2Bb"
        );
    }

    #[test]
    fn repeated_parameters_are_found() {
        assert_eq!(Params::parse(b"a=1&b=2&a=3").repeated(), Some("a"));
        assert_eq!(Params::parse(b"a=1&b=2").repeated(), None);
        assert_eq!(Params::parse(b"a=&b=2").get("a"), None);
    }

    #[test]
    fn loopback_urls() {
        assert!(loopback_url("http://127.0.0.1:5000/callback").is_some());
        assert!(loopback_url("http://[::1]:5000/callback").is_some());
        assert!(loopback_url("http://localhost:5000/callback").is_none());
        assert!(loopback_url("https://127.0.0.1/callback").is_none());
    }
}
