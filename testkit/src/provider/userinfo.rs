//! `GET`/`POST /userinfo` (OIDC Core §5.3), protected by a bearer access token.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::Provider;
use crate::jwt::{
    AccessTokenRules, Rejection, access_token_kid, bearer_token, unauthorized, verify_access_token,
};

/// Returns the claims of the access token's user (the configured one, or one named by a
/// `login_hint`) for a valid access token.
pub(super) async fn userinfo(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer_token(&headers) else {
        return unauthorized("userinfo", None);
    };
    match provider.verify_access_token(token) {
        Ok(claims) => {
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
        Err(reason) => unauthorized("userinfo", Some(reason)),
    }
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
