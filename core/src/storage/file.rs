//! [`FileStorage`]: one private file per key, for the CLI and desktop use.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{SecureStorage, StorageError, StorageErrorKind, check_key};

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
    use crate::storage::tests::round_trip;

    fn temp_root(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("keyfob-storage-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
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
