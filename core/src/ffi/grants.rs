//! The grants beyond a browser sign-in, across the FFI: access tokens for single APIs (RFC 8707),
//! token exchange with a second authorization server (RFC 8693) and sign-in on devices without
//! a browser (RFC 8628). Step-up is part of `KeyfobLoginOptions`.

use std::sync::Arc;

use super::cancellation::{KeyfobCancellation, cancellable};
use super::client::KeyfobClient;
use super::error::KeyfobError;
use super::records::KeyfobClaims;
use crate::client::{ExchangedToken, Subject, TokenExchange};
use crate::oidc::DeviceAuthorization;
use crate::secret::SecretString;

type Result<T> = std::result::Result<T, KeyfobError>;

/// What a token exchange sends as proof of who the user is.
#[derive(Clone, PartialEq, Eq, uniffi::Enum)]
pub enum KeyfobSubject {
    /// The session's ID token (refreshed first when it has expired).
    IdToken,
    /// The session's access token (refreshed first when needed).
    AccessToken,
    /// A token the app holds from elsewhere, with its RFC 8693 token type URI.
    Token {
        /// The token (a secret).
        token: String,
        /// Its type URI, e.g. `urn:ietf:params:oauth:token-type:jwt`.
        token_type: String,
    },
}

impl std::fmt::Debug for KeyfobSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyfobSubject::IdToken => f.write_str("IdToken"),
            KeyfobSubject::AccessToken => f.write_str("AccessToken"),
            KeyfobSubject::Token { token_type, .. } => write!(f, "Token({token_type})"),
        }
    }
}

/// A token exchange (RFC 8693) with a second authorization server. See
/// [`crate::TokenExchange`].
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobTokenExchange {
    /// The second server's issuer, exactly as its discovery document names it.
    pub issuer: String,
    /// This app's client id at that server.
    pub client_id: String,
    /// What proves who the user is.
    pub subject: KeyfobSubject,
    /// A token of the party acting for the user (a secret), if any.
    #[uniffi(default)]
    pub actor_token: Option<String>,
    /// The type URI of `actor_token`.
    #[uniffi(default)]
    pub actor_token_type: Option<String>,
    /// `audience` values.
    #[uniffi(default)]
    pub audience: Vec<String>,
    /// `resource` values (absolute URIs).
    #[uniffi(default)]
    pub resource: Vec<String>,
    /// `scope` values.
    #[uniffi(default)]
    pub scope: Vec<String>,
    /// `requested_token_type`; `None`: the server's choice.
    #[uniffi(default)]
    pub requested_token_type: Option<String>,
}

impl std::fmt::Debug for KeyfobTokenExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyfobTokenExchange")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("subject", &self.subject)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl From<KeyfobTokenExchange> for TokenExchange {
    fn from(r: KeyfobTokenExchange) -> Self {
        TokenExchange {
            issuer: r.issuer,
            client_id: r.client_id,
            subject: match r.subject {
                KeyfobSubject::IdToken => Subject::IdToken,
                KeyfobSubject::AccessToken => Subject::AccessToken,
                KeyfobSubject::Token { token, token_type } => Subject::Token {
                    token: SecretString::new(token),
                    token_type,
                },
            },
            actor: r.actor_token.map(|t| {
                let token_type = r.actor_token_type.unwrap_or_default();
                (SecretString::new(t), token_type)
            }),
            audience: r.audience,
            resource: r.resource,
            scope: r.scope,
            requested_token_type: r.requested_token_type,
        }
    }
}

/// The outcome of a token exchange. `access_token` is a secret (`Debug` hides it).
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobExchangedToken {
    /// The issued token.
    pub access_token: String,
    /// Its type URI (`issued_token_type`).
    pub issued_token_type: String,
    /// When it expires, in seconds since the epoch, if the server said.
    pub expires_at: Option<i64>,
    /// The granted scopes.
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for KeyfobExchangedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyfobExchangedToken")
            .field("issued_token_type", &self.issued_token_type)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl From<ExchangedToken> for KeyfobExchangedToken {
    fn from(t: ExchangedToken) -> Self {
        KeyfobExchangedToken {
            access_token: t.access_token().expose().to_string(),
            issued_token_type: t.issued_token_type().to_string(),
            expires_at: t.expires_at(),
            scopes: t.scopes().to_vec(),
        }
    }
}

/// What a device login shows the user (RFC 8628).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct KeyfobDeviceAuthorization {
    /// The code the user enters at `verification_uri`.
    pub user_code: String,
    /// Where the user approves, on a phone or computer.
    pub verification_uri: String,
    /// The same page with the code in it (for a QR code), when the provider offers one.
    pub verification_uri_complete: Option<String>,
    /// When the codes expire, in seconds since the epoch.
    pub expires_at: i64,
    /// Seconds between two polls.
    pub interval_secs: u64,
}

impl From<DeviceAuthorization> for KeyfobDeviceAuthorization {
    fn from(d: DeviceAuthorization) -> Self {
        KeyfobDeviceAuthorization {
            user_code: d.user_code().to_string(),
            verification_uri: d.verification_uri().to_string(),
            verification_uri_complete: d.verification_uri_complete().map(str::to_string),
            expires_at: d.expires_at(),
            interval_secs: d.interval(),
        }
    }
}

#[uniffi::export]
impl KeyfobClient {
    /// Exchanges the session's identity for a token of another authorization server (RFC 8693)
    /// and keeps it under that server. `Provider` `invalid_grant` when it rejects the subject.
    /// `cancellation` stops it.
    #[uniffi::method(default(cancellation = None))]
    pub async fn exchange(
        &self,
        request: KeyfobTokenExchange,
        cancellation: Option<Arc<KeyfobCancellation>>,
    ) -> Result<KeyfobExchangedToken> {
        let request = TokenExchange::from(request);
        cancellable(cancellation, async {
            Ok(self.inner.exchange(&request).await?.into())
        })
        .await
    }

    /// A valid token of the exchange `request`: the kept one while fresh, else refreshed at
    /// that server, else exchanged again.
    pub async fn exchanged_access_token(&self, request: KeyfobTokenExchange) -> Result<String> {
        let token = self.inner.exchanged_access_token(&request.into()).await?;
        Ok(token.expose().to_string())
    }

    /// Starts a device login (RFC 8628): the code to show and where to enter it.
    pub async fn begin_device_login(&self) -> Result<KeyfobDeviceAuthorization> {
        Ok(self.inner.begin_device_login().await?.into())
    }

    /// Polls until the user approved the device login, then stores the session and returns the
    /// claims. `Provider` `access_denied` or `expired_token` otherwise. `cancellation` stops
    /// it (the device login stays under way).
    #[uniffi::method(default(cancellation = None))]
    pub async fn complete_device_login(
        &self,
        cancellation: Option<Arc<KeyfobCancellation>>,
    ) -> Result<KeyfobClaims> {
        cancellable(cancellation, async {
            Ok(self.inner.complete_device_login().await?.into())
        })
        .await
    }

    /// Gives up the device login under way; returns whether there was one.
    /// (`Result` only so that a panic reaches the caller as an error, never as a crash.)
    pub fn cancel_device_login(&self) -> Result<bool> {
        Ok(self.inner.cancel_device_login())
    }
}
