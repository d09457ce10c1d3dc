//! [`FileStorage`]: one private file per key, for the CLI and desktop use.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{SecureStorage, StorageError, StorageErrorKind, check_key};

/// A store of one file per key in a directory private to one issuer and client: directory mode
/// 0700, files 0600, each write to a temporary file, fsynced, then renamed over the old one.
///
/// Several processes may share it (the CLI run twice at once): writes and
/// [`SecureStorage::compare_and_swap`] hold an exclusive lock on the directory's `.lock` file
/// (`flock`) while they read and write, so a compare-and-swap is atomic across processes. The
/// lock is held for a read and a write, never across a network call, and the kernel releases
/// it if the process dies.
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

    /// The store's writer lock, held until the returned file is dropped.
    fn lock(&self) -> Result<fs::File, StorageError> {
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(self.dir.join(LOCK_FILE))
            .map_err(|e| io_error("cannot open the storage lock", e))?;
        file.lock()
            .map_err(|e| io_error("cannot lock the storage", e))?;
        Ok(file)
    }

    /// Writes `value` under `key` atomically (temporary file, fsync, rename, directory fsync).
    /// The caller holds the lock.
    fn write_locked(&self, path: &Path, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let tmp = self.dir.join(format!(".{key}.tmp"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = || -> std::io::Result<()> {
            let mut file = options.open(&tmp)?;
            file.write_all(value)?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
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

    fn delete_locked(path: &Path) -> Result<(), StorageError> {
        match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("cannot delete the stored session", e)),
        }
    }
}

/// The writers' lock file in the store's directory (not a storage key: keys cannot start
/// with a dot).
const LOCK_FILE: &str = ".lock";

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
        let _lock = self.lock()?;
        self.write_locked(&path, key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        let _lock = self.lock()?;
        Self::delete_locked(&path)
    }

    /// Atomic across processes: the read, the comparison and the write happen under the lock.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        let path = self.path(key)?;
        let _lock = self.lock()?;
        if self.load(key)?.as_deref() != expected {
            return Ok(false);
        }
        match new {
            Some(value) => self.write_locked(&path, key, value)?,
            None => Self::delete_locked(&path)?,
        }
        Ok(true)
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
        // No temporary file is left behind (the writers' lock file stays).
        let mut names: Vec<_> = fs::read_dir(a.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, [LOCK_FILE, "session"].map(std::ffi::OsString::from));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn compare_and_swap_is_atomic_across_store_objects() {
        let root = temp_root("cas");
        let a = FileStorage::new(&root, "https://a.example", "app").unwrap();
        crate::storage::tests::compare_and_swap(&a);
        // Eight writers, each with its own store object (as if in its own process), add one
        // line at a time with compare-and-swap: no increment is lost.
        a.save("counter", b"").unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                let store = FileStorage::new(&root, "https://a.example", "app").unwrap();
                s.spawn(move || {
                    for _ in 0..25 {
                        loop {
                            let old = store.load("counter").unwrap().unwrap();
                            let mut new = old.clone();
                            new.push(b'x');
                            if store
                                .compare_and_swap("counter", Some(&old), Some(&new))
                                .unwrap()
                            {
                                break;
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(a.load("counter").unwrap().unwrap().len(), 8 * 25);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn the_directory_is_named_by_issuer_and_client_as_on_android() {
        // The same vector as the Kotlin StoreNamespaceTest.
        assert_eq!(
            FileStorage::dir_for(Path::new("/r"), "https://a.example", "app"),
            Path::new("/r/5a3cb3b5622a6fe51489220c")
        );
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
