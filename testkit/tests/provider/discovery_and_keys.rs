//! The discovery document and the JWKS: RSA keys, key rotation, ES256 and PS256 ID tokens.

use keyfob_testkit::SigningAlg;
use serde_json::{Value, json};

use crate::common::{
    decode, discovery_document, jwks, sign_in, start, start_with_alg, verify_with_jwks,
};

#[tokio::test]
async fn discovery_document_describes_the_provider() {
    let tk = start().await;
    let issuer = tk.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'));
    let doc = discovery_document(&tk).await;
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(doc["revocation_endpoint"], format!("{issuer}/revoke"));
    assert_eq!(doc["end_session_endpoint"], format!("{issuer}/end_session"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn jwks_publishes_rsa_keys() {
    let tk = start().await;
    let jwks = jwks(&tk).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["e"], "AQAB");
    assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    // 2048-bit modulus: 256 bytes, 342 base64url characters without padding.
    assert_eq!(key["n"].as_str().unwrap().len(), 342);
}

#[tokio::test]
async fn key_rotation_changes_kid_and_keeps_or_drops_old_keys() {
    let tk = start().await;
    let old_kid = jwks(&tk).await["keys"][0]["kid"].clone();

    tk.rotate_keys(true);
    let tokens = sign_in(&tk).await;
    let new_kid = decode(tokens["id_token"].as_str().unwrap()).0["kid"].clone();
    assert_ne!(new_kid, old_kid);
    assert_eq!(
        decode(tokens["access_token"].as_str().unwrap()).0["kid"],
        new_kid
    );
    let kids: Vec<Value> = jwks(&tk).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].clone())
        .collect();
    assert_eq!(kids, vec![new_kid.clone(), old_kid.clone()]);
    assert!(verify_with_jwks(&tk, tokens["id_token"].as_str().unwrap()).await);

    tk.rotate_keys(false);
    let keys = jwks(&tk).await["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_ne!(keys[0]["kid"], new_kid);
    assert_ne!(keys[0]["kid"], old_kid);
}

#[tokio::test]
async fn es256_and_ps256_id_tokens() {
    for alg in [SigningAlg::Es256, SigningAlg::Ps256] {
        let tk = start_with_alg(alg).await;
        let doc = discovery_document(&tk).await;
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!([alg.as_str()])
        );
        let tokens = sign_in(&tk).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        assert_eq!(decode(id_token).0["alg"], alg.as_str());
        assert!(verify_with_jwks(&tk, id_token).await, "{alg:?}");
        let access_token = tokens["access_token"].as_str().unwrap();
        assert_eq!(decode(access_token).0["alg"], "RS256");
        assert!(verify_with_jwks(&tk, access_token).await);
        let keys = jwks(&tk).await;
        let algs: Vec<&str> = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["alg"].as_str().unwrap())
            .collect();
        assert_eq!(algs, vec!["RS256", alg.as_str()]);
        if alg == SigningAlg::Es256 {
            assert_eq!(keys["keys"][1]["crv"], "P-256");
            assert!(keys["keys"][1]["x"].is_string() && keys["keys"][1]["y"].is_string());
        }
    }
}

/// GET `path` on the provider with extra request headers.
async fn get_with(
    tk: &keyfob_testkit::Testkit,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = crate::common::http().get(format!("{}{path}", tk.issuer()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn metadata_carries_validators_and_conditional_requests_get_304() {
    let tk = start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/jwks.json",
    ] {
        let first = get_with(&tk, path, &[]).await;
        assert_eq!(first.status(), 200);
        assert!(first.headers().get("cache-control").is_none(), "{path}");
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        let modified = first.headers()["last-modified"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

        let same = get_with(&tk, path, &[("If-None-Match", &etag)]).await;
        assert_eq!(same.status(), 304, "{path}");
        assert_eq!(same.headers()["etag"], etag.as_str());
        assert!(same.text().await.unwrap().is_empty());
        let weak = format!("W/{etag}");
        assert_eq!(
            get_with(&tk, path, &[("If-None-Match", &weak)])
                .await
                .status(),
            304
        );
        let since = get_with(&tk, path, &[("If-Modified-Since", &modified)]).await;
        assert_eq!(since.status(), 304, "{path}");
        // If-None-Match wins over If-Modified-Since.
        let other = [
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", &modified),
        ];
        assert_eq!(get_with(&tk, path, &other).await.status(), 200);
    }
    let stats = tk.stats();
    assert_eq!((stats.discovery, stats.discovery_conditional), (5, 4));
    assert_eq!(stats.discovery_not_modified, 3);
    assert_eq!(
        (stats.jwks, stats.jwks_conditional, stats.jwks_not_modified),
        (5, 4, 3)
    );
}

#[tokio::test]
async fn a_changed_document_gets_a_new_etag_and_the_cache_control_of_the_fault() {
    let tk = start().await;
    let path = "/.well-known/jwks.json";
    let etag = get_with(&tk, path, &[]).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    tk.rotate_keys(false);
    tk.set_faults(keyfob_testkit::Faults::metadata_cache_control("max-age=0"));
    let changed = get_with(&tk, path, &[("If-None-Match", &etag)]).await;
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"], etag.as_str());
    assert_eq!(changed.headers()["cache-control"], "max-age=0");
    let discovery = get_with(&tk, "/.well-known/openid-configuration", &[]).await;
    assert_eq!(discovery.headers()["cache-control"], "max-age=0");
    assert_eq!(tk.stats().jwks_not_modified, 0);
}
