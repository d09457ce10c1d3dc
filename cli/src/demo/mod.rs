//! `keyfob demo`: the seed scenario end to end, on loopback, with the real core.
//!
//! The testkit provider and servers A (`crm`) and B (`orders`) start on ephemeral loopback
//! ports; a [`keyfob::Client`] with the reqwest transport and the system clock then signs in
//! through an automated browser step (a plain GET of the authorization URL whose `302` gives the
//! deep link), calls A and B, waits for the access token to expire, refreshes silently, calls
//! again, trades the user's identity for the access token of the app's own authorization server
//! (seed 003: RFC 8693 token exchange with the testkit's internal server) and calls A and B with
//! that, and logs out. Every step is checked and reported with its duration.
//!
//! The report shows token *shapes* only (see [`crate::shape`]): never a token, code, `state`,
//! `nonce` or PKCE value. In unit tests the run also records every secret it saw, so the tests
//! can check that none of them reaches the rendered output.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keyfob::{
    Client, Config, ErrorKind, HttpMethod, HttpRequest, HttpResponse, HttpTransport,
    ReqwestTransport, SecretString, TokenExchange,
};
use keyfob_testkit::{Stats, Testkit};
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

use crate::shape::TokenShape;

mod steps;

/// The app's redirect URI (a private-use scheme, registered in the testkit by default).
const REDIRECT_URI: &str = "myapp://callback";
/// Timeout of each HTTP request the demo makes itself (browser step, API calls).
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Response bodies larger than this are refused.
const MAX_BODY: u64 = 1 << 20;
/// A step that takes longer than this (plus the token lifetime for step 6) has failed.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long after the access token's expiry second the demo waits before using it again.
const EXPIRY_MARGIN_MS: i64 = 150;

/// The number of the last step.
pub const LAST_STEP: u8 = 8;

/// The step names, by number (step 0 starts the testkit).
pub const STEP_NAMES: [&str; LAST_STEP as usize + 1] = [
    "testkit started",
    "discovery and JWKS fetched",
    "authorization URL built",
    "browser step",
    "callback handled",
    "servers A and B called",
    "access token expired and refreshed",
    "identity exchanged for an internal token",
    "logged out",
];

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Lifetime of the testkit's access tokens, in seconds (at least 2: a token issued at the
    /// end of a second must still be valid when step 5 uses it).
    pub access_token_ttl: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            access_token_ttl: 2,
        }
    }
}

/// The record of one step, as printed (`--json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Step number, 0 to [`LAST_STEP`].
    pub step: u8,
    /// What the step does.
    pub name: &'static str,
    /// Whether the step did everything it should.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub ms: u64,
    /// What the step saw (URLs, counters, statuses, token shapes); never a secret.
    pub details: Value,
    /// Why the step failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The one-line human summary.
    #[serde(skip)]
    pub summary: String,
}

impl Step {
    /// The human-readable line for a successful step, e.g.
    /// `[1/8] ok     12 ms  discovery and JWKS fetched: …`.
    pub fn human_line(&self) -> String {
        let status = if self.ok { "ok" } else { "FAILED" };
        let text = if self.ok {
            &self.summary
        } else {
            self.error.as_deref().unwrap_or("")
        };
        format!(
            "[{}/{LAST_STEP}] {status} {:>6} ms  {}: {text}",
            self.step, self.ms, self.name
        )
    }

    /// The `--json` line: one JSON object.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).expect("a step record serialises")
    }
}

/// The outcome of a demo run.
#[derive(Debug)]
pub struct Report {
    /// The steps that ran, in order; only the last one can have failed.
    pub steps: Vec<Step>,
    /// Every secret the run saw (tokens, code, state, nonce, PKCE challenge and JWT parts).
    #[cfg(test)]
    pub secrets: Vec<String>,
}

impl Report {
    /// The failed step, if any.
    pub fn failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| !s.ok)
    }

    /// Whether every step ran and succeeded.
    pub fn ok(&self) -> bool {
        self.failure().is_none() && self.steps.last().map(|s| s.step) == Some(LAST_STEP)
    }

    /// The total duration of the steps, in milliseconds.
    pub fn total_ms(&self) -> u64 {
        self.steps.iter().map(|s| s.ms).sum()
    }
}

/// Runs the demo, calling `on_step` as each step ends; stops at the first failed step.
pub async fn run(opts: &DemoOptions, mut on_step: impl FnMut(&Step)) -> Report {
    let mut steps = Vec::new();
    let mut record = |step: Step| {
        on_step(&step);
        let ok = step.ok;
        steps.push(step);
        ok
    };

    let started = Instant::now();
    let mut ctx = match Ctx::start(opts).await {
        Ok((ctx, outcome)) => {
            record(outcome.into_step(0, started, None));
            ctx
        }
        Err(reason) => {
            record(failed_step(0, started, reason));
            return Report {
                steps,
                #[cfg(test)]
                secrets: Vec::new(),
            };
        }
    };

    for n in 1..=LAST_STEP {
        let limit = if n == 6 {
            STEP_TIMEOUT + Duration::from_secs(opts.access_token_ttl)
        } else {
            STEP_TIMEOUT
        };
        let started = Instant::now();
        let result = tokio::time::timeout(limit, ctx.step(n))
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {} s", limit.as_secs())));
        let step = match result {
            Ok(outcome) => outcome.into_step(n, started, None),
            Err(reason) => failed_step(n, started, reason),
        };
        if !record(step) {
            break;
        }
    }

    #[cfg(test)]
    let secrets = std::mem::take(&mut ctx.seen.values);
    ctx.stop().await;
    Report {
        steps,
        #[cfg(test)]
        secrets,
    }
}

/// What a successful step reports.
struct Outcome {
    summary: String,
    details: Value,
}

impl Outcome {
    fn into_step(self, n: u8, started: Instant, error: Option<String>) -> Step {
        Step {
            step: n,
            name: STEP_NAMES[usize::from(n)],
            ok: error.is_none(),
            ms: elapsed_ms(started),
            details: self.details,
            error,
            summary: self.summary,
        }
    }
}

fn failed_step(n: u8, started: Instant, reason: String) -> Step {
    Outcome {
        summary: String::new(),
        details: json!({}),
    }
    .into_step(n, started, Some(reason))
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The secrets a run has seen, recorded only in unit tests (to prove none is printed).
#[derive(Default)]
struct Seen {
    #[cfg(test)]
    values: Vec<String>,
}

impl Seen {
    fn add(&mut self, secret: &str) {
        #[cfg(test)]
        {
            self.values.push(secret.to_owned());
            // The parts of a JWT are secrets on their own (claims, signature).
            if secret.matches('.').count() == 2 {
                self.values.extend(secret.split('.').map(str::to_owned));
            }
        }
        #[cfg(not(test))]
        let _ = secret;
    }
}

/// Everything the steps share.
struct Ctx {
    kit: Testkit,
    transport: Arc<ReqwestTransport>,
    client: Client,
    seen: Seen,
    /// The authorization URL from step 1.
    authorization_url: Option<String>,
    /// The deep link from step 3.
    callback: Option<String>,
    /// The access token used in step 5, used again after it expired in step 6.
    first_access_token: Option<SecretString>,
}

/// Resource server A or B.
#[derive(Debug, Clone, Copy)]
enum Server {
    Crm,
    Orders,
}

impl Server {
    fn url(self, kit: &Testkit) -> String {
        match self {
            Server::Crm => format!("{}/api/customers", kit.urls().crm),
            Server::Orders => format!("{}/api/orders", kit.urls().orders),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Server::Crm => "server A (crm)",
            Server::Orders => "server B (orders)",
        }
    }

    /// The `server` name in answers and the name of the list of rows.
    fn api(self) -> (&'static str, &'static str) {
        match self {
            Server::Crm => ("crm", "customers"),
            Server::Orders => ("orders", "orders"),
        }
    }
}

/// Requests that reached the provider (not counting the servers' own JWKS fetches).
fn provider_requests(s: &Stats) -> u64 {
    s.discovery + s.jwks + s.authorize + s.token + s.userinfo + s.revoke + s.end_session
}

/// The callback with every parameter value hidden except `iss` (and `error`), as
/// `myapp://callback?code=[redacted]&state=[redacted]&iss=http://127.0.0.1:…`.
fn redact_callback(url: &Url) -> String {
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    let params: Vec<String> = url
        .query_pairs()
        .map(|(name, value)| match name.as_ref() {
            "iss" | "error" => format!("{name}={value}"),
            _ => format!("{name}=[redacted]"),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
}

fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// A quoted parameter of a `WWW-Authenticate` challenge, e.g. `error="invalid_token"`.
fn auth_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &challenge[start..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// `sub=user-123 aud=[…] exp in 300 s` for a JWT shape (`opaque` otherwise).
fn jwt_claims_summary(shape: &TokenShape, now: i64) -> String {
    let Some(jwt) = &shape.jwt else {
        return format!("opaque, {} bytes", shape.len);
    };
    format!(
        "sub={} aud=[{}] exp={}, {} bytes",
        jwt.sub.as_deref().unwrap_or("-"),
        jwt.aud.join(", "),
        jwt.exp
            .map_or_else(|| "-".to_owned(), |exp| format!("now{:+}s", exp - now)),
        shape.len
    )
}

fn expect_eq(what: &str, actual: u64, expected: u64) -> Result<(), String> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected}, got {actual}"))
    }
}

/// Compares non-secret strings (names, URLs, counters); never call it with a secret.
fn expect_str(what: &str, actual: &str, expected: &str) -> Result<(), String> {
    if actual == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got {actual:?}"))
    }
}

fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn unix_now() -> i64 {
    unix_now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_values_are_redacted_except_iss() {
        let url = Url::parse(
            "myapp://callback?code=SECRET1&state=SECRET2&iss=http%3A%2F%2F127.0.0.1%3A9",
        )
        .unwrap();
        assert_eq!(
            redact_callback(&url),
            "myapp://callback?code=[redacted]&state=[redacted]&iss=http://127.0.0.1:9"
        );
    }

    #[test]
    fn challenge_parameters() {
        let h = r#"Bearer realm="crm", error="invalid_token", error_description="token expired""#;
        assert_eq!(auth_param(h, "error").as_deref(), Some("invalid_token"));
        assert_eq!(
            auth_param(h, "error_description").as_deref(),
            Some("token expired")
        );
        assert_eq!(auth_param(r#"Bearer realm="crm""#, "error"), None);
    }

    /// The whole demo in-process: every step passes, and no secret the run saw appears in
    /// the human or the JSON output.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn demo_passes_and_prints_no_secret() {
        let mut human = Vec::new();
        let mut json_lines = Vec::new();
        // Step 5 must use the access token before it expires, which takes milliseconds; the
        // default lifetime (2 s) is for people watching, and a loaded machine may need more.
        let opts = DemoOptions {
            access_token_ttl: 10,
        };
        let report = run(&opts, |step| {
            human.push(step.human_line());
            json_lines.push(step.json_line());
        })
        .await;
        let output = format!("{}\n{}", human.join("\n"), json_lines.join("\n"));
        assert!(report.ok(), "{output}");
        assert_eq!(report.steps.len(), usize::from(LAST_STEP) + 1);

        // The run saw the secrets it should have (so the check below is not vacuous):
        // state, nonce, code_challenge, code, access/ID/refresh tokens before and after refresh.
        assert!(report.secrets.len() >= 12, "{}", report.secrets.len());
        assert!(report.secrets.iter().any(|s| s.starts_with("eyJ")));
        for secret in &report.secrets {
            // JWT headers are not secret, but must not be printed either; very short pieces
            // (none expected) would match by chance.
            if secret.len() >= 8 {
                assert!(
                    !output.contains(secret.as_str()),
                    "a secret of {} bytes appears in the output",
                    secret.len()
                );
            }
        }
        assert!(!output.contains("eyJ"), "a JWT part appears in the output");
    }
}
