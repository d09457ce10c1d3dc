//! DPoP (RFC 9449) on the server side: the policy the provider and servers A and B apply, the
//! proof check they share, their nonces, and the replay cache of proof `jti`s.
//!
//! A proof is accepted when it is a compact JWS with `typ: dpop+jwt`, `alg: ES256` and a
//! public P-256 `jwk` (no private member) in its header, its signature verifies with that
//! `jwk`, `htm` and `htu` name the request (the URL without query and fragment), `iat` is
//! within a minute of the testkit clock, its `jti` was not seen before, `ath` is the hash of the
//! access token it comes with (resource requests), and — when the server demands nonces —
//! `nonce` is the server's current one.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::{HeaderMap, HeaderValue};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::keys::{b64url, random_token};

/// How far `iat` may be from the testkit clock, either way, in seconds.
pub(crate) const MAX_IAT_SKEW: u64 = 60;
/// How long a seen `jti` is remembered: long enough to cover the `iat` window on both sides.
const JTI_MEMORY_SECS: u64 = 2 * MAX_IAT_SKEW + 1;

/// What the testkit demands of clients, switched at start ([`crate::Options`]) or at run time
/// ([`crate::Testkit::set_policy`], `POST /__testkit/policy`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// `/token` refuses requests without a DPoP proof (`invalid_dpop_proof`).
    pub require_dpop: bool,
    /// Discovery says `require_pushed_authorization_requests`, and `/authorize` refuses
    /// requests that were not pushed.
    pub require_par: bool,
    /// The provider and servers A and B demand a server nonce in every proof
    /// (`use_dpop_nonce`, RFC 9449 §8 and §9).
    pub dpop_nonce: bool,
}

/// Which server checks a proof: each has its own nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Server {
    Provider,
    Crm,
    Orders,
}

/// The DPoP state of one testkit, shared by its servers.
#[derive(Debug, Default)]
pub(crate) struct DpopState {
    policy: Mutex<Policy>,
    nonces: Mutex<HashMap<Server, String>>,
    /// Seen proof `jti`s and when they may be forgotten.
    seen: Mutex<HashMap<String, u64>>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DpopState {
    pub(crate) fn policy(&self) -> Policy {
        *locked(&self.policy)
    }

    pub(crate) fn set_policy(&self, policy: Policy) {
        *locked(&self.policy) = policy;
    }

    /// The current nonce of `server` (made on first use).
    pub(crate) fn nonce(&self, server: Server) -> String {
        locked(&self.nonces)
            .entry(server)
            .or_insert_with(random_token)
            .clone()
    }

    /// New nonces for every server: proofs with the old ones are refused (`use_dpop_nonce`).
    pub(crate) fn rotate_nonces(&self) {
        locked(&self.nonces).clear();
    }

    /// Checks the request's proof for `expected`. `Ok(None)`: the request has no `DPoP` header.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        expected: &Expected<'_>,
    ) -> Result<Option<String>, ProofError> {
        let mut values = headers.get_all("dpop").iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(ProofError::Invalid("more than one DPoP header"));
        }
        let proof = value
            .to_str()
            .map_err(|_| ProofError::Invalid("the DPoP header is not text"))?;
        let (jkt, claims) = verify_signature(proof)?;
        self.check_claims(&claims, expected)?;
        Ok(Some(jkt))
    }

    fn check_claims(
        &self,
        claims: &Map<String, Value>,
        expected: &Expected<'_>,
    ) -> Result<(), ProofError> {
        use ProofError::Invalid;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("htm") != Some(expected.method) {
            return Err(Invalid("htm is not the request's method"));
        }
        if text("htu").map(without_query) != Some(without_query(expected.url)) {
            return Err(Invalid("htu is not the request's URL"));
        }
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or(Invalid("iat is missing or not a number"))?;
        if iat + MAX_IAT_SKEW < expected.now || iat > expected.now + MAX_IAT_SKEW {
            return Err(Invalid("iat is too far from the server's time"));
        }
        match (expected.access_token, text("ath")) {
            (Some(token), Some(ath)) if ath == access_token_hash(token) => {}
            (Some(_), _) => return Err(Invalid("ath is not the hash of the access token")),
            (None, _) => {}
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or(Invalid("jti is missing"))?;
        if self.policy().dpop_nonce && text("nonce") != Some(self.nonce(expected.server).as_str()) {
            return Err(ProofError::UseNonce(self.nonce(expected.server)));
        }
        // Last, so that a proof refused for its nonce can be sent again with one.
        let mut seen = locked(&self.seen);
        seen.retain(|_, forget_at| *forget_at > expected.now);
        if seen
            .insert(jti.to_owned(), expected.now + JTI_MEMORY_SECS)
            .is_some()
        {
            return Err(Invalid("the proof was used before (jti replayed)"));
        }
        Ok(())
    }

    /// The `DPoP-Nonce` header for an answer of `server`, when nonces are demanded.
    pub(crate) fn nonce_header(&self, server: Server) -> Option<HeaderValue> {
        if !self.policy().dpop_nonce {
            return None;
        }
        HeaderValue::from_str(&self.nonce(server)).ok()
    }
}

/// What a proof must say.
pub(crate) struct Expected<'a> {
    pub server: Server,
    pub method: &'a str,
    /// The request URL as the client sees it.
    pub url: &'a str,
    /// The access token sent with a resource request (`ath`).
    pub access_token: Option<&'a str>,
    /// The testkit clock.
    pub now: u64,
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProofError {
    /// `invalid_dpop_proof`, with a description.
    Invalid(&'static str),
    /// `use_dpop_nonce`: the proof lacks the server's nonce (given here).
    UseNonce(String),
}

/// Verifies the proof's signature with the key in its own header; returns that key's
/// thumbprint and the proof's claims.
fn verify_signature(proof: &str) -> Result<(String, Map<String, Value>), ProofError> {
    use ProofError::Invalid;
    let header = jsonwebtoken::decode_header(proof).map_err(|_| Invalid("malformed proof"))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(Invalid("typ must be dpop+jwt"));
    }
    if header.alg != Algorithm::ES256 {
        return Err(Invalid("alg must be ES256"));
    }
    // jsonwebtoken's header type does not keep unknown members: read the `jwk` from the JSON.
    let raw_header = proof.split('.').next().unwrap_or_default();
    let header_json: Value = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        raw_header,
    )
    .ok()
    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    .ok_or(Invalid("malformed proof header"))?;
    let jwk = header_json
        .get("jwk")
        .and_then(Value::as_object)
        .ok_or(Invalid("the header has no jwk"))?;
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    if member("kty") != Some("EC") || member("crv") != Some("P-256") {
        return Err(Invalid("the jwk is not a P-256 key"));
    }
    if jwk.contains_key("d") {
        return Err(Invalid("the jwk holds a private key"));
    }
    let (Some(x), Some(y)) = (member("x"), member("y")) else {
        return Err(Invalid("the jwk has no coordinates"));
    };
    let key = DecodingKey::from_ec_components(x, y).map_err(|_| Invalid("the jwk is unusable"))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &validation)
        .map_err(|_| Invalid("the proof's signature does not verify"))?;
    Ok((thumbprint(x, y), data.claims))
}

/// The RFC 7638 thumbprint of a P-256 public key.
pub(crate) fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

/// `base64url(SHA-256(token))`.
pub(crate) fn access_token_hash(token: &str) -> String {
    b64url(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

/// A URL without its query and fragment.
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or_default()
}

/// The token of an `Authorization: DPoP …` header.
pub(crate) fn dpop_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("dpop") && !token.is_empty()).then_some(token)
}

/// How a resource request presented its access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presented<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: DPoP <token>` (with a `DPoP` proof header).
    Dpop(&'a str),
}

impl<'a> Presented<'a> {
    /// The access token of the request's `Authorization` header, Bearer or DPoP.
    pub(crate) fn of(headers: &'a HeaderMap) -> Option<Presented<'a>> {
        crate::jwt::bearer_token(headers)
            .map(Presented::Bearer)
            .or_else(|| dpop_token(headers).map(Presented::Dpop))
    }

    pub(crate) fn token(self) -> &'a str {
        match self {
            Presented::Bearer(token) | Presented::Dpop(token) => token,
        }
    }
}

/// Why a resource request with a valid access token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// `invalid_token`: the token does not fit the scheme (a DPoP-bound token as Bearer).
    Token(&'static str),
    /// `invalid_dpop_proof`, or `use_dpop_nonce` with the nonce to use.
    Proof(ProofError),
}

/// Checks that the access token (its verified `claims`) is presented as its binding says: an
/// unbound token as Bearer; a token bound to a key (`cnf.jkt`) as DPoP, with a valid proof
/// signed by that key for this request.
pub(crate) fn check_binding(
    state: &DpopState,
    headers: &HeaderMap,
    presented: Presented<'_>,
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<(), Refused> {
    let bound = claims
        .get("cnf")
        .and_then(|cnf| cnf.get("jkt"))
        .and_then(Value::as_str);
    match (presented, bound) {
        (Presented::Bearer(_), None) => Ok(()),
        (Presented::Bearer(_), Some(_)) => Err(Refused::Token(
            "a DPoP-bound token must be sent with the DPoP scheme and a proof",
        )),
        (Presented::Dpop(_), None) => Err(Refused::Token("the token is not DPoP-bound")),
        (Presented::Dpop(_), Some(jkt)) => match state.check(headers, expected) {
            Ok(Some(key)) if key == jkt => Ok(()),
            Ok(Some(_)) => Err(Refused::Proof(ProofError::Invalid(
                "the proof is signed by another key than the token's",
            ))),
            Ok(None) => Err(Refused::Proof(ProofError::Invalid(
                "the DPoP proof is missing",
            ))),
            Err(e) => Err(Refused::Proof(e)),
        },
    }
}

/// Counts a refused proof in the stats: rejected, or asked for a nonce.
pub(crate) fn count_refusal(stats: &crate::stats::StatsRecorder, error: &ProofError) {
    stats.record(|stats| match error {
        ProofError::Invalid(_) => stats.dpop_proofs_rejected += 1,
        ProofError::UseNonce(_) => stats.dpop_nonce_challenges += 1,
    });
}

/// A `401` with a `WWW-Authenticate: DPoP` challenge for a refused proof or token (RFC 9449
/// §7.1), and the server's nonce when it asks for one.
pub(crate) fn dpop_unauthorized(realm: &str, error: &ProofError) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let (code, description, nonce) = match error {
        ProofError::Invalid(why) => ("invalid_dpop_proof", *why, None),
        ProofError::UseNonce(nonce) => (
            "use_dpop_nonce",
            "the server requires a nonce in DPoP proofs",
            Some(nonce),
        ),
    };
    let challenge = format!(
        r#"DPoP realm="{realm}", algs="ES256", error="{code}", error_description="{description}""#
    );
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(n).ok()) {
        headers.insert("dpop-nonce", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9449_example_thumbprint() {
        assert_eq!(
            thumbprint(
                "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
                "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
            ),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
    }

    #[test]
    fn nonces_rotate() {
        let state = DpopState::default();
        let first = state.nonce(Server::Crm);
        assert_eq!(state.nonce(Server::Crm), first);
        assert_ne!(state.nonce(Server::Provider), first);
        state.rotate_nonces();
        assert_ne!(state.nonce(Server::Crm), first);
        assert!(state.nonce_header(Server::Crm).is_none());
        state.set_policy(Policy {
            dpop_nonce: true,
            ..Policy::default()
        });
        assert!(state.nonce_header(Server::Crm).is_some());
    }
}
