//! The tokens of a signed-in session, and the narrower access tokens it got for single APIs
//! (RFC 8707 resource indicators).

use std::collections::BTreeMap;
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
    /// The APIs the sign-in asked access for (RFC 8707 resource indicators).
    pub(crate) resources: Vec<String>,
    /// Access tokens for single APIs, by resource indicator, obtained with the refresh token.
    pub(crate) resource_tokens: BTreeMap<String, ResourceToken>,
}

/// An access token for one API, whose audience is that API alone (RFC 8707 §2.2): what
/// [`crate::Client::access_token_for`] returns, kept with the session and refreshed on its own.
#[derive(Clone, PartialEq)]
pub struct ResourceToken {
    pub(crate) access_token: SecretString,
    pub(crate) expires_at: Option<i64>,
    pub(crate) scopes: Option<Vec<String>>,
}

impl ResourceToken {
    /// The access token, for `Authorization: Bearer` at that API.
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// When it expires (seconds since the epoch), if the provider said.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The scopes granted for it, when the provider listed them.
    pub fn scopes(&self) -> Option<&[String]> {
        self.scopes.as_deref()
    }
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

    /// Whether the access token is still valid `margin` seconds from `now`. Without a known
    /// expiry the token is taken as valid until the API rejects it.
    pub fn is_fresh(&self, now: i64, margin: i64) -> bool {
        fresh(self.expires_at, now, margin)
    }

    /// The APIs the sign-in asked access for ([`crate::ConfigBuilder::resource`]).
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// The access token obtained for the API `resource`, if any ([`crate::Client::access_token_for`]).
    pub fn resource_token(&self, resource: &str) -> Option<&ResourceToken> {
        self.resource_tokens.get(resource)
    }

    /// The access token for `resource` (the session's own for `None`) and its expiry, if held.
    pub(crate) fn target(&self, resource: Option<&str>) -> Option<(&SecretString, Option<i64>)> {
        match resource {
            None => Some((&self.access_token, self.expires_at)),
            Some(r) => self
                .resource_tokens
                .get(r)
                .map(|t| (&t.access_token, t.expires_at)),
        }
    }

    /// The access token for `resource` (the session's own for `None`) while it is valid
    /// `margin` seconds from `now`.
    pub(crate) fn fresh_token(
        &self,
        resource: Option<&str>,
        now: i64,
        margin: i64,
    ) -> Option<&SecretString> {
        self.target(resource)
            .filter(|(_, expires_at)| fresh(*expires_at, now, margin))
            .map(|(token, _)| token)
    }
}

/// Whether a token expiring at `expires_at` is still valid `margin` seconds from `now`.
fn fresh(expires_at: Option<i64>, now: i64, margin: i64) -> bool {
    expires_at.is_none_or(|exp| now.saturating_add(margin) < exp)
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("subject", &self.claims.subject)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("resources", &self.resources)
            .field("resource_tokens", &self.resource_tokens.keys())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ResourceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceToken")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}
