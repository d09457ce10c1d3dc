//! Rule 3 of the live session: one refresh for all the processes sharing the store (the refresh
//! lease), and a refresh's result kept in memory until it is written.

use super::{LiveSession, Unsaved, no_such_account};
use crate::error::Result;
use crate::session::accounts::{Account, Lease};
use crate::session::tokens::Tokens;
use crate::sync::lock;

/// What a refresh claim found.
#[derive(Debug)]
pub(crate) enum Claim {
    /// This process holds the lease: refresh.
    Mine,
    /// The account changed since the caller looked (a sibling or another caller refreshed):
    /// these are its tokens now.
    Done(Box<Tokens>),
    /// A sibling holds the lease: wait for its outcome.
    Busy,
}

/// What ending an account after `invalid_grant` did.
pub(crate) enum Ended {
    /// The account was removed.
    Removed,
    /// A sibling refreshed it meanwhile: these newer tokens stand.
    Newer(Box<Tokens>),
    /// It was gone already (signed out, or replaced by another user's sign-in).
    Gone,
}

impl LiveSession {
    /// Rule 3: takes `subject`'s refresh lease for `holder` until `until`, unless the account
    /// moved past `seen_revision` (refreshed by someone else: [`Claim::Done`]) or another
    /// holder's lease runs past `now` ([`Claim::Busy`]).
    pub fn claim_refresh(
        &self,
        subject: &str,
        seen_revision: u64,
        holder: &str,
        until: i64,
        now: i64,
    ) -> Result<Claim> {
        let (claim, _) = self.update(false, |sessions| {
            let account = sessions
                .accounts
                .get_mut(subject)
                .ok_or_else(no_such_account)?;
            if account.revision != seen_revision {
                return Ok(Claim::Done(Box::new(account.tokens.clone())));
            }
            match &account.lease {
                Some(l) if l.holder != holder && l.until > now => Ok(Claim::Busy),
                _ => {
                    account.lease = Some(Lease {
                        holder: holder.to_string(),
                        until,
                    });
                    Ok(Claim::Mine)
                }
            }
        })?;
        Ok(claim)
    }

    /// Puts a refresh's result into memory at once, before anything else can fail or be
    /// cancelled (the old refresh token may be dead at the provider), as an unsaved change
    /// guarded by `from_revision`. Returns its revision, or `None` when the account already
    /// moved on in this process (a sign-out or new sign-in): the result is orphaned.
    pub fn stage_refresh(&self, subject: &str, from_revision: u64, tokens: Tokens) -> Option<u64> {
        let mut inner = lock(&self.inner);
        let current = inner.sessions.accounts.get_mut(subject)?;
        if current.revision != from_revision {
            return None;
        }
        let account = Account {
            tokens,
            revision: from_revision + 1,
            lease: None,
        };
        *current = account.clone();
        let put = Unsaved::Put {
            account: Box::new(account),
            guard: Some(from_revision),
        };
        inner.unsaved.insert(subject.to_string(), put);
        Some(from_revision + 1)
    }

    /// Replaces the tokens of a staged refresh (after its ID token was validated), still
    /// unsaved. `false` when the account moved on meanwhile.
    pub fn restage(&self, subject: &str, revision: u64, tokens: Tokens) -> bool {
        let mut inner = lock(&self.inner);
        let Some(current) = inner.sessions.accounts.get_mut(subject) else {
            return false;
        };
        if current.revision != revision {
            return false;
        }
        current.tokens = tokens;
        let account = current.clone();
        match inner.unsaved.get_mut(subject) {
            Some(Unsaved::Put { account: a, .. }) => **a = account,
            _ => {
                let put = Unsaved::Put {
                    account: Box::new(account),
                    guard: Some(revision - 1),
                };
                inner.unsaved.insert(subject.to_string(), put);
            }
        }
        true
    }

    /// Gives the lease back after a refresh that changed nothing (best effort: it lapses
    /// anyway).
    pub fn release_refresh(&self, subject: &str, holder: &str) {
        let released = self.update(false, |sessions| {
            if let Some(account) = sessions.accounts.get_mut(subject)
                && account.lease.as_ref().is_some_and(|l| l.holder == holder)
            {
                account.lease = None;
            }
            Ok(())
        });
        if let Err(e) = released {
            log::debug!("could not release the refresh lease (it lapses): {e}");
        }
    }

    /// Ends `subject`'s account after its refresh token was rejected, unless it moved past
    /// `from_revision` (a sibling refreshed it with a newer token, which stands). The removal
    /// is kept in memory if it cannot be written, so the dead session cannot come back.
    pub fn end_account(&self, subject: &str, from_revision: u64) -> Result<Ended> {
        let was_active = lock(&self.inner).sessions.active.as_deref() == Some(subject);
        let result = self.update(true, |sessions| match sessions.accounts.get(subject) {
            None => Ok(Ended::Gone),
            Some(a) if a.revision != from_revision => Ok(Ended::Newer(Box::new(a.tokens.clone()))),
            Some(_) => {
                sessions.remove(subject);
                Ok(Ended::Removed)
            }
        });
        let ended = match result {
            Ok((ended, _)) => ended,
            // Removed in memory; the next write retries the removal.
            Err(e) if !lock(&self.inner).sessions.accounts.contains_key(subject) => {
                log::warn!("could not delete the rejected session: {e}");
                Ended::Removed
            }
            Err(e) => return Err(e),
        };
        if matches!(ended, Ended::Removed) && was_active {
            lock(&self.inner).needs_relogin = true;
        }
        Ok(ended)
    }
}
