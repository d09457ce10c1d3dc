//! Where the session lives between app launches: the [`SecureStorage`] trait and its stores.
//!
//! On iOS the Keychain ([`KeychainStorage`]) and on Android a Keystore-backed store implement
//! the trait (or the app passes its own). [`MemoryStorage`] serves tests and apps that want no
//! persistence; [`FileStorage`] serves the CLI and desktop use.

mod file;
mod keychain;
mod memory;

pub use crate::error::{StorageError, StorageErrorKind};
pub use file::FileStorage;
pub use keychain::{KeychainOptions, KeychainStorage};
pub use memory::MemoryStorage;

/// A small secure key-value store for the session (a few KB under two keys).
///
/// Implementations must make `save` atomic: after a failed or interrupted `save`, `load`
/// returns the previous value or the new one, never a mix. Keys are short ASCII names.
pub trait SecureStorage: Send + Sync {
    /// The value under `key`, or `None` when nothing is stored.
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Removes `key`; removing a missing key succeeds.
    fn delete(&self, key: &str) -> Result<(), StorageError>;
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
