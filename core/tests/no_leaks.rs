//! No token, code, verifier, state or nonce ever appears in `Debug`, `Display` or logs.

mod common;

use common::{param, start, with_param};
use keyfob_testkit::{Faults, Signing};
use serde_json::json;

#[tokio::test]
async fn secrets_never_show_up_in_debug_display_or_logs() {
    common::capture_logs();

    let env = start().await;
    let client = env.client();
    let mut printed: Vec<String> = Vec::new();
    let mut secrets: Vec<String> = Vec::new();

    let url = client.begin_login().await.unwrap();
    for p in ["state", "nonce", "code_challenge"] {
        secrets.push(param(&url, p).unwrap());
    }
    let callback = env.browse(&url).await;
    secrets.push(param(&callback, "code").unwrap());
    // A rejected callback's error.
    let forged = with_param(&callback, "state", Some("forged"));
    let e = client.handle_redirect(&forged).await.unwrap_err();
    printed.push(format!("{e} {e:?}"));

    let claims = client.handle_redirect(&callback).await.unwrap();
    printed.push(format!("{claims:?}"));
    let tokens = client.tokens().unwrap();
    secrets.push(tokens.access_token().expose().to_string());
    secrets.push(tokens.refresh_token().unwrap().expose().to_string());
    secrets.push(tokens.id_token().expose().to_string());
    printed.push(format!(
        "{tokens:?} {:?} {}",
        tokens.access_token(),
        tokens.access_token()
    ));

    let refreshed = client.refresh().await.unwrap();
    secrets.push(refreshed.access_token().expose().to_string());
    secrets.push(refreshed.refresh_token().unwrap().expose().to_string());
    printed.push(format!("{refreshed:?}"));

    // Failures along the way: their messages are checked too.
    env.kit
        .set_faults(Faults::id_token_signing(Signing::BadSignature));
    printed.push(format!("{:?}", client.refresh().await.unwrap_err()));
    env.kit.set_faults(Faults::oauth_error(
        "/token",
        json!({"error": "invalid_grant", "error_description": "bad refresh token"}),
    ));
    let e = client.refresh().await.unwrap_err();
    printed.push(format!("{e} {e:?}"));
    env.kit.clear_faults();

    let logout = client.logout().await.unwrap();
    printed.push(format!("{logout:?}"));
    printed.push(format!("{:?}", client.config()));

    let logs = common::captured_logs();
    assert!(!logs.is_empty(), "the flow logs something at debug level");
    for secret in &secrets {
        assert!(secret.len() >= 16, "secret too short to search for");
        for text in printed.iter().chain(logs.iter()) {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into: {text}"
            );
        }
    }
}

#[tokio::test]
async fn dpop_proofs_keys_and_jtis_never_show_up_in_debug_display_or_logs() {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use std::sync::Arc;
    common::capture_logs();

    let env = start().await;
    env.kit.set_policy(keyfob_testkit::Policy {
        dpop_nonce: true,
        require_par: true,
        ..Default::default()
    });
    let key = Arc::new(keyfob::SoftwareDpopKey::generate().unwrap());
    let pkcs8 = key.to_pkcs8();
    let client = env.client().with_dpop_key(key.clone());
    let mut printed = vec![format!("{key:?}")];
    let mut secrets = vec![STANDARD.encode(&pkcs8), URL_SAFE_NO_PAD.encode(&pkcs8)];
    // The private scalar itself: the 32 bytes after the PKCS#8 prefix that names it.
    let scalar_at = pkcs8
        .windows(2)
        .position(|w| w == [0x04, 0x20])
        .expect("a P-256 private key in the PKCS#8")
        + 2;
    secrets.push(URL_SAFE_NO_PAD.encode(&pkcs8[scalar_at..scalar_at + 32]));

    env.login(&client).await.unwrap();
    let url = format!("{}/api/customers", env.kit.urls().crm);
    for _ in 0..2 {
        let headers = client.authorization_headers("GET", &url).await.unwrap();
        printed.push(format!("{headers:?}"));
        let proof = headers.dpop.clone().unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(proof.expose().split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        secrets.push(proof.expose().to_string());
        secrets.push(claims["jti"].as_str().unwrap().to_string());
        secrets.push(headers.authorization.expose().to_string());
        let response = env.get_with(&url, &headers.pairs()).await;
        client.resource_response(&url, response.status, &response.headers);
    }
    printed.push(format!("{:?}", client.tokens().unwrap()));
    env.expire();
    client.refresh().await.unwrap();
    printed.push(format!("{:?}", client.logout().await.unwrap()));

    let logs = common::captured_logs();
    for secret in &secrets {
        assert!(secret.len() >= 16, "secret too short to search for");
        for text in printed.iter().chain(logs.iter()) {
            assert!(
                !text.contains(secret.as_str()),
                "a DPoP secret leaked into: {text}"
            );
        }
    }
}
