//! [`MemoryStorage`]: a store that keeps nothing beyond the process.

use std::fmt;
use std::sync::Mutex;

use super::{SecureStorage, StorageError};
use crate::sync::lock;

/// A store in memory: nothing survives the process.
#[derive(Default)]
pub struct MemoryStorage {
    /// Keys and values: Keyfob stores two keys, so a list (no hash table, with its hasher and
    /// random seed, in the mobile library: issue 9).
    values: Mutex<Vec<(String, Vec<u8>)>>,
}

/// The value under `key` in `values`.
fn get<'a>(values: &'a [(String, Vec<u8>)], key: &str) -> Option<&'a Vec<u8>> {
    values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Sets (`Some`) or removes (`None`) the value under `key`.
fn put(values: &mut Vec<(String, Vec<u8>)>, key: &str, value: Option<&[u8]>) {
    values.retain(|(k, _)| k != key);
    if let Some(value) = value {
        values.push((key.to_string(), value.to_vec()));
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStorage").finish_non_exhaustive()
    }
}

impl SecureStorage for MemoryStorage {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(get(&lock(&self.values), key).cloned())
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        put(&mut lock(&self.values), key, Some(value));
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        put(&mut lock(&self.values), key, None);
        Ok(())
    }

    /// Atomic: the whole compare and write happen under the store's lock.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let mut values = lock(&self.values);
        if get(&values, key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        put(&mut values, key, new);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trip() {
        crate::storage::tests::round_trip(&MemoryStorage::new());
        crate::storage::tests::compare_and_swap(&MemoryStorage::new());
    }
}
