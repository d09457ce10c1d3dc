//! Sign-in: the authorization URL ([`Client::begin_login`]) and its callback
//! ([`Client::handle_redirect`]).

use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::oidc::authorize::{self, LoginOptions};
use crate::oidc::id_token::IdTokenClaims;
use crate::oidc::token;
use crate::session::SessionEvent;

impl Client {
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
}
