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
        self.lifetime
            .map_or(configured, |lifetime| configured.min(lifetime / 2))
    }

    /// Whether the access token needs no refresh yet at `now`: it is valid for longer than
    /// [`Tokens::refresh_margin`] of the `configured` margin. Without a known expiry the token
    /// is taken as valid until the API rejects it.
    pub fn is_fresh(&self, now: i64, configured: i64) -> bool {
        self.lasts(now, self.refresh_margin(configured))
    }

    /// Whether the access token is still valid `secs` seconds after `now` (`0`: not expired).
    /// Without a known expiry, always.
    pub(crate) fn lasts(&self, now: i64, secs: i64) -> bool {
        self.expires_at
            .is_none_or(|exp| now.saturating_add(secs) < exp)
    }
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
        assert!(short.lasts(NOW + 9, 0), "due, but not expired");
        assert!(!short.lasts(NOW + 10, 0));
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
        assert!(no_expiry.lasts(i64::MAX, i64::MAX));
    }
}
