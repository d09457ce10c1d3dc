//! A failing or malformed provider: discovery, token endpoint, network. Each gives a typed error.

mod common;

use std::time::Duration;

use common::start;
use keyfob::ErrorKind;
use keyfob_testkit::Faults;
use serde_json::json;

#[tokio::test]
async fn discovery_issuer_mismatch() {
    let env = start().await;
    env.kit
        .set_faults(Faults::discovery(json!({"issuer": "https://evil.example"})));
    assert_eq!(
        env.client().begin_login().await.unwrap_err().kind(),
        ErrorKind::Discovery
    );
}

#[tokio::test]
async fn discovery_with_a_plain_http_end_session_endpoint_is_refused() {
    let env = start().await;
    env.kit.set_faults(Faults::discovery(
        json!({"end_session_endpoint": "http://example.com/end_session"}),
    ));
    let client = env.client();
    assert_eq!(
        client.begin_login().await.unwrap_err().kind(),
        ErrorKind::InsecureUrl
    );
    assert_eq!(client.state(), keyfob::SessionState::SignedOut);
    assert_eq!(env.kit.stats().authorize, 0);
}

#[tokio::test]
async fn discovery_server_error_is_retryable() {
    let env = start().await;
    env.kit
        .set_faults(Faults::status("/.well-known/openid-configuration", 503));
    let client = env.client();
    let e = client.begin_login().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.http_status_code(), e.is_retryable()),
        (ErrorKind::HttpStatus, Some(503), true)
    );
    // Not cached: once the provider is back, it works.
    env.kit.clear_faults();
    client.begin_login().await.unwrap();
}

/// Runs a login whose token request meets `faults`; returns the error.
async fn exchange_with(faults: Faults, timeout: Option<Duration>) -> keyfob::Error {
    let env = start().await;
    let mut config = env.config();
    if let Some(t) = timeout {
        config = config.http_timeout(t);
    }
    let client = env.client_with(config);
    let url = client.begin_login().await.unwrap();
    let callback = env.browse(&url).await;
    env.kit.set_faults(faults);
    let e = client.handle_redirect(&callback).await.unwrap_err();
    assert!(client.tokens().is_none());
    e
}

#[tokio::test]
async fn token_endpoint_500() {
    let e = exchange_with(Faults::status("/token", 500), None).await;
    assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::HttpStatus, true));
}

#[tokio::test]
async fn token_endpoint_oauth_error() {
    let fault = Faults::oauth_error(
        "/token",
        json!({"error": "invalid_grant", "error_description": "code expired"}),
    );
    let e = exchange_with(fault, None).await;
    assert_eq!(
        (e.kind(), e.provider_error()),
        (ErrorKind::Provider, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn token_endpoint_invalid_and_truncated_json() {
    for body in [
        "<html><body>Service unavailable</body></html>",
        r#"{"access_token":"abc","token_type":"Bea"#,
    ] {
        let fault = Faults::endpoint("/token", |f| {
            f.status = Some(200);
            f.body = Some(body.into());
        });
        let e = exchange_with(fault, None).await;
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{body}");
    }
}

#[tokio::test]
async fn token_endpoint_timeout() {
    let e = exchange_with(
        // Far beyond the timeout: only the timeout can end the wait before the answer comes.
        Faults::endpoint("/token", |f| f.delay_ms = Some(30_000)),
        Some(Duration::from_secs(1)),
    )
    .await;
    assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Timeout, true));
}

#[tokio::test]
async fn token_endpoint_oversized_body_is_cut_off() {
    let fault = Faults::endpoint("/token", |f| {
        f.status = Some(200);
        f.body_bytes = Some(50 * 1024 * 1024);
    });
    let e = exchange_with(fault, None).await;
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
}

#[tokio::test]
async fn token_endpoint_redirect_is_not_followed() {
    let e = exchange_with(Faults::status("/token", 302), None).await;
    assert_eq!(e.kind(), ErrorKind::HttpStatus);
}

#[tokio::test]
async fn malformed_token_responses() {
    for patch in [
        json!({"token_type": "mac"}),
        json!({"expires_in": "3600"}),
        json!({"expires_in": -5}),
        json!({"access_token": null}),
        json!({"id_token": null}),
    ] {
        let e = exchange_with(Faults::token_response(patch.clone()), None).await;
        assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{patch}");
    }
}

/// RFC 6749 §5.1: the granted scope may differ from the requested one. node oidc-provider
/// with resource indicators and JWT access tokens answers `"scope": ""` when none of the
/// requested scopes applies to the API: granted none, a valid answer (found by the interop
/// stage). A later response without `scope` keeps what was granted.
#[tokio::test]
async fn a_provider_may_grant_none_of_the_requested_scopes() {
    let env = start().await;
    let client = env.client();
    env.kit
        .set_faults(Faults::token_response(json!({"scope": ""})));
    env.login(&client).await.unwrap();
    assert_eq!(client.tokens().unwrap().scopes(), &[] as &[String]);

    env.kit
        .set_faults(Faults::token_response(json!({"scope": null})));
    client.refresh().await.unwrap();
    assert_eq!(client.tokens().unwrap().scopes(), &[] as &[String]);

    env.kit
        .set_faults(Faults::token_response(json!({"scope": "openid email"})));
    client.refresh().await.unwrap();
    assert_eq!(client.tokens().unwrap().scopes(), ["openid", "email"]);
}

/// Without `scope` in the response the granted scopes are the requested ones.
#[tokio::test]
async fn an_absent_scope_means_as_requested() {
    let env = start().await;
    let client = env.client();
    env.kit
        .set_faults(Faults::token_response(json!({"scope": null})));
    env.login(&client).await.unwrap();
    assert_eq!(
        client.tokens().unwrap().scopes(),
        ["openid", "email", "offline_access"]
    );
}

#[tokio::test]
async fn refresh_rejected_with_invalid_grant() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    env.kit.set_faults(Faults::oauth_error(
        "/token",
        json!({"error": "invalid_grant"}),
    ));
    // The refresh token is dead: the session ends and the app is told to sign in again.
    let e = client.refresh().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
    assert!(client.tokens().is_none());
}

#[tokio::test]
async fn unreachable_provider_is_a_network_error() {
    // A port nothing listens on (bind, learn the port, close).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = start().await;
    let config =
        keyfob::Config::builder(format!("http://127.0.0.1:{port}"), "app", common::REDIRECT);
    let e = env.client_with(config).begin_login().await.unwrap_err();
    assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::Network, true));
}
