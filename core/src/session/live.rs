//! The live session: tokens and pending login in memory, mirrored to [`SecureStorage`].
//!
//! Every change bumps a generation number. Writers that worked on an older generation (a refresh
//! that raced a logout or a new sign-in) see that and back off, and storage writes are
//! serialised so a stale write can never land after a newer one.

use std::sync::{Arc, Mutex};

use crate::error::StorageErrorKind;
use crate::error::{Error, ErrorKind, Result};
use crate::oidc::authorize::PendingAuthorization;
use crate::session::record::{self, PENDING_KEY, SESSION_KEY};
use crate::session::state::SessionState;
use crate::session::tokens::Tokens;
use crate::storage::SecureStorage;
use crate::sync::lock;

#[derive(Default)]
struct Inner {
    /// Whether the stored session was read.
    restored: bool,
    tokens: Option<Tokens>,
    /// Bumped whenever `tokens` changes or the session is cleared.
    generation: u64,
    /// `tokens` are newer than what storage holds (a write failed or is under way).
    unsaved: bool,
    needs_relogin: bool,
    pending: Option<PendingAuthorization>,
    /// A restore failure that ended the stored session (corrupt, key invalidated), reported
    /// once by the next call that asks for the session.
    restore_error: Option<Error>,
    /// Storage still holds a session that was ended (its delete failed): retried before the
    /// session is next used, so it cannot come back at the next launch.
    stale_in_storage: bool,
}

pub(crate) struct LiveSession {
    storage: Arc<dyn SecureStorage>,
    inner: Mutex<Inner>,
    /// Held around every storage write or delete of the session.
    write_lock: Mutex<()>,
    /// Held while the pending login is set or consumed (memory and storage together).
    pending_lock: Mutex<()>,
}

fn not_signed_in() -> Error {
    Error::new(ErrorKind::NotSignedIn, "not signed in")
}

pub(crate) fn relogin_required() -> Error {
    Error::new(
        ErrorKind::ReLoginRequired,
        "the provider rejected the refresh token; the user must sign in again",
    )
}

fn no_pending_login() -> Error {
    Error::new(
        ErrorKind::NoPendingLogin,
        "no login is pending (none was started, or its callback was already handled)",
    )
}

impl LiveSession {
    pub fn new(storage: Arc<dyn SecureStorage>) -> Self {
        LiveSession {
            storage,
            inner: Mutex::new(Inner::default()),
            write_lock: Mutex::new(()),
            pending_lock: Mutex::new(()),
        }
    }

    /// Reads the stored session unless already done. Only failures worth retrying (storage
    /// unavailable or failing) are returned, and leave the session unrestored; a corrupt or
    /// undecryptable session ends it and is kept for [`LiveSession::take_restore_error`].
    pub fn ensure_restored(&self) -> Result<()> {
        if lock(&self.inner).restored {
            return Ok(());
        }
        let _writing = lock(&self.write_lock);
        let loaded = self.storage.load(SESSION_KEY);
        // A login started before the app was killed: show it as pending (it is consumed by
        // `take_pending`, which reads storage itself; an unreadable one is left to that path).
        let pending = match self.storage.load(PENDING_KEY) {
            Ok(Some(bytes)) => record::decode_pending(&bytes).ok(),
            _ => None,
        };
        let mut inner = lock(&self.inner);
        if inner.restored {
            return Ok(());
        }
        if inner.pending.is_none() {
            inner.pending = pending;
        }
        match loaded {
            Ok(None) => {}
            Ok(Some(bytes)) => match record::decode_tokens(&bytes) {
                Ok(tokens) => {
                    inner.tokens = Some(tokens);
                    inner.generation += 1;
                }
                Err(e) => {
                    log::warn!("stored session is unreadable: {e}");
                    inner.restore_error = Some(e.into());
                }
            },
            Err(e)
                if matches!(
                    e.kind,
                    StorageErrorKind::Unavailable | StorageErrorKind::Failed
                ) =>
            {
                return Err(e.into());
            }
            Err(e) => {
                inner.needs_relogin = e.kind == StorageErrorKind::KeyInvalidated;
                inner.restore_error = Some(e.into());
            }
        }
        inner.restored = true;
        Ok(())
    }

    /// Restores, then reports (once) a restore failure that ended the stored session.
    pub fn restore(&self) -> Result<()> {
        self.ensure_restored()?;
        match lock(&self.inner).restore_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub fn state(&self) -> SessionState {
        if self.ensure_restored().is_err() {
            return SessionState::StorageUnavailable;
        }
        let inner = lock(&self.inner);
        if inner.tokens.is_some() {
            SessionState::SignedIn
        } else if inner.pending.is_some() {
            SessionState::LoginPending
        } else if inner.needs_relogin {
            SessionState::NeedsReLogin
        } else {
            SessionState::SignedOut
        }
    }

    /// The current tokens and their generation, once restored and persisted.
    pub fn current(&self) -> Result<(Tokens, u64)> {
        self.restore()?;
        self.delete_stale()?;
        self.persist()?;
        let inner = lock(&self.inner);
        match &inner.tokens {
            Some(t) => Ok((t.clone(), inner.generation)),
            None if inner.needs_relogin => Err(relogin_required()),
            None => Err(not_signed_in()),
        }
    }

    /// The hot path: the access token alone if the session is restored and saved, nothing is
    /// left to report or clean up, and the token is valid `margin` seconds from `now`. One lock,
    /// one string copy; `None` means "take the full path".
    pub fn fresh_access_token(&self, now: i64, margin: i64) -> Option<crate::secret::SecretString> {
        let inner = lock(&self.inner);
        if !inner.restored
            || inner.unsaved
            || inner.stale_in_storage
            || inner.restore_error.is_some()
        {
            return None;
        }
        let tokens = inner.tokens.as_ref()?;
        tokens
            .is_fresh(now, margin)
            .then(|| tokens.access_token.clone())
    }

    /// The tokens in memory (possibly not yet persisted, when a write failed).
    pub fn tokens(&self) -> Option<Tokens> {
        let _ = self.ensure_restored();
        lock(&self.inner).tokens.clone()
    }

    /// Makes `tokens` current in memory — only if the generation is still `expected` (when
    /// given). Returns the new generation, or `None` when the session moved on meanwhile.
    /// Call [`LiveSession::persist`] next.
    pub fn replace(&self, expected: Option<u64>, tokens: Tokens) -> Option<u64> {
        let mut inner = lock(&self.inner);
        if expected.is_some_and(|g| g != inner.generation) {
            return None;
        }
        inner.tokens = Some(tokens);
        inner.generation += 1;
        inner.unsaved = true;
        inner.restored = true;
        inner.needs_relogin = false;
        inner.restore_error = None;
        Some(inner.generation)
    }

    /// Retries deleting an ended session that is still in storage.
    fn delete_stale(&self) -> Result<()> {
        let _writing = lock(&self.write_lock);
        let stale = {
            let inner = lock(&self.inner);
            inner.stale_in_storage && inner.tokens.is_none()
        };
        if stale {
            // Storage I/O without the session lock, which `fresh_access_token` takes.
            self.storage.delete(SESSION_KEY)?;
        }
        lock(&self.inner).stale_in_storage = false;
        Ok(())
    }

    /// Writes the current tokens if they are not yet in storage. Writes are serialised and
    /// always write the newest tokens, so an older write can never land after a newer one.
    pub fn persist(&self) -> Result<()> {
        let _writing = lock(&self.write_lock);
        let (bytes, generation) = {
            let inner = lock(&self.inner);
            match (&inner.tokens, inner.unsaved) {
                (Some(t), true) => (record::encode_tokens(t), inner.generation),
                _ => return Ok(()),
            }
        };
        self.storage.save(SESSION_KEY, &bytes)?;
        let mut inner = lock(&self.inner);
        // The write replaced whatever ended session was still stored.
        inner.stale_in_storage = false;
        if inner.generation == generation {
            inner.unsaved = false;
        }
        Ok(())
    }

    /// Ends the session (memory, then storage) if its generation is still `expected` (when
    /// given). Returns the tokens it held, or `None` if there were none or the session moved
    /// on; the storage result is returned separately so that memory is cleared regardless.
    pub fn clear(
        &self,
        expected: Option<u64>,
        needs_relogin: bool,
    ) -> (Option<Tokens>, Result<()>) {
        let _writing = lock(&self.write_lock);
        let tokens = {
            let mut inner = lock(&self.inner);
            if expected.is_some_and(|g| g != inner.generation) {
                return (None, Ok(()));
            }
            inner.generation += 1;
            inner.unsaved = false;
            inner.needs_relogin = needs_relogin;
            if expected.is_none() {
                inner.pending = None;
            }
            inner.tokens.take()
        };
        let mut deleted = self.storage.delete(SESSION_KEY);
        lock(&self.inner).stale_in_storage = deleted.is_err();
        if expected.is_none() {
            deleted = deleted.and(self.storage.delete(PENDING_KEY));
        }
        (tokens, deleted.map_err(Into::into))
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
