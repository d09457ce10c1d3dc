//! Minting access tokens and ID tokens, with the ID-token faults applied.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Provider;
use super::grants::Grant;
use crate::faults::{Faults, Signing, merge_object};
use crate::jwt::{ACCESS_TOKEN_TYPE, signing_input, with_signature};
use crate::keys::{SigningKey, random_token};
use crate::{CRM_AUDIENCE, ORDERS_AUDIENCE};

impl Provider {
    /// An RS256 JWT access token for servers A and B (RFC 9068 profile), bent
    /// by the `access_token_claims` fault.
    pub(super) fn issue_access_token(&self, grant: &Grant, now: u64) -> String {
        let config = &self.config;
        let mut claims = as_object(json!({
            "iss": config.issuer,
            "sub": grant.user.sub,
            "aud": [CRM_AUDIENCE, ORDERS_AUDIENCE],
            "client_id": grant.client_id,
            "scope": grant.scope,
            "iat": now,
            "exp": now + config.access_token_ttl,
            "jti": random_token(),
        }));
        if let Some(jkt) = &grant.dpop_jkt {
            // RFC 9449 §6.1: the key the token is bound to.
            claims.insert("cnf".into(), json!({ "jkt": jkt }));
        }
        let faults = self.shared.faults.current();
        merge_object(&mut claims, faults.access_token_claims.as_ref());
        let key = self.keys().access_key();
        crate::jwt::sign(&key, ACCESS_TOKEN_TYPE, &claims)
    }

    /// An ID token for the test user, bent by the active ID-token faults.
    pub(super) fn issue_id_token(&self, grant: &Grant, nonce: Option<&str>, now: u64) -> String {
        let config = &self.config;
        let faults = self.shared.faults.current();
        let mut claims = as_object(json!({
            "iss": config.issuer,
            "sub": grant.user.sub,
            "aud": grant.client_id,
            "azp": grant.client_id,
            "iat": now,
            "exp": now + config.id_token_ttl,
            "auth_time": grant.auth_time,
            "email": grant.user.email,
            "name": grant.user.name,
            "preferred_username": grant.user.preferred_username,
        }));
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), nonce.into());
        }
        merge_object(&mut claims, faults.id_token_claims.as_ref());
        self.sign_id_token(&claims, &faults)
    }

    fn sign_id_token(&self, claims: &Map<String, Value>, faults: &Faults) -> String {
        let published = self.keys().id_key();
        let signing = faults.id_token_signing.unwrap_or_default();
        let signer = match signing {
            Signing::UnpublishedKey => Arc::new(SigningKey::unpublished(published.alg())),
            Signing::ShortRsaKey => Arc::new(SigningKey::short_rsa(published.alg())),
            _ => published.clone(),
        };
        let alg = match signing {
            Signing::AlgNone => "none",
            Signing::Hs256WithPublicKey => "HS256",
            _ => signer.alg().as_str(),
        };
        let mut header = as_object(json!({"alg": alg, "kid": signer.kid(), "typ": "JWT"}));
        merge_object(&mut header, faults.id_token_header.as_ref());

        let input = signing_input(&header, claims);
        let signature = match signing {
            Signing::Normal | Signing::UnpublishedKey | Signing::ShortRsaKey => {
                signer.sign(input.as_bytes())
            }
            Signing::AlgNone => Vec::new(),
            Signing::Hs256WithPublicKey => {
                let pem = published.public_key_pem();
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pem.as_bytes());
                ring::hmac::sign(&key, input.as_bytes()).as_ref().to_vec()
            }
            Signing::BadSignature => {
                let mut signature = signer.sign(input.as_bytes());
                if let Some(last) = signature.last_mut() {
                    *last ^= 0x01;
                }
                signature
            }
        };
        with_signature(&input, &signature)
    }
}

fn as_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("claims and headers are JSON objects"),
    }
}
