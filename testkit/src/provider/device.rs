//! The device authorization grant (RFC 8628): `POST /device_authorization` gives a device
//! code and a user code; `GET /device?user_code=…` (the complete verification URI) is the user
//! approving on another device — signed in as the configured user, or the `login_hint` one —
//! and `&action=deny` declines; the device polls `/token` with the device code grant.
//!
//! Polls are held to the interval: one that comes sooner after the previous poll (or the
//! authorization) is answered `slow_down`, and the interval grows by 5 s for the polls after
//! it (§3.5). The [`crate::Faults`] `device_interval` and `device_slow_down` change the interval
//! of new authorizations and answer their first polls `slow_down`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::grants::Grant;
use super::token::{OAuthError, form_params, no_store, tokens_issued, unknown_target};
use super::{Params, Provider};
use crate::TestUser;
use crate::keys::random_token;

/// The grant type of the device's token requests (RFC 8628 §3.4).
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How far a device authorization got.
#[derive(Debug, Clone)]
enum Status {
    Pending,
    Approved { user: TestUser, auth_time: u64 },
    Denied,
}

/// One device authorization, by device code.
#[derive(Debug, Clone)]
pub(crate) struct DeviceEntry {
    user_code: String,
    client_id: String,
    scope: String,
    resources: Vec<String>,
    expires_at: u64,
    /// The interval the next poll must keep, in seconds.
    interval: u64,
    /// When the last poll came, or the authorization was issued.
    last_seen: u64,
    /// Polls still to be answered `slow_down` whatever their timing.
    forced_slow_downs: u32,
    status: Status,
}

/// `POST /device_authorization` (RFC 8628 §3.1, §3.2).
pub(super) async fn authorize_device(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form_params(&headers, &body)?;
    let client_id = provider.client(&params)?.to_owned();
    let resources = params.resources().map_err(unknown_target)?;
    let scope = super::grants::normalize_scope(params.get("scope").unwrap_or_default());
    let now = provider.now();
    let faults = provider.shared.faults.current();
    let interval = faults
        .device_interval
        .unwrap_or(provider.config.device_interval);
    let device_code = random_token();
    let user_code = user_code();
    let entry = DeviceEntry {
        user_code: user_code.clone(),
        client_id,
        scope,
        resources,
        expires_at: now + provider.config.device_code_ttl,
        interval,
        last_seen: now,
        forced_slow_downs: faults.device_slow_down,
        status: Status::Pending,
    };
    provider.grants().devices.insert(device_code.clone(), entry);
    let verification_uri = provider.endpoint("/device");
    Ok(no_store(Json(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
        "expires_in": provider.config.device_code_ttl,
        "interval": interval,
    }))))
}

/// A user code as RFC 8628 §6.1 suggests: eight letters without vowels, `BCDF-GHJK`.
fn user_code() -> String {
    const LETTERS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
    let random = random_token();
    let letters: Vec<char> = random
        .bytes()
        .take(8)
        .map(|b| char::from(LETTERS[usize::from(b) % LETTERS.len()]))
        .collect();
    format!(
        "{}-{}",
        letters[..4].iter().collect::<String>(),
        letters[4..].iter().collect::<String>()
    )
}

/// `GET /device`: with `user_code`, the user approves that device (or declines it with
/// `action=deny`); without, a page asking for the code.
pub(super) async fn verify(
    State(provider): State<Arc<Provider>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let Some(code) = params.get("user_code") else {
        return page(
            StatusCode::OK,
            "Enter the code shown on your device: /device?user_code=…",
        );
    };
    let now = provider.now();
    let mut grants = provider.grants();
    let entry = grants
        .devices
        .values_mut()
        .find(|e| e.user_code.eq_ignore_ascii_case(code) && matches!(e.status, Status::Pending));
    let Some(entry) = entry else {
        return page(StatusCode::NOT_FOUND, "No device is waiting for this code.");
    };
    if now >= entry.expires_at {
        return page(
            StatusCode::GONE,
            "This code has expired; start again on the device.",
        );
    }
    if params.get("action") == Some("deny") {
        entry.status = Status::Denied;
        return page(StatusCode::OK, "Access denied. You can close this page.");
    }
    let user = params
        .get("login_hint")
        .map_or_else(|| provider.config.user.clone(), TestUser::named);
    entry.status = Status::Approved {
        user,
        auth_time: now,
    };
    page(StatusCode::OK, "Device approved. You can close this page.")
}

fn page(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

/// The device code grant at `/token` (RFC 8628 §3.4, §3.5).
pub(super) fn redeem(
    provider: &Provider,
    params: &Params,
    client_id: &str,
) -> Result<Response, OAuthError> {
    let device_code = params
        .get("device_code")
        .ok_or(OAuthError::invalid_request("device_code is required"))?;
    let now = provider.now();
    let mut grants = provider.grants();
    let Some(entry) = grants.devices.get_mut(device_code) else {
        return Err(OAuthError::invalid_grant("unknown device code"));
    };
    if entry.client_id != client_id {
        return Err(OAuthError::invalid_grant(
            "the device code was issued to another client",
        ));
    }
    if now >= entry.expires_at {
        grants.devices.remove(device_code);
        return Err(answer("expired_token", "the device code has expired"));
    }
    let too_soon = now.saturating_sub(entry.last_seen) < entry.interval;
    entry.last_seen = now;
    if entry.forced_slow_downs > 0 || too_soon {
        entry.forced_slow_downs = entry.forced_slow_downs.saturating_sub(1);
        entry.interval += 5;
        provider.shared.stats.record(|s| s.device_slow_down += 1);
        return Err(answer("slow_down", "polling too often; wait 5 s longer"));
    }
    let entry = entry.clone();
    match entry.status {
        Status::Pending => Err(answer(
            "authorization_pending",
            "the user has not approved yet",
        )),
        Status::Denied => {
            grants.devices.remove(device_code);
            Err(answer("access_denied", "the user declined"))
        }
        Status::Approved { user, auth_time } => {
            grants.devices.remove(device_code);
            let mut grant = Grant {
                client_id: entry.client_id,
                scope: entry.scope,
                auth_time,
                user,
                // The device flow of Keyfob sends no DPoP proof: Bearer tokens.
                dpop_jkt: None,
                resources: entry.resources,
                acr: None,
                audience: Vec::new(),
            };
            grant.audience = grant.resources.clone();
            let (_, refresh_token) =
                grants.new_family(grant.clone(), now + provider.config.refresh_token_ttl);
            drop(grants);
            Ok(tokens_issued(provider, &grant, None, refresh_token, now))
        }
    }
}

/// A device grant's answer while it is not approved (RFC 8628 §3.5): status 400 and the code.
fn answer(error: &'static str, description: &'static str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, error, description)
}
