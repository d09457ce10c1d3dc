//! Where the session lives between app launches: the [`SecureStorage`] trait and its stores.
//!
//! On iOS the Swift layer's Keychain store and on Android the Kotlin layer's Keystore-backed
//! store implement the trait through the FFI (or the app passes its own). [`MemoryStorage`]
//! serves tests and apps that want no persistence; [`FileStorage`] serves the CLI and desktop
//! use.

mod file;
mod memory;

pub use crate::error::{StorageError, StorageErrorKind};
pub use file::FileStorage;
pub use memory::MemoryStorage;

/// A small secure key-value store for the session (a few KB under a few keys).
///
/// Implementations must make `save` atomic: after a failed or interrupted `save`, `load`
/// returns the previous value or the new one, never a mix. Keys are short ASCII names.
///
/// # Sharing a store between processes
///
/// An app's extensions, widgets and background workers may share the session (an iOS Keychain
/// access group, an Android directory, the CLI's file store). Keyfob coordinates them through
/// [`SecureStorage::compare_and_swap`]: every write of the session is "replace what I read",
/// so one process never overwrites another's newer tokens, and one refresh is made for all (see
/// `session::live`). A store that other processes can reach must implement it atomically
/// across processes; the default implementation is atomic only within one process and one
/// store object.
pub trait SecureStorage: Send + Sync {
    /// The value under `key`, or `None` when nothing is stored.
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Removes `key`; removing a missing key succeeds.
    fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Replaces the value under `key` with `new` (`None`: removes it) only if it still is
    /// `expected` (`None`: nothing stored). `Ok(true)`: replaced; `Ok(false)`: the value was not
    /// `expected` (another writer changed it), nothing was written.
    ///
    /// A value the store cannot give back (its key invalidated, corrupt) compares as nothing
    /// stored, as Keyfob saw it, so that a new sign-in can replace it.
    ///
    /// The default loads, compares and saves: atomic only against callers of the same store
    /// object (not even that, unless `save` is). Stores shared between processes override it.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let current = match self.load(key) {
            Ok(current) => current,
            Err(e)
                if matches!(
                    e.kind,
                    StorageErrorKind::KeyInvalidated | StorageErrorKind::Corrupt
                ) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        if current.as_deref() != expected {
            return Ok(false);
        }
        match new {
            Some(value) => self.save(key, value)?,
            None => self.delete(key)?,
        }
        Ok(true)
    }
}

/// A storage key a store accepts: 1 to 64 bytes of `[A-Za-z0-9_-]` (a file or Keychain item
/// name that cannot escape its directory or service).
pub(crate) fn check_key(key: &str) -> Result<(), StorageError> {
    let valid = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(StorageError::new(
            StorageErrorKind::Failed,
            "invalid storage key",
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Save, overwrite, load, delete (twice) and load again: what every store must do.
    pub(crate) fn round_trip(store: &dyn SecureStorage) {
        assert_eq!(store.load("session").unwrap(), None);
        store.save("session", b"one").unwrap();
        store.save("session", b"two").unwrap();
        assert_eq!(store.load("session").unwrap().as_deref(), Some(&b"two"[..]));
        store.delete("session").unwrap();
        store.delete("session").unwrap();
        assert_eq!(store.load("session").unwrap(), None);
    }

    #[test]
    fn memory_store_round_trip() {
        round_trip(&MemoryStorage::new());
    }

    /// Compare-and-swap from nothing, on a match, on a mismatch, and to nothing.
    pub(crate) fn compare_and_swap(store: &dyn SecureStorage) {
        assert!(
            store
                .compare_and_swap("session", None, Some(b"one"))
                .unwrap()
        );
        assert!(
            !store
                .compare_and_swap("session", None, Some(b"two"))
                .unwrap()
        );
        assert!(
            !store
                .compare_and_swap("session", Some(b"two"), Some(b"three"))
                .unwrap()
        );
        assert_eq!(store.load("session").unwrap().as_deref(), Some(&b"one"[..]));
        assert!(
            store
                .compare_and_swap("session", Some(b"one"), Some(b"two"))
                .unwrap()
        );
        assert!(
            !store
                .compare_and_swap("session", Some(b"one"), None)
                .unwrap()
        );
        assert!(
            store
                .compare_and_swap("session", Some(b"two"), None)
                .unwrap()
        );
        assert_eq!(store.load("session").unwrap(), None);
    }

    /// A store with only the three required methods: the default compare-and-swap.
    #[derive(Default)]
    struct Basic(std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>);

    impl SecureStorage for Basic {
        fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
            Ok(self.0.lock().unwrap().get(key).cloned())
        }
        fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
            self.0.lock().unwrap().insert(key.into(), value.into());
            Ok(())
        }
        fn delete(&self, key: &str) -> Result<(), StorageError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
    }

    #[test]
    fn the_default_compare_and_swap_compares_before_it_writes() {
        compare_and_swap(&Basic::default());
    }

    #[test]
    fn keys_are_short_safe_names() {
        for key in ["session", "pending", "a-b_C9", &"k".repeat(64)] {
            assert!(check_key(key).is_ok(), "{key}");
        }
        for key in ["", "../x", "a/b", ".hidden", "a b", &"k".repeat(65)] {
            assert!(check_key(key).is_err(), "{key}");
        }
    }
}
