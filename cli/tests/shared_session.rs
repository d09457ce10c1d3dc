//! Several `keyfob` processes on one store at once, against the testkit, which rotates refresh
//! tokens and revokes the whole family when a spent one comes back (as Okta, Auth0 and Keycloak
//! do): one refresh for all, even when it is slow, and even when the process making it is killed.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Sandbox, browser_command, login_args, session_args, testkit};
use keyfob_testkit::{Faults, Testkit};
use serde_json::json;

const PROCESSES: usize = 8;

/// Signs in with an access token that lives 1 s, and waits until it has expired, so that the
/// next `keyfob token` must refresh.
async fn signed_in_with_an_expired_token(kit: &Testkit, sandbox: &Sandbox) {
    kit.set_faults(Faults::token_response(json!({"expires_in": 1})));
    sandbox
        .run(&login_args(kit, &browser_command()))
        .await
        .expect_ok();
    kit.clear_faults();
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// `keyfob token` as a child process (stdout and stderr piped).
fn token_process(sandbox: &Sandbox, kit: &Testkit, extra: &[&str]) -> Child {
    let args: Vec<&str> = session_args(kit, "token")
        .into_iter()
        .chain(extra.iter().copied())
        .collect();
    let mut command: Command = sandbox.command(&args);
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyfob starts")
}

/// Starts `n` `keyfob token` at once and returns each one's (exit code, stdout, stderr).
async fn tokens_at_once(sandbox: &Sandbox, kit: &Testkit, n: usize) -> Vec<(i32, String, String)> {
    let children: Vec<Child> = (0..n).map(|_| token_process(sandbox, kit, &[])).collect();
    tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().unwrap();
                (
                    out.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .collect()
    })
    .await
    .unwrap()
}

/// Every process exited 0 and printed the same token; returns it.
fn one_token_for_all(results: &[(i32, String, String)]) -> String {
    for (code, _, stderr) in results {
        assert_eq!(*code, 0, "{stderr}");
    }
    let first = &results[0].1;
    assert!(first.len() > 20, "{first:?}");
    assert!(
        results.iter().all(|(_, token, _)| token == first),
        "{results:?}"
    );
    first.clone()
}

/// The browser of these tests (see `common`), started by `keyfob login --browser`.
#[test]
#[ignore = "the browser of the login tests, started by `keyfob login --browser`"]
fn browser_helper() {
    common::browser_helper_main();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_on_an_expired_token_make_one_refresh() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("eight");
    signed_in_with_an_expired_token(&kit, &sandbox).await;
    let before = kit.stats().refresh_token;

    let token = one_token_for_all(&tokens_at_once(&sandbox, &kit, PROCESSES).await);
    assert_eq!(kit.stats().refresh_token, before + 1);
    // The session is still usable afterwards: the next refresh works (no family revoked).
    sandbox
        .run(&session_args(&kit, "refresh"))
        .await
        .expect_ok();
    let after = sandbox.run(&session_args(&kit, "token")).await;
    after.expect_ok();
    assert_ne!(after.stdout, token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_refresh_is_waited_for_not_repeated() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("slow");
    signed_in_with_an_expired_token(&kit, &sandbox).await;
    let before = kit.stats().refresh_token;
    // The token endpoint takes 2 s: the other processes find the lease and wait.
    kit.set_faults(Faults::endpoint("/token", |f| f.delay_ms = Some(2000)));

    one_token_for_all(&tokens_at_once(&sandbox, &kit, PROCESSES).await);
    assert_eq!(kit.stats().refresh_token, before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_it_holds_the_lease_blocks_the_others_only_until_it_lapses() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("killed");
    signed_in_with_an_expired_token(&kit, &sandbox).await;
    let sent = kit.stats().refresh_token;

    // The first process takes the lease and sends its refresh request, which the testkit holds
    // and then answers 503 without processing the grant: the process is killed while it waits,
    // with its refresh token unspent. (The provider's metadata comes from the store: the token
    // request is the process's only one.) Its lease lasts 2 x 5 s + 5 s.
    kit.set_faults(Faults::endpoint("/token", |f| {
        f.delay_ms = Some(60_000);
        f.status = Some(503);
        f.times = Some(1);
    }));
    let mut first = token_process(&sandbox, &kit, &["--http-timeout", "5"]);
    let started = Instant::now();
    while !(sandbox_holds_a_lease(&sandbox) && kit.stats().refresh_token == sent + 1) {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first process ended before it sent its refresh request"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no lease was taken, or no refresh request sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().unwrap();
    let status = first.wait().unwrap();
    assert!(!status.success(), "killed, not finished");
    kit.clear_faults();
    // Counted from here: the held request was counted when it arrived.
    let before = kit.stats().refresh_token;

    let token = one_token_for_all(&tokens_at_once(&sandbox, &kit, PROCESSES).await);
    assert_eq!(kit.stats().refresh_token, before + 1);
    let again = sandbox.run(&session_args(&kit, "token")).await;
    again.expect_ok();
    assert_eq!(again.stdout, token);
}

/// Whether the stored record shows a refresh lease on an account.
fn sandbox_holds_a_lease(sandbox: &Sandbox) -> bool {
    let record = sandbox.stored_record();
    record["accounts"]
        .as_array()
        .is_some_and(|accounts| accounts.iter().any(|a| !a["lease"].is_null()))
}
