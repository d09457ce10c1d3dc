//! `POST /token` (authorization code with PKCE, refresh with rotation) and
//! `POST /revoke` (RFC 7009). A request with a valid DPoP proof (RFC 9449) gets tokens bound
//! to the proof's key: the access token carries `cnf.jkt`, `token_type` is `DPoP`, and the
//! refresh token family accepts only proofs with that key.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::authorize::is_pkce_value;
use super::grants::{CodeError, Grant, RefreshError};
use super::{Params, Provider};
use crate::dpop::{self, Expected, ProofError};
use crate::faults::merge_object;
use crate::keys::b64url;

/// Handles a token request (RFC 6749 §4.1.3 and §6, RFC 7636 §4.5).
pub(super) async fn token(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form_params(&headers, &body)?;
    let grant_type = params
        .get("grant_type")
        .ok_or(OAuthError::invalid_request("grant_type is required"))?;
    let client_id = provider.client(&params)?;
    let jkt = provider.dpop_proof(&headers, "/token")?;
    if jkt.is_none() && provider.shared.dpop.policy().require_dpop {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_dpop_proof",
            "this provider requires a DPoP proof",
        ));
    }
    let mut response = match grant_type {
        "authorization_code" => exchange_code(&provider, &params, client_id, jkt),
        "refresh_token" => refresh(&provider, &params, client_id, jkt),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        )),
    }?;
    if let Some(nonce) = provider.shared.dpop.nonce_header(dpop::Server::Provider) {
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    Ok(response)
}

/// `grant_type=authorization_code`.
fn exchange_code(
    provider: &Provider,
    params: &Params,
    client_id: &str,
    jkt: Option<String>,
) -> Result<Response, OAuthError> {
    let required = |name: &'static str, description: &'static str| {
        params
            .get(name)
            .ok_or(OAuthError::invalid_request(description))
    };
    let code = required("code", "code is required")?;
    let redirect_uri = required("redirect_uri", "redirect_uri is required")?;
    let verifier = required("code_verifier", "code_verifier is required (PKCE)")?;
    if !is_pkce_value(verifier) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]",
        ));
    }

    let now = provider.now();
    let (grant, nonce, refresh_token) = {
        // One lock for redeeming and starting the family, so a concurrent replay
        // of the code either fails first or revokes what this exchange issues.
        let mut grants = provider.grants();
        let issued = grants.redeem_code(code, now).map_err(|error| {
            OAuthError::invalid_grant(match error {
                CodeError::Unknown => "unknown authorization code",
                CodeError::Expired => "authorization code expired",
                CodeError::Reused => {
                    "authorization code already used; tokens issued from it are revoked"
                }
            })
        })?;
        if issued.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "authorization code was issued to another client",
            ));
        }
        if issued.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        if b64url(digest.as_ref()) != issued.code_challenge {
            return Err(OAuthError::invalid_grant(
                "PKCE verification failed: code_verifier does not match code_challenge",
            ));
        }
        // RFC 9449 §10: a code requested with `dpop_jkt` is redeemed only with that key.
        if issued.dpop_jkt.is_some() && issued.dpop_jkt != jkt {
            return Err(OAuthError::invalid_grant(
                "the code is bound to another DPoP key (dpop_jkt)",
            ));
        }
        let grant = Grant {
            client_id: issued.client_id,
            scope: issued.scope,
            auth_time: issued.auth_time,
            user: issued.user,
            dpop_jkt: jkt,
        };
        let expires_at = now + provider.config.refresh_token_ttl;
        let refresh_token = grants.start_family(code, grant.clone(), expires_at);
        (grant, issued.nonce, refresh_token)
    };
    Ok(tokens_issued(
        provider,
        &grant,
        nonce.as_deref(),
        refresh_token,
        now,
    ))
}

/// `grant_type=refresh_token`, with rotation and reuse detection; a DPoP-bound family needs a
/// proof with its key.
fn refresh(
    provider: &Provider,
    params: &Params,
    client_id: &str,
    jkt: Option<String>,
) -> Result<Response, OAuthError> {
    let refresh_token = params
        .get("refresh_token")
        .ok_or(OAuthError::invalid_request("refresh_token is required"))?;
    let now = provider.now();
    let (grant, new_refresh_token) = provider
        .grants()
        .rotate_refresh_token(
            refresh_token,
            client_id,
            params.get("scope"),
            jkt.as_deref(),
            now,
            now + provider.config.refresh_token_ttl,
        )
        .map_err(|error| match error {
            RefreshError::InvalidGrant(reason) => OAuthError::invalid_grant(reason),
            RefreshError::ScopeTooWide => OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "scope exceeds the scope originally granted",
            ),
        })?;
    Ok(tokens_issued(
        provider,
        &grant,
        None,
        new_refresh_token,
        now,
    ))
}

/// The successful token response, bent by the `token_response` fault.
fn tokens_issued(
    provider: &Provider,
    grant: &Grant,
    nonce: Option<&str>,
    refresh_token: String,
    now: u64,
) -> Response {
    let Value::Object(mut body) = json!({
        "access_token": provider.issue_access_token(grant, now),
        "token_type": if grant.dpop_jkt.is_some() { "DPoP" } else { "Bearer" },
        "expires_in": provider.config.access_token_ttl,
        "refresh_token": refresh_token,
        "id_token": provider.issue_id_token(grant, nonce, now),
        "scope": grant.scope,
    }) else {
        unreachable!("a JSON object literal")
    };
    merge_object(
        &mut body,
        provider.shared.faults.current().token_response.as_ref(),
    );
    no_store((StatusCode::OK, Json(Value::Object(body))))
}

/// Handles a revocation request (RFC 7009). Revoking a refresh token revokes its
/// family; revoking an access token makes `/userinfo` refuse it (servers A and B
/// are stateless and keep accepting it until it expires).
pub(super) async fn revoke(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form_params(&headers, &body)?;
    provider.client(&params)?;
    // A proof is optional here; one that comes must be valid.
    provider.dpop_proof(&headers, "/revoke")?;
    let token = params
        .get("token")
        .ok_or(OAuthError::invalid_request("token is required"))?;
    let revoked_refresh_token = provider.grants().revoke_refresh_token(token);
    if !revoked_refresh_token {
        let jti = provider
            .verify_access_token(token)
            .ok()
            .and_then(|claims| claims.get("jti").and_then(Value::as_str).map(str::to_owned));
        if let Some(jti) = jti {
            provider.grants().revoke_access_token(&jti);
        }
    }
    // Unknown and already revoked tokens get 200 too (RFC 7009 §2.2).
    Ok(no_store(StatusCode::OK))
}

impl Provider {
    /// The thumbprint of the key of the request's DPoP proof for the endpoint at `path`, if it
    /// carries one; an invalid proof (or one without the nonce the provider demands) is
    /// refused.
    pub(super) fn dpop_proof(
        &self,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<Option<String>, OAuthError> {
        let url = self.endpoint(path);
        let expected = Expected {
            server: dpop::Server::Provider,
            method: "POST",
            url: &url,
            access_token: None,
            now: self.now(),
        };
        self.shared.dpop.check(headers, &expected).map_err(|error| {
            dpop::count_refusal(&self.shared.stats, &error);
            match error {
                ProofError::Invalid(why) => {
                    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", why)
                }
                ProofError::UseNonce(nonce) => {
                    let mut e = OAuthError::new(
                        StatusCode::BAD_REQUEST,
                        "use_dpop_nonce",
                        "the provider requires a nonce in DPoP proofs",
                    );
                    e.dpop_nonce = Some(nonce);
                    e
                }
            }
        })
    }

    /// The `client_id` parameter, if it names the registered client.
    pub(super) fn client<'a>(&self, params: &'a Params) -> Result<&'a str, OAuthError> {
        match params.get("client_id") {
            None => Err(OAuthError::invalid_request(
                "client_id is required for a public client",
            )),
            Some(client_id) if client_id == self.config.client_id => Ok(client_id),
            Some(_) => Err(OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client_id",
            )),
        }
    }
}

/// The form parameters of a POST body, refusing other content types and
/// repeated parameters.
pub(super) fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params = Params::parse(body);
    if let Some(name) = params.repeated() {
        return Err(OAuthError::invalid_request(format!(
            "parameter {name} is repeated"
        )));
    }
    Ok(params)
}

/// An error response of the token and revocation endpoints (RFC 6749 §5.2).
pub(super) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: Cow<'static, str>,
    /// The `DPoP-Nonce` to send with a `use_dpop_nonce` error.
    dpop_nonce: Option<String>,
}

impl OAuthError {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
            dpop_nonce: None,
        }
    }

    pub(super) fn invalid_request(description: impl Into<Cow<'static, str>>) -> OAuthError {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_grant(description: &'static str) -> OAuthError {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = no_store((self.status, Json(body)));
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            response.headers_mut().insert("dpop-nonce", nonce);
        }
        response
    }
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub(super) fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
