//! The live session: every account's tokens and the pending login in memory, mirrored to
//! [`SecureStorage`], shared with the other processes that use the same store.
//!
//! # One session for several processes
//!
//! An app's widget, share extension or background worker may run beside it over the same store
//! (an iOS Keychain access group, an Android directory, the CLI run twice). Storage is the
//! truth between them; memory is this process's copy. Three rules keep them in step:
//!
//! 1. **Every write is a compare-and-swap of the whole record** ([`LiveSession::update`]): read
//!    the record, apply one change to it, write it back only if storage still holds what was
//!    read, else start again from the newer record. A process never overwrites a sibling's newer
//!    tokens, an account it added, or its sign-out.
//! 2. **Every read absorbs what siblings did**: an account refreshed elsewhere (a higher
//!    revision), signed out or added, another active account. Memory takes the stored record,
//!    keeps its own unsaved changes on top, and queues the events observers must hear
//!    ([`LiveSession::take_events`]).
//! 3. **One refresh for all** ([`LiveSession::claim_refresh`]): before spending a refresh token a
//!    process re-reads the record. If a sibling already refreshed, it adopts that token with no
//!    request. If a sibling holds the account's refresh lease, it waits for the outcome (or
//!    uses its still-valid token). Otherwise it writes its own lease (`holder`, `until`) with
//!    the compare-and-swap, so exactly one process wins. The lease lapses at `until`, so a
//!    process that dies holding it blocks the others no longer than that.
//!
//! What it costs: nothing on the hot path — a fresh access token is served from memory with no
//! storage I/O ([`LiveSession::fresh_access_token`]). A refresh reads and writes the record
//! twice (lease, result) instead of writing it once. A sibling's sign-out or refresh is noticed
//! at the next call that reads storage (a refresh, a sign-in or sign-out, an account switch,
//! [`crate::Client::reload`]), not while this process serves a fresh token from memory.
//!
//! # Nothing is lost
//!
//! A change that must not be lost (new tokens, a rotated refresh token, a sign-out) stays in
//! memory as *unsaved* when its write fails; memory answers with it and every later write
//! carries it until one succeeds. A refresh's result is guarded by the revision it started
//! from: if a sign-out, a new sign-in or a sibling's refresh replaced the account meanwhile, the
//! result is orphaned (the client revokes its grant) rather than resurrecting an old session.

mod login;
mod refresh;

pub(crate) use refresh::{Claim, Ended};

use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorKind, Result, StorageErrorKind};
use crate::oidc::authorize::PendingAuthorization;
use crate::secret::SecretString;
use crate::session::accounts::{Account, AccountInfo, BySubject, Sessions};
use crate::session::record::{self, Owner, PENDING_KEY, SESSION_KEY};
use crate::session::state::{SessionEvent, SessionState};
use crate::session::tokens::Tokens;
use crate::storage::SecureStorage;
use crate::sync::lock;

/// How many times a write starts again because a sibling wrote first, before giving up.
const MAX_CONFLICTS: usize = 16;

/// A change storage does not have yet (its write failed, or is under way).
#[derive(Debug, Clone)]
enum Unsaved {
    /// Write this account — if the stored one still has `guard` as its revision (`None`: no
    /// condition).
    Put {
        account: Box<Account>,
        guard: Option<u64>,
    },
    /// Remove this account.
    Remove,
}

#[derive(Default)]
struct Inner {
    /// Whether the stored record was read.
    restored: bool,
    /// The record as this process last read or wrote it: the next compare-and-swap's
    /// expectation (`None`: nothing stored).
    stored: Option<Vec<u8>>,
    /// The sessions as this process sees them: the stored ones plus `unsaved`.
    sessions: Sessions,
    /// Per account, what storage does not have yet.
    unsaved: BySubject<Unsaved>,
    /// The active account to write, when storage does not have it yet.
    unsaved_active: Option<Option<String>>,
    /// The active account's refresh token was rejected (until the next sign-in).
    needs_relogin: bool,
    pending: Option<PendingAuthorization>,
    /// A restore failure that ended the stored session (corrupt, key invalidated, another
    /// client's), reported once by the next call that asks for the session.
    restore_error: Option<Error>,
    /// Changes made by other processes, for the client's observers.
    events: Vec<SessionEvent>,
}

impl Inner {
    fn is_saved(&self) -> bool {
        self.unsaved.is_empty() && self.unsaved_active.is_none()
    }

    /// Applies the unsaved changes to `sessions` (a freshly read record). A guarded write
    /// whose account moved on is skipped; the subjects of those are returned.
    fn apply_unsaved(&self, sessions: &mut Sessions) -> Vec<String> {
        let mut lost = Vec::new();
        for (subject, change) in self.unsaved.iter() {
            match change {
                Unsaved::Put { account, guard } => {
                    let current = sessions.accounts.get(subject).map(|a| a.revision);
                    if guard.is_some_and(|g| current != Some(g)) {
                        lost.push(subject.clone());
                    } else {
                        sessions
                            .accounts
                            .insert(subject.clone(), account.as_ref().clone());
                    }
                }
                Unsaved::Remove => {
                    sessions.remove(subject);
                }
            }
        }
        if let Some(active) = &self.unsaved_active {
            sessions.active = active.clone().filter(|a| sessions.accounts.contains_key(a));
        }
        lost
    }

    /// Drops the guarded writes of `lost` subjects; returns their tokens (orphaned grants).
    fn drop_lost(&mut self, lost: Vec<String>) -> Vec<Tokens> {
        lost.into_iter()
            .filter_map(|subject| match self.unsaved.remove(&subject) {
                Some(Unsaved::Put { account, .. }) => Some(account.tokens),
                _ => None,
            })
            .collect()
    }
}

pub(crate) struct LiveSession {
    storage: Arc<dyn SecureStorage>,
    issuer: String,
    client_id: String,
    inner: Mutex<Inner>,
    /// Held around every storage write of the session record (one writer per process).
    write_lock: Mutex<()>,
    /// Held while the pending login is set or consumed (memory and storage together).
    pending_lock: Mutex<()>,
}

/// One change to the sessions, applied by [`LiveSession::update_with`] (again on every retry).
type Change<'a> = &'a mut dyn FnMut(&mut Sessions) -> Result<()>;

fn not_signed_in() -> Error {
    Error::new(ErrorKind::NotSignedIn, "not signed in")
}

fn no_such_account() -> Error {
    Error::new(ErrorKind::NotSignedIn, "no such account is signed in")
}

pub(crate) fn relogin_required() -> Error {
    Error::new(
        ErrorKind::ReLoginRequired,
        "the provider rejected the refresh token; the user must sign in again",
    )
}

/// The events an app's observers hear when the active account went from `before` to `after`
/// through other processes' changes.
fn events_between(before: &Sessions, after: &Sessions) -> Vec<SessionEvent> {
    let (was, is) = (before.active(), after.active());
    match (&before.active, &after.active) {
        (Some(_), None) => vec![SessionEvent::SignedOut],
        (None, Some(_)) => vec![SessionEvent::SignedIn],
        (Some(a), Some(b)) if a != b => vec![SessionEvent::AccountSwitched],
        (Some(_), Some(_)) if was.map(|a| a.revision) < is.map(|a| a.revision) => {
            vec![SessionEvent::Refreshed]
        }
        _ => Vec::new(),
    }
}

impl LiveSession {
    /// The live session of the client for `issuer` and `client_id`, kept in `storage`.
    pub fn new(storage: Arc<dyn SecureStorage>, issuer: &str, client_id: &str) -> Self {
        LiveSession {
            storage,
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            inner: Mutex::new(Inner::default()),
            write_lock: Mutex::new(()),
            pending_lock: Mutex::new(()),
        }
    }

    fn owner(&self) -> Owner<'_> {
        Owner {
            issuer: &self.issuer,
            client_id: &self.client_id,
        }
    }

    /// Reads the record and absorbs it (rule 2). Returns what was read (bytes and sessions). An
    /// unreadable record (corrupt, another client's, a lost key) counts as no session; at the
    /// first read its error is kept for [`LiveSession::restore`] to report once. Only failures
    /// worth retrying (unavailable, failed) are returned. The caller holds `write_lock`.
    fn read(&self) -> Result<(Option<Vec<u8>>, Sessions)> {
        let (bytes, decoded) = match self.storage.load(SESSION_KEY) {
            Ok(None) => (None, Ok(Sessions::default())),
            Ok(Some(b)) => {
                let decoded = record::decode_sessions(&b, self.owner());
                (Some(b), decoded)
            }
            Err(e)
                if matches!(
                    e.kind,
                    StorageErrorKind::Unavailable | StorageErrorKind::Failed
                ) =>
            {
                return Err(e.into());
            }
            // The store cannot give the record back (its key is gone, it is corrupt).
            Err(e) => (None, Err(e)),
        };
        let mut inner = lock(&self.inner);
        let stored = match decoded {
            Ok(sessions) => sessions,
            Err(e) => {
                log::warn!("stored session is unusable: {e}");
                if !inner.restored {
                    inner.needs_relogin = e.kind == StorageErrorKind::KeyInvalidated;
                    inner.restore_error = Some(e.into());
                }
                Sessions::default()
            }
        };
        let mut seen = stored.clone();
        // A guarded write that lost shows the stored account; `update` drops it.
        inner.apply_unsaved(&mut seen);
        if inner.restored {
            let events = events_between(&inner.sessions, &seen);
            inner.events.extend(events);
        }
        inner.sessions = seen;
        inner.stored = bytes.clone();
        inner.restored = true;
        Ok((bytes, stored))
    }

    /// Reads the stored record unless already done. A login started before the app was killed
    /// shows as pending. Only failures worth retrying (storage unavailable or failing) are
    /// returned, and leave the session unrestored.
    pub fn ensure_restored(&self) -> Result<()> {
        if lock(&self.inner).restored {
            return Ok(());
        }
        let _writing = lock(&self.write_lock);
        if lock(&self.inner).restored {
            return Ok(());
        }
        // The pending login is consumed by `take_pending`, which reads storage itself; an
        // unreadable one is left to that path.
        let pending = match self.storage.load(PENDING_KEY) {
            Ok(Some(bytes)) => record::decode_pending(&bytes).ok(),
            _ => None,
        };
        self.read()?;
        let mut inner = lock(&self.inner);
        if inner.pending.is_none() {
            inner.pending = pending;
        }
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

    /// Reads the record again now and absorbs what other processes changed.
    pub fn reload(&self) -> Result<()> {
        let _writing = lock(&self.write_lock);
        self.read().map(|_| ())
    }

    /// The events about other processes' changes absorbed since the last call.
    pub fn take_events(&self) -> Vec<SessionEvent> {
        std::mem::take(&mut lock(&self.inner).events)
    }

    pub fn state(&self) -> SessionState {
        if self.ensure_restored().is_err() {
            return SessionState::StorageUnavailable;
        }
        let inner = lock(&self.inner);
        if inner.sessions.active().is_some() {
            SessionState::SignedIn
        } else if inner.pending.is_some() {
            SessionState::LoginPending
        } else if inner.needs_relogin {
            SessionState::NeedsReLogin
        } else {
            SessionState::SignedOut
        }
    }

    /// The tokens and revision of `subject`'s account (the active one when `None`), once
    /// restored and with every unsaved change written: tokens are not handed out before they
    /// are persisted.
    pub fn account(&self, subject: Option<&str>) -> Result<(String, Tokens, u64)> {
        self.restore()?;
        self.persist()?;
        let inner = lock(&self.inner);
        let subject = match subject {
            Some(s) => s.to_string(),
            None => match &inner.sessions.active {
                Some(s) => s.clone(),
                None if inner.needs_relogin => return Err(relogin_required()),
                None => return Err(not_signed_in()),
            },
        };
        match inner.sessions.accounts.get(&subject) {
            Some(a) => Ok((subject, a.tokens.clone(), a.revision)),
            None => Err(no_such_account()),
        }
    }

    /// The hot path: the active account's access token for `resource` (its own for `None`)
    /// alone if the session is restored and saved, nothing is left to report, and the token is
    /// valid `margin` seconds from `now`. One lock, one string copy, no storage I/O; `None`
    /// means "take the full path".
    pub fn fresh_access_token(
        &self,
        resource: Option<&str>,
        now: i64,
        margin: i64,
    ) -> Option<SecretString> {
        let inner = lock(&self.inner);
        if !inner.restored || !inner.is_saved() || inner.restore_error.is_some() {
            return None;
        }
        let tokens = &inner.sessions.active()?.tokens;
        tokens.fresh_token(resource, now, margin).cloned()
    }

    /// The storage this session is kept in.
    pub fn storage(&self) -> Arc<dyn SecureStorage> {
        self.storage.clone()
    }

    /// The active account's tokens in memory (possibly not yet persisted, when a write failed).
    pub fn tokens(&self) -> Option<Tokens> {
        let _ = self.ensure_restored();
        lock(&self.inner)
            .sessions
            .active()
            .map(|a| a.tokens.clone())
    }

    /// The tokens of `subject`'s account in memory.
    pub fn account_tokens(&self, subject: &str) -> Option<Tokens> {
        let _ = self.ensure_restored();
        let inner = lock(&self.inner);
        inner
            .sessions
            .accounts
            .get(subject)
            .map(|a| a.tokens.clone())
    }

    /// Every signed-in account, as memory has them.
    pub fn accounts(&self) -> Vec<AccountInfo> {
        let _ = self.ensure_restored();
        let inner = lock(&self.inner);
        inner
            .sessions
            .accounts
            .iter()
            .map(|(subject, a)| AccountInfo {
                claims: a.tokens.claims.clone(),
                active: inner.sessions.active.as_ref() == Some(subject),
            })
            .collect()
    }

    /// Rule 1: reads the record, applies this process's unsaved changes and `change`, and
    /// writes the result if storage still holds what was read, starting again on conflict.
    /// Memory then holds what was written. If storage fails and `keep` is set, `change` is
    /// applied to memory and kept as unsaved for the next write; the error is returned either
    /// way. Returns `change`'s result and the guarded unsaved writes dropped as orphans.
    fn update<T>(
        &self,
        keep: bool,
        mut change: impl FnMut(&mut Sessions) -> Result<T>,
    ) -> Result<(T, Vec<Tokens>)> {
        // The loop is written once, not once per caller (`change` is called through a `dyn`
        // reference): the mobile library has one copy of it (issue 9).
        let mut out = None;
        let orphans = self.update_with(keep, &mut |sessions| {
            out = Some(change(sessions)?);
            Ok(())
        })?;
        Ok((
            out.expect("a successful update applied its change"),
            orphans,
        ))
    }

    /// [`LiveSession::update`] for a change whose result the closure keeps.
    fn update_with(&self, keep: bool, change: Change<'_>) -> Result<Vec<Tokens>> {
        let _writing = lock(&self.write_lock);
        let mut orphans = Vec::new();
        for _ in 0..MAX_CONFLICTS {
            let (bytes, stored) = match self.read() {
                Ok(read) => read,
                Err(e) => return Err(self.keep_in_memory(keep, change, e)),
            };
            let mut next = stored.clone();
            {
                let mut inner = lock(&self.inner);
                let lost = inner.apply_unsaved(&mut next);
                let dropped = inner.drop_lost(lost);
                if !dropped.is_empty() {
                    log::warn!("a refresh result lost to a newer change of its account");
                }
                orphans.extend(dropped);
            }
            change(&mut next)?;
            if next == stored {
                // Nothing to write (an unreadable record is left as it is).
                self.settle(next, bytes);
                return Ok(orphans);
            }
            let written = if next == Sessions::default() {
                None
            } else {
                Some(record::encode_sessions(&next, self.owner()))
            };
            match self
                .storage
                .compare_and_swap(SESSION_KEY, bytes.as_deref(), written.as_deref())
            {
                Ok(true) => {
                    self.settle(next, written);
                    return Ok(orphans);
                }
                Ok(false) => log::debug!("the session record changed meanwhile; reading it again"),
                Err(e) => return Err(self.keep_in_memory(keep, change, e.into())),
            }
        }
        Err(Error::from(crate::error::StorageError::new(
            StorageErrorKind::Failed,
            "the stored session kept changing under this write",
        )))
    }

    /// Memory after a successful write: `written` is storage's, nothing is unsaved.
    fn settle(&self, sessions: Sessions, written: Option<Vec<u8>>) {
        let mut inner = lock(&self.inner);
        inner.sessions = sessions;
        inner.stored = written;
        inner.unsaved.clear();
        inner.unsaved_active = None;
    }

    /// After a failed read or write: with `keep`, `change` goes into memory and into the unsaved
    /// changes, so that memory answers with it and the next write carries it.
    fn keep_in_memory(&self, keep: bool, change: Change<'_>, error: Error) -> Error {
        if !keep {
            return error;
        }
        let mut inner = lock(&self.inner);
        let before = inner.sessions.clone();
        let mut after = before.clone();
        if change(&mut after).is_err() {
            return error;
        }
        for subject in before.accounts.keys() {
            if !after.accounts.contains_key(subject) {
                inner.unsaved.insert(subject.clone(), Unsaved::Remove);
            }
        }
        for (subject, account) in after.accounts.iter() {
            if before.accounts.get(subject) != Some(account) {
                let put = Unsaved::Put {
                    account: Box::new(account.clone()),
                    guard: None,
                };
                inner.unsaved.insert(subject.clone(), put);
            }
        }
        if before.active != after.active {
            inner.unsaved_active = Some(after.active.clone());
        }
        inner.sessions = after;
        error
    }

    /// Writes the unsaved changes, if any. Returns the tokens of guarded writes that lost to
    /// a newer change (their grants are orphaned).
    pub fn persist(&self) -> Result<Vec<Tokens>> {
        if lock(&self.inner).is_saved() {
            return Ok(Vec::new());
        }
        self.update_with(true, &mut |_| Ok(()))
    }
}
