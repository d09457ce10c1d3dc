//! Sign-in, sign-out and switching accounts in the live session, and the pending login.

use super::{LiveSession, no_such_account};
use crate::error::{Error, ErrorKind, Result};
use crate::oidc::authorize::PendingAuthorization;
use crate::session::record::{self, PENDING_KEY};
use crate::session::tokens::Tokens;
use crate::sync::lock;

fn no_pending_login() -> Error {
    Error::new(
        ErrorKind::NoPendingLogin,
        "no login is pending (none was started, or its callback was already handled)",
    )
}

impl LiveSession {
    /// Makes `tokens` the account of their subject and the active one. Unless `keep_others`,
    /// the other accounts are removed and returned (their grants are the caller's to revoke).
    /// Kept in memory if the write fails (the error is returned).
    pub fn sign_in(&self, tokens: Tokens, keep_others: bool) -> Result<Vec<Tokens>> {
        let subject = tokens.claims.subject.clone();
        let result = self.update(true, |sessions| {
            let others = if keep_others {
                Vec::new()
            } else {
                sessions.remove_others(&subject)
            };
            sessions.sign_in(tokens.clone());
            Ok(others.into_iter().map(|a| a.tokens).collect::<Vec<_>>())
        });
        let mut inner = lock(&self.inner);
        inner.needs_relogin = false;
        inner.restore_error = None;
        drop(inner);
        result.map(|(replaced, _)| replaced)
    }

    /// Removes `subject`'s account (the active one when `None`) and, for the active one, the
    /// pending login. Returns the tokens it held (`None`: there was none) and, separately, the
    /// storage result: memory is cleared regardless, and an unwritten removal is retried.
    pub fn sign_out(&self, subject: Option<&str>) -> (Option<Tokens>, Result<()>) {
        if let Err(e) = self.ensure_restored() {
            return (None, Err(e));
        }
        let subject = match subject {
            Some(s) => Some(s.to_string()),
            None => lock(&self.inner).sessions.active.clone(),
        };
        let Some(subject) = subject else {
            // Nothing to sign out of (a session the provider ended included: the app asked to
            // be signed out, so it is); a sign-out whose write failed earlier is retried.
            lock(&self.inner).needs_relogin = false;
            let mut result = self.persist().map(|_| ());
            result = result.and(self.delete_pending());
            return (None, result);
        };
        let was_active = lock(&self.inner).sessions.active.as_ref() == Some(&subject);
        let held = lock(&self.inner)
            .sessions
            .accounts
            .get(&subject)
            .map(|a| a.tokens.clone());
        let removed = self.update(true, |sessions| Ok(sessions.remove(&subject)));
        let mut result = removed.map(|_| ());
        if was_active {
            lock(&self.inner).needs_relogin = false;
            result = result.and(self.delete_pending());
        }
        (held, result)
    }

    /// Forgets the pending login, in memory at once and in storage.
    fn delete_pending(&self) -> Result<()> {
        let _g = lock(&self.pending_lock);
        lock(&self.inner).pending = None;
        Ok(self.storage.delete(PENDING_KEY)?)
    }

    /// Makes `subject`'s account the active one.
    pub fn switch(&self, subject: &str) -> Result<()> {
        self.restore()?;
        self.update(true, |sessions| {
            if !sessions.accounts.contains_key(subject) {
                return Err(no_such_account());
            }
            sessions.active = Some(subject.to_string());
            Ok(())
        })
        .map(|_| ())
    }

    /// Stores a new pending login (storage first, so it survives the app being killed).
    pub fn set_pending(&self, pending: PendingAuthorization) -> Result<()> {
        let _g = lock(&self.pending_lock);
        self.storage
            .save(PENDING_KEY, &record::encode_pending(&pending))?;
        lock(&self.inner).pending = Some(pending);
        Ok(())
    }

    /// Forgets the pending login (storage first, so it cannot come back after a restart).
    /// Returns whether there was one in memory or in storage.
    pub fn cancel_pending(&self) -> Result<bool> {
        let _g = lock(&self.pending_lock);
        let stored = self.storage.load(PENDING_KEY).map(|p| p.is_some());
        self.storage.delete(PENDING_KEY)?;
        let in_memory = lock(&self.inner).pending.take().is_some();
        Ok(in_memory || stored.unwrap_or(false))
    }

    /// Takes the pending login (from memory, or from storage after a restart) if `accept`
    /// approves it; it is then gone from both, so a callback can be redeemed only once.
    /// A rejected pending login stays.
    pub fn take_pending(
        &self,
        accept: impl FnOnce(&PendingAuthorization) -> Result<()>,
    ) -> Result<PendingAuthorization> {
        let _g = lock(&self.pending_lock);
        let in_memory = lock(&self.inner).pending.clone();
        let pending = match in_memory {
            Some(p) => p,
            None => match self.storage.load(PENDING_KEY)? {
                Some(bytes) => record::decode_pending(&bytes)?,
                None => return Err(no_pending_login()),
            },
        };
        accept(&pending)?;
        self.storage.delete(PENDING_KEY)?;
        lock(&self.inner).pending = None;
        Ok(pending)
    }
}
