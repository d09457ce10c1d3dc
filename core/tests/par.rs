//! Pushed authorization requests (RFC 9126) against the testkit: used when the provider
//! requires them or the configuration asks for them, with DPoP too; a refused push is a typed
//! provider error and nothing is stored.

mod common;

use std::sync::Arc;

use common::{param, start};
use keyfob::{ErrorKind, MemoryStorage, SecureStorage, SessionState, SoftwareDpopKey};
use keyfob_testkit::{Faults, Policy};
use serde_json::json;

/// The query parameter names of `url`.
fn names(url: &str) -> Vec<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(n, _)| n.into_owned())
        .collect()
}

#[tokio::test]
async fn a_provider_that_requires_par_gets_pushed_requests() {
    let env = start().await;
    env.kit.set_policy(Policy {
        require_par: true,
        ..Policy::default()
    });
    let client = env.client();
    let url = client.begin_login().await.unwrap();
    assert_eq!(names(&url), ["client_id", "request_uri"]);
    assert_eq!(
        param(&url, "client_id").as_deref(),
        Some(env.kit.client_id())
    );
    let stats = env.kit.stats();
    assert_eq!((stats.discovery, stats.par, stats.jwks), (1, 1, 1));
    let claims = client
        .handle_redirect(&env.browse(&url).await)
        .await
        .unwrap();
    assert_eq!(claims.subject, "user-123");
}

#[tokio::test]
async fn par_is_used_when_configured_and_offered_and_not_otherwise() {
    let env = start().await;
    let url = env.client().begin_login().await.unwrap();
    assert!(names(&url).contains(&"code_challenge".to_string()));
    assert_eq!(env.kit.stats().par, 0);
    let client = env.client_with(env.config().pushed_authorization_requests(true));
    let url = client.begin_login().await.unwrap();
    assert_eq!(names(&url), ["client_id", "request_uri"]);
    client
        .handle_redirect(&env.browse(&url).await)
        .await
        .unwrap();
    assert_eq!(env.kit.stats().par, 1);
    // Configured, but the provider offers no endpoint: the request goes through the browser.
    env.kit.set_faults(Faults::discovery(
        json!({"pushed_authorization_request_endpoint": null}),
    ));
    let client = env.client_with(env.config().pushed_authorization_requests(true));
    let url = client.begin_login().await.unwrap();
    assert!(names(&url).contains(&"state".to_string()));
}

#[tokio::test]
async fn a_refused_push_is_a_provider_error_and_nothing_is_stored() {
    let env = start().await;
    env.kit.set_policy(Policy {
        require_par: true,
        ..Policy::default()
    });
    env.kit.set_faults(Faults::oauth_error(
        "/par",
        json!({"error": "invalid_request", "error_description": "no"}),
    ));
    let storage = Arc::new(MemoryStorage::new());
    let client = env.client().with_storage(storage.clone());
    let e = client.begin_login().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.provider_error()),
        (ErrorKind::Provider, Some("invalid_request"))
    );
    assert_eq!(client.state(), SessionState::SignedOut);
    assert!(storage.load("pending").unwrap().is_none());
    assert!(storage.load("session").unwrap().is_none());
    // A malformed answer is typed too.
    env.kit.set_faults(Faults::endpoint("/par", |f| {
        f.status = Some(201);
        f.body = Some(json!({"request_uri": "urn:x"}).to_string());
    }));
    let e = client.begin_login().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(storage.load("pending").unwrap().is_none());
}

#[tokio::test]
async fn par_and_dpop_together_bind_the_code_to_the_key() {
    let env = start().await;
    env.kit.set_policy(Policy {
        require_par: true,
        require_dpop: true,
        dpop_nonce: true,
    });
    let client = env
        .client()
        .with_dpop_key(Arc::new(SoftwareDpopKey::generate().unwrap()));
    env.login(&client).await.unwrap();
    let tokens = client.tokens().unwrap();
    assert_eq!(tokens.token_type(), "DPoP");
    let stats = env.kit.stats();
    assert_eq!((stats.par, stats.dpop_proofs_rejected), (1, 0));
}
