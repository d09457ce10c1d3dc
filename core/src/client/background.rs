//! Refresh-ahead: the refresh that runs off the callers' path, on the app's executor.
//!
//! The core has no async runtime of its own, so it cannot start work that outlives a call. An
//! app that wants refresh-ahead to cost its callers nothing hands the client a [`Spawner`]
//! ([`Client::with_background_refresh`]): a closure over `tokio::spawn`, a Swift `Task`, a
//! Kotlin `CoroutineScope` (the Swift and Kotlin layers pass theirs). Without one, the first
//! caller that finds the token due runs the refresh itself, and the others are served the
//! current token meanwhile — the right thing for a short-lived process such as a CLI, which
//! would otherwise exit before a background refresh ended.
//!
//! Either way a token is refreshed ahead once: a refresh-ahead that fails (network down, a
//! busy provider, even `invalid_grant`) leaves the session as it was, the token serves until
//! it expires, and the caller that then finds it expired refreshes as usual, with the usual
//! outcomes. No storm of background requests while the provider is unreachable.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use super::Client;
use crate::sync::lock;

/// Keyfob's work for a [`Spawner`]: a future to drive to its end, concurrently with the caller
/// that caused it. It completes on any executor (the core never needs a specific runtime) and
/// never fails: what goes wrong inside is Keyfob's to handle.
#[must_use = "a background task does nothing unless it is run"]
pub struct BackgroundTask(Pin<Box<dyn Future<Output = ()> + Send + 'static>>);

impl BackgroundTask {
    pub(crate) fn new(work: impl Future<Output = ()> + Send + 'static) -> Self {
        BackgroundTask(Box::pin(work))
    }
}

impl Future for BackgroundTask {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl fmt::Debug for BackgroundTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackgroundTask")
    }
}

/// Runs Keyfob's [`BackgroundTask`]s on the app's executor.
///
/// `spawn` must return without waiting for the task: the caller that caused it is waiting for
/// its own answer meanwhile (a spawner that runs the task before returning works, but makes
/// that caller wait for the refresh). Dropping a task instead of running it is safe: that
/// refresh does not happen, and the token is refreshed when it expires.
///
/// Any `Fn(BackgroundTask)` closure is a spawner: `Arc::new(|task| { tokio::spawn(task); })`.
pub trait Spawner: Send + Sync {
    /// Starts `task` and returns.
    fn spawn(&self, task: BackgroundTask);
}

impl<F: Fn(BackgroundTask) + Send + Sync> Spawner for F {
    fn spawn(&self, task: BackgroundTask) {
        self(task)
    }
}

/// The spawner a client was given, with the client itself (weakly: a task holds the client
/// while it runs, the client never holds itself).
pub(super) struct Background {
    spawner: Arc<dyn Spawner>,
    client: Weak<Client>,
}

/// What [`Client::refresh_ahead`] did about a token due for a refresh.
pub(super) enum Ahead {
    /// The refresh runs on the spawner, or was already tried for this token: serve it now.
    Started,
    /// No spawner: the caller runs the refresh itself.
    RunHere,
}

impl Client {
    /// Runs refresh-ahead (see [`crate::ConfigBuilder::refresh_ahead`]) on `spawner`, the app's
    /// executor, so that no caller waits for a refresh while its token is valid. The last step
    /// of building a client: it returns the client shared, since a refresh running in the
    /// background holds it.
    ///
    /// ```no_run
    /// # fn build(client: keyfob::Client) -> std::sync::Arc<keyfob::Client> {
    /// client.with_background_refresh(std::sync::Arc::new(|task| {
    ///     tokio::spawn(task);
    /// }))
    /// # }
    /// ```
    pub fn with_background_refresh(mut self, spawner: Arc<dyn Spawner>) -> Arc<Client> {
        Arc::new_cyclic(|client| {
            self.background = Some(Background {
                spawner,
                client: client.clone(),
            });
            self
        })
    }

    /// Refresh-ahead of `subject`'s token of `revision`, which is due for a refresh but still
    /// serves: started once per token, on the spawner when there is one.
    pub(super) fn refresh_ahead(&self, subject: &str, revision: u64) -> Ahead {
        {
            let mut tried = lock(&self.refreshed_ahead);
            if tried.get(subject) == Some(&revision) {
                return Ahead::Started;
            }
            tried.insert(subject.to_string(), revision);
        }
        let Some((spawner, client)) = self
            .background
            .as_ref()
            .and_then(|b| Some((b.spawner.clone(), b.client.upgrade()?)))
        else {
            return Ahead::RunHere;
        };
        let subject = subject.to_string();
        spawner.spawn(BackgroundTask::new(async move {
            client.refresh_early(&subject, revision).await;
        }));
        Ahead::Started
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures_util::FutureExt as _;
    use serde_json::json;

    use super::*;
    use crate::clock::ManualClock;
    use crate::error::ErrorKind;
    use crate::http::TransportErrorKind;
    use crate::session::{SessionEvent, SessionState, Tokens};
    use crate::storage::MemoryStorage;
    use crate::test_support::{
        Answer, HeldTasks, NOW, RecordingObserver, ScriptedProvider, config, session_tokens,
        stored_tokens, unshared_client,
    };

    /// A signed-in client at NOW + 40, when its token `at-1` (expiring at NOW + 60, lifetime
    /// unknown: the 30 s margin applies) is due for a refresh but not expired.
    struct Due {
        provider: Arc<ScriptedProvider>,
        client: Arc<Client>,
        storage: Arc<MemoryStorage>,
        clock: Arc<ManualClock>,
        /// The spawner's tasks, run when the test says.
        tasks: Arc<HeldTasks>,
        observer: Arc<RecordingObserver>,
        /// What storage held at the start.
        before: Tokens,
    }

    impl Due {
        fn new(spawner: bool) -> Self {
            let provider = ScriptedProvider::new();
            let tokens = session_tokens(&provider, "u1");
            let clock = Arc::new(ManualClock::new(NOW + 40));
            let (client, storage) = unshared_client(
                &provider,
                Some(&tokens),
                clock.clone(),
                config().build().unwrap(),
            );
            let tasks = Arc::new(HeldTasks::default());
            let client = if spawner {
                client.with_background_refresh(tasks.clone())
            } else {
                Arc::new(client)
            };
            let observer = Arc::new(RecordingObserver::default());
            client.add_observer(observer.clone());
            let before = stored_tokens(&storage).unwrap();
            Due {
                provider,
                client,
                storage,
                clock,
                tasks,
                observer,
                before,
            }
        }

        /// One call for the access token, which must answer without waiting for anything.
        fn token_at_once(&self) -> String {
            let answer = self.client.access_token().now_or_never();
            let token = answer.expect("the caller waited").unwrap();
            token.expose().to_string()
        }

        fn token_requests(&self) -> usize {
            self.provider.count("POST /token")
        }
    }

    #[tokio::test]
    async fn a_due_token_is_served_at_once_to_1000_callers_and_refreshed_once_behind_them() {
        let due = Due::new(true);
        due.provider.answer_tokens(json!({"refresh_token": "rt-2"}));
        for _ in 0..1000 {
            assert_eq!(due.token_at_once(), "at-1");
        }
        assert_eq!(due.token_requests(), 0, "no caller waited for the network");
        assert!(due.client.cached_access_token().is_none(), "still due");
        assert_eq!(due.tasks.count(), 1, "one refresh for all");

        due.tasks.run_all().await;
        assert_eq!(due.token_requests(), 1);
        assert_eq!(due.client.cached_access_token().unwrap().expose(), "at-2");
        let stored = stored_tokens(&due.storage).unwrap();
        assert_eq!(stored.refresh_token().unwrap().expose(), "rt-2");
        assert_eq!(due.observer.events(), vec![SessionEvent::Refreshed]);
    }

    #[tokio::test]
    async fn a_failed_refresh_ahead_changes_nothing_until_the_token_expires() {
        let due = Due::new(true);
        due.provider
            .answer(Answer::Fail(TransportErrorKind::Timeout));
        assert_eq!(due.token_at_once(), "at-1");
        due.tasks.run_all().await;
        assert_eq!(due.token_requests(), 1);
        assert_eq!(stored_tokens(&due.storage).unwrap(), due.before);
        assert_eq!(due.client.state(), SessionState::SignedIn);
        assert!(due.observer.events().is_empty());

        // Tried once for this token: it serves, with no second attempt in the background.
        assert_eq!(due.token_at_once(), "at-1");
        assert_eq!(due.tasks.count(), 0);
        assert_eq!(due.token_requests(), 1);

        // Expired: the caller refreshes, and waits for it, as usual.
        due.clock.set(NOW + 60);
        due.provider.answer_tokens(json!({}));
        assert_eq!(due.client.access_token().await.unwrap().expose(), "at-2");
        assert_eq!(due.token_requests(), 2);
    }

    #[tokio::test]
    async fn a_refresh_token_rejected_ahead_of_expiry_ends_the_session_only_once_it_expires() {
        let due = Due::new(true);
        due.provider
            .answer(Answer::Json(400, json!({"error": "invalid_grant"})));
        assert_eq!(due.token_at_once(), "at-1");
        due.tasks.run_all().await;
        assert_eq!(due.client.state(), SessionState::SignedIn);
        assert_eq!(stored_tokens(&due.storage).unwrap(), due.before);
        assert_eq!(due.token_at_once(), "at-1");

        due.clock.set(NOW + 60);
        due.provider
            .answer(Answer::Json(400, json!({"error": "invalid_grant"})));
        let e = due.client.access_token().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
        assert_eq!(due.client.state(), SessionState::NeedsReLogin);
        assert_eq!(due.observer.events(), vec![SessionEvent::NeedsReLogin]);
    }

    #[tokio::test]
    async fn without_a_spawner_the_first_due_caller_refreshes_and_the_others_do_not_wait() {
        let due = Due::new(false);
        due.provider.answer_tokens(json!({}));
        // The scripted token endpoint yields once: the second caller arrives while the first
        // one's refresh is on the wire.
        let (first, second) = tokio::join!(due.client.access_token(), due.client.access_token());
        assert_eq!(first.unwrap().expose(), "at-2");
        assert_eq!(second.unwrap().expose(), "at-1");
        assert_eq!(due.token_requests(), 1);
    }

    #[tokio::test]
    async fn without_a_spawner_a_failed_refresh_ahead_still_serves_the_token() {
        let due = Due::new(false);
        due.provider.answer(Answer::Json(
            503,
            json!({"error": "temporarily_unavailable"}),
        ));
        assert_eq!(due.client.access_token().await.unwrap().expose(), "at-1");
        assert_eq!(stored_tokens(&due.storage).unwrap(), due.before);
        // Once per token: the next caller is served at once.
        assert_eq!(due.token_at_once(), "at-1");
        assert_eq!(due.token_requests(), 1);
    }

    #[tokio::test]
    async fn with_refresh_ahead_off_a_due_token_is_refreshed_while_the_caller_waits() {
        let provider = ScriptedProvider::new();
        let tokens = session_tokens(&provider, "u1");
        let clock = Arc::new(ManualClock::new(NOW + 40));
        let off = config().refresh_ahead(false).build().unwrap();
        let (client, _) = unshared_client(&provider, Some(&tokens), clock, off);
        let tasks = Arc::new(HeldTasks::default());
        let client = client.with_background_refresh(tasks.clone());
        provider.answer_tokens(json!({}));
        assert_eq!(client.access_token().await.unwrap().expose(), "at-2");
        assert_eq!(provider.count("POST /token"), 1);
        assert_eq!(tasks.count(), 0);
    }

    #[tokio::test]
    async fn a_background_refresh_keeps_its_client_alive_until_it_ends() {
        let due = Due::new(true);
        due.provider.answer_tokens(json!({"refresh_token": "rt-2"}));
        assert_eq!(due.token_at_once(), "at-1");
        let Due {
            client,
            tasks,
            storage,
            ..
        } = due;
        drop(client);
        tasks.run_all().await;
        let stored = stored_tokens(&storage).unwrap();
        assert_eq!(stored.refresh_token().unwrap().expose(), "rt-2");
    }
}
