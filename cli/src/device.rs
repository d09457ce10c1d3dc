//! `keyfob login --device`: the device authorization grant (RFC 8628), for a terminal where no
//! browser can come back to a loopback listener (a machine reached over SSH, a container).
//!
//! The verification URI and the user code go to stderr (stdout stays for the outcome, as with
//! `keyfob login`), and to `--browser CMD` as the complete URI when given; the command then
//! polls at the provider's interval until the user approved on another device, declined, the
//! codes expired or `--timeout` passed. The session is stored as `keyfob login` stores it:
//! nothing is written before the sign-in succeeded.

use crate::commands::RESTORED_REDIRECT_URI;
use crate::failure::Failure;
use crate::login::{self, LoginOptions, LoginSession, SignedIn};

/// Runs the device login. Progress goes to stderr; the caller prints the outcome.
pub async fn run(opts: &LoginOptions) -> Result<SignedIn, Failure> {
    // No redirect comes back to this client: any registered redirect URI will do.
    let login = LoginSession::start(opts, RESTORED_REDIRECT_URI)?;
    let device = login.client.begin_device_login().await?;
    eprintln!(
        "To sign in to {}, open {} on a phone or computer and enter the code {}",
        opts.issuer,
        device.verification_uri(),
        device.user_code()
    );
    if let Some(complete) = device.verification_uri_complete() {
        eprintln!("or open {complete}");
    }
    if let Some(browser) = &opts.browser {
        let page = device
            .verification_uri_complete()
            .unwrap_or(device.verification_uri());
        login::open(browser, page)?;
    }
    eprintln!(
        "Waiting for the approval ({} s, Ctrl-C to cancel)…",
        opts.timeout.as_secs()
    );
    let approved = tokio::time::timeout(opts.timeout, login.client.complete_device_login())
        .await
        .map_err(|_| {
            Failure::new(
                "Timeout",
                format!(
                    "the device login was not approved within {} s",
                    opts.timeout.as_secs()
                ),
            )
        })?;
    login.finish(approved)
}
