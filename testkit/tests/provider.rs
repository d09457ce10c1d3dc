//! The provider's endpoints over real HTTP: discovery, JWKS, authorize, token,
//! refresh, userinfo, revoke, end_session, key rotation, stats and admin endpoints.

mod common;

use common::*;
use keyfob_testkit::{Options, SigningAlg, Stats, Testkit};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};

#[tokio::test]
async fn discovery_document_describes_the_provider() {
    let tk = start().await;
    let issuer = tk.issuer();
    assert!(issuer.starts_with("http://127.0.0.1:") && !issuer.ends_with('/'));
    let doc: Value = http()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
async fn authorize_redirects_with_code_state_iss_and_sets_session_cookie() {
    let tk = start().await;
    let response = authorize(&tk, &Pkce::new(), &[]).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with("myapp://callback?code="), "{location}");
    let params = location_params(response.headers());
    let code = param(&params, "code").unwrap();
    assert!(code.len() >= 22, "at least 128 bits");
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert_eq!(param(&params, "iss"), Some(tk.issuer()));
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("SSO_SESSION=") && cookie.contains("HttpOnly"));
    assert!(cookie.contains("Path=/"));

    // No state sent: none echoed.
    let response = authorize(&tk, &Pkce::new(), &[("state", "")]).await;
    assert_eq!(param(&location_params(response.headers()), "state"), None);
}

#[tokio::test]
async fn authorize_appends_to_an_existing_query_and_accepts_loopback_ports() {
    let tk = Testkit::start(Options {
        redirect_uris: vec![
            "com.example.app:/callback?from=app".into(),
            "http://127.0.0.1/callback".into(),
        ],
        ..Options::default()
    })
    .await
    .unwrap();
    let pkce = Pkce::new();
    let response = authorize(
        &tk,
        &pkce,
        &[("redirect_uri", "com.example.app:/callback?from=app")],
    )
    .await;
    let location = response.headers()[LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("com.example.app:/callback?from=app&code="),
        "{location}"
    );

    for uri in [
        "http://127.0.0.1:53111/callback",
        "http://[::1]:60000/callback",
        "http://127.0.0.1/callback",
    ] {
        let response = authorize(&tk, &pkce, &[("redirect_uri", uri)]).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{uri}");
        let location = response.headers()[LOCATION].to_str().unwrap();
        assert!(location.starts_with(&format!("{uri}?code=")), "{location}");
    }
    for uri in [
        "http://127.0.0.1:53111/other",
        "http://localhost:53111/callback",
        "https://127.0.0.1:53111/callback",
        "myapp://callback",
    ] {
        let response = authorize(&tk, &pkce, &[("redirect_uri", uri)]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
    }
}

#[tokio::test]
async fn authorize_refuses_unknown_client_and_redirect_with_a_page() {
    let tk = start().await;
    let pkce = Pkce::new();
    for extra in [
        [("client_id", "someone-else")],
        [("client_id", "")],
        [("redirect_uri", "myapp://evil")],
        [("redirect_uri", "")],
    ] {
        let response = authorize(&tk, &pkce, &extra).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{extra:?}");
        assert!(response.headers().get(LOCATION).is_none());
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
    }
}

#[tokio::test]
async fn authorize_sends_request_errors_to_the_client() {
    let tk = start().await;
    let pkce = Pkce::new();
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("code_challenge", "")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge_method", "")], "invalid_request"),
        (&[("scope", "profile email")], "invalid_request"),
        (&[("response_type", "")], "invalid_request"),
        (&[("response_type", "token")], "unsupported_response_type"),
    ];
    for (extra, error) in cases {
        let response = authorize(&tk, &pkce, extra).await;
        assert_eq!(response.status(), StatusCode::FOUND, "{extra:?}");
        let params = location_params(response.headers());
        assert_eq!(param(&params, "error"), Some(error), "{extra:?}");
        assert!(param(&params, "error_description").is_some());
        assert_eq!(param(&params, "state"), Some("st-1"));
        assert_eq!(param(&params, "iss"), Some(tk.issuer()));
        assert_eq!(param(&params, "code"), None);
    }
}

#[tokio::test]
async fn code_exchange_issues_tokens() {
    let tk = start().await;
    let body = sign_in(&tk).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["scope"], "openid profile email offline_access");
    assert!(body["refresh_token"].as_str().unwrap().len() >= 22);

    let id_token = body["id_token"].as_str().unwrap();
    let (header, claims) = decode(id_token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["kid"], jwks(&tk).await["keys"][0]["kid"]);
    assert_eq!(claims["iss"], tk.issuer());
    assert_eq!(claims["sub"], "user-123");
    assert_eq!(claims["aud"], "keyfob-demo");
    assert_eq!(claims["azp"], "keyfob-demo");
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["email"], "ada@company.com");
    assert_eq!(claims["name"], "Ada Lovelace");
    assert_eq!(claims["preferred_username"], "ada");
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 300);
    assert!(claims["auth_time"].as_u64().unwrap() <= iat);
    assert!(verify_with_jwks(&tk, id_token).await);

    let access_token = body["access_token"].as_str().unwrap();
    let (header, claims) = decode(access_token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], tk.issuer());
    assert_eq!(claims["sub"], "user-123");
    assert_eq!(
        claims["aud"],
        json!([
            keyfob_testkit::CRM_AUDIENCE,
            keyfob_testkit::ORDERS_AUDIENCE
        ])
    );
    assert_eq!(claims["client_id"], "keyfob-demo");
    assert_eq!(claims["scope"], "openid profile email offline_access");
    assert!(claims["jti"].is_string());
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 300
    );
    assert!(verify_with_jwks(&tk, access_token).await);
}

#[tokio::test]
async fn pkce_mismatch_is_invalid_grant() {
    let tk = start().await;
    let pkce = Pkce::new();
    let code = code(&tk, &pkce).await;
    let (status, body) = exchange(&tk, &code, &Pkce::new().verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());
    // The failed attempt spent the code.
    let (_, body) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(body["error"], "invalid_grant");

    let code = common::code(&tk, &pkce).await;
    let (status, body) = exchange(&tk, &code, "too-short").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn code_reuse_is_invalid_grant_and_revokes_the_family() {
    let tk = start().await;
    let pkce = Pkce::new();
    let code = code(&tk, &pkce).await;
    let (status, first) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, body) = refresh(&tk, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn code_must_match_redirect_uri_client_and_lifetime() {
    let tk = start().await;
    let pkce = Pkce::new();

    let code = common::code(&tk, &pkce).await;
    let response = post_form(
        &tk,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "com.example.app:/callback"),
            ("client_id", tk.client_id()),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    let code = common::code(&tk, &pkce).await;
    let response = post_form(
        &tk,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "intruder"),
            ("code_verifier", &pkce.verifier),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let code = common::code(&tk, &pkce).await;
    tk.advance_clock(61);
    let (status, body) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    let (_, body) = exchange(&tk, "no-such-code", &pkce.verifier).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn token_endpoint_request_errors() {
    let tk = start().await;
    type Form<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Form, StatusCode, &str); 4] = [
        (
            &[("grant_type", "password"), ("client_id", "keyfob-demo")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            &[("client_id", "keyfob-demo")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("grant_type", "refresh_token"),
                ("client_id", "keyfob-demo"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (form, status, error) in cases {
        let response = post_form(&tk, "/token", form).await;
        assert_eq!(response.status(), status, "{form:?}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            error,
            "{form:?}"
        );
    }
    let response = http()
        .post(format!("{}/token", tk.issuer()))
        .json(&json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn refresh_rotates_and_detects_reuse() {
    let tk = start().await;
    let first = sign_in(&tk).await;
    let first_rt = first["refresh_token"].as_str().unwrap();
    let (_, first_id) = decode(first["id_token"].as_str().unwrap());

    tk.advance_clock(10);
    let (status, second) = refresh(&tk, first_rt).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_rt = second["refresh_token"].as_str().unwrap();
    assert_ne!(second_rt, first_rt);
    assert_ne!(second["access_token"], first["access_token"]);
    let (_, id) = decode(second["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], first_id["iss"]);
    assert_eq!(id["sub"], first_id["sub"]);
    assert_eq!(id["aud"], first_id["aud"]);
    assert_eq!(id["auth_time"], first_id["auth_time"]);
    assert!(id.get("nonce").is_none());
    assert!(id["iat"].as_u64() > first_id["iat"].as_u64());

    // The next rotation works; replaying the first token kills the family.
    let (status, third) = refresh(&tk, second_rt).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = refresh(&tk, first_rt).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (_, body) = refresh(&tk, third["refresh_token"].as_str().unwrap()).await;
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn refresh_scope_and_expiry() {
    let tk = start().await;
    let rt = sign_in(&tk).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let narrowed = |scope: &'static str, rt: String| {
        let tk = &tk;
        async move {
            let response = post_form(
                tk,
                "/token",
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("client_id", tk.client_id()),
                    ("scope", scope),
                ],
            )
            .await;
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = narrowed("openid admin", rt.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");
    let (status, body) = narrowed("openid", rt).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], "openid");
    let (_, access) = decode(body["access_token"].as_str().unwrap());
    assert_eq!(access["scope"], "openid");

    // Narrowing does not shrink the family's grant.
    let (status, body) = refresh(&tk, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], "openid profile email offline_access");

    tk.advance_clock(86_401);
    let (status, body) = refresh(&tk, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn userinfo_requires_a_valid_access_token() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let url = format!("{}/userinfo", tk.issuer());

    let response = http()
        .get(&url)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({
            "sub": "user-123",
            "email": "ada@company.com",
            "name": "Ada Lovelace",
            "preferred_username": "ada",
        })
    );
    let response = http()
        .post(&url)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = http().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!challenge(&response).contains("error="));

    for token in [tokens["id_token"].as_str().unwrap(), "garbage"] {
        let response = http().get(&url).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(challenge(&response).contains(r#"error="invalid_token""#));
    }

    tk.advance_clock(300);
    let response = http()
        .get(&url)
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains("expired"));
}

#[tokio::test]
async fn revocation() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let (_, rotated) = refresh(&tk, rt).await;
    let current_rt = rotated["refresh_token"].as_str().unwrap();

    // Revoking an older token of the family revokes the current one too.
    let response = post_form(
        &tk,
        "/revoke",
        &[
            ("token", rt),
            ("token_type_hint", "refresh_token"),
            ("client_id", tk.client_id()),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = refresh(&tk, current_rt).await;
    assert_eq!(body["error"], "invalid_grant");

    // Unknown tokens: still 200. Unknown client: 401.
    let response = post_form(
        &tk,
        "/revoke",
        &[("token", "nope"), ("client_id", tk.client_id())],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = post_form(&tk, "/revoke", &[("token", "nope"), ("client_id", "x")]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    // A revoked access token no longer opens /userinfo.
    let access_token = rotated["access_token"].as_str().unwrap();
    let response = post_form(
        &tk,
        "/revoke",
        &[("token", access_token), ("client_id", tk.client_id())],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = http()
        .get(format!("{}/userinfo", tk.issuer()))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn end_session_redirects_or_shows_a_page() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let url = format!(
        "{}/end_session?id_token_hint={id_token}&post_logout_redirect_uri=myapp%3A%2F%2Flogout&state=bye&client_id=keyfob-demo",
        tk.issuer()
    );
    let response = http().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()[LOCATION], "myapp://logout?state=bye");
    assert!(
        response.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );

    let response = http()
        .get(format!("{}/end_session", tk.issuer()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("signed out"));
}

#[tokio::test]
async fn session_cookie_preserves_auth_time() {
    let tk = start().await;
    let pkce = Pkce::new();
    let response = authorize(&tk, &pkce, &[]).await;
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    let session = cookie.split(';').next().unwrap().to_owned();
    let first_code = param(&location_params(response.headers()), "code")
        .unwrap()
        .to_owned();
    let (_, first) = exchange(&tk, &first_code, &pkce.verifier).await;

    tk.advance_clock(100);
    let response = http()
        .get(authorize_url(&tk, &pkce, &[]))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert!(
        response.headers().get(SET_COOKIE).is_none(),
        "session reused"
    );
    let code = param(&location_params(response.headers()), "code")
        .unwrap()
        .to_owned();
    let (_, second) = exchange(&tk, &code, &pkce.verifier).await;
    let auth_time =
        |tokens: &Value| decode(tokens["id_token"].as_str().unwrap()).1["auth_time"].clone();
    assert_eq!(auth_time(&first), auth_time(&second));
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
        let tk = Testkit::start(Options {
            id_token_alg: alg,
            ..Options::default()
        })
        .await
        .unwrap();
        let doc: Value = http()
            .get(format!("{}/.well-known/openid-configuration", tk.issuer()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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

#[tokio::test]
async fn stats_count_each_endpoint_and_grant() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    refresh(&tk, tokens["refresh_token"].as_str().unwrap()).await;
    refresh(&tk, "unknown").await;
    jwks(&tk).await;
    http()
        .get(format!("{}/.well-known/openid-configuration", tk.issuer()))
        .send()
        .await
        .unwrap();
    http()
        .get(format!("{}/userinfo", tk.issuer()))
        .send()
        .await
        .unwrap();
    post_form(
        &tk,
        "/revoke",
        &[("token", "x"), ("client_id", tk.client_id())],
    )
    .await;
    http()
        .get(format!("{}/end_session", tk.issuer()))
        .send()
        .await
        .unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    call_api(&tk.urls().crm, "/api/customers", Some(access_token)).await;
    call_api(&tk.urls().orders, "/api/orders", None).await;

    assert_eq!(
        tk.stats(),
        Stats {
            discovery: 1,
            jwks: 1,
            authorize: 1,
            token: 3,
            userinfo: 1,
            revoke: 1,
            end_session: 1,
            authorization_code: 1,
            refresh_token: 2,
            // Server A fetched the JWKS to verify the token; B had no token to verify.
            jwks_from_resource_servers: 1,
            crm: 1,
            orders: 1,
            crm_rejected: 0,
            orders_rejected: 1,
        }
    );
    tk.reset_stats();
    assert_eq!(tk.stats(), Stats::default());
}

#[tokio::test]
async fn admin_endpoints_steer_the_testkit() {
    let tk = start().await;
    let admin = |path: &str| format!("{}/__testkit/{path}", tk.issuer());
    sign_in(&tk).await;

    let stats: Stats = http()
        .get(admin("stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.authorize, 1);
    assert_eq!(stats.token, 1);
    let response = http().post(admin("reset-stats")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tk.stats(), Stats::default());

    // Faults: set, observe, clear.
    let response = http()
        .post(admin("faults"))
        .json(&json!({"discovery": {"issuer": "https://evil.example"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let discovery_url = format!("{}/.well-known/openid-configuration", tk.issuer());
    let doc: Value = http()
        .get(&discovery_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], "https://evil.example");
    let response = http().delete(admin("faults")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = http()
        .get(&discovery_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], tk.issuer());
    let response = http()
        .post(admin("faults"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Key rotation: default keeps the old key; keep_old=false drops it.
    let response = http().post(admin("rotate-keys")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(jwks(&tk).await["keys"].as_array().unwrap().len(), 2);
    http()
        .post(admin("rotate-keys"))
        .json(&json!({"keep_old": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks(&tk).await["keys"].as_array().unwrap().len(), 1);

    // Clock: a fresh code expires once the clock moves past code_ttl.
    let pkce = Pkce::new();
    let code = code(&tk, &pkce).await;
    let response = http()
        .post(admin("advance-clock"))
        .json(&json!({"seconds": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(body["error"], "invalid_grant");

    // Admin calls are not counted.
    assert_eq!(tk.stats().discovery, 2);
    assert_eq!(tk.stats().jwks, 2);
}

#[tokio::test]
async fn fixed_ports_and_public_host() {
    // Find three free consecutive ports by asking for one and hoping the next
    // two are free; retry a few times.
    for _ in 0..10 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        if port > 65_000 {
            continue;
        }
        let Ok(tk) = Testkit::start(Options {
            port,
            public_host: Some("localhost".into()),
            ..Options::default()
        })
        .await
        else {
            continue;
        };
        assert_eq!(tk.issuer(), format!("http://localhost:{port}"));
        assert_eq!(tk.urls().crm, format!("http://localhost:{}", port + 1));
        assert_eq!(tk.urls().orders, format!("http://localhost:{}", port + 2));
        let response = http()
            .get(format!("http://127.0.0.1:{}/api/orders", port + 2))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        tk.shutdown().await;
        assert!(
            http()
                .get(format!("http://127.0.0.1:{port}/.well-known/jwks.json"))
                .send()
                .await
                .is_err(),
            "the provider stopped"
        );
        return;
    }
    panic!("no free port range found");
}
