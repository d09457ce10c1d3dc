//! `keyfob login --dpop`, `keyfob call` with proofs, `status --json` with the token type, and
//! pushed authorization requests when the provider requires them.

mod common;

use common::{Sandbox, browser_command, login_args, session_args, testkit};
use keyfob_testkit::Policy;
use serde_json::Value;

/// The browser of these tests (see `common`), started by `keyfob login --browser`.
#[test]
#[ignore = "the browser of the login tests, started by `keyfob login --browser`"]
fn browser_helper() {
    common::browser_helper_main();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_session_from_login_to_logout() {
    let kit = testkit().await;
    kit.set_policy(Policy {
        dpop_nonce: true,
        ..Policy::default()
    });
    let sandbox = Sandbox::new("dpop");
    let browser = browser_command();
    let login = sandbox
        .run(&[&login_args(&kit, &browser)[..], &["--dpop"]].concat())
        .await;
    login.expect_ok();
    assert!(
        login.stderr.contains("bound to the store's DPoP key"),
        "{}",
        login.stderr
    );
    let key_files: Vec<_> = sandbox
        .tree()
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "dpop-key"))
        .collect();
    assert_eq!(key_files.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(sandbox.home.join(&key_files[0]))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let status = sandbox
        .run(&[&session_args(&kit, "status")[..], &["--json"]].concat())
        .await;
    status.expect_ok();
    let report: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(report["token_type"], "DPoP");
    let text = sandbox.run(&session_args(&kit, "status")).await;
    assert!(text.stdout.contains("(DPoP)"), "{}", text.stdout);

    // `call` sends the proof (and retries once for server A's nonce).
    let crm = format!("{}/api/customers", kit.urls().crm);
    let call = sandbox
        .run(&[&session_args(&kit, "call")[..], &[crm.as_str()]].concat())
        .await;
    call.expect_ok();
    let body: Value = serde_json::from_str(&call.stdout).unwrap();
    assert_eq!(body["server"], "crm");
    let stats = kit.stats();
    assert_eq!((stats.crm, stats.crm_rejected), (2, 1));
    assert_eq!(stats.dpop_proofs_rejected, 0);
    // The token alone does not work.
    let token = sandbox.run(&session_args(&kit, "token")).await;
    token.expect_ok();
    let bearer = common::call_api_bearer(&crm, token.stdout.trim()).await;
    assert_eq!(bearer, 401);

    sandbox
        .run(&session_args(&kit, "refresh"))
        .await
        .expect_ok();
    sandbox.run(&session_args(&kit, "logout")).await.expect_ok();
    // Each run is a new process that knows no nonce yet: one use_dpop_nonce, then the revocation.
    assert_eq!(kit.stats().revoke, 2);
    assert!(
        !sandbox
            .tree()
            .iter()
            .any(|p| p.file_name().is_some_and(|n| n == "dpop-key")),
        "the key goes with the last account"
    );
    // No proof, key or token in anything printed.
    let secrets = sandbox.secrets();
    for run in [&login, &status, &text, &call] {
        for out in [&run.stdout, &run.stderr] {
            assert_eq!(common::secret_leak(out, &secrets), None, "{}", run.label);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_session_without_its_key_needs_a_new_login() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("dpop-lost");
    let browser = browser_command();
    sandbox
        .run(&[&login_args(&kit, &browser)[..], &["--dpop"]].concat())
        .await
        .expect_ok();
    let key = sandbox
        .tree()
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "dpop-key"))
        .unwrap();
    std::fs::remove_file(sandbox.home.join(key)).unwrap();
    let crm = format!("{}/api/customers", kit.urls().crm);
    let call = sandbox
        .run(&[&session_args(&kit, "call")[..], &[crm.as_str()]].concat())
        .await;
    // A storage error (KeyInvalidated), exit 1 as for every lost stored session.
    assert_eq!(call.expect_code(1).expect_error_kind(), "Storage");
    assert!(call.stderr.contains("sign in again"), "{}", call.stderr);
    let status = sandbox
        .run(&[&session_args(&kit, "status")[..], &["--json"]].concat())
        .await;
    let report: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(report["signed_in"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_requires_par_gets_pushed_requests_and_bearer_without_dpop() {
    let kit = testkit().await;
    kit.set_policy(Policy {
        require_par: true,
        ..Policy::default()
    });
    let sandbox = Sandbox::without_secrets_file("par");
    let browser = browser_command();
    sandbox.run(&login_args(&kit, &browser)).await.expect_ok();
    assert_eq!(kit.stats().par, 1);
    let status = sandbox
        .run(&[&session_args(&kit, "status")[..], &["--json"]].concat())
        .await;
    let report: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(report["token_type"], "Bearer");
}
