//! One session for several processes and several accounts, against the testkit (which rotates
//! refresh tokens and revokes the whole family when a spent one comes back, as Okta, Auth0 and
//! Keycloak do).
//!
//! Each `Client` over the same store stands for a process of its own (an app and its widget,
//! share extension or background worker): they share nothing but the store.

mod common;

use std::sync::{Arc, Mutex};

use common::{Env, start};
use keyfob::{
    Client, ErrorKind, FileStorage, LoginOptions, MemoryStorage, SecureStorage, SessionEvent,
    SessionObserver, SessionState,
};

/// The testkit's default user, and a second one signed in with `login_hint=grace`.
const ADA: &str = "user-123";
const GRACE: &str = "grace";

fn on(env: &Env, storage: &Arc<dyn SecureStorage>) -> Client {
    env.client().with_storage(storage.clone())
}

fn memory() -> Arc<dyn SecureStorage> {
    Arc::new(MemoryStorage::new())
}

async fn login_as(env: &Env, client: &Client, user: &str) {
    let options = LoginOptions {
        login_hint: Some(user.to_string()),
        ..LoginOptions::default()
    };
    let url = client.begin_login_with(&options).await.unwrap();
    let callback = env.browse(&url).await;
    let claims = client.handle_redirect(&callback).await.unwrap();
    assert_eq!(claims.subject, user);
}

#[derive(Default)]
struct Events(Mutex<Vec<SessionEvent>>);

impl SessionObserver for Events {
    fn on_session_event(&self, event: SessionEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Events {
    fn take(&self) -> Vec<SessionEvent> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn a_sibling_refresh_is_adopted_without_a_request() {
    let env = start().await;
    let store = memory();
    let (app, widget) = (on(&env, &store), on(&env, &store));
    env.login(&app).await.unwrap();
    assert_eq!(widget.restore().unwrap(), SessionState::SignedIn);
    env.expire();

    let token = app.access_token().await.unwrap();
    assert_eq!(env.kit.stats().refresh_token, 1);
    // The widget's memory still holds the old, expired token: it reads the store before
    // refreshing, finds the app's newer one, and uses it.
    assert_eq!(widget.access_token().await.unwrap(), token);
    assert_eq!(env.kit.stats().refresh_token, 1);
    // And the rotated-out refresh token was never sent again: the family is alive.
    env.expire();
    widget.access_token().await.unwrap();
    app.access_token().await.unwrap();
    assert_eq!(env.kit.stats().refresh_token, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_processes_on_an_expired_token_make_one_refresh() {
    let env = start().await;
    let root = std::env::temp_dir().join(format!("keyfob-shared-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let file_store = || -> Arc<dyn SecureStorage> {
        Arc::new(FileStorage::new(&root, env.kit.issuer(), env.kit.client_id()).unwrap())
    };
    env.login(&on(&env, &file_store())).await.unwrap();
    env.expire();

    // Each with its own store object on the same directory, as separate processes would be.
    let processes: Vec<Client> = (0..8).map(|_| on(&env, &file_store())).collect();
    let tokens = futures_util::future::join_all(processes.iter().map(|p| p.access_token())).await;
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| t.unwrap().expose().to_string())
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "all got the same token"
    );
    assert_eq!(env.kit.stats().refresh_token, 1);

    // The session is still usable afterwards, by any of them.
    env.expire();
    processes[3].access_token().await.unwrap();
    assert_eq!(env.kit.stats().refresh_token, 2);
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test]
async fn a_sibling_logout_signs_this_process_out() {
    let env = start().await;
    let store = memory();
    let (app, worker) = (on(&env, &store), on(&env, &store));
    env.login(&app).await.unwrap();
    assert_eq!(worker.restore().unwrap(), SessionState::SignedIn);
    let events = Arc::new(Events::default());
    worker.add_observer(events.clone());

    app.logout().await.unwrap();
    assert_eq!(worker.reload().unwrap(), SessionState::SignedOut);
    assert_eq!(events.take(), vec![SessionEvent::SignedOut]);
    let e = worker.access_token().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSignedIn);

    // Without a reload, the next refresh finds out.
    env.login(&app).await.unwrap();
    worker.reload().unwrap();
    app.logout().await.unwrap();
    env.expire();
    let e = worker.access_token().await.unwrap_err();
    assert!(e.requires_sign_in(), "{e:?}");
    assert_eq!(env.kit.stats().refresh_token, 0);
    assert_eq!(worker.state(), SessionState::SignedOut);
}

#[tokio::test]
async fn a_sibling_signing_in_as_another_user_is_seen() {
    let env = start().await;
    let store = memory();
    let (app, extension) = (on(&env, &store), on(&env, &store));
    login_as(&env, &app, ADA).await;
    extension.restore().unwrap();
    let events = Arc::new(Events::default());
    extension.add_observer(events.clone());

    // One account (the default): Grace's sign-in replaces Ada's session everywhere.
    login_as(&env, &app, GRACE).await;
    assert_eq!(extension.reload().unwrap(), SessionState::SignedIn);
    assert_eq!(extension.claims().unwrap().subject, GRACE);
    assert_eq!(extension.accounts().len(), 1);
    assert_eq!(events.take(), vec![SessionEvent::AccountSwitched]);
}

#[tokio::test]
async fn several_accounts_sign_in_switch_refresh_and_sign_out_one_by_one() {
    let env = start().await;
    let store = memory();
    let client = env
        .client_with(env.config().multiple_accounts(true))
        .with_storage(store.clone());
    login_as(&env, &client, ADA).await;
    login_as(&env, &client, GRACE).await;

    let accounts = client.accounts();
    let active: Vec<_> = accounts.iter().filter(|a| a.active).collect();
    assert_eq!(accounts.len(), 2);
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].claims.subject, GRACE);
    assert_eq!(
        client.userinfo().await.unwrap()["sub"],
        serde_json::json!(GRACE)
    );

    client.switch_account(ADA).unwrap();
    assert_eq!(client.claims().unwrap().subject, ADA);
    assert_eq!(
        client.userinfo().await.unwrap()["sub"],
        serde_json::json!(ADA)
    );
    let e = client.switch_account("nobody").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSignedIn);

    // Each account refreshes on its own, whichever is active.
    let ada = client.refresh().await.unwrap();
    let grace = client.refresh_account(GRACE).await.unwrap();
    assert_eq!(env.kit.stats().refresh_token, 2);
    assert_ne!(ada.access_token(), grace.access_token());
    assert_eq!(
        client.access_token_for_account(GRACE).await.unwrap(),
        *grace.access_token()
    );

    // Signing one out leaves the other signed in, and its grant alive.
    let revocations = env.kit.stats().revoke;
    client.logout_account(GRACE).await.unwrap();
    assert_eq!(env.kit.stats().revoke, revocations + 1);
    assert_eq!(client.accounts().len(), 1);
    assert_eq!(client.state(), SessionState::SignedIn);
    env.expire();
    assert_eq!(
        client.access_token().await.unwrap(),
        client.tokens().unwrap().access_token().clone()
    );
    let e = client.access_token_for_account(GRACE).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSignedIn);

    // The accounts survive a restart.
    let restarted = env
        .client_with(env.config().multiple_accounts(true))
        .with_storage(store.clone());
    assert_eq!(restarted.restore().unwrap(), SessionState::SignedIn);
    assert_eq!(restarted.claims().unwrap().subject, ADA);
}

#[tokio::test]
async fn with_one_account_a_new_user_replaces_and_revokes_the_previous_one() {
    let env = start().await;
    let client = env.client().with_storage(memory());
    login_as(&env, &client, ADA).await;
    let ada_refresh_token = client.tokens().unwrap().refresh_token().unwrap().clone();
    login_as(&env, &client, GRACE).await;
    assert_eq!(client.accounts().len(), 1);
    assert!(
        !env.provider_accepts_refresh_token(ada_refresh_token.expose())
            .await,
        "the replaced user's grant was revoked"
    );
    // The same user signing in again replaces their own session without revoking anything.
    let revocations = env.kit.stats().revoke;
    login_as(&env, &client, GRACE).await;
    assert_eq!(env.kit.stats().revoke, revocations);
}
