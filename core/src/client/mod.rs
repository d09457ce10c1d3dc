//! The client: sign-in flow and session lifecycle.
//!
//! # Guarantees (what is persisted when)
//!
//! - [`Client::begin_login`] persists the pending login (verifier, `state`, `nonce`, redirect URI,
//!   time) before returning the URL, so the login completes even if the app is killed while the
//!   browser is open. It is single-use and expires after [`crate::PENDING_LOGIN_LIFETIME_SECS`].
//! - New tokens (sign-in or refresh) are written to storage *before* they are returned. If the
//!   write fails the caller gets an [`ErrorKind::Storage`] error; the new tokens stay in memory
//!   (a rotated refresh token is never dropped) and the write is retried by the next call, while
//!   storage still holds the previous session (writes are atomic).
//! - A refresh that the provider answers with `invalid_grant` clears the tokens (memory and
//!   storage) and moves the session to [`SessionState::NeedsReLogin`]; network errors, timeouts
//!   and 5xx keep the session and return a retryable error.
//! - Storage is read at the first call that needs the session and again before every change
//!   (a refresh, a sign-in or sign-out, an account switch), since other processes may share it;
//!   a valid access token is served from memory. "Storage unavailable" (device locked) is never
//!   taken as signed out. See `session::live` for how processes sharing a store coordinate.
//! - Several accounts may be signed in at once when [`crate::ConfigBuilder::multiple_accounts`]
//!   is set; one of them is active and is what [`Client::access_token`] and friends use.

mod access_token;
mod accounts;
mod background;
mod device;
mod dpop;
mod exchange;
mod login;
mod logout;
mod provider;
mod provider_record;
mod refresh;
#[cfg(test)]
mod refresh_tests;
mod resources;
#[cfg(test)]
mod siblings;
mod userinfo;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http::{Http, HttpTransport};
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::dpop::Dpop;
use crate::oidc::id_token::{self, Expected, IdTokenClaims};
use crate::oidc::jwks::KeySource;
use crate::oidc::token::{self, TokenResponse};
use crate::secret::SecretString;
use crate::session::accounts::BySubject;
use crate::session::live::LiveSession;
use crate::session::{SessionEvent, SessionObserver, SessionState, Tokens};
use crate::storage::{MemoryStorage, SecureStorage};
use crate::sync::lock;
use background::Background;

pub use background::{BackgroundTask, Spawner};
pub use dpop::AuthorizationHeaders;
pub use exchange::{ExchangedToken, Subject, TokenExchange};
pub use logout::Logout;
use provider::ProviderCache;

/// The largest device clock error Keyfob corrects with the provider's `Date` header.
const MAX_CLOCK_OFFSET_SECS: i64 = 24 * 3600;

/// An OpenID Connect client for one provider and one app.
///
/// Typical use: [`Client::begin_login`] gives the URL to open in the system browser; the deep
/// link that comes back goes to [`Client::handle_redirect`]; after that
/// [`Client::access_token`] returns a valid access token, refreshing when needed. All methods
/// take `&self`: share one client (in an `Arc`) across the app.
///
/// What is persisted when: the pending login before [`Client::begin_login`] returns; new tokens
/// before [`Client::handle_redirect`], [`Client::refresh`] or [`Client::access_token`] return them
/// (a failed write is an [`ErrorKind::Storage`] error, the new tokens stay in memory and the write
/// is retried by the next call; a rotated refresh token is never dropped). `invalid_grant` on
/// refresh clears the session ([`SessionState::NeedsReLogin`]); network errors and 5xx keep it.
pub struct Client {
    config: Config,
    http: Http,
    clock: Arc<dyn Clock>,
    store: LiveSession,
    observers: Mutex<Vec<Arc<dyn SessionObserver>>>,
    /// The provider's metadata and keys, kept beside the session.
    provider: ProviderCache,
    /// Per account, held while its refresh is in flight, so that concurrent callers share it.
    refresh_locks: Mutex<BySubject<Arc<futures_util::lock::Mutex<()>>>>,
    /// Per account, a refresh that failed but still changed the session (it kept a new refresh
    /// token), with the revision it left and the API it was for (`None`: the session's own
    /// token): callers that waited for it share its error.
    failed_refresh: Mutex<BySubject<FailedRefresh>>,
    /// Per account, the revision whose token was last refreshed ahead of expiry (or tried to
    /// be): once per token.
    refreshed_ahead: Mutex<BySubject<u64>>,
    /// Where refreshes ahead of expiry run, when the app gave a spawner.
    background: Option<Background>,
    /// This client's name in refresh leases (see `session::live`): unique per process and
    /// client object.
    lease_holder: String,
    /// Provider clock minus device clock, learned from token responses' `Date` header.
    clock_offset: AtomicI64,
    /// The DPoP key sessions are bound to, when the app gave one (see `client::dpop`).
    dpop: Option<Dpop>,
    /// The device login under way (RFC 8628), if any.
    device: Mutex<Option<crate::oidc::device::DeviceAuthorization>>,
    /// The authorization servers this client exchanged tokens with (RFC 8693), by namespace.
    exchanges: Mutex<HashMap<String, Arc<exchange::ExchangeTarget>>>,
}

/// A refresh that failed but changed the session: the revision it left, the API it was for
/// (`None`: the session's own token), and its error.
type FailedRefresh = (u64, Option<String>, Error);

/// How long the access token of `response` was issued for (its `expires_in`), in seconds.
fn lifetime(response: &TokenResponse) -> Option<i64> {
    response
        .expires_in
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}

/// Numbers the clients of this process, for their lease holder names.
static CLIENTS: AtomicU64 = AtomicU64::new(1);

impl Client {
    /// A client for `config` that sends its requests through `transport`, with the session kept
    /// in memory only. Use [`Client::with_storage`] to persist it.
    pub fn new(config: Config, transport: Arc<dyn HttpTransport>) -> Self {
        let http = Http::new(transport, config.http_timeout, config.max_response_bytes);
        Self::with_http(config, http)
    }

    /// A client for `config` over `http`, with the session and provider metadata in memory.
    fn with_http(config: Config, http: Http) -> Self {
        let storage: Arc<dyn SecureStorage> = Arc::new(MemoryStorage::new());
        let store = LiveSession::new(storage.clone(), &config.issuer, &config.client_id);
        let provider = ProviderCache::new(storage, config.metadata_age_bounds());
        let lease_holder = format!(
            "{}.{}",
            std::process::id(),
            CLIENTS.fetch_add(1, Ordering::Relaxed)
        );
        Client {
            config,
            http,
            clock: Arc::new(SystemClock),
            store,
            observers: Mutex::new(Vec::new()),
            provider,
            refresh_locks: Mutex::default(),
            failed_refresh: Mutex::default(),
            refreshed_ahead: Mutex::default(),
            background: None,
            lease_holder,
            clock_offset: AtomicI64::new(0),
            dpop: None,
            device: Mutex::new(None),
            exchanges: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps the session in `storage` (Keychain, Keystore-backed store, [`crate::FileStorage`]).
    /// The stored session is read at the first call that needs it. Other processes may share
    /// the store: they coordinate their refreshes through it (see [`SecureStorage`]). The
    /// provider's metadata (discovery and keys, public data) is kept there too, under its own
    /// key, so that the next launch needs no request for it (see
    /// [`crate::ConfigBuilder::metadata_max_age`]).
    pub fn with_storage(mut self, storage: Arc<dyn SecureStorage>) -> Self {
        self.store = LiveSession::new(storage.clone(), &self.config.issuer, &self.config.client_id);
        self.provider = ProviderCache::new(storage, self.config.metadata_age_bounds());
        self
    }

    /// Replaces the clock (tests, simulations).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Registers an observer of session events (sign-in, refresh, sign-out, needs re-login).
    /// Observers are called after the change, with no lock held.
    pub fn add_observer(&self, observer: Arc<dyn SessionObserver>) {
        lock(&self.observers).push(observer);
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn notify(&self, event: SessionEvent) {
        let observers = lock(&self.observers).clone();
        for o in observers {
            o.on_session_event(event);
        }
    }

    /// Tells observers what other processes changed, as the last storage read found it.
    fn notify_absorbed(&self) {
        for event in self.store.take_events() {
            self.notify(event);
        }
    }

    /// The device clock corrected by the offset learned from the provider (bounded).
    fn provider_now(&self) -> i64 {
        self.clock
            .now()
            .saturating_add(self.clock_offset.load(Ordering::Relaxed))
    }

    fn learn_clock_offset(&self, response: &TokenResponse) {
        if let Some(server) = response.server_time {
            let offset = server - self.clock.now();
            if offset.abs() <= MAX_CLOCK_OFFSET_SECS {
                self.clock_offset.store(offset, Ordering::Relaxed);
            } else {
                log::warn!("ignoring an implausible clock offset of {offset} s");
            }
        }
    }

    /// Reads the stored session now (no network) and returns the resulting state. Calling it at
    /// app start is optional: every method restores on first use. A stored session that cannot
    /// be read (corrupt, key invalidated) is reported here once, or by the next call that needs
    /// the session, and the client is then signed out.
    pub fn restore(&self) -> Result<SessionState> {
        self.store.restore()?;
        Ok(self.state())
    }

    /// The current state. Never does network I/O; reads storage only if not yet restored.
    pub fn state(&self) -> SessionState {
        self.store.state()
    }

    /// The active account's tokens, if signed in (restores from storage on first use). They
    /// may not be persisted yet if the last write failed (that failure was returned to its
    /// caller).
    pub fn tokens(&self) -> Option<Tokens> {
        self.store.tokens()
    }

    /// The validated ID token claims of the active account's user.
    pub fn claims(&self) -> Option<IdTokenClaims> {
        self.tokens().map(|t| t.claims)
    }

    fn skew(&self) -> i64 {
        i64::try_from(self.config.clock_skew.as_secs()).unwrap_or(i64::MAX)
    }

    fn tokens_from(
        &self,
        response: TokenResponse,
        id_token: SecretString,
        claims: IdTokenClaims,
        previous: Option<&Tokens>,
    ) -> Tokens {
        let expires_at = self.expires_at(&response);
        let lifetime = lifetime(&response);
        Tokens {
            access_token: response.access_token,
            // Never drop a refresh token: keep the old one when the provider does not rotate.
            refresh_token: response
                .refresh_token
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            id_token,
            expires_at,
            lifetime,
            // The provider's list (possibly empty: granted none), else the previous one, else
            // as requested.
            scopes: response
                .scope
                .or_else(|| previous.map(|p| p.scopes.clone()))
                .unwrap_or_else(|| self.config.scopes.clone()),
            claims,
            login_nonce: previous.and_then(|p| p.login_nonce.clone()),
            // A refresh keeps the binding (its request carried a proof with the same key).
            dpop_jkt: previous.and_then(|p| p.dpop_jkt.clone()),
            // A refresh keeps the tokens obtained for single APIs: they are still valid.
            resources: previous
                .map_or_else(|| self.config.resources.clone(), |p| p.resources.clone()),
            resource_tokens: previous
                .map(|p| p.resource_tokens.clone())
                .unwrap_or_default(),
        }
    }

    /// When the access token of `response` expires, in device time: `expires_in` is relative,
    /// so a wrong device clock does not shift it.
    fn expires_at(&self, response: &TokenResponse) -> Option<i64> {
        let now = self.clock.now();
        lifetime(response).map(|s| now.saturating_add(s))
    }

    /// Validates an ID token from `provider`: a sign-in's against the login's `nonce`, a
    /// refreshed one against the `previous` session's (OpenID Connect Core §12.2).
    async fn validate_id_token(
        &self,
        provider: &ProviderMetadata,
        id_token: &SecretString,
        nonce: Option<&str>,
        previous: Option<&Tokens>,
    ) -> Result<IdTokenClaims> {
        let expected = Expected {
            issuer: &provider.issuer,
            client_id: &self.config.client_id,
            nonce,
            previous: previous.map(|t| &t.claims),
            previous_nonce: previous
                .and_then(|t| t.login_nonce.as_ref())
                .map(SecretString::expose),
            now: self.provider_now(),
            skew: self.skew(),
        };
        let keys = KeySource {
            cache: &self.provider.keys,
            http: &self.http,
            jwks_uri: &provider.jwks_uri,
            now: self.clock.now(),
        };
        let validated = id_token::validate(id_token.expose(), &expected, &keys).await;
        // A key set fetched for this token is kept for the next launch.
        self.save_metadata();
        validated
    }

    /// Best-effort revocation of a grant Keyfob will not keep.
    async fn revoke_quietly(&self, provider: &ProviderMetadata, tokens: &Tokens) {
        // A DPoP-bound grant is revoked with a proof when its key is still there.
        let proof = self.proof_now(self.session_key(tokens).ok().flatten());
        if let (Some(endpoint), Some(rt)) = (&provider.revocation_endpoint, &tokens.refresh_token)
            && let Err(e) = token::revoke(
                &self.http,
                endpoint,
                &self.config.client_id,
                rt,
                "refresh_token",
                proof,
            )
            .await
        {
            log::warn!("could not revoke an orphaned refresh token: {e}");
        }
    }
}
