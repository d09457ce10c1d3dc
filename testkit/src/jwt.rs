//! JWTs: compact serialisation of signed tokens, and the access-token check that
//! the resource servers and `/userinfo` share.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::keys::{SigningKey, b64url};

/// The `typ` of access tokens (RFC 9068).
pub(crate) const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// `BASE64URL(header) . BASE64URL(claims)`: the JWS signing input.
pub(crate) fn signing_input(header: &Map<String, Value>, claims: &Map<String, Value>) -> String {
    let header = serde_json::to_vec(header).expect("JSON maps serialise");
    let claims = serde_json::to_vec(claims).expect("JSON maps serialise");
    format!("{}.{}", b64url(&header), b64url(&claims))
}

/// Appends the base64url signature to a signing input.
pub(crate) fn with_signature(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", b64url(signature))
}

/// Signs `claims` with `key`, with the header `{alg, kid, typ}`.
pub(crate) fn sign(key: &SigningKey, typ: &str, claims: &Map<String, Value>) -> String {
    let mut header = Map::new();
    header.insert("alg".into(), key.alg().as_str().into());
    header.insert("kid".into(), key.kid().into());
    header.insert("typ".into(), typ.into());
    let input = signing_input(&header, claims);
    with_signature(&input, &key.sign(input.as_bytes()))
}

/// Why an access token was refused; the text goes into `error_description`.
pub(crate) type Rejection = &'static str;

/// Reads the `kid` of an access token, checking the header first: RS256, typed
/// `at+jwt`, with a `kid`.
pub(crate) fn access_token_kid(token: &str) -> Result<String, Rejection> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
    if header.alg != Algorithm::RS256 {
        return Err("unexpected signing algorithm");
    }
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYPE) {
        return Err("not an access token");
    }
    header.kid.ok_or("token has no kid")
}

/// What an access token must satisfy besides its signature.
pub(crate) struct AccessTokenRules<'a> {
    /// The expected `iss`.
    pub issuer: &'a str,
    /// An audience that `aud` must contain, if any.
    pub audience: Option<&'a str>,
    /// The testkit clock's time, compared with `exp` without leeway.
    pub now: u64,
}

/// Verifies an RS256 access token with `key` and returns its claims.
///
/// `exp` is compared with the testkit clock with no leeway: the testkit's clock
/// is the issuer's clock, so there is no skew to absorb.
pub(crate) fn verify_access_token(
    token: &str,
    key: &DecodingKey,
    rules: &AccessTokenRules<'_>,
) -> Result<Map<String, Value>, Rejection> {
    let mut validation = Validation::new(Algorithm::RS256);
    // `exp` is checked below against the testkit clock, not the system clock.
    validation.validate_exp = false;
    validation.set_issuer(&[rules.issuer]);
    match rules.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        }
        None => {
            validation.validate_aud = false;
            validation.set_required_spec_claims(&["exp", "iss"]);
        }
    }
    let data =
        jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            match error.kind() {
                ErrorKind::InvalidSignature => "signature verification failed",
                ErrorKind::InvalidIssuer => "wrong issuer",
                ErrorKind::InvalidAudience => "wrong audience",
                ErrorKind::MissingRequiredClaim(_) => "missing required claim",
                _ => "invalid token",
            }
        })?;
    let exp = data
        .claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or("exp is not a number")?;
    if rules.now >= exp {
        return Err("token expired");
    }
    Ok(data.claims)
}

/// A `401` with a `WWW-Authenticate: Bearer realm="…"` challenge (RFC 6750 §3), naming the
/// `invalid_token` error and its description when a token was presented and refused.
pub(crate) fn unauthorized(realm: &str, refused: Option<&str>) -> Response {
    let challenge = match refused {
        None => format!(r#"Bearer realm="{realm}""#),
        Some(reason) => format!(
            r#"Bearer realm="{realm}", error="invalid_token", error_description="{reason}""#
        ),
    };
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The token of an `Authorization: Bearer …` header.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
