//! The sessions of one client: every signed-in account, which one is active, and who is
//! refreshing which (the refresh lease that processes sharing a store coordinate with).

use crate::oidc::id_token::IdTokenClaims;
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

/// A few values keyed by subject (the ID token's `sub`), in subject order: a sorted vector.
///
/// A client holds a handful of accounts, so a vector is as quick as a `BTreeMap`, and it keeps
/// the mobile library smaller: each `BTreeMap` value type brings its own copy of the tree's
/// insert, remove and rebalancing code (issue 9).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BySubject<V>(Vec<(String, V)>);

impl<V> Default for BySubject<V> {
    fn default() -> Self {
        BySubject(Vec::new())
    }
}

impl<V> BySubject<V> {
    /// Where `subject` is, or would be inserted.
    fn find(&self, subject: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(s, _)| s.as_str().cmp(subject))
    }

    pub fn get(&self, subject: &str) -> Option<&V> {
        let i = self.find(subject).ok()?;
        Some(&self.0[i].1)
    }

    pub fn get_mut(&mut self, subject: &str) -> Option<&mut V> {
        let i = self.find(subject).ok()?;
        Some(&mut self.0[i].1)
    }

    pub fn contains_key(&self, subject: &str) -> bool {
        self.find(subject).is_ok()
    }

    /// Sets `subject`'s value; returns the one it replaces.
    pub fn insert(&mut self, subject: String, value: V) -> Option<V> {
        match self.find(&subject) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (subject, value));
                None
            }
        }
    }

    /// `subject`'s value, inserted from `make` when there is none.
    pub fn get_or_insert_with(&mut self, subject: &str, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(subject) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (subject.to_string(), make()));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn remove(&mut self, subject: &str) -> Option<V> {
        let i = self.find(subject).ok()?;
        Some(self.0.remove(i).1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Subjects and values, in subject order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(s, v)| (s, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(s, _)| s)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<V> std::ops::Index<&str> for BySubject<V> {
    type Output = V;

    fn index(&self, subject: &str) -> &V {
        self.get(subject).expect("no account of this subject")
    }
}

#[cfg(test)]
mod tests {
    use super::BySubject;

    #[test]
    fn by_subject_keeps_subject_order_and_one_value_per_subject() {
        let mut map = BySubject::default();
        for (subject, value) in [("u2", 2), ("u1", 1), ("u3", 3)] {
            assert_eq!(map.insert(subject.to_string(), value), None);
        }
        assert_eq!(map.insert("u2".into(), 20), Some(2));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["u1", "u2", "u3"]);
        assert_eq!(map.values().copied().collect::<Vec<_>>(), [1, 20, 3]);
        *map.get_mut("u3").unwrap() = 30;
        assert_eq!(map["u3"], 30);
        assert_eq!(*map.get_or_insert_with("u3", || 0), 30);
        assert_eq!(*map.get_or_insert_with("u0", || 5), 5);
        assert_eq!(map.keys().next().map(String::as_str), Some("u0"));
        assert_eq!(map.remove("u1"), Some(1));
        assert_eq!(map.remove("u1"), None);
        assert!(!map.contains_key("u1") && map.get("u9").is_none());
        map.clear();
        assert!(map.is_empty());
    }
}
