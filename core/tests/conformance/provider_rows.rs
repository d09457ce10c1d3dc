//! List 1: a hostile or broken provider. ID tokens, keys, discovery, token responses, the
//! callback, and refresh or userinfo answers about someone else.

use keyfob::{ErrorKind as K, IdTokenCheck as C};
use keyfob_testkit::{Faults, Signing};
use serde_json::{Value, json};

use crate::common::{Env, with_param};
use crate::row::Step::{BeginLogin, Callback, Custom, Exchange, Refresh, Userinfo};
use crate::row::Stored::{Nothing, PendingOnly, Session, Unchanged};
use crate::row::{
    FAILED_LOGIN, Outcome, Row, USERINFO, fails, id_token, jwks, no_request_to, revoke, tokens,
};
use crate::steps::{replayed_callback, superseded_state, then_salvaged_refresh_token_works};
use keyfob::SessionState::{LoginPending, NeedsReLogin, SignedIn, SignedOut};

/// List 1, in the order of the row ids.
pub(crate) fn rows() -> Vec<Row> {
    [
        id_token_claim_rows(),
        signing_and_key_rows(),
        discovery_and_token_response_rows(),
        callback_rows(),
        refresh_and_userinfo_rows(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// ID tokens whose claims the client must refuse (1.01–1.13, 13 rows).
fn id_token_claim_rows() -> Vec<Row> {
    vec![
        Row::new("1.01", "ID token: iss is another issuer", Callback)
            .faults(Faults::id_token_claims(
                json!({"iss": "https://evil.example"}),
            ))
            .expect(id_token(C::Issuer), FAILED_LOGIN, Nothing),
        Row::new("1.02", "ID token: aud is another client", Callback)
            .faults(Faults::id_token_claims(
                json!({"aud": "someone-else", "azp": null}),
            ))
            .expect(id_token(C::Audience), FAILED_LOGIN, Nothing),
        Row::new("1.03", "ID token: several aud, no azp", Callback)
            .faults(Faults::id_token_claims(
                json!({"aud": ["keyfob-demo", "other"], "azp": null}),
            ))
            .expect(id_token(C::Audience), FAILED_LOGIN, Nothing),
        Row::new(
            "1.04",
            "ID token: several aud, azp another client",
            Callback,
        )
        .faults(Faults::id_token_claims(
            json!({"aud": ["keyfob-demo", "other"], "azp": "other"}),
        ))
        .expect(id_token(C::AuthorizedParty), FAILED_LOGIN, Nothing),
        Row::new("1.05", "ID token: one aud, azp another client", Callback)
            .faults(Faults::id_token_claims(json!({"azp": "other"})))
            .expect(id_token(C::AuthorizedParty), FAILED_LOGIN, Nothing),
        Row::new("1.06", "ID token: nonce missing", Callback)
            .faults(Faults::id_token_claims(json!({"nonce": null})))
            .expect(id_token(C::Nonce), FAILED_LOGIN, Nothing),
        Row::new("1.07", "ID token: nonce of another login", Callback)
            .faults(Faults::id_token_claims(
                json!({"nonce": "nonce-of-another-login-0123456789"}),
            ))
            .expect(id_token(C::Nonce), FAILED_LOGIN, Nothing),
        Row::new("1.08", "ID token: expired (exp 2001)", Callback)
            .faults(Faults::id_token_claims(json!({"exp": 1_000_000_000})))
            .expect(id_token(C::Expired), FAILED_LOGIN, Nothing),
        Row::new("1.09", "ID token: iat far in the future", Callback)
            .faults(Faults::id_token_claims(json!({"iat": 9_999_999_999i64})))
            .expect(id_token(C::IssuedInFuture), FAILED_LOGIN, Nothing),
        Row::new("1.10", "ID token: sub missing", Callback)
            .faults(Faults::id_token_claims(json!({"sub": null})))
            .expect(id_token(C::MissingClaim), FAILED_LOGIN, Nothing),
        Row::new("1.11", "ID token: sub empty", Callback)
            .faults(Faults::id_token_claims(json!({"sub": ""})))
            .expect(id_token(C::MissingClaim), FAILED_LOGIN, Nothing),
        Row::new("1.12", "ID token: exp is a string", Callback)
            .faults(Faults::id_token_claims(json!({"exp": "9999999999"})))
            .expect(id_token(C::ClaimType), FAILED_LOGIN, Nothing),
        Row::new("1.13", "ID token: aud is a number", Callback)
            .faults(Faults::id_token_claims(json!({"aud": 7})))
            .expect(id_token(C::ClaimType), FAILED_LOGIN, Nothing),
    ]
}

/// ID tokens signed the wrong way, and the key set: rotation, `kid`, unusable keys (1.14–1.26, 13 rows).
fn signing_and_key_rows() -> Vec<Row> {
    vec![
        Row::new("1.14", "ID token: signature invalid", Callback)
            .faults(Faults::id_token_signing(Signing::BadSignature))
            .expect(id_token(C::Signature), FAILED_LOGIN, Nothing),
        Row::new("1.15", "ID token: alg none", Callback)
            .faults(Faults::id_token_signing(Signing::AlgNone))
            .expect(id_token(C::Algorithm), FAILED_LOGIN, Nothing),
        Row::new(
            "1.16",
            "ID token: HS256 keyed with the RSA public key",
            Callback,
        )
        .faults(Faults::id_token_signing(Signing::Hs256WithPublicKey))
        .expect(id_token(C::Algorithm), FAILED_LOGIN, Nothing),
        Row::new("1.17", "ID token: typ at+jwt (an access token)", Callback)
            .faults(Faults::id_token_header(json!({"typ": "at+jwt"})))
            .expect(id_token(C::Malformed), FAILED_LOGIN, Nothing),
        Row::new("1.18", "ID token: crit header", Callback)
            .faults(Faults::id_token_header(json!({"crit": ["exp"]})))
            .expect(id_token(C::Algorithm), FAILED_LOGIN, Nothing),
        Row::new(
            "1.19",
            "ID token: jku/x5u/jwk headers point elsewhere",
            Callback,
        )
        .faults(Faults::id_token_header(json!({
                "jku": "http://127.0.0.1:9/jwks", "x5u": "http://127.0.0.1:9/x5u",
                "jwk": {"kty": "oct", "k": "c2VjcmV0"}})))
        .expect(Outcome::Ok, SignedIn, Session)
        .check("headers ignored", no_request_to("127.0.0.1:9/")),
        Row::new(
            "1.20",
            "kid absent, one key in the JWKS: accepted",
            Callback,
        )
        .faults(Faults::id_token_header(json!({"kid": null})))
        .expect(Outcome::Ok, SignedIn, Session)
        .stat("JWKS fetches", jwks, 1),
        Row::new(
            "1.21",
            "kid absent, several keys: refused (Keyfob does not try each key)",
            Callback,
        )
        .setup(|env: &Env| {
            env.kit.rotate_keys(true);
            env.kit
                .set_faults(Faults::id_token_header(json!({"kid": null})));
        })
        .expect(id_token(C::UnknownKey), FAILED_LOGIN, Nothing)
        .stat("JWKS fetches (no refetch)", jwks, 1),
        Row::new(
            "1.22",
            "kid unknown until a key rotation: one refetch, then accepted",
            Exchange,
        )
        .setup(|env: &Env| env.kit.rotate_keys(false))
        .expect(Outcome::Ok, SignedIn, Session)
        .stat("JWKS fetches (prefetch + 1 refetch)", jwks, 2),
        Row::new(
            "1.23",
            "kid never published: one refetch, then refused",
            Callback,
        )
        .faults(Faults::id_token_signing(Signing::UnpublishedKey))
        .expect(id_token(C::UnknownKey), FAILED_LOGIN, Nothing)
        .stat("JWKS fetches (prefetch + 1 refetch)", jwks, 2),
        Row::new(
            "1.24",
            "JWKS: unusable keys next to the right one are skipped",
            Callback,
        )
        .faults(Faults::jwks_extra_keys(unusable_keys()))
        .expect(Outcome::Ok, SignedIn, Session),
        Row::new(
            "1.25",
            "JWKS: unusable keys skipped, kid absent: the one usable key is taken",
            Callback,
        )
        .faults(
            Faults::jwks_extra_keys(unusable_keys())
                .and(Faults::id_token_header(json!({"kid": null}))),
        )
        .expect(Outcome::Ok, SignedIn, Session),
        Row::new(
            "1.26",
            "kid absent, key rotated after the JWKS was cached: refetch once, accept",
            Exchange,
        )
        .setup(|env: &Env| {
            env.kit.rotate_keys(false);
            env.kit
                .set_faults(Faults::id_token_header(json!({"kid": null})));
        })
        .expect(Outcome::Ok, SignedIn, Session)
        .stat("JWKS fetches (prefetch + 1 refetch)", jwks, 2),
    ]
}

/// A discovery document or a token response the client must refuse (1.27–1.38, 12 rows).
fn discovery_and_token_response_rows() -> Vec<Row> {
    vec![
        Row::new("1.27", "discovery: issuer differs", BeginLogin)
            .faults(Faults::discovery(json!({"issuer": "https://evil.example"})))
            .expect(fails(K::Discovery), SignedOut, Nothing),
        Row::new("1.28", "discovery: no S256 among PKCE methods", BeginLogin)
            .faults(Faults::discovery(
                json!({"code_challenge_methods_supported": ["plain"]}),
            ))
            .expect(fails(K::Discovery), SignedOut, Nothing),
        Row::new("1.29", "token response: access_token missing", Exchange)
            .faults(Faults::token_response(json!({"access_token": null})))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("1.30", "token response: access_token a number", Exchange)
            .faults(Faults::token_response(json!({"access_token": 12345})))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("1.31", "token response: refresh_token an object", Exchange)
            .faults(Faults::token_response(json!({"refresh_token": {}})))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("1.32", "token response: id_token an array", Exchange)
            .faults(Faults::token_response(json!({"id_token": ["x"]})))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new(
            "1.33",
            "token response: id_token missing on code exchange",
            Exchange,
        )
        .faults(Faults::token_response(json!({"id_token": null})))
        .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("1.34", "token response: token_type mac", Exchange)
            .faults(Faults::token_response(json!({"token_type": "mac"})))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("1.35", "token response: token_type missing", Exchange)
            .faults(Faults::token_response(json!({"token_type": null})))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("1.36", "token response: expires_in negative", Exchange)
            .faults(Faults::token_response(json!({"expires_in": -5})))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("1.37", "token response: expires_in a string", Exchange)
            .faults(Faults::token_response(json!({"expires_in": "3600"})))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new(
            "1.38",
            "refresh response malformed after the provider rotated: refused, new refresh token kept",
            Refresh,
        )
        .faults(Faults::token_response(json!({"expires_in": "3600"})))
        .expect(fails(K::InvalidResponse), SignedIn, Session)
        .then(then_salvaged_refresh_token_works),
    ]
}

/// The redirect back to the app: provider errors, mix-up, replay, duplicated parameters (1.39–1.49, 11 rows).
fn callback_rows() -> Vec<Row> {
    vec![
        Row::new("1.39", "callback: error=access_denied", Callback)
            .faults(Faults::callback(json!({"error": "access_denied",
                "error_description": "User said no", "code": null})))
            .expect(fails(K::Provider), FAILED_LOGIN, Nothing)
            .check("provider error code", |ctx| {
                ctx.last_error()
                    .filter(|e| e.provider_error() == Some("access_denied"))
                    .map(|_| ())
                    .ok_or("provider_error is not access_denied".into())
            })
            .stat("token requests", tokens, 0),
        Row::new(
            "1.40",
            "callback: iss names another issuer (mix-up)",
            Callback,
        )
        .faults(Faults::callback(json!({"iss": "https://evil.example"})))
        .expect(fails(K::IssuerMismatch), FAILED_LOGIN, Nothing)
        .stat("token requests", tokens, 0),
        Row::new(
            "1.41",
            "callback: iss missing although advertised",
            Callback,
        )
        .faults(Faults::callback(json!({"iss": null})))
        .expect(fails(K::IssuerMismatch), FAILED_LOGIN, Nothing)
        .stat("token requests", tokens, 0),
        Row::new(
            "1.42",
            "callback: state of a superseded login (replayed)",
            Custom(superseded_state),
        )
        .expect(fails(K::StateMismatch), LoginPending, PendingOnly)
        .stat("token requests", tokens, 0),
        Row::new(
            "1.43",
            "callback: replayed after its login completed",
            Custom(replayed_callback),
        )
        .expect(fails(K::NoPendingLogin), SignedIn, Unchanged)
        .stat("token requests", tokens, 1),
        Row::new("1.44", "callback: forged state", Callback)
            .rewrite(|cb| with_param(cb, "state", Some("forged-state-forged-state")))
            .expect(fails(K::StateMismatch), LoginPending, PendingOnly)
            .stat("token requests", tokens, 0),
        Row::new("1.45", "callback: code in the fragment", Callback)
            .faults(Faults::callback_in_fragment())
            .expect(fails(K::InvalidCallback), LoginPending, PendingOnly)
            .stat("token requests", tokens, 0),
        Row::new("1.46", "callback: state twice", Callback)
            .faults(Faults::callback_append("state", "second-state"))
            .expect(fails(K::InvalidCallback), LoginPending, PendingOnly),
        Row::new("1.47", "callback: code twice", Callback)
            .faults(Faults::callback_append("code", "second-code"))
            .expect(fails(K::InvalidCallback), LoginPending, PendingOnly)
            .stat("token requests", tokens, 0),
        Row::new("1.48", "callback: iss twice", Callback)
            .faults(Faults::callback_append("iss", "https://evil.example"))
            .expect(fails(K::InvalidCallback), LoginPending, PendingOnly),
        Row::new(
            "1.49",
            "callback: the same state twice (OS-duplicated query)",
            Callback,
        )
        .rewrite(|cb| duplicate_param(cb, "state"))
        .expect(fails(K::InvalidCallback), LoginPending, PendingOnly),
    ]
}

/// A refresh or userinfo answer about someone else (1.50–1.56, 7 rows).
fn refresh_and_userinfo_rows() -> Vec<Row> {
    vec![
        Row::new("1.50", "refresh: ID token for another sub", Refresh)
            .faults(Faults::id_token_claims(json!({"sub": "someone-else"})))
            .expect(id_token(C::SubjectChanged), NeedsReLogin, Nothing)
            .stat("revocations of the new grant", revoke, 1),
        Row::new("1.51", "refresh: ID token from another iss", Refresh)
            .faults(Faults::id_token_claims(
                json!({"iss": "https://evil.example"}),
            ))
            .expect(id_token(C::Issuer), NeedsReLogin, Nothing)
            .stat("revocations of the new grant", revoke, 1),
        Row::new("1.52", "refresh: ID token with another aud set", Refresh)
            .faults(Faults::id_token_claims(
                json!({"aud": ["keyfob-demo", "other"]}),
            ))
            .expect(id_token(C::SubjectChanged), NeedsReLogin, Nothing)
            .stat("revocations of the new grant", revoke, 1),
        Row::new("1.53", "refresh: ID token for another client", Refresh)
            .faults(Faults::id_token_claims(
                json!({"aud": "other", "azp": null}),
            ))
            .expect(id_token(C::Audience), NeedsReLogin, Nothing),
        Row::new("1.54", "refresh: ID token with a bad signature", Refresh)
            .faults(Faults::id_token_signing(Signing::BadSignature))
            .expect(id_token(C::Signature), NeedsReLogin, Nothing),
        Row::new("1.55", "userinfo: another sub", Userinfo)
            .faults(Faults::endpoint(USERINFO, |f| {
                f.status = Some(200);
                f.body = Some(r#"{"sub":"someone-else","email":"eve@evil.example"}"#.into());
            }))
            .expect(fails(K::InvalidResponse), SignedIn, Unchanged),
        Row::new("1.56", "userinfo: no sub", Userinfo)
            .faults(Faults::endpoint(USERINFO, |f| {
                f.status = Some(200);
                f.body = Some(r#"{"email":"eve@evil.example"}"#.into());
            }))
            .expect(fails(K::InvalidResponse), SignedIn, Unchanged),
    ]
}

/// JWKS members Keyfob cannot use: each must be skipped, not fail the set.
fn unusable_keys() -> Vec<Value> {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let n = b64(&[0xc3; 256]);
    vec![
        json!("not a key"),
        json!(42),
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        json!({"kty": "RSA", "kid": "bad-b64", "n": "!!!", "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "no-e", "n": n}),
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": n, "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "rs512", "alg": "RS512", "n": n, "e": "AQAB"}),
        json!({"kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48])}),
        json!({"kty": "EC", "kid": "short", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[2; 32])}),
        json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&[3; 32])}),
        json!({"kty": "RSA", "kid": 7, "n": n, "e": "AQAB"}),
    ]
}

/// The callback with parameter `name` sent twice, as an OS might duplicate a query.
fn duplicate_param(url: &str, name: &str) -> String {
    let value = crate::common::param(url, name).unwrap();
    format!("{url}&{name}={value}")
}
