//! The `keyfob-testkit` binary: one JSON line on stdout, admin endpoints, and a
//! life tied to stdin with `--exit-on-stdin-eof`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn http() -> reqwest::Client {
    // See tests/common/mod.rs: a provider for reqwest in workspace builds.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn prints_urls_serves_and_exits_on_stdin_eof() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyfob-testkit"))
        .args(["--client-id", "swift-tests", "--id-token-alg", "ES256"])
        .args([
            "--redirect-uri",
            "dev.keyfob.tests:/cb",
            "--exit-on-stdin-eof",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).unwrap();
    let issuer = ready["issuer"].as_str().unwrap();
    assert!(issuer.starts_with("http://127.0.0.1:"));
    assert!(
        ready["crm"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(
        ready["orders"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert_eq!(ready["client_id"], "swift-tests");

    let doc: Value = http()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    let stats: Value = http()
        .get(format!("{issuer}/__testkit/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["discovery"], 1);

    // Closing stdin stops the process.
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(Instant::now() < deadline, "did not exit on stdin EOF");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn help_and_bad_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_keyfob-testkit"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("--exit-on-stdin-eof"));

    let output = Command::new(env!("CARGO_BIN_EXE_keyfob-testkit"))
        .args(["--id-token-alg", "HS256"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("HS256"));
}
