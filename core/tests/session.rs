//! Session lifecycle: persistence, restore, single-flight refresh, rotation, storage faults,
//! clock offset, needs-re-login, observation, logout and userinfo.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::{Env, FaultyStorage, start};
use keyfob::{
    Client, ErrorKind, MemoryStorage, SecureStorage, SessionEvent, SessionObserver, SessionState,
    StorageErrorKind,
};
use keyfob_testkit::{Faults, Options};
use serde_json::json;

fn client_on(env: &Env, storage: Arc<dyn SecureStorage>) -> Client {
    env.client().with_storage(storage)
}

fn total_requests(env: &Env) -> u64 {
    let s = env.kit.stats();
    s.discovery + s.jwks + s.authorize + s.token + s.userinfo + s.revoke + s.end_session
}

#[tokio::test]
async fn a_new_client_restores_the_session_without_network() {
    let env = start().await;
    let storage: Arc<dyn SecureStorage> = Arc::new(MemoryStorage::new());
    let first = client_on(&env, storage.clone());
    env.login(&first).await.unwrap();
    let token = first.access_token().await.unwrap();
    drop(first);

    let before = total_requests(&env);
    let second = client_on(&env, storage);
    assert_eq!(second.restore().unwrap(), SessionState::SignedIn);
    assert_eq!(second.access_token().await.unwrap(), token);
    assert_eq!(second.cached_access_token(), Some(token));
    assert_eq!(second.claims().unwrap().subject, "user-123");
    assert_eq!(total_requests(&env), before, "restoring made no request");
}

#[tokio::test]
async fn file_storage_survives_a_restart() {
    let env = start().await;
    let root = std::env::temp_dir().join(format!("keyfob-session-test-{}", std::process::id()));
    let store = || -> Arc<dyn SecureStorage> {
        Arc::new(keyfob::FileStorage::new(&root, env.kit.issuer(), env.kit.client_id()).unwrap())
    };
    let first = client_on(&env, store());
    env.login(&first).await.unwrap();
    let token = first.access_token().await.unwrap();
    let second = client_on(&env, store());
    assert_eq!(second.access_token().await.unwrap(), token);
    second.logout().await.unwrap();
    assert_eq!(client_on(&env, store()).state(), SessionState::SignedOut);
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test]
async fn a_login_completes_after_the_app_process_was_killed() {
    let env = start().await;
    let storage: Arc<dyn SecureStorage> = Arc::new(MemoryStorage::new());
    let before_kill = client_on(&env, storage.clone());
    let url = before_kill.begin_login().await.unwrap();
    assert_eq!(before_kill.state(), SessionState::LoginPending);
    drop(before_kill);
    let callback = env.browse(&url).await;

    let after_restart = client_on(&env, storage.clone());
    assert_eq!(after_restart.state(), SessionState::LoginPending);
    after_restart.handle_redirect(&callback).await.unwrap();
    assert_eq!(after_restart.state(), SessionState::SignedIn);
    // Single use, across restarts too.
    let again = client_on(&env, storage);
    assert_eq!(
        again.handle_redirect(&callback).await.unwrap_err().kind(),
        ErrorKind::NoPendingLogin
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_share_one_refresh() {
    let env = start().await;
    let client = Arc::new(env.client());
    env.login(&client).await.unwrap();
    let old = client.access_token().await.unwrap();
    env.expire();

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let c = client.clone();
        tasks.spawn(async move { c.access_token().await });
    }
    let mut tokens = Vec::new();
    while let Some(r) = tasks.join_next().await {
        tokens.push(r.unwrap().unwrap());
    }
    assert_eq!(
        env.kit.stats().refresh_token,
        1,
        "exactly one refresh request"
    );
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "everyone got the same new token"
    );
    assert_ne!(tokens[0], old);
}

#[tokio::test]
async fn a_rotated_refresh_token_replaces_the_old_one() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    let old = client.tokens().unwrap().refresh_token().unwrap().clone();
    client.refresh().await.unwrap();
    let new = client.tokens().unwrap().refresh_token().unwrap().clone();
    assert_ne!(old, new);
    // The provider rejects the old one (and, by reuse detection, revokes the family) ...
    assert!(!env.provider_accepts_refresh_token(old.expose()).await);
    // ... so the client, holding only the rotated token, now needs a new login.
    let e = client.refresh().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
}

#[tokio::test]
async fn a_failed_write_during_refresh_loses_nothing() {
    let env = start().await;
    let storage = Arc::new(FaultyStorage::default());
    let client = client_on(&env, storage.clone());
    env.login(&client).await.unwrap();
    let stored_before = storage.inner.load("session").unwrap().unwrap();
    env.expire();

    storage.fail_writes.store(true, Ordering::SeqCst);
    let e = client.access_token().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.storage_kind()),
        (ErrorKind::Storage, Some(StorageErrorKind::Failed))
    );
    assert_eq!(
        storage.inner.load("session").unwrap().unwrap(),
        stored_before,
        "storage still holds the previous session"
    );
    assert_eq!(
        client.cached_access_token(),
        None,
        "unsaved tokens are not handed out"
    );

    // Writes work again: the rotated tokens, kept in memory, are saved and returned; no second refresh.
    storage.fail_writes.store(false, Ordering::SeqCst);
    let token = client.access_token().await.unwrap();
    assert_eq!(env.kit.stats().refresh_token, 1);
    let restored = client_on(&env, storage.clone());
    assert_eq!(restored.access_token().await.unwrap(), token);
    assert!(
        env.provider_accepts_refresh_token(
            restored.tokens().unwrap().refresh_token().unwrap().expose()
        )
        .await
    );
}

#[tokio::test]
async fn unavailable_storage_at_start_is_not_a_sign_out() {
    let env = start().await;
    let storage = Arc::new(FaultyStorage::default());
    env.login(&client_on(&env, storage.clone())).await.unwrap();

    storage.unavailable.store(true, Ordering::SeqCst);
    let client = client_on(&env, storage.clone());
    assert_eq!(client.state(), SessionState::StorageUnavailable);
    let e = client.access_token().await.unwrap_err();
    assert_eq!(
        (e.kind(), e.storage_kind(), e.is_retryable()),
        (
            ErrorKind::Storage,
            Some(StorageErrorKind::Unavailable),
            true
        )
    );
    storage.unavailable.store(false, Ordering::SeqCst);
    assert_eq!(client.state(), SessionState::SignedIn);
    client.access_token().await.unwrap();
}

#[tokio::test]
async fn corrupt_or_undecryptable_storage_gives_an_error_then_signed_out() {
    let env = start().await;
    let storage = Arc::new(FaultyStorage::default());
    storage
        .inner
        .save("session", b"{\"format\":1,\"access_token\":")
        .unwrap();
    let client = client_on(&env, storage.clone());
    let e = client.restore().unwrap_err();
    assert_eq!(e.storage_kind(), Some(StorageErrorKind::Corrupt));
    assert_eq!(client.state(), SessionState::SignedOut);
    env.login(&client).await.unwrap();

    storage.key_invalidated.store(true, Ordering::SeqCst);
    let client = client_on(&env, storage);
    assert_eq!(
        client.restore().unwrap_err().storage_kind(),
        Some(StorageErrorKind::KeyInvalidated)
    );
    assert_eq!(client.state(), SessionState::NeedsReLogin);
}

#[tokio::test]
async fn a_device_clock_ten_minutes_off_still_signs_in_and_refreshes_on_time() {
    for offset in [-600, 600] {
        let env = start().await;
        env.clock.advance(offset);
        let client = env.client();
        env.login(&client)
            .await
            .unwrap_or_else(|e| panic!("clock off by {offset}: {e}"));
        let ttl = Options::default().access_token_ttl as i64;
        let margin = client.config().refresh_margin().as_secs() as i64;
        env.clock.advance(ttl - margin - 5);
        client.access_token().await.unwrap();
        assert_eq!(env.kit.stats().refresh_token, 0, "still fresh");
        env.clock.advance(10);
        client.access_token().await.unwrap();
        assert_eq!(
            env.kit.stats().refresh_token,
            1,
            "refreshed once the margin is reached"
        );
    }
}

#[tokio::test]
async fn invalid_grant_needs_a_new_login_and_clears_the_tokens() {
    let env = start().await;
    let storage = Arc::new(MemoryStorage::new());
    let client = client_on(&env, storage.clone());
    env.login(&client).await.unwrap();
    // The refresh token is revoked behind the app's back.
    let rt = client.tokens().unwrap().refresh_token().unwrap().clone();
    let revoke = format!("{}/revoke", env.kit.issuer());
    assert_eq!(
        env.post_form(
            &revoke,
            &[("token", rt.expose()), ("client_id", env.kit.client_id())]
        )
        .await
        .status,
        200
    );
    env.expire();

    let e = client.access_token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
    assert_eq!(client.state(), SessionState::NeedsReLogin);
    assert!(client.tokens().is_none());
    assert_eq!(storage.load("session").unwrap(), None);
    // No retry loop: the next call fails at once, without a request.
    let before = env.kit.stats().token;
    assert_eq!(
        client.access_token().await.unwrap_err().kind(),
        ErrorKind::ReLoginRequired
    );
    assert_eq!(env.kit.stats().token, before);
    // Signing in again recovers.
    env.login(&client).await.unwrap();
    assert_eq!(client.state(), SessionState::SignedIn);
}

#[tokio::test]
async fn server_errors_on_refresh_keep_the_session() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    env.expire();
    env.kit.set_faults(Faults::retry_after("/token", 503, 120));
    let e = client.access_token().await.unwrap_err();
    assert!(e.is_retryable(), "{e:?}");
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(120)));
    assert_eq!(client.state(), SessionState::SignedIn);
    env.kit.clear_faults();
    client.access_token().await.unwrap();
}

#[derive(Default)]
struct Recorder(Mutex<Vec<SessionEvent>>);

impl SessionObserver for Recorder {
    fn on_session_event(&self, event: SessionEvent) {
        self.0.lock().unwrap().push(event);
    }
}

#[tokio::test]
async fn observers_see_every_event_in_order() {
    let env = start().await;
    let client = env.client();
    let recorder = Arc::new(Recorder::default());
    client.add_observer(recorder.clone());
    env.login(&client).await.unwrap();
    client.refresh().await.unwrap();
    client.logout().await.unwrap();
    env.login(&client).await.unwrap();
    env.kit.set_faults(Faults::oauth_error(
        "/token",
        json!({"error": "invalid_grant"}),
    ));
    client.refresh().await.unwrap_err();
    use SessionEvent::*;
    assert_eq!(
        *recorder.0.lock().unwrap(),
        vec![
            LoginStarted,
            SignedIn,
            Refreshed,
            SignedOut,
            LoginStarted,
            SignedIn,
            NeedsReLogin
        ]
    );
}

#[tokio::test]
async fn logout_revokes_for_real() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    let rt = client.tokens().unwrap().refresh_token().unwrap().clone();
    let outcome = client.logout().await.unwrap();
    assert!(outcome.revocation_error.is_none());
    assert!(outcome.refresh_token_revoked);
    assert!(!env.provider_accepts_refresh_token(rt.expose()).await);
    assert_eq!(client.state(), SessionState::SignedOut);
}

#[tokio::test]
async fn logout_clears_locally_even_when_revocation_fails() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    env.kit.set_faults(Faults::status("/revoke", 500));
    let outcome = client.logout().await.unwrap();
    assert!(!outcome.refresh_token_revoked);
    assert_eq!(
        outcome.revocation_error.unwrap().kind(),
        ErrorKind::HttpStatus
    );
    assert_eq!(client.state(), SessionState::SignedOut);
}

#[tokio::test]
async fn userinfo_checks_the_subject() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    let info = client.userinfo().await.unwrap();
    assert_eq!(info["email"], "ada@company.com");
    env.kit.set_faults(Faults::endpoint("/userinfo", |f| {
        f.status = Some(200);
        f.body = Some(r#"{"sub":"someone-else","email":"eve@evil.example"}"#.into());
        f.content_type = Some("application/json".into());
    }));
    assert_eq!(
        client.userinfo().await.unwrap_err().kind(),
        ErrorKind::InvalidResponse
    );
}

#[tokio::test]
async fn logout_builds_an_end_session_url_with_state() {
    let env = start().await;
    let client = env.client_with(env.config().post_logout_redirect_uri("myapp://signed-out"));
    env.login(&client).await.unwrap();
    let outcome = client.logout().await.unwrap();
    let url = outcome.end_session_url.unwrap();
    let state = outcome.end_session_state.unwrap();
    assert_eq!(
        common::param(url.expose(), "post_logout_redirect_uri").as_deref(),
        Some("myapp://signed-out")
    );
    assert!(common::param(url.expose(), "id_token_hint").is_some());
    // The browser visits it; the provider sends the user back with the same state.
    let back = env.browse(url.expose()).await;
    assert!(back.starts_with("myapp://signed-out"), "{back}");
    assert_eq!(
        common::param(&back, "state").as_deref(),
        Some(state.expose())
    );
}

#[tokio::test]
async fn a_failing_read_is_retried_not_taken_as_signed_out() {
    let env = start().await;
    let storage = Arc::new(FaultyStorage::default());
    env.login(&client_on(&env, storage.clone())).await.unwrap();
    storage.fail_reads.store(true, Ordering::SeqCst);
    let client = client_on(&env, storage.clone());
    assert_eq!(client.state(), SessionState::StorageUnavailable);
    assert_eq!(
        client.access_token().await.unwrap_err().storage_kind(),
        Some(StorageErrorKind::Failed)
    );
    storage.fail_reads.store(false, Ordering::SeqCst);
    assert_eq!(client.state(), SessionState::SignedIn);
}

#[tokio::test]
async fn a_corrupt_session_is_reported_even_if_state_was_asked_first() {
    let env = start().await;
    let storage = Arc::new(MemoryStorage::new());
    storage.save("session", b"not json").unwrap();
    let client = client_on(&env, storage);
    assert_eq!(client.state(), SessionState::SignedOut);
    let e = client.access_token().await.unwrap_err();
    assert_eq!(e.storage_kind(), Some(StorageErrorKind::Corrupt));
    assert_eq!(
        client.access_token().await.unwrap_err().kind(),
        ErrorKind::NotSignedIn
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_delivered_twice_is_redeemed_once() {
    for _ in 0..20 {
        let env = start().await;
        let client = Arc::new(env.client());
        let url = client.begin_login().await.unwrap();
        let callback = env.browse(&url).await;
        let (a, b) = {
            let (c1, c2) = (client.clone(), client.clone());
            let (u1, u2) = (callback.clone(), callback.clone());
            tokio::join!(
                tokio::spawn(async move { c1.handle_redirect(&u1).await }),
                tokio::spawn(async move { c2.handle_redirect(&u2).await })
            )
        };
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.is_ok() != b.is_ok(), "exactly one succeeds");
        let failed = a.err().or(b.err()).unwrap();
        assert_eq!(failed.kind(), ErrorKind::NoPendingLogin);
        assert_eq!(
            env.kit.stats().authorization_code,
            1,
            "the code went to the provider once"
        );
    }
}

/// A transport that holds back refresh responses until `release` is notified: the provider has
/// rotated the token, the client has not seen it yet.
struct HeldRefreshResponses {
    inner: Arc<keyfob::ReqwestTransport>,
    release: Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl keyfob::HttpTransport for HeldRefreshResponses {
    async fn send(
        &self,
        request: keyfob::HttpRequest,
    ) -> Result<keyfob::HttpResponse, keyfob::TransportError> {
        let is_refresh =
            String::from_utf8_lossy(&request.body).contains("grant_type=refresh_token");
        let response = self.inner.send(request).await;
        if is_refresh {
            self.release.notified().await;
        }
        response
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_in_flight_cannot_undo_a_logout() {
    let env = start().await;
    let storage = Arc::new(MemoryStorage::new());
    let config = env.config().build().unwrap();
    let release = Arc::new(tokio::sync::Notify::new());
    let transport = Arc::new(HeldRefreshResponses {
        inner: env.transport.clone(),
        release: release.clone(),
    });
    let client = Arc::new(
        Client::new(config, transport)
            .with_clock(env.clock.clone())
            .with_storage(storage.clone()),
    );
    env.login(&client).await.unwrap();
    env.expire();
    let refreshing = {
        let c = client.clone();
        tokio::spawn(async move { c.access_token().await })
    };
    // Wait until the provider has rotated the refresh token, then sign out; only then does the
    // refresh response reach the client, however long the logout took.
    while env.kit.stats().refresh_token == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let logout = tokio::time::timeout(std::time::Duration::from_secs(60), client.logout());
    logout
        .await
        .expect("the logout does not wait for the refresh")
        .unwrap();
    release.notify_one();
    let result = refreshing.await.unwrap();
    assert_eq!(result.unwrap_err().kind(), ErrorKind::NotSignedIn);
    assert_eq!(client.state(), SessionState::SignedOut);
    assert_eq!(
        storage.load("session").unwrap(),
        None,
        "the refresh did not write the session back"
    );
    assert_eq!(
        env.kit.stats().revoke,
        2,
        "the logout's revocation and the orphaned grant's"
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_survives_keys_that_cannot_be_fetched() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    // New signing key (the refreshed ID token names an unknown kid) and a JWKS endpoint that is down.
    env.kit.rotate_keys(false);
    env.kit
        .set_faults(Faults::status("/.well-known/jwks.json", 503));
    let before = client.tokens().unwrap();
    let after = client.refresh().await.unwrap();
    assert_ne!(after.refresh_token(), before.refresh_token());
    assert_eq!(
        after.id_token(),
        before.id_token(),
        "the unvalidated ID token is not used"
    );
    assert_eq!(client.state(), SessionState::SignedIn);
    assert!(
        env.provider_accepts_refresh_token(after.refresh_token().unwrap().expose())
            .await
    );
}

#[tokio::test]
async fn a_new_refresh_token_in_an_unusable_refresh_response_is_kept() {
    let env = start().await;
    let storage = Arc::new(MemoryStorage::new());
    let client = client_on(&env, storage.clone());
    env.login(&client).await.unwrap();
    let old = client.tokens().unwrap();
    // The provider rotates the refresh token, but its answer is unusable (`token_type` mac).
    env.kit
        .set_faults(Faults::token_response(json!({"token_type": "mac"})));
    let e = client.refresh().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    assert_eq!(env.kit.stats().refresh_token, 1);
    let kept = client.tokens().unwrap();
    assert_ne!(
        kept.refresh_token(),
        old.refresh_token(),
        "the new refresh token is kept"
    );
    assert_eq!(kept.access_token(), old.access_token());
    assert_eq!(kept.id_token(), old.id_token());
    // ... and saved: a new client on the same storage holds it too.
    let restarted = client_on(&env, storage);
    assert_eq!(
        restarted.tokens().unwrap().refresh_token(),
        kept.refresh_token()
    );
    // With the provider fixed, the next refresh uses it and succeeds (the old one would have
    // been refused as a reuse, revoking the whole family).
    env.kit.set_faults(Faults::default());
    let after = client.refresh().await.unwrap();
    assert_ne!(after.refresh_token(), kept.refresh_token());
    assert_eq!(client.state(), SessionState::SignedIn);
}

#[tokio::test]
async fn callers_waiting_on_an_unusable_refresh_share_its_error() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    env.expire();
    // Token responses that carry new tokens but are unusable.
    env.kit
        .set_faults(Faults::token_response(json!({"token_type": "mac"})));
    let (a, b, c) = tokio::join!(
        client.access_token(),
        client.access_token(),
        client.access_token()
    );
    // One refresh; every caller gets its error, none the expired access token.
    for result in [a, b, c] {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::InvalidResponse);
    }
    assert_eq!(env.kit.stats().refresh_token, 1);
    assert_eq!(client.cached_access_token(), None);
    // Fixed provider: the next call refreshes with the kept refresh token.
    env.kit.set_faults(Faults::default());
    client.access_token().await.unwrap();
    assert_eq!(env.kit.stats().refresh_token, 2);
}
