//! `keyfob login` and the session commands, end to end: the real binary against a testkit
//! provider started in this process, with HOME and the XDG directories in a temporary sandbox.
//!
//! The "browser" is this test binary itself (see `common`): the ignored test `browser_helper`
//! GETs the authorization URL and follows the provider's redirect to the loopback callback,
//! after checking that the loopback listener answers other paths with 404. Nothing needs to be
//! installed, and no file is written outside the sandbox.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    KEYFOB, Run, Sandbox, browser_command, login_args, provider_accepts_refresh_token, secret_leak,
    session_args, session_secrets, testkit,
};
use keyfob_testkit::Faults;
use serde_json::{Value, json};
use url::Url;

/// The browser of these tests (see `common`), started by `keyfob login --browser`.
#[test]
#[ignore = "the browser of the login tests, started by `keyfob login --browser`"]
fn browser_helper() {
    common::browser_helper_main_with(true);
}

/// No output but `allowed` shows a token, a part of one, or JWT text.
fn assert_no_token_leaks(runs: &[Run], secrets: &[String], allowed: &[&str]) {
    for run in runs {
        for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            if stream == "stdout" && allowed.contains(&run.label.as_str()) {
                continue;
            }
            let leak = secret_leak(text, secrets);
            assert!(
                leak.is_none(),
                "{} in the {stream} of keyfob {}",
                leak.unwrap_or_default(),
                run.label
            );
        }
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// The developer's day: login through the browser, status, token, refresh, call, logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_status_token_refresh_call_logout() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("session");
    let browser = browser_command();
    let mut runs = Vec::new();
    let mut secrets = Vec::new();

    // Signed out: status says so (exit 0), token refuses (exit 3), nothing is created.
    let status = sandbox
        .run(&[&session_args(&kit, "status")[..], &["--json"]].concat())
        .await;
    status.expect_ok();
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["signed_in"], false);
    runs.push(status);
    let token = sandbox.run(&session_args(&kit, "token")).await;
    assert_eq!(token.expect_code(3).expect_error_kind(), "NotSignedIn");
    assert_eq!(token.stdout, "");
    runs.push(token);
    assert!(sandbox.tree().is_empty(), "{:?}", sandbox.tree());

    // Login.
    let login = sandbox.run(&login_args(&kit, &browser)).await;
    login.expect_ok();
    assert!(
        login
            .stdout
            .contains("Ada Lovelace <ada@company.com> (sub user-123)"),
        "{}",
        login.stdout
    );
    runs.push(login);
    let stats = kit.stats();
    assert_eq!((stats.authorize, stats.authorization_code), (1, 1));

    // What login created: the store under $XDG_STATE_HOME/keyfob, directories 0700, one
    // session file 0600, the provider's metadata (0600) and the store's empty writers' lock
    // file, nothing else (no pending login, no log, nothing in the working directory).
    let tree = sandbox.tree();
    let session_file = tree
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "session"))
        .expect("a session file")
        .clone();
    assert!(session_file.starts_with(".local/state/keyfob"), "{tree:?}");
    let files: Vec<_> = tree
        .iter()
        .filter(|p| sandbox.home.join(p).is_file())
        .collect();
    assert_eq!(files.len(), 3, "{tree:?}");
    let metadata = files
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "metadata"))
        .expect("the provider's metadata");
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(sandbox.home.join(metadata)).unwrap()).unwrap();
    assert_eq!(metadata["issuer"], kit.issuer());
    let lock = files
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == ".lock"))
        .expect("the writers' lock file");
    assert_eq!(std::fs::metadata(sandbox.home.join(lock)).unwrap().len(), 0);
    #[cfg(unix)]
    for path in &tree {
        let expected = if sandbox.home.join(path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(
            mode(&sandbox.home.join(path)),
            expected,
            "{}",
            path.display()
        );
    }
    secrets.extend(session_secrets(&sandbox.stored_session()));

    // status --json, by flags; the human status by environment variables.
    let status = sandbox
        .run(&[&session_args(&kit, "status")[..], &["--json"]].concat())
        .await;
    status.expect_ok();
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["signed_in"], true);
    assert_eq!(json["sub"], "user-123");
    assert_eq!(json["issuer"], kit.issuer());
    assert!(
        json["expires_at"].as_i64().unwrap() > 1_600_000_000,
        "{json}"
    );
    let scopes: Vec<&str> = json["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        scopes.contains(&"openid") && scopes.contains(&"offline_access"),
        "{json}"
    );
    runs.push(status);
    let mut by_env = sandbox.command(&["status"]);
    by_env
        .env("KEYFOB_ISSUER", kit.issuer())
        .env("KEYFOB_CLIENT_ID", kit.client_id());
    let status = sandbox.run_command(by_env, &["status"]).await;
    status.expect_ok();
    assert!(
        status
            .stdout
            .starts_with(&format!("Signed in to {} as Ada Lovelace", kit.issuer()))
    );
    runs.push(status);

    // token: the stored access token (still fresh), alone on stdout.
    let token = sandbox
        .run(&[&["-vvv"][..], &session_args(&kit, "token")].concat())
        .await;
    token.expect_ok();
    let first_token = token
        .stdout
        .strip_suffix('\n')
        .expect("a newline")
        .to_owned();
    assert!(!first_token.contains('\n') && first_token.split('.').count() == 3);
    assert_eq!(first_token, sandbox.stored_session()["access_token"]);
    let token_label = token.label.clone();
    runs.push(token);

    // refresh: a refresh_token grant, the new tokens stored, no token printed.
    let refresh = sandbox
        .run(&[&["-vvv"][..], &session_args(&kit, "refresh")].concat())
        .await;
    refresh.expect_ok();
    assert!(
        refresh.stdout.contains("refresh token: rotated"),
        "{}",
        refresh.stdout
    );
    runs.push(refresh);
    assert_eq!(kit.stats().refresh_token, 1);
    let refreshed = sandbox.stored_session();
    assert_ne!(refreshed["access_token"], first_token.as_str());
    secrets.extend(session_secrets(&refreshed));

    // call: server A answers for the signed-in user.
    let crm = format!("{}/api/customers", kit.urls().crm);
    let call = sandbox
        .run(&[&session_args(&kit, "call")[..], &[crm.as_str()]].concat())
        .await;
    call.expect_ok();
    let body: Value = serde_json::from_str(&call.stdout).unwrap();
    assert_eq!(
        (body["server"].as_str(), body["sub"].as_str()),
        (Some("crm"), Some("user-123"))
    );
    runs.push(call);
    // A status other than 2xx is a failure.
    let missing = format!("{}/api/nothing-here", kit.urls().crm);
    let call = sandbox
        .run(&[&session_args(&kit, "call")[..], &[missing.as_str()]].concat())
        .await;
    assert_eq!(call.expect_code(1).expect_error_kind(), "HttpStatus");
    runs.push(call);
    // The token is never sent over plain http to a host that is not loopback.
    let call = sandbox
        .run(
            &[
                &session_args(&kit, "call")[..],
                &["http://crm.company.com/api/customers"],
            ]
            .concat(),
        )
        .await;
    assert_eq!(call.expect_code(2).expect_error_kind(), "InsecureUrl");
    runs.push(call);

    // logout: revoked, removed; then signed out.
    let logout = sandbox
        .run(&[&["-vvv"][..], &session_args(&kit, "logout")].concat())
        .await;
    logout.expect_ok();
    assert!(logout.stdout.starts_with("Signed out"), "{}", logout.stdout);
    runs.push(logout);
    assert_eq!(kit.stats().revoke, 1);
    assert!(
        sandbox.tree().iter().all(|p| sandbox.home.join(p).is_dir()),
        "files left after logout: {:?}",
        sandbox.tree()
    );
    let status = sandbox
        .run(&[&session_args(&kit, "status")[..], &["--json"]].concat())
        .await;
    status.expect_ok();
    assert_eq!(
        serde_json::from_str::<Value>(&status.stdout).unwrap()["signed_in"],
        false
    );
    runs.push(status);
    let token = sandbox.run(&session_args(&kit, "token")).await;
    assert_eq!(token.expect_code(3).expect_error_kind(), "NotSignedIn");
    runs.push(token);

    assert!(secrets.len() >= 6, "{}", secrets.len());
    assert_no_token_leaks(&runs, &secrets, &[token_label.as_str()]);
    kit.shutdown().await;
}

/// A login as another user adds an account (`--login-hint` picks the testkit's user); with
/// `--single-account` the others are signed out and their refresh tokens revoked. The same
/// user's earlier session is replaced and never revoked (some providers revoke the whole grant
/// of a user and client, which would end the new session too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_as_another_user_adds_an_account_unless_single_account() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("relogin");
    let browser = browser_command();
    let stored_refresh_token = || {
        sandbox.stored_session()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let subjects = |record: &Value| -> Vec<String> {
        record["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["claims"]["subject"].as_str().unwrap().to_owned())
            .collect()
    };
    sandbox.run(&login_args(&kit, &browser)).await.expect_ok();
    let first = stored_refresh_token();

    // A failed login leaves the previous session as it was: stored, not revoked.
    kit.set_faults(Faults::callback(json!({"state": "forged"})));
    sandbox
        .run(&login_args(&kit, &browser))
        .await
        .expect_code(1);
    kit.clear_faults();
    assert_eq!(stored_refresh_token(), first);

    // The same user again: the new session replaces the old one, which is not revoked.
    sandbox.run(&login_args(&kit, &browser)).await.expect_ok();
    let second = stored_refresh_token();
    assert_ne!(second, first);
    assert_eq!(kit.stats().revoke, 0);

    // Another user: one more account, now the active one; nothing revoked.
    sandbox
        .run(&[&login_args(&kit, &browser)[..], &["--login-hint", "grace"]].concat())
        .await
        .expect_ok();
    let record = sandbox.stored_record();
    assert_eq!(subjects(&record), ["grace", "user-123"]);
    assert_eq!(record["active"], "grace");
    let grace = stored_refresh_token();
    assert_eq!(kit.stats().revoke, 0);

    // --single-account: the user who signs in keeps the only session; the others are signed
    // out at the provider.
    let single = sandbox
        .run(&[&login_args(&kit, &browser)[..], &["--single-account"]].concat())
        .await;
    single.expect_ok();
    assert!(
        single
            .stderr
            .contains("The previous user (sub grace) was signed out"),
        "{}",
        single.stderr
    );
    assert_eq!(subjects(&sandbox.stored_record()), ["user-123"]);
    assert_eq!(kit.stats().revoke, 1);
    assert!(!provider_accepts_refresh_token(&kit, &grace).await);
    // The remaining session works.
    sandbox
        .run(&session_args(&kit, "refresh"))
        .await
        .expect_ok();
}

/// A provider that sends the callback with another `state`: the login fails with
/// `StateMismatch`, and no file or directory appears anywhere under HOME.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_wrong_state_fails_and_creates_no_file() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("wrong-state");
    kit.set_faults(Faults::callback(json!({"state": "wrong"})));
    let browser = browser_command();
    let login = sandbox.run(&login_args(&kit, &browser)).await;
    assert_eq!(login.expect_code(1).expect_error_kind(), "StateMismatch");
    assert_eq!(login.stdout, "");
    assert_eq!(kit.stats().authorize, 1, "the browser step did not run");
    assert_eq!(kit.stats().token, 0, "a code was exchanged");
    assert!(sandbox.tree().is_empty(), "created: {:?}", sandbox.tree());
    kit.shutdown().await;
}

/// Every other way a login can fail also exits non-zero with the kind and leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_report_the_kind_and_leave_nothing() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("failures");
    let browser = browser_command();

    // The user refuses: the provider's error comes back on the callback.
    kit.set_faults(Faults::callback(json!({
        "error": "access_denied",
        "error_description": "User said no",
        "code": null,
    })));
    let login = sandbox.run(&login_args(&kit, &browser)).await;
    assert_eq!(login.expect_code(1).expect_error_kind(), "Provider");
    assert!(login.stderr.contains("access_denied"), "{}", login.stderr);
    kit.clear_faults();

    // The browser never comes back.
    let mut args = login_args(&kit, "true");
    let timeout = args.iter().position(|a| *a == "--timeout").unwrap() + 1;
    args[timeout] = "1";
    let login = sandbox.run(&args).await;
    assert_eq!(login.expect_code(1).expect_error_kind(), "Timeout");

    // The browser cannot be started.
    let login = sandbox
        .run(&login_args(&kit, "/nonexistent/browser --flag"))
        .await;
    assert_eq!(login.expect_code(1).expect_error_kind(), "Browser");

    // Usage errors (exit 2): a browser command that needs a shell, a non-loopback http issuer.
    let login = sandbox.run(&login_args(&kit, "open $URL")).await;
    login.expect_code(2);
    let login = sandbox
        .run(&[
            "login",
            "--issuer",
            "http://auth.company.com",
            "--client-id",
            "app",
        ])
        .await;
    assert_eq!(login.expect_code(2).expect_error_kind(), "InsecureUrl");

    assert!(sandbox.tree().is_empty(), "created: {:?}", sandbox.tree());
    kit.shutdown().await;
}

/// Logout clears the session even when revocation fails (exit 0, a warning), and prints the
/// end-session URL only when asked. A refresh token the provider rejects means "sign in again"
/// (exit 3) and clears the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_survives_a_failed_revocation_and_a_rejected_refresh_needs_a_new_login() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("logout");
    let store = sandbox.home.join("elsewhere");
    let store_arg = store.to_str().unwrap();
    let browser = browser_command();

    // --store puts the session elsewhere (and the default root stays empty).
    let login = sandbox
        .run(&[&login_args(&kit, &browser)[..], &["--store", store_arg]].concat())
        .await;
    login.expect_ok();
    assert!(!sandbox.store_root().exists());
    assert!(store.is_dir());
    let mut by_env = sandbox.command(&session_args(&kit, "status"));
    by_env.env("KEYFOB_STORE", &store);
    let status = sandbox.run_command(by_env, &["status"]).await;
    assert!(
        status.expect_ok().stdout.starts_with("Signed in"),
        "{}",
        status.stdout
    );

    kit.set_faults(Faults::status("/revoke", 503));
    let logout = sandbox
        .run(
            &[
                &session_args(&kit, "logout")[..],
                &["--store", store_arg, "--end-session-url"],
            ]
            .concat(),
        )
        .await;
    logout.expect_ok();
    assert!(
        logout
            .stderr
            .contains("warning: the refresh token could not be revoked"),
        "{}",
        logout.stderr
    );
    let end_session = Url::parse(logout.stdout.trim_end()).expect("the end-session URL");
    assert_eq!(end_session.path(), "/end_session");
    assert!(end_session.query_pairs().any(|(n, _)| n == "id_token_hint"));
    let status = sandbox
        .run(
            &[
                &session_args(&kit, "status")[..],
                &["--store", store_arg, "--json"],
            ]
            .concat(),
        )
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&status.stdout).unwrap()["signed_in"],
        false
    );
    kit.clear_faults();

    // A rejected refresh token: exit 3, ReLoginRequired, session gone.
    sandbox
        .run(&[&login_args(&kit, &browser)[..], &["--store", store_arg]].concat())
        .await
        .expect_ok();
    kit.set_faults(Faults::oauth_error(
        "/token",
        json!({"error": "invalid_grant", "error_description": "revoked"}),
    ));
    let refresh = sandbox
        .run(&[&session_args(&kit, "refresh")[..], &["--store", store_arg]].concat())
        .await;
    assert_eq!(
        refresh.expect_code(3).expect_error_kind(),
        "ReLoginRequired"
    );
    let token = sandbox
        .run(&[&session_args(&kit, "token")[..], &["--store", store_arg]].concat())
        .await;
    assert_eq!(token.expect_code(3).expect_error_kind(), "NotSignedIn");
    kit.shutdown().await;
}

/// `--help` works for every command and documents the exit statuses and the environment.
#[test]
fn every_command_has_help() {
    for command in ["login", "status", "token", "refresh", "logout", "call"] {
        let output = Command::new(KEYFOB)
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{command} --help");
        let help = String::from_utf8(output.stdout).unwrap();
        assert!(help.contains("3  not signed in"), "{command}: {help}");
        assert!(
            help.contains("KEYFOB_ISSUER") && help.contains("KEYFOB_CLIENT_ID"),
            "{command}: {help}"
        );
        assert!(help.contains("XDG_STATE_HOME"), "{command}: {help}");
    }
}

/// A stored session that cannot be read: `status` still exits 0 and says why; `token` fails
/// with the storage error (exit 1), not "not signed in".
#[tokio::test]
async fn an_unreadable_session_is_reported() {
    let sandbox = Sandbox::without_secrets_file("corrupt");
    let issuer = "https://auth.example";
    let storage = keyfob::FileStorage::new(sandbox.store_root(), issuer, "app").unwrap();
    keyfob::SecureStorage::save(&storage, "session", b"not a session").unwrap();
    let args = ["status", "--json", "--issuer", issuer, "--client-id", "app"];
    let status = sandbox.run(&args).await;
    status.expect_ok();
    let json: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["signed_in"], false);
    assert_eq!(json["error"]["kind"], "Storage", "{json}");
    let token = sandbox
        .run(&["token", "--issuer", issuer, "--client-id", "app"])
        .await;
    assert_eq!(token.expect_code(1).expect_error_kind(), "Storage");
}
