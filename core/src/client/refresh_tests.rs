//! Unit tests of the refresh story (refresh.rs) and of which token a caller gets
//! (access_token.rs), one branch each, against a scripted provider.
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::Client;
use crate::clock::ManualClock;
use crate::error::ErrorKind;
use crate::http::TransportErrorKind;
use crate::secret::SecretString;
use crate::session::SessionState;
use crate::session::{SessionEvent, Tokens};
use crate::test_support::{
    Answer, NOW, RecordingObserver, ScriptedProvider, client_with_session, config, session_tokens,
    stored_tokens, unshared_client,
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
    // Within the margin (and without a spawner), this caller runs the refresh.
    let clock = ManualClock::new(NOW + 31);
    let client = Arc::try_unwrap(client)
        .ok()
        .unwrap()
        .with_clock(Arc::new(clock));
    assert!(client.cached_access_token().is_none());
    provider.answer_tokens(json!({}));
    assert_eq!(client.access_token().await.unwrap().expose(), "at-2");
    assert_eq!(provider.count("POST /token"), 1);
}

/// A signed-in client at `now` whose token `at-1` was issued at [`NOW`] for `lifetime`
/// seconds (`None`: the stored session does not say; it expires at NOW + 60 then).
fn issued_for(
    lifetime: Option<i64>,
    now: i64,
) -> (
    Arc<ScriptedProvider>,
    Arc<Client>,
    Arc<crate::storage::MemoryStorage>,
) {
    let provider = ScriptedProvider::new();
    let tokens = Tokens {
        expires_at: Some(NOW + lifetime.unwrap_or(60)),
        lifetime,
        ..session_tokens(&provider, "u1")
    };
    let clock = Arc::new(ManualClock::new(now));
    let (client, storage) =
        unshared_client(&provider, Some(&tokens), clock, config().build().unwrap());
    (provider, Arc::new(client), storage)
}

#[tokio::test]
async fn a_ten_second_token_serves_for_five_seconds() {
    for (now, requests) in [(NOW, 0), (NOW + 4, 0), (NOW + 5, 1)] {
        let (provider, client, _) = issued_for(Some(10), now);
        client.restore().unwrap();
        assert_eq!(client.cached_access_token().is_some(), requests == 0);
        provider.answer_tokens(json!({"expires_in": 10}));
        client.access_token().await.unwrap();
        assert_eq!(
            provider.count("POST /token"),
            requests,
            "at NOW + {}",
            now - NOW
        );
    }
}

#[tokio::test]
async fn the_lifetime_is_learnt_from_each_token_response() {
    let (provider, client, storage) = issued_for(None, NOW);
    provider.answer_tokens(json!({"expires_in": 10}));
    let tokens = client.refresh().await.unwrap();
    assert_eq!(tokens.lifetime(), Some(10));
    assert_eq!(tokens.expires_at(), Some(NOW + 10));
    assert_eq!(stored_tokens(&storage).unwrap().lifetime(), Some(10));
    provider.answer_tokens(json!({"expires_in": null}));
    let tokens = client.refresh().await.unwrap();
    assert_eq!((tokens.lifetime(), tokens.expires_at()), (None, None));
}

#[tokio::test]
async fn a_min_ttl_beyond_the_known_lifetime_fails_without_a_request() {
    let (provider, client, _) = issued_for(Some(300), NOW);
    for min_ttl in [300, 301, 3600] {
        let e = client
            .access_token_valid_for(Duration::from_secs(min_ttl))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MinTtlExceedsLifetime, "{min_ttl}");
        assert!(!e.is_retryable() && !e.requires_sign_in());
    }
    let e = client
        .access_token_for_account_valid_for("u1", Duration::from_secs(300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MinTtlExceedsLifetime);
    assert_eq!(provider.count("POST /token"), 0);
    // Below the lifetime, the current token serves while it lasts that long.
    let token = client
        .access_token_valid_for(Duration::from_secs(299))
        .await
        .unwrap();
    assert_eq!(token.expose(), "at-1");
    assert_eq!(provider.count("POST /token"), 0);
}

#[tokio::test]
async fn a_token_that_does_not_last_min_ttl_is_refreshed_first() {
    // 100 s left of 300: fresh for a plain call, too short for a caller that needs 120 s
    // (or 100.5 s: a fraction of a second counts as a whole one).
    let (provider, client, _) = issued_for(Some(300), NOW + 200);
    assert_eq!(client.access_token().await.unwrap().expose(), "at-1");
    provider.answer_tokens(json!({}));
    let token = client
        .access_token_valid_for(Duration::from_millis(100_500))
        .await
        .unwrap();
    assert_eq!(token.expose(), "at-2");
    assert_eq!(provider.count("POST /token"), 1);
}

#[tokio::test]
async fn a_min_ttl_beyond_an_unknown_lifetime_costs_one_request_then_none() {
    let (provider, client, _) = issued_for(None, NOW);
    provider.answer_tokens(json!({"expires_in": 30}));
    let min_ttl = Duration::from_secs(100);
    let e = client.access_token_valid_for(min_ttl).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MinTtlExceedsLifetime);
    assert_eq!(provider.count("POST /token"), 1);
    // The refreshed token is kept, and its lifetime is known from now on.
    assert_eq!(client.tokens().unwrap().access_token().expose(), "at-2");
    let e = client.access_token_valid_for(min_ttl).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MinTtlExceedsLifetime);
    assert_eq!(provider.count("POST /token"), 1);
}

#[tokio::test]
async fn a_provider_issuing_expired_tokens_costs_one_request_per_call() {
    let (provider, client, _) = issued_for(Some(0), NOW);
    provider.answer_tokens(json!({"expires_in": 0}));
    assert_eq!(client.access_token().await.unwrap().expose(), "at-2");
    assert_eq!(provider.count("POST /token"), 1);
}
