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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trip() {
        crate::storage::tests::round_trip(&MemoryStorage::new());
    }
}
