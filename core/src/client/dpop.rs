//! Sender-constrained sessions (DPoP, RFC 9449) and the headers of the app's own API calls.
//!
//! A client given a [`DpopKey`] binds the sessions it signs in to that key when the provider
//! advertises DPoP (ES256): `dpop_jkt` on the authorization request, a proof on every request
//! to the token and revocation endpoints, and `Authorization: DPoP` plus a proof on every
//! resource request. The session keeps the key's thumbprint; a session whose key is gone, or
//! was replaced, cannot be used any more and must be signed in again
//! ([`crate::StorageErrorKind::KeyInvalidated`]).
//!
//! [`Client::authorization_headers`] gives an app what to put on a request to its APIs, Bearer
//! or DPoP alike, so that app code does not branch; [`Client::resource_response`] reads the
//! answer for a server's DPoP nonce and says when to send the request once more.

use std::sync::Arc;

use url::Url;

use super::Client;
use crate::error::{Error, Result};
use crate::http::url_policy::require_secure_url;
use crate::http::{HttpMethod, HttpResponse, parse_url};
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::dpop::{
    self, Dpop, DpopKey, ProofTarget, ProvenRequest, ServerRole, asks_for_nonce, is_key_lost,
    is_method, key_lost,
};
use crate::oidc::token::Proof;
use crate::secret::SecretString;
use crate::session::live::Ended;
use crate::session::{SessionEvent, Tokens};

/// What an app puts on a request to its API: `Authorization` (`Bearer …` or `DPoP …`) and, for a
/// DPoP-bound session, the `DPoP` proof made for exactly that method and URL. Both are secrets:
/// never log them. Build them again for every request (a proof is single-use).
#[derive(Clone)]
pub struct AuthorizationHeaders {
    /// The value of the `Authorization` header.
    pub authorization: SecretString,
    /// The value of the `DPoP` header, for a DPoP-bound session.
    pub dpop: Option<SecretString>,
}

impl AuthorizationHeaders {
    /// The headers as name/value pairs, ready for any HTTP client.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut pairs = vec![("Authorization", self.authorization.expose())];
        if let Some(proof) = &self.dpop {
            pairs.push(("DPoP", proof.expose()));
        }
        pairs
    }
}

impl std::fmt::Debug for AuthorizationHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationHeaders")
            .field("dpop", &self.dpop.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Binds the sessions this client signs in to `key` (DPoP, RFC 9449) whenever the provider
    /// advertises DPoP with ES256; with other providers sessions stay Bearer. The key stays
    /// where the platform keeps it (Secure Enclave, StrongBox): Keyfob asks it to sign proofs.
    /// At sign-in the key holder must have a key (creating one if needed); a session bound to a
    /// key that is later gone or replaced must be signed in again.
    pub fn with_dpop_key(mut self, key: Arc<dyn DpopKey>) -> Self {
        self.dpop = Some(Dpop::new(key));
        self
    }

    /// The DPoP key a new sign-in binds to at `provider`, if any.
    pub(super) fn dpop_for_login(&self, provider: &ProviderMetadata) -> Option<&Dpop> {
        let dpop = self.dpop.as_ref()?;
        if provider.supports_dpop() {
            Some(dpop)
        } else {
            log::info!("the provider does not advertise DPoP with ES256: signing in with Bearer");
            None
        }
    }

    /// The key a DPoP-bound session proves possession with (`None` for Bearer): the client's,
    /// when its thumbprint is the session's. A key that is gone or another key is `KeyInvalidated`.
    pub(super) fn session_key(&self, tokens: &Tokens) -> Result<Option<&Dpop>> {
        let Some(bound) = &tokens.dpop_jkt else {
            return Ok(None);
        };
        let dpop = self
            .dpop
            .as_ref()
            .ok_or_else(|| key_lost("this client has no DPoP key"))?;
        if dpop.thumbprint()? != *bound {
            return Err(key_lost("the key holder has another key now"));
        }
        Ok(Some(dpop))
    }

    /// A proof context for the token or revocation endpoint, made now.
    pub(super) fn proof_now<'a>(&self, dpop: Option<&'a Dpop>) -> Option<Proof<'a>> {
        dpop.map(|dpop| Proof {
            dpop,
            now: self.provider_now(),
        })
    }

    /// After [`Client::session_key`] failed: a key that is gone for good ends the account (it
    /// can never be used again; observers hear `NeedsReLogin`). Returns the error to report.
    pub(super) fn end_if_key_lost(
        &self,
        subject: &str,
        revision: u64,
        error: Error,
        events: &mut Vec<SessionEvent>,
    ) -> Error {
        if !is_key_lost(&error) {
            return error;
        }
        log::warn!("{error}");
        match self.store.end_account(subject, revision) {
            Ok(Ended::Removed) => events.push(SessionEvent::NeedsReLogin),
            Ok(_) => {}
            Err(e) => log::warn!("could not end the session whose DPoP key is gone: {e}"),
        }
        error
    }

    /// [`Client::end_if_key_lost`] for a call outside a session operation: observers hear what
    /// it did at once. Returns the error to report.
    fn end_on_lost_key(&self, subject: &str, revision: u64, error: Error) -> Error {
        let mut events = Vec::new();
        let error = self.end_if_key_lost(subject, revision, error, &mut events);
        self.notify_absorbed();
        for event in events {
            self.notify(event);
        }
        error
    }

    /// What to put on a request to an API with the active account's access token (refreshed
    /// first when it expires within the refresh margin): `Authorization: Bearer …`, or for a
    /// DPoP-bound session `Authorization: DPoP …` and a `DPoP` proof for `method` and `url`
    /// (with the latest nonce that server gave). `url` must be HTTPS (or loopback).
    ///
    /// Send the request, then hand the answer to [`Client::resource_response`]: when it says so,
    /// build the headers again and send the request once more.
    pub async fn authorization_headers(
        &self,
        method: &str,
        url: &str,
    ) -> Result<AuthorizationHeaders> {
        self.authorization_headers_of(None, method, url).await
    }

    /// [`Client::authorization_headers`] with the access token of user `subject`'s account.
    pub async fn authorization_headers_for_account(
        &self,
        subject: &str,
        method: &str,
        url: &str,
    ) -> Result<AuthorizationHeaders> {
        self.authorization_headers_of(Some(subject), method, url)
            .await
    }

    async fn authorization_headers_of(
        &self,
        subject: Option<&str>,
        method: &str,
        url: &str,
    ) -> Result<AuthorizationHeaders> {
        let url = self.resource_url(url)?;
        if !is_method(method) {
            return Err(Error::config(
                "authorization_headers: the HTTP method is not a method name",
            ));
        }
        match subject {
            Some(s) => self.access_token_for_account(s).await?,
            None => self.access_token().await?,
        };
        // The token as the session has it now (the call above made it fresh).
        let (account, tokens, revision) = self.store.account(subject)?;
        let dpop = match self.session_key(&tokens) {
            Ok(dpop) => dpop,
            Err(e) => return Err(self.end_on_lost_key(&account, revision, e)),
        };
        let token = &tokens.access_token;
        let Some(dpop) = dpop else {
            return Ok(AuthorizationHeaders {
                authorization: SecretString::new(format!("Bearer {}", token.expose())),
                dpop: None,
            });
        };
        let proof = dpop.proof(&ProofTarget {
            method,
            url: &url,
            access_token: Some(token),
            now: self.provider_now(),
        })?;
        Ok(AuthorizationHeaders {
            authorization: SecretString::new(format!("DPoP {}", token.expose())),
            dpop: Some(proof),
        })
    }

    /// Reads an API's answer to a request made with [`Client::authorization_headers`]: keeps the
    /// server's DPoP nonce, if it sent a valid one, and returns `true` when the server refused
    /// the proof for want of a nonce (`401`, `WWW-Authenticate: DPoP error="use_dpop_nonce"`)
    /// and gave one, and the active session is DPoP-bound (never for a Bearer session). Then
    /// build the headers again and send the request once more.
    ///
    /// `true` again for the retried request's answer when the server asks again: the caller
    /// bounds the retry to once (a second refusal is the answer). Requests sent at the same time
    /// may all be refused for the same new nonce; each of them retries once.
    pub fn resource_response(&self, url: &str, status: u16, headers: &[(String, String)]) -> bool {
        let (Some(dpop), Ok(url)) = (&self.dpop, parse_url(url)) else {
            return false;
        };
        let nonce = dpop.remember_nonce(&url, headers);
        let response = HttpResponse {
            status,
            headers: headers.to_vec(),
            body: Vec::new(),
        };
        let bound = self
            .store
            .tokens()
            .is_some_and(|tokens| tokens.dpop_jkt.is_some());
        nonce.is_some() && bound && asks_for_nonce(ServerRole::Resource, &response)
    }

    /// `url` if it may carry a token: HTTPS, or plain HTTP to loopback (and hosts the app
    /// allowed for development).
    fn resource_url(&self, url: &str) -> Result<Url> {
        let parsed = parse_url(url)
            .map_err(|_| Error::config("authorization_headers: the URL does not parse"))?;
        require_secure_url(
            &parsed,
            "a URL that gets the access token",
            &self.config.insecure_http_hosts,
        )?;
        Ok(parsed)
    }

    /// Sends a request authorized with the active account's access token to a resource the
    /// provider serves (UserInfo): Bearer, or DPoP with a proof and one retry with the
    /// server's nonce.
    pub(super) async fn send_authorized(
        &self,
        url: &Url,
        headers: Vec<(String, String)>,
        what: &str,
    ) -> Result<HttpResponse> {
        self.access_token().await?;
        // The token as the session has it now (the call above made it fresh).
        let (account, tokens, revision) = self.store.account(None)?;
        let key = match self.session_key(&tokens) {
            Ok(key) => key,
            Err(e) => return Err(self.end_on_lost_key(&account, revision, e)),
        };
        match key {
            None => {
                let mut headers = headers;
                headers.push((
                    "authorization".to_string(),
                    format!("Bearer {}", tokens.access_token.expose()),
                ));
                self.http
                    .send(HttpMethod::Get, url, headers, Vec::new(), what)
                    .await
            }
            Some(dpop) => {
                let request = ProvenRequest {
                    method: HttpMethod::Get,
                    url,
                    headers,
                    body: Vec::new(),
                    access_token: Some(&tokens.access_token),
                    now: self.provider_now(),
                    role: ServerRole::Resource,
                    what,
                };
                dpop::send(&self.http, dpop, request).await
            }
        }
    }
}
