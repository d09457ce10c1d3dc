//! The callback: exact redirect match, state, RFC 9207 iss, provider errors, single use.

mod common;

use common::{start, with_param};
use keyfob::ErrorKind;
use keyfob_testkit::Faults;
use serde_json::json;

#[tokio::test]
async fn wrong_or_missing_state_is_rejected_and_keeps_the_login_pending() {
    let env = start().await;
    let client = env.client();
    let url = client.begin_login().await.unwrap();
    let callback = env.browse(&url).await;

    let forged = with_param(&callback, "state", Some("attacker-state"));
    assert_eq!(
        client.handle_redirect(&forged).await.unwrap_err().kind(),
        ErrorKind::StateMismatch
    );
    let stateless = with_param(&callback, "state", None);
    assert_eq!(
        client.handle_redirect(&stateless).await.unwrap_err().kind(),
        ErrorKind::StateMismatch
    );
    // A forged error response is refused the same way.
    let forged_error = with_param(
        &with_param(&forged, "code", None),
        "error",
        Some("access_denied"),
    );
    assert_eq!(
        client
            .handle_redirect(&forged_error)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::StateMismatch
    );

    // The genuine callback still completes the login; no code was spent on the forgeries.
    client.handle_redirect(&callback).await.unwrap();
    assert_eq!(env.kit.stats().token, 1);
}

#[tokio::test]
async fn a_replayed_callback_is_rejected() {
    let env = start().await;
    let client = env.client();
    let url = client.begin_login().await.unwrap();
    let callback = env.browse(&url).await;
    client.handle_redirect(&callback).await.unwrap();
    let e = client.handle_redirect(&callback).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoPendingLogin);
    assert_eq!(
        env.kit.stats().token,
        1,
        "the replay never reached the token endpoint"
    );
}

#[tokio::test]
async fn a_callback_without_a_started_login_is_rejected() {
    let env = start().await;
    let e = env
        .client()
        .handle_redirect("myapp://callback?code=abc&state=xyz")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoPendingLogin);
}

#[tokio::test]
async fn an_expired_pending_login_is_rejected() {
    let env = start().await;
    let client = env.client();
    let url = client.begin_login().await.unwrap();
    let callback = env.browse(&url).await;
    env.clock.advance(keyfob::PENDING_LOGIN_LIFETIME_SECS + 1);
    assert_eq!(
        client.handle_redirect(&callback).await.unwrap_err().kind(),
        ErrorKind::NoPendingLogin
    );
}

#[tokio::test]
async fn access_denied_is_a_typed_provider_error() {
    let env = start().await;
    env.kit.set_faults(Faults::callback(
        json!({"error": "access_denied", "error_description": "User said no", "code": null}),
    ));
    let e = env.login(&env.client()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Provider);
    assert_eq!(e.provider_error(), Some("access_denied"));
}

#[tokio::test]
async fn wrong_or_missing_iss_is_a_mix_up() {
    for iss in [json!("https://evil.example"), json!(null)] {
        let env = start().await;
        env.kit.set_faults(Faults::callback(json!({ "iss": iss })));
        let e = env.login(&env.client()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IssuerMismatch, "iss={iss}");
        assert_eq!(env.kit.stats().token, 0);
    }
}

#[tokio::test]
async fn redirect_uri_must_match_exactly() {
    let env = start().await;
    let client = env.client();
    let url = client.begin_login().await.unwrap();
    let callback = env.browse(&url).await;
    for other in [
        callback.replacen("myapp://callback", "evilapp://callback", 1),
        callback.replacen("myapp://callback", "myapp://callback/other", 1),
        callback.replacen("myapp://callback", "myapp://CALLBACK2", 1),
        format!("{callback}#fragment"),
        format!("{callback}&code=second"),
    ] {
        let e = client.handle_redirect(&other).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidCallback, "{other}");
    }
    client.handle_redirect(&callback).await.unwrap();
}
