//! `GET`/`POST /userinfo` (OIDC Core §5.3), protected by an access token: Bearer, or DPoP
//! with a proof for a DPoP-bound token (RFC 9449 §7).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Provider;
use crate::dpop::{self, Expected, Presented, Refused};
use crate::jwt::{
    AccessTokenRules, Rejection, access_token_kid, unauthorized, verify_access_token,
};

/// Returns the claims of the access token's user (the configured one, or one named by a
/// `login_hint`) for a valid access token.
pub(super) async fn userinfo(
    State(provider): State<Arc<Provider>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    let Some(presented) = Presented::of(&headers) else {
        return unauthorized("userinfo", None);
    };
    let token = presented.token();
    let claims = match provider.verify_access_token(token) {
        Ok(claims) => claims,
        Err(reason) => return unauthorized("userinfo", Some(reason)),
    };
    let url = provider.endpoint("/userinfo");
    let expected = Expected {
        server: dpop::Server::Provider,
        method: method.as_str(),
        url: &url,
        access_token: Some(token),
        now: provider.now(),
    };
    match dpop::check_binding(
        &provider.shared.dpop,
        &headers,
        presented,
        &claims,
        &expected,
    ) {
        Ok(()) => {}
        Err(Refused::Token(reason)) => return unauthorized("userinfo", Some(reason)),
        Err(Refused::Proof(error)) => {
            dpop::count_refusal(&provider.shared.stats, &error);
            return dpop::dpop_unauthorized("userinfo", &error);
        }
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = if sub == provider.config.user.sub {
        provider.config.user.clone()
    } else {
        crate::TestUser::named(sub)
    };
    Json(json!({
        "sub": user.sub,
        "email": user.email,
        "name": user.name,
        "preferred_username": user.preferred_username,
    }))
    .into_response()
}

impl Provider {
    /// Verifies one of this provider's access tokens (any audience) against its
    /// published keys and the testkit clock; revoked tokens are refused.
    pub(super) fn verify_access_token(&self, token: &str) -> Result<Map<String, Value>, Rejection> {
        let kid = access_token_kid(token)?;
        let key = self.keys().find(&kid).ok_or("unknown signing key")?;
        let rules = AccessTokenRules {
            issuer: &self.config.issuer,
            audience: None,
            now: self.now(),
        };
        let claims = verify_access_token(token, &key.decoding_key(), &rules)?;
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if self.grants().is_access_token_revoked(jti) {
            return Err("token revoked");
        }
        Ok(claims)
    }
}
