//! The CLI's DPoP key (`keyfob login --dpop`): a software P-256 key kept as PKCS#8 in the
//! session's store, beside the session record (file mode 0600, like the tokens it protects).
//!
//! One key per issuer and client: every account signed in with `--dpop` there is bound to it.
//! It is made at the first `--dpop` login, read by every command that uses the store, and
//! deleted when the last account signs out.

use keyfob::{SecureStorage, SoftwareDpopKey};

use crate::failure::Failure;

/// The storage key of the DPoP key.
pub const DPOP_KEY: &str = "dpop-key";

/// The DPoP key kept in `storage`, if there is one.
pub fn load(storage: &dyn SecureStorage) -> Result<Option<SoftwareDpopKey>, Failure> {
    let Some(pkcs8) = storage.load(DPOP_KEY).map_err(keyfob::Error::from)? else {
        return Ok(None);
    };
    Ok(Some(
        SoftwareDpopKey::from_pkcs8(&pkcs8).map_err(keyfob::Error::from)?,
    ))
}

/// The key kept in `storage`, or a new one (`true`: new, not stored yet).
pub fn load_or_generate(storage: &dyn SecureStorage) -> Result<(SoftwareDpopKey, bool), Failure> {
    match load(storage)? {
        Some(key) => Ok((key, false)),
        None => Ok((
            SoftwareDpopKey::generate().map_err(keyfob::Error::from)?,
            true,
        )),
    }
}

/// Keeps `key` in `storage`.
pub fn save(storage: &dyn SecureStorage, key: &SoftwareDpopKey) -> Result<(), Failure> {
    storage
        .save(DPOP_KEY, &key.to_pkcs8())
        .map_err(|e| Failure::from(keyfob::Error::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyfob::{DpopKey, MemoryStorage};

    #[test]
    fn the_key_is_made_once_and_read_back() {
        let storage = MemoryStorage::new();
        assert!(load(&storage).unwrap().is_none());
        let (key, new) = load_or_generate(&storage).unwrap();
        assert!(new);
        save(&storage, &key).unwrap();
        let (again, new) = load_or_generate(&storage).unwrap();
        assert!(!new);
        assert_eq!(again.public_key().unwrap(), key.public_key().unwrap());
        storage.save(DPOP_KEY, b"garbage").unwrap();
        assert_eq!(load(&storage).unwrap_err().kind, "Storage");
    }
}
