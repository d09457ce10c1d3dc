//! The tokens of a signed-in session, and the narrower access tokens it got for single APIs
//! (RFC 8707 resource indicators).

use std::fmt;

use crate::oidc::id_token::IdTokenClaims;
use crate::secret::SecretString;
use crate::session::sorted_map::SortedMap;

/// The tokens of a signed-in session, with the validated ID token claims.
///
/// `Debug` shows only the shape (expiry, scopes, whether a refresh token is held), never a token.
#[derive(Clone, PartialEq)]
pub struct Tokens {
    pub(crate) access_token: SecretString,
    pub(crate) refresh_token: Option<SecretString>,
    pub(crate) id_token: SecretString,
    pub(crate) expires_at: Option<i64>,
    /// How long the access token was issued for (`expires_in`, seconds), when the provider said;
    /// `None` also for sessions stored by releases that did not keep it.
    pub(crate) lifetime: Option<i64>,
    pub(crate) scopes: Vec<String>,
    pub(crate) claims: IdTokenClaims,
    /// The nonce of the login, to check against a refreshed ID token that carries one.
    pub(crate) login_nonce: Option<SecretString>,
    /// The thumbprint (`jkt`) of the DPoP key the tokens are bound to (RFC 9449), or `None` for
    /// Bearer tokens.
    pub(crate) dpop_jkt: Option<String>,
    /// The APIs the sign-in asked access for (RFC 8707 resource indicators).
    pub(crate) resources: Vec<String>,
    /// Access tokens for single APIs, by resource indicator, obtained with the refresh token.
    pub(crate) resource_tokens: SortedMap<ResourceToken>,
}

/// An access token for one API, whose audience is that API alone (RFC 8707 §2.2): what
/// [`crate::Client::access_token_for`] returns, kept with the session and refreshed on its own.
#[derive(Clone, PartialEq)]
pub struct ResourceToken {
    pub(crate) access_token: SecretString,
    pub(crate) expires_at: Option<i64>,
    /// How long it was issued for (`expires_in`, seconds), when the provider said; `None` also
    /// for tokens stored by releases that did not keep it.
    pub(crate) lifetime: Option<i64>,
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

    /// How long it was issued for (`expires_in`), in seconds, when the provider said.
    pub fn lifetime(&self) -> Option<i64> {
        self.lifetime
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

    /// How long the access token was issued for (the token response's `expires_in`), in
    /// seconds, when the provider said.
    pub fn lifetime(&self) -> Option<i64> {
        self.lifetime
    }

    /// The refresh margin that fits this token: `configured`, but at most half the token's
    /// lifetime, so that a token living less than the configured margin is still served for
    /// half its life before it needs a refresh (a 10 s token: 5 s). `configured` when the
    /// lifetime is unknown.
    pub fn refresh_margin(&self, configured: i64) -> i64 {
        refresh_margin(self.lifetime, configured)
    }

    /// Whether the access token needs no refresh yet at `now`: it is valid for longer than
    /// [`Tokens::refresh_margin`] of the `configured` margin. Without a known expiry the token
    /// is taken as valid until the API rejects it.
    pub fn is_fresh(&self, now: i64, configured: i64) -> bool {
        self.target(None)
            .is_some_and(|target| target.is_fresh(now, configured))
    }

    /// The APIs the sign-in asked access for ([`crate::ConfigBuilder::resource`]).
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// The access token obtained for the API `resource`, if any ([`crate::Client::access_token_for`]).
    pub fn resource_token(&self, resource: &str) -> Option<&ResourceToken> {
        self.resource_tokens.get(resource)
    }

    /// The access token for `resource` (the session's own for `None`) with its expiry and
    /// lifetime, if held.
    pub(crate) fn target(&self, resource: Option<&str>) -> Option<Target<'_>> {
        match resource {
            None => Some(Target {
                token: &self.access_token,
                expires_at: self.expires_at,
                lifetime: self.lifetime,
            }),
            Some(r) => self.resource_tokens.get(r).map(|t| Target {
                token: &t.access_token,
                expires_at: t.expires_at,
                lifetime: t.lifetime,
            }),
        }
    }

    /// The access token for `resource` (the session's own for `None`) while it needs no
    /// refresh at `now` with the `configured` margin ([`Tokens::is_fresh`]'s rule).
    pub(crate) fn fresh_token(
        &self,
        resource: Option<&str>,
        now: i64,
        configured: i64,
    ) -> Option<&SecretString> {
        self.target(resource)
            .filter(|target| target.is_fresh(now, configured))
            .map(|target| target.token)
    }
}

/// One access token of a session — its own or an API's — with what decides its freshness.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub token: &'a SecretString,
    pub expires_at: Option<i64>,
    pub lifetime: Option<i64>,
}

impl Target<'_> {
    /// Whether the token needs no refresh yet at `now`: valid for longer than the `configured`
    /// margin, capped at half its lifetime.
    pub fn is_fresh(&self, now: i64, configured: i64) -> bool {
        self.lasts(now, refresh_margin(self.lifetime, configured))
    }

    /// Whether the token is still valid `secs` seconds after `now`.
    pub fn lasts(&self, now: i64, secs: i64) -> bool {
        lasts(self.expires_at, now, secs)
    }
}

/// `configured`, but at most half of a known `lifetime`.
fn refresh_margin(lifetime: Option<i64>, configured: i64) -> i64 {
    lifetime.map_or(configured, |lifetime| configured.min(lifetime / 2))
}

/// Whether a token expiring at `expires_at` is still valid `secs` seconds after `now`; without
/// a known expiry, always.
fn lasts(expires_at: Option<i64>, now: i64, secs: i64) -> bool {
    expires_at.is_none_or(|exp| now.saturating_add(secs) < exp)
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("subject", &self.claims.subject)
            .field("expires_at", &self.expires_at)
            .field("lifetime", &self.lifetime)
            .field("scopes", &self.scopes)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("token_type", &self.token_type())
            .field("resources", &self.resources)
            .field(
                "resource_tokens",
                &self.resource_tokens.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ResourceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceToken")
            .field("expires_at", &self.expires_at)
            .field("lifetime", &self.lifetime)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{NOW, ScriptedProvider, session_tokens};

    /// Tokens issued at [`NOW`] for `lifetime` seconds (`None`: the provider did not say how
    /// long, though the expiry is known).
    fn issued_for(lifetime: Option<i64>) -> Tokens {
        Tokens {
            expires_at: Some(NOW + lifetime.unwrap_or(10)),
            lifetime,
            ..session_tokens(&ScriptedProvider::new(), "u1")
        }
    }

    /// The session's own access token, as a refresh target.
    fn own(tokens: &Tokens) -> Target<'_> {
        tokens.target(None).unwrap()
    }

    #[test]
    fn the_margin_is_at_most_half_the_lifetime() {
        let short = issued_for(Some(10));
        assert_eq!(short.refresh_margin(30), 5);
        assert_eq!(
            short.refresh_margin(3),
            3,
            "the configured margin stays the bound"
        );
        assert_eq!(issued_for(Some(3600)).refresh_margin(30), 30);
        assert_eq!(issued_for(Some(1)).refresh_margin(30), 0);
        // A 10 s token with the default 30 s margin serves for 5 s, then is due.
        assert!(short.is_fresh(NOW, 30));
        assert!(short.is_fresh(NOW + 4, 30));
        assert!(!short.is_fresh(NOW + 5, 30));
        assert!(own(&short).lasts(NOW + 9, 0), "due, but not expired");
        assert!(!own(&short).lasts(NOW + 10, 0));
    }

    #[test]
    fn an_unknown_lifetime_keeps_the_configured_margin() {
        let unknown = issued_for(None);
        assert_eq!(unknown.refresh_margin(30), 30);
        assert!(
            !unknown.is_fresh(NOW, 30),
            "10 s left, within the 30 s margin"
        );
        let no_expiry = Tokens {
            expires_at: None,
            ..unknown
        };
        assert!(no_expiry.is_fresh(i64::MAX, 30));
        assert!(own(&no_expiry).lasts(i64::MAX, i64::MAX));
    }
}
