//! The commands that use a stored session: `status`, `token`, `refresh`, `logout`, `call`,
//! `accounts` and `use`.
//!
//! Each finds the session by issuer and client id under the store root ([`crate::store`]) and
//! restores a [`keyfob::Client`] on it; the core decides when to refresh and persists new
//! tokens before handing them out. Only `token` prints a token (and `logout --end-session-url`
//! the end-session URL, which carries the ID token as a hint, because it was asked for).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyfob::{
    Client, Clock as _, Config, ConfigBuilder, FileStorage, HttpMethod, HttpRequest, HttpTransport,
    ReqwestTransport, SecureStorage as _, SessionState, SystemClock, Tokens,
};
use serde_json::{Value, json};
use url::Url;

use crate::dpop_key;
use crate::failure::Failure;
use crate::login::display_user;
use crate::store;

/// The redirect URI of a restored client. A stored session does not depend on the redirect
/// URI (it only matters for a login), but a configuration needs one.
const RESTORED_REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// Every network wait ends within this time, unless `--http-timeout` says otherwise.
pub const NETWORK_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body `keyfob call` accepts.
const MAX_CALL_BODY: u64 = 16 * 1024 * 1024;

/// Which session a command works on.
#[derive(Debug, Clone)]
pub struct SessionRef {
    /// The provider's issuer.
    pub issuer: String,
    /// The public client's id.
    pub client_id: String,
    /// `--store` / `KEYFOB_STORE`, if given.
    pub store: Option<PathBuf>,
    /// `--http-timeout`: the timeout of each request to the provider.
    pub http_timeout: Duration,
    /// `--metadata-max-age`, `--metadata-min-age`.
    pub metadata_ages: MetadataAges,
}

/// How long the provider's metadata kept beside the session is reused (`--metadata-max-age`,
/// `--metadata-min-age`); `None`: the core's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetadataAges {
    /// The longest.
    pub max: Option<Duration>,
    /// The shortest.
    pub min: Option<Duration>,
}

/// A client restored on an existing file store.
struct Session {
    client: Client,
    storage: FileStorage,
    transport: Arc<ReqwestTransport>,
}

/// The client configuration of every command: `issuer`, `client_id`, the redirect URI, extra
/// `scopes`, the timeout per request, the metadata's ages, and several accounts.
pub fn config_builder(
    issuer: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
    http_timeout: Duration,
    ages: MetadataAges,
) -> ConfigBuilder {
    let mut builder = Config::builder(issuer, client_id, redirect_uri)
        .scopes(scopes.iter().cloned())
        .http_timeout(http_timeout)
        .multiple_accounts(true);
    if let Some(max) = ages.max {
        builder = builder.metadata_max_age(max);
    }
    if let Some(min) = ages.min {
        builder = builder.metadata_min_age(min);
    }
    builder
}

/// The HTTP transport of every command.
pub fn transport() -> Result<Arc<ReqwestTransport>, Failure> {
    let transport = ReqwestTransport::new().map_err(|e| {
        Failure::new(
            "Network",
            format!("cannot set up the HTTP client: {}", e.message),
        )
    })?;
    Ok(Arc::new(transport))
}

/// Validates the issuer and client id, then opens the stored session if there is one. Creates
/// nothing on disk.
fn open(session: &SessionRef) -> Result<Option<Session>, Failure> {
    let config = config_builder(
        &session.issuer,
        &session.client_id,
        RESTORED_REDIRECT_URI,
        &[],
        session.http_timeout,
        session.metadata_ages,
    )
    .build()
    .map_err(Failure::usage)?;
    let root = store::root_from_env(session.store.as_deref())?;
    let Some(storage) = store::open_existing(&root, &session.issuer, &session.client_id)? else {
        return Ok(None);
    };
    let transport = transport()?;
    let mut client = Client::new(config, transport.clone()).with_storage(Arc::new(storage.clone()));
    // Sessions bound to the store's DPoP key need it; Bearer sessions ignore it.
    if let Some(key) = dpop_key::load(&storage)? {
        client = client.with_dpop_key(Arc::new(key));
    }
    Ok(Some(Session {
        client,
        storage,
        transport,
    }))
}

impl Session {
    /// The access token of `account`, or of the active account.
    async fn access_token(&self, account: Option<&str>) -> keyfob::Result<keyfob::SecretString> {
        match account {
            Some(subject) => self.client.access_token_for_account(subject).await,
            None => self.client.access_token().await,
        }
    }

    /// The tokens of `account` (or of the active one) in memory.
    fn tokens(&self, account: Option<&str>) -> Option<Tokens> {
        match account {
            None => self.client.tokens(),
            Some(subject) => self.client.tokens_for_account(subject),
        }
    }
}

/// [`open`], for commands that need a session.
fn open_signed_in(session: &SessionRef) -> Result<Session, Failure> {
    open(session)?.ok_or_else(|| Failure::not_signed_in(&session.issuer, &session.client_id))
}

/// `keyfob status [--json]`: whether a session is stored, and whose. No network. Exits 0
/// whenever the arguments are valid; a stored session that cannot be read is reported as
/// signed out, with the reason.
pub fn status(session: &SessionRef, as_json: bool) -> Result<(), Failure> {
    let mut tokens = None;
    let mut problem = None;
    let mut store_dir = None;
    if let Some(s) = open(session)? {
        match s.client.restore() {
            Ok(SessionState::SignedIn) => tokens = s.client.tokens(),
            Ok(_) => {}
            Err(e) => problem = Some(Failure::from(e)),
        }
        store_dir = Some(s.storage.dir().display().to_string());
    }
    let now = unix_now();
    let text = match (as_json, &tokens) {
        (true, _) => format!(
            "{}\n",
            status_json(session, tokens.as_ref(), problem.as_ref(), store_dir, now)
        ),
        (false, Some(t)) => format!(
            "Signed in to {} as {}\nAccess token: {} ({})\nScopes: {}\nRefresh token: {}\nStore: {}\n",
            session.issuer,
            display_user(t.claims()),
            describe_expiry(t.expires_at(), now),
            t.token_type(),
            describe_scopes(t.scopes()),
            if t.refresh_token().is_some() {
                "yes"
            } else {
                "no"
            },
            store_dir.unwrap_or_default(),
        ),
        (false, None) => {
            let mut text = format!(
                "Not signed in to {} (client {}).\n",
                session.issuer, session.client_id
            );
            if let Some(problem) = &problem {
                text.push_str(&format!("The stored session cannot be used: {problem}\n"));
            }
            text
        }
    };
    print_stdout(&text)
}

/// The `status --json` object: `signed_in`, `issuer`, `client_id`; when signed in also `sub`,
/// `email`, `name`, `expires_at`, `expires_in`, `scopes`, `refresh_token` (bool), `token_type`
/// (`Bearer`, or `DPoP` for tokens bound to the store's DPoP key), `store`; and
/// `error` ({`kind`, `message`}) when a stored session cannot be read.
fn status_json(
    session: &SessionRef,
    tokens: Option<&Tokens>,
    problem: Option<&Failure>,
    store_dir: Option<String>,
    now: i64,
) -> Value {
    let mut report = json!({
        "signed_in": tokens.is_some(),
        "issuer": session.issuer,
        "client_id": session.client_id,
    });
    if let Some(t) = tokens {
        let claims = t.claims();
        report["sub"] = json!(claims.subject);
        report["email"] = json!(claims.email);
        report["name"] = json!(claims.name);
        report["expires_at"] = json!(t.expires_at());
        report["expires_in"] = json!(t.expires_at().map(|exp| exp - now));
        report["scopes"] = json!(t.scopes());
        report["refresh_token"] = json!(t.refresh_token().is_some());
        report["token_type"] = json!(t.token_type());
        report["store"] = json!(store_dir);
    }
    if let Some(problem) = problem {
        report["error"] = json!({"kind": problem.kind, "message": problem.message});
    }
    report
}

/// `keyfob token [--account SUB]`: a valid access token of the active account (or `SUB`'s)
/// and a newline on stdout, refreshed when needed.
pub async fn token(session: &SessionRef, account: Option<&str>) -> Result<(), Failure> {
    let s = open_signed_in(session)?;
    let token = s.access_token(account).await?;
    print_stdout(&format!("{}\n", token.expose()))
}

/// `keyfob refresh [--account SUB]`: a `refresh_token` grant now, whatever the access token's
/// expiry.
pub async fn refresh(session: &SessionRef, account: Option<&str>) -> Result<(), Failure> {
    let s = open_signed_in(session)?;
    let before = s.tokens(account);
    let tokens = match account {
        Some(subject) => s.client.refresh_account(subject).await?,
        None => s.client.refresh().await?,
    };
    let rotated = match (
        before.as_ref().and_then(Tokens::refresh_token),
        tokens.refresh_token(),
    ) {
        (Some(old), Some(new)) if old != new => "rotated",
        (_, Some(_)) => "kept",
        (_, None) => "none",
    };
    print_stdout(&format!(
        "Refreshed. Access token: {}; refresh token: {rotated}.\n",
        describe_expiry(tokens.expires_at(), unix_now())
    ))
}

/// `keyfob logout [--account SUB] [--end-session-url]`: revokes the active account's (or
/// `SUB`'s) refresh token and clears its session; the other accounts stay. Succeeds even if
/// revocation failed (with a warning on stderr).
pub async fn logout(
    session: &SessionRef,
    account: Option<&str>,
    end_session_url: bool,
) -> Result<(), Failure> {
    let Some(s) = open(session)? else {
        eprintln!(
            "Not signed in to {} (client {}); nothing to do.",
            session.issuer, session.client_id
        );
        return Ok(());
    };
    let was_signed_in = s.tokens(account).is_some();
    let outcome = match account {
        Some(subject) => s.client.logout_account(subject).await?,
        None => s.client.logout().await?,
    };
    if s.client.accounts().is_empty() {
        // The last account is gone: so is the key its tokens were bound to.
        if let Err(e) = s.storage.delete(dpop_key::DPOP_KEY) {
            eprintln!("warning: the DPoP key could not be removed: {e}");
        }
    }
    store::remove_if_empty(&s.storage);
    if !was_signed_in {
        eprintln!(
            "Not signed in to {} (client {}); nothing to do.",
            session.issuer, session.client_id
        );
        return Ok(());
    }
    if let Some(e) = &outcome.revocation_error {
        eprintln!(
            "warning: the refresh token could not be revoked ({:?}: {}); the local session was removed anyway",
            e.kind(),
            e.message()
        );
    }
    let done = format!("Signed out of {}.", session.issuer);
    if !end_session_url {
        return print_stdout(&format!("{done}\n"));
    }
    eprintln!("{done}");
    match &outcome.end_session_url {
        Some(url) => print_stdout(&format!("{}\n", url.expose())),
        None => {
            eprintln!("warning: the provider has no end-session endpoint");
            Ok(())
        }
    }
}

/// `keyfob accounts [--json]`: the signed-in accounts, the active one marked. No network.
/// Exits 0 whenever the arguments are valid (no account is not an error).
pub fn accounts(session: &SessionRef, as_json: bool) -> Result<(), Failure> {
    let accounts = match open(session)? {
        Some(s) => {
            if let Err(e) = s.client.restore() {
                log::warn!("the stored session cannot be used: {e}");
            }
            s.client.accounts()
        }
        None => Vec::new(),
    };
    if as_json {
        let list: Vec<Value> = accounts
            .iter()
            .map(|a| {
                json!({
                    "sub": a.claims.subject,
                    "email": a.claims.email,
                    "name": a.claims.name,
                    "active": a.active,
                })
            })
            .collect();
        return print_stdout(&format!("{}\n", Value::Array(list)));
    }
    if accounts.is_empty() {
        return print_stdout(&format!(
            "No account is signed in to {} (client {}).\n",
            session.issuer, session.client_id
        ));
    }
    let lines: String = accounts
        .iter()
        .map(|a| {
            let mark = if a.active { "*" } else { " " };
            format!("{mark} {}\n", display_user(&a.claims))
        })
        .collect();
    print_stdout(&lines)
}

/// `keyfob use SUB`: makes `SUB`'s account the active one (exit 3 when no such account is
/// signed in).
pub fn use_account(session: &SessionRef, subject: &str) -> Result<(), Failure> {
    let s = open_signed_in(session)?;
    s.client.switch_account(subject)?;
    let claims = s
        .client
        .claims()
        .ok_or_else(|| Failure::not_signed_in(&session.issuer, &session.client_id))?;
    print_stdout(&format!("Now using {}\n", display_user(&claims)))
}

/// `keyfob call [--account SUB] URL`: GET with the access token (`Authorization: Bearer`, or
/// `DPoP` and a proof for a DPoP-bound session, sent once more with the server's nonce when it
/// asks for one), the body on stdout. A status other than 2xx is a failure (the body is still
/// printed, as `curl --fail-with-body` does).
pub async fn call(session: &SessionRef, url: &str, account: Option<&str>) -> Result<(), Failure> {
    let target = check_call_url(url)?;
    let s = open_signed_in(session)?;
    let shown = without_query(&target);
    let mut retried = false;
    let response = loop {
        let authorization = match account {
            Some(subject) => {
                s.client
                    .authorization_headers_for_account(subject, "GET", target.as_str())
                    .await?
            }
            None => {
                s.client
                    .authorization_headers("GET", target.as_str())
                    .await?
            }
        };
        let mut headers: Vec<(String, String)> = authorization
            .pairs()
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        headers.push((
            "accept".to_owned(),
            "application/json, */*;q=0.5".to_owned(),
        ));
        let request = HttpRequest {
            method: HttpMethod::Get,
            url: target.to_string(),
            headers,
            body: Vec::new(),
            timeout: session.http_timeout,
            max_response_bytes: MAX_CALL_BODY,
        };
        let response = s.transport.send(request).await.map_err(|e| {
            let kind = match e.kind {
                keyfob::TransportErrorKind::Timeout => "Timeout",
                keyfob::TransportErrorKind::TooLarge => "InvalidResponse",
                _ => "Network",
            };
            Failure::new(kind, format!("GET {shown}: {}", e.message))
        })?;
        let asks_for_nonce =
            s.client
                .resource_response(target.as_str(), response.status, &response.headers);
        if asks_for_nonce && !retried {
            retried = true;
            continue;
        }
        break response;
    };
    write_stdout(&response.body)?;
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let challenge = response
        .header("www-authenticate")
        .map(|h| format!(" ({})", sanitize(h)))
        .unwrap_or_default();
    Err(Failure::new(
        "HttpStatus",
        format!("GET {shown} answered {}{challenge}", response.status),
    ))
}

/// The URL `call` may send the token to: `https`, or `http` on a loopback host.
fn check_call_url(url: &str) -> Result<Url, Failure> {
    let parsed = Url::parse(url)
        .map_err(|e| Failure::usage_kind("InvalidUrl", format!("{url:?} is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if keyfob::is_loopback(&parsed) => Ok(parsed),
        _ => Err(Failure::usage_kind(
            "InsecureUrl",
            format!(
                "will not send the access token to {}: use https (plain http only for 127.0.0.1, [::1] and localhost)",
                without_query(&parsed)
            ),
        )),
    }
}

/// The URL without query and fragment, for messages.
fn without_query(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// A header value from a server, shortened and stripped of control characters.
fn sanitize(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

/// Writes `text` to stdout; a closed stdout is a failure, not a panic.
pub fn print_stdout(text: &str) -> Result<(), Failure> {
    write_stdout(text.as_bytes())
}

/// Writes `bytes` to stdout and flushes; a closed stdout is a failure, not a panic.
fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new("Output", format!("cannot write to stdout: {e}")))
}

/// `expires 2026-01-01T10:00:00Z (in 299 s)`, `expired …`, or `expiry unknown`.
fn describe_expiry(expires_at: Option<i64>, now: i64) -> String {
    match expires_at {
        None => "expiry unknown".to_owned(),
        Some(exp) if exp > now => format!("expires {} (in {} s)", format_utc(exp), exp - now),
        Some(exp) => format!("expired {} ({} s ago)", format_utc(exp), now - exp),
    }
}

/// The granted scopes, or a word for none: a provider may grant none of the requested scopes.
fn describe_scopes(scopes: &[String]) -> String {
    if scopes.is_empty() {
        "none granted".to_owned()
    } else {
        scopes.join(" ")
    }
}

fn unix_now() -> i64 {
    SystemClock.now()
}

/// RFC 3339 UTC time of `secs` since the epoch, e.g. `2026-03-01T12:00:00Z`.
fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_granted_or_none() {
        assert_eq!(describe_scopes(&[]), "none granted");
        let scopes = ["openid".to_owned(), "email".to_owned()];
        assert_eq!(describe_scopes(&scopes), "openid email");
    }

    #[test]
    fn utc_times() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(format_utc(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn expiry_descriptions() {
        assert_eq!(describe_expiry(None, 5), "expiry unknown");
        assert_eq!(
            describe_expiry(Some(100), 40),
            "expires 1970-01-01T00:01:40Z (in 60 s)"
        );
        assert_eq!(
            describe_expiry(Some(100), 160),
            "expired 1970-01-01T00:01:40Z (60 s ago)"
        );
    }

    #[test]
    fn call_urls_must_be_https_or_loopback() {
        assert!(check_call_url("https://crm.company.com/api?x=1").is_ok());
        assert!(check_call_url("http://127.0.0.1:8081/api/customers").is_ok());
        assert!(check_call_url("http://localhost/api").is_ok());
        assert!(check_call_url("http://[::1]:9/api").is_ok());
        let insecure = check_call_url("http://crm.company.com/api?secret=1").unwrap_err();
        assert_eq!((insecure.kind.as_str(), insecure.exit), ("InsecureUrl", 2));
        assert!(!insecure.message.contains("secret"));
        assert_eq!(check_call_url("ftp://x/").unwrap_err().kind, "InsecureUrl");
        assert_eq!(check_call_url("not a url").unwrap_err().kind, "InvalidUrl");
    }
}
