//! Which access token a caller gets, and when it asks for a refresh.
//!
//! [`Client::access_token`] answers from memory while the token is fresh: it has more than the
//! refresh margin left — the configured margin, or half the token's lifetime when that is
//! shorter ([`Tokens::refresh_margin`]), so that a 10 s token serves for 5 s. A token that is
//! due but has not expired still serves the caller at once, and one refresh starts off the
//! callers' path (refresh-ahead, `background.rs`: on the app's spawner, or run by the first such
//! caller when there is none); a refresh-ahead that fails changes nothing until the token
//! expires. An expired token (refresh-ahead off: a due one) is refreshed while the caller waits
//! (`refresh.rs` tells that refresh). A caller may ask for a token that lives at least `min_ttl`
//! ([`Client::access_token_valid_for`]): a token that does not is refreshed first, and a
//! `min_ttl` the provider's tokens cannot reach is a [`ErrorKind::MinTtlExceedsLifetime`] error —
//! with no request when their lifetime is known.
//!
//! [`Tokens::refresh_margin`]: crate::Tokens::refresh_margin

use std::time::Duration;

use super::Client;
use super::background::Ahead;
use super::refresh::Caller;
use crate::config::check_resource;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::SecretString;

/// How many refreshes one call for an access token makes at most: a second one only when the
/// first answered with a sibling's token that was already too old.
const MAX_REFRESHES_PER_CALL: u32 = 2;

/// `min_ttl` in whole seconds, rounded up (a guarantee of at least that long).
fn whole_secs(min_ttl: Duration) -> i64 {
    let secs = min_ttl.as_secs() + u64::from(min_ttl.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX)
}

fn min_ttl_exceeds_lifetime(min_ttl: i64, lifetime: Option<i64>) -> Error {
    let issued_for = lifetime.map_or("less than that".to_string(), |l| format!("{l} s"));
    Error::new(
        ErrorKind::MinTtlExceedsLifetime,
        format!(
            "an access token valid for at least {min_ttl} s was asked for, but the provider issues them for {issued_for}"
        ),
    )
}

impl Client {
    /// A valid access token of the active account. Fresh from memory; when it is due for a
    /// refresh (less than [`Config::refresh_margin`] left, or half its lifetime when that is
    /// shorter) but not expired, still this token at once while one refresh runs off the
    /// caller's path (refresh-ahead, see [`Client::with_background_refresh`]); when expired, a
    /// refreshed one. Concurrent callers share a single refresh, in this process and in
    /// sibling processes sharing the store.
    ///
    /// [`Config::refresh_margin`]: crate::Config::refresh_margin
    pub async fn access_token(&self) -> Result<SecretString> {
        self.access_token_of(None, None, 0).await
    }

    /// [`Client::access_token`], valid for at least `min_ttl` from now (Auth0's `minTTL`): a
    /// token that expires sooner is refreshed first, and the caller waits for that. A `min_ttl`
    /// as long as the provider's token lifetime or longer fails with
    /// [`ErrorKind::MinTtlExceedsLifetime`], without a request once the lifetime is known (it
    /// is learnt from the provider's `expires_in`). Without a known expiry, any token serves.
    pub async fn access_token_valid_for(&self, min_ttl: Duration) -> Result<SecretString> {
        self.access_token_of(None, None, whole_secs(min_ttl)).await
    }

    /// [`Client::access_token`] for the account of user `subject` (the ID token's `sub`),
    /// whether or not it is the active one. `NotSignedIn` when no such account is signed in.
    pub async fn access_token_for_account(&self, subject: &str) -> Result<SecretString> {
        self.access_token_of(Some(subject), None, 0).await
    }

    /// [`Client::access_token_valid_for`] for the account of user `subject`.
    pub async fn access_token_for_account_valid_for(
        &self,
        subject: &str,
        min_ttl: Duration,
    ) -> Result<SecretString> {
        self.access_token_of(Some(subject), None, whole_secs(min_ttl))
            .await
    }

    /// "Which token a caller gets", in the module documentation, for `resource`'s token (an
    /// RFC 8707 resource indicator, `resources.rs`, checked before any request; the session's
    /// own for `None`). An API's token follows the same freshness rule, but is not refreshed
    /// ahead: a due one is refreshed while the caller waits.
    pub(crate) async fn access_token_of(
        &self,
        subject: Option<&str>,
        resource: Option<&str>,
        min_ttl: i64,
    ) -> Result<SecretString> {
        if subject.is_none()
            && min_ttl == 0
            && let Some(token) =
                self.store
                    .fresh_access_token(resource, self.clock.now(), self.refresh_margin())
        {
            // The hot path: no storage, no clone of the session.
            return Ok(token);
        }
        // Only a checked resource indicator is ever stored with a token, so the hot path above
        // needs no check.
        if let Some(resource) = resource {
            check_resource(resource)?;
        }
        let mut refreshes = 0;
        loop {
            let current = self.store.account(subject);
            self.notify_absorbed();
            let (account, tokens, revision) = current?;
            let target = tokens.target(resource);
            if let Some(target) = target {
                // Whether the provider's tokens can last `min_ttl` at all.
                let reachable = target.lifetime.is_none_or(|lifetime| lifetime > min_ttl);
                if min_ttl > 0 && !reachable {
                    return Err(min_ttl_exceeds_lifetime(min_ttl, target.lifetime));
                }
                let now = self.clock.now();
                let serves = target.lasts(now, min_ttl);
                if serves && (refreshes > 0 || target.is_fresh(now, self.refresh_margin())) {
                    return Ok(target.token.clone());
                }
                if serves && resource.is_none() && self.config.refresh_ahead && refreshes == 0 {
                    match self.refresh_ahead(&account, revision) {
                        Ahead::Started => return Ok(target.token.clone()),
                        Ahead::RunHere => {
                            self.refresh_early(&account, revision).await;
                            // Then the new token, or this one if that refresh failed.
                            refreshes += 1;
                            continue;
                        }
                    }
                }
                if refreshes == MAX_REFRESHES_PER_CALL || (refreshes > 0 && !reachable) {
                    // The provider's newest token does not last `min_ttl`; without one, it is
                    // the answer (a provider that issues tokens already expired gets what it
                    // issues).
                    if min_ttl > 0 {
                        return Err(min_ttl_exceeds_lifetime(min_ttl, target.lifetime));
                    }
                    return Ok(target.token.clone());
                }
            } else if refreshes > 0 {
                return Err(Error::invalid_response(
                    "the refresh produced no access token for this resource",
                ));
            }
            let caller = Caller {
                named: subject.is_some(),
                may_use_current: true,
                min_ttl,
                early: false,
                resource,
                seen: target.map(|target| target.token),
            };
            self.refresh_shared(&account, revision, caller).await?;
            refreshes += 1;
        }
    }

    /// The active account's access token from memory if it is persisted and fresh (see
    /// [`Client::access_token`]), without any I/O or waiting (for hot paths). `None` means:
    /// call [`Client::access_token`].
    pub fn cached_access_token(&self) -> Option<SecretString> {
        self.store
            .fresh_access_token(None, self.clock.now(), self.refresh_margin())
    }

    pub(super) fn refresh_margin(&self) -> i64 {
        i64::try_from(self.config.refresh_margin.as_secs()).unwrap_or(i64::MAX)
    }
}
