//! `/token`: the code exchange (PKCE, single use, binding to redirect URI, client and
//! lifetime), request errors, and refresh with rotation, reuse detection, scope and expiry.

use keyfob_testkit::{CRM_AUDIENCE, ORDERS_AUDIENCE};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    self, Pkce, code, decode, exchange, http, jwks, post_code_exchange, post_form, refresh,
    sign_in, start, verify_with_jwks,
};

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
    assert_eq!(claims["aud"], json!([CRM_AUDIENCE, ORDERS_AUDIENCE]));
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
    let changes = [("redirect_uri", "com.example.app:/callback")];
    let response = post_code_exchange(&tk, &code, &pkce.verifier, &changes).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    let code = common::code(&tk, &pkce).await;
    let changes = [("client_id", "intruder")];
    let response = post_code_exchange(&tk, &code, &pkce.verifier, &changes).await;
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
