//! Sign-in on a device without a browser (RFC 8628): [`Client::begin_device_login`] gets the
//! code to show, [`Client::complete_device_login`] polls until the user approved on another
//! device, then completes the sign-in like a browser login (ID token validated, session stored).

use std::time::Duration;

use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::oidc::device::{self, DeviceAuthorization, Poll, SLOW_DOWN_SECS};
use crate::oidc::id_token::IdTokenClaims;
use crate::sync::lock;

impl Client {
    /// Starts a device login: asks the provider's device authorization endpoint for a code
    /// (with the configured scopes and resources) and returns what to show the user — the
    /// user code and where to enter it, or the complete URI for a QR code. Replaces a device
    /// login under way. `Discovery` when the provider has no device authorization endpoint.
    pub async fn begin_device_login(&self) -> Result<DeviceAuthorization> {
        let provider = self.provider_metadata().await?;
        let endpoint = provider
            .device_authorization_endpoint
            .as_ref()
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Discovery,
                    "the provider offers no device authorization endpoint (RFC 8628)",
                )
            })?;
        self.prefetch_keys(&provider).await;
        let scope = self.config.scopes.join(" ");
        let mut params = vec![
            ("client_id", self.config.client_id.as_str()),
            ("scope", &scope),
        ];
        params.extend(
            self.config
                .resources
                .iter()
                .map(|r| ("resource", r.as_str())),
        );
        let device = device::start(
            &self.http,
            endpoint,
            &params,
            &self.config.insecure_http_hosts,
            self.clock.now(),
        )
        .await?;
        *lock(&self.device) = Some(device.clone());
        Ok(device)
    }

    /// Waits until the user approved the device login on another device, polling the token
    /// endpoint every `interval` seconds (5 more after each `slow_down`), then validates the ID
    /// token, stores the session (it becomes the active account) and returns the claims.
    ///
    /// Ends with the `Provider` error `access_denied` when the user declined, `expired_token`
    /// when the codes expired first (also when they expire on this device's clock), and
    /// `NoPendingLogin` when no device login was started or it was cancelled. Dropping the
    /// future cancels it; [`Client::cancel_device_login`] does from elsewhere. A network error
    /// ends the wait and keeps the device login, so that calling this again goes on polling.
    pub async fn complete_device_login(&self) -> Result<IdTokenClaims> {
        let pending = || lock(&self.device).clone();
        let device = pending().ok_or_else(no_device_login)?;
        let provider = self.provider_metadata().await?;
        let mut interval = device.interval();
        loop {
            if self.clock.now() >= device.expires_at() {
                self.end_device_login(&device);
                return Err(Error::provider(
                    "expired_token",
                    Some("the device code expired before the user approved"),
                    None,
                ));
            }
            self.clock.sleep(Duration::from_secs(interval)).await;
            if pending().as_ref() != Some(&device) {
                return Err(no_device_login());
            }
            match device::poll(
                &self.http,
                &provider.token_endpoint,
                &self.config.client_id,
                &device.device_code,
            )
            .await
            {
                Ok(Poll::Pending) => {}
                Ok(Poll::SlowDown) => interval += SLOW_DOWN_SECS,
                Ok(Poll::Tokens(response)) => {
                    self.end_device_login(&device);
                    return self
                        .complete_sign_in(&provider, *response, None, None, None)
                        .await;
                }
                Err(e) => {
                    if !e.is_retryable() {
                        self.end_device_login(&device);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Gives up the device login under way, if any: a [`Client::complete_device_login`] waiting
    /// for it ends with `NoPendingLogin` at its next poll. Returns whether there was one.
    pub fn cancel_device_login(&self) -> bool {
        lock(&self.device).take().is_some()
    }

    /// Forgets `device`, unless another device login replaced it meanwhile.
    fn end_device_login(&self, device: &DeviceAuthorization) {
        let mut current = lock(&self.device);
        if current.as_ref() == Some(device) {
            *current = None;
        }
    }
}

fn no_device_login() -> Error {
    Error::new(
        ErrorKind::NoPendingLogin,
        "no device login is under way (none was started, it ended, or it was cancelled)",
    )
}
