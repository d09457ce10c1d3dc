//! The sign-in flow: begin login, handle the redirect, refresh.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::authorize::{self, LoginOptions, PendingAuthorization};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::discovery::{self, ProviderMetadata};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Http, HttpTransport};
use crate::id_token::{self, Expected, IdTokenClaims};
use crate::jwks::KeyCache;
use crate::secret::SecretString;
use crate::token::{self, TokenResponse};
use crate::tokens::Tokens;

/// An access token is refreshed when it has less than this many seconds left.
pub const DEFAULT_REFRESH_MARGIN_SECS: i64 = 30;

/// An OpenID Connect client for one provider and one app.
///
/// Typical use: [`Client::begin_login`] gives the URL to open in the system browser; the deep
/// link that comes back goes to [`Client::handle_redirect`]; after that
/// [`Client::access_token`] always returns a valid access token, refreshing when needed.
pub struct Client {
    config: Config,
    http: Http,
    clock: Arc<dyn Clock>,
    provider: Mutex<Option<Arc<ProviderMetadata>>>,
    keys: KeyCache,
    pending: Mutex<Option<PendingAuthorization>>,
    tokens: Mutex<Option<Tokens>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks is always consistent between statements; a panic elsewhere
    // must not make the client unusable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    /// A client for `config` that sends its requests through `transport`.
    pub fn new(config: Config, transport: Arc<dyn HttpTransport>) -> Self {
        let http = Http::new(transport, config.http_timeout, config.max_response_bytes);
        Client {
            config,
            http,
            clock: Arc::new(SystemClock),
            provider: Mutex::new(None),
            keys: KeyCache::default(),
            pending: Mutex::new(None),
            tokens: Mutex::new(None),
        }
    }

    /// Replaces the clock (tests, simulations).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The provider's validated metadata, fetched once and then cached.
    pub async fn provider_metadata(&self) -> Result<Arc<ProviderMetadata>> {
        if let Some(p) = lock(&self.provider).clone() {
            return Ok(p);
        }
        let fetched = Arc::new(discovery::fetch(&self.http, &self.config.issuer).await?);
        *lock(&self.provider) = Some(fetched.clone());
        Ok(fetched)
    }

    /// Starts a login and returns the authorization URL to open in the system browser.
    ///
    /// Discovery and the provider's keys are fetched now, while the user is in the browser, so
    /// that completing the login takes a single request. A new login replaces any pending one.
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
        *lock(&self.pending) = Some(pending);
        Ok(url.into())
    }

    /// Completes the login with the URL the OS delivered to the app (`myapp://callback?code=…`).
    ///
    /// The URL must match the redirect URI exactly and carry the pending login's `state`; the
    /// pending login is used up by the first callback with the right `state`, whatever the
    /// outcome. On success the code is exchanged, the ID token validated, and the session held.
    pub async fn handle_redirect(&self, callback_url: &str) -> Result<IdTokenClaims> {
        let params = authorize::parse_callback(&self.config.redirect_uri, callback_url)?;
        let pending = {
            let mut slot = lock(&self.pending);
            let Some(p) = slot.as_ref() else {
                return Err(Error::new(
                    ErrorKind::NoPendingLogin,
                    "no login is pending (none was started, or its callback was already handled)",
                ));
            };
            authorize::check_state(&params, p)?;
            slot.take().expect("checked above")
        };
        let now = self.clock.now();
        if pending.is_expired(now) {
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
        let id_token = response
            .id_token
            .clone()
            .expect("exchange_code requires an id_token");
        let expected = Expected {
            issuer: &provider.issuer,
            client_id: &self.config.client_id,
            nonce: Some(pending.nonce.expose()),
            previous: None,
            now: self.clock.now(),
            skew: self.skew(),
        };
        let claims = id_token::validate(
            id_token.expose(),
            &expected,
            &self.keys,
            &self.http,
            &provider.jwks_uri,
        )
        .await?;
        let tokens = self.tokens_from(response, id_token, claims.clone(), None);
        *lock(&self.tokens) = Some(tokens);
        log::info!("signed in");
        Ok(claims)
    }

    /// Uses the refresh token now, whatever the access token's expiry.
    ///
    /// A new refresh token replaces the old one; when the provider sends none, the old one is
    /// kept. A refreshed ID token must name the same user (OpenID Connect Core §12.2).
    pub async fn refresh(&self) -> Result<Tokens> {
        let current = lock(&self.tokens).clone().ok_or_else(not_signed_in)?;
        let refresh_token = current.refresh_token.clone().ok_or_else(|| {
            Error::new(ErrorKind::NotSignedIn, "the session has no refresh token")
        })?;
        let provider = self.provider_metadata().await?;
        let response = token::refresh(
            &self.http,
            &provider.token_endpoint,
            &self.config.client_id,
            &refresh_token,
        )
        .await?;
        let (id_token, claims) = match response.id_token.clone() {
            Some(id_token) => {
                let expected = Expected {
                    issuer: &provider.issuer,
                    client_id: &self.config.client_id,
                    nonce: None,
                    previous: Some(&current.claims),
                    now: self.clock.now(),
                    skew: self.skew(),
                };
                let claims = id_token::validate(
                    id_token.expose(),
                    &expected,
                    &self.keys,
                    &self.http,
                    &provider.jwks_uri,
                )
                .await?;
                (id_token, claims)
            }
            None => (current.id_token.clone(), current.claims.clone()),
        };
        let tokens = self.tokens_from(response, id_token, claims, Some(&current));
        *lock(&self.tokens) = Some(tokens.clone());
        log::info!("tokens refreshed");
        Ok(tokens)
    }

    /// A valid access token: the current one while it has more than
    /// [`DEFAULT_REFRESH_MARGIN_SECS`] left, otherwise a refreshed one.
    pub async fn access_token(&self) -> Result<SecretString> {
        let current = lock(&self.tokens).clone().ok_or_else(not_signed_in)?;
        if current.is_fresh(self.clock.now(), DEFAULT_REFRESH_MARGIN_SECS) {
            return Ok(current.access_token);
        }
        Ok(self.refresh().await?.access_token)
    }

    /// Signs out: forgets the session locally, revokes the refresh token (RFC 7009) when the
    /// provider offers revocation, and builds the end-session URL (RP-initiated logout) for the
    /// app to open when the provider offers one.
    ///
    /// The local session is cleared even when revocation fails; the failure is reported in
    /// [`Logout::revocation_error`].
    pub async fn logout(&self) -> Result<Logout> {
        let Some(tokens) = lock(&self.tokens).take() else {
            return Ok(Logout::default());
        };
        let provider = match self.provider_metadata().await {
            Ok(p) => p,
            Err(e) => {
                return Ok(Logout {
                    end_session_url: None,
                    revocation_error: Some(e),
                });
            }
        };
        let mut revocation_error = None;
        if let Some(endpoint) = &provider.revocation_endpoint {
            let (token, hint) = match &tokens.refresh_token {
                Some(rt) => (rt, "refresh_token"),
                None => (&tokens.access_token, "access_token"),
            };
            if let Err(e) =
                token::revoke(&self.http, endpoint, &self.config.client_id, token, hint).await
            {
                log::warn!("token revocation failed: {e}");
                revocation_error = Some(e);
            }
        }
        let end_session_url = provider.end_session_endpoint.as_ref().map(|endpoint| {
            let mut url = endpoint.clone();
            {
                let mut q = url.query_pairs_mut();
                q.append_pair("id_token_hint", tokens.id_token.expose())
                    .append_pair("client_id", &self.config.client_id);
                if let Some(uri) = &self.config.post_logout_redirect_uri {
                    q.append_pair("post_logout_redirect_uri", uri.as_str());
                }
            }
            SecretString::new(String::from(url))
        });
        log::info!("signed out");
        Ok(Logout {
            end_session_url,
            revocation_error,
        })
    }

    /// The current tokens, if signed in.
    pub fn tokens(&self) -> Option<Tokens> {
        lock(&self.tokens).clone()
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
        }
    }
}

/// The outcome of [`Client::logout`].
#[derive(Debug, Default)]
pub struct Logout {
    /// The provider's end-session URL to open in the browser, when it has one. It carries the ID
    /// token as `id_token_hint`, hence a secret.
    pub end_session_url: Option<SecretString>,
    /// Why revoking the refresh token failed, if it did (the local session is cleared anyway).
    pub revocation_error: Option<Error>,
}

fn not_signed_in() -> Error {
    Error::new(ErrorKind::NotSignedIn, "not signed in")
}
