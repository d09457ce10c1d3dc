//! Sign-in: the authorization URL ([`Client::begin_login`]) and its callback
//! ([`Client::handle_redirect`]).

use url::Url;

use super::Client;
use super::provider::GrantFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::oidc::authorize::{self, LoginOptions};
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::id_token::IdTokenClaims;
use crate::oidc::par;
use crate::oidc::token::{self, RefreshFailure};
use crate::session::SessionEvent;

impl Client {
    /// Starts a login and returns the authorization URL to open in the system browser.
    ///
    /// Discovery and the provider's keys are fetched now (or taken from storage while fresh),
    /// while the user is in the browser, so that completing the login takes a single request.
    /// The pending login is persisted before the URL is returned. A new login replaces any
    /// pending one.
    pub async fn begin_login(&self) -> Result<String> {
        self.begin_login_with(&LoginOptions::default()).await
    }

    /// [`Client::begin_login`] with per-login options (`prompt`, `login_hint`, extra parameters).
    ///
    /// With a DPoP key ([`Client::with_dpop_key`]) and a provider that advertises DPoP, the
    /// request carries the key's thumbprint (`dpop_jkt`). When the provider requires pushed
    /// authorization requests (RFC 9126), or offers them and the configuration asks for them,
    /// the parameters are pushed first, alongside the key prefetch, and the URL carries only
    /// `client_id` and `request_uri`; a refused push is a `Provider` error and no pending login
    /// is stored (the provider's metadata, fetched by then, is kept).
    pub async fn begin_login_with(&self, options: &LoginOptions) -> Result<String> {
        let provider = self.provider_metadata().await?;
        let jkt = match self.dpop_for_login(&provider) {
            Some(dpop) => Some(dpop.thumbprint()?),
            None => None,
        };
        let (params, pending) =
            authorize::request_params(&self.config, options, jkt.as_deref(), self.clock.now())?;
        // The keys are made fresh (fetched, revalidated or taken from storage) meanwhile; not
        // fatal: they are fetched again when the ID token arrives.
        let prefetch = self.prefetch_keys(&provider);
        let url = match self.par_endpoint(&provider) {
            None => {
                prefetch.await;
                None
            }
            Some(endpoint) => {
                let push = par::push(&self.http, endpoint, &params);
                let ((), pushed) = futures_util::future::join(prefetch, push).await;
                Some(par::browser_url(
                    &provider.authorization_endpoint,
                    &self.config.client_id,
                    &pushed?,
                ))
            }
        };
        let url = url
            .unwrap_or_else(|| authorize::with_params(&provider.authorization_endpoint, &params));
        self.store.set_pending(pending)?;
        self.notify(SessionEvent::LoginStarted);
        Ok(url.into())
    }

    /// Where to push the authorization request, if it is pushed: always when the provider
    /// requires it, when it offers it and the configuration asks for it otherwise.
    fn par_endpoint<'a>(&self, provider: &'a ProviderMetadata) -> Option<&'a Url> {
        let wanted = provider.require_pushed_authorization_requests
            || self.config.pushed_authorization_requests;
        provider
            .pushed_authorization_request_endpoint
            .as_ref()
            .filter(|_| wanted)
    }

    /// Gives up the pending login, e.g. when the user closed the browser without signing in:
    /// it is removed from memory and storage, so its callback can no longer be redeemed and the
    /// state leaves [`crate::SessionState::LoginPending`]. A signed-in session is not touched.
    /// Observers hear [`SessionEvent::LoginCancelled`] when there was a pending login.
    pub fn cancel_login(&self) -> Result<()> {
        if self.store.cancel_pending()? {
            self.notify(SessionEvent::LoginCancelled);
        }
        Ok(())
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
        // The metadata the login started with (it may have gone stale while the user was in
        // the browser: it is revalidated beside the code exchange).
        let provider = self.metadata_for_grant().await?;
        let code = authorize::check_callback(params, &provider)?;
        let dpop = self.dpop_for_login(&provider);
        let jkt = dpop.map(|d| d.thumbprint()).transpose()?;
        let (http, client_id) = (&self.http, self.config.client_id.as_str());
        let (redirect_uri, verifier, code) =
            (pending.redirect_uri.as_str(), &pending.verifier, &code);
        // The proof is made for the endpoint the request goes to (its `htu`), also when the
        // token endpoint moved and the exchange is sent again.
        let exchange = |endpoint: Url| -> GrantFuture<'_> {
            let proof = self.proof_now(dpop);
            Box::pin(async move {
                token::exchange_code(
                    http,
                    &endpoint,
                    client_id,
                    redirect_uri,
                    code,
                    verifier,
                    proof,
                )
                .await
                .map_err(RefreshFailure::from)
            })
        };
        let (provider, response) = self.grant_with_fresh_metadata(provider, &exchange).await;
        let response = response.map_err(|failure| failure.error)?;
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
        tokens.dpop_jkt = jkt;
        let signed_in = self.store.sign_in(tokens, self.config.multiple_accounts);
        self.notify_absorbed();
        let replaced = signed_in?;
        log::info!("signed in");
        self.notify(SessionEvent::SignedIn);
        // With one account, another user's session was replaced: its grant is not kept.
        for old in replaced {
            self.revoke_quietly(&provider, &old).await;
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::error::ErrorKind;
    use crate::session::record::PENDING_KEY;
    use crate::session::{SessionEvent, SessionState};
    use crate::storage::SecureStorage;
    use crate::test_support::{RecordingObserver, ScriptedProvider, client_with_session};

    #[tokio::test]
    async fn a_cancelled_login_is_gone_from_memory_and_storage() {
        let provider = ScriptedProvider::new();
        let (client, storage) = client_with_session(&provider, None);
        let observer = Arc::new(RecordingObserver::default());
        client.add_observer(observer.clone());

        let url = client.begin_login().await.unwrap();
        assert_eq!(client.state(), SessionState::LoginPending);
        assert!(storage.load(PENDING_KEY).unwrap().is_some());
        client.cancel_login().unwrap();
        assert_eq!(client.state(), SessionState::SignedOut);
        assert!(storage.load(PENDING_KEY).unwrap().is_none());
        // Cancelling again changes nothing and says nothing.
        client.cancel_login().unwrap();
        assert_eq!(
            observer.events(),
            vec![SessionEvent::LoginStarted, SessionEvent::LoginCancelled]
        );

        // The cancelled login's callback cannot be redeemed.
        let state = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(n, _)| n == "state")
            .unwrap()
            .1
            .into_owned();
        let callback = format!("myapp://callback?code=c&state={state}");
        let e = client.handle_redirect(&callback).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoPendingLogin);
        assert_eq!(provider.count("POST /token"), 0);
    }

    #[tokio::test]
    async fn cancelling_leaves_a_signed_in_session_alone() {
        let provider = ScriptedProvider::new();
        let tokens = crate::test_support::session_tokens(&provider, "u1");
        let (client, _) = client_with_session(&provider, Some(&tokens));
        client.begin_login().await.unwrap();
        client.cancel_login().unwrap();
        assert_eq!(client.state(), SessionState::SignedIn);
        assert_eq!(client.tokens(), Some(tokens));
    }
}
