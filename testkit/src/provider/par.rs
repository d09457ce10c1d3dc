//! `POST /par`: pushed authorization requests (RFC 9126). The parameters are checked as
//! `/authorize` would check them and kept under a single-use `request_uri` that expires after
//! [`PUSHED_REQUEST_TTL`] seconds; the browser then brings only `client_id` and `request_uri`.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::Provider;
use super::authorize::Refusal;
use super::token::{OAuthError, form_params, no_store};

/// How long a `request_uri` may wait for the browser, in seconds.
pub(crate) const PUSHED_REQUEST_TTL: u64 = 60;

/// Handles a pushed authorization request: `201` with `request_uri` and `expires_in`, or an
/// OAuth error (RFC 9126 §2.3).
pub(super) async fn push(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let mut params = form_params(&headers, &body)?;
    provider.client(&params)?;
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1)",
        ));
    }
    if let Err(refusal) = provider.check_request(&params) {
        let (error, description): (&'static str, Cow<'static, str>) = match refusal {
            Refusal::Page(why) => ("invalid_request", why.into()),
            Refusal::Redirect {
                error, description, ..
            } => (error, description.into()),
        };
        return Err(OAuthError::new(StatusCode::BAD_REQUEST, error, description));
    }
    // A proof on the push binds the code to its key, as `dpop_jkt` does (RFC 9449 §10.1).
    if let Some(jkt) = provider.dpop_proof(&headers, "/par")?
        && params.get("dpop_jkt").is_none()
    {
        params.0.push(("dpop_jkt".to_owned(), jkt));
    }
    let request_uri = provider
        .grants()
        .push(params.0, provider.now() + PUSHED_REQUEST_TTL);
    let answer = json!({"request_uri": request_uri, "expires_in": PUSHED_REQUEST_TTL});
    Ok(no_store((StatusCode::CREATED, Json(answer))))
}
