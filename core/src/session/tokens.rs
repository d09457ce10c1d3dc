//! The tokens of a signed-in session.

use std::fmt;

use crate::oidc::id_token::IdTokenClaims;
use crate::secret::SecretString;

/// The tokens of a signed-in session, with the validated ID token claims.
///
/// `Debug` shows only the shape (expiry, scopes, whether a refresh token is held), never a token.
#[derive(Clone, PartialEq)]
pub struct Tokens {
    pub(crate) access_token: SecretString,
    pub(crate) refresh_token: Option<SecretString>,
    pub(crate) id_token: SecretString,
    pub(crate) expires_at: Option<i64>,
    pub(crate) scopes: Vec<String>,
    pub(crate) claims: IdTokenClaims,
    /// The nonce of the login, to check against a refreshed ID token that carries one.
    pub(crate) login_nonce: Option<SecretString>,
    /// The thumbprint (`jkt`) of the DPoP key the tokens are bound to (RFC 9449), or `None` for
    /// Bearer tokens.
    pub(crate) dpop_jkt: Option<String>,
}

impl Tokens {
    /// The access token, for `Authorization: Bearer`.
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// The refresh token, when the provider issued one.
    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.refresh_token.as_ref()
    }

    /// The latest ID token (for `id_token_hint` at logout).
    pub fn id_token(&self) -> &SecretString {
        &self.id_token
    }

    /// When the access token expires (seconds since the epoch), if the provider said.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The granted scopes: the ones the provider listed, which may differ from the requested
    /// ones (RFC 6749 §5.1) and are empty when it granted none of them (`"scope": ""`); the
    /// requested ones when it did not say.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The validated claims of the ID token from sign-in (updated by refreshed ID tokens).
    pub fn claims(&self) -> &IdTokenClaims {
        &self.claims
    }

    /// `DPoP` for tokens bound to the client's DPoP key (RFC 9449), `Bearer` otherwise: the
    /// scheme of the `Authorization` header the access token goes in.
    pub fn token_type(&self) -> &'static str {
        if self.dpop_jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }

    /// The thumbprint (RFC 7638) of the DPoP key the tokens are bound to, if they are.
    pub fn dpop_key_thumbprint(&self) -> Option<&str> {
        self.dpop_jkt.as_deref()
    }

    /// Whether the access token is still valid `margin` seconds from `now`. Without a known
    /// expiry the token is taken as valid until the API rejects it.
    pub fn is_fresh(&self, now: i64, margin: i64) -> bool {
        self.expires_at
            .is_none_or(|exp| now.saturating_add(margin) < exp)
    }
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("subject", &self.claims.subject)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("token_type", &self.token_type())
            .finish_non_exhaustive()
    }
}
