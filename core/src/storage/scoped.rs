//! A namespace inside another store: [`ScopedStorage`].

use std::sync::Arc;

use super::{SecureStorage, StorageError};

/// The keys of `inner` that start with a prefix, seen without it: the token sets a client keeps
/// for other authorization servers (RFC 8693 token exchange) live beside its own session, in the
/// same store (the same Keychain access group, directory or app storage, shared with the same
/// processes), each under keys of its own. Compare-and-swap is the inner store's.
pub(crate) struct ScopedStorage {
    inner: Arc<dyn SecureStorage>,
    prefix: String,
}

impl ScopedStorage {
    /// The keys of `inner` that start with `prefix` (itself a valid key part: `[A-Za-z0-9_-]`).
    pub fn new(inner: Arc<dyn SecureStorage>, prefix: impl Into<String>) -> Self {
        ScopedStorage {
            inner,
            prefix: prefix.into(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl SecureStorage for ScopedStorage {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.load(&self.key(key))
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.inner.save(&self.key(key), value)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(&self.key(key))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        self.inner.compare_and_swap(&self.key(key), expected, new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    #[test]
    fn keys_live_under_the_prefix_and_nothing_else_is_touched() {
        let inner = Arc::new(MemoryStorage::new());
        inner.save("session", b"outer").unwrap();
        let scoped = ScopedStorage::new(inner.clone(), "x1-");
        crate::storage::tests::round_trip(&scoped);
        crate::storage::tests::compare_and_swap(&scoped);
        scoped.save("session", b"inner").unwrap();
        assert_eq!(
            inner.load("x1-session").unwrap().as_deref(),
            Some(&b"inner"[..])
        );
        assert_eq!(
            inner.load("session").unwrap().as_deref(),
            Some(&b"outer"[..])
        );
    }
}
