//! The grants beyond the code flow: resource indicators (RFC 8707), step-up at `/authorize`,
//! and the device authorization grant (RFC 8628).

use keyfob_testkit::{CRM_AUDIENCE, Faults, ORDERS_AUDIENCE};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    Pkce, authorize, call_api, decode, location_params, param, post_code_exchange, post_form,
    refresh, sign_in, start,
};

/// Signs in with `resource` parameters on `/authorize` and the code exchange.
async fn sign_in_for(
    tk: &keyfob_testkit::Testkit,
    at_authorize: &[&str],
    at_exchange: &[&str],
) -> (StatusCode, Value) {
    let pkce = Pkce::new();
    let mut url = crate::common::authorize_url(tk, &pkce, &[]);
    for resource in at_authorize {
        url.push_str(&format!("&resource={}", urlencode(resource)));
    }
    let response = crate::common::http().get(url).send().await.unwrap();
    let params = location_params(response.headers());
    let code = param(&params, "code").expect("a code").to_owned();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", crate::common::REDIRECT_URI),
        ("client_id", tk.client_id()),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    form.extend(at_exchange.iter().map(|r| ("resource", *r)));
    let response = post_form(tk, "/token", &form).await;
    (response.status(), response.json().await.unwrap())
}

/// A refresh with `resource`; status and JSON body.
async fn refresh_for(
    tk: &keyfob_testkit::Testkit,
    refresh_token: &str,
    resource: &str,
) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", tk.client_id()),
        ("resource", resource),
    ];
    let response = post_form(tk, "/token", &form).await;
    (response.status(), response.json().await.unwrap())
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn audience(access_token: &Value) -> Value {
    decode(access_token.as_str().unwrap()).1["aud"].clone()
}

#[tokio::test]
async fn without_resources_a_token_is_for_both_servers() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    assert_eq!(
        audience(&tokens["access_token"]),
        json!([CRM_AUDIENCE, ORDERS_AUDIENCE])
    );
}

#[tokio::test]
async fn a_resource_narrows_the_token_to_its_server() {
    let tk = start().await;
    let (status, tokens) = sign_in_for(&tk, &[CRM_AUDIENCE, ORDERS_AUDIENCE], &[]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    let (status, orders) = refresh_for(&tk, refresh_token, ORDERS_AUDIENCE).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audience(&orders["access_token"]), json!([ORDERS_AUDIENCE]));
    let token = orders["access_token"].as_str().unwrap();
    // Server B accepts it; server A refuses a token that is not for it.
    let b = call_api(&tk.urls().orders, "/api/orders", Some(token)).await;
    assert_eq!(b.status(), StatusCode::OK);
    let a = call_api(&tk.urls().crm, "/api/customers", Some(token)).await;
    assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
    assert!(
        a.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("audience")
    );
}

#[tokio::test]
async fn unknown_or_ungranted_resources_are_invalid_target() {
    let tk = start().await;
    // At /authorize: back to the client as an error.
    let pkce = Pkce::new();
    let response = authorize(&tk, &pkce, &[("resource", "https://evil.example")]).await;
    let params = location_params(response.headers());
    assert_eq!(param(&params, "error"), Some("invalid_target"));

    // At the code exchange and the refresh: a resource the grant does not cover.
    let (status, body) = sign_in_for(&tk, &[CRM_AUDIENCE], &[ORDERS_AUDIENCE]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    let (status, tokens) = sign_in_for(&tk, &[CRM_AUDIENCE], &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audience(&tokens["access_token"]), json!([CRM_AUDIENCE]));
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = refresh_for(&tk, refresh_token, ORDERS_AUDIENCE).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_target"))
    );
    // The refused request did not spend the refresh token.
    let (status, _) = refresh(&tk, refresh_token).await;
    assert_eq!(status, StatusCode::OK);
}

/// The ID token of a sign-in whose authorization request had `extra` parameters, with the
/// browser's SSO cookie `cookie` if any; returns the claims and the cookie it set.
async fn id_token_claims(
    tk: &keyfob_testkit::Testkit,
    extra: &[(&str, &str)],
    cookie: Option<&str>,
) -> (Value, Option<String>) {
    let pkce = Pkce::new();
    let mut request = crate::common::http().get(crate::common::authorize_url(tk, &pkce, extra));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let params = location_params(response.headers());
    let code = param(&params, "code").expect("a code");
    let response = post_code_exchange(tk, code, &pkce.verifier, &[]).await;
    let body: Value = response.json().await.unwrap();
    (decode(body["id_token"].as_str().unwrap()).1, set_cookie)
}

#[tokio::test]
async fn step_up_authenticates_again_and_says_how() {
    let tk = start().await;
    let (first, cookie) = id_token_claims(&tk, &[], None).await;
    let cookie = cookie.expect("a browser session");
    assert!(first.get("acr").is_none());
    tk.advance_clock(120);
    // The SSO session is reused: same auth_time.
    let (again, _) = id_token_claims(&tk, &[], Some(&cookie)).await;
    assert_eq!(again["auth_time"], first["auth_time"]);
    // max_age shorter than the session's age, or prompt=login: a new authentication.
    let (stepped, _) = id_token_claims(&tk, &[("max_age", "60")], Some(&cookie)).await;
    assert!(stepped["auth_time"].as_u64() > first["auth_time"].as_u64());
    let (within, _) = id_token_claims(&tk, &[("max_age", "600")], Some(&cookie)).await;
    assert_eq!(within["auth_time"], first["auth_time"]);
    let (login, _) = id_token_claims(&tk, &[("prompt", "login")], Some(&cookie)).await;
    assert!(login["auth_time"].as_u64() > first["auth_time"].as_u64());
    // acr: the first of acr_values, or the essential one of a claims request.
    let (acr, _) = id_token_claims(
        &tk,
        &[("acr_values", "urn:keyfob:loa:2 urn:keyfob:loa:1")],
        None,
    )
    .await;
    assert_eq!(acr["acr"], "urn:keyfob:loa:2");
    let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:keyfob:loa:1"]}}}"#;
    let (essential, _) = id_token_claims(&tk, &[("claims", claims)], None).await;
    assert_eq!(essential["acr"], "urn:keyfob:loa:1");
}

/// Starts a device authorization; returns its JSON.
async fn device_authorization(tk: &keyfob_testkit::Testkit) -> Value {
    let response = post_form(
        tk,
        "/device_authorization",
        &[
            ("client_id", tk.client_id()),
            ("scope", "openid email offline_access"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn poll(tk: &keyfob_testkit::Testkit, device_code: &str) -> (StatusCode, Value) {
    let response = post_form(
        tk,
        "/token",
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", tk.client_id()),
        ],
    )
    .await;
    (response.status(), response.json().await.unwrap())
}

async fn visit(url: &str) -> StatusCode {
    crate::common::http()
        .get(url)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_device_is_approved_by_a_visit_to_the_complete_uri() {
    let tk = start().await;
    let device = device_authorization(&tk).await;
    let user_code = device["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(
        device["verification_uri"],
        format!("{}/device", tk.issuer())
    );
    assert_eq!(
        device["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", tk.issuer())
    );
    assert_eq!(
        (device["interval"].as_u64(), device["expires_in"].as_u64()),
        (Some(5), Some(600))
    );
    let code = device["device_code"].as_str().unwrap();

    tk.advance_clock(5);
    let (status, body) = poll(&tk, code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("authorization_pending"))
    );
    // Polling again at once: slow_down, and the interval is now 10 s.
    let (_, body) = poll(&tk, code).await;
    assert_eq!(body["error"], "slow_down");
    tk.advance_clock(5);
    let (_, body) = poll(&tk, code).await;
    assert_eq!(body["error"], "slow_down", "5 s is no longer enough");

    assert_eq!(
        visit(device["verification_uri_complete"].as_str().unwrap()).await,
        StatusCode::OK
    );
    tk.advance_clock(15);
    let (status, tokens) = poll(&tk, code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = decode(tokens["id_token"].as_str().unwrap()).1;
    assert_eq!(claims["sub"], "user-123");
    assert!(tokens["refresh_token"].is_string());
    // Redeemed once.
    tk.advance_clock(15);
    let (_, body) = poll(&tk, code).await;
    assert_eq!(body["error"], "invalid_grant");
    let stats = tk.stats();
    assert_eq!(
        (
            stats.device_authorization,
            stats.device_code,
            stats.device_slow_down
        ),
        (1, 5, 2)
    );
}

#[tokio::test]
async fn a_device_can_be_denied_expire_or_be_slowed_down_by_a_fault() {
    let tk = start().await;
    let device = device_authorization(&tk).await;
    let deny = format!(
        "{}&action=deny",
        device["verification_uri_complete"].as_str().unwrap()
    );
    assert_eq!(visit(&deny).await, StatusCode::OK);
    tk.advance_clock(5);
    let (_, body) = poll(&tk, device["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "access_denied");

    let device = device_authorization(&tk).await;
    tk.advance_clock(601);
    let (_, body) = poll(&tk, device["device_code"].as_str().unwrap()).await;
    assert_eq!(body["error"], "expired_token");
    assert_eq!(
        visit(device["verification_uri_complete"].as_str().unwrap()).await,
        StatusCode::NOT_FOUND
    );

    tk.set_faults(Faults::device(1, 1));
    let device = device_authorization(&tk).await;
    assert_eq!(device["interval"], 1);
    tk.advance_clock(1);
    let code = device["device_code"].as_str().unwrap();
    let (_, body) = poll(&tk, code).await;
    assert_eq!(
        body["error"], "slow_down",
        "the fault answers the first poll so"
    );
    tk.advance_clock(6);
    let (_, body) = poll(&tk, code).await;
    assert_eq!(body["error"], "authorization_pending");
}
