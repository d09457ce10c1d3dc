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
    /// How to open the authorization URL.
    pub browser: BrowserCommand,
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
    let listener = LoopbackListener::bind().await.map_err(|e| {
        Failure::new(
            "Loopback",
            format!("cannot listen on 127.0.0.1 for the browser's redirect: {e}"),
        )
    })?;
    let redirect_uri = listener.redirect_uri();
    log::debug!("loopback listener ready; redirect URI {redirect_uri}");
    let config = commands::config_builder(
        &opts.issuer,
        &opts.client_id,
        &redirect_uri,
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
    let before: Vec<String> = client
        .accounts()
        .into_iter()
        .map(|a| a.claims.subject)
        .collect();
    let hint = LoginHint {
        login_hint: opts.login_hint.clone(),
        ..LoginHint::default()
    };
    let authorization_url = client.begin_login_with(&hint).await?;
    opts.browser.open(&authorization_url).map_err(|e| {
        Failure::new(
            "Browser",
            format!(
                "cannot start `{}`: {e}; choose the program with --browser CMD",
                opts.browser.program()
            ),
        )
    })?;
    log::debug!("browser started: {}", opts.browser.program());
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
    let outcome = match client.handle_redirect(callback.url()).await {
        Ok(claims) => match storage.existing() {
            Ok(Some(files)) => {
                let now: Vec<String> = client
                    .accounts()
                    .into_iter()
                    .map(|a| a.claims.subject)
                    .collect();
                let dpop_jkt = client
                    .tokens()
                    .and_then(|t| t.dpop_key_thumbprint().map(str::to_owned));
                match (&new_key, &dpop_jkt) {
                    (Some(key), Some(_)) => dpop_key::save(&files, key),
                    _ => Ok(()),
                }
                .map(|()| SignedIn {
                    claims,
                    store_dir: files.dir().to_path_buf(),
                    replaced: before.into_iter().filter(|s| !now.contains(s)).collect(),
                    dpop_jkt,
                })
            }
            Ok(None) => Err(Failure::new("Store", "the session was not stored")),
            Err(e) => Err(Failure::from(keyfob::Error::from(e))),
        },
        Err(e) => Err(Failure::from(e)),
    };
    let page = match &outcome {
        Ok(signed_in) => {
            Page::success(format!("Signed in as {}.", display_user(&signed_in.claims)))
        }
        Err(failure) => Page::failure("Sign-in failed", failure.to_string()),
    };
    callback.respond(&page).await;
    outcome
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
