//! The `keyfob` binary end to end: `keyfob demo` (text and `--json`) and `keyfob testkit`.
//!
//! The in-process check that no secret the demo saw reaches its output is a unit test of
//! `src/demo.rs` (it needs the secrets, which the binary never exposes); here the output of the
//! real binary is checked for JWT-looking text.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keyfob::{HttpMethod, HttpRequest, HttpTransport, ReqwestTransport};
use serde_json::Value;

const KEYFOB: &str = env!("CARGO_BIN_EXE_keyfob");

const STEP_NAMES: [&str; 8] = [
    "discovery and JWKS fetched",
    "authorization URL built",
    "browser step",
    "callback handled",
    "servers A and B called",
    "access token expired and refreshed",
    "identity exchanged for an internal token",
    "logged out",
];

/// The access-token lifetime of the demo runs here: step 5 must use the token before it
/// expires, which takes milliseconds (the default of 2 s is for people watching the demo).
const DEMO_TTL: &str = "10";

fn keyfob(args: &[&str]) -> Output {
    Command::new(KEYFOB)
        .args(args)
        .output()
        .expect("keyfob runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// No JWT (header or claims part, all start with `eyJ`) and no secret-looking parameter value.
fn assert_no_token(output: &str) {
    assert!(!output.contains("eyJ"), "JWT text in the output:\n{output}");
    for name in [
        "code=",
        "state=",
        "nonce=",
        "code_challenge=",
        "refresh_token=",
    ] {
        for (at, _) in output.match_indices(name) {
            let value = &output[at + name.len()..];
            assert!(
                value.starts_with("[redacted]"),
                "unredacted {name} in the output:\n{output}"
            );
        }
    }
}

#[test]
fn demo_runs_every_step() {
    let output = keyfob(&["demo", "--access-token-ttl", DEMO_TTL]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status.code()
    );
    for (i, name) in STEP_NAMES.iter().enumerate() {
        let prefix = format!("[{}/8] ok ", i + 1);
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(&format!(" ms  {name}: "))),
            "no line for step {} ({name}):\n{stdout}",
            i + 1
        );
    }
    assert!(
        stdout.contains("myapp://callback?code=[redacted]&state=[redacted]&iss=http://127.0.0.1:")
    );
    assert!(stdout.contains("refresh_token grants 0 -> 1, refresh token rotated"));
    assert!(stdout.contains("old refresh token: 400 invalid_grant"));
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("demo ok: 8 steps")
    );
    assert!(!stderr.contains("failed"), "{stderr}");
    assert_no_token(&stdout);
    assert_no_token(&stderr);
}

#[test]
fn demo_json_has_one_ok_object_per_step() {
    let output = keyfob(&["demo", "--json", "--access-token-ttl", DEMO_TTL]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    let steps: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for n in 1..=8u64 {
        let step = steps
            .iter()
            .find(|s| s["step"] == n)
            .unwrap_or_else(|| panic!("no step {n}:\n{stdout}"));
        assert_eq!(step["ok"], true, "{step}");
        assert_eq!(step["name"], STEP_NAMES[n as usize - 1]);
        assert!(step["ms"].is_u64(), "{step}");
        assert!(step["details"].is_object(), "{step}");
    }
    let by_step = |n: u64| steps.iter().find(|s| s["step"] == n).unwrap()["details"].clone();
    assert_eq!(by_step(1)["stats"]["discovery"], 1);
    assert_eq!(by_step(1)["stats"]["jwks"], 1);
    assert_eq!(by_step(2)["code_challenge_method"], "S256");
    assert_eq!(by_step(3)["status"], 302);
    assert_eq!(by_step(4)["provider_requests_after_callback"], 1);
    assert_eq!(by_step(4)["id_token"]["jwt"]["alg"], "RS256");
    assert_eq!(by_step(6)["old_token"]["crm_status"], 401);
    assert_eq!(by_step(6)["refresh_token_grants"]["after"], 1);
    assert_eq!(by_step(6)["refresh_token_rotated"], true);
    assert_eq!(by_step(7)["stats"]["token_exchange"], 1);
    assert_eq!(by_step(7)["crm"]["status"], 200);
    assert_eq!(by_step(7)["orders"]["status"], 200);
    assert_eq!(by_step(8)["stats"]["revoke"], 1);
    assert_eq!(by_step(8)["old_refresh_token"]["error"], "invalid_grant");
    assert_no_token(&stdout);
}

#[test]
fn usage_errors_exit_with_2_and_help_documents_exit_codes() {
    let output = keyfob(&["demo", "--no-such-option"]);
    assert_eq!(output.status.code(), Some(2));
    let output = keyfob(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout);
    assert!(help.contains("demo") && help.contains("testkit"), "{help}");
    assert!(help.contains("2  usage error"), "{help}");
}

/// Kills the child when the test ends, even by a panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn testkit_prints_its_urls_and_serves_discovery() {
    let mut child = Killed(
        Command::new(KEYFOB)
            .arg("testkit")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("keyfob testkit starts"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (lines, line) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = lines.send(first);
    });
    let first = line
        .recv_timeout(Duration::from_secs(30))
        .expect("a JSON line within 30 s");
    let urls: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first}"));
    let issuer = urls["issuer"].as_str().expect("issuer");
    assert!(issuer.starts_with("http://127.0.0.1:"), "{first}");
    assert!(urls["crm"].as_str().is_some() && urls["orders"].as_str().is_some());
    assert!(
        urls["internal"].as_str().is_some_and(|i| i != issuer),
        "{first}"
    );
    assert_eq!(urls["client_id"], "keyfob-demo");

    let transport = ReqwestTransport::new().unwrap();
    let response = transport
        .send(HttpRequest {
            method: HttpMethod::Get,
            url: format!("{issuer}/.well-known/openid-configuration"),
            headers: vec![],
            body: vec![],
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 20,
        })
        .await
        .expect("discovery answers");
    assert_eq!(response.status, 200);
    let discovery: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(discovery["issuer"], issuer);

    // SIGTERM ends it cleanly, with exit status 0.
    #[cfg(unix)]
    {
        let pid = child.0.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.0.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "keyfob testkit ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}");
    }
}
