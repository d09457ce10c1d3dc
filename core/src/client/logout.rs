//! Sign-out: [`Client::logout`] and its outcome, [`Logout`].

use super::Client;
use crate::error::{Error, Result};
use crate::oidc::token;
use crate::secret::SecretString;
use crate::session::{SessionEvent, Tokens};

impl Client {
    /// Signs out of the active account: forgets its session (memory and storage, for every
    /// process sharing the store), revokes its refresh token (RFC 7009) when the provider offers
    /// revocation, and builds the end-session URL (RP-initiated logout) for the app to open when
    /// the provider offers one. Other accounts stay signed in; none is active afterwards. The
    /// account is also signed out of the servers it exchanged tokens with
    /// ([`Client::exchange`]).
    ///
    /// The local session is cleared even when revocation fails; the failure is reported in
    /// [`Logout::revocation_error`]. A storage failure is returned as an error (the session
    /// might otherwise come back at the next launch). A refresh in flight is discarded (and its
    /// new refresh token revoked).
    pub async fn logout(&self) -> Result<Logout> {
        self.logout_of(None).await
    }

    /// [`Client::logout`] for the account of user `subject`, active or not; the other accounts
    /// stay signed in. Signing out of an account that is not signed in succeeds and does
    /// nothing.
    pub async fn logout_account(&self, subject: &str) -> Result<Logout> {
        self.logout_of(Some(subject)).await
    }

    pub(crate) async fn logout_of(&self, subject: Option<&str>) -> Result<Logout> {
        let (tokens, deleted) = self.store.sign_out(subject);
        self.notify_absorbed();
        let Some(tokens) = tokens else {
            deleted?;
            return Ok(Logout::default());
        };
        self.notify(SessionEvent::SignedOut);
        self.forget_exchanged(&tokens.claims.subject).await;
        let mut outcome = Logout::default();
        match self.provider_metadata().await {
            Ok(provider) => {
                if let Some(endpoint) = &provider.revocation_endpoint {
                    let (token, hint) = match &tokens.refresh_token {
                        Some(rt) => (rt, "refresh_token"),
                        None => (&tokens.access_token, "access_token"),
                    };
                    // With a proof when the grant is DPoP-bound and its key is still there.
                    let proof = self.proof_now(self.session_key(&tokens).ok().flatten());
                    match token::revoke(
                        &self.http,
                        endpoint,
                        &self.config.client_id,
                        token,
                        hint,
                        proof,
                    )
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
