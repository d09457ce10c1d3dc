//! The provider cases of the conformance matrix (`core/tests/conformance/`), end to end through
//! the `keyfob` binary: `keyfob -vvv login --browser …` with HOME and the XDG directories in a
//! temporary sandbox, against a testkit whose faults are switched on in this process.
//!
//! For every row: the exit status, the error kind (and ID-token check) on the error line, no file
//! or directory created under HOME, nothing on stdout, and no secret (the browser's `state`,
//! `nonce`, `code_challenge` and `code`, any JWT, any token-shaped word) on stdout or stderr,
//! although the core's trace log is on.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{KEYFOB, Run, Sandbox, browser_command, leak, login_args, session_args, testkit};
use keyfob_testkit::{Faults, Signing, Testkit};
use serde_json::{Value, json};

/// The browser of these tests (see `common`), started by `keyfob login --browser`.
#[test]
#[ignore = "the browser of the conformance tests, started by `keyfob login --browser`"]
fn browser_helper() {
    common::browser_helper_main();
}

struct Row {
    case: &'static str,
    faults: Box<dyn Fn(&Testkit) -> Faults + Send + Sync>,
    kind: &'static str,
    check: Option<&'static str>,
}

fn row(
    case: &'static str,
    kind: &'static str,
    check: Option<&'static str>,
    faults: impl Fn(&Testkit) -> Faults + Send + Sync + 'static,
) -> Row {
    Row {
        case,
        faults: Box::new(faults),
        kind,
        check,
    }
}

fn rows() -> Vec<Row> {
    let id = |case, check, patch: Value| {
        row(case, "IdToken", Some(check), move |_| {
            Faults::id_token_claims(patch.clone())
        })
    };
    let signed = |case, check, s: Signing| {
        row(case, "IdToken", Some(check), move |_| {
            Faults::id_token_signing(s)
        })
    };
    let token = |case, patch: Value| {
        row(case, "InvalidResponse", None, move |_| {
            Faults::token_response(patch.clone())
        })
    };
    vec![
        id(
            "iss is another issuer",
            "Issuer",
            json!({"iss": "https://evil.example"}),
        ),
        id(
            "aud is another client",
            "Audience",
            json!({"aud": "other", "azp": null}),
        ),
        id(
            "several aud, no azp",
            "Audience",
            json!({"aud": ["keyfob-demo", "other"], "azp": null}),
        ),
        id(
            "azp is another client",
            "AuthorizedParty",
            json!({"aud": ["keyfob-demo", "other"], "azp": "other"}),
        ),
        id("nonce missing", "Nonce", json!({"nonce": null})),
        id(
            "nonce of another login",
            "Nonce",
            json!({"nonce": "another-nonce-0123456789"}),
        ),
        id("expired", "Expired", json!({"exp": 1_000_000_000})),
        id(
            "iat far in the future",
            "IssuedInFuture",
            json!({"iat": 9_999_999_999i64}),
        ),
        id("sub missing", "MissingClaim", json!({"sub": null})),
        id("exp a string", "ClaimType", json!({"exp": "9999999999"})),
        signed("signature invalid", "Signature", Signing::BadSignature),
        signed("alg none", "Algorithm", Signing::AlgNone),
        signed(
            "HS256 with the public key",
            "Algorithm",
            Signing::Hs256WithPublicKey,
        ),
        signed("kid never published", "UnknownKey", Signing::UnpublishedKey),
        row("typ at+jwt", "IdToken", Some("Malformed"), |_| {
            Faults::id_token_header(json!({"typ": "at+jwt"}))
        }),
        row("callback error=access_denied", "Provider", None, |_| {
            Faults::callback(
                json!({"error": "access_denied", "error_description": "no", "code": null}),
            )
        }),
        row(
            "callback iss of another issuer",
            "IssuerMismatch",
            None,
            |_| Faults::callback(json!({"iss": "https://evil.example"})),
        ),
        row("callback without iss", "IssuerMismatch", None, |_| {
            Faults::callback(json!({"iss": null}))
        }),
        row("callback with state twice", "InvalidCallback", None, |_| {
            Faults::callback_append("state", "second")
        }),
        // A browser never sends the fragment: the loopback listener gets a bare `/callback`.
        row("callback in the fragment", "StateMismatch", None, |_| {
            Faults::callback_in_fragment()
        }),
        row("discovery issuer differs", "Discovery", None, |_| {
            Faults::discovery(json!({"issuer": "https://evil.example"}))
        }),
        row(
            "token endpoint on http://example.com",
            "InsecureUrl",
            None,
            |_| Faults::discovery(json!({"token_endpoint": "http://example.com/token"})),
        ),
        token("token_type mac", json!({"token_type": "mac"})),
        token("expires_in a string", json!({"expires_in": "3600"})),
        token("expires_in negative", json!({"expires_in": -1})),
        token("access_token missing", json!({"access_token": null})),
        token("id_token missing", json!({"id_token": null})),
        row("token endpoint 500", "HttpStatus", None, |_| {
            Faults::status("/token", 500)
        }),
        row(
            "token endpoint 429 + Retry-After",
            "HttpStatus",
            None,
            |_| Faults::retry_after("/token", 429, 30),
        ),
        row("token endpoint HTML", "InvalidResponse", None, |_| {
            Faults::endpoint("/token", |f| {
                f.body = Some("<html>oops</html>".into());
                f.content_type = Some("text/html".into());
            })
        }),
        row(
            "token endpoint truncated JSON",
            "InvalidResponse",
            None,
            |_| Faults::endpoint("/token", |f| f.body = Some(r#"{"access_token":"#.into())),
        ),
        row("token endpoint reset mid-body", "Network", None, |_| {
            Faults::endpoint("/token", |f| f.abort_after_bytes = Some(10))
        }),
        row("token endpoint 50 MB body", "InvalidResponse", None, |_| {
            Faults::endpoint("/token", |f| f.body_bytes = Some(50 * 1024 * 1024))
        }),
        row("token endpoint redirect", "HttpStatus", None, |kit| {
            Faults::redirect("/token", 302, format!("{}/userinfo", kit.issuer()))
        }),
    ]
}

/// Runs one row: a fresh testkit and sandbox, the faults on, `keyfob -vvv login`.
async fn run_row(row: &Row, browser: &str) -> Result<(), String> {
    let kit = testkit().await;
    let sandbox = Sandbox::new("conformance");
    kit.set_faults((row.faults)(&kit));
    let args = [&["-vvv"][..], &login_args(&kit, browser)].concat();
    let login = sandbox.run(&args).await;
    let mut problems = Vec::new();
    if login.code != Some(1) {
        problems.push(format!("exit {:?}, expected 1", login.code));
    }
    if login.error_kind() != Some(row.kind) {
        problems.push(format!(
            "kind {:?}, expected {}",
            login.error_kind(),
            row.kind
        ));
    }
    if login.id_token_check() != row.check {
        problems.push(format!(
            "ID token check {:?}, expected {:?}",
            login.id_token_check(),
            row.check
        ));
    }
    if !login.stdout.is_empty() {
        problems.push(format!("stdout: {:?}", login.stdout));
    }
    let tree = sandbox.tree();
    if !tree.is_empty() {
        problems.push(format!("created: {tree:?}"));
    }
    let secrets = sandbox.secrets();
    // The leak check is only as good as what the browser recorded: `state`, `nonce` and
    // `code_challenge` once it opened the authorization URL, and the callback's `code` and
    // `state` too once the client sent that code to the token endpoint.
    let stats = kit.stats();
    let floor = match (stats.authorize, stats.authorization_code) {
        (0, _) => 0,
        (_, 0) => 3,
        _ => 5,
    };
    if secrets.len() < floor {
        problems.push(format!(
            "the browser recorded {} secrets, expected at least {floor}",
            secrets.len()
        ));
    }
    for (stream, text) in [("stdout", &login.stdout), ("stderr", &login.stderr)] {
        if let Some(what) = leak(text, &secrets) {
            problems.push(format!("{what} in {stream}"));
        }
    }
    kit.shutdown().await;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\nstderr:\n{}",
            row.case,
            problems.join("; "),
            login.stderr
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_logins_exit_1_create_nothing_and_print_no_secret() {
    let rows = Arc::new(rows());
    let browser = Arc::new(browser_command());
    let limit = Arc::new(tokio::sync::Semaphore::new(3));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..rows.len() {
        let (rows, browser, limit) = (rows.clone(), browser.clone(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            run_row(&rows[index], &browser).await
        });
    }
    let mut failures = Vec::new();
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result.unwrap() {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
}

/// A refreshed ID token for another user: `keyfob refresh` exits 1 with the check, the session
/// file is gone (the session ended), and nothing secret is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_for_another_user_ends_the_stored_session() {
    let kit = testkit().await;
    let sandbox = Sandbox::new("conformance-refresh");
    let browser = browser_command();
    let login = sandbox.run(&login_args(&kit, &browser)).await;
    assert_eq!(login.code, Some(0), "{}", login.stderr);
    let secrets = sandbox.secrets();
    assert!(secrets.len() >= 7, "{}", secrets.len());

    kit.set_faults(Faults::id_token_claims(json!({"sub": "someone-else"})));
    let refresh = sandbox
        .run(&[&["-vvv"][..], &session_args(&kit, "refresh")].concat())
        .await;
    assert_eq!(refresh.code, Some(1), "{}", refresh.stderr);
    assert_eq!(refresh.error_kind(), Some("IdToken"));
    assert_eq!(refresh.id_token_check(), Some("SubjectChanged"));
    assert_eq!(refresh.stdout, "");
    // Nothing is left but the store's empty writers' lock file and the provider's metadata.
    let files: Vec<_> = sandbox
        .tree()
        .into_iter()
        .filter(|p| sandbox.home.join(p).is_file())
        .filter(|p| {
            p.file_name()
                .is_none_or(|n| n != ".lock" && n != "metadata")
        })
        .collect();
    assert!(files.is_empty(), "{files:?}");
    for run in [&login, &refresh] {
        for text in [&run.stdout, &run.stderr] {
            // `login` prints the store's directory (a hash) and who signed in, nothing else.
            assert_eq!(leak(text, &secrets), None, "{}: {text}", run.label);
        }
    }
    assert_eq!(kit.stats().revoke, 1, "the new grant was revoked");
    let token = sandbox.run(&session_args(&kit, "token")).await;
    assert_eq!(
        (token.code, token.error_kind()),
        (Some(3), Some("NotSignedIn"))
    );
    kit.shutdown().await;
}

/// `keyfob testkit --faults JSON` starts with the faults on: a login against it fails as the
/// faults say; once they are cleared over `/__testkit/faults`, it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyfob_testkit_starts_with_the_faults_of_its_flag() {
    let mut child = Command::new(KEYFOB)
        .args([
            "testkit",
            "--faults",
            r#"{"callback": {"iss": "https://evil.example"}}"#,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).expect("the ready line");
    let issuer = ready["issuer"].as_str().unwrap().to_owned();
    let client_id = ready["client_id"].as_str().unwrap().to_owned();

    let outcome = async move {
        let sandbox = Sandbox::new("conformance-flag");
        let browser = browser_command();
        let args = [
            "login",
            "--issuer",
            &issuer,
            "--client-id",
            &client_id,
            "--browser",
            &browser,
            "--timeout",
            common::LOGIN_TIMEOUT,
        ];
        let failed: Run = sandbox.run(&args).await;
        assert_eq!(failed.code, Some(1), "{}", failed.stderr);
        assert_eq!(failed.error_kind(), Some("IssuerMismatch"));
        assert!(sandbox.tree().is_empty(), "{:?}", sandbox.tree());

        let transport = keyfob::ReqwestTransport::new().unwrap();
        let cleared = keyfob::HttpTransport::send(
            &transport,
            keyfob::HttpRequest {
                method: keyfob::HttpMethod::Post,
                url: format!("{issuer}/__testkit/faults"),
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{}".to_vec(),
                timeout: std::time::Duration::from_secs(10),
                max_response_bytes: 1 << 16,
            },
        )
        .await
        .unwrap();
        assert_eq!(cleared.status, 200);
        let ok = sandbox.run(&args).await;
        assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    };
    // Stop the child whatever the outcome.
    let result = tokio::spawn(outcome).await;
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
