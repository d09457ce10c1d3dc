//! A cold start — a new `keyfob` process, as an app launched after the OS killed it — with an
//! expired access token makes one request, the refresh: the provider's metadata (discovery and
//! keys) comes from the store, where the login left it. Measured with the testkit's request
//! counters, as issue 15 describes it (three round trips before it, every time).

mod common;

use std::time::Duration;

use common::{Sandbox, browser_command, login_args, session_args, testkit};
use keyfob_testkit::{Faults, Stats, Testkit};
use serde_json::json;

/// The browser of these tests (see `common`), started by `keyfob login --browser`.
#[test]
#[ignore = "the browser of the login tests, started by `keyfob login --browser`"]
fn browser_helper() {
    common::browser_helper_main();
}

/// Signs in with an access token that lives 1 s, the metadata served with `cache_control`
/// (and kept for at least `min_age` seconds), and waits until the token has expired.
async fn signed_in_with_an_expired_token(
    kit: &Testkit,
    sandbox: &Sandbox,
    cache_control: Option<&str>,
    min_age: &str,
) {
    let caching = cache_control.map_or_else(Faults::default, Faults::metadata_cache_control);
    kit.set_faults(Faults::token_response(json!({"expires_in": 1})).and(caching.clone()));
    let browser = browser_command();
    let login = [
        &login_args(kit, &browser)[..],
        &["--metadata-min-age", min_age],
    ]
    .concat();
    sandbox.run(&login).await.expect_ok();
    kit.set_faults(caching);
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// `keyfob token` in a new process; returns what it cost the provider.
async fn token_in_a_new_process(kit: &Testkit, sandbox: &Sandbox, min_age: &str) -> Stats {
    kit.reset_stats();
    let args = [
        &session_args(kit, "token")[..],
        &["--metadata-min-age", min_age],
    ]
    .concat();
    let run = sandbox.run(&args).await;
    run.expect_ok();
    assert!(run.stdout.trim().len() > 20, "{:?}", run.stdout);
    kit.stats()
}

/// Whether the store holds the provider's metadata.
fn metadata_stored(sandbox: &Sandbox) -> bool {
    sandbox
        .tree()
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == "metadata"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_makes_one_request_for_an_expired_token_and_none_for_a_fresh_one() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("cold-start");
    signed_in_with_an_expired_token(&kit, &sandbox, None, "60").await;
    assert!(metadata_stored(&sandbox));

    let expired = token_in_a_new_process(&kit, &sandbox, "60").await;
    assert_eq!(
        (
            expired.discovery,
            expired.jwks,
            expired.token,
            expired.refresh_token
        ),
        (0, 0, 1, 1),
        "{expired:?}"
    );
    // The refreshed access token lives 300 s: the next process needs no request at all.
    let fresh = token_in_a_new_process(&kit, &sandbox, "60").await;
    assert_eq!(fresh, Stats::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_max_age_0_the_stale_metadata_is_revalidated_beside_the_refresh_and_answered_304() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("cold-start-max-age-0");
    // Stale one second after it was fetched (the shortest minimum age).
    signed_in_with_an_expired_token(&kit, &sandbox, Some("max-age=0"), "1").await;
    assert!(metadata_stored(&sandbox));

    let s = token_in_a_new_process(&kit, &sandbox, "1").await;
    assert_eq!((s.token, s.refresh_token), (1, 1), "{s:?}");
    assert_eq!(
        (
            s.discovery,
            s.discovery_conditional,
            s.discovery_not_modified
        ),
        (1, 1, 1),
        "{s:?}"
    );
    assert_eq!(
        (s.jwks, s.jwks_conditional, s.jwks_not_modified),
        (1, 1, 1),
        "{s:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_store_nothing_is_kept_and_a_new_process_fetches_the_metadata_again() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("cold-start-no-store");
    signed_in_with_an_expired_token(&kit, &sandbox, Some("no-store"), "60").await;
    assert!(!metadata_stored(&sandbox));

    let s = token_in_a_new_process(&kit, &sandbox, "60").await;
    assert_eq!(
        (s.discovery, s.jwks, s.token, s.refresh_token),
        (1, 1, 1, 1),
        "{s:?}"
    );
    assert_eq!((s.discovery_conditional, s.jwks_conditional), (0, 0));
    assert!(!metadata_stored(&sandbox));
}
