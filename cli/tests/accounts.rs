//! Several accounts from the command line: `keyfob accounts`, `keyfob use`, and `--account` on
//! `token`, `refresh`, `call` and `logout`, with their exit codes.

mod common;

use common::{Run, Sandbox, browser_command, login_args, session_args, testkit};
use keyfob_testkit::Testkit;
use serde_json::Value;

/// The testkit's default user, and a second one (`--login-hint grace`).
const ADA: &str = "user-123";
const GRACE: &str = "grace";

/// The browser of these tests (see `common`), started by `keyfob login --browser`.
#[test]
#[ignore = "the browser of the login tests, started by `keyfob login --browser`"]
fn browser_helper() {
    common::browser_helper_main();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_switch_use_and_sign_out_accounts() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("accounts");
    let browser = browser_command();
    let run = |command: &'static str, extra: Vec<String>| session(&sandbox, &kit, command, extra);

    // No account yet: listed as none (exit 0), `use` has nothing to switch to (exit 3).
    let none = run("accounts", strings(&["--json"])).await;
    none.expect_ok();
    assert_eq!(listed(&none), []);
    let nobody = run("use", strings(&[ADA])).await;
    assert_eq!(nobody.expect_code(3).expect_error_kind(), "NotSignedIn");

    sandbox.run(&login_args(&kit, &browser)).await.expect_ok();
    sandbox
        .run(&[&login_args(&kit, &browser)[..], &["--login-hint", GRACE]].concat())
        .await
        .expect_ok();
    let both = run("accounts", strings(&["--json"])).await;
    both.expect_ok();
    assert_eq!(
        listed(&both),
        [(GRACE.to_owned(), true), (ADA.to_owned(), false)]
    );
    let text = run("accounts", vec![]).await;
    text.expect_ok();
    assert!(
        text.stdout
            .contains(&format!("* {GRACE} <grace@company.com> (sub {GRACE})"))
    );

    // Tokens of either account, by name; the active one by default.
    let grace = run("token", vec![]).await;
    grace.expect_ok();
    let ada = run("token", strings(&["--account", ADA])).await;
    ada.expect_ok();
    assert_ne!(grace.stdout, ada.stdout);
    let crm = format!("{}/api/customers", kit.urls().crm);
    run("call", strings(&["--account", ADA, &crm]))
        .await
        .expect_ok();
    let unknown = run("token", strings(&["--account", "nobody"])).await;
    assert_eq!(unknown.expect_code(3).expect_error_kind(), "NotSignedIn");
    let before = kit.stats().refresh_token;
    run("refresh", strings(&["--account", ADA]))
        .await
        .expect_ok();
    assert_eq!(kit.stats().refresh_token, before + 1);

    // Switch; an unknown user cannot be switched to.
    let switched = run("use", strings(&[ADA])).await;
    switched.expect_ok();
    assert!(
        switched.stdout.starts_with("Now using"),
        "{}",
        switched.stdout
    );
    assert_eq!(
        listed(&run("accounts", strings(&["--json"])).await),
        [(GRACE.to_owned(), false), (ADA.to_owned(), true)]
    );
    assert_eq!(
        run("use", strings(&["nobody"]))
            .await
            .expect_code(3)
            .expect_error_kind(),
        "NotSignedIn"
    );

    // Sign one out: the other stays, and works.
    run("logout", strings(&["--account", GRACE]))
        .await
        .expect_ok();
    assert_eq!(kit.stats().revoke, 1);
    assert_eq!(
        listed(&run("accounts", strings(&["--json"])).await),
        [(ADA.to_owned(), true)]
    );
    run("token", vec![]).await.expect_ok();
    // Signing out of an account that is not signed in does nothing, successfully.
    run("logout", strings(&["--account", GRACE]))
        .await
        .expect_ok();
    assert_eq!(kit.stats().revoke, 1);
}

/// `keyfob COMMAND --issuer … --client-id … EXTRA…` in `sandbox`.
async fn session(sandbox: &Sandbox, kit: &Testkit, command: &str, extra: Vec<String>) -> Run {
    let mut args = session_args(kit, command);
    args.extend(extra.iter().map(String::as_str));
    sandbox.run(&args).await
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// The accounts `keyfob accounts --json` printed: each `sub`, and whether it is active.
fn listed(run: &Run) -> Vec<(String, bool)> {
    let json: Value = serde_json::from_str(&run.stdout).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|a| (a["sub"].as_str().unwrap().to_owned(), a["active"] == true))
        .collect()
}
