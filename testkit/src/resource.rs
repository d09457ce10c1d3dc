//! Resource servers A (`crm`) and B (`orders`): stateless APIs that accept
//! `Authorization: Bearer <JWT access token>`, verified against the provider's
//! JWKS fetched over HTTP, the way `crm.company.com` and `orders.company.com` do.
//!
//! A token is accepted when its header says RS256 and `at+jwt` with a `kid` found
//! in the JWKS (fetched once, and again once when an unknown `kid` shows up), its
//! signature verifies, `iss` is the issuer, `aud` contains the server's audience,
//! and `exp` is after the testkit clock's now (no leeway: it is the issuer's clock).
//! A DPoP-bound token (`cnf.jkt`, RFC 9449) is accepted only as `Authorization: DPoP`
//! with a valid proof for the request, signed by the token's key (see `crate::dpop`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::dpop::{self, Expected, Presented, ProofError, Refused};
use crate::faults::apply_endpoint_faults;
use crate::jwt::{
    AccessTokenRules, Rejection, access_token_kid, unauthorized, verify_access_token,
};
use crate::stats::{Stats, count_dpop_proof};
use crate::{CRM_AUDIENCE, ORDERS_AUDIENCE, Shared};

/// The User-Agent of the JWKS requests made by servers A and B (followed by
/// `/{version}`). The provider does not count these requests in [`Stats::jwks`]
/// and does not apply faults to them.
pub const RESOURCE_SERVER_USER_AGENT: &str = "keyfob-testkit-resource-server";

/// Where the provider publishes its keys.
const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Limit for one JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS the servers accept.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Whether a request comes from server A or B of a testkit.
pub(crate) fn is_resource_server_request(headers: &HeaderMap) -> bool {
    headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|agent| agent.starts_with(RESOURCE_SERVER_USER_AGENT))
}

/// What one resource server serves.
pub(crate) struct Api {
    /// Server name: the `realm` and the `server` field of answers.
    name: &'static str,
    audience: &'static str,
    path: &'static str,
    /// The API's URL as clients call it (what DPoP proofs' `htu` must say).
    url: String,
    /// Whose DPoP nonce this server gives.
    server: dpop::Server,
    /// Name of the list in the answer, and its rows.
    collection: &'static str,
    rows: fn() -> Value,
    /// The counters for calls and rejected calls.
    calls: fn(&mut Stats) -> &mut u64,
    rejected: fn(&mut Stats) -> &mut u64,
}

impl Api {
    /// Server A at `base_url`: `GET /api/customers`, audience [`CRM_AUDIENCE`].
    pub(crate) fn crm(base_url: &str) -> Api {
        Api {
            name: "crm",
            audience: CRM_AUDIENCE,
            path: "/api/customers",
            url: format!("{base_url}/api/customers"),
            server: dpop::Server::Crm,
            collection: "customers",
            rows: || {
                json!([
                    {"id": "cus-1001", "name": "Analytical Engines Ltd", "city": "London"},
                    {"id": "cus-1002", "name": "Difference & Co", "city": "Manchester"},
                ])
            },
            calls: |stats| &mut stats.crm,
            rejected: |stats| &mut stats.crm_rejected,
        }
    }

    /// Server B at `base_url`: `GET /api/orders`, audience [`ORDERS_AUDIENCE`].
    pub(crate) fn orders(base_url: &str) -> Api {
        Api {
            name: "orders",
            audience: ORDERS_AUDIENCE,
            path: "/api/orders",
            url: format!("{base_url}/api/orders"),
            server: dpop::Server::Orders,
            collection: "orders",
            rows: || {
                json!([
                    {"id": "ord-5001", "customer": "cus-1001", "total": "1843.00", "currency": "GBP"},
                    {"id": "ord-5002", "customer": "cus-1002", "total": "42.50", "currency": "GBP"},
                ])
            },
            calls: |stats| &mut stats.orders,
            rejected: |stats| &mut stats.orders_rejected,
        }
    }
}

/// One resource server's state.
struct ResourceServer {
    api: Api,
    issuer: String,
    /// Where the provider listens (its bound address, which the public issuer
    /// URL may not reach, e.g. `10.0.2.2` for an Android emulator).
    provider: SocketAddr,
    /// The verification keys by `kid`, from the last JWKS fetch.
    keys: Mutex<HashMap<String, DecodingKey>>,
    shared: Arc<Shared>,
}

/// Why a request was refused.
enum Refusal {
    /// No bearer token at all: a bare challenge (RFC 6750 §3.1).
    NoToken,
    /// A token that does not pass: `invalid_token` with a description.
    InvalidToken(Rejection),
    /// A DPoP-bound token whose proof does not pass (or lacks the server's nonce).
    Proof(ProofError),
}

/// The routes of one resource server, which verifies tokens with the JWKS of
/// the provider listening on `provider`.
pub(crate) fn router(api: Api, issuer: &str, provider: SocketAddr, shared: &Arc<Shared>) -> Router {
    let path = api.path;
    let server = Arc::new(ResourceServer {
        api,
        issuer: issuer.to_owned(),
        provider,
        keys: Mutex::new(HashMap::new()),
        shared: shared.clone(),
    });
    Router::new()
        .route(path, get(serve_api))
        .layer(from_fn_with_state(shared.clone(), apply_endpoint_faults))
        .layer(from_fn_with_state(server.clone(), count_calls))
        .with_state(server)
}

/// Middleware: counts every API call, before faults or checks.
async fn count_calls(
    State(server): State<Arc<ResourceServer>>,
    request: Request,
    next: Next,
) -> Response {
    server
        .shared
        .stats
        .record(|stats| *(server.api.calls)(stats) += 1);
    count_dpop_proof(&server.shared, request.headers());
    next.run(request).await
}

/// The API: the caller's `sub` and a few fake rows, or 401.
async fn serve_api(State(server): State<Arc<ResourceServer>>, headers: HeaderMap) -> Response {
    let api = &server.api;
    match server.authenticate(&headers).await {
        Ok(claims) => Json(json!({
            "server": api.name,
            "sub": claims.get("sub").cloned().unwrap_or(Value::Null),
            (api.collection): (api.rows)(),
        }))
        .into_response(),
        Err(refusal) => {
            server
                .shared
                .stats
                .record(|stats| *(api.rejected)(stats) += 1);
            let refused = match refusal {
                Refusal::NoToken => None,
                Refusal::InvalidToken(reason) => Some(reason),
                Refusal::Proof(error) => {
                    dpop::count_refusal(&server.shared.stats, &error);
                    return dpop::dpop_unauthorized(api.name, &error);
                }
            };
            unauthorized(api.name, refused)
        }
    }
}

impl ResourceServer {
    /// Verifies the request's bearer token and returns its claims.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Map<String, Value>, Refusal> {
        let presented = Presented::of(headers).ok_or(Refusal::NoToken)?;
        let token = presented.token();
        let kid = access_token_kid(token).map_err(Refusal::InvalidToken)?;
        let key = self.key(&kid).await.map_err(Refusal::InvalidToken)?;
        let now = self.shared.clock.now();
        let rules = AccessTokenRules {
            issuer: &self.issuer,
            audience: Some(self.api.audience),
            now,
        };
        let claims = verify_access_token(token, &key, &rules).map_err(Refusal::InvalidToken)?;
        let expected = Expected {
            server: self.api.server,
            method: "GET",
            url: &self.api.url,
            access_token: Some(token),
            now,
        };
        dpop::check_binding(&self.shared.dpop, headers, presented, &claims, &expected).map_err(
            |refused| match refused {
                Refused::Token(reason) => Refusal::InvalidToken(reason),
                Refused::Proof(error) => Refusal::Proof(error),
            },
        )?;
        Ok(claims)
    }

    /// The key for `kid`, refetching the JWKS once if it is not known yet.
    async fn key(&self, kid: &str) -> Result<DecodingKey, Rejection> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.get(kid) {
            return Ok(key.clone());
        }
        *keys = self.fetch_keys().await?;
        keys.get(kid).cloned().ok_or("unknown signing key")
    }

    /// The provider's RS256 signing keys, fetched over HTTP.
    async fn fetch_keys(&self) -> Result<HashMap<String, DecodingKey>, Rejection> {
        const UNAVAILABLE: Rejection = "signing keys unavailable";
        let body = tokio::time::timeout(FETCH_TIMEOUT, http_get(self.provider, JWKS_PATH))
            .await
            .map_err(|_| UNAVAILABLE)?
            .map_err(|_| UNAVAILABLE)?;
        let jwks: Value = serde_json::from_slice(&body).map_err(|_| UNAVAILABLE)?;
        let keys = jwks["keys"].as_array().ok_or(UNAVAILABLE)?;
        Ok(keys.iter().filter_map(rs256_key).collect())
    }
}

/// `GET path` from `addr` over HTTP/1.1; the body of a 2xx answer.
///
/// A plain hyper connection rather than an HTTP client library: the provider is
/// on loopback, and this keeps the servers independent of any TLS setup.
async fn http_get(addr: SocketAddr, path: &str) -> Result<Bytes, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let user_agent = format!("{RESOURCE_SERVER_USER_AGENT}/{}", env!("CARGO_PKG_VERSION"));
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .header(header::USER_AGENT, user_agent)
        .body(Body::empty())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        return Err(format!("JWKS answered {}", response.status()).into());
    }
    Ok(axum::body::to_bytes(Body::new(response.into_body()), MAX_JWKS_BYTES).await?)
}

/// A JWK usable for RS256 signatures, as (`kid`, key).
fn rs256_key(jwk: &Value) -> Option<(String, DecodingKey)> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    let usable = field("kty") == Some("RSA")
        && field("use").is_none_or(|usage| usage == "sig")
        && field("alg").is_none_or(|alg| alg == "RS256");
    if !usable {
        return None;
    }
    let key = DecodingKey::from_rsa_components(field("n")?, field("e")?).ok()?;
    Some((field("kid")?.to_owned(), key))
}
