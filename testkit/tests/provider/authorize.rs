//! `/authorize`: the redirect with code, state and iss, redirect URI matching, errors sent to
//! the client or shown as a page, and the SSO session cookie.

use keyfob_testkit::{Options, Testkit};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::common::{
    Pkce, authorize, authorize_url, decode, exchange, http, location_params, param, start,
};

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
