//! Helpers for running the real `keyfob` binary against a testkit provider in this process, with
//! HOME and the XDG directories in a temporary sandbox.
//!
//! The "browser" is the test binary itself: `keyfob login --browser "<this binary> --ignored
//! --exact browser_helper"` starts it with the authorization URL as one more argument (which
//! libtest takes as a second, non-matching filter), and the test binary's ignored
//! `browser_helper` test calls [`browser_helper_main`] (or [`browser_helper_main_with`]), which
//! does what a browser with a signed-in user would: GET the URL and follow the redirects to the
//! loopback callback. When `KEYFOB_TEST_SECRETS` names a file, it appends to it the secrets it
//! saw (`state`, `nonce`, `code_challenge`, `code`), so the test can search the output for them.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use keyfob::{HttpMethod, HttpRequest, HttpTransport, ReqwestTransport};
use keyfob_testkit::{Options, Testkit};
use serde_json::Value;
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
    browser_helper_main_with(false);
}

/// [`browser_helper_main`]; with `check_favicon`, the browser first checks that the loopback
/// listener answers other paths with 404 (a browser asks for `/favicon.ico`).
pub fn browser_helper_main_with(check_favicon: bool) {
    if std::env::var_os(BROWSER_ENV).is_none() {
        return;
    }
    let url = std::env::args().next_back().expect("the authorization URL");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(browse(&url, check_favicon));
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

/// GETs `url` and follows redirects, as a browser would; with `check_favicon`, first checks
/// that the loopback listener answers `/favicon.ico` with 404.
async fn browse(url: &str, check_favicon: bool) {
    let transport = ReqwestTransport::new().unwrap();
    let mut current = Url::parse(url).unwrap();
    if check_favicon {
        let redirect_uri = current
            .query_pairs()
            .find(|(name, _)| name == "redirect_uri")
            .map(|(_, value)| Url::parse(&value).unwrap())
            .expect("a redirect_uri");
        let favicon = redirect_uri.join("/favicon.ico").unwrap();
        let status = get(&transport, favicon.as_str()).await.status;
        // Otherwise stop here: the login then times out and the test fails.
        assert_eq!(status, 404, "the loopback listener answered /favicon.ico");
    }
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

/// Whether the provider still honours `refresh_token` (spends it: rotation).
pub async fn provider_accepts_refresh_token(kit: &Testkit, refresh_token: &str) -> bool {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("refresh_token", refresh_token)
        .append_pair("client_id", kit.client_id())
        .finish();
    let response = ReqwestTransport::new()
        .unwrap()
        .send(HttpRequest {
            method: HttpMethod::Post,
            url: format!("{}/token", kit.issuer()),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: body.into_bytes(),
            timeout: Duration::from_secs(20),
            max_response_bytes: 1 << 20,
        })
        .await
        .unwrap();
    response.status == 200
}

/// `--browser` for these tests: this test binary, quoted for `keyfob`'s shell-like splitter.
pub fn browser_command() -> String {
    let exe = std::env::current_exe().unwrap();
    let quoted = format!("'{}'", exe.display().to_string().replace('\'', r"'\''"));
    format!("{quoted} --ignored --exact --quiet --test-threads 1 browser_helper")
}

/// A temporary HOME (also the working directory) with the XDG directories inside it, and
/// (unless made by [`Sandbox::without_secrets_file`]) a secrets file beside it (outside HOME, so
/// that HOME stays empty after a failed login).
pub struct Sandbox {
    pub home: PathBuf,
    pub secrets_file: Option<PathBuf>,
}

impl Sandbox {
    /// A sandbox whose browser records the secrets it sees in the secrets file.
    pub fn new(name: &str) -> Self {
        let mut sandbox = Self::without_secrets_file(name);
        sandbox.secrets_file = Some(sandbox.home.with_extension("secrets"));
        sandbox
    }

    /// A sandbox whose browser records nothing: no file is written outside HOME.
    pub fn without_secrets_file(name: &str) -> Self {
        let home = std::env::temp_dir().join(format!(
            "keyfob-cli-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&home).unwrap();
        Sandbox {
            home,
            secrets_file: None,
        }
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
            .env_remove("KEYFOB_ISSUER")
            .env_remove("KEYFOB_CLIENT_ID")
            .env_remove("KEYFOB_STORE");
        match &self.secrets_file {
            Some(file) => command.env(SECRETS_ENV, file),
            None => command.env_remove(SECRETS_ENV),
        };
        command
    }

    /// Runs `keyfob args…` (off the async runtime, which serves the testkit meanwhile).
    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_command(self.command(args), args).await
    }

    /// Runs `command` (from [`Sandbox::command`], perhaps changed), labelled with `args`.
    pub async fn run_command(&self, mut command: Command, args: &[&str]) -> Run {
        let label = args.join(" ");
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
        let mut secrets: Vec<String> = self
            .secrets_file
            .as_ref()
            .and_then(|file| std::fs::read_to_string(file).ok())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        for path in self.tree() {
            let full = self.home.join(&path);
            if path.file_name().is_some_and(|n| n == "session")
                && let Ok(bytes) = std::fs::read(&full)
                && let Ok(session @ Value::Object(_)) = serde_json::from_slice(&bytes)
            {
                secrets.extend(session_secrets(&session));
            }
        }
        secrets
    }

    /// The active account of the only session file under HOME, parsed.
    pub fn stored_session(&self) -> Value {
        let record = self.stored_record();
        let active = record["active"].clone();
        record["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["claims"]["subject"] == active)
            .cloned()
            .expect("an active account")
    }

    /// The stored session record, whole: every account, and which is active.
    pub fn stored_record(&self) -> Value {
        let files: Vec<PathBuf> = self
            .tree()
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n == "session"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        serde_json::from_slice(&std::fs::read(self.home.join(&files[0])).unwrap()).unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
        if let Some(file) = &self.secrets_file {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Every token value of a stored session.
pub fn session_secrets(session: &Value) -> Vec<String> {
    // A whole record holds its accounts' tokens; an account (or a format-1 record) its own.
    if let Some(accounts) = session["accounts"].as_array() {
        return accounts.iter().flat_map(session_secrets).collect();
    }
    ["access_token", "refresh_token", "id_token"]
        .iter()
        .filter_map(|name| session[name].as_str().map(str::to_owned))
        .collect()
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
    /// Asserts that `keyfob` exited with `code` (showing its output otherwise).
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "keyfob {}\nstdout:\n{}\nstderr:\n{}",
            self.label,
            self.stdout,
            self.stderr
        );
        self
    }

    pub fn expect_ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// [`Run::error_kind`], which must be there (panics showing stderr otherwise).
    pub fn expect_error_kind(&self) -> &str {
        self.error_kind()
            .unwrap_or_else(|| panic!("no error line for keyfob {}:\n{}", self.label, self.stderr))
    }

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

/// GETs `url` with `Authorization: Bearer <token>`, as a client without the DPoP key would;
/// returns the status.
pub async fn call_api_bearer(url: &str, token: &str) -> u16 {
    let transport = ReqwestTransport::new().unwrap();
    let request = HttpRequest {
        method: HttpMethod::Get,
        url: url.to_owned(),
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
        body: vec![],
        timeout: std::time::Duration::from_secs(10),
        max_response_bytes: 1 << 20,
    };
    transport.send(request).await.unwrap().status
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

/// Why `text` may hold a secret: [`secret_leak`], or a run of 40+ base64url characters mixing
/// upper case, lower case and digits (the shape of the codes, verifiers, states, nonces and
/// refresh tokens here).
pub fn leak(text: &str, secrets: &[String]) -> Option<String> {
    secret_leak(text, secrets).or_else(|| token_shaped_word(text))
}

/// Why `text` holds a secret: JWT text, or one of `secrets` (or a dot-separated part of one of
/// at least 16 characters).
pub fn secret_leak(text: &str, secrets: &[String]) -> Option<String> {
    if text.contains("eyJ") {
        return Some("JWT text".into());
    }
    for secret in secrets {
        let parts = std::iter::once(secret.as_str()).chain(secret.split('.'));
        if parts.filter(|p| p.len() >= 16).any(|p| text.contains(p)) {
            return Some(format!("a secret of {} characters", secret.len()));
        }
    }
    None
}

fn token_shaped_word(text: &str) -> Option<String> {
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
