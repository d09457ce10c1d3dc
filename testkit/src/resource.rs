//! Resource servers A (`crm`) and B (`orders`): stateless APIs that accept
//! `Authorization: Bearer <JWT access token>`, verified against the JWKS of its issuer fetched
//! over HTTP, the way `crm.company.com` and `orders.company.com` do. They trust two issuers:
//! the provider, and the internal authorization server that trades the provider's tokens for
//! its own (RFC 8693, seed 003).
//!
//! A token is accepted when its header says RS256 and `at+jwt` with a `kid` found in its
//! issuer's JWKS (fetched once, and again once when an unknown `kid` shows up), its signature
//! verifies, `iss` is a trusted issuer, `aud` contains the server's audience (a token narrowed
//! to the other server by an RFC 8707 `resource` is refused), and `exp` is after the testkit
//! clock's now (no leeway: it is the issuers' clock).
//! A DPoP-bound token (`cnf.jkt`, RFC 9449) is accepted only as `Authorization: DPoP`
//! with a valid proof for the request, signed by the token's key (see `crate::dpop`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::dpop::{self, Expected, Presented, ProofError, Refused};
use crate::faults::apply_endpoint_faults;
use crate::jwt::{
    AccessTokenRules, Rejection, access_token_kid, unauthorized, verify_access_token,
};
use crate::remote_keys::RemoteKeys;
use crate::stats::{Stats, count_dpop_proof};
use crate::{CRM_AUDIENCE, ORDERS_AUDIENCE, Shared};

/// The User-Agent of the JWKS requests made by servers A and B (followed by
/// `/{version}`). The provider does not count these requests in [`Stats::jwks`]
/// and does not apply faults to them.
pub const RESOURCE_SERVER_USER_AGENT: &str = "keyfob-testkit-resource-server";

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
    /// The issuers whose tokens it accepts, with their keys; the provider first.
    trusted: Vec<(String, RemoteKeys)>,
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

/// The routes of one resource server, which accepts the tokens of the `trusted` issuers
/// (issuer and the address it listens on, the provider first), verified with their JWKS.
pub(crate) fn router(api: Api, trusted: &[(&str, SocketAddr)], shared: &Arc<Shared>) -> Router {
    let path = api.path;
    let server = Arc::new(ResourceServer {
        api,
        trusted: trusted
            .iter()
            .map(|(issuer, addr)| ((*issuer).to_owned(), RemoteKeys::new(*addr)))
            .collect(),
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
        let (issuer, keys) = self.issuer_of(token);
        let key = keys.key(&kid).await.map_err(Refusal::InvalidToken)?;
        let now = self.shared.clock.now();
        let rules = AccessTokenRules {
            issuer,
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

    /// The trusted issuer the token names in `iss` (read before its signature is checked, to
    /// know whose keys check it); the provider when it names none of them, so that the
    /// provider's checks refuse it.
    fn issuer_of(&self, token: &str) -> (&str, &RemoteKeys) {
        let named = token
            .split('.')
            .nth(1)
            .and_then(|claims| URL_SAFE_NO_PAD.decode(claims).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|claims| claims["iss"].as_str().map(str::to_owned));
        let (issuer, keys) = self
            .trusted
            .iter()
            .find(|(issuer, _)| Some(issuer) == named.as_ref())
            .unwrap_or(&self.trusted[0]);
        (issuer, keys)
    }
}
