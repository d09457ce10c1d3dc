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
//! - Storage is read once (at the first call that needs the session) and written on every change;
//!   a valid access token is served from memory. "Storage unavailable" (device locked) is never
//!   taken as signed out.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Http, HttpMethod, HttpTransport, parse_json_object};
use crate::oidc::authorize::{self, LoginOptions};
use crate::oidc::discovery::{self, ProviderMetadata};
use crate::oidc::id_token::{self, Expected, IdTokenClaims};
use crate::oidc::jwks::KeyCache;
use crate::oidc::token::{self, TokenResponse};
use crate::secret::SecretString;
use crate::session::live::{LiveSession, relogin_required};
use crate::session::tokens::Tokens;
use crate::session::{SessionEvent, SessionObserver, SessionState};
use crate::storage::{MemoryStorage, SecureStorage};
use crate::sync::lock;

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
    provider: Mutex<Option<Arc<ProviderMetadata>>>,
    keys: KeyCache,
    /// Held while a refresh is in flight, so that concurrent callers share it.
    refresh_lock: futures_util::lock::Mutex<()>,
    /// A refresh that failed but still changed the session (it kept a new refresh token), with
    /// the generation it left: callers that waited for it share its error.
    failed_refresh: Mutex<Option<(u64, Error)>>,
    /// Provider clock minus device clock, learned from token responses' `Date` header.
    clock_offset: AtomicI64,
}

impl Client {
    /// A client for `config` that sends its requests through `transport`, with the session kept
    /// in memory only. Use [`Client::with_storage`] to persist it.
    pub fn new(config: Config, transport: Arc<dyn HttpTransport>) -> Self {
        let http = Http::new(transport, config.http_timeout, config.max_response_bytes);
        Client {
            config,
            http,
            clock: Arc::new(SystemClock),
            store: LiveSession::new(Arc::new(MemoryStorage::new())),
            observers: Mutex::new(Vec::new()),
            provider: Mutex::new(None),
            keys: KeyCache::default(),
            refresh_lock: futures_util::lock::Mutex::new(()),
            failed_refresh: Mutex::new(None),
            clock_offset: AtomicI64::new(0),
        }
    }

    /// Keeps the session in `storage` (Keychain, Keystore-backed store, [`crate::FileStorage`]).
    /// The stored session is read at the first call that needs it.
    pub fn with_storage(mut self, storage: Arc<dyn SecureStorage>) -> Self {
        self.store = LiveSession::new(storage);
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

    /// The provider's validated metadata, fetched once and then cached.
    pub async fn provider_metadata(&self) -> Result<Arc<ProviderMetadata>> {
        if let Some(p) = lock(&self.provider).clone() {
            return Ok(p);
        }
        let fetched = Arc::new(
            discovery::fetch(
                &self.http,
                &self.config.issuer,
                &self.config.insecure_http_hosts,
            )
            .await?,
        );
        *lock(&self.provider) = Some(fetched.clone());
        Ok(fetched)
    }

    /// Starts a login and returns the authorization URL to open in the system browser.
    ///
    /// Discovery and the provider's keys are fetched now, while the user is in the browser, so
    /// that completing the login takes a single request. The pending login is persisted before
    /// the URL is returned. A new login replaces any pending one.
    pub async fn begin_login(&self) -> Result<String> {
        self.begin_login_with(&LoginOptions::default()).await
    }

    /// [`Client::begin_login`] with per-login options (`prompt`, `login_hint`, extra parameters).
    pub async fn begin_login_with(&self, options: &LoginOptions) -> Result<String> {
        let provider = self.provider_metadata().await?;
        if let Err(e) = self.keys.prefetch(&self.http, &provider.jwks_uri).await {
            // Not fatal: the keys are fetched again when the ID token arrives.
            log::warn!("JWKS prefetch failed: {e}");
        }
        let (url, pending) =
            authorize::build_request(&self.config, &provider, options, self.clock.now())?;
        self.store.set_pending(pending)?;
        self.notify(SessionEvent::LoginStarted);
        Ok(url.into())
    }

    /// Completes the login with the URL the OS delivered to the app (`myapp://callback?code=…`).
    ///
    /// The URL must match the redirect URI exactly and carry the pending login's `state`; the
    /// pending login is used up by the first callback with the right `state`, whatever the
    /// outcome, so a callback delivered twice is redeemed once. On success the code is
    /// exchanged, the ID token validated, and the session persisted before the claims are
    /// returned; it replaces any previous session.
    pub async fn handle_redirect(&self, callback_url: &str) -> Result<IdTokenClaims> {
        let params = authorize::parse_callback(&self.config.redirect_uri, callback_url)?;
        let pending = self
            .store
            .take_pending(|p| authorize::check_state(&params, p))?;
        if pending.is_expired(self.clock.now()) {
            return Err(Error::new(
                ErrorKind::NoPendingLogin,
                "the pending login has expired; start a new one",
            ));
        }
        let provider = self.provider_metadata().await?;
        let code = authorize::check_callback(params, &provider)?;
        let response = token::exchange_code(
            &self.http,
            &provider.token_endpoint,
            &self.config.client_id,
            &pending.redirect_uri,
            &code,
            &pending.verifier,
        )
        .await?;
        self.learn_clock_offset(&response);
        let id_token = response
            .id_token
            .clone()
            .expect("exchange_code requires an id_token");
        let claims = self
            .validate_id_token(&provider, &id_token, Some(pending.nonce.expose()), None)
            .await?;
        let mut tokens = self.tokens_from(response, id_token, claims.clone(), None);
        tokens.login_nonce = Some(pending.nonce);
        self.store.replace(None, tokens);
        self.store.persist()?;
        log::info!("signed in");
        self.notify(SessionEvent::SignedIn);
        Ok(claims)
    }

    fn refresh_margin(&self) -> i64 {
        i64::try_from(self.config.refresh_margin.as_secs()).unwrap_or(i64::MAX)
    }

    /// A valid access token: the current one while it has more than [`Config::refresh_margin`]
    /// left, otherwise a refreshed one. Concurrent callers share a single refresh.
    pub async fn access_token(&self) -> Result<SecretString> {
        if let Some(token) = self.cached_access_token() {
            return Ok(token);
        }
        let (tokens, generation) = self.store.current()?;
        if tokens.is_fresh(self.clock.now(), self.refresh_margin()) {
            return Ok(tokens.access_token);
        }
        Ok(self.refresh_shared(generation).await?.access_token)
    }

    /// The access token from memory if it is persisted and valid for at least the refresh
    /// margin, without any I/O or waiting (for hot paths). `None` means: call
    /// [`Client::access_token`].
    pub fn cached_access_token(&self) -> Option<SecretString> {
        self.store
            .fresh_access_token(self.clock.now(), self.refresh_margin())
    }

    /// Uses the refresh token now, whatever the access token's expiry (callers that arrive while
    /// a refresh is in flight share its result).
    ///
    /// A new refresh token replaces the old one; when the provider sends none, the old one is
    /// kept. A refreshed ID token must name the same user (OpenID Connect Core §12.2); if it
    /// fails validation the session ends, since the response cannot be trusted.
    pub async fn refresh(&self) -> Result<Tokens> {
        let (_, generation) = self.store.current()?;
        self.refresh_shared(generation).await
    }

    /// Refreshes unless another refresh completed since `seen_generation`, in which case its
    /// result is returned. Observers are told after the refresh lock is released.
    async fn refresh_shared(&self, seen_generation: u64) -> Result<Tokens> {
        let mut events = Vec::new();
        let result = {
            let _in_flight = self.refresh_lock.lock().await;
            self.refresh_locked(seen_generation, &mut events).await
        };
        for event in events {
            self.notify(event);
        }
        result
    }

    async fn refresh_locked(
        &self,
        seen_generation: u64,
        events: &mut Vec<SessionEvent>,
    ) -> Result<Tokens> {
        let (current, generation) = self.store.current()?;
        if generation != seen_generation {
            // Another caller's refresh ended meanwhile: its outcome is this caller's too.
            return match &*lock(&self.failed_refresh) {
                Some((failed, e)) if *failed == generation => Err(e.clone()),
                _ => Ok(current),
            };
        }
        let refresh_token = current.refresh_token.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::ReLoginRequired,
                "the session has no refresh token; sign in again",
            )
        })?;
        let provider = self.provider_metadata().await?;
        let response = match token::refresh(
            &self.http,
            &provider.token_endpoint,
            &self.config.client_id,
            &refresh_token,
        )
        .await
        {
            Ok(r) => r,
            Err(token::RefreshFailure { error: e, .. })
                if e.provider_error() == Some("invalid_grant") =>
            {
                log::warn!("refresh token rejected: {e}");
                let (dropped, deleted) = self.store.clear(Some(generation), true);
                if dropped.is_none() {
                    // The session changed meanwhile (logout, new sign-in): report that one.
                    return self.store.current().map(|(t, _)| t);
                }
                if let Err(e) = deleted {
                    log::warn!("could not delete the rejected session: {e}");
                }
                events.push(SessionEvent::NeedsReLogin);
                return Err(relogin_required());
            }
            Err(token::RefreshFailure {
                error,
                rotated_refresh_token: Some(rotated),
            }) => {
                // An unusable answer that still carries a new refresh token: the provider may
                // have rotated the old one out, so keep the new one (memory, then storage) with
                // the current access and ID tokens, and report the bad response.
                log::warn!("unusable refresh response, keeping its new refresh token: {error}");
                let kept = Tokens {
                    refresh_token: Some(rotated),
                    ..current
                };
                match self.store.replace(Some(generation), kept.clone()) {
                    Some(kept_generation) => {
                        *lock(&self.failed_refresh) = Some((kept_generation, error.clone()));
                        // A failed write is what the app must hear about: the new refresh
                        // token is only in memory (the next call writes it again).
                        self.store.persist()?;
                    }
                    None => self.revoke_quietly(&provider, &kept).await,
                }
                return Err(error);
            }
            Err(token::RefreshFailure { error, .. }) => return Err(error),
        };
        self.learn_clock_offset(&response);
        let new_id_token = response.id_token.clone();
        // Keep the rotated refresh token in memory before anything else can fail or be
        // cancelled: from here on the old one is dead at the provider.
        let provisional = self.tokens_from(
            response,
            current.id_token.clone(),
            current.claims.clone(),
            Some(&current),
        );
        let Some(generation) = self.store.replace(Some(generation), provisional.clone()) else {
            // Logged out or signed in again while the request was in flight: this grant is
            // orphaned; revoke it rather than resurrect the old session.
            self.revoke_quietly(&provider, &provisional).await;
            return self.store.current().map(|(t, _)| t);
        };
        let tokens = match new_id_token {
            None => provisional,
            Some(id_token) => {
                match self
                    .validate_id_token(&provider, &id_token, None, Some(&current))
                    .await
                {
                    Ok(claims) => {
                        let validated = Tokens {
                            id_token,
                            claims,
                            ..provisional
                        };
                        self.store.replace(Some(generation), validated.clone());
                        validated
                    }
                    Err(e) if e.is_retryable() => {
                        // The keys could not be fetched: keep the new access and refresh tokens
                        // with the previous, validated ID token; the new one is not used.
                        log::warn!(
                            "refreshed ID token not validated now, keeping the previous one: {e}"
                        );
                        provisional
                    }
                    Err(e) => {
                        log::warn!("refreshed ID token rejected, ending the session: {e}");
                        if self.store.clear(Some(generation), true).0.is_some() {
                            self.revoke_quietly(&provider, &provisional).await;
                            events.push(SessionEvent::NeedsReLogin);
                        }
                        return Err(e);
                    }
                }
            }
        };
        self.store.persist()?;
        log::info!("tokens refreshed");
        events.push(SessionEvent::Refreshed);
        Ok(tokens)
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
        id_token::validate(
            id_token.expose(),
            &expected,
            &self.keys,
            &self.http,
            &provider.jwks_uri,
        )
        .await
    }

    /// Best-effort revocation of a grant Keyfob will not keep.
    async fn revoke_quietly(&self, provider: &ProviderMetadata, tokens: &Tokens) {
        if let (Some(endpoint), Some(rt)) = (&provider.revocation_endpoint, &tokens.refresh_token)
            && let Err(e) = token::revoke(
                &self.http,
                endpoint,
                &self.config.client_id,
                rt,
                "refresh_token",
            )
            .await
        {
            log::warn!("could not revoke an orphaned refresh token: {e}");
        }
    }

    /// Signs out: forgets the session (memory and storage), revokes the refresh token (RFC 7009)
    /// when the provider offers revocation, and builds the end-session URL (RP-initiated logout)
    /// for the app to open when the provider offers one.
    ///
    /// The local session is cleared even when revocation fails; the failure is reported in
    /// [`Logout::revocation_error`]. A storage failure is returned as an error (the session
    /// might otherwise come back at the next launch). A refresh in flight is discarded (and its
    /// new refresh token revoked).
    pub async fn logout(&self) -> Result<Logout> {
        let _ = self.store.ensure_restored();
        let (tokens, deleted) = self.store.clear(None, false);
        let Some(tokens) = tokens else {
            deleted?;
            return Ok(Logout::default());
        };
        self.notify(SessionEvent::SignedOut);
        let mut outcome = Logout::default();
        match self.provider_metadata().await {
            Ok(provider) => {
                if let Some(endpoint) = &provider.revocation_endpoint {
                    let (token, hint) = match &tokens.refresh_token {
                        Some(rt) => (rt, "refresh_token"),
                        None => (&tokens.access_token, "access_token"),
                    };
                    match token::revoke(&self.http, endpoint, &self.config.client_id, token, hint)
                        .await
                    {
                        Ok(()) => outcome.refresh_token_revoked = tokens.refresh_token.is_some(),
                        Err(e) => {
                            log::warn!("token revocation failed: {e}");
                            outcome.revocation_error = Some(e);
                        }
                    }
                }
                if let Some(endpoint) = &provider.end_session_endpoint {
                    let (url, state) = self.end_session_url(endpoint, &tokens)?;
                    outcome.end_session_url = Some(url);
                    outcome.end_session_state = state;
                }
            }
            Err(e) => outcome.revocation_error = Some(e),
        }
        deleted?;
        log::info!("signed out");
        Ok(outcome)
    }

    /// The RP-initiated logout URL and the `state` it carries (when a post-logout redirect URI
    /// is configured, the provider sends that `state` back with the redirect).
    fn end_session_url(
        &self,
        endpoint: &url::Url,
        tokens: &Tokens,
    ) -> Result<(SecretString, Option<SecretString>)> {
        let mut url = endpoint.clone();
        let mut state = None;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("id_token_hint", tokens.id_token.expose())
                .append_pair("client_id", &self.config.client_id);
            if let Some(uri) = &self.config.post_logout_redirect_uri {
                let s = crate::oidc::pkce::random_token(16)?;
                q.append_pair("post_logout_redirect_uri", uri.as_str())
                    .append_pair("state", &s);
                state = Some(SecretString::new(s));
            }
        }
        Ok((SecretString::new(String::from(url)), state))
    }

    /// Fetches the UserInfo claims with the current access token. The response's `sub` must be
    /// the signed-in user's (OpenID Connect Core §5.3.2).
    pub async fn userinfo(&self) -> Result<Map<String, Value>> {
        let access_token = self.access_token().await?;
        let provider = self.provider_metadata().await?;
        let endpoint = provider.userinfo_endpoint.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Discovery,
                "the provider has no userinfo endpoint",
            )
        })?;
        let headers = vec![
            (
                "authorization".to_string(),
                format!("Bearer {}", access_token.expose()),
            ),
            ("accept".to_string(), "application/json".to_string()),
        ];
        let response = self
            .http
            .send(HttpMethod::Get, endpoint, headers, Vec::new(), "userinfo")
            .await?;
        if response.status != 200 {
            return Err(token::error_response(&response, "userinfo"));
        }
        let claims = parse_json_object(&response.body, "userinfo")?;
        let subject = self.claims().map(|c| c.subject);
        match claims.get("sub") {
            Some(Value::String(sub)) if Some(sub) == subject.as_ref() => Ok(claims),
            _ => Err(Error::invalid_response(
                "userinfo: `sub` is not the signed-in user",
            )),
        }
    }

    /// The current tokens, if signed in (restores from storage on first use). They may not be
    /// persisted yet if the last write failed (that failure was returned to its caller).
    pub fn tokens(&self) -> Option<Tokens> {
        self.store.tokens()
    }

    /// The validated ID token claims of the signed-in user.
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
        // Expiry is kept in device time: `expires_in` is relative, so a wrong device clock does
        // not shift it.
        let now = self.clock.now();
        Tokens {
            access_token: response.access_token,
            // Never drop a refresh token: keep the old one when the provider does not rotate.
            refresh_token: response
                .refresh_token
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            id_token,
            expires_at: response
                .expires_in
                .map(|s| now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX))),
            scopes: response
                .scope
                .or_else(|| previous.map(|p| p.scopes.clone()))
                .unwrap_or_else(|| self.config.scopes.clone()),
            claims,
            login_nonce: previous.and_then(|p| p.login_nonce.clone()),
        }
    }
}

/// The outcome of [`Client::logout`].
#[derive(Debug, Default)]
pub struct Logout {
    /// The provider's end-session URL to open in the browser, when it has one. It carries the ID
    /// token as `id_token_hint`, hence a secret.
    pub end_session_url: Option<SecretString>,
    /// The `state` sent with the end-session URL when a post-logout redirect URI is configured:
    /// compare it with the one on the post-logout redirect before trusting that redirect.
    pub end_session_state: Option<SecretString>,
    /// Why revoking the refresh token failed, if it did (the local session is cleared anyway).
    pub revocation_error: Option<Error>,
    /// Whether the provider accepted the revocation of the session's refresh token. `false`
    /// with no `revocation_error` means there was nothing to revoke it with: the provider has
    /// no revocation endpoint, or the session had no refresh token.
    pub refresh_token_revoked: bool,
}
