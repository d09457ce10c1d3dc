//! Helpers for running the real `keyfob` binary against a testkit provider in this process, with
//! HOME and the XDG directories in a temporary sandbox (the same approach as `tests/login.rs`).
//!
//! The "browser" is the test binary itself: `keyfob login --browser "<this binary> --ignored
//! --exact browser_helper"` starts it with the authorization URL as one more argument, and the
//! test binary's ignored `browser_helper` test calls [`browser_helper_main`], which does what a
//! browser with a signed-in user would: GET the URL and follow the redirects to the loopback
//! callback. When `KEYFOB_TEST_SECRETS` names a file, it appends to it the secrets it saw
//! (`state`, `nonce`, `code_challenge`, `code`), so the test can search the output for them.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use keyfob::{HttpMethod, HttpRequest, HttpTransport, ReqwestTransport};
use keyfob_testkit::{Options, Testkit};
use url::Url;

pub const KEYFOB: &str = env!("CARGO_BIN_EXE_keyfob");
/// Set (to `1`) in the environment of `keyfob login`, hence of the browser it starts.
pub const BROWSER_ENV: &str = "KEYFOB_TEST_BROWSER";
/// Where the browser writes the secrets it saw, one per line.
pub const SECRETS_ENV: &str = "KEYFOB_TEST_SECRETS";
/// The timeout given to `keyfob login`, so that a broken test ends quickly.
pub const LOGIN_TIMEOUT: &str = "30";

/// What the ignored `browser_helper` test of a test binary runs (a no-op when run otherwise).
pub fn browser_helper_main() {
    if std::env::var_os(BROWSER_ENV).is_none() {
        return;
    }
    let url = std::env::args().next_back().expect("the authorization URL");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(browse(&url));
}

fn note_secrets(url: &Url, names: &[&str]) {
    let Some(path) = std::env::var_os(SECRETS_ENV) else {
        return;
    };
    let mut values: Vec<String> = url
        .query_pairs()
        .filter(|(n, _)| names.contains(&n.as_ref()))
        .map(|(_, v)| v.into_owned())
        .collect();
    if let Some(fragment) = url.fragment() {
        values.extend(
            url::form_urlencoded::parse(fragment.as_bytes())
                .filter(|(n, _)| names.contains(&n.as_ref()))
                .map(|(_, v)| v.into_owned()),
        );
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for v in values {
        writeln!(file, "{v}").unwrap();
    }
}

/// GETs `url` and follows redirects, as a browser would.
async fn browse(url: &str) {
    let transport = ReqwestTransport::new().unwrap();
    let mut current = Url::parse(url).unwrap();
    note_secrets(&current, &["state", "nonce", "code_challenge"]);
    for _ in 0..5 {
        let response = get(&transport, current.as_str()).await;
        let Some(location) = response
            .header("location")
            .filter(|_| (300..400).contains(&response.status))
        else {
            return;
        };
        current = current.join(location).unwrap();
        note_secrets(&current, &["code", "state"]);
    }
    panic!("too many redirects");
}

async fn get(transport: &ReqwestTransport, url: &str) -> keyfob::HttpResponse {
    transport
        .send(HttpRequest {
            method: HttpMethod::Get,
            url: url.to_owned(),
            headers: vec![("accept".into(), "text/html".into())],
            body: Vec::new(),
            timeout: Duration::from_secs(20),
            max_response_bytes: 1 << 20,
        })
        .await
        .unwrap()
}

/// `--browser` for these tests: this test binary, quoted for `keyfob`'s shell-like splitter.
pub fn browser_command() -> String {
    let exe = std::env::current_exe().unwrap();
    let quoted = format!("'{}'", exe.display().to_string().replace('\'', r"'\''"));
    format!("{quoted} --ignored --exact --quiet --test-threads 1 browser_helper")
}

/// A temporary HOME (also the working directory) with the XDG directories inside it, and a
/// secrets file beside it (outside HOME, so that HOME stays empty after a failed login).
pub struct Sandbox {
    pub home: PathBuf,
    pub secrets_file: PathBuf,
}

impl Sandbox {
    pub fn new(name: &str) -> Self {
        let home = std::env::temp_dir().join(format!(
            "keyfob-cli-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&home).unwrap();
        let secrets_file = home.with_extension("secrets");
        Sandbox { home, secrets_file }
    }

    /// Where the sessions go by default: `$XDG_STATE_HOME/keyfob`.
    pub fn store_root(&self) -> PathBuf {
        self.home.join(".local/state/keyfob")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(KEYFOB);
        command
            .args(args)
            .current_dir(&self.home)
            .env("HOME", &self.home)
            .env("XDG_STATE_HOME", self.home.join(".local/state"))
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("XDG_DATA_HOME", self.home.join(".local/share"))
            .env(BROWSER_ENV, "1")
            .env(SECRETS_ENV, &self.secrets_file)
            .env_remove("KEYFOB_ISSUER")
            .env_remove("KEYFOB_CLIENT_ID")
            .env_remove("KEYFOB_STORE");
        command
    }

    /// Runs `keyfob args…` (off the async runtime, which serves the testkit meanwhile).
    pub async fn run(&self, args: &[&str]) -> Run {
        let label = args.join(" ");
        let mut command = self.command(args);
        let output: Output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("keyfob runs");
        Run {
            label,
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
        }
    }

    /// Every file and directory under HOME, relative to it.
    pub fn tree(&self) -> BTreeSet<PathBuf> {
        fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                out.insert(path.strip_prefix(base).unwrap().to_path_buf());
                if path.is_dir() {
                    walk(&path, base, out);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(&self.home, &self.home, &mut out);
        out
    }

    /// The secrets the browser saw, and the token values of any stored session file.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets: Vec<String> = std::fs::read_to_string(&self.secrets_file)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        for path in self.tree() {
            let full = self.home.join(&path);
            if path.file_name().is_some_and(|n| n == "session")
                && let Ok(bytes) = std::fs::read(&full)
                && let Ok(serde_json::Value::Object(session)) = serde_json::from_slice(&bytes)
            {
                for name in ["access_token", "refresh_token", "id_token"] {
                    if let Some(serde_json::Value::String(v)) = session.get(name) {
                        secrets.push(v.clone());
                    }
                }
            }
        }
        secrets
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
        let _ = std::fs::remove_file(&self.secrets_file);
    }
}

/// One run of `keyfob`.
#[derive(Debug)]
pub struct Run {
    pub label: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The error line's kind: `error: <Kind>: …`.
    pub fn error_kind(&self) -> Option<&str> {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("error: "))
            .and_then(|line| line.split(':').next())
    }

    /// The ID-token check the error line names: `… (ID token check: <Check>)`.
    pub fn id_token_check(&self) -> Option<&str> {
        let line = self.stderr.lines().find(|l| l.starts_with("error: "))?;
        let rest = line.split("(ID token check: ").nth(1)?;
        rest.split(')').next()
    }
}

/// `keyfob login` against `kit` with `--browser`, requesting email and offline access.
pub fn login_args<'a>(kit: &'a Testkit, browser: &'a str) -> Vec<&'a str> {
    vec![
        "login",
        "--issuer",
        kit.issuer(),
        "--client-id",
        kit.client_id(),
        "--scope",
        "email",
        "--scope",
        "offline_access",
        "--browser",
        browser,
        "--timeout",
        LOGIN_TIMEOUT,
    ]
}

/// The issuer and client id, as the session commands take them.
pub fn session_args<'a>(kit: &'a Testkit, command: &'a str) -> Vec<&'a str> {
    vec![
        command,
        "--issuer",
        kit.issuer(),
        "--client-id",
        kit.client_id(),
    ]
}

pub async fn testkit() -> Testkit {
    Testkit::start(Options::default())
        .await
        .expect("the testkit starts")
}

/// Why `text` may hold a secret: one of `secrets` (or a dot-separated part of one of at least 16
/// characters), JWT text, or a run of 40+ base64url characters mixing upper case, lower case
/// and digits (the shape of the codes, verifiers, states, nonces and refresh tokens here).
pub fn leak(text: &str, secrets: &[String]) -> Option<String> {
    if text.contains("eyJ") {
        return Some("JWT text".into());
    }
    for secret in secrets {
        let parts = std::iter::once(secret.as_str()).chain(secret.split('.'));
        if parts.filter(|p| p.len() >= 16).any(|p| text.contains(p)) {
            return Some(format!("a secret of {} characters", secret.len()));
        }
    }
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.split(|c: char| !is_b64(c))
        .filter(|w| w.len() >= 40)
        .find(|w| {
            w.chars().any(|c| c.is_ascii_uppercase())
                && w.chars().any(|c| c.is_ascii_lowercase())
                && w.chars().any(|c| c.is_ascii_digit())
        })
        .map(|w| format!("a token-shaped word of {} characters", w.len()))
}
