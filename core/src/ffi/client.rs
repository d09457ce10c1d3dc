//! `KeyfobClient`: the exported client object.

use std::sync::{Arc, Weak};

use super::adapters::{
    ForeignObserver, ForeignStorage, ForeignTransport, KeyfobHttpTransport, KeyfobSessionObserver,
    KeyfobStorage, secs,
};
use super::background::{ForeignExecutor, KeyfobExecutor};
use super::cached_token;
use super::cancellation::{KeyfobCancellation, cancellable};
use super::dpop::{ForeignDpopKey, KeyfobDpopKey, headers};
use super::error::KeyfobError;
use super::records::{
    HttpHeader, KeyfobAccount, KeyfobClaims, KeyfobConfig, KeyfobLoginOptions, KeyfobTokens,
    LogoutResult,
};
use crate::client::Client;
use crate::config::Config;
use crate::http::json_text;
use crate::oidc::authorize::LoginOptions;
use crate::session::SessionState;

type Result<T> = std::result::Result<T, KeyfobError>;

/// An OpenID Connect client for one provider and one app. Create one per app and share it.
///
/// Persistence guarantees are those of [`crate::Client`]: the pending login is stored before
/// `beginLogin` returns, new tokens before they are returned, a rotated refresh token is never
/// dropped, and `invalid_grant` on refresh clears the session (`NeedsReLogin`).
#[derive(uniffi::Object)]
pub struct KeyfobClient {
    pub(super) inner: Arc<Client>,
    /// This client's id for [`cached_token::keyfob_cached_access_token`].
    token_handle: u64,
}

impl KeyfobClient {
    /// Wraps `inner`, with refresh-ahead on `executor` when there is one, and registers it for
    /// the C accessor (until it is dropped).
    fn wrap(inner: Client, executor: Option<Arc<dyn KeyfobExecutor>>) -> Arc<Self> {
        let inner = match executor {
            Some(executor) => inner.with_background_refresh(Arc::new(ForeignExecutor(executor))),
            None => Arc::new(inner),
        };
        let token_handle = cached_token::register(Arc::downgrade(&inner));
        Arc::new(KeyfobClient {
            inner,
            token_handle,
        })
    }
}

impl Drop for KeyfobClient {
    fn drop(&mut self) {
        cached_token::unregister(self.token_handle);
    }
}

#[uniffi::export]
impl KeyfobClient {
    /// A client for `config`, sending HTTP through `transport`. `storage` keeps the session
    /// across launches; without one the session lives in memory only. With `dpop_key`, sessions
    /// are bound to that key (DPoP) when the provider supports it. `executor` runs the refresh
    /// ahead of an access token's expiry off the callers' path (see [`KeyfobExecutor`]).
    #[uniffi::constructor(default(dpop_key = None, executor = None))]
    pub fn new(
        config: KeyfobConfig,
        transport: Arc<dyn KeyfobHttpTransport>,
        storage: Option<Arc<dyn KeyfobStorage>>,
        dpop_key: Option<Arc<dyn KeyfobDpopKey>>,
        executor: Option<Arc<dyn KeyfobExecutor>>,
    ) -> Result<Arc<Self>> {
        let mut client = Client::new(core_config(config)?, Arc::new(ForeignTransport(transport)));
        if let Some(storage) = storage {
            client = client.with_storage(Arc::new(ForeignStorage(storage)));
        }
        Ok(KeyfobClient::wrap(
            with_dpop_key(client, dpop_key),
            executor,
        ))
    }

    /// Starts a login: returns the authorization URL to open in the system browser
    /// (ASWebAuthenticationSession, Custom Tabs). Prefetches discovery and keys. `cancellation`
    /// stops it (nothing is stored until its last step).
    #[uniffi::method(default(cancellation = None))]
    pub async fn begin_login(
        &self,
        options: Option<KeyfobLoginOptions>,
        cancellation: Option<Arc<KeyfobCancellation>>,
    ) -> Result<String> {
        let options = options.map(LoginOptions::from).unwrap_or_default();
        cancellable(cancellation, async {
            Ok(self.inner.begin_login_with(&options).await?)
        })
        .await
    }

    /// Gives up the pending login (the user closed the browser): its callback can no longer be
    /// redeemed, the state leaves `LoginPending`, observers hear `LoginCancelled`.
    pub fn cancel_login(&self) -> Result<()> {
        Ok(self.inner.cancel_login()?)
    }

    /// Completes the login with the redirect URL the app received.
    pub async fn handle_redirect(&self, url: String) -> Result<KeyfobClaims> {
        Ok(self.inner.handle_redirect(&url).await?.into())
    }

    /// A valid access token that lasts at least `min_ttl_secs` (`0`: not expired), of the
    /// active account or of the account of user `account` (the ID token's `sub`; `NotSignedIn`
    /// when no such account is signed in), for the API `resource` when given (an RFC 8707
    /// resource indicator: a token whose audience is that API alone, `Provider`
    /// `invalid_target` when the grant does not cover it). One due for a refresh but lasting
    /// that long is returned at once while one refresh runs on the executor (the session's own
    /// token only; an API's is refreshed first); otherwise it is refreshed first (concurrent
    /// callers share one refresh). A `min_ttl_secs` the provider's tokens cannot last is
    /// `MinTtlExceedsLifetime`. Treat it as a secret.
    /// (One export for the three, not one each: every async export costs the mobile library
    /// several KB.)
    #[uniffi::method(default(min_ttl_secs = 0, account = None, resource = None))]
    pub async fn access_token(
        &self,
        min_ttl_secs: u32,
        account: Option<String>,
        resource: Option<String>,
    ) -> Result<String> {
        let token = self
            .inner
            .access_token_of(account.as_deref(), resource.as_deref(), min_ttl_secs.into())
            .await?;
        Ok(token.expose().to_string())
    }

    /// The access token from memory when it is not due for a refresh; no I/O.
    pub fn cached_access_token(&self) -> Option<String> {
        self.inner
            .cached_access_token()
            .map(|t| t.expose().to_string())
    }

    /// This client's handle for `keyfob_cached_access_token`, a plain C function that copies the
    /// same token as `cached_access_token` into a caller's buffer, without uniffi's call overhead
    /// (the Kotlin layer's synchronous accessor uses it). The handle is not a pointer: once this
    /// client is freed the function reports it closed, and the number is never reused.
    /// (`Result` only so that a panic reaches the caller as an error, never as a crash.)
    pub fn token_handle(&self) -> Result<u64> {
        Ok(self.token_handle)
    }

    /// What to put on a request to the app's API with the active account's access token
    /// (refreshed when needed): `Authorization: Bearer …`, or for a DPoP-bound session
    /// `Authorization: DPoP …` and a `DPoP` proof for exactly `method` and `url`. Secrets:
    /// never log them. Hand the answer to `resource_response`; when it returns `true`, ask for
    /// the headers again and send the request once more.
    pub async fn authorization_headers(
        &self,
        method: String,
        url: String,
    ) -> Result<Vec<HttpHeader>> {
        let h = self.inner.authorization_headers(&method, &url).await?;
        Ok(headers(&h))
    }

    /// Reads the answer to a request made with `authorization_headers`: keeps the server's new
    /// DPoP nonce and returns `true` when the server asked for it (`401` with
    /// `WWW-Authenticate: DPoP error="use_dpop_nonce"`): then send the request once more, with
    /// new headers. Never `true` twice in a row for the same nonce.
    /// (`Result` only so that a panic reaches the caller as an error, never as a crash.)
    pub fn resource_response(
        &self,
        url: String,
        status: u16,
        headers: Vec<HttpHeader>,
    ) -> Result<bool> {
        let headers: Vec<(String, String)> =
            headers.into_iter().map(|h| (h.name, h.value)).collect();
        Ok(self.inner.resource_response(&url, status, &headers))
    }

    /// Refreshes now with the refresh token, of the active account or of the account of user
    /// `account`.
    #[uniffi::method(default(account = None))]
    pub async fn refresh(&self, account: Option<String>) -> Result<()> {
        self.inner.refresh_of(account.as_deref()).await?;
        Ok(())
    }

    /// Signs out of the active account, or of the account of user `account` (the other
    /// accounts stay signed in): clears its session, revokes its refresh token, returns the
    /// end-session URL.
    #[uniffi::method(default(account = None))]
    pub async fn logout(&self, account: Option<String>) -> Result<LogoutResult> {
        Ok(self.inner.logout_of(account.as_deref()).await?.into())
    }

    /// Every signed-in account, the active one marked (one account unless the configuration
    /// allows several). Reads storage on first use: call it off the main thread.
    pub fn accounts(&self) -> Result<Vec<KeyfobAccount>> {
        Ok(self.inner.accounts().into_iter().map(Into::into).collect())
    }

    /// Makes the account of user `subject` the active one, in every process sharing the
    /// storage. `NotSignedIn` when no such account is signed in.
    pub fn switch_account(&self, subject: String) -> Result<()> {
        Ok(self.inner.switch_account(&subject)?)
    }

    /// Reads the stored session again (no network) and returns the state: what other processes
    /// sharing the storage changed is taken in and observers hear about it. Call it when the app
    /// comes back to the foreground. Reads storage: call it off the main thread.
    pub fn reload(&self) -> Result<SessionState> {
        Ok(self.inner.reload()?)
    }

    /// The UserInfo claims as a JSON object string (its `sub` was checked). `cancellation`
    /// stops it.
    #[uniffi::method(default(cancellation = None))]
    pub async fn userinfo(&self, cancellation: Option<Arc<KeyfobCancellation>>) -> Result<String> {
        cancellable(cancellation, async {
            Ok(json_text(&serde_json::Value::Object(
                self.inner.userinfo().await?,
            )))
        })
        .await
    }

    /// The signed-in session's tokens (raw ID token, expiry, scopes), or `None` when signed
    /// out. Reads storage on first use: call it off the main thread.
    /// (`Result` only so that a panic reaches the caller as an error, never as a crash.)
    pub fn tokens(&self) -> Result<Option<KeyfobTokens>> {
        Ok(self.inner.tokens().map(Into::into))
    }

    /// The signed-in user's validated ID token claims.
    /// (`Result` only so that a panic reaches the caller as an error, never as a crash.)
    pub fn claims(&self) -> Result<Option<KeyfobClaims>> {
        Ok(self.inner.claims().map(Into::into))
    }

    /// The session state (reads storage on first use; never network).
    /// (`Result` only so that a panic reaches the caller as an error, never as a crash.)
    pub fn state(&self) -> Result<SessionState> {
        Ok(self.inner.state())
    }

    /// Reads the stored session now and returns the state (storage errors are reported).
    pub fn restore(&self) -> Result<SessionState> {
        Ok(self.inner.restore()?)
    }

    /// Registers an observer of session events.
    /// (`Result` only so that a panic reaches the caller as an error, never as a crash.)
    pub fn add_observer(self: Arc<Self>, observer: Arc<dyn KeyfobSessionObserver>) -> Result<()> {
        let weak: Weak<KeyfobClient> = Arc::downgrade(&self);
        let state = Box::new(move || {
            weak.upgrade()
                .map_or(SessionState::SignedOut, |c| c.inner.state())
        });
        self.inner
            .add_observer(Arc::new(ForeignObserver { observer, state }));
        Ok(())
    }
}

/// `client`, bound to the platform's DPoP key when there is one.
fn with_dpop_key(client: Client, key: Option<Arc<dyn KeyfobDpopKey>>) -> Client {
    match key {
        Some(key) => client.with_dpop_key(Arc::new(ForeignDpopKey(key))),
        None => client,
    }
}

/// The core configuration for `config` (validated).
fn core_config(config: KeyfobConfig) -> Result<Config> {
    let mut builder = Config::builder(config.issuer, config.client_id, config.redirect_uri)
        .scopes(config.scopes)
        .http_timeout(secs(config.http_timeout_secs))
        .clock_skew(secs(config.clock_skew_secs))
        .refresh_margin(secs(config.refresh_margin_secs))
        .refresh_ahead(config.refresh_ahead)
        .multiple_accounts(config.multiple_accounts)
        .metadata_max_age(secs(config.metadata_max_age_secs))
        .metadata_min_age(secs(config.metadata_min_age_secs))
        .pushed_authorization_requests(config.pushed_authorization_requests);
    if let Some(uri) = config.post_logout_redirect_uri {
        builder = builder.post_logout_redirect_uri(uri);
    }
    for host in config.allow_insecure_http_hosts {
        builder = builder.allow_insecure_http_host(host);
    }
    for p in config.extra_params {
        builder = builder.extra_param(p.name, p.value);
    }
    for resource in config.resources {
        builder = builder.resource(resource);
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_ffi_configuration_has_the_core_defaults() {
        let (issuer, client_id, redirect_uri) = ("https://id.example", "app", "myapp://callback");
        assert_eq!(
            core_config(KeyfobConfig::new(issuer, client_id, redirect_uri)).unwrap(),
            Config::builder(issuer, client_id, redirect_uri)
                .build()
                .unwrap()
        );
    }
}
