//! Request counters, so tests can assert how often the client under test called
//! each endpoint.

use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::Shared;
use crate::resource::is_resource_server_request;

/// A snapshot of the testkit's request counters.
///
/// Every request that reaches an endpoint counts, including requests answered by
/// an [`EndpointFault`](crate::EndpointFault) and requests that end in an error.
/// The `/__testkit/*` admin endpoints are not counted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Stats {
    /// `GET /.well-known/openid-configuration` requests.
    pub discovery: u64,
    /// `GET /.well-known/jwks.json` requests from clients, i.e. not counting the
    /// fetches made by servers A and B (see `jwks_from_resource_servers`).
    pub jwks: u64,
    /// `GET /authorize` requests.
    pub authorize: u64,
    /// `POST /token` requests, whatever their grant type.
    pub token: u64,
    /// `/userinfo` requests.
    pub userinfo: u64,
    /// `POST /revoke` requests.
    pub revoke: u64,
    /// `/end_session` requests.
    pub end_session: u64,
    /// `/token` requests with `grant_type=authorization_code`.
    pub authorization_code: u64,
    /// `/token` requests with `grant_type=refresh_token`.
    pub refresh_token: u64,
    /// JWKS fetches made by servers A and B themselves (recognised by their
    /// User-Agent); they are not counted in `jwks`.
    pub jwks_from_resource_servers: u64,
    /// Calls to server A's API (`GET /api/customers`), accepted or not.
    pub crm: u64,
    /// Calls to server B's API (`GET /api/orders`), accepted or not.
    pub orders: u64,
    /// Calls to server A refused with 401 (the subset of `crm` that was rejected).
    pub crm_rejected: u64,
    /// Calls to server B refused with 401 (the subset of `orders` that was rejected).
    pub orders_rejected: u64,
    /// Conditional discovery requests (`If-None-Match` or `If-Modified-Since`): the subset of
    /// `discovery` that revalidated a cached copy.
    pub discovery_conditional: u64,
    /// Discovery requests answered `304 Not Modified`.
    pub discovery_not_modified: u64,
    /// Conditional JWKS requests from clients: the subset of `jwks` that revalidated a cached
    /// copy.
    pub jwks_conditional: u64,
    /// JWKS requests from clients answered `304 Not Modified`.
    pub jwks_not_modified: u64,
    /// `POST /par` requests (pushed authorization requests).
    pub par: u64,
    /// Requests that carried a `DPoP` proof header, to any endpoint of the provider or to
    /// servers A and B.
    pub dpop_proofs: u64,
    /// Proofs refused as invalid (`invalid_dpop_proof`: bad signature, wrong `htm`/`htu`/`ath`,
    /// stale `iat`, replayed `jti`, another key than the token's).
    pub dpop_proofs_rejected: u64,
    /// Answers that asked for a DPoP nonce (`use_dpop_nonce`).
    pub dpop_nonce_challenges: u64,
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct StatsRecorder {
    counts: Mutex<Stats>,
}

impl StatsRecorder {
    /// Applies `update` to the counters.
    pub(crate) fn record(&self, update: impl FnOnce(&mut Stats)) {
        update(&mut self.counts.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// A copy of the current counts.
    pub(crate) fn snapshot(&self) -> Stats {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sets every counter back to zero.
    pub(crate) fn reset(&self) {
        self.record(|stats| *stats = Stats::default());
    }
}

/// Largest `/token` request body the counter reads to find the grant type.
const MAX_TOKEN_REQUEST_BYTES: usize = 64 * 1024;

/// Middleware on the provider: counts each request by endpoint before any fault
/// or handler runs.
pub(crate) async fn count_provider_requests(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let from_resource_server = is_resource_server_request(request.headers());
    let conditional = u64::from(
        request.headers().contains_key(header::IF_NONE_MATCH)
            || request.headers().contains_key(header::IF_MODIFIED_SINCE),
    );
    count_dpop_proof(&shared, request.headers());
    let request = match request.uri().path() {
        "/.well-known/openid-configuration" => {
            shared.stats.record(|s| {
                s.discovery += 1;
                s.discovery_conditional += conditional;
            });
            request
        }
        "/.well-known/jwks.json" if from_resource_server => {
            shared.stats.record(|s| s.jwks_from_resource_servers += 1);
            request
        }
        "/.well-known/jwks.json" => {
            shared.stats.record(|s| {
                s.jwks += 1;
                s.jwks_conditional += conditional;
            });
            request
        }
        "/authorize" => {
            shared.stats.record(|s| s.authorize += 1);
            request
        }
        "/token" => return count_token_request(&shared, request, next).await,
        "/userinfo" => {
            shared.stats.record(|s| s.userinfo += 1);
            request
        }
        "/revoke" => {
            shared.stats.record(|s| s.revoke += 1);
            request
        }
        "/end_session" => {
            shared.stats.record(|s| s.end_session += 1);
            request
        }
        "/par" => {
            shared.stats.record(|s| s.par += 1);
            request
        }
        _ => request,
    };
    next.run(request).await
}

/// Counts a request that carries a `DPoP` proof.
pub(crate) fn count_dpop_proof(shared: &Shared, headers: &axum::http::HeaderMap) {
    if headers.contains_key("dpop") {
        shared.stats.record(|s| s.dpop_proofs += 1);
    }
}

/// Counts a `/token` request and its grant type, then passes the buffered body on.
async fn count_token_request(shared: &Shared, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_TOKEN_REQUEST_BYTES)
        .await
        .unwrap_or_default();
    let grant_type = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "grant_type")
        .map(|(_, value)| value.into_owned());
    shared.stats.record(|s| {
        s.token += 1;
        match grant_type.as_deref() {
            Some("authorization_code") => s.authorization_code += 1,
            Some("refresh_token") => s.refresh_token += 1,
            _ => {}
        }
    });
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
