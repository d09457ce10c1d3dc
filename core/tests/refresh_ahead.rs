//! Short access tokens against the testkit, on the app's own runtime (issue 21): the refresh
//! margin fits the token, a due token is served at once while the app's executor refreshes it,
//! and a minimum lifetime the provider cannot give is refused without a request.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::start_with;
use keyfob::{ErrorKind, SessionEvent, SessionObserver};
use keyfob_testkit::{Faults, Options};
use tokio::sync::mpsc;

/// Forwards every session event to the test.
struct Events(mpsc::UnboundedSender<SessionEvent>);

impl SessionObserver for Events {
    fn on_session_event(&self, event: SessionEvent) {
        let _ = self.0.send(event);
    }
}

fn ten_second_tokens() -> Options {
    Options {
        access_token_ttl: 10,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_token_is_served_at_once_while_tokio_refreshes_it() {
    let env = start_with(ten_second_tokens()).await;
    let client = env.client().with_background_refresh(Arc::new(|task| {
        tokio::spawn(task);
    }));
    env.login(&client).await.unwrap();
    let (events, mut heard) = mpsc::unbounded_channel();
    client.add_observer(Arc::new(Events(events)));
    let first = client.access_token().await.unwrap();

    // Four seconds on, the 10 s token is still fresh (the margin is 5 s, not 30 s).
    env.clock.advance(4);
    assert_eq!(client.access_token().await.unwrap(), first);
    assert_eq!(env.kit.stats().refresh_token, 0);

    // Six seconds on, it is due: callers get it at once — the refresh is held up at the
    // provider, so a caller that waited for it would get another token — and one refresh runs.
    env.clock.advance(2);
    env.kit
        .set_faults(Faults::endpoint("/token", |f| f.delay_ms = Some(500)));
    for _ in 0..100 {
        assert_eq!(client.access_token().await.unwrap(), first);
    }
    let refreshed = tokio::time::timeout(Duration::from_secs(30), heard.recv()).await;
    assert_eq!(refreshed.unwrap(), Some(SessionEvent::Refreshed));
    assert_eq!(env.kit.stats().refresh_token, 1);
    let second = client.cached_access_token().expect("a fresh token");
    assert_ne!(second, first);
    assert_eq!(client.tokens().unwrap().lifetime(), Some(10));
}

#[tokio::test]
async fn a_min_ttl_beyond_the_tokens_lifetime_is_refused_without_a_request() {
    let env = start_with(ten_second_tokens()).await;
    let client = env.client();
    env.login(&client).await.unwrap();
    let requests = env.kit.stats().token;
    let e = client
        .access_token_valid_for(Duration::from_secs(20))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MinTtlExceedsLifetime);
    assert_eq!(env.kit.stats().token, requests);

    // Asking for most of the lifetime once the token has aged: one refresh, a token that lasts.
    env.clock.advance(3);
    let lasting = client
        .access_token_valid_for(Duration::from_secs(8))
        .await
        .unwrap();
    assert_eq!(env.kit.stats().refresh_token, 1);
    assert_eq!(client.tokens().unwrap().access_token(), &lasting);
}
