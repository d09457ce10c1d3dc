//! Sender-constrained sessions (DPoP, RFC 9449) against the testkit: sign-in, calls to servers
//! A and B, refresh and logout with a software key, with and without server nonces; a key that
//! is gone; a provider that does not advertise DPoP; a downgrade; no retry loop.

mod common;

use std::sync::Arc;

use common::{Env, param, start};
use keyfob::{
    Client, DpopKey, ErrorKind, MemoryStorage, SessionState, SoftwareDpopKey, StorageErrorKind,
};
use keyfob_testkit::{Faults, Policy};
use serde_json::{Value, json};

fn key() -> Arc<SoftwareDpopKey> {
    Arc::new(SoftwareDpopKey::generate().unwrap())
}

fn dpop_client(env: &Env, key: Arc<dyn DpopKey>) -> Client {
    env.client().with_dpop_key(key)
}

/// What an app does for one API call: the headers from Keyfob, the request, and — when the
/// server asks for a DPoP nonce — the same request once more with new headers.
async fn call(env: &Env, client: &Client, url: &str) -> (u16, Value) {
    let mut retried = false;
    loop {
        let headers = client.authorization_headers("GET", url).await.unwrap();
        let response = env.get_with(url, &headers.pairs()).await;
        if !retried && client.resource_response(url, response.status, &response.headers) {
            retried = true;
            continue;
        }
        let body = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        return (response.status, body);
    }
}

/// A testkit whose servers all demand DPoP nonces, and a client signed in there.
async fn signed_in_with_server_nonces() -> (Env, Client) {
    let env = start().await;
    env.kit.set_policy(Policy {
        dpop_nonce: true,
        ..Policy::default()
    });
    let client = dpop_client(&env, key());
    env.login(&client).await.unwrap();
    (env, client)
}

/// An API's refusal of a proof without its nonce `n-1`: the headers of the `401`.
fn nonce_challenge() -> Vec<(String, String)> {
    vec![
        (
            "WWW-Authenticate".to_string(),
            r#"DPoP error="use_dpop_nonce""#.to_string(),
        ),
        ("DPoP-Nonce".to_string(), "n-1".to_string()),
    ]
}

fn crm(env: &Env) -> String {
    format!("{}/api/customers", env.kit.urls().crm)
}

fn orders(env: &Env) -> String {
    format!("{}/api/orders", env.kit.urls().orders)
}

/// The thumbprint of `key`, as the testkit computes it into `cnf.jkt`: taken from a token.
fn jkt_of_access_token(token: &str) -> String {
    use base64::Engine as _;
    let claims = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    claims["cnf"]["jkt"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_dpop_session_signs_in_calls_refreshes_and_signs_out() {
    let env = start().await;
    let client = dpop_client(&env, key());

    let url = client.begin_login().await.unwrap();
    let jkt = param(&url, "dpop_jkt").expect("dpop_jkt on the authorization request");
    let callback = env.browse(&url).await;
    client.handle_redirect(&callback).await.unwrap();
    let tokens = client.tokens().unwrap();
    assert_eq!(tokens.token_type(), "DPoP");
    assert_eq!(tokens.dpop_key_thumbprint(), Some(jkt.as_str()));
    assert_eq!(jkt_of_access_token(tokens.access_token().expose()), jkt);

    // Servers A and B: Authorization: DPoP with a proof; the token alone is refused.
    let (status, body) = call(&env, &client, &crm(&env)).await;
    assert_eq!((status, body["server"].as_str()), (200, Some("crm")));
    let (status, _) = call(&env, &client, &orders(&env)).await;
    assert_eq!(status, 200);
    let (status, _) = env
        .call_api(common::Server::Crm, tokens.access_token().expose())
        .await;
    assert_eq!(status, 401, "a DPoP-bound token presented as Bearer");
    assert_eq!(
        client.userinfo().await.unwrap()["sub"],
        json!("user-123"),
        "UserInfo with DPoP"
    );

    // Expiry: the next headers come with a refreshed token, refreshed with a proof.
    env.expire();
    let (status, _) = call(&env, &client, &crm(&env)).await;
    assert_eq!(status, 200);
    let refreshed = client.tokens().unwrap();
    assert_ne!(refreshed.access_token(), tokens.access_token());
    assert_eq!(refreshed.token_type(), "DPoP");
    assert_eq!(env.kit.stats().refresh_token, 1);

    let logout = client.logout().await.unwrap();
    assert!(logout.revocation_error.is_none() && logout.refresh_token_revoked);
    let stats = env.kit.stats();
    // Code exchange, refresh, revocation, UserInfo and three API calls: one proof each.
    assert_eq!((stats.dpop_proofs, stats.dpop_proofs_rejected), (7, 0));
    assert_eq!((stats.dpop_nonce_challenges, stats.revoke), (0, 1));
    assert!(client.tokens().is_none());
}

#[tokio::test]
async fn server_nonces_cost_one_retry_each_and_are_remembered() {
    let (env, client) = signed_in_with_server_nonces().await;
    assert_eq!(env.kit.stats().token, 2, "one use_dpop_nonce, one exchange");

    let (status, _) = call(&env, &client, &crm(&env)).await;
    assert_eq!(status, 200);
    let (status, _) = call(&env, &client, &crm(&env)).await;
    assert_eq!(status, 200);
    let stats = env.kit.stats();
    assert_eq!(
        (stats.crm, stats.crm_rejected),
        (3, 1),
        "the nonce is remembered"
    );

    // The provider's nonce is remembered too: the refresh needs no retry.
    client.refresh().await.unwrap();
    assert_eq!(env.kit.stats().token, 3);
    // New nonces everywhere: one retry at the token endpoint and at server A.
    env.kit.rotate_dpop_nonces();
    client.refresh().await.unwrap();
    assert_eq!(env.kit.stats().token, 5);
    let (status, _) = call(&env, &client, &crm(&env)).await;
    assert_eq!(status, 200);
    assert_eq!(env.kit.stats().crm_rejected, 2);
    assert_eq!(env.kit.stats().dpop_proofs_rejected, 0);
}

#[tokio::test]
async fn a_server_that_keeps_asking_for_a_nonce_gets_one_retry() {
    let env = start().await;
    let client = dpop_client(&env, key());
    env.login(&client).await.unwrap();
    env.kit.reset_stats();
    env.kit.set_faults(Faults::endpoint("/token", |f| {
        f.status = Some(400);
        f.body = Some(json!({"error": "use_dpop_nonce"}).to_string());
        f.headers = vec![("DPoP-Nonce".into(), "always-new?".into())];
    }));
    let e = client.refresh().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.provider_error()),
        (ErrorKind::Provider, Some("use_dpop_nonce"))
    );
    assert_eq!(env.kit.stats().token, 2, "the request and one retry");
    assert_eq!(client.state(), SessionState::SignedIn);
    // An API that repeats its challenge: every answer asks for a retry, and the app's bound
    // (once) ends it.
    env.kit.reset_stats();
    env.kit.set_faults(Faults::endpoint("/api/customers", |f| {
        f.status = Some(401);
        f.headers = nonce_challenge();
    }));
    let (status, _) = call(&env, &client, &crm(&env)).await;
    assert_eq!(status, 401);
    assert_eq!(env.kit.stats().crm, 2, "the request and one retry");
}

#[tokio::test]
async fn api_requests_racing_on_one_new_nonce_each_retry_once() {
    let (env, client) = signed_in_with_server_nonces().await;
    let url = crm(&env);
    // Both requests are made before either answer is read: neither proof has the nonce.
    let first = client.authorization_headers("GET", &url).await.unwrap();
    let second = client.authorization_headers("GET", &url).await.unwrap();
    let answers = [
        env.get_with(&url, &first.pairs()).await,
        env.get_with(&url, &second.pairs()).await,
    ];
    for answer in &answers {
        assert_eq!(answer.status, 401);
        assert!(client.resource_response(&url, answer.status, &answer.headers));
    }
    // One retry each, with the nonce the first answer stored.
    for _ in &answers {
        let headers = client.authorization_headers("GET", &url).await.unwrap();
        let answer = env.get_with(&url, &headers.pairs()).await;
        assert_eq!(answer.status, 200);
        assert!(!client.resource_response(&url, answer.status, &answer.headers));
    }
    let stats = env.kit.stats();
    assert_eq!((stats.crm, stats.crm_rejected), (4, 2));
}

#[tokio::test]
async fn a_session_whose_key_is_gone_must_sign_in_again() {
    let env = start().await;
    let storage = Arc::new(MemoryStorage::new());
    let client = dpop_client(&env, key()).with_storage(storage.clone());
    env.login(&client).await.unwrap();
    drop(client);

    // The same store, another key (the platform's key was deleted and made anew).
    let replaced = dpop_client(&env, key()).with_storage(storage.clone());
    let e = replaced
        .authorization_headers("GET", &crm(&env))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.storage_kind()),
        (ErrorKind::Storage, Some(StorageErrorKind::KeyInvalidated))
    );
    assert!(e.requires_sign_in() && !e.is_retryable());
    assert_eq!(replaced.state(), SessionState::NeedsReLogin);
    assert!(replaced.tokens().is_none());

    // No key at all, and an expired token: the refresh is refused before any request.
    let again = dpop_client(&env, key()).with_storage(storage.clone());
    env.login(&again).await.unwrap();
    drop(again);
    env.expire();
    let keyless = env.client().with_storage(storage.clone());
    let before = env.kit.stats().token;
    let e = keyless.access_token().await.unwrap_err();
    assert_eq!(e.storage_kind(), Some(StorageErrorKind::KeyInvalidated));
    assert_eq!(env.kit.stats().token, before);
    assert_eq!(keyless.state(), SessionState::NeedsReLogin);
}

/// A key holder whose key the platform lost (a lock-screen change on Android).
struct LostKey;

impl DpopKey for LostKey {
    fn public_key(&self) -> Result<Vec<u8>, keyfob::StorageError> {
        Err(keyfob::StorageError::new(
            StorageErrorKind::KeyInvalidated,
            "the key is gone",
        ))
    }
    fn sign(&self, _: &[u8]) -> Result<Vec<u8>, keyfob::StorageError> {
        self.public_key()
    }
}

#[tokio::test]
async fn a_key_holder_that_lost_its_key_ends_the_session() {
    let env = start().await;
    let storage = Arc::new(MemoryStorage::new());
    let client = dpop_client(&env, key()).with_storage(storage.clone());
    env.login(&client).await.unwrap();
    let lost = dpop_client(&env, Arc::new(LostKey)).with_storage(storage);
    let e = lost.refresh().await.unwrap_err();
    assert!(e.requires_sign_in());
    assert_eq!(lost.state(), SessionState::NeedsReLogin);
}

#[tokio::test]
async fn userinfo_with_a_replaced_key_ends_the_session() {
    let env = start().await;
    let storage = Arc::new(MemoryStorage::new());
    let client = dpop_client(&env, key()).with_storage(storage.clone());
    env.login(&client).await.unwrap();
    drop(client);
    let replaced = dpop_client(&env, key()).with_storage(storage);
    env.kit.reset_stats();
    let e = replaced.userinfo().await.unwrap_err();
    assert_eq!(e.storage_kind(), Some(StorageErrorKind::KeyInvalidated));
    assert_eq!(replaced.state(), SessionState::NeedsReLogin);
    assert!(replaced.tokens().is_none());
    assert_eq!(env.kit.stats().dpop_proofs, 0, "nothing was sent");
}

#[tokio::test]
async fn without_dpop_at_the_provider_a_dpop_client_signs_in_with_bearer() {
    let env = start().await;
    env.kit.set_faults(Faults::discovery(
        json!({"dpop_signing_alg_values_supported": null}),
    ));
    let client = dpop_client(&env, key());
    let url = client.begin_login().await.unwrap();
    assert_eq!(param(&url, "dpop_jkt"), None);
    client
        .handle_redirect(&env.browse(&url).await)
        .await
        .unwrap();
    assert_eq!(client.tokens().unwrap().token_type(), "Bearer");
    let headers = client
        .authorization_headers("GET", &crm(&env))
        .await
        .unwrap();
    assert!(headers.dpop.is_none());
    assert!(headers.authorization.expose().starts_with("Bearer "));
    assert_eq!(env.kit.stats().dpop_proofs, 0);
    // A Bearer session is never told to retry with a proof, whatever the server says.
    assert!(!client.resource_response(&crm(&env), 401, &nonce_challenge()));
}

#[tokio::test]
async fn a_bearer_answer_to_a_proof_is_refused_and_nothing_is_stored() {
    let env = start().await;
    env.kit
        .set_faults(Faults::token_response(json!({"token_type": "Bearer"})));
    let client = dpop_client(&env, key());
    let e = env.login(&client).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert!(client.tokens().is_none());
}

#[tokio::test]
async fn a_provider_that_requires_dpop_refuses_a_client_without_a_key() {
    let env = start().await;
    env.kit.set_policy(Policy {
        require_dpop: true,
        ..Policy::default()
    });
    let e = env.login(&env.client()).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.provider_error()),
        (ErrorKind::Provider, Some("invalid_dpop_proof"))
    );
    let client = dpop_client(&env, key());
    env.login(&client).await.unwrap();
    assert_eq!(client.tokens().unwrap().token_type(), "DPoP");
}

#[tokio::test]
async fn headers_go_only_to_secure_urls_and_for_real_methods() {
    let env = start().await;
    let client = dpop_client(&env, key());
    env.login(&client).await.unwrap();
    let e = client
        .authorization_headers("GET", "http://crm.company.com/api")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InsecureUrl);
    let e = client
        .authorization_headers("GET /x", &crm(&env))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(env.kit.stats().refresh_token, 0);
}
