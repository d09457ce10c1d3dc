//! The sessions of one client: every signed-in account, which one is active, and who is
//! refreshing which (the refresh lease that processes sharing a store coordinate with).

use crate::oidc::id_token::IdTokenClaims;
use crate::session::sorted_map::SortedMap;
use crate::session::tokens::Tokens;

/// Every account signed in with one client, keyed by the ID token's `sub`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sessions {
    /// The account that [`crate::Client::access_token`] and friends use, when there is one.
    pub active: Option<String>,
    pub accounts: BySubject<Account>,
}

/// One signed-in account.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Account {
    pub tokens: Tokens,
    /// Bumped every time the account's tokens change, by any process sharing the store: a
    /// process that sees a higher revision than its own knows a sibling refreshed.
    pub revision: u64,
    /// The process refreshing this account right now, if any.
    pub lease: Option<Lease>,
}

/// "I am refreshing this account until `until`": while a lease is held, other processes wait
/// for its outcome instead of spending the same refresh token (which a provider with rotation
/// and reuse detection would answer by revoking the whole session). A process that dies holding
/// it blocks the others until `until` at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    /// A random id of the client object (one per process and client) that holds it.
    pub holder: String,
    /// When it lapses, in seconds since the epoch (device clock).
    pub until: i64,
}

impl Sessions {
    /// The active account, if there is one.
    pub fn active(&self) -> Option<&Account> {
        self.accounts.get(self.active.as_ref()?)
    }

    /// Makes `tokens` the account of its subject (a new revision) and the active one. Returns
    /// the new revision.
    pub fn sign_in(&mut self, tokens: Tokens) -> u64 {
        let subject = tokens.claims.subject.clone();
        let revision = self.accounts.get(&subject).map_or(0, |a| a.revision) + 1;
        self.accounts.insert(
            subject.clone(),
            Account {
                tokens,
                revision,
                lease: None,
            },
        );
        self.active = Some(subject);
        revision
    }

    /// Removes `subject`'s account (no account is active afterwards if it was). Returns it.
    pub fn remove(&mut self, subject: &str) -> Option<Account> {
        if self.active.as_deref() == Some(subject) {
            self.active = None;
        }
        self.accounts.remove(subject)
    }

    /// The accounts other than `subject`'s, removed. For a client that keeps one account.
    pub fn remove_others(&mut self, subject: &str) -> Vec<Account> {
        let others: Vec<String> = self
            .accounts
            .keys()
            .filter(|s| *s != subject)
            .cloned()
            .collect();
        others.iter().filter_map(|s| self.remove(s)).collect()
    }
}

/// What an app sees of one signed-in account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountInfo {
    /// The validated ID token claims (`subject` identifies the account).
    pub claims: IdTokenClaims,
    /// Whether it is the active account.
    pub active: bool,
}

/// Values keyed by subject (the ID token's `sub`), in subject order.
pub(crate) type BySubject<V> = SortedMap<V>;
