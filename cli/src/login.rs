//! `keyfob login`: the RFC 8252 native-app sign-in, from a terminal.
//!
//! 1. A [`LoopbackListener`] is bound on `127.0.0.1` with an ephemeral port; the redirect URI is
//!    `http://127.0.0.1:PORT/callback`.
//! 2. A [`keyfob::Client`] on a [`LoginStorage`] starts the login (discovery, JWKS, PKCE S256,
//!    `state`, `nonce`): the pending login stays in memory and never touches the disk.
//! 3. The authorization URL goes to the system browser or `--browser CMD`.
//! 4. The first request to `/callback` is handed to [`keyfob::Client::handle_redirect`] (all the
//!    core's checks: exact redirect, `state`, `iss`, code exchange, ID token).
//!    With `--dpop` the client holds the store's DPoP key (a new one if there is none), and the
//!    tokens are bound to it when the provider supports DPoP; a new key is stored with them.
//! 5. Only then is the session written to the file store (created at that moment), as one more
//!    account beside those it holds — or, with `--single-account`, replacing them: the core then
//!    revokes another user's refresh token (RFC 7009), so switching users leaves no live grant
//!    behind. The same user's previous session is replaced and not revoked: some providers
//!    (Google, for one) revoke the whole grant of a user and client, which would end the new
//!    session too. The browser gets a page saying how it went, and the terminal who signed in.
//!
//! Any failure leaves no new file anywhere, and the previous sessions as they were.
//!
//! With `--max-age`, `--acr-values` (and `--require-acr`) the login is a step-up: the core
//! checks the ID token's `auth_time` and `acr` against them. With `--device` the login is a
//! device authorization grant instead ([`crate::device`]): no loopback listener and no local
//! browser, the user approves on another device.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyfob::{Client, IdTokenClaims, LoginOptions as LoginHint};

use crate::browser::BrowserCommand;
use crate::commands;
use crate::dpop_key;
use crate::failure::Failure;
use crate::loopback::{LoopbackListener, Page};
use crate::store::LoginStorage;

/// What `keyfob login` needs.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    /// The provider's issuer.
    pub issuer: String,
    /// The public client's id.
    pub client_id: String,
    /// Scopes to request besides `openid`.
    pub scopes: Vec<String>,
    /// How to open the authorization URL (the system browser when `None`); for a device login,
    /// what opens the complete verification URI, if anything.
    pub browser: Option<BrowserCommand>,
    /// The store root.
    pub store_root: PathBuf,
    /// How long to wait for the browser to come back.
    pub timeout: Duration,
    /// Keep only this user's session (the others are signed out), rather than adding an account.
    pub single_account: bool,
    /// `login_hint`: who is signing in, to prefill the provider's login page.
    pub login_hint: Option<String>,
    /// The timeout of each HTTP request.
    pub http_timeout: Duration,
    /// How long the provider's metadata is reused.
    pub metadata_ages: commands::MetadataAges,
    /// Bind the session to the store's DPoP key (made if there is none).
    pub dpop: bool,
    /// Push the authorization request when the provider offers it.
    pub par: bool,
    /// Step-up: `max_age` in seconds.
    pub max_age: Option<u64>,
    /// Step-up: `acr_values`.
    pub acr_values: Vec<String>,
    /// Step-up: the `acr` must be one of `acr_values`.
    pub require_acr: bool,
    /// Sign in with the device authorization grant (RFC 8628) instead of the browser.
    pub device: bool,
}

/// Who signed in, and where the session is kept.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The validated ID token claims.
    pub claims: IdTokenClaims,
    /// The directory of the session's store.
    pub store_dir: PathBuf,
    /// The other users' accounts this login signed out (`--single-account`).
    pub replaced: Vec<String>,
    /// The thumbprint of the DPoP key the tokens are bound to, if they are.
    pub dpop_jkt: Option<String>,
}

/// Runs the login. Progress goes to stderr; the caller prints the outcome.
pub async fn run(opts: &LoginOptions) -> Result<SignedIn, Failure> {
    if opts.device {
        return crate::device::run(opts).await;
    }
    let listener = LoopbackListener::bind().await.map_err(|e| {
        Failure::new(
            "Loopback",
            format!("cannot listen on 127.0.0.1 for the browser's redirect: {e}"),
        )
    })?;
    let redirect_uri = listener.redirect_uri();
    log::debug!("loopback listener ready; redirect URI {redirect_uri}");
    let login = LoginSession::start(opts, &redirect_uri)?;
    let hint = LoginHint {
        login_hint: opts.login_hint.clone(),
        max_age: opts.max_age,
        acr_values: opts.acr_values.clone(),
        require_acr: opts.require_acr,
        ..LoginHint::default()
    };
    let authorization_url = login.client.begin_login_with(&hint).await?;
    let browser = opts.browser.clone().unwrap_or_else(BrowserCommand::system);
    open(&browser, &authorization_url)?;
    eprintln!(
        "Sign in to {} in your browser; waiting for it on {redirect_uri} ({} s, Ctrl-C to cancel)…",
        opts.issuer,
        opts.timeout.as_secs()
    );

    let callback = listener
        .wait_for_callback(opts.timeout)
        .await
        .map_err(|_| {
            Failure::new(
                "Timeout",
                format!(
                    "the browser did not come back to {redirect_uri} within {} s",
                    opts.timeout.as_secs()
                ),
            )
        })?;
    log::debug!("callback received; completing the login");
    let outcome = login.finish(login.client.handle_redirect(callback.url()).await);
    let page = match &outcome {
        Ok(signed_in) => {
            Page::success(format!("Signed in as {}.", display_user(&signed_in.claims)))
        }
        Err(failure) => Page::failure("Sign-in failed", failure.to_string()),
    };
    callback.respond(&page).await;
    outcome
}

/// Starts `browser` with `url`.
pub fn open(browser: &BrowserCommand, url: &str) -> Result<(), Failure> {
    browser.open(url).map_err(|e| {
        Failure::new(
            "Browser",
            format!(
                "cannot start `{}`: {e}; choose the program with --browser CMD",
                browser.program()
            ),
        )
    })?;
    log::debug!("browser started: {}", browser.program());
    Ok(())
}

/// A login's client, on a [`LoginStorage`] (nothing is written before the login succeeds), and
/// the accounts signed in before it.
pub struct LoginSession {
    /// The client that signs in.
    pub client: Client,
    storage: Arc<LoginStorage>,
    before: Vec<String>,
    /// A DPoP key made for this login (`--dpop`), stored only if the tokens got bound to it.
    new_key: Option<Arc<keyfob::SoftwareDpopKey>>,
}

impl LoginSession {
    /// The client of a login for `opts`, with `redirect_uri`.
    pub fn start(opts: &LoginOptions, redirect_uri: &str) -> Result<LoginSession, Failure> {
        let config = commands::config_builder(
            &opts.issuer,
            &opts.client_id,
            redirect_uri,
            &opts.scopes,
            opts.http_timeout,
            opts.metadata_ages,
        )
        .multiple_accounts(!opts.single_account)
        .pushed_authorization_requests(opts.par)
        .build()
        .map_err(Failure::usage)?;
        let transport = commands::transport()?;
        let storage = Arc::new(LoginStorage::new(
            &opts.store_root,
            &opts.issuer,
            &opts.client_id,
        ));
        let mut client = Client::new(config, transport).with_storage(storage.clone());
        // The store's DPoP key, or a new one that is stored once a login bound tokens to it.
        let mut new_key = None;
        if opts.dpop {
            let (key, new) = dpop_key::load_or_generate(storage.as_ref())?;
            let key = Arc::new(key);
            client = client.with_dpop_key(key.clone());
            new_key = new.then_some(key);
        }
        let before = subjects(&client);
        Ok(LoginSession {
            client,
            storage,
            before,
            new_key,
        })
    }

    /// Who signed in, where the session is kept, and whom the login signed out — or why it
    /// failed.
    pub fn finish(&self, signed_in: keyfob::Result<IdTokenClaims>) -> Result<SignedIn, Failure> {
        let claims = signed_in?;
        match self.storage.existing() {
            Ok(Some(files)) => {
                let now = subjects(&self.client);
                let dpop_jkt = self
                    .client
                    .tokens()
                    .and_then(|t| t.dpop_key_thumbprint().map(str::to_owned));
                if let (Some(key), Some(_)) = (&self.new_key, &dpop_jkt) {
                    dpop_key::save(&files, key)?;
                }
                Ok(SignedIn {
                    claims,
                    store_dir: files.dir().to_path_buf(),
                    replaced: self
                        .before
                        .iter()
                        .filter(|s| !now.contains(s))
                        .cloned()
                        .collect(),
                    dpop_jkt,
                })
            }
            Ok(None) => Err(Failure::new("Store", "the session was not stored")),
            Err(e) => Err(Failure::from(keyfob::Error::from(e))),
        }
    }
}

/// The subjects of the accounts `client` holds.
fn subjects(client: &Client) -> Vec<String> {
    client
        .accounts()
        .into_iter()
        .map(|a| a.claims.subject)
        .collect()
}

/// `Ada Lovelace <ada@company.com> (sub user-123)`, with whatever of name and email is known.
pub fn display_user(claims: &IdTokenClaims) -> String {
    let name = claims
        .name
        .as_deref()
        .or(claims.preferred_username.as_deref());
    match (name, claims.email.as_deref()) {
        (Some(name), Some(email)) => format!("{name} <{email}> (sub {})", claims.subject),
        (Some(name), None) => format!("{name} (sub {})", claims.subject),
        (None, Some(email)) => format!("{email} (sub {})", claims.subject),
        (None, None) => format!("sub {}", claims.subject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(name: Option<&str>, email: Option<&str>) -> IdTokenClaims {
        IdTokenClaims {
            issuer: "https://a.example".into(),
            subject: "user-1".into(),
            audience: vec!["app".into()],
            authorized_party: None,
            expires_at: 0,
            issued_at: 0,
            auth_time: None,
            acr: None,
            email: email.map(str::to_owned),
            email_verified: None,
            name: name.map(str::to_owned),
            preferred_username: None,
            extra: serde_json::Map::new(),
        }
    }

    #[test]
    fn users_are_shown_with_what_is_known() {
        assert_eq!(
            display_user(&claims(Some("Ada"), Some("ada@x"))),
            "Ada <ada@x> (sub user-1)"
        );
        assert_eq!(display_user(&claims(Some("Ada"), None)), "Ada (sub user-1)");
        assert_eq!(
            display_user(&claims(None, Some("ada@x"))),
            "ada@x (sub user-1)"
        );
        assert_eq!(display_user(&claims(None, None)), "sub user-1");
    }
}
