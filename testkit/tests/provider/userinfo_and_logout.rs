//! `/userinfo`, `/revoke` and `/end_session`.

use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::common::{call_api, challenge, http, post_form, refresh, sign_in, start};

#[tokio::test]
async fn userinfo_requires_a_valid_access_token() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let url = format!("{}/userinfo", tk.issuer());

    let response = call_api(tk.issuer(), "/userinfo", Some(access_token)).await;
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
    let response = call_api(tk.issuer(), "/userinfo", Some(access_token)).await;
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
    let response = call_api(tk.issuer(), "/userinfo", Some(access_token)).await;
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
