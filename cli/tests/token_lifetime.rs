//! `keyfob token` against a provider that issues access tokens for 10 seconds (issue 21): the
//! refresh margin fits the token (half its lifetime, not the configured 30 s, which would make
//! every call refresh), and `--min-ttl` asks for a token that lasts.

mod common;

use std::time::{Duration, Instant};

use common::{Run, Sandbox, browser_command, login_args, session_args};
use keyfob_testkit::{Options, Testkit};

/// The browser of these tests (see `common`), started by `keyfob login --browser`.
#[test]
#[ignore = "the browser of the login tests, started by `keyfob login --browser`"]
fn browser_helper() {
    common::browser_helper_main();
}

/// `keyfob token EXTRA…` in `sandbox`.
async fn token(sandbox: &Sandbox, kit: &Testkit, extra: &[&str]) -> Run {
    let mut args = session_args(kit, "token");
    args.extend(extra);
    sandbox.run(&args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_token_serves_for_five_seconds_and_min_ttl_beyond_it_fails() {
    let kit = Testkit::start(Options {
        access_token_ttl: 10,
        ..Options::default()
    })
    .await
    .expect("the testkit starts");
    let sandbox = Sandbox::without_secrets_file("token-lifetime");
    sandbox
        .run(&login_args(&kit, &browser_command()))
        .await
        .expect_ok();
    let signed_in = Instant::now();

    // Right after sign-in (the token has 10 s left, less than the 30 s margin): no refresh.
    let first = token(&sandbox, &kit, &[]).await;
    first.expect_ok();
    let second = token(&sandbox, &kit, &[]).await;
    second.expect_ok();
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(
        kit.stats().refresh_token,
        0,
        "refresh grants right after sign-in"
    );

    // A token that must outlive the provider's lifetime: a typed error, and no request.
    let requests = kit.stats().token;
    let too_long = token(&sandbox, &kit, &["--min-ttl", "20"]).await;
    assert_eq!(
        too_long.expect_code(1).expect_error_kind(),
        "MinTtlExceedsLifetime"
    );
    assert_eq!(
        kit.stats().token,
        requests,
        "no request for an unreachable --min-ttl"
    );

    // Six seconds after sign-in the token is due (5 s are left at most): one refresh.
    let due = Duration::from_secs(6).saturating_sub(signed_in.elapsed());
    tokio::time::sleep(due).await;
    let third = token(&sandbox, &kit, &[]).await;
    third.expect_ok();
    assert_ne!(third.stdout, first.stdout);
    assert_eq!(
        kit.stats().refresh_token,
        1,
        "refresh grants once the token is due"
    );

    // A token fresh from that refresh: asking for a few seconds of it needs no request.
    let lasting = token(&sandbox, &kit, &["--min-ttl", "4"]).await;
    lasting.expect_ok();
    assert_eq!(lasting.stdout, third.stdout);
    assert_eq!(kit.stats().refresh_token, 1);
}
