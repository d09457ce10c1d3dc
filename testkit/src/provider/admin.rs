//! `/__testkit/*`: the control endpoints that tests in other languages use in
//! place of [`crate::Testkit`]'s methods. They are neither counted nor faultable.
//!
//! Request bodies are JSON (the `Content-Type` is not checked); every answer is JSON.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::Provider;
use crate::Faults;

/// The admin routes.
pub(super) fn router() -> Router<Arc<Provider>> {
    Router::new()
        .route("/__testkit/stats", get(stats))
        .route("/__testkit/reset-stats", post(reset_stats))
        .route(
            "/__testkit/faults",
            get(faults).post(set_faults).delete(clear_faults),
        )
        .route("/__testkit/rotate-keys", post(rotate_keys))
        .route("/__testkit/advance-clock", post(advance_clock))
        .route("/__testkit/policy", get(policy).post(set_policy))
        .route("/__testkit/rotate-dpop-nonces", post(rotate_dpop_nonces))
}

/// `GET /__testkit/policy`: what the testkit demands of clients, a [`crate::Policy`] object.
async fn policy(State(provider): State<Arc<Provider>>) -> Response {
    Json(provider.shared.dpop.policy()).into_response()
}

/// `POST /__testkit/policy` with a [`crate::Policy`] object (absent members: `false`).
async fn set_policy(
    State(provider): State<Arc<Provider>>,
    body: Bytes,
) -> Result<Response, BadRequest> {
    provider.shared.dpop.set_policy(parse(&body)?);
    Ok(ok())
}

/// `POST /__testkit/rotate-dpop-nonces`: new DPoP nonces for the provider and servers A and B.
async fn rotate_dpop_nonces(State(provider): State<Arc<Provider>>) -> Response {
    provider.shared.dpop.rotate_nonces();
    ok()
}

/// `GET /__testkit/stats`: the counters as a [`crate::Stats`] object.
async fn stats(State(provider): State<Arc<Provider>>) -> Response {
    Json(provider.shared.stats.snapshot()).into_response()
}

/// `POST /__testkit/reset-stats`.
async fn reset_stats(State(provider): State<Arc<Provider>>) -> Response {
    provider.shared.stats.reset();
    ok()
}

/// `GET /__testkit/faults`: the active faults.
async fn faults(State(provider): State<Arc<Provider>>) -> Response {
    Json(provider.shared.faults.current()).into_response()
}

/// `POST /__testkit/faults` with a [`Faults`] object: replaces the active faults.
async fn set_faults(
    State(provider): State<Arc<Provider>>,
    body: Bytes,
) -> Result<Response, BadRequest> {
    provider.shared.faults.set(parse(&body)?);
    Ok(ok())
}

/// `DELETE /__testkit/faults`.
async fn clear_faults(State(provider): State<Arc<Provider>>) -> Response {
    provider.shared.faults.set(Faults::default());
    ok()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    #[serde(default = "keep_old_by_default")]
    keep_old: bool,
}

fn keep_old_by_default() -> bool {
    true
}

/// `POST /__testkit/rotate-keys`, optional body `{"keep_old": bool}` (default true).
async fn rotate_keys(
    State(provider): State<Arc<Provider>>,
    body: Bytes,
) -> Result<Response, BadRequest> {
    let rotate = if body.iter().all(u8::is_ascii_whitespace) {
        Rotate { keep_old: true }
    } else {
        parse::<Rotate>(&body)?
    };
    // Key generation may block for a moment if the pool has no key ready.
    tokio::task::spawn_blocking(move || provider.rotate_keys(rotate.keep_old))
        .await
        .map_err(|_| BadRequest("key rotation failed".into()))?;
    Ok(ok())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: i64,
}

/// `POST /__testkit/advance-clock` with `{"seconds": N}`.
async fn advance_clock(
    State(provider): State<Arc<Provider>>,
    body: Bytes,
) -> Result<Response, BadRequest> {
    let advance: Advance = parse(&body)?;
    provider.shared.clock.advance(advance.seconds);
    Ok(ok())
}

/// A request the admin endpoints cannot act on: 400 with `{"error": …}`.
struct BadRequest(String);

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({"error": self.0}))).into_response()
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, BadRequest> {
    serde_json::from_slice(body).map_err(|error| BadRequest(format!("invalid JSON body: {error}")))
}

fn ok() -> Response {
    Json(json!({"ok": true})).into_response()
}
