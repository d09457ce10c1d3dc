//! The relying-party conformance matrix: a hostile or broken provider (list 1), a failing network
//! (list 2) and a failing store (list 3), one row per misbehaviour.
//!
//! Each row names the misbehaviour, the error Keyfob must return (kind, ID-token check,
//! retryability, storage kind) and where the session must stand afterwards (its
//! [`SessionState`] and what the store holds). The whole table runs in one test,
//! [`conformance_matrix`], with every log record captured at trace level and every error's
//! `Display` and `Debug` kept, and ends by checking that no token, code, verifier, state, nonce
//! or refresh token seen on the wire or in the store shows up in any of them (list 4).
//!
//! A row marked `known_bug` documents a defect: it must still fail as described (if it passes,
//! the bug is fixed and the marker must go), and an `#[ignore = "bug: …"]` test below states the
//! behaviour the fix must bring.
//!
//! Rows that existing tests already cover are kept here too, because those tests assert the
//! error kind only, not the session state afterwards, and because the leak check must see them.

mod common;

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Env, FaultyStorage, start, with_param};
use keyfob::{
    Client, Config, ErrorKind, HttpRequest, HttpResponse, HttpTransport, IdTokenCheck,
    SecureStorage, SessionState, StorageErrorKind, TransportError,
};
use keyfob_testkit::{EndpointFault, Faults, Signing};
use serde_json::{Map, Value, json};

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// =============================================================================================
// Log capture (list 4).

// The capturing logger is in common/mod.rs (`capture_logs`, `captured_logs`).

// =============================================================================================
// A transport that remembers every secret that crosses it, and every URL it was asked for.

#[derive(Default)]
struct Seen {
    secrets: Mutex<BTreeSet<String>>,
    urls: Mutex<Vec<String>>,
}

impl Seen {
    fn add(&self, secret: &str) {
        let mut secrets = self.secrets.lock().unwrap();
        secrets.insert(secret.to_string());
        // The parts of a JWT other than its (shared, public) header.
        let parts: Vec<&str> = secret.split('.').collect();
        if parts.len() == 3 {
            for part in &parts[1..] {
                secrets.insert(part.to_string());
            }
        }
    }

    /// Secret members of a JSON object (token responses, stored records).
    fn add_json(&self, bytes: &[u8]) {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) {
            for name in [
                "access_token",
                "refresh_token",
                "id_token",
                "state",
                "nonce",
                "verifier",
                "login_nonce",
            ] {
                if let Some(Value::String(s)) = map.get(name) {
                    self.add(s);
                }
            }
        }
    }

    fn add_url_params(&self, url: &str, names: &[&str]) {
        for name in names {
            if let Some(v) = common::param(url, name) {
                self.add(&v);
            }
        }
    }
}

struct Spy {
    inner: Arc<keyfob::ReqwestTransport>,
    seen: Arc<Seen>,
}

#[async_trait::async_trait]
impl HttpTransport for Spy {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.seen.urls.lock().unwrap().push(request.url.clone());
        for (name, value) in url::form_urlencoded::parse(&request.body) {
            if matches!(
                name.as_ref(),
                "code" | "code_verifier" | "refresh_token" | "token"
            ) {
                self.seen.add(&value);
            }
        }
        for (name, value) in &request.headers {
            if let Some(token) = value.strip_prefix("Bearer ")
                && name == "authorization"
            {
                self.seen.add(token);
            }
        }
        let response = self.inner.send(request).await;
        if let Ok(r) = &response {
            self.seen.add_json(&r.body);
        }
        response
    }
}

// =============================================================================================
// One row's world: a testkit, a client on a spying transport and a faulty store.

struct Ctx {
    env: Env,
    config: Config,
    spy: Arc<Spy>,
    seen: Arc<Seen>,
    storage: Arc<FaultyStorage>,
    client: Mutex<Arc<Client>>,
    /// The store's contents when the row's step began (for [`Stored::Unchanged`]).
    before: Mutex<Option<Snapshot>>,
    /// Everything Keyfob printed for this row: errors' Display and Debug, tokens' Debug, …
    printed: Mutex<Vec<String>>,
    /// The error the row's step returned (for `check`s).
    last_error: Mutex<Option<keyfob::Error>>,
    /// A callback kept by a custom step for its follow-up.
    kept_callback: Mutex<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    session: Option<Vec<u8>>,
    pending: Option<Vec<u8>>,
}

impl Ctx {
    async fn new(timeout: Duration) -> Ctx {
        let env = start().await;
        let seen = Arc::new(Seen::default());
        let spy = Arc::new(Spy {
            inner: env.transport.clone(),
            seen: seen.clone(),
        });
        let storage = Arc::new(FaultyStorage {
            on_save: Some(Box::new({
                let seen = seen.clone();
                move |value: &[u8]| seen.add_json(value)
            })),
            ..FaultyStorage::default()
        });
        let config = env.config().http_timeout(timeout).build().unwrap();
        let client = Mutex::new(Arc::new(Self::new_client(&env, &config, &spy, &storage)));
        Ctx {
            env,
            config,
            spy,
            seen,
            storage,
            client,
            before: Mutex::new(None),
            printed: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
            kept_callback: Mutex::new(None),
        }
    }

    fn new_client(
        env: &Env,
        config: &Config,
        spy: &Arc<Spy>,
        storage: &Arc<FaultyStorage>,
    ) -> Client {
        Client::new(config.clone(), spy.clone())
            .with_clock(env.clock.clone())
            .with_storage(storage.clone())
    }

    fn last_error(&self) -> Option<keyfob::Error> {
        self.last_error.lock().unwrap().clone()
    }

    /// The client (the current app process).
    fn client(&self) -> Arc<Client> {
        self.client.lock().unwrap().clone()
    }

    /// The app is killed and started again: a new client on the same store.
    fn restart(&self) {
        let client = Self::new_client(&self.env, &self.config, &self.spy, &self.storage);
        *self.client.lock().unwrap() = Arc::new(client);
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            session: self.storage.get("session"),
            pending: self.storage.get("pending"),
        }
    }

    /// Remembers the store's contents as "before the step".
    fn mark(&self) {
        *self.before.lock().unwrap() = Some(self.snapshot());
    }

    fn print(&self, text: String) {
        self.printed.lock().unwrap().push(text);
    }

    fn print_error(&self, e: &keyfob::Error) {
        self.print(format!("{e}"));
        self.print(format!("{e:?}"));
    }

    /// `begin_login`, remembering the URL's secrets.
    async fn begin(&self) -> keyfob::Result<String> {
        let url = self.client().begin_login().await?;
        self.seen
            .add_url_params(&url, &["state", "nonce", "code_challenge"]);
        Ok(url)
    }

    /// The browser: follows the authorization URL to the deep link, remembering its code.
    async fn browse(&self, url: &str) -> String {
        let callback = self.env.browse(url).await;
        self.seen.add_url_params(&callback, &["code", "state"]);
        if let Some((_, fragment)) = callback.split_once('#') {
            for (name, value) in url::form_urlencoded::parse(fragment.as_bytes()) {
                if name == "code" || name == "state" {
                    self.seen.add(&value);
                }
            }
        }
        callback
    }

    /// A complete, successful sign-in.
    async fn login(&self) {
        let url = self.begin().await.expect("begin_login");
        let callback = self.browse(&url).await;
        self.client()
            .handle_redirect(&callback)
            .await
            .expect("the sign-in of the row's set-up");
    }
}

// =============================================================================================
// Rows.

/// When the misbehaviour strikes, i.e. which call of the app's must fail.
enum Step {
    /// Faults on, then `begin_login` (discovery).
    BeginLogin,
    /// Faults on, then `begin_login`, the browser, `handle_redirect` of the callback (optionally
    /// rewritten by the row, as an attacker or a broken OS would).
    Callback,
    /// `begin_login` and the browser first, then faults on, then `handle_redirect`.
    Exchange,
    /// A sign-in first, then faults on, then `refresh`.
    Refresh,
    /// A sign-in first, then faults on, then `userinfo`.
    Userinfo,
    /// A sign-in, then the stored session is replaced by `f(session)`, the app restarts and
    /// calls `restore`.
    RestoreSession(fn(&[u8]) -> Vec<u8>),
    /// A login started and its callback received, then the stored pending login is replaced by
    /// `f(pending)`, the app restarts and calls `handle_redirect`.
    RestorePending(fn(&[u8]) -> Vec<u8>),
    /// Anything else: the function runs the whole scenario and returns the call under test.
    Custom(for<'a> fn(&'a Ctx) -> BoxFut<'a, keyfob::Result<()>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Err {
        kind: ErrorKind,
        check: Option<IdTokenCheck>,
        retryable: bool,
        storage: Option<StorageErrorKind>,
    },
}

fn fails(kind: ErrorKind) -> Outcome {
    Outcome::Err {
        kind,
        check: None,
        retryable: false,
        storage: None,
    }
}

fn retryable(kind: ErrorKind) -> Outcome {
    Outcome::Err {
        kind,
        check: None,
        retryable: true,
        storage: None,
    }
}

fn id_token(check: IdTokenCheck) -> Outcome {
    Outcome::Err {
        kind: ErrorKind::IdToken,
        check: Some(check),
        retryable: false,
        storage: None,
    }
}

fn storage(kind: StorageErrorKind) -> Outcome {
    Outcome::Err {
        kind: ErrorKind::Storage,
        check: None,
        retryable: kind == StorageErrorKind::Unavailable,
        storage: Some(kind),
    }
}

/// What the store holds after the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// Neither a session nor a pending login.
    Nothing,
    /// A pending login only.
    PendingOnly,
    /// A session, no pending login.
    Session,
    /// Exactly what it held when the step began.
    Unchanged,
}

type Check = Box<dyn Fn(&Ctx) -> Result<(), String> + Send + Sync>;
type Setup = Box<dyn Fn(&Env) + Send + Sync>;
type Then = for<'a> fn(&'a Ctx) -> BoxFut<'a, Result<(), String>>;

struct Row {
    id: &'static str,
    case: &'static str,
    step: Step,
    setup: Option<Setup>,
    rewrite: Option<fn(&str) -> String>,
    timeout: Duration,
    outcome: Outcome,
    state: SessionState,
    stored: Stored,
    checks: Vec<(&'static str, Check)>,
    then: Option<Then>,
    known_bug: Option<&'static str>,
}

impl Row {
    fn new(id: &'static str, case: &'static str, step: Step) -> Row {
        Row {
            id,
            case,
            step,
            setup: None,
            rewrite: None,
            timeout: Duration::from_secs(10),
            outcome: Outcome::Ok,
            state: SessionState::SignedIn,
            stored: Stored::Session,
            checks: Vec::new(),
            then: None,
            known_bug: None,
        }
    }

    fn faults(self, faults: Faults) -> Row {
        self.setup(move |env: &Env| env.kit.set_faults(faults.clone()))
    }

    fn setup(mut self, f: impl Fn(&Env) + Send + Sync + 'static) -> Row {
        self.setup = Some(Box::new(f));
        self
    }

    fn rewrite(mut self, f: fn(&str) -> String) -> Row {
        self.rewrite = Some(f);
        self
    }

    fn timeout_secs(mut self, secs: u64) -> Row {
        self.timeout = Duration::from_secs(secs);
        self
    }

    fn expect(mut self, outcome: Outcome, state: SessionState, stored: Stored) -> Row {
        self.outcome = outcome;
        self.state = state;
        self.stored = stored;
        self
    }

    fn check(
        mut self,
        what: &'static str,
        f: impl Fn(&Ctx) -> Result<(), String> + Send + Sync + 'static,
    ) -> Row {
        self.checks.push((what, Box::new(f)));
        self
    }

    /// A stats counter of the testkit must have this value after the step.
    fn stat(self, what: &'static str, get: fn(&keyfob_testkit::Stats) -> u64, want: u64) -> Row {
        self.check(what, move |ctx| {
            let got = get(&ctx.env.kit.stats());
            (got == want)
                .then_some(())
                .ok_or(format!("{what}: {got}, expected {want}"))
        })
    }

    fn then(mut self, f: Then) -> Row {
        self.then = Some(f);
        self
    }

    /// Marks a row as documenting a known defect (none open now; kept for the next one found).
    #[allow(dead_code)]
    fn known_bug(mut self, why: &'static str) -> Row {
        self.known_bug = Some(why);
        self
    }
}

// ----- fault helpers

fn object(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn claims(patch: Value) -> Faults {
    Faults {
        id_token_claims: Some(object(patch)),
        ..Faults::default()
    }
}

fn header(patch: Value) -> Faults {
    Faults {
        id_token_header: Some(object(patch)),
        ..Faults::default()
    }
}

fn signing(s: Signing) -> Faults {
    Faults {
        id_token_signing: Some(s),
        ..Faults::default()
    }
}

fn token_response(patch: Value) -> Faults {
    Faults {
        token_response: Some(object(patch)),
        ..Faults::default()
    }
}

fn discovery(patch: Value) -> Faults {
    Faults {
        discovery: Some(object(patch)),
        ..Faults::default()
    }
}

fn callback(patch: Value) -> Faults {
    Faults {
        callback: Some(object(patch)),
        ..Faults::default()
    }
}

fn endpoint(path: &str, f: impl FnOnce(&mut EndpointFault)) -> Faults {
    let mut fault = EndpointFault {
        path: path.to_string(),
        ..EndpointFault::default()
    };
    f(&mut fault);
    Faults {
        endpoints: vec![fault],
        ..Faults::default()
    }
}

const DISCOVERY: &str = "/.well-known/openid-configuration";
const JWKS: &str = "/.well-known/jwks.json";
const TOKEN: &str = "/token";
const USERINFO: &str = "/userinfo";
const FIFTY_MB: u64 = 50 * 1024 * 1024;
const HTML: &str = "<html><body><h1>502 Bad Gateway</h1></body></html>";

/// JWKS members Keyfob cannot use: each must be skipped, not fail the set.
fn unusable_keys() -> Vec<Value> {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let n = b64(&[0xc3; 256]);
    vec![
        json!("not a key"),
        json!(42),
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        json!({"kty": "RSA", "kid": "bad-b64", "n": "!!!", "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "no-e", "n": n}),
        json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": n, "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "rs512", "alg": "RS512", "n": n, "e": "AQAB"}),
        json!({"kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48])}),
        json!({"kty": "EC", "kid": "short", "crv": "P-256", "x": b64(&[1; 31]), "y": b64(&[2; 32])}),
        json!({"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&[3; 32])}),
        json!({"kty": "RSA", "kid": 7, "n": n, "e": "AQAB"}),
    ]
}

fn no_request_to(host: &'static str) -> impl Fn(&Ctx) -> Result<(), String> + Send + Sync {
    move |ctx| {
        let urls = ctx.seen.urls.lock().unwrap();
        match urls.iter().find(|u| u.contains(host)) {
            Some(u) => Err(format!("a request went to {u}")),
            None => Ok(()),
        }
    }
}

fn duplicate_param(url: &str, name: &str) -> String {
    let value = common::param(url, name).unwrap();
    format!("{url}&{name}={value}")
}

// =============================================================================================
// The table.

fn rows() -> Vec<Row> {
    use ErrorKind as K;
    use IdTokenCheck as C;
    use SessionState::{LoginPending, NeedsReLogin, SignedIn, SignedOut, StorageUnavailable};
    use Step::*;
    use Stored::{Nothing, PendingOnly, Session, Unchanged};

    let tokens = |s: &keyfob_testkit::Stats| s.token;
    let jwks = |s: &keyfob_testkit::Stats| s.jwks;
    let revoke = |s: &keyfob_testkit::Stats| s.revoke;
    let userinfo = |s: &keyfob_testkit::Stats| s.userinfo;

    let failed_login = SignedOut; // the pending login was used up by the callback
    let mut rows = vec![
        // ---------------------------------------------------------------- 1. ID token
        Row::new("1.01", "ID token: iss is another issuer", Callback)
            .faults(claims(json!({"iss": "https://evil.example"})))
            .expect(id_token(C::Issuer), failed_login, Nothing),
        Row::new("1.02", "ID token: aud is another client", Callback)
            .faults(claims(json!({"aud": "someone-else", "azp": null})))
            .expect(id_token(C::Audience), failed_login, Nothing),
        Row::new("1.03", "ID token: several aud, no azp", Callback)
            .faults(claims(
                json!({"aud": ["keyfob-demo", "other"], "azp": null}),
            ))
            .expect(id_token(C::Audience), failed_login, Nothing),
        Row::new(
            "1.04",
            "ID token: several aud, azp another client",
            Callback,
        )
        .faults(claims(
            json!({"aud": ["keyfob-demo", "other"], "azp": "other"}),
        ))
        .expect(id_token(C::AuthorizedParty), failed_login, Nothing),
        Row::new("1.05", "ID token: one aud, azp another client", Callback)
            .faults(claims(json!({"azp": "other"})))
            .expect(id_token(C::AuthorizedParty), failed_login, Nothing),
        Row::new("1.06", "ID token: nonce missing", Callback)
            .faults(claims(json!({"nonce": null})))
            .expect(id_token(C::Nonce), failed_login, Nothing),
        Row::new("1.07", "ID token: nonce of another login", Callback)
            .faults(claims(
                json!({"nonce": "nonce-of-another-login-0123456789"}),
            ))
            .expect(id_token(C::Nonce), failed_login, Nothing),
        Row::new("1.08", "ID token: expired (exp 2001)", Callback)
            .faults(claims(json!({"exp": 1_000_000_000})))
            .expect(id_token(C::Expired), failed_login, Nothing),
        Row::new("1.09", "ID token: iat far in the future", Callback)
            .faults(claims(json!({"iat": 9_999_999_999i64})))
            .expect(id_token(C::IssuedInFuture), failed_login, Nothing),
        Row::new("1.10", "ID token: sub missing", Callback)
            .faults(claims(json!({"sub": null})))
            .expect(id_token(C::MissingClaim), failed_login, Nothing),
        Row::new("1.11", "ID token: sub empty", Callback)
            .faults(claims(json!({"sub": ""})))
            .expect(id_token(C::MissingClaim), failed_login, Nothing),
        Row::new("1.12", "ID token: exp is a string", Callback)
            .faults(claims(json!({"exp": "9999999999"})))
            .expect(id_token(C::ClaimType), failed_login, Nothing),
        Row::new("1.13", "ID token: aud is a number", Callback)
            .faults(claims(json!({"aud": 7})))
            .expect(id_token(C::ClaimType), failed_login, Nothing),
        Row::new("1.14", "ID token: signature invalid", Callback)
            .faults(signing(Signing::BadSignature))
            .expect(id_token(C::Signature), failed_login, Nothing),
        Row::new("1.15", "ID token: alg none", Callback)
            .faults(signing(Signing::AlgNone))
            .expect(id_token(C::Algorithm), failed_login, Nothing),
        Row::new(
            "1.16",
            "ID token: HS256 keyed with the RSA public key",
            Callback,
        )
        .faults(signing(Signing::Hs256WithPublicKey))
        .expect(id_token(C::Algorithm), failed_login, Nothing),
        Row::new("1.17", "ID token: typ at+jwt (an access token)", Callback)
            .faults(header(json!({"typ": "at+jwt"})))
            .expect(id_token(C::Malformed), failed_login, Nothing),
        Row::new("1.18", "ID token: crit header", Callback)
            .faults(header(json!({"crit": ["exp"]})))
            .expect(id_token(C::Algorithm), failed_login, Nothing),
        Row::new(
            "1.19",
            "ID token: jku/x5u/jwk headers point elsewhere",
            Callback,
        )
        .faults(header(json!({
                "jku": "http://127.0.0.1:9/jwks", "x5u": "http://127.0.0.1:9/x5u",
                "jwk": {"kty": "oct", "k": "c2VjcmV0"}})))
        .expect(Outcome::Ok, SignedIn, Session)
        .check("headers ignored", no_request_to("127.0.0.1:9/")),
        Row::new(
            "1.20",
            "kid absent, one key in the JWKS: accepted",
            Callback,
        )
        .faults(header(json!({"kid": null})))
        .expect(Outcome::Ok, SignedIn, Session)
        .stat("JWKS fetches", jwks, 1),
        Row::new(
            "1.21",
            "kid absent, several keys: refused (Keyfob does not try each key)",
            Callback,
        )
        .setup(|env: &Env| {
            env.kit.rotate_keys(true);
            env.kit.set_faults(header(json!({"kid": null})));
        })
        .expect(id_token(C::UnknownKey), failed_login, Nothing)
        .stat("JWKS fetches (no refetch)", jwks, 1),
        Row::new(
            "1.22",
            "kid unknown until a key rotation: one refetch, then accepted",
            Exchange,
        )
        .setup(|env: &Env| env.kit.rotate_keys(false))
        .expect(Outcome::Ok, SignedIn, Session)
        .stat("JWKS fetches (prefetch + 1 refetch)", jwks, 2),
        Row::new(
            "1.23",
            "kid never published: one refetch, then refused",
            Callback,
        )
        .faults(signing(Signing::UnpublishedKey))
        .expect(id_token(C::UnknownKey), failed_login, Nothing)
        .stat("JWKS fetches (prefetch + 1 refetch)", jwks, 2),
        Row::new(
            "1.24",
            "JWKS: unusable keys next to the right one are skipped",
            Callback,
        )
        .faults(Faults {
            jwks_extra_keys: unusable_keys(),
            ..Faults::default()
        })
        .expect(Outcome::Ok, SignedIn, Session),
        Row::new(
            "1.25",
            "JWKS: unusable keys skipped, kid absent: the one usable key is taken",
            Callback,
        )
        .faults(Faults {
            jwks_extra_keys: unusable_keys(),
            id_token_header: Some(object(json!({"kid": null}))),
            ..Faults::default()
        })
        .expect(Outcome::Ok, SignedIn, Session),
        Row::new(
            "1.26",
            "kid absent, key rotated after the JWKS was cached: refetch once, accept",
            Exchange,
        )
        .setup(|env: &Env| {
            env.kit.rotate_keys(false);
            env.kit.set_faults(header(json!({"kid": null})));
        })
        .expect(Outcome::Ok, SignedIn, Session)
        .stat("JWKS fetches (prefetch + 1 refetch)", jwks, 2),
        Row::new("1.27", "discovery: issuer differs", BeginLogin)
            .faults(discovery(json!({"issuer": "https://evil.example"})))
            .expect(fails(K::Discovery), SignedOut, Nothing),
        Row::new("1.28", "discovery: no S256 among PKCE methods", BeginLogin)
            .faults(discovery(
                json!({"code_challenge_methods_supported": ["plain"]}),
            ))
            .expect(fails(K::Discovery), SignedOut, Nothing),
        Row::new("1.29", "token response: access_token missing", Exchange)
            .faults(token_response(json!({"access_token": null})))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("1.30", "token response: access_token a number", Exchange)
            .faults(token_response(json!({"access_token": 12345})))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("1.31", "token response: refresh_token an object", Exchange)
            .faults(token_response(json!({"refresh_token": {}})))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("1.32", "token response: id_token an array", Exchange)
            .faults(token_response(json!({"id_token": ["x"]})))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new(
            "1.33",
            "token response: id_token missing on code exchange",
            Exchange,
        )
        .faults(token_response(json!({"id_token": null})))
        .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("1.34", "token response: token_type mac", Exchange)
            .faults(token_response(json!({"token_type": "mac"})))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("1.35", "token response: token_type missing", Exchange)
            .faults(token_response(json!({"token_type": null})))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("1.36", "token response: expires_in negative", Exchange)
            .faults(token_response(json!({"expires_in": -5})))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("1.37", "token response: expires_in a string", Exchange)
            .faults(token_response(json!({"expires_in": "3600"})))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new(
            "1.38",
            "refresh response malformed after the provider rotated: refused, new refresh token kept",
            Refresh,
        )
        .faults(token_response(json!({"expires_in": "3600"})))
        .expect(fails(K::InvalidResponse), SignedIn, Session)
        .then(then_salvaged_refresh_token_works),
        Row::new("1.39", "callback: error=access_denied", Callback)
            .faults(callback(json!({"error": "access_denied",
                "error_description": "User said no", "code": null})))
            .expect(fails(K::Provider), failed_login, Nothing)
            .check("provider error code", |ctx| {
                ctx.last_error()
                    .filter(|e| e.provider_error() == Some("access_denied"))
                    .map(|_| ())
                    .ok_or("provider_error is not access_denied".into())
            })
            .stat("token requests", tokens, 0),
        Row::new(
            "1.40",
            "callback: iss names another issuer (mix-up)",
            Callback,
        )
        .faults(callback(json!({"iss": "https://evil.example"})))
        .expect(fails(K::IssuerMismatch), failed_login, Nothing)
        .stat("token requests", tokens, 0),
        Row::new(
            "1.41",
            "callback: iss missing although advertised",
            Callback,
        )
        .faults(callback(json!({"iss": null})))
        .expect(fails(K::IssuerMismatch), failed_login, Nothing)
        .stat("token requests", tokens, 0),
        Row::new(
            "1.42",
            "callback: state of a superseded login (replayed)",
            Custom(superseded_state),
        )
        .expect(fails(K::StateMismatch), LoginPending, PendingOnly)
        .stat("token requests", tokens, 0),
        Row::new(
            "1.43",
            "callback: replayed after its login completed",
            Custom(replayed_callback),
        )
        .expect(fails(K::NoPendingLogin), SignedIn, Unchanged)
        .stat("token requests", tokens, 1),
        Row::new("1.44", "callback: forged state", Callback)
            .rewrite(|cb| with_param(cb, "state", Some("forged-state-forged-state")))
            .expect(fails(K::StateMismatch), LoginPending, PendingOnly)
            .stat("token requests", tokens, 0),
        Row::new("1.45", "callback: code in the fragment", Callback)
            .faults(Faults {
                callback_in_fragment: true,
                ..Faults::default()
            })
            .expect(fails(K::InvalidCallback), LoginPending, PendingOnly)
            .stat("token requests", tokens, 0),
        Row::new("1.46", "callback: state twice", Callback)
            .faults(Faults {
                callback_append: vec![("state".into(), "second-state".into())],
                ..Faults::default()
            })
            .expect(fails(K::InvalidCallback), LoginPending, PendingOnly),
        Row::new("1.47", "callback: code twice", Callback)
            .faults(Faults {
                callback_append: vec![("code".into(), "second-code".into())],
                ..Faults::default()
            })
            .expect(fails(K::InvalidCallback), LoginPending, PendingOnly)
            .stat("token requests", tokens, 0),
        Row::new("1.48", "callback: iss twice", Callback)
            .faults(Faults {
                callback_append: vec![("iss".into(), "https://evil.example".into())],
                ..Faults::default()
            })
            .expect(fails(K::InvalidCallback), LoginPending, PendingOnly),
        Row::new(
            "1.49",
            "callback: the same state twice (OS-duplicated query)",
            Callback,
        )
        .rewrite(|cb| duplicate_param(cb, "state"))
        .expect(fails(K::InvalidCallback), LoginPending, PendingOnly),
        Row::new("1.50", "refresh: ID token for another sub", Refresh)
            .faults(claims(json!({"sub": "someone-else"})))
            .expect(id_token(C::SubjectChanged), NeedsReLogin, Nothing)
            .stat("revocations of the new grant", revoke, 1),
        Row::new("1.51", "refresh: ID token from another iss", Refresh)
            .faults(claims(json!({"iss": "https://evil.example"})))
            .expect(id_token(C::Issuer), NeedsReLogin, Nothing)
            .stat("revocations of the new grant", revoke, 1),
        Row::new("1.52", "refresh: ID token with another aud set", Refresh)
            .faults(claims(json!({"aud": ["keyfob-demo", "other"]})))
            .expect(id_token(C::SubjectChanged), NeedsReLogin, Nothing)
            .stat("revocations of the new grant", revoke, 1),
        Row::new("1.53", "refresh: ID token for another client", Refresh)
            .faults(claims(json!({"aud": "other", "azp": null})))
            .expect(id_token(C::Audience), NeedsReLogin, Nothing),
        Row::new("1.54", "refresh: ID token with a bad signature", Refresh)
            .faults(signing(Signing::BadSignature))
            .expect(id_token(C::Signature), NeedsReLogin, Nothing),
        Row::new("1.55", "userinfo: another sub", Userinfo)
            .faults(endpoint(USERINFO, |f| {
                f.status = Some(200);
                f.body = Some(r#"{"sub":"someone-else","email":"eve@evil.example"}"#.into());
            }))
            .expect(fails(K::InvalidResponse), SignedIn, Unchanged),
        Row::new("1.56", "userinfo: no sub", Userinfo)
            .faults(endpoint(USERINFO, |f| {
                f.status = Some(200);
                f.body = Some(r#"{"email":"eve@evil.example"}"#.into());
            }))
            .expect(fails(K::InvalidResponse), SignedIn, Unchanged),
        // ---------------------------------------------------------------- 2. network
        Row::new("2.01", "discovery: 503", BeginLogin)
            .faults(endpoint(DISCOVERY, |f| f.status = Some(503)))
            .expect(retryable(K::HttpStatus), SignedOut, Nothing),
        Row::new("2.02", "token endpoint: 500 on code exchange", Exchange)
            .faults(endpoint(TOKEN, |f| f.status = Some(500)))
            .expect(retryable(K::HttpStatus), failed_login, Nothing),
        Row::new("2.03", "token endpoint: 503 on refresh", Refresh)
            .faults(endpoint(TOKEN, |f| f.status = Some(503)))
            .expect(retryable(K::HttpStatus), SignedIn, Unchanged),
        Row::new("2.04", "JWKS: 503 (prefetch and validation)", Callback)
            .faults(endpoint(JWKS, |f| f.status = Some(503)))
            .expect(retryable(K::HttpStatus), failed_login, Nothing),
        Row::new(
            "2.05",
            "token endpoint: 429 + Retry-After on refresh (no retry by Keyfob)",
            Refresh,
        )
        .faults(endpoint(TOKEN, |f| {
            f.status = Some(429);
            f.headers = vec![("Retry-After".into(), "120".into())];
        }))
        .expect(retryable(K::HttpStatus), SignedIn, Unchanged)
        .check("status 429", |ctx| {
            ctx.last_error()
                .filter(|e| e.http_status_code() == Some(429))
                .map(|_| ())
                .ok_or("no status 429 on the error".into())
        })
        .stat("token requests (login + 1)", tokens, 2),
        Row::new(
            "2.06",
            "token endpoint: 429 + Retry-After on code exchange",
            Exchange,
        )
        .faults(endpoint(TOKEN, |f| {
            f.status = Some(429);
            f.headers = vec![("Retry-After".into(), "120".into())];
        }))
        .expect(retryable(K::HttpStatus), failed_login, Nothing)
        .stat("token requests", tokens, 1),
        Row::new("2.07", "discovery: 429 + Retry-After", BeginLogin)
            .faults(endpoint(DISCOVERY, |f| {
                f.status = Some(429);
                f.headers = vec![("Retry-After".into(), "5".into())];
            }))
            .expect(retryable(K::HttpStatus), SignedOut, Nothing),
        Row::new("2.08", "discovery: slower than the timeout", BeginLogin)
            .faults(endpoint(DISCOVERY, |f| f.delay_ms = Some(2_500)))
            .timeout_secs(1)
            .expect(retryable(K::Timeout), SignedOut, Nothing),
        Row::new(
            "2.09",
            "token endpoint: slower than the timeout (exchange)",
            Exchange,
        )
        .faults(endpoint(TOKEN, |f| f.delay_ms = Some(2_500)))
        .timeout_secs(1)
        .expect(retryable(K::Timeout), failed_login, Nothing),
        Row::new(
            "2.10",
            "token endpoint: slower than the timeout (refresh)",
            Refresh,
        )
        .faults(endpoint(TOKEN, |f| f.delay_ms = Some(2_500)))
        .timeout_secs(1)
        .expect(retryable(K::Timeout), SignedIn, Unchanged),
        Row::new("2.11", "discovery: connection reset mid-body", BeginLogin)
            .faults(endpoint(DISCOVERY, |f| {
                f.body = Some(r#"{"issuer":"http://127.0.0.1","authorization_endpoint":"#.into());
                f.abort_after_bytes = Some(30);
            }))
            .expect(retryable(K::Network), SignedOut, Nothing),
        Row::new(
            "2.12",
            "token endpoint: connection reset mid-body (exchange)",
            Exchange,
        )
        .faults(endpoint(TOKEN, |f| {
            f.body =
                Some(r#"{"access_token":"cut-off-before-the-end","token_type":"Bearer"}"#.into());
            f.abort_after_bytes = Some(30);
        }))
        .expect(retryable(K::Network), failed_login, Nothing),
        Row::new(
            "2.13",
            "token endpoint: connection reset mid-body (refresh)",
            Refresh,
        )
        .faults(endpoint(TOKEN, |f| f.abort_after_bytes = Some(10)))
        .expect(retryable(K::Network), SignedIn, Unchanged),
        Row::new("2.14", "JWKS: connection reset mid-body", Callback)
            .faults(endpoint(JWKS, |f| f.abort_after_bytes = Some(10)))
            .expect(retryable(K::Network), failed_login, Nothing),
        Row::new("2.15", "discovery: truncated JSON", BeginLogin)
            .faults(endpoint(DISCOVERY, |f| {
                f.body = Some(r#"{"issuer":"http://127"#.into())
            }))
            .expect(fails(K::InvalidResponse), SignedOut, Nothing),
        Row::new(
            "2.16",
            "token endpoint: truncated JSON (exchange)",
            Exchange,
        )
        .faults(endpoint(TOKEN, |f| {
            f.body = Some(r#"{"access_token":"abc","token_type":"Bea"#.into())
        }))
        .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("2.17", "token endpoint: truncated JSON (refresh)", Refresh)
            .faults(endpoint(TOKEN, |f| {
                f.body = Some(r#"{"access_token":"#.into())
            }))
            .expect(fails(K::InvalidResponse), SignedIn, Unchanged),
        Row::new("2.18", "JWKS: truncated JSON", Callback)
            .faults(endpoint(JWKS, |f| {
                f.body = Some(r#"{"keys":[{"kty":"#.into())
            }))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("2.19", "discovery: HTML instead of JSON", BeginLogin)
            .faults(endpoint(DISCOVERY, |f| {
                f.body = Some(HTML.into());
                f.content_type = Some("text/html".into());
            }))
            .expect(fails(K::InvalidResponse), SignedOut, Nothing),
        Row::new("2.20", "token endpoint: HTML instead of JSON", Exchange)
            .faults(endpoint(TOKEN, |f| {
                f.body = Some(HTML.into());
                f.content_type = Some("text/html".into());
            }))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("2.21", "token endpoint: HTML 502 on refresh", Refresh)
            .faults(endpoint(TOKEN, |f| {
                f.status = Some(502);
                f.body = Some(HTML.into());
            }))
            .expect(retryable(K::HttpStatus), SignedIn, Unchanged),
        Row::new("2.22", "JWKS: HTML instead of JSON", Callback)
            .faults(endpoint(JWKS, |f| {
                f.body = Some(HTML.into());
                f.content_type = Some("text/html".into());
            }))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("2.23", "discovery: 50 MB body, cut off", BeginLogin)
            .faults(endpoint(DISCOVERY, |f| f.body_bytes = Some(FIFTY_MB)))
            .expect(fails(K::InvalidResponse), SignedOut, Nothing),
        Row::new("2.24", "token endpoint: 50 MB body, cut off", Exchange)
            .faults(endpoint(TOKEN, |f| f.body_bytes = Some(FIFTY_MB)))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("2.25", "JWKS: 50 MB body, cut off", Callback)
            .faults(endpoint(JWKS, |f| f.body_bytes = Some(FIFTY_MB)))
            .expect(fails(K::InvalidResponse), failed_login, Nothing),
        Row::new("2.26", "userinfo: 50 MB body, cut off", Userinfo)
            .faults(endpoint(USERINFO, |f| f.body_bytes = Some(FIFTY_MB)))
            .expect(fails(K::InvalidResponse), SignedIn, Unchanged),
        Row::new(
            "2.27",
            "token endpoint: 302 on code exchange, not followed",
            Exchange,
        )
        .setup(|env: &Env| {
            let to = format!("{}/userinfo", env.kit.issuer());
            env.kit.set_faults(endpoint(TOKEN, |f| {
                f.status = Some(302);
                f.headers = vec![("Location".into(), to)];
            }));
        })
        .expect(fails(K::HttpStatus), failed_login, Nothing)
        .stat("requests to the Location", userinfo, 0),
        Row::new(
            "2.28",
            "token endpoint: 307 on refresh, not followed",
            Refresh,
        )
        .setup(|env: &Env| {
            let to = format!("{}/revoke", env.kit.issuer());
            env.kit.set_faults(endpoint(TOKEN, |f| {
                f.status = Some(307);
                f.headers = vec![("Location".into(), to)];
            }));
        })
        .expect(fails(K::HttpStatus), SignedIn, Unchanged)
        .stat(
            "requests to the Location (the refresh token re-POSTed)",
            revoke,
            0,
        ),
        Row::new(
            "2.29",
            "discovery: 301 to another document, not followed",
            BeginLogin,
        )
        .setup(|env: &Env| {
            let to = format!("{}/.well-known/jwks.json", env.kit.issuer());
            env.kit.set_faults(endpoint(DISCOVERY, |f| {
                f.status = Some(301);
                f.headers = vec![("Location".into(), to)];
            }));
        })
        .expect(fails(K::HttpStatus), SignedOut, Nothing)
        .stat("requests to the Location", jwks, 0),
        Row::new(
            "2.30",
            "TLS: token endpoint on http://example.com",
            BeginLogin,
        )
        .faults(discovery(
            json!({"token_endpoint": "http://example.com/token"}),
        ))
        .expect(fails(K::InsecureUrl), SignedOut, Nothing)
        .check("no request to example.com", no_request_to("example.com")),
        Row::new("2.31", "TLS: jwks_uri on http://example.com", BeginLogin)
            .faults(discovery(json!({"jwks_uri": "http://example.com/jwks"})))
            .expect(fails(K::InsecureUrl), SignedOut, Nothing)
            .check("no request to example.com", no_request_to("example.com")),
        Row::new(
            "2.32",
            "TLS: authorization endpoint on http://example.com",
            BeginLogin,
        )
        .faults(discovery(
            json!({"authorization_endpoint": "http://example.com/authorize"}),
        ))
        .expect(fails(K::InsecureUrl), SignedOut, Nothing),
        Row::new(
            "2.33",
            "TLS: userinfo endpoint on http://example.com",
            BeginLogin,
        )
        .faults(discovery(
            json!({"userinfo_endpoint": "http://example.com/userinfo"}),
        ))
        .expect(fails(K::InsecureUrl), SignedOut, Nothing),
        Row::new(
            "2.34",
            "TLS: revocation endpoint on http://10.0.2.2",
            BeginLogin,
        )
        .faults(discovery(
            json!({"revocation_endpoint": "http://10.0.2.2/revoke"}),
        ))
        .expect(fails(K::InsecureUrl), SignedOut, Nothing),
        // ---------------------------------------------------------------- 3. storage
        Row::new(
            "3.01",
            "write fails when the login starts",
            Custom(write_fails_at_begin),
        )
        .expect(storage(StorageErrorKind::Failed), SignedOut, Nothing),
        Row::new(
            "3.02",
            "write fails when the login completes",
            Custom(write_fails_at_login),
        )
        .expect(storage(StorageErrorKind::Failed), SignedIn, Nothing)
        .then(then_login_saved_on_next_call),
        Row::new(
            "3.03",
            "write fails after a refresh rotated the refresh token",
            Custom(write_fails_at_refresh),
        )
        .expect(storage(StorageErrorKind::Failed), SignedIn, Unchanged)
        .then(then_rotated_token_kept_and_saved),
        Row::new(
            "3.04",
            "write fails after a rotation, then logout revokes the rotated token",
            Custom(write_fails_at_refresh),
        )
        .expect(storage(StorageErrorKind::Failed), SignedIn, Unchanged)
        .then(then_logout_revokes_the_rotated_token),
        Row::new("3.05", "read fails at start", Custom(read_fails_at_start))
            .expect(
                storage(StorageErrorKind::Failed),
                StorageUnavailable,
                Unchanged,
            )
            .then(then_reads_recover_without_network),
        Row::new(
            "3.06",
            "store locked at start (Unavailable)",
            Custom(locked_at_start),
        )
        .expect(
            storage(StorageErrorKind::Unavailable),
            StorageUnavailable,
            Unchanged,
        )
        .then(then_reads_recover_without_network),
        Row::new(
            "3.07",
            "read of the pending login fails after a restart",
            Custom(pending_read_fails),
        )
        .expect(
            storage(StorageErrorKind::Failed),
            StorageUnavailable,
            PendingOnly,
        )
        .then(then_callback_completes_once_reads_work),
        Row::new(
            "3.08",
            "key invalidated at start",
            Custom(key_invalidated_at_start),
        )
        .expect(
            storage(StorageErrorKind::KeyInvalidated),
            NeedsReLogin,
            Unchanged,
        ),
        Row::new(
            "3.09",
            "delete fails at logout",
            Custom(delete_fails_at_logout),
        )
        .expect(storage(StorageErrorKind::Failed), SignedOut, Unchanged)
        .stat("revocations", revoke, 1)
        .then(then_logout_again_clears),
        Row::new(
            "3.10",
            "delete fails when the provider rejects the refresh token",
            Custom(delete_fails_at_invalid_grant),
        )
        .expect(fails(K::ReLoginRequired), NeedsReLogin, Unchanged)
        .then(then_dead_session_does_not_come_back),
        Row::new(
            "3.11",
            "stored session: random bytes",
            RestoreSession(|_| b"\x00\xff\xfe garbage".to_vec()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged)
        .then(then_corruption_reported_once_and_login_works),
        Row::new(
            "3.12",
            "stored session: empty",
            RestoreSession(|_| Vec::new()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.13",
            "stored session: truncated",
            RestoreSession(|b| b[..b.len() / 2].to_vec()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.14",
            "stored session: a JSON array",
            RestoreSession(|_| b"[1,2,3]".to_vec()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.15",
            "stored session: a member of the wrong type",
            RestoreSession(|b| patch_record(b, "scopes", json!("openid email"))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.16",
            "stored session: format missing (older format)",
            RestoreSession(|b| patch_record(b, "format", Value::Null)),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.17",
            "stored session: format 0 (older format)",
            RestoreSession(|b| patch_record(b, "format", json!(0))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.18",
            "stored session: format 2 (newer Keyfob)",
            RestoreSession(|b| patch_record(b, "format", json!(2))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.19",
            "stored session: format \"1\" (a string)",
            RestoreSession(|b| patch_record(b, "format", json!("1"))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.20",
            "stored pending login: random bytes",
            RestorePending(|_| b"\xff\xfe".to_vec()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged)
        .then(then_new_login_replaces_a_corrupt_pending_one),
        Row::new(
            "3.21",
            "stored pending login: format missing",
            RestorePending(|b| patch_record(b, "format", Value::Null)),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.22",
            "stored pending login: format 0",
            RestorePending(|b| patch_record(b, "format", json!(0))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.23",
            "stored pending login: format 2",
            RestorePending(|b| patch_record(b, "format", json!(2))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
    ];
    // Keep the ids unique and in order.
    let ids: Vec<&str> = rows.iter().map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "row ids must be unique and ascending");
    rows.shrink_to_fit();
    rows
}

/// Sets (or with `null` removes) one member of a stored JSON record.
fn patch_record(bytes: &[u8], name: &str, value: Value) -> Vec<u8> {
    let mut record: Map<String, Value> = serde_json::from_slice(bytes).unwrap();
    if value.is_null() {
        record.remove(name);
    } else {
        record.insert(name.to_string(), value);
    }
    serde_json::to_vec(&record).unwrap()
}

// =============================================================================================
// Custom steps and follow-up checks.

fn ok_or(cond: bool, message: impl Into<String>) -> Result<(), String> {
    cond.then_some(()).ok_or_else(|| message.into())
}

fn superseded_state(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        let first = ctx.begin().await?;
        let first_callback = ctx.browse(&first).await;
        ctx.begin().await?;
        ctx.client()
            .handle_redirect(&first_callback)
            .await
            .map(|_| ())
    })
}

fn replayed_callback(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        let url = ctx.begin().await?;
        let callback = ctx.browse(&url).await;
        ctx.client().handle_redirect(&callback).await?;
        ctx.mark();
        ctx.client().handle_redirect(&callback).await.map(|_| ())
    })
}

fn write_fails_at_begin(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_writes, true);
        ctx.begin().await.map(|_| ())
    })
}

fn write_fails_at_login(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        let url = ctx.begin().await?;
        let callback = ctx.browse(&url).await;
        FaultyStorage::set(&ctx.storage.fail_writes, true);
        ctx.client().handle_redirect(&callback).await.map(|_| ())
    })
}

fn then_login_saved_on_next_call(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        let client = ctx.client();
        ok_or(
            client.cached_access_token().is_none(),
            "unsaved tokens were handed out",
        )?;
        let e = client.access_token().await.err();
        ok_or(
            e.as_ref().and_then(keyfob::Error::storage_kind) == Some(StorageErrorKind::Failed),
            format!("access_token while writes fail: {e:?}"),
        )?;
        FaultyStorage::set(&ctx.storage.fail_writes, false);
        let token = client.access_token().await.map_err(|e| format!("{e:?}"))?;
        ctx.restart();
        let restored = ctx
            .client()
            .access_token()
            .await
            .map_err(|e| format!("{e:?}"))?;
        ok_or(
            restored == token,
            "the saved session is not the one in memory",
        )?;
        let s = ctx.env.kit.stats();
        ok_or(
            (s.authorization_code, s.refresh_token) == (1, 0),
            format!("token requests: {s:?}"),
        )
    })
}

fn write_fails_at_refresh(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        ctx.env.expire();
        FaultyStorage::set(&ctx.storage.fail_writes, true);
        ctx.client().access_token().await.map(|_| ())
    })
}

fn then_rotated_token_kept_and_saved(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        let client = ctx.client();
        // Writes still fail: no second refresh with the old (now dead) refresh token.
        let e = client.access_token().await.err();
        ok_or(
            e.as_ref().map(keyfob::Error::kind) == Some(ErrorKind::Storage),
            format!("second call while writes fail: {e:?}"),
        )?;
        let e = client.refresh().await.err();
        ok_or(
            e.as_ref().map(keyfob::Error::kind) == Some(ErrorKind::Storage),
            format!("explicit refresh while writes fail: {e:?}"),
        )?;
        ok_or(
            ctx.env.kit.stats().refresh_token == 1,
            "a second refresh was sent while the rotated token was unsaved",
        )?;
        FaultyStorage::set(&ctx.storage.fail_writes, false);
        client.access_token().await.map_err(|e| format!("{e:?}"))?;
        ok_or(ctx.env.kit.stats().refresh_token == 1, "refreshed again")?;
        ctx.restart();
        let rt = ctx
            .client()
            .tokens()
            .and_then(|t| t.refresh_token().cloned())
            .ok_or("no refresh token after the restart")?;
        ok_or(
            ctx.env.provider_accepts_refresh_token(rt.expose()).await,
            "the saved refresh token is not the rotated one",
        )
    })
}

fn then_logout_revokes_the_rotated_token(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        let client = ctx.client();
        let rotated = client
            .tokens()
            .and_then(|t| t.refresh_token().cloned())
            .ok_or("the rotated refresh token is not in memory")?;
        let outcome = client.logout().await.map_err(|e| format!("{e:?}"))?;
        ctx.print(format!("{outcome:?}"));
        ok_or(outcome.revocation_error.is_none(), "revocation failed")?;
        ok_or(
            !ctx.env
                .provider_accepts_refresh_token(rotated.expose())
                .await,
            "the rotated refresh token is still alive after logout",
        )?;
        ok_or(
            ctx.snapshot().session.is_none(),
            "the session is still stored",
        )
    })
}

fn read_fails_at_start(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        FaultyStorage::set(&ctx.storage.fail_reads, true);
        ctx.restart();
        ctx.client().access_token().await.map(|_| ())
    })
}

fn locked_at_start(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        FaultyStorage::set(&ctx.storage.unavailable, true);
        ctx.restart();
        ctx.client().access_token().await.map(|_| ())
    })
}

fn then_reads_recover_without_network(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_reads, false);
        FaultyStorage::set(&ctx.storage.unavailable, false);
        let before = ctx.env.kit.stats();
        ctx.client()
            .access_token()
            .await
            .map_err(|e| format!("{e:?}"))?;
        ok_or(
            ctx.client().state() == SessionState::SignedIn,
            "not signed in",
        )?;
        ok_or(ctx.env.kit.stats() == before, "restoring made a request")
    })
}

fn pending_read_fails(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        let url = ctx.begin().await?;
        let callback = ctx.browse(&url).await;
        *ctx.kept_callback.lock().unwrap() = Some(callback.clone());
        ctx.mark();
        FaultyStorage::set(&ctx.storage.fail_reads, true);
        ctx.restart();
        ctx.client().handle_redirect(&callback).await.map(|_| ())
    })
}

fn then_callback_completes_once_reads_work(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_reads, false);
        let callback = ctx
            .kept_callback
            .lock()
            .unwrap()
            .clone()
            .ok_or("no callback")?;
        ctx.client()
            .handle_redirect(&callback)
            .await
            .map_err(|e| format!("{e:?}"))?;
        ok_or(
            ctx.client().state() == SessionState::SignedIn,
            "not signed in",
        )
    })
}

fn key_invalidated_at_start(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        FaultyStorage::set(&ctx.storage.key_invalidated, true);
        ctx.restart();
        ctx.client().restore().map(|_| ())
    })
}

fn delete_fails_at_logout(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        FaultyStorage::set(&ctx.storage.fail_deletes, true);
        ctx.client().logout().await.map(|_| ())
    })
}

fn then_logout_again_clears(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_deletes, false);
        ctx.client().logout().await.map_err(|e| format!("{e:?}"))?;
        ok_or(ctx.snapshot().session.is_none(), "still stored")?;
        ctx.restart();
        ok_or(
            ctx.client().state() == SessionState::SignedOut,
            "the session came back",
        )
    })
}

fn delete_fails_at_invalid_grant(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        ctx.env.kit.set_faults(endpoint(TOKEN, |f| {
            f.status = Some(400);
            f.body = Some(r#"{"error":"invalid_grant"}"#.into());
        }));
        FaultyStorage::set(&ctx.storage.fail_deletes, true);
        ctx.client().refresh().await.map(|_| ())
    })
}

fn then_dead_session_does_not_come_back(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_deletes, false);
        let e = ctx.client().access_token().await.err();
        ok_or(
            e.as_ref().map(keyfob::Error::kind) == Some(ErrorKind::ReLoginRequired),
            format!("access_token after invalid_grant: {e:?}"),
        )?;
        ctx.restart();
        let state = ctx.client().state();
        ok_or(
            state != SessionState::SignedIn,
            format!("the rejected session came back at the next launch: {state:?}"),
        )
    })
}

fn then_salvaged_refresh_token_works(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        ctx.env.kit.clear_faults();
        // A restart first: the kept refresh token must have been saved, not only held in memory.
        ctx.restart();
        let client = ctx.client();
        let refreshed = client.refresh().await.map_err(|e| format!("{e:?}"))?;
        ok_or(
            ctx.env.kit.stats().refresh_token == 2,
            "expected exactly one more refresh grant",
        )?;
        ok_or(client.state() == SessionState::SignedIn, "not SignedIn")?;
        let rt = refreshed.refresh_token().ok_or("no refresh token")?;
        ok_or(
            ctx.env.provider_accepts_refresh_token(rt.expose()).await,
            "the provider refuses the refreshed token",
        )
    })
}

fn then_corruption_reported_once_and_login_works(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        let client = ctx.client();
        ok_or(
            client.restore().is_ok(),
            "the corruption was reported twice",
        )?;
        let e = client.access_token().await.err();
        ok_or(
            e.as_ref().map(keyfob::Error::kind) == Some(ErrorKind::NotSignedIn),
            format!("after the report: {e:?}"),
        )?;
        ctx.login().await;
        ok_or(
            ctx.client().state() == SessionState::SignedIn,
            "cannot sign in again",
        )
    })
}

fn then_new_login_replaces_a_corrupt_pending_one(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        ctx.login().await;
        ok_or(
            ctx.client().state() == SessionState::SignedIn,
            "cannot sign in again",
        )
    })
}

// =============================================================================================
// The runner.

async fn run_step(row: &Row, ctx: &Ctx) -> keyfob::Result<()> {
    let setup = || {
        if let Some(s) = &row.setup {
            s(&ctx.env)
        }
    };
    match &row.step {
        Step::BeginLogin => {
            ctx.mark();
            setup();
            ctx.begin().await.map(|_| ())
        }
        Step::Callback => {
            ctx.mark();
            setup();
            let url = ctx.begin().await?;
            let mut callback = ctx.browse(&url).await;
            if let Some(rewrite) = row.rewrite {
                callback = rewrite(&callback);
            }
            ctx.client().handle_redirect(&callback).await.map(|_| ())
        }
        Step::Exchange => {
            let url = ctx.begin().await?;
            let callback = ctx.browse(&url).await;
            ctx.mark();
            setup();
            ctx.client().handle_redirect(&callback).await.map(|_| ())
        }
        Step::Refresh => {
            ctx.login().await;
            ctx.mark();
            setup();
            ctx.client().refresh().await.map(|_| ())
        }
        Step::Userinfo => {
            ctx.login().await;
            ctx.mark();
            setup();
            ctx.client().userinfo().await.map(|_| ())
        }
        Step::RestoreSession(mutate) => {
            ctx.login().await;
            let stored = ctx.storage.get("session").unwrap();
            ctx.storage.inner.save("session", &mutate(&stored)).unwrap();
            ctx.mark();
            ctx.restart();
            ctx.client().restore().map(|_| ())
        }
        Step::RestorePending(mutate) => {
            let url = ctx.begin().await?;
            let callback = ctx.browse(&url).await;
            let stored = ctx.storage.get("pending").unwrap();
            ctx.storage.inner.save("pending", &mutate(&stored)).unwrap();
            ctx.mark();
            ctx.restart();
            ctx.client().handle_redirect(&callback).await.map(|_| ())
        }
        Step::Custom(f) => f(ctx).await,
    }
}

struct Report {
    id: &'static str,
    case: &'static str,
    expected: String,
    got: String,
    problems: Vec<String>,
    known_bug: Option<&'static str>,
    printed: Vec<String>,
    secrets: BTreeSet<String>,
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok => "Ok".into(),
        Outcome::Err {
            kind,
            check,
            retryable,
            storage,
        } => {
            let mut s = format!("{kind:?}");
            if let Some(c) = check {
                s.push_str(&format!("/{c:?}"));
            }
            if let Some(k) = storage {
                s.push_str(&format!("/{k:?}"));
            }
            if *retryable {
                s.push_str(" (retryable)");
            }
            s
        }
    }
}

fn observed(result: &keyfob::Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Err {
            kind: e.kind(),
            check: e.id_token_check(),
            retryable: e.is_retryable(),
            storage: e.storage_kind(),
        },
    }
}

async fn run_row(row: &Row) -> Report {
    let ctx = Ctx::new(row.timeout).await;
    let result = tokio::time::timeout(Duration::from_secs(60), run_step(row, &ctx))
        .await
        .unwrap_or_else(|_| panic!("row {} hung", row.id));
    let mut problems = Vec::new();
    if let Err(e) = &result {
        ctx.print_error(e);
        *ctx.last_error.lock().unwrap() = Some(e.clone());
    }
    let got = observed(&result);
    if got != row.outcome {
        problems.push(format!(
            "outcome {} ({}), expected {}",
            describe(&got),
            result
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
            describe(&row.outcome)
        ));
    }
    let client = ctx.client();
    let state = client.state();
    ctx.print(format!("{state:?}"));
    ctx.print(format!("{:?}", client.tokens()));
    ctx.print(format!("{:?}", client.claims()));
    if state != row.state {
        problems.push(format!("state {state:?}, expected {:?}", row.state));
    }
    let now = ctx.snapshot();
    let stored_ok = match row.stored {
        Stored::Nothing => now.session.is_none() && now.pending.is_none(),
        Stored::PendingOnly => now.session.is_none() && now.pending.is_some(),
        Stored::Session => now.session.is_some() && now.pending.is_none(),
        Stored::Unchanged => Some(&now) == ctx.before.lock().unwrap().as_ref(),
    };
    if !stored_ok {
        problems.push(format!(
            "store holds session: {}, pending: {}; expected {:?}",
            now.session.is_some(),
            now.pending.is_some(),
            row.stored
        ));
    }
    for (what, check) in &row.checks {
        if let Err(e) = check(&ctx) {
            problems.push(format!("{what}: {e}"));
        }
    }
    if problems.is_empty()
        && let Some(then) = row.then
        && let Err(e) = then(&ctx).await
    {
        problems.push(format!("afterwards: {e}"));
    }
    let printed = ctx.printed.lock().unwrap().clone();
    let secrets = ctx.seen.secrets.lock().unwrap().clone();
    Report {
        id: row.id,
        case: row.case,
        expected: format!(
            "{} → {:?}, store {:?}",
            describe(&row.outcome),
            row.state,
            row.stored
        ),
        got: describe(&got),
        problems,
        known_bug: row.known_bug,
        printed,
        secrets,
    }
}

/// The whole matrix, then the leak check over everything it logged and printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_matrix() {
    common::capture_logs();
    let rows = Arc::new(rows());
    let filter = std::env::var("KEYFOB_MATRIX_ROWS").ok();
    let limit = Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..rows.len() {
        if let Some(f) = &filter
            && !f.split(',').any(|id| rows[index].id.starts_with(id))
        {
            continue;
        }
        let rows = rows.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            run_row(&rows[index]).await
        });
    }
    let mut reports = Vec::new();
    while let Some(report) = tasks.join_next().await {
        reports.push(report.expect("a row panicked"));
    }
    reports.sort_by_key(|r| r.id);

    let mut failures = Vec::new();
    println!("| row | misbehaviour | expected | result |");
    println!("| --- | --- | --- | --- |");
    for r in &reports {
        let verdict = match (r.problems.is_empty(), r.known_bug) {
            (true, None) => "ok".to_string(),
            (false, Some(bug)) => format!("KNOWN BUG: {bug} (got {})", r.got),
            (true, Some(_)) => {
                failures.push(format!("{}: passes now; remove its known_bug marker", r.id));
                "passes (remove known_bug)".to_string()
            }
            (false, None) => {
                failures.push(format!("{} {}: {}", r.id, r.case, r.problems.join("; ")));
                format!("FAIL: {}", r.problems.join("; "))
            }
        };
        println!("| {} | {} | {} | {} |", r.id, r.case, r.expected, verdict);
    }

    // List 4: no secret seen on the wire or in the store shows up in any log record (all
    // targets, trace level) or in anything Keyfob printed, for any row.
    let logs = common::captured_logs();
    let secrets: BTreeSet<&String> = reports
        .iter()
        .flat_map(|r| r.secrets.iter())
        .filter(|s| s.len() >= 16)
        .collect();
    let printed: Vec<&String> = reports.iter().flat_map(|r| r.printed.iter()).collect();
    assert!(
        secrets.len() > 300,
        "too few secrets collected: {}",
        secrets.len()
    );
    assert!(logs.len() > 100, "too few log records: {}", logs.len());
    for secret in &secrets {
        for text in printed.iter().copied().chain(logs.iter()) {
            if text.contains(secret.as_str()) {
                failures.push(format!("a secret leaked into: {text}"));
            }
        }
    }
    println!(
        "{} rows; leak check: {} secrets against {} log records and {} printed texts",
        reports.len(),
        secrets.len(),
        logs.len(),
        printed.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// =============================================================================================
// The bugs the matrix found (now fixed), as the behaviour their fix brought.

/// The `format` of a stored record that Keyfob never wrote (0, or older than the first format)
/// must not be read as the current format.
#[tokio::test]
async fn a_stored_record_of_format_0_is_corrupt() {
    let ctx = Ctx::new(Duration::from_secs(10)).await;
    ctx.login().await;
    let stored = ctx.storage.get("session").unwrap();
    ctx.storage
        .inner
        .save("session", &patch_record(&stored, "format", json!(0)))
        .unwrap();
    ctx.restart();
    let e = ctx.client().restore().unwrap_err();
    assert_eq!(e.storage_kind(), Some(StorageErrorKind::Corrupt));
    assert_eq!(ctx.client().state(), SessionState::SignedOut);
}

/// A provider that signs without `kid` (one key in its JWKS) and rotates that key: the next
/// sign-in must refetch the JWKS once and succeed, and the next refresh must not end the session.
#[tokio::test]
async fn a_kid_less_provider_may_rotate_its_key() {
    let ctx = Ctx::new(Duration::from_secs(10)).await;
    ctx.env.kit.set_faults(header(json!({"kid": null})));
    ctx.login().await;
    ctx.env.kit.rotate_keys(false);
    // A refresh whose ID token is signed by the new key keeps the session.
    let refreshed = ctx.client().refresh().await;
    assert!(refreshed.is_ok(), "{refreshed:?}");
    assert_eq!(ctx.client().state(), SessionState::SignedIn);
    assert_eq!(ctx.env.kit.stats().jwks, 2, "prefetch + one refetch");
}

/// When the provider rejects the refresh token and the store cannot delete the session at that
/// moment, the delete must be retried, so that the rejected session does not come back.
#[tokio::test]
async fn a_rejected_session_is_deleted_once_the_store_recovers() {
    let ctx = Ctx::new(Duration::from_secs(10)).await;
    delete_fails_at_invalid_grant(&ctx).await.unwrap_err();
    then_dead_session_does_not_come_back(&ctx).await.unwrap();
}
