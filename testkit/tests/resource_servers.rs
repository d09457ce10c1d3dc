//! Servers A (crm) and B (orders): bearer JWTs verified against the provider's JWKS.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use keyfob_testkit::{Faults, Testkit};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn access_token(tk: &Testkit) -> String {
    sign_in(tk).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn assert_invalid_token(response: &reqwest::Response, realm: &str, description: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = challenge(response);
    assert!(
        challenge.starts_with(&format!(r#"Bearer realm="{realm}", error="invalid_token""#)),
        "{challenge}"
    );
    assert!(challenge.contains(description), "{challenge}");
}

#[tokio::test]
async fn fresh_access_token_is_accepted_by_both_servers() {
    let tk = start().await;
    let token = access_token(&tk).await;

    let response = call_api(&tk.urls().crm, "/api/customers", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["server"], "crm");
    assert_eq!(body["sub"], "user-123");
    assert!(
        body["customers"]
            .as_array()
            .is_some_and(|rows| rows.len() >= 2)
    );

    let response = call_api(&tk.urls().orders, "/api/orders", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none(), "no session");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["server"], "orders");
    assert_eq!(body["sub"], "user-123");
    assert!(
        body["orders"]
            .as_array()
            .is_some_and(|rows| rows.len() >= 2)
    );

    // Each server fetched the JWKS once, and only for itself.
    for _ in 0..3 {
        call_api(&tk.urls().crm, "/api/customers", Some(&token)).await;
    }
    let stats = tk.stats();
    assert_eq!(stats.jwks_from_resource_servers, 2);
    assert_eq!(stats.jwks, 0);
    assert_eq!((stats.crm, stats.orders), (4, 1));
    assert_eq!((stats.crm_rejected, stats.orders_rejected), (0, 0));
}

#[tokio::test]
async fn missing_token_gets_a_bare_challenge() {
    let tk = start().await;
    let response = call_api(&tk.urls().crm, "/api/customers", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&response), r#"Bearer realm="crm""#);

    let response = http()
        .get(format!("{}/api/orders", tk.urls().orders))
        .basic_auth("ada", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(challenge(&response), r#"Bearer realm="orders""#);
    assert_eq!(tk.stats().crm_rejected, 1);
    assert_eq!(tk.stats().orders_rejected, 1);
}

#[tokio::test]
async fn tampered_tokens_are_rejected() {
    let tk = start().await;
    let token = access_token(&tk).await;
    let parts: Vec<&str> = token.split('.').collect();

    // Claims changed after signing.
    let (_, mut claims) = decode(&token);
    claims["sub"] = json!("mallory");
    let forged_claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&forged)).await;
    assert_invalid_token(&response, "crm", "signature");

    // Signature flipped.
    let mut signature = signature(&token);
    signature[0] ^= 1;
    let flipped = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    );
    let response = call_api(&tk.urls().orders, "/api/orders", Some(&flipped)).await;
    assert_invalid_token(&response, "orders", "signature");

    // alg none.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{header}.{}.", parts[1]);
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&unsigned)).await;
    assert_invalid_token(&response, "crm", "");

    // Not a JWT; an ID token (aud = client, typ JWT).
    let response = call_api(&tk.urls().crm, "/api/customers", Some("not-a-jwt")).await;
    assert_invalid_token(&response, "crm", "malformed");
    let id_token = sign_in(&tk).await["id_token"].as_str().unwrap().to_owned();
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&id_token)).await;
    assert_invalid_token(&response, "crm", "not an access token");

    assert_eq!(tk.stats().crm_rejected, 4);
    assert_eq!(tk.stats().orders_rejected, 1);
}

#[tokio::test]
async fn expired_token_is_rejected() {
    let tk = start().await;
    let token = access_token(&tk).await;
    // Well inside the 300 s lifetime (a real second may tick during the test), then past it.
    tk.advance_clock(290);
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    tk.advance_clock(10);
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&token)).await;
    assert_invalid_token(&response, "crm", "expired");
    let response = call_api(&tk.urls().orders, "/api/orders", Some(&token)).await;
    assert_invalid_token(&response, "orders", "expired");
}

#[tokio::test]
async fn wrong_audience_and_issuer_are_rejected() {
    let tk = start().await;
    tk.set_faults(Faults::access_token_claims(
        json!({"aud": keyfob_testkit::CRM_AUDIENCE}),
    ));
    let crm_only = access_token(&tk).await;
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&crm_only)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = call_api(&tk.urls().orders, "/api/orders", Some(&crm_only)).await;
    assert_invalid_token(&response, "orders", "audience");

    tk.set_faults(Faults::access_token_claims(json!({"aud": null})));
    let no_audience = access_token(&tk).await;
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&no_audience)).await;
    assert_invalid_token(&response, "crm", "missing");

    tk.set_faults(Faults::access_token_claims(
        json!({"iss": "https://evil.example"}),
    ));
    let wrong_issuer = access_token(&tk).await;
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&wrong_issuer)).await;
    assert_invalid_token(&response, "crm", "issuer");

    // A token from another testkit (same pooled key, other issuer) is refused too.
    tk.clear_faults();
    let other = start().await;
    let foreign = access_token(&other).await;
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&foreign)).await;
    assert_invalid_token(&response, "crm", "issuer");
}

#[tokio::test]
async fn servers_refetch_the_jwks_once_for_an_unknown_kid() {
    let tk = start().await;
    let before = access_token(&tk).await;
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&before)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tk.stats().jwks_from_resource_servers, 1);

    tk.rotate_keys(false);
    let after = access_token(&tk).await;
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&after)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tk.stats().jwks_from_resource_servers, 2);

    // The old key was withdrawn and the server now knows it.
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&before)).await;
    assert_invalid_token(&response, "crm", "unknown signing key");
    assert_eq!(tk.stats().jwks_from_resource_servers, 3);
}

#[tokio::test]
async fn resource_server_jwks_fetches_ignore_client_faults() {
    let tk = start().await;
    tk.set_faults(
        Faults::status("/.well-known/jwks.json", 500).and(Faults::jwks_extra_keys(vec![
            json!({"kty": "oct", "k": "c2VjcmV0"}),
        ])),
    );
    let token = access_token(&tk).await;
    let response = call_api(&tk.urls().crm, "/api/customers", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = http()
        .get(format!("{}/.well-known/jwks.json", tk.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn servers_reach_the_provider_when_the_public_host_is_elsewhere() {
    // As for the Android emulator: URLs say 10.0.2.2, which the host itself may
    // not reach; servers A and B must fetch the JWKS from the bound address.
    let tk = Testkit::start(keyfob_testkit::Options {
        public_host: Some("10.0.2.2".into()),
        ..keyfob_testkit::Options::default()
    })
    .await
    .unwrap();
    assert!(tk.issuer().starts_with("http://10.0.2.2:"));
    let local = |url: &str| url.replace("10.0.2.2", "127.0.0.1");
    let issuer = local(tk.issuer());

    let pkce = Pkce::new();
    let authorize_url = local(&authorize_url(&tk, &pkce, &[]));
    let response = http().get(authorize_url).send().await.unwrap();
    let params = location_params(response.headers());
    assert_eq!(param(&params, "iss"), Some(tk.issuer()));
    let code = param(&params, "code").unwrap();
    let response = http()
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", tk.client_id()),
            ("code_verifier", &pkce.verifier),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = response.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(decode(token).1["iss"], tk.issuer());

    let response = call_api(&local(&tk.urls().orders), "/api/orders", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tk.stats().jwks_from_resource_servers, 1);
}
