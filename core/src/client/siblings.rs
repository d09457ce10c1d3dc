//! Tests of refreshes shared with sibling processes over one store: each `Client` stands for a
//! process, and "a sibling" is what another process would have written to the store.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::clock::ManualClock;
use crate::error::ErrorKind;
use crate::session::SessionState;
use crate::session::accounts::{Lease, Sessions};
use crate::session::record::{SESSION_KEY, decode_sessions, encode_sessions};
use crate::storage::{MemoryStorage, SecureStorage};
use crate::test_support::{
    Answer, NOW, OWNER, ScriptedProvider, client_with_session, session_tokens, stored_tokens,
};

/// What a sibling process does to the stored record: `change` on its only account.
fn sibling_writes(
    storage: &MemoryStorage,
    change: impl FnOnce(&mut crate::session::accounts::Account),
) {
    let bytes = storage.load(SESSION_KEY).unwrap().unwrap();
    let mut sessions: Sessions = decode_sessions(&bytes, OWNER).unwrap();
    let subject = sessions.accounts.keys().next().unwrap().clone();
    change(sessions.accounts.get_mut(&subject).unwrap());
    storage
        .save(SESSION_KEY, &encode_sessions(&sessions, OWNER))
        .unwrap();
}

/// A sibling's completed refresh: a new revision with `refresh_token`, no lease.
fn sibling_refreshed(
    refresh_token: &'static str,
) -> impl FnOnce(&mut crate::session::accounts::Account) {
    move |account| {
        account.revision += 1;
        account.lease = None;
        account.tokens.access_token = crate::SecretString::new("at-sibling");
        account.tokens.refresh_token = Some(crate::SecretString::new(refresh_token));
        account.tokens.expires_at = Some(NOW + 3600);
    }
}

/// A signed-in client whose access token (expiring at NOW + 60) has expired by its clock.
fn expired_client(
    provider: &Arc<ScriptedProvider>,
) -> (Arc<crate::Client>, Arc<MemoryStorage>, Arc<ManualClock>) {
    let tokens = session_tokens(provider, "u1");
    let (client, storage) = client_with_session(provider, Some(&tokens));
    let clock = Arc::new(ManualClock::new(NOW + 100));
    let client = Arc::try_unwrap(client)
        .ok()
        .unwrap()
        .with_clock(clock.clone());
    (Arc::new(client), storage, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sibling_holding_the_lease_is_waited_for_and_its_token_adopted() {
    let provider = ScriptedProvider::new();
    let (client, storage, _) = expired_client(&provider);
    client.restore().unwrap();
    sibling_writes(&storage, |a| {
        a.lease = Some(Lease {
            holder: "sibling".into(),
            until: NOW + 160,
        })
    });
    // The sibling finishes while this client waits.
    let sibling_store = storage.clone();
    let sibling = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        sibling_writes(&sibling_store, sibling_refreshed("rt-sibling"));
    });
    let token = client.access_token().await.unwrap();
    sibling.join().unwrap();
    assert_eq!(token.expose(), "at-sibling");
    assert_eq!(provider.count("POST /token"), 0);
    assert_eq!(
        client.tokens().unwrap().refresh_token().unwrap().expose(),
        "rt-sibling"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_left_by_a_dead_sibling_is_taken_over_once_it_lapses() {
    let provider = ScriptedProvider::new();
    let (client, storage, clock) = expired_client(&provider);
    sibling_writes(&storage, |a| {
        a.lease = Some(Lease {
            holder: "killed".into(),
            until: NOW + 130,
        })
    });
    // Time passes on the device while this client waits; the dead holder never comes back.
    let ticking = clock.clone();
    let ticker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        ticking.advance(60);
    });
    provider.answer_tokens(json!({"refresh_token": "rt-2"}));
    let token = client.access_token().await.unwrap();
    ticker.join().unwrap();
    assert_eq!(token.expose(), "at-2");
    assert_eq!(provider.count("POST /token"), 1);
    let stored = decode_sessions(&storage.load(SESSION_KEY).unwrap().unwrap(), OWNER).unwrap();
    let account = stored.active().unwrap();
    assert_eq!(
        account.lease, None,
        "the lease was released with the result"
    );
    assert_eq!(account.tokens.refresh_token().unwrap().expose(), "rt-2");
}

#[tokio::test]
async fn a_caller_with_an_unexpired_token_does_not_wait_for_a_sibling() {
    let provider = ScriptedProvider::new();
    let tokens = session_tokens(&provider, "u1");
    let (client, storage) = client_with_session(&provider, Some(&tokens));
    // Within the refresh margin (30 s) but not expired.
    let client = Arc::try_unwrap(client)
        .ok()
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(NOW + 40)));
    sibling_writes(&storage, |a| {
        a.lease = Some(Lease {
            holder: "sibling".into(),
            until: NOW + 1000,
        })
    });
    assert_eq!(client.access_token().await.unwrap().expose(), "at-1");
    assert_eq!(provider.count("POST /token"), 0);
}

#[tokio::test]
async fn invalid_grant_because_a_sibling_rotated_adopts_its_token() {
    let provider = ScriptedProvider::new();
    let (client, storage, _) = expired_client(&provider);
    // While this client's request is on the wire, a sibling that took over refreshes first.
    let sibling_store = storage.clone();
    provider.on_token_request(move || sibling_writes(&sibling_store, sibling_refreshed("rt-sib")));
    provider.answer(Answer::Json(400, json!({"error": "invalid_grant"})));
    let token = client.access_token().await.unwrap();
    assert_eq!(token.expose(), "at-sibling");
    assert_eq!(client.state(), SessionState::SignedIn);
    assert_eq!(
        stored_tokens(&storage)
            .unwrap()
            .refresh_token()
            .unwrap()
            .expose(),
        "rt-sib"
    );
}

#[tokio::test]
async fn a_result_that_lost_to_a_sibling_is_revoked_and_the_sibling_token_stands() {
    let provider = ScriptedProvider::new();
    let (client, storage, _) = expired_client(&provider);
    let sibling_store = storage.clone();
    provider.on_token_request(move || sibling_writes(&sibling_store, sibling_refreshed("rt-sib")));
    provider.answer_tokens(json!({"refresh_token": "rt-mine"}));
    let token = client.access_token().await.unwrap();
    assert_eq!(token.expose(), "at-sibling");
    assert_eq!(provider.count("POST /revoke rt-mine"), 1);
    assert_eq!(
        stored_tokens(&storage)
            .unwrap()
            .refresh_token()
            .unwrap()
            .expose(),
        "rt-sib"
    );
}

#[tokio::test]
async fn a_sibling_sign_out_during_a_refresh_orphans_its_result() {
    let provider = ScriptedProvider::new();
    let (client, storage, _) = expired_client(&provider);
    let sibling_store = storage.clone();
    provider.on_token_request(move || sibling_store.delete(SESSION_KEY).unwrap());
    provider.answer_tokens(json!({"refresh_token": "rt-mine"}));
    let e = client.access_token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSignedIn);
    assert_eq!(provider.count("POST /revoke rt-mine"), 1);
    assert!(storage.load(SESSION_KEY).unwrap().is_none());
    assert_eq!(client.state(), SessionState::SignedOut);
}

/// A sibling's refresh of one API's token (RFC 8707): a new revision with a rotated refresh
/// token and that API's token, the session's own token unchanged.
fn sibling_refreshed_api(account: &mut crate::session::accounts::Account) {
    account.revision += 1;
    account.lease = None;
    account.tokens.refresh_token = Some(crate::SecretString::new("rt-sibling"));
    account.tokens.resource_tokens.insert(
        API.into(),
        crate::session::ResourceToken {
            access_token: crate::SecretString::new("at-api-sibling"),
            expires_at: Some(NOW + 3600),
            lifetime: Some(3600),
            scopes: None,
        },
    );
}

const API: &str = "https://api.example";

#[tokio::test]
async fn a_sibling_refresh_of_an_api_is_adopted_for_that_api_and_built_on_for_the_session() {
    let provider = ScriptedProvider::new();
    let (client, storage, _) = expired_client(&provider);
    client.restore().unwrap();
    sibling_writes(&storage, sibling_refreshed_api);

    // The API's token: the sibling's, with no request.
    assert_eq!(
        client.access_token_for(API).await.unwrap().expose(),
        "at-api-sibling"
    );
    assert_eq!(provider.count("POST /token"), 0);

    // The session's own token (expired): the sibling did not renew it, so this client refreshes
    // it, from the sibling's rotated refresh token, keeping the API's token.
    provider.answer_tokens(json!({"refresh_token": "rt-3"}));
    assert_eq!(client.access_token().await.unwrap().expose(), "at-2");
    assert_eq!(provider.count("POST /token"), 1);
    let stored = stored_tokens(&storage).unwrap();
    assert_eq!(stored.refresh_token().unwrap().expose(), "rt-3");
    assert_eq!(
        stored.resource_token(API).unwrap().access_token().expose(),
        "at-api-sibling"
    );
}

#[tokio::test]
async fn a_caller_for_the_session_waits_behind_an_api_refresh_then_refreshes_its_own() {
    let provider = ScriptedProvider::new();
    let (client, _, _) = expired_client(&provider);
    provider.answer_tokens(json!({"access_token": "at-api", "refresh_token": "rt-2"}));
    provider.answer_tokens(json!({"access_token": "at-own", "refresh_token": "rt-3"}));
    let (api, own) = tokio::join!(client.access_token_for(API), client.access_token());
    assert_eq!(api.unwrap().expose(), "at-api");
    assert_eq!(own.unwrap().expose(), "at-own");
    assert_eq!(provider.count("POST /token"), 2);
    assert_eq!(
        client.tokens().unwrap().refresh_token().unwrap().expose(),
        "rt-3"
    );
}
