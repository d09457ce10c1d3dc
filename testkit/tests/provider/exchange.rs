//! The internal authorization server (seed 003): discovery, and token exchange (RFC 8693) of the
//! provider's tokens for its own, which servers A and B accept.

use keyfob_testkit::{CRM_AUDIENCE, Faults, Testkit};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{call_api, decode, get_json, http, jwks, sign_in, start};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Posts a token exchange of `subject` (of `subject_type`) with `extra` parameters.
async fn exchange(
    tk: &Testkit,
    subject: &str,
    subject_type: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("client_id", tk.client_id()),
        ("subject_token", subject),
        ("subject_token_type", subject_type),
    ];
    form.extend_from_slice(extra);
    let response = post_internal(tk, &form).await;
    (response.status(), response.json().await.unwrap())
}

/// Posts `form` to the internal server's token endpoint.
async fn post_internal(tk: &Testkit, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{}/token", tk.urls().internal))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_internal_server_has_its_own_issuer_keys_and_discovery() {
    let tk = start().await;
    let internal = &tk.urls().internal;
    assert_ne!(internal, tk.issuer());
    assert!(
        tk.ready_line()
            .contains(&format!("\"internal\":\"{internal}\""))
    );
    let doc: Value = get_json(&format!("{internal}/.well-known/openid-configuration")).await;
    assert_eq!(doc["issuer"], internal.as_str());
    assert_eq!(doc["token_endpoint"], format!("{internal}/token"));
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(EXCHANGE))
    );
    let keys: Value = get_json(doc["jwks_uri"].as_str().unwrap()).await;
    let provider_keys = jwks(&tk).await;
    assert_ne!(keys["keys"][0]["kid"], provider_keys["keys"][0]["kid"]);
}

#[tokio::test]
async fn an_id_token_is_exchanged_for_a_token_that_servers_a_and_b_accept() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    let (status, exchanged) =
        exchange(&tk, tokens["id_token"].as_str().unwrap(), ID_TOKEN, &[]).await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    assert_eq!(exchanged["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(exchanged["token_type"], "Bearer");
    assert_eq!(exchanged["scope"], "customers:read orders:read");
    let token = exchanged["access_token"].as_str().unwrap();
    let (header, claims) = decode(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], tk.urls().internal.as_str());
    assert_eq!(claims["sub"], "user-123");
    let a = call_api(&tk.urls().crm, "/api/customers", Some(token)).await;
    assert_eq!(a.status(), StatusCode::OK);
    let b = call_api(&tk.urls().orders, "/api/orders", Some(token)).await;
    assert_eq!(b.status(), StatusCode::OK);
    assert_eq!(tk.stats().token_exchange, 1);

    // Its refresh token works once, at the internal server.
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", tk.client_id()),
        (
            "refresh_token",
            exchanged["refresh_token"].as_str().unwrap(),
        ),
    ];
    for expected in [StatusCode::OK, StatusCode::BAD_REQUEST] {
        assert_eq!(post_internal(&tk, &form).await.status(), expected);
    }
}

#[tokio::test]
async fn an_access_token_with_an_audience_and_an_actor_is_exchanged() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let (status, exchanged) = exchange(
        &tk,
        access_token,
        ACCESS_TOKEN,
        &[
            ("audience", CRM_AUDIENCE),
            ("scope", "customers:read"),
            ("actor_token", access_token),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{exchanged}");
    let token = exchanged["access_token"].as_str().unwrap();
    let claims = decode(token).1;
    assert_eq!(claims["aud"], json!([CRM_AUDIENCE]));
    assert_eq!(claims["scope"], "customers:read");
    assert_eq!(claims["act"]["sub"], "user-123");
    let b = call_api(&tk.urls().orders, "/api/orders", Some(token)).await;
    assert_eq!(b.status(), StatusCode::UNAUTHORIZED, "not B's audience");
}

#[tokio::test]
async fn forged_expired_or_foreign_subjects_and_unknown_targets_are_refused() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    let id_token = tokens["id_token"].as_str().unwrap();

    let mut forged = id_token.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let other = start().await;
    let foreign = sign_in(&other).await;
    for (subject, subject_type) in [
        (forged.as_str(), ID_TOKEN),
        ("not-a-jwt", ID_TOKEN),
        (foreign["id_token"].as_str().unwrap(), ID_TOKEN),
        // An ID token presented as an access token: wrong `typ`.
        (id_token, ACCESS_TOKEN),
    ] {
        let (status, body) = exchange(&tk, subject, subject_type, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }

    // An access token whose `iss` is not the provider's.
    tk.set_faults(Faults::access_token_claims(
        json!({"iss": "https://evil.example"}),
    ));
    let evil = sign_in(&tk).await;
    let (_, body) = exchange(
        &tk,
        evil["access_token"].as_str().unwrap(),
        ACCESS_TOKEN,
        &[],
    )
    .await;
    assert_eq!(body["error"], "invalid_grant");
    tk.clear_faults();

    let (_, body) = exchange(
        &tk,
        id_token,
        ID_TOKEN,
        &[("resource", "https://evil.example")],
    )
    .await;
    assert_eq!(body["error"], "invalid_target");
    let (_, body) = exchange(&tk, id_token, ID_TOKEN, &[("scope", "admin")]).await;
    assert_eq!(body["error"], "invalid_scope");

    // Expired (the ID token lives 300 s).
    tk.advance_clock(301);
    let (_, body) = exchange(&tk, id_token, ID_TOKEN, &[]).await;
    assert_eq!(body["error"], "invalid_grant");
    let stats = tk.stats();
    assert_eq!(
        (stats.token_exchange, stats.token_exchange_rejected),
        (8, 8)
    );
}
