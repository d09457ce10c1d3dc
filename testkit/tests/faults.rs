//! Every fault visibly changes what the provider (or a server) answers.

mod common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::*;
use keyfob_testkit::{Faults, Signing, SigningAlg, Testkit};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn id_token(tk: &Testkit) -> String {
    sign_in(tk).await["id_token"].as_str().unwrap().to_owned()
}

async fn discovery(tk: &Testkit) -> (StatusCode, String) {
    let response = http()
        .get(format!("{}/.well-known/openid-configuration", tk.issuer()))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn faults_deserialize_from_the_documented_json() {
    let faults: Faults = serde_json::from_value(json!({
        "id_token_claims": {"exp": "9999999999", "sub": null},
        "id_token_signing": "unpublished_key",
        "endpoints": [{"path": "/token", "status": 503, "times": 1}],
    }))
    .unwrap();
    assert_eq!(faults.id_token_signing, Some(Signing::UnpublishedKey));
    assert_eq!(faults.endpoints[0].status, Some(503));
    assert!(faults.discovery.is_none());
    assert_eq!(
        serde_json::from_value::<Faults>(json!({})).unwrap(),
        Faults::default()
    );
}

#[tokio::test]
async fn id_token_claims_are_merged_and_null_removes() {
    let tk = start().await;
    tk.set_faults(Faults::id_token_claims(json!({
        "exp": "9999999999",
        "sub": null,
        "aud": ["keyfob-demo", "other"],
        "extra": true,
    })));
    let token = id_token(&tk).await;
    let (_, claims) = decode(&token);
    assert_eq!(claims["exp"], "9999999999");
    assert!(claims.get("sub").is_none());
    assert_eq!(claims["aud"], json!(["keyfob-demo", "other"]));
    assert_eq!(claims["extra"], true);
    // Still properly signed: only the claims are wrong.
    assert!(verify_with_jwks(&tk, &token).await);

    // Faults persist until cleared.
    assert_eq!(decode(&id_token(&tk).await).1["exp"], "9999999999");
    tk.clear_faults();
    assert!(decode(&id_token(&tk).await).1["exp"].is_u64());
}

#[tokio::test]
async fn id_token_header_is_merged_before_signing() {
    let tk = start().await;
    tk.set_faults(Faults::id_token_header(
        json!({"kid": "unknown-kid", "x5u": "https://evil.example"}),
    ));
    let token = id_token(&tk).await;
    let (header, _) = decode(&token);
    assert_eq!(header["kid"], "unknown-kid");
    assert_eq!(header["x5u"], "https://evil.example");
    assert!(
        !verify_with_jwks(&tk, &token).await,
        "kid is not in the JWKS"
    );

    tk.set_faults(Faults::id_token_header(json!({"kid": null})));
    let token = id_token(&tk).await;
    let (header, _) = decode(&token);
    assert!(header.get("kid").is_none());
    assert_eq!(header["alg"], "RS256");
    // Signed by the real key: verifies with the only published key.
    let key = &jwks(&tk).await["keys"][0];
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    assert!(
        jsonwebtoken::crypto::verify(
            signature,
            input.as_bytes(),
            &key,
            jsonwebtoken::Algorithm::RS256
        )
        .unwrap()
    );
}

#[tokio::test]
async fn alg_none_has_an_empty_signature() {
    let tk = start().await;
    tk.set_faults(Faults::id_token_signing(Signing::AlgNone));
    let token = id_token(&tk).await;
    assert!(token.ends_with('.'));
    assert_eq!(decode(&token).0["alg"], "none");
    assert!(signature(&token).is_empty());
}

#[tokio::test]
async fn hs256_is_keyed_with_the_public_key_pem() {
    let tk = start().await;
    tk.set_faults(Faults::id_token_signing(Signing::Hs256WithPublicKey));
    let token = id_token(&tk).await;
    let (header, _) = decode(&token);
    assert_eq!(header["alg"], "HS256");
    let jwk = &jwks(&tk).await["keys"][0];
    assert_eq!(header["kid"], jwk["kid"]);

    // Rebuild the PEM an attacker would take from the JWKS and check the MAC.
    let number = |name: &str| {
        rsa::BoxedUint::from_be_slice_vartime(
            &URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap(),
        )
    };
    let public = rsa::PublicKey::new(number("n"), number("e")).unwrap();
    let der = rsa::pkcs8::EncodePublicKey::to_public_key_der(&public).unwrap();
    let base64 = STANDARD.encode(der.as_bytes());
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    let (input, _) = token.rsplit_once('.').unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, pem.as_bytes());
    assert!(ring::hmac::verify(&key, input.as_bytes(), &signature(&token)).is_ok());
}

#[tokio::test]
async fn bad_signature_flips_the_last_byte() {
    let tk = start().await;
    tk.set_faults(Faults::id_token_signing(Signing::BadSignature));
    let token = id_token(&tk).await;
    assert!(!verify_with_jwks(&tk, &token).await);
    let (input, _) = token.rsplit_once('.').unwrap();
    let mut repaired = signature(&token);
    *repaired.last_mut().unwrap() ^= 1;
    let repaired = format!("{input}.{}", URL_SAFE_NO_PAD.encode(repaired));
    assert!(verify_with_jwks(&tk, &repaired).await);
}

#[tokio::test]
async fn bad_signature_breaks_ps256_and_es256_signatures_too() {
    for alg in [SigningAlg::Ps256, SigningAlg::Es256] {
        let tk = start_with_alg(alg).await;
        let token = id_token(&tk).await;
        assert_eq!(decode(&token).0["alg"], alg.as_str());
        assert!(verify_with_jwks(&tk, &token).await, "{alg:?}");
        tk.set_faults(Faults::id_token_signing(Signing::BadSignature));
        let token = id_token(&tk).await;
        assert_eq!(decode(&token).0["alg"], alg.as_str());
        assert!(!verify_with_jwks(&tk, &token).await, "{alg:?}");
    }
}

#[tokio::test]
async fn short_rsa_key_signs_validly_with_a_published_1024_bit_key() {
    for (configured, expected) in [
        (SigningAlg::Rs256, "RS256"),
        (SigningAlg::Ps256, "PS256"),
        (SigningAlg::Es256, "RS256"),
    ] {
        let tk = start_with_alg(configured).await;
        let published_before = jwks(&tk).await["keys"].as_array().unwrap().len();
        tk.set_faults(Faults::id_token_signing(Signing::ShortRsaKey));
        let token = id_token(&tk).await;
        let (header, _) = decode(&token);
        assert_eq!(header["alg"], expected, "{configured:?}");
        // Published after the real keys, and a valid signature: only the key's size is wrong.
        let keys = jwks(&tk).await["keys"].as_array().unwrap().clone();
        assert_eq!(keys.len(), published_before + 1);
        let short = keys.last().unwrap();
        assert_eq!(short["kid"], header["kid"]);
        let modulus = URL_SAFE_NO_PAD
            .decode(short["n"].as_str().unwrap())
            .unwrap();
        assert_eq!(modulus.len() * 8, 1024, "{configured:?}");
        assert!(verify_with_jwks(&tk, &token).await, "{configured:?}");
        // Withdrawn with the fault.
        tk.clear_faults();
        assert_eq!(
            jwks(&tk).await["keys"].as_array().unwrap().len(),
            published_before
        );
    }
}

#[tokio::test]
async fn unpublished_key_signs_with_a_kid_not_in_the_jwks() {
    let tk = start().await;
    tk.set_faults(Faults::id_token_signing(Signing::UnpublishedKey));
    let token = id_token(&tk).await;
    let (header, _) = decode(&token);
    assert_eq!(header["alg"], "RS256");
    let published: Vec<Value> = jwks(&tk).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].clone())
        .collect();
    assert!(header["kid"].is_string() && !published.contains(&header["kid"]));
    assert!(!verify_with_jwks(&tk, &token).await);
}

#[tokio::test]
async fn discovery_is_merged() {
    let tk = start().await;
    tk.set_faults(Faults::discovery(
        json!({"issuer": "https://evil.example", "jwks_uri": null}),
    ));
    let (_, body) = discovery(&tk).await;
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["issuer"], "https://evil.example");
    assert!(doc.get("jwks_uri").is_none());
    assert_eq!(doc["token_endpoint"], format!("{}/token", tk.issuer()));
}

#[tokio::test]
async fn callback_parameters_are_merged() {
    let tk = start().await;
    let callback = |patch: Value| {
        let tk = &tk;
        async move {
            tk.set_faults(Faults::callback(patch));
            let response = authorize(tk, &Pkce::new(), &[]).await;
            assert_eq!(response.status(), StatusCode::FOUND);
            location_params(response.headers())
        }
    };
    let params = callback(json!({"iss": "https://evil.example"})).await;
    assert_eq!(param(&params, "iss"), Some("https://evil.example"));
    assert!(param(&params, "code").is_some());

    let params = callback(json!({"iss": null})).await;
    assert_eq!(param(&params, "iss"), None);

    let params = callback(json!({"state": "other"})).await;
    assert_eq!(param(&params, "state"), Some("other"));

    let params = callback(json!({
        "error": "access_denied",
        "error_description": "User said no",
        "code": null,
    }))
    .await;
    assert_eq!(param(&params, "code"), None);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "error_description"), Some("User said no"));
    assert_eq!(param(&params, "state"), Some("st-1"));
}

#[tokio::test]
async fn token_response_is_merged() {
    let tk = start().await;
    tk.set_faults(Faults::token_response(json!({
        "token_type": "mac",
        "expires_in": "3600",
        "access_token": null,
    })));
    let pkce = Pkce::new();
    let code = code(&tk, &pkce).await;
    let (status, body) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "mac");
    assert_eq!(body["expires_in"], "3600");
    assert!(body.get("access_token").is_none());
    assert!(body["id_token"].is_string());

    // Error responses are left alone.
    let (status, body) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn endpoint_faults_answer_a_given_number_of_times() {
    let tk = start().await;
    tk.set_faults(Faults::endpoint("/.well-known/openid-configuration", |f| {
        f.status = Some(503);
        f.body = Some("down for maintenance".into());
        f.times = Some(2);
    }));
    for _ in 0..2 {
        let (status, body) = discovery(&tk).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "down for maintenance");
    }
    let (status, _) = discovery(&tk).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tk.stats().discovery, 3, "faulted requests count");
}

#[tokio::test]
async fn endpoint_faults_on_token_with_content_type() {
    let tk = start().await;
    tk.set_faults(Faults::endpoint("/token", |f| {
        f.body = Some("<html>proxy error</html>".into());
        f.content_type = Some("text/html".into());
    }));
    let pkce = Pkce::new();
    let code = code(&tk, &pkce).await;
    let response = post_code_exchange(&tk, &code, &pkce.verifier, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert_eq!(response.text().await.unwrap(), "<html>proxy error</html>");
    let stats = tk.stats();
    assert_eq!((stats.token, stats.authorization_code), (1, 1));

    // The fault answered instead of the real endpoint: the code is still unspent.
    tk.clear_faults();
    let (status, _) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn endpoint_delay_then_real_handler() {
    let tk = start().await;
    tk.set_faults(Faults::endpoint("/.well-known/jwks.json", |f| {
        f.delay_ms = Some(300);
        f.times = Some(1);
    }));
    let started = Instant::now();
    let keys = jwks(&tk).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    // The delay was used up by that request: the next one is served without it.
    let active: Faults = get_json(&format!("{}/__testkit/faults", tk.issuer())).await;
    assert!(active.endpoints.is_empty(), "{active:?}");
}

#[tokio::test]
async fn endpoint_body_bytes_streams_a_large_body() {
    let tk = start().await;
    let size = 5 * 1024 * 1024 + 3;
    tk.set_faults(Faults::endpoint("/.well-known/jwks.json", |f| {
        f.body_bytes = Some(size);
    }));
    let response = http()
        .get(format!("{}/.well-known/jwks.json", tk.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.content_length().is_none(), "streamed, no length");
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len() as u64, size);
    assert!(body.iter().all(|&b| b == b'x'));
}

#[tokio::test]
async fn endpoint_faults_apply_to_resource_servers() {
    let tk = start().await;
    tk.set_faults(Faults::endpoint("/api/customers", |f| {
        f.status = Some(500);
        f.times = Some(1);
    }));
    let token = sign_in(&tk).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tk.stats().crm, 2);
}

#[tokio::test]
async fn jwks_extra_keys_come_first() {
    let tk = start().await;
    let extra = vec![
        json!({"kty": "RSA", "kid": "broken", "n": "!!!", "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}),
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
    ];
    tk.set_faults(Faults::jwks_extra_keys(extra.clone()));
    let keys = jwks(&tk).await["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 4);
    assert_eq!(keys[..3], extra[..]);
    assert_eq!(keys[3]["kty"], "RSA");
    assert_eq!(keys[3]["use"], "sig");
}
