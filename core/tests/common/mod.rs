//! Test harness: a testkit provider on loopback, a client over real HTTP, and a "browser".
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use keyfob::{
    Client, Config, ConfigBuilder, HttpMethod, HttpRequest, HttpTransport, IdTokenClaims,
    ManualClock, MemoryStorage, ReqwestTransport, SecureStorage, StorageError, StorageErrorKind,
};
use keyfob_testkit::{Options, Testkit};
use serde_json::Value;

/// The app's deep-link redirect URI (registered in the testkit by default).
pub const REDIRECT: &str = "myapp://callback";

pub struct Env {
    pub kit: Testkit,
    pub transport: Arc<ReqwestTransport>,
    /// The client's clock; starts at the real time so the testkit's tokens are current.
    pub clock: Arc<ManualClock>,
}

pub async fn start() -> Env {
    start_with(Options::default()).await
}

pub async fn start_with(options: Options) -> Env {
    let kit = Testkit::start(options).await.expect("testkit starts");
    Env {
        kit,
        transport: Arc::new(ReqwestTransport::new().expect("transport")),
        clock: Arc::new(ManualClock::starting_now()),
    }
}

impl Env {
    /// Moves both clocks, the client's and the provider's, past the access token's lifetime.
    pub fn expire(&self) {
        let ttl = Options::default().access_token_ttl as i64;
        self.clock.advance(ttl + 1);
        self.kit.advance_clock(ttl + 1);
    }

    pub fn config(&self) -> ConfigBuilder {
        Config::builder(self.kit.issuer(), self.kit.client_id(), REDIRECT)
            .scopes(["email", "offline_access"])
    }

    pub fn client(&self) -> Client {
        self.client_with(self.config())
    }

    pub fn client_with(&self, config: ConfigBuilder) -> Client {
        Client::new(
            config.build().expect("valid config"),
            self.transport.clone(),
        )
        .with_clock(self.clock.clone())
    }

    /// What the system browser does: GET the authorization URL and read where the provider
    /// redirects to (the deep link the OS hands to the app).
    pub async fn browse(&self, url: &str) -> String {
        let response = self.get(url, None).await;
        assert_eq!(
            response.status,
            302,
            "authorize should redirect, got {}: {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        response
            .header("location")
            .expect("Location header")
            .to_string()
    }

    /// begin_login → browser → handle_redirect.
    pub async fn login(&self, client: &Client) -> keyfob::Result<IdTokenClaims> {
        let url = client.begin_login().await?;
        let callback = self.browse(&url).await;
        client.handle_redirect(&callback).await
    }

    /// GET `url` with an optional bearer token.
    pub async fn get(&self, url: &str, bearer: Option<&str>) -> keyfob::HttpResponse {
        let mut headers = vec![];
        if let Some(token) = bearer {
            headers.push(("authorization".to_string(), format!("Bearer {token}")));
        }
        let request = HttpRequest {
            method: HttpMethod::Get,
            url: url.to_string(),
            headers,
            body: vec![],
            timeout: std::time::Duration::from_secs(10),
            max_response_bytes: 1 << 20,
        };
        self.transport.send(request).await.expect("HTTP request")
    }

    /// GET `url` with the given headers (e.g. what `authorization_headers` gave).
    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> keyfob::HttpResponse {
        let request = HttpRequest {
            method: HttpMethod::Get,
            url: url.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: vec![],
            timeout: std::time::Duration::from_secs(10),
            max_response_bytes: 1 << 20,
        };
        self.transport.send(request).await.expect("HTTP request")
    }

    /// POSTs a form, as a third party talking to the provider directly would.
    pub async fn post_form(&self, url: &str, params: &[(&str, &str)]) -> keyfob::HttpResponse {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let request = HttpRequest {
            method: HttpMethod::Post,
            url: url.to_string(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: body.into_bytes(),
            timeout: std::time::Duration::from_secs(10),
            max_response_bytes: 1 << 20,
        };
        self.transport.send(request).await.expect("HTTP request")
    }

    /// Tries a refresh token directly at the provider; returns the HTTP status.
    pub async fn provider_accepts_refresh_token(&self, refresh_token: &str) -> bool {
        let url = format!("{}/token", self.kit.issuer());
        let params = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", self.kit.client_id()),
        ];
        self.post_form(&url, &params).await.status == 200
    }

    /// Calls Server A (`crm`) or B (`orders`) as the app would; returns status and JSON body.
    pub async fn call_api(&self, server: Server, token: &str) -> (u16, Value) {
        let url = match server {
            Server::Crm => format!("{}/api/customers", self.kit.urls().crm),
            Server::Orders => format!("{}/api/orders", self.kit.urls().orders),
        };
        let response = self.get(&url, Some(token)).await;
        let body = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        (response.status, body)
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Server {
    Crm,
    Orders,
}

/// Replaces (or removes, with `None`) a query parameter of a URL.
pub fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .filter(|(n, _)| n != name)
        .map(|(a, b)| (a.into(), b.into()))
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (n, v) in &pairs {
            q.append_pair(n, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    u.into()
}

/// A query parameter of a URL.
pub fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// Captures every log record the core emits, at the most verbose level, so that tests can check
/// that no secret reaches the logs.
struct LogCapture(std::sync::Mutex<Vec<String>>);

impl log::Log for LogCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push(format!(
            "{} {}: {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

static LOGS: LogCapture = LogCapture(std::sync::Mutex::new(Vec::new()));

/// Installs the capturing logger at trace level (once per test binary).
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        log::set_logger(&LOGS).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Every log record captured so far.
pub fn captured_logs() -> Vec<String> {
    LOGS.0.lock().unwrap().clone()
}

/// An in-memory store whose reads, writes and deletions can be made to fail, each way a
/// platform store fails: locked device (`unavailable`), I/O (`fail_reads`, `fail_writes`,
/// `fail_deletes`) and a lost key (`key_invalidated`). Flip a flag with [`FaultyStorage::set`].
#[derive(Default)]
pub struct FaultyStorage {
    pub inner: MemoryStorage,
    pub fail_writes: AtomicBool,
    /// While `fail_writes` is set, this many writes still succeed first (a refresh writes its
    /// lease before it spends the refresh token: let that one through to fail the result).
    pub writes_before_failing: std::sync::atomic::AtomicUsize,
    pub fail_reads: AtomicBool,
    pub fail_deletes: AtomicBool,
    pub unavailable: AtomicBool,
    pub key_invalidated: AtomicBool,
    /// Sees every value Keyfob tries to save, whether or not the write then fails.
    pub on_save: Option<SaveHook>,
}

/// See [`FaultyStorage::on_save`].
pub type SaveHook = Box<dyn Fn(&[u8]) + Send + Sync>;

impl FaultyStorage {
    /// What the store holds under `key`, bypassing the faults.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.inner.load(key).unwrap()
    }

    pub fn set(flag: &AtomicBool, on: bool) {
        flag.store(on, Ordering::SeqCst);
    }
}

impl SecureStorage for FaultyStorage {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(StorageError::new(
                StorageErrorKind::Unavailable,
                "device locked",
            ));
        }
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(StorageError::new(StorageErrorKind::Failed, "I/O error"));
        }
        if self.key_invalidated.load(Ordering::SeqCst) {
            return Err(StorageError::new(
                StorageErrorKind::KeyInvalidated,
                "key gone",
            ));
        }
        self.inner.load(key)
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        if let Some(on_save) = &self.on_save {
            on_save(value);
        }
        if self.fail_writes.load(Ordering::SeqCst)
            && self
                .writes_before_failing
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_err()
        {
            return Err(StorageError::new(StorageErrorKind::Failed, "disk full"));
        }
        self.inner.save(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        if self.fail_deletes.load(Ordering::SeqCst) {
            return Err(StorageError::new(StorageErrorKind::Failed, "read-only"));
        }
        self.inner.delete(key)
    }
}
