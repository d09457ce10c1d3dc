//! [`MemoryStorage`]: a store that keeps nothing beyond the process.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use super::{SecureStorage, StorageError};
use crate::sync::lock;

/// A store in memory: nothing survives the process.
#[derive(Default)]
pub struct MemoryStorage {
    values: Mutex<HashMap<String, Vec<u8>>>,
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
        Ok(lock(&self.values).get(key).cloned())
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        lock(&self.values).insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        lock(&self.values).remove(key);
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
        if values.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(value) => values.insert(key.to_string(), value.to_vec()),
            None => values.remove(key),
        };
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
