//! Step-up authentication: a login that asks for a recent or stronger authentication
//! (`max_age`, `prompt=login`, `acr_values`; OpenID Connect Core §3.1.2.1, §5.5.1.1), and the
//! checks of the ID token that answers it (`auth_time`, `acr`; §3.1.3.7 items 11 and 12).
//!
//! What the app asked for travels with the pending login, so that the checks hold even when the
//! app was killed while the browser was open.

use crate::error::{Error, IdTokenCheck, Result};
use crate::oidc::id_token::IdTokenClaims;

/// What a login asked of the authentication, and so what its ID token must show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StepUp {
    /// `max_age`: the user must have authenticated at most this many seconds ago.
    pub max_age: Option<u64>,
    /// `acr_values`, in order of preference.
    pub acr_values: Vec<String>,
    /// The `acr` was requested as essential: the ID token must carry one of `acr_values`.
    pub require_acr: bool,
    /// `prompt=login`: the user must authenticate now, not reuse a session.
    pub fresh_login: bool,
}

impl StepUp {
    /// Checks the values and appends the request parameters: `max_age`, `acr_values` and, when
    /// the `acr` is essential, the `claims` request for it (§5.5.1.1).
    pub fn append_to(&self, query: &mut Vec<(String, String)>) -> Result<()> {
        if let Some(max_age) = self.max_age {
            query.push(("max_age".into(), max_age.to_string()));
        }
        if self.acr_values.is_empty() {
            if self.require_acr {
                return Err(Error::config(
                    "require_acr needs at least one of acr_values",
                ));
            }
            return Ok(());
        }
        if self
            .acr_values
            .iter()
            .any(|v| v.is_empty() || v.contains(char::is_whitespace))
        {
            return Err(Error::config(
                "acr_values must be non-empty and have no spaces",
            ));
        }
        query.push(("acr_values".into(), self.acr_values.join(" ")));
        if self.require_acr {
            let claims = serde_json::json!({
                "id_token": {"acr": {"essential": true, "values": self.acr_values}}
            });
            query.push(("claims".into(), claims.to_string()));
        }
        Ok(())
    }

    /// Checks the validated `claims` of the login that began at `started_at` (provider time):
    /// `auth_time` within `max_age` plus `skew` (and present), not before the login began when
    /// it asked for `prompt=login`, not in the future; the `acr` when it was essential.
    pub fn check(
        &self,
        claims: &IdTokenClaims,
        started_at: i64,
        now: i64,
        skew: i64,
    ) -> Result<()> {
        let auth_time_error = |message: &str| Err(Error::id_token(IdTokenCheck::AuthTime, message));
        match (claims.auth_time, self.max_age) {
            (None, Some(_)) => {
                return auth_time_error(
                    "the login asked for max_age but the ID token has no auth_time",
                );
            }
            (Some(at), Some(max_age)) => {
                let max_age = i64::try_from(max_age).unwrap_or(i64::MAX);
                if now > at.saturating_add(max_age).saturating_add(skew) {
                    return auth_time_error(
                        "the user authenticated longer ago than the login's max_age allows",
                    );
                }
            }
            _ => {}
        }
        if let Some(at) = claims.auth_time {
            if at > now.saturating_add(skew) {
                return auth_time_error("the ID token's auth_time is in the future");
            }
            if self.fresh_login && at < started_at.saturating_sub(skew) {
                return auth_time_error(
                    "the login asked for prompt=login but the user did not authenticate again",
                );
            }
        }
        if self.require_acr
            && !self
                .acr_values
                .iter()
                .any(|v| claims.acr.as_ref() == Some(v))
        {
            return Err(Error::id_token(
                IdTokenCheck::Acr,
                "the ID token's acr is none of the required acr_values",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn claims(auth_time: Option<i64>, acr: Option<&str>) -> IdTokenClaims {
        IdTokenClaims {
            issuer: "https://a.example".into(),
            subject: "u1".into(),
            audience: vec!["app".into()],
            authorized_party: None,
            expires_at: NOW + 300,
            issued_at: NOW,
            auth_time,
            acr: acr.map(str::to_string),
            email: None,
            email_verified: None,
            name: None,
            preferred_username: None,
            extra: serde_json::Map::new(),
        }
    }

    fn failed(step_up: &StepUp, c: &IdTokenClaims) -> Option<IdTokenCheck> {
        step_up
            .check(c, NOW - 30, NOW, 60)
            .err()
            .and_then(|e| e.id_token_check())
    }

    #[test]
    fn max_age_needs_a_recent_auth_time() {
        let s = StepUp {
            max_age: Some(300),
            ..StepUp::default()
        };
        assert_eq!(failed(&s, &claims(Some(NOW - 100), None)), None);
        // max_age plus the skew, and no more.
        assert_eq!(failed(&s, &claims(Some(NOW - 360), None)), None);
        let stale = claims(Some(NOW - 361), None);
        assert_eq!(failed(&s, &stale), Some(IdTokenCheck::AuthTime));
        assert_eq!(
            failed(&s, &claims(None, None)),
            Some(IdTokenCheck::AuthTime)
        );
        let future = claims(Some(NOW + 61), None);
        assert_eq!(failed(&s, &future), Some(IdTokenCheck::AuthTime));
        // Without step-up, an old or absent auth_time is nobody's business.
        assert_eq!(failed(&StepUp::default(), &stale), None);
        assert_eq!(failed(&StepUp::default(), &claims(None, None)), None);
    }

    #[test]
    fn prompt_login_needs_an_authentication_after_the_login_began() {
        let s = StepUp {
            fresh_login: true,
            ..StepUp::default()
        };
        // The login began at NOW - 30; a minute of skew is allowed.
        assert_eq!(failed(&s, &claims(Some(NOW - 5), None)), None);
        assert_eq!(failed(&s, &claims(Some(NOW - 90), None)), None);
        let reused = claims(Some(NOW - 91), None);
        assert_eq!(failed(&s, &reused), Some(IdTokenCheck::AuthTime));
        // Without auth_time there is nothing to check (max_age makes it required).
        assert_eq!(failed(&s, &claims(None, None)), None);
    }

    #[test]
    fn an_essential_acr_must_be_one_of_the_requested_values() {
        let s = StepUp {
            acr_values: vec!["urn:mfa".into(), "urn:hwk".into()],
            require_acr: true,
            ..StepUp::default()
        };
        assert_eq!(failed(&s, &claims(None, Some("urn:hwk"))), None);
        let weak = claims(None, Some("urn:pwd"));
        assert_eq!(failed(&s, &weak), Some(IdTokenCheck::Acr));
        assert_eq!(failed(&s, &claims(None, None)), Some(IdTokenCheck::Acr));
        // Voluntary acr_values: the provider may answer with another acr.
        let voluntary = StepUp {
            require_acr: false,
            ..s
        };
        assert_eq!(failed(&voluntary, &weak), None);
    }

    #[test]
    fn parameters_are_appended_and_checked() {
        let query = |s: &StepUp| {
            let mut q = Vec::new();
            s.append_to(&mut q).map(|()| q)
        };
        let s = StepUp {
            max_age: Some(0),
            acr_values: vec!["urn:mfa".into(), "urn:hwk".into()],
            require_acr: true,
            fresh_login: false,
        };
        let q = query(&s).unwrap();
        assert_eq!(q[0], ("max_age".into(), "0".into()));
        assert_eq!(q[1], ("acr_values".into(), "urn:mfa urn:hwk".into()));
        let claims: serde_json::Value = serde_json::from_str(&q[2].1).unwrap();
        assert_eq!(claims["id_token"]["acr"]["essential"], true);
        assert_eq!(claims["id_token"]["acr"]["values"][1], "urn:hwk");
        let bad = |s: StepUp| query(&s).unwrap_err().kind();
        let required_without_values = StepUp {
            require_acr: true,
            ..StepUp::default()
        };
        assert_eq!(bad(required_without_values), crate::ErrorKind::Config);
        let spaced = StepUp {
            acr_values: vec!["a b".into()],
            ..StepUp::default()
        };
        assert_eq!(bad(spaced), crate::ErrorKind::Config);
    }
}
