//! The internal authorization server of seed 003: it signs nobody in itself, it trusts the
//! provider. An app hands it a token of the provider (RFC 8693 token exchange); it verifies
//! that token against the provider's JWKS fetched over HTTP (signature, `iss`, `exp`, and `aud`
//! for an ID token), looks the user's permissions up and issues its own access tokens, which
//! servers A and B accept. It has its own issuer, keys and discovery document, issues refresh
//! tokens (rotated on use) and revokes them.
//!
//! Its answers to a subject it will not accept are `invalid_grant` (the seed's identity server
//! answering 401, propagated), `invalid_target` for an audience or resource it issues no
//! tokens for, `invalid_scope` for more than the user's permissions.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value, json};

use super::token::{OAuthError, form_params, no_store};
use super::{Params, RESOURCES};
use crate::Shared;
use crate::jwt::{ACCESS_TOKEN_TYPE, sign};
use crate::keys::{SigningKey, random_token};
use crate::remote_keys::RemoteKeys;

/// `grant_type` of a token exchange (RFC 8693 §2.1).
const EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Token type URIs (RFC 8693 §3).
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// Lifetime of its refresh tokens.
const REFRESH_TOKEN_TTL: u64 = 86_400;

/// What the internal server needs to know.
pub(crate) struct InternalConfig {
    /// Its own issuer.
    pub issuer: String,
    /// The provider it trusts: its issuer and where it listens (for its JWKS).
    pub provider_issuer: String,
    pub provider_addr: SocketAddr,
    /// The registered (public) client, here and at the provider (the ID tokens' audience).
    pub client_id: String,
    pub access_token_ttl: u64,
}

/// What one of its refresh tokens stands for.
#[derive(Clone)]
struct Issued {
    sub: String,
    scope: String,
    audience: Vec<String>,
    expires_at: u64,
    used: bool,
}

/// The internal server's state.
pub(crate) struct Internal {
    config: InternalConfig,
    key: SigningKey,
    provider_keys: RemoteKeys,
    refresh_tokens: Mutex<HashMap<String, Issued>>,
    shared: Arc<Shared>,
}

impl Internal {
    /// The server; may block while its key is generated (once per process).
    pub(crate) fn new(config: InternalConfig, shared: Arc<Shared>) -> Internal {
        Internal {
            provider_keys: RemoteKeys::new(config.provider_addr),
            config,
            key: SigningKey::internal(),
            refresh_tokens: Mutex::new(HashMap::new()),
            shared,
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.issuer)
    }

    fn refresh_tokens(&self) -> MutexGuard<'_, HashMap<String, Issued>> {
        self.refresh_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Its routes: discovery, JWKS, token, revocation, and an authorization endpoint that only
/// says it signs nobody in.
pub(crate) fn router(internal: Arc<Internal>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/revoke", post(revoke))
        .layer(axum::middleware::from_fn_with_state(
            internal.shared.clone(),
            crate::clock::stamp_date,
        ))
        .with_state(internal)
}

async fn discovery(State(internal): State<Arc<Internal>>) -> Json<Value> {
    Json(json!({
        "issuer": internal.config.issuer,
        "authorization_endpoint": internal.endpoint("/authorize"),
        "token_endpoint": internal.endpoint("/token"),
        "jwks_uri": internal.endpoint("/.well-known/jwks.json"),
        "revocation_endpoint": internal.endpoint("/revoke"),
        "response_types_supported": ["code"],
        "grant_types_supported": [EXCHANGE_GRANT, "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": PERMISSIONS,
    }))
}

async fn jwks(State(internal): State<Arc<Internal>>) -> Json<Value> {
    Json(json!({"keys": [internal.key.jwk()]}))
}

async fn authorize() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This authorization server signs nobody in: exchange a token of the provider (RFC 8693).\n",
    )
        .into_response()
}

/// Every user's permissions: what its access tokens grant, as scopes.
const PERMISSIONS: [&str; 2] = ["customers:read", "orders:read"];

/// The permissions of user `sub`: a lookup in the app's own records (here: every user may read
/// customers and orders; a user whose `sub` starts with `guest` only customers).
fn permissions(sub: &str) -> Vec<&'static str> {
    if sub.starts_with("guest") {
        vec![PERMISSIONS[0]]
    } else {
        PERMISSIONS.to_vec()
    }
}

/// `POST /token`: token exchange and refresh.
async fn token(
    State(internal): State<Arc<Internal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form_params(&headers, &body)?;
    if params.get("client_id") != Some(internal.config.client_id.as_str()) {
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id",
        ));
    }
    match params.get("grant_type") {
        Some(EXCHANGE_GRANT) => {
            internal.shared.stats.record(|s| s.token_exchange += 1);
            let answer = exchange(&internal, &params).await;
            if answer.is_err() {
                internal
                    .shared
                    .stats
                    .record(|s| s.token_exchange_rejected += 1);
            }
            answer
        }
        Some("refresh_token") => refresh(&internal, &params),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be token-exchange or refresh_token",
        )),
    }
}

/// The token exchange (RFC 8693 §2.1, §2.2).
async fn exchange(internal: &Internal, params: &Params) -> Result<Response, OAuthError> {
    let required = |name: &'static str| {
        params
            .get(name)
            .ok_or(OAuthError::invalid_request(format!("{name} is required")))
    };
    let subject = required("subject_token")?;
    let subject_type = required("subject_token_type")?;
    let claims = internal
        .verify_provider_token(subject, subject_type)
        .await?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or(OAuthError::invalid_grant("the subject token names no user"))?
        .to_owned();
    let actor = match params.get("actor_token") {
        None => None,
        Some(token) => {
            let actor_type = required("actor_token_type")?;
            let actor = internal.verify_provider_token(token, actor_type).await?;
            Some(actor.get("sub").cloned().unwrap_or(Value::Null))
        }
    };
    match params.get("requested_token_type") {
        None | Some(ACCESS_TOKEN | JWT) => {}
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "this server issues access tokens only",
            ));
        }
    }
    let mut audience: Vec<String> = Vec::new();
    for target in params
        .get_all("audience")
        .into_iter()
        .chain(params.get_all("resource"))
    {
        if !RESOURCES.contains(&target) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                format!("no tokens are issued here for {target}"),
            ));
        }
        if !audience.iter().any(|a| a == target) {
            audience.push(target.to_owned());
        }
    }
    let scope = granted_scope(&sub, params.get("scope"))?;
    let issued_type = params.get("requested_token_type").unwrap_or(ACCESS_TOKEN);
    Ok(internal.tokens(&sub, &scope, audience, actor, issued_type))
}

/// The scope granted to `sub`: the requested permissions, each one the user has; all of them
/// when none is requested.
fn granted_scope(sub: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let allowed = permissions(sub);
    match requested {
        None => Ok(allowed.join(" ")),
        Some(requested) => {
            if let Some(denied) = requested.split(' ').find(|s| !allowed.contains(s)) {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("the user does not have the permission {denied}"),
                ));
            }
            Ok(requested.to_owned())
        }
    }
}

/// `grant_type=refresh_token` with one of its own refresh tokens (rotated: a used one is
/// refused).
fn refresh(internal: &Internal, params: &Params) -> Result<Response, OAuthError> {
    let presented = params
        .get("refresh_token")
        .ok_or(OAuthError::invalid_request("refresh_token is required"))?;
    let now = internal.shared.clock.now();
    let issued = {
        let mut tokens = internal.refresh_tokens();
        let issued = tokens
            .get_mut(presented)
            .ok_or(OAuthError::invalid_grant("unknown refresh token"))?;
        if issued.used || now >= issued.expires_at {
            return Err(OAuthError::invalid_grant("refresh token used or expired"));
        }
        issued.used = true;
        issued.clone()
    };
    Ok(internal.tokens(
        &issued.sub,
        &issued.scope,
        issued.audience,
        None,
        ACCESS_TOKEN,
    ))
}

/// `POST /revoke` (RFC 7009): a refresh token of its own is retired; anything else is ignored.
async fn revoke(
    State(internal): State<Arc<Internal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let params = form_params(&headers, &body)?;
    if let Some(token) = params.get("token")
        && let Some(issued) = internal.refresh_tokens().get_mut(token)
    {
        issued.used = true;
    }
    Ok(no_store(StatusCode::OK))
}

impl Internal {
    /// Verifies a token of the provider presented as `token_type`: an RS256, PS256 or ES256 JWS
    /// with a `kid` of the provider's JWKS, a valid signature, `iss` the provider, `exp` in the
    /// future (testkit clock), and for an ID token `aud` naming the client, for an access token
    /// the `typ` `at+jwt`. Its claims, or `invalid_grant` saying why not.
    async fn verify_provider_token(
        &self,
        token: &str,
        token_type: &str,
    ) -> Result<Map<String, Value>, OAuthError> {
        let rejected = |why: &'static str| OAuthError::invalid_grant(why);
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| rejected("the subject token is not a JWT"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256
        ) {
            return Err(rejected("the subject token's algorithm is not accepted"));
        }
        let kid = header
            .kid
            .as_deref()
            .ok_or(rejected("the subject token has no kid"))?;
        let key =
            self.provider_keys.key(kid).await.map_err(|_| {
                rejected("the subject token is not signed by a key of the provider")
            })?;
        let mut validation = Validation::new(header.alg);
        validation.validate_exp = false;
        validation.set_issuer(&[&self.config.provider_issuer]);
        match token_type {
            ID_TOKEN => validation.set_audience(&[&self.config.client_id]),
            ACCESS_TOKEN | JWT => validation.validate_aud = false,
            _ => {
                return Err(rejected(
                    "subject_token_type is not an ID token or access token",
                ));
            }
        }
        if token_type == ACCESS_TOKEN && header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
            return Err(rejected("the subject token is not an access token"));
        }
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                rejected(match e.kind() {
                    ErrorKind::InvalidSignature => "the subject token's signature does not verify",
                    ErrorKind::InvalidIssuer => "the subject token is not the trusted provider's",
                    ErrorKind::InvalidAudience => "the subject token is for another client",
                    _ => "the subject token is invalid",
                })
            })?;
        let exp = data.claims.get("exp").and_then(Value::as_u64);
        if exp.is_none_or(|exp| self.shared.clock.now() >= exp) {
            return Err(rejected("the subject token has expired"));
        }
        Ok(data.claims)
    }

    /// The token response: an RS256 access token (`at+jwt`) for `audience` (every API when
    /// empty), with the user's `sub`, the granted `scope`, the `act` claim of a delegation, and
    /// a new refresh token.
    fn tokens(
        &self,
        sub: &str,
        scope: &str,
        audience: Vec<String>,
        actor: Option<Value>,
        issued_type: &str,
    ) -> Response {
        let now = self.shared.clock.now();
        let aud: Vec<String> = if audience.is_empty() {
            RESOURCES.iter().map(|r| (*r).to_owned()).collect()
        } else {
            audience.clone()
        };
        let mut claims = json!({
            "iss": self.config.issuer,
            "sub": sub,
            "aud": aud,
            "client_id": self.config.client_id,
            "scope": scope,
            "iat": now,
            "exp": now + self.config.access_token_ttl,
            "jti": random_token(),
        });
        if let Some(actor) = actor {
            claims["act"] = json!({"sub": actor});
        }
        let Value::Object(claims) = claims else {
            unreachable!("a JSON object literal")
        };
        let access_token = sign(&self.key, ACCESS_TOKEN_TYPE, &claims);
        let refresh_token = random_token();
        self.refresh_tokens().insert(
            refresh_token.clone(),
            Issued {
                sub: sub.to_owned(),
                scope: scope.to_owned(),
                audience,
                expires_at: now + REFRESH_TOKEN_TTL,
                used: false,
            },
        );
        no_store(Json(json!({
            "access_token": access_token,
            "issued_token_type": issued_type,
            "token_type": "Bearer",
            "expires_in": self.config.access_token_ttl,
            "scope": scope,
            "refresh_token": refresh_token,
        })))
    }
}
