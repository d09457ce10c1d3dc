//! Where the session lives between app launches: the [`SecureStorage`] trait and two stores.
//!
//! On iOS the Keychain and on Android a Keystore-backed store implement the trait (or the app
//! passes its own). [`MemoryStorage`] serves tests and apps that want no persistence;
//! [`FileStorage`] serves the CLI and desktop use.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::sync::lock;

/// Why a storage operation failed. "Nothing stored" is not an error: `load` returns `Ok(None)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum StorageErrorKind {
    /// The store cannot be used right now (device locked, protected data not yet available after
    /// a reboot or during iOS prewarming). Try again later; the session is not gone.
    Unavailable,
    /// The key protecting the data is gone (Android Keystore keys die when the lock screen
    /// changes). The stored session cannot be read again: the user must sign in.
    KeyInvalidated,
    /// The stored bytes cannot be decoded.
    Corrupt,
    /// Any other failure (disk full, I/O error, permission denied).
    Failed,
}

/// A storage failure, with a message for developers (never containing the stored data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// What kind of failure.
    pub kind: StorageErrorKind,
    /// A short description.
    pub message: String,
}

impl StorageError {
    /// A storage error of `kind`.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for StorageError {}

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

/// A store of one file per key in a directory private to one issuer and client: directory mode
/// 0700, files 0600, each write to a temporary file, fsynced, then renamed over the old one.
///
/// The data is protected by file permissions only (no encryption): for the CLI and desktop use,
/// where the user's account is the trust boundary. Mobile apps use the Keychain / Keystore.
#[derive(Debug, Clone)]
pub struct FileStorage {
    dir: PathBuf,
}

impl FileStorage {
    /// The store for `issuer` and `client_id` under `root` (created if missing). Each
    /// issuer/client pair gets its own subdirectory, named by a hash of the two.
    pub fn new(
        root: impl AsRef<Path>,
        issuer: &str,
        client_id: &str,
    ) -> Result<Self, StorageError> {
        let dir = Self::dir_for(root.as_ref(), issuer, client_id);
        create_private_dir(&dir)?;
        Ok(FileStorage { dir })
    }

    /// The store for `issuer` and `client_id` under `root` if it exists; creates nothing.
    pub fn open_existing(
        root: impl AsRef<Path>,
        issuer: &str,
        client_id: &str,
    ) -> Result<Option<Self>, StorageError> {
        let dir = Self::dir_for(root.as_ref(), issuer, client_id);
        match fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Some(FileStorage { dir })),
            Ok(_) => Err(StorageError::new(
                StorageErrorKind::Failed,
                "the storage path is not a directory",
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("cannot open the storage directory", e)),
        }
    }

    fn dir_for(root: &Path, issuer: &str, client_id: &str) -> PathBuf {
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{issuer}\n{client_id}").as_bytes(),
        );
        let name: String = digest.as_ref()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        root.join(name)
    }

    /// The directory holding this store's files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        check_key(key)?;
        Ok(self.dir.join(key))
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

fn io_error(what: &str, e: std::io::Error) -> StorageError {
    StorageError::new(StorageErrorKind::Failed, format!("{what}: {e}"))
}

fn create_private_dir(dir: &Path) -> Result<(), StorageError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| io_error("cannot create the storage directory", e))?;
    // An existing directory keeps its mode: tighten it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_error("cannot restrict the storage directory", e))?;
    }
    Ok(())
}

impl SecureStorage for FileStorage {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match fs::read(self.path(key)?) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("cannot read the stored session", e)),
        }
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let path = self.path(key)?;
        let tmp = self.dir.join(format!(".{key}.tmp"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = || -> std::io::Result<()> {
            let mut file = options.open(&tmp)?;
            file.write_all(value)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            // Make the rename itself durable.
            #[cfg(unix)]
            fs::File::open(&self.dir)?.sync_all()?;
            Ok(())
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error("cannot write the session", e)
        })
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        match fs::remove_file(self.path(key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("cannot delete the stored session", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("keyfob-storage-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn round_trip(store: &dyn SecureStorage) {
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
    fn file_store_round_trip_is_private_and_per_client() {
        let root = temp_root("rt");
        let a = FileStorage::new(&root, "https://a.example", "app").unwrap();
        round_trip(&a);
        assert_eq!(
            FileStorage::open_existing(&root, "https://a.example", "app")
                .unwrap()
                .unwrap()
                .dir(),
            a.dir()
        );
        assert!(
            FileStorage::open_existing(&root, "https://a.example", "other-app")
                .unwrap()
                .is_none()
        );
        let b = FileStorage::new(&root, "https://a.example", "other-app").unwrap();
        assert_ne!(a.dir(), b.dir());
        a.save("session", b"x").unwrap();
        assert_eq!(b.load("session").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file_mode = fs::metadata(a.dir().join("session"))
                .unwrap()
                .permissions()
                .mode();
            let dir_mode = fs::metadata(a.dir()).unwrap().permissions().mode();
            assert_eq!((file_mode & 0o777, dir_mode & 0o777), (0o600, 0o700));
        }
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(a.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("session")]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn file_store_rejects_path_like_keys() {
        let root = temp_root("keys");
        let s = FileStorage::new(&root, "https://a.example", "app").unwrap();
        for key in ["../x", "a/b", "", ".hidden"] {
            assert!(s.save(key, b"x").is_err(), "{key}");
        }
        fs::remove_dir_all(&root).unwrap();
    }
}
