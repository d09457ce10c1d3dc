//! `keyfob login`: the RFC 8252 native-app sign-in, from a terminal.
//!
//! 1. A [`LoopbackListener`] is bound on `127.0.0.1` with an ephemeral port; the redirect URI is
//!    `http://127.0.0.1:PORT/callback`.
//! 2. A [`keyfob::Client`] on a [`StagedStorage`] in memory starts the login (discovery, JWKS,
//!    PKCE S256, `state`, `nonce`): the pending login never touches the disk.
//! 3. The authorization URL goes to the system browser or `--browser CMD`.
//! 4. The first request to `/callback` is handed to [`keyfob::Client::handle_redirect`] (all the
//!    core's checks: exact redirect, `state`, `iss`, code exchange, ID token).
//! 5. Only then is the session copied into the file store; the browser gets a page saying how
//!    it went, and the terminal who signed in.
//! 6. A session that the store held before for another user is signed out at the provider: its
//!    refresh token is revoked (RFC 7009), so switching users leaves no live grant behind. A
//!    failed revocation is a warning. The same user's previous session is not revoked: some
//!    providers (Google, for one) revoke the whole grant of a user and client, which would end
//!    the new session too.
//!
//! Any failure leaves no new file anywhere, and the previous session as it was.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyfob::{Client, Config, IdTokenClaims, ReqwestTransport};

use crate::browser::BrowserCommand;
use crate::commands;
use crate::failure::Failure;
use crate::loopback::{LoopbackListener, Page};
use crate::store::{self, Detached, StagedStorage};

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
}

/// Who signed in, and where the session is kept.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The validated ID token claims.
    pub claims: IdTokenClaims,
    /// The directory of the session's store.
    pub store_dir: PathBuf,
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
    let config = commands::config(&opts.issuer, &opts.client_id, &redirect_uri, &opts.scopes)?;
    let transport = commands::transport()?;
    let staged = Arc::new(StagedStorage::new());
    let client = Client::new(config.clone(), transport.clone()).with_storage(staged.clone());

    let authorization_url = client.begin_login().await?;
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
    // Another user's session the store held before, signed out once the new one is stored.
    let mut previous = None;
    let outcome = match client.handle_redirect(callback.url()).await {
        Ok(claims) => {
            // Read before the new session overwrites it.
            previous = previous_session(opts, config, transport, &claims);
            store::persist(&opts.store_root, &opts.issuer, &opts.client_id, &staged).map(
                |storage| SignedIn {
                    claims,
                    store_dir: storage.dir().to_path_buf(),
                },
            )
        }
        Err(e) => Err(Failure::from(e)),
    };
    let page = match &outcome {
        Ok(signed_in) => {
            Page::success(format!("Signed in as {}.", display_user(&signed_in.claims)))
        }
        Err(failure) => Page::failure("Sign-in failed", failure.to_string()),
    };
    callback.respond(&page).await;
    let signed_in = outcome?;
    if let Some(previous) = previous {
        revoke_previous(&previous).await;
    }
    Ok(signed_in)
}

/// The session the store held before this login, if it is another user's than `signed_in`'s,
/// loaded into a client whose store reads the files but never writes them. `None` when there
/// was none, it could not be read, or it is the same user's (see the module comment, step 6).
fn previous_session(
    opts: &LoginOptions,
    config: Config,
    transport: Arc<ReqwestTransport>,
    signed_in: &IdTokenClaims,
) -> Option<Client> {
    let files = store::open_existing(&opts.store_root, &opts.issuer, &opts.client_id).ok()??;
    let client = Client::new(config, transport).with_storage(Arc::new(Detached::new(files)));
    if let Err(e) = client.restore() {
        log::debug!("the previous session could not be read, so not revoked: {e}");
    }
    let previous = client.claims()?;
    if previous.subject == signed_in.subject {
        log::info!("the previous session was the same user's: not revoked");
        return None;
    }
    Some(client)
}

/// Signs the previous session out at the provider (revokes its refresh token); warns on failure.
async fn revoke_previous(previous: &Client) {
    match previous.logout().await {
        Ok(logout) if logout.refresh_token_revoked => {
            eprintln!("The previous user's refresh token was revoked.")
        }
        Ok(logout) => match logout.revocation_error {
            Some(e) => eprintln!(
                "warning: the previous user's refresh token could not be revoked: {}",
                e.message()
            ),
            None => eprintln!(
                "note: the previous user's refresh token was not revoked (the provider offers no \
                 revocation, or there was none); it stays valid until it expires"
            ),
        },
        Err(e) => eprintln!(
            "warning: the previous session could not be signed out: {}",
            e.message()
        ),
    }
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
