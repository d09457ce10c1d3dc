//! Unit tests of the refresh story (refresh.rs), one branch each, against a scripted provider.
use std::sync::Arc;

use serde_json::json;

use super::Client;
use crate::error::ErrorKind;
use crate::http::TransportErrorKind;
use crate::secret::SecretString;
use crate::session::SessionState;
use crate::session::{SessionEvent, Tokens};
use crate::test_support::{
    Answer, RecordingObserver, ScriptedProvider, client_with_session, session_tokens, stored_tokens,
};

/// A signed-in client of a scripted provider, with an observer.
fn signed_in() -> (
    Arc<ScriptedProvider>,
    Arc<Client>,
    Arc<crate::storage::MemoryStorage>,
    Arc<RecordingObserver>,
) {
    let provider = ScriptedProvider::new();
    let tokens = session_tokens(&provider, "u1");
    let (client, storage) = client_with_session(&provider, Some(&tokens));
    let observer = Arc::new(RecordingObserver::default());
    client.add_observer(observer.clone());
    (provider, client, storage, observer)
}

fn refresh_token(tokens: &Tokens) -> Option<&str> {
    tokens.refresh_token().map(SecretString::expose)
}

#[tokio::test]
async fn a_rotated_refresh_token_is_saved_before_it_is_returned() {
    let (provider, client, storage, observer) = signed_in();
    provider.answer_tokens(json!({"refresh_token": "rt-2"}));
    let tokens = client.refresh().await.unwrap();
    assert_eq!(tokens.access_token().expose(), "at-2");
    assert_eq!(refresh_token(&tokens), Some("rt-2"));
    let stored = stored_tokens(&storage).unwrap();
    assert_eq!(refresh_token(&stored), Some("rt-2"));
    assert_eq!(stored.access_token().expose(), "at-2");
    assert_eq!(observer.events(), vec![SessionEvent::Refreshed]);
    assert_eq!(provider.count("POST /token refresh_token"), 1);
}

#[tokio::test]
async fn without_rotation_the_old_refresh_token_is_kept() {
    let (provider, client, storage, _) = signed_in();
    provider.answer_tokens(json!({}));
    let tokens = client.refresh().await.unwrap();
    assert_eq!(refresh_token(&tokens), Some("rt-1"));
    assert_eq!(
        refresh_token(&stored_tokens(&storage).unwrap()),
        Some("rt-1")
    );
}

#[tokio::test]
async fn no_refresh_token_means_sign_in_again_without_a_request() {
    let provider = ScriptedProvider::new();
    let mut tokens = session_tokens(&provider, "u1");
    tokens.refresh_token = None;
    let (client, _) = client_with_session(&provider, Some(&tokens));
    let e = client.refresh().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
    assert_eq!(provider.count("POST /token"), 0);
}

#[tokio::test]
async fn invalid_grant_ends_the_session() {
    let (provider, client, storage, observer) = signed_in();
    provider.answer(Answer::Json(400, json!({"error": "invalid_grant"})));
    let e = client.refresh().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
    assert!(e.requires_sign_in());
    assert_eq!(client.state(), SessionState::NeedsReLogin);
    assert!(stored_tokens(&storage).is_none());
    assert_eq!(observer.events(), vec![SessionEvent::NeedsReLogin]);
}

#[tokio::test]
async fn logout_after_the_session_ended_is_signed_out() {
    // Found by the stored_state fuzz target: the app's sign-out must not leave NeedsReLogin.
    let (provider, client, _storage, _observer) = signed_in();
    provider.answer(Answer::Json(400, json!({"error": "invalid_grant"})));
    client.refresh().await.unwrap_err();
    assert_eq!(client.state(), SessionState::NeedsReLogin);
    let outcome = client.logout().await.unwrap();
    assert!(!outcome.refresh_token_revoked);
    assert_eq!(client.state(), SessionState::SignedOut);
}

#[tokio::test]
async fn server_errors_and_timeouts_keep_the_session() {
    let (provider, client, storage, observer) = signed_in();
    let before = stored_tokens(&storage).unwrap();
    provider.answer(Answer::Json(
        503,
        json!({"error": "temporarily_unavailable"}),
    ));
    provider.answer(Answer::Fail(TransportErrorKind::Timeout));
    provider.answer(Answer::Json(400, json!({"error": "invalid_request"})));
    let expected = [
        ErrorKind::HttpStatus,
        ErrorKind::Timeout,
        ErrorKind::Provider,
    ];
    for kind in expected {
        let e = client.refresh().await.unwrap_err();
        assert_eq!(e.kind(), kind);
        assert_eq!(e.is_retryable(), kind != ErrorKind::Provider, "{e:?}");
        assert!(!e.requires_sign_in());
        assert_eq!(client.state(), SessionState::SignedIn);
        assert_eq!(stored_tokens(&storage).unwrap(), before);
    }
    assert!(observer.events().is_empty());
}

#[tokio::test]
async fn an_unusable_answer_keeps_its_rotated_refresh_token() {
    let (provider, client, storage, _) = signed_in();
    provider.answer_tokens(json!({"token_type": "mac", "refresh_token": "rt-2"}));
    let e = client.refresh().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    let stored = stored_tokens(&storage).unwrap();
    assert_eq!(refresh_token(&stored), Some("rt-2"));
    // The access token the provider did not replace usably stays the current one.
    assert_eq!(stored.access_token().expose(), "at-1");
    // The next refresh uses the kept token.
    provider.answer_tokens(json!({"refresh_token": "rt-3"}));
    client.refresh().await.unwrap();
    assert_eq!(
        refresh_token(&stored_tokens(&storage).unwrap()),
        Some("rt-3")
    );
}

#[tokio::test]
async fn callers_that_waited_share_the_refresh_and_its_failure() {
    let (provider, client, _, _) = signed_in();
    provider.answer_tokens(json!({"refresh_token": "rt-2"}));
    let (a, b) = tokio::join!(client.refresh(), client.refresh());
    assert_eq!(a.unwrap().access_token().expose(), "at-2");
    assert_eq!(b.unwrap().access_token().expose(), "at-2");
    assert_eq!(provider.count("POST /token"), 1);

    // A refresh that fails but changes the session (it kept a rotated token): the waiter
    // gets the same error, not a second request.
    provider.answer_tokens(json!({"access_token": null, "refresh_token": "rt-3"}));
    let (a, b) = tokio::join!(client.refresh(), client.refresh());
    assert_eq!(a.unwrap_err().kind(), ErrorKind::InvalidResponse);
    assert_eq!(b.unwrap_err().kind(), ErrorKind::InvalidResponse);
    assert_eq!(provider.count("POST /token"), 2);
}

#[tokio::test]
async fn a_valid_refreshed_id_token_replaces_the_claims() {
    let (provider, client, storage, _) = signed_in();
    let id_token = provider.id_token("u1", json!({"email": "new@example.com"}));
    provider.answer_tokens(json!({"id_token": id_token}));
    let tokens = client.refresh().await.unwrap();
    assert_eq!(tokens.id_token().expose(), id_token);
    assert_eq!(tokens.claims().email.as_deref(), Some("new@example.com"));
    assert_eq!(
        stored_tokens(&storage).unwrap().id_token().expose(),
        id_token
    );
}

#[tokio::test]
async fn an_invalid_refreshed_id_token_ends_the_session_and_revokes_its_grant() {
    let (provider, client, storage, observer) = signed_in();
    let other_user = provider.id_token("u2", json!({}));
    provider.answer_tokens(json!({"id_token": other_user, "refresh_token": "rt-2"}));
    let e = client.refresh().await.unwrap_err();
    assert_eq!(
        e.id_token_check(),
        Some(crate::IdTokenCheck::SubjectChanged)
    );
    assert_eq!(client.state(), SessionState::NeedsReLogin);
    assert!(stored_tokens(&storage).is_none());
    assert_eq!(provider.count("POST /revoke rt-2"), 1);
    assert_eq!(observer.events(), vec![SessionEvent::NeedsReLogin]);
}

#[tokio::test]
async fn unreachable_keys_keep_the_previous_id_token_with_the_new_tokens() {
    let (provider, client, storage, _) = signed_in();
    let before = stored_tokens(&storage).unwrap();
    provider.make_jwks_unreachable();
    let new_kid = provider
        .signer
        .sign(json!({"kid": "rotated"}), &json!({"sub": "u1"}));
    provider.answer_tokens(json!({"id_token": new_kid, "refresh_token": "rt-2"}));
    let tokens = client.refresh().await.unwrap();
    assert_eq!(tokens.id_token(), before.id_token());
    assert_eq!(refresh_token(&tokens), Some("rt-2"));
    assert_eq!(stored_tokens(&storage).unwrap(), tokens);
}

#[tokio::test]
async fn a_refresh_that_races_a_logout_revokes_its_grant() {
    let (provider, client, storage, _) = signed_in();
    let racing = Arc::downgrade(&client);
    provider.on_token_request(move || {
        let client = racing.upgrade().unwrap();
        let (ended, deleted) = client.store.sign_out(None);
        assert!(ended.is_some() && deleted.is_ok());
    });
    provider.answer_tokens(json!({"refresh_token": "rt-2"}));
    let e = client.refresh().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSignedIn);
    assert_eq!(provider.count("POST /revoke rt-2"), 1);
    assert!(stored_tokens(&storage).is_none());
    assert_eq!(client.state(), SessionState::SignedOut);
}

#[tokio::test]
async fn a_refresh_that_races_a_new_sign_in_answers_with_the_new_session() {
    let (provider, client, storage, _) = signed_in();
    let newer = session_tokens(&provider, "u2");
    let racing = Arc::downgrade(&client);
    let signed_in_meanwhile = newer.clone();
    provider.on_token_request(move || {
        let client = racing.upgrade().unwrap();
        client.store.sign_in(signed_in_meanwhile, false).unwrap();
    });
    provider.answer_tokens(json!({"refresh_token": "rt-2"}));
    let tokens = client.refresh().await.unwrap();
    assert_eq!(tokens, newer);
    assert_eq!(provider.count("POST /revoke rt-2"), 1);
    assert_eq!(stored_tokens(&storage).unwrap(), newer);

    // invalid_grant for the old session after a new sign-in: the new session stands.
    let racing = Arc::downgrade(&client);
    let newest = session_tokens(&provider, "u3");
    let replacement = newest.clone();
    provider.on_token_request(move || {
        let client = racing.upgrade().unwrap();
        client.store.sign_in(replacement, false).unwrap();
    });
    provider.answer(Answer::Json(400, json!({"error": "invalid_grant"})));
    assert_eq!(client.refresh().await.unwrap(), newest);
    assert_eq!(client.state(), SessionState::SignedIn);
    assert_eq!(stored_tokens(&storage).unwrap(), newest);
}

#[tokio::test]
async fn a_fresh_token_is_served_from_memory_and_an_expiring_one_is_refreshed() {
    let (provider, client, _, _) = signed_in();
    // `at-1` expires at NOW + 60, beyond the 30 s margin: no request.
    assert_eq!(client.access_token().await.unwrap().expose(), "at-1");
    assert_eq!(client.cached_access_token().unwrap().expose(), "at-1");
    assert_eq!(provider.count("POST /token"), 0);
    // Within the margin, the refresh runs.
    let clock = crate::clock::ManualClock::new(crate::test_support::NOW + 31);
    let client = Arc::try_unwrap(client)
        .ok()
        .unwrap()
        .with_clock(Arc::new(clock));
    assert!(client.cached_access_token().is_none());
    provider.answer_tokens(json!({}));
    assert_eq!(client.access_token().await.unwrap().expose(), "at-2");
    assert_eq!(provider.count("POST /token"), 1);
}
