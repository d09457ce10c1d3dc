//! What the provider remembers between requests: authorization codes, refresh
//! token families, browser sessions and revoked access tokens.
//!
//! A *family* is everything issued from one authorization code: its chain of
//! rotated refresh tokens. Replaying a spent code or a rotated refresh token
//! revokes the whole family (OAuth 2.0 Security BCP, RFC 9700 §4.14).

use std::collections::{HashMap, HashSet};

use super::Params;
use crate::TestUser;
use crate::keys::random_token;

/// An authorization code's binding, as recorded at `/authorize`.
#[derive(Clone, Debug)]
pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub auth_time: u64,
    pub expires_at: u64,
    /// Who signed in.
    pub user: TestUser,
    /// The DPoP key the code is bound to (`dpop_jkt`, RFC 9449 §10), if the request named one.
    pub dpop_jkt: Option<String>,
}

/// What a refresh token family grants.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub client_id: String,
    pub scope: String,
    pub auth_time: u64,
    /// Whose grant it is.
    pub user: TestUser,
    /// The DPoP key the grant's tokens are bound to (RFC 9449), if any.
    pub dpop_jkt: Option<String>,
}

/// Why a code could not be redeemed (all are `invalid_grant`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodeError {
    Unknown,
    Expired,
    /// Already redeemed; its family has now been revoked.
    Reused,
}

/// Why a refresh token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefreshError {
    /// Unknown, expired, revoked, rotated (the family is now revoked) or issued to
    /// another client: `invalid_grant`.
    InvalidGrant(&'static str),
    /// The requested scope exceeds the granted one: `invalid_scope`.
    ScopeTooWide,
}

struct CodeEntry {
    code: AuthCode,
    redeemed: bool,
    family: Option<u64>,
}

struct RefreshEntry {
    family: u64,
    expires_at: u64,
    rotated: bool,
}

struct Family {
    grant: Grant,
    revoked: bool,
}

/// The provider's memory.
#[derive(Default)]
pub(crate) struct Grants {
    codes: HashMap<String, CodeEntry>,
    refresh_tokens: HashMap<String, RefreshEntry>,
    families: HashMap<u64, Family>,
    next_family: u64,
    /// Browser sessions (`SSO_SESSION` cookie value → `auth_time`).
    sessions: HashMap<String, u64>,
    revoked_access_tokens: HashSet<String>,
    /// Pushed authorization requests by `request_uri`: their parameters and expiry.
    pushed: HashMap<String, (Vec<(String, String)>, u64)>,
}

impl Grants {
    /// Stores a new code and returns it.
    pub(crate) fn issue_code(&mut self, code: AuthCode) -> String {
        let value = random_token();
        let entry = CodeEntry {
            code,
            redeemed: false,
            family: None,
        };
        self.codes.insert(value.clone(), entry);
        value
    }

    /// Spends a code. Any attempt spends it, successful or not, so a code cannot
    /// be tried twice; a second attempt revokes what the first one obtained.
    pub(crate) fn redeem_code(&mut self, code: &str, now: u64) -> Result<AuthCode, CodeError> {
        let entry = self.codes.get_mut(code).ok_or(CodeError::Unknown)?;
        if entry.redeemed {
            if let Some(family) = entry.family {
                self.revoke_family(family);
            }
            return Err(CodeError::Reused);
        }
        entry.redeemed = true;
        if now >= entry.code.expires_at {
            return Err(CodeError::Expired);
        }
        Ok(entry.code.clone())
    }

    /// Starts the refresh token family of a redeemed code; returns its first refresh token.
    pub(crate) fn start_family(&mut self, code: &str, grant: Grant, expires_at: u64) -> String {
        let family = self.next_family;
        self.next_family += 1;
        self.families.insert(
            family,
            Family {
                grant,
                revoked: false,
            },
        );
        if let Some(entry) = self.codes.get_mut(code) {
            entry.family = Some(family);
        }
        self.new_refresh_token(family, expires_at)
    }

    fn new_refresh_token(&mut self, family: u64, expires_at: u64) -> String {
        let value = random_token();
        let entry = RefreshEntry {
            family,
            expires_at,
            rotated: false,
        };
        self.refresh_tokens.insert(value.clone(), entry);
        value
    }

    /// Rotates a refresh token: the presented one is spent, and a new one of the
    /// same family is returned with the family's grant.
    pub(crate) fn rotate_refresh_token(
        &mut self,
        token: &str,
        client_id: &str,
        requested_scope: Option<&str>,
        proof_jkt: Option<&str>,
        now: u64,
        new_expires_at: u64,
    ) -> Result<(Grant, String), RefreshError> {
        use RefreshError::InvalidGrant;
        let entry = self
            .refresh_tokens
            .get(token)
            .ok_or(InvalidGrant("unknown refresh token"))?;
        let family_id = entry.family;
        let family = &self.families[&family_id];
        if family.revoked {
            return Err(InvalidGrant("refresh token revoked"));
        }
        if entry.rotated {
            self.revoke_family(family_id);
            return Err(InvalidGrant(
                "refresh token already used; its family is revoked",
            ));
        }
        if now >= entry.expires_at {
            return Err(InvalidGrant("refresh token expired"));
        }
        if family.grant.client_id != client_id {
            return Err(InvalidGrant("refresh token was issued to another client"));
        }
        // A bound family is used only with a proof of its key (RFC 9449 §5); the token stays
        // unspent, so that its rightful holder can still use it.
        if family.grant.dpop_jkt.is_some() && family.grant.dpop_jkt.as_deref() != proof_jkt {
            return Err(InvalidGrant(
                "refresh token is DPoP-bound: a proof with its key is required",
            ));
        }
        let mut grant = family.grant.clone();
        if let Some(requested) = requested_scope {
            let granted: HashSet<&str> = grant.scope.split_whitespace().collect();
            if !requested.split_whitespace().all(|s| granted.contains(s)) {
                return Err(RefreshError::ScopeTooWide);
            }
            grant.scope = normalize_scope(requested);
        }
        if let Some(entry) = self.refresh_tokens.get_mut(token) {
            entry.rotated = true;
        }
        let new_token = self.new_refresh_token(family_id, new_expires_at);
        Ok((grant, new_token))
    }

    /// Revokes the family of a refresh token; returns whether the token was known.
    pub(crate) fn revoke_refresh_token(&mut self, token: &str) -> bool {
        match self.refresh_tokens.get(token) {
            Some(entry) => {
                let family = entry.family;
                self.revoke_family(family);
                true
            }
            None => false,
        }
    }

    fn revoke_family(&mut self, family: u64) {
        if let Some(family) = self.families.get_mut(&family) {
            family.revoked = true;
        }
    }

    /// Records a revoked access token by its `jti`.
    pub(crate) fn revoke_access_token(&mut self, jti: &str) {
        self.revoked_access_tokens.insert(jti.to_owned());
    }

    /// Whether the access token with this `jti` was revoked.
    pub(crate) fn is_access_token_revoked(&self, jti: &str) -> bool {
        self.revoked_access_tokens.contains(jti)
    }

    /// Keeps a pushed authorization request until `expires_at`; returns its `request_uri`.
    pub(crate) fn push(&mut self, params: Vec<(String, String)>, expires_at: u64) -> String {
        let request_uri = format!("urn:ietf:params:oauth:request_uri:{}", random_token());
        self.pushed
            .insert(request_uri.clone(), (params, expires_at));
        request_uri
    }

    /// The parameters of a pushed request, once: used, it is gone; expired, it is refused.
    pub(crate) fn take_pushed(&mut self, request_uri: &str, now: u64) -> Option<Params> {
        self.pushed.retain(|_, (_, expires_at)| *expires_at > now);
        self.pushed
            .remove(request_uri)
            .map(|(params, _)| Params(params))
    }

    /// Opens a browser session; returns its cookie value.
    pub(crate) fn open_session(&mut self, auth_time: u64) -> String {
        let id = random_token();
        self.sessions.insert(id.clone(), auth_time);
        id
    }

    /// The `auth_time` of an open browser session.
    pub(crate) fn session_auth_time(&self, id: &str) -> Option<u64> {
        self.sessions.get(id).copied()
    }

    /// Ends a browser session.
    pub(crate) fn close_session(&mut self, id: &str) {
        self.sessions.remove(id);
    }
}

/// A scope string with duplicates removed, in first-seen order.
pub(crate) fn normalize_scope(scope: &str) -> String {
    let mut seen = Vec::new();
    for item in scope.split_whitespace() {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(expires_at: u64) -> AuthCode {
        AuthCode {
            client_id: "c".into(),
            redirect_uri: "myapp://cb".into(),
            code_challenge: "x".into(),
            nonce: None,
            scope: "openid profile".into(),
            auth_time: 1,
            expires_at,
            user: TestUser::default(),
            dpop_jkt: None,
        }
    }

    fn grant() -> Grant {
        Grant {
            client_id: "c".into(),
            scope: "openid profile".into(),
            auth_time: 1,
            user: TestUser::default(),
            dpop_jkt: None,
        }
    }

    #[test]
    fn code_is_single_use_and_reuse_revokes_family() {
        let mut grants = Grants::default();
        let value = grants.issue_code(code(100));
        assert!(grants.redeem_code(&value, 10).is_ok());
        let refresh = grants.start_family(&value, grant(), 1000);
        assert_eq!(
            grants.redeem_code(&value, 10).unwrap_err(),
            CodeError::Reused
        );
        assert!(matches!(
            grants.rotate_refresh_token(&refresh, "c", None, None, 10, 1000),
            Err(RefreshError::InvalidGrant(_))
        ));
    }

    #[test]
    fn pushed_requests_are_single_use_and_expire() {
        let mut grants = Grants::default();
        let params = vec![("client_id".to_owned(), "c".to_owned())];
        let uri = grants.push(params.clone(), 100);
        assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
        assert_eq!(grants.take_pushed(&uri, 50).unwrap().0, params);
        assert!(grants.take_pushed(&uri, 50).is_none());
        let uri = grants.push(params, 100);
        assert!(grants.take_pushed(&uri, 100).is_none());
    }

    #[test]
    fn expired_code_is_refused() {
        let mut grants = Grants::default();
        let value = grants.issue_code(code(100));
        assert_eq!(
            grants.redeem_code(&value, 100).unwrap_err(),
            CodeError::Expired
        );
        assert_eq!(
            grants.redeem_code("nope", 1).unwrap_err(),
            CodeError::Unknown
        );
    }

    #[test]
    fn rotation_and_reuse_detection() {
        let mut grants = Grants::default();
        let value = grants.issue_code(code(100));
        grants.redeem_code(&value, 10).unwrap();
        let first = grants.start_family(&value, grant(), 1000);
        let (_, second) = grants
            .rotate_refresh_token(&first, "c", None, None, 20, 1000)
            .unwrap();
        // Replaying the rotated token revokes the family, including `second`.
        assert!(
            grants
                .rotate_refresh_token(&first, "c", None, None, 30, 1000)
                .is_err()
        );
        assert!(
            grants
                .rotate_refresh_token(&second, "c", None, None, 30, 1000)
                .is_err()
        );
    }

    #[test]
    fn a_bound_family_needs_its_key_and_is_not_spent_without_it() {
        let mut grants = Grants::default();
        let value = grants.issue_code(code(100));
        grants.redeem_code(&value, 10).unwrap();
        let bound = Grant {
            dpop_jkt: Some("jkt-1".into()),
            ..grant()
        };
        let first = grants.start_family(&value, bound, 1000);
        for wrong in [None, Some("jkt-2")] {
            assert!(matches!(
                grants.rotate_refresh_token(&first, "c", None, wrong, 20, 1000),
                Err(RefreshError::InvalidGrant(_))
            ));
        }
        let (grant, _) = grants
            .rotate_refresh_token(&first, "c", None, Some("jkt-1"), 20, 1000)
            .unwrap();
        assert_eq!(grant.dpop_jkt.as_deref(), Some("jkt-1"));
    }

    #[test]
    fn scope_may_only_narrow() {
        let mut grants = Grants::default();
        let value = grants.issue_code(code(100));
        grants.redeem_code(&value, 10).unwrap();
        let first = grants.start_family(&value, grant(), 1000);
        assert_eq!(
            grants
                .rotate_refresh_token(&first, "c", Some("openid email"), None, 20, 1000)
                .unwrap_err(),
            RefreshError::ScopeTooWide
        );
        let (narrowed, _) = grants
            .rotate_refresh_token(&first, "c", Some("openid"), None, 20, 1000)
            .unwrap();
        assert_eq!(narrowed.scope, "openid");
    }
}
