//! Where the CLI keeps sessions.
//!
//! The store root is `--store DIR`, else `KEYFOB_STORE`, else `$XDG_STATE_HOME/keyfob`, else
//! `~/.local/state/keyfob` — never the current directory. Under it the core's
//! [`FileStorage`] keeps one private directory per issuer and client (mode 0700, files 0600).
//!
//! Two rules keep the disk clean:
//!
//! - a login runs on a [`StagedStorage`] in memory and [`persist`] copies what it left (the
//!   session) to the file store only after it succeeded, so a failed login creates nothing;
//! - the other commands look for an existing store with [`open_existing`], which never leaves a
//!   new directory behind.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use keyfob::{FileStorage, SecureStorage, StorageError};

use crate::failure::Failure;

/// The name of the store directory under `$XDG_STATE_HOME` or `~/.local/state`.
const APP_DIR: &str = "keyfob";

/// The store root: `explicit` (`--store` / `KEYFOB_STORE`), else `$XDG_STATE_HOME/keyfob`,
/// else `$HOME/.local/state/keyfob`. `var` reads an environment variable.
///
/// Relative `XDG_STATE_HOME` and `HOME` values are ignored (the XDG Base Directory
/// specification says so, and a relative one would put the store in the current directory); an
/// explicit relative path is made absolute.
pub fn resolve_root(
    explicit: Option<&Path>,
    var: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, Failure> {
    if let Some(dir) = explicit {
        if dir.as_os_str().is_empty() {
            return Err(Failure::usage_kind("Store", "--store must not be empty"));
        }
        return std::path::absolute(dir).map_err(|e| {
            Failure::usage_kind(
                "Store",
                format!("cannot resolve --store {}: {e}", dir.display()),
            )
        });
    }
    let absolute = |name: &str| var(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(state) = absolute("XDG_STATE_HOME") {
        return Ok(state.join(APP_DIR));
    }
    if let Some(home) = absolute("HOME") {
        return Ok(home.join(".local").join("state").join(APP_DIR));
    }
    Err(Failure::usage_kind(
        "Store",
        "cannot tell where to keep the session: set --store, KEYFOB_STORE, XDG_STATE_HOME or HOME",
    ))
}

/// The root from the real environment.
pub fn root_from_env(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    resolve_root(explicit, |name| std::env::var_os(name))
}

/// The file store for `issuer` and `client_id` under `root` if it exists, `None` otherwise.
/// Creates nothing.
pub fn open_existing(
    root: &Path,
    issuer: &str,
    client_id: &str,
) -> Result<Option<FileStorage>, Failure> {
    Ok(FileStorage::open_existing(root, issuer, client_id)?)
}

/// Creates the file store for `issuer` and `client_id` under `root` and copies every entry of
/// `staged` into it. On failure it removes what it wrote and the directories it created, so a
/// failed login leaves no new file.
pub fn persist(
    root: &Path,
    issuer: &str,
    client_id: &str,
    staged: &StagedStorage,
) -> Result<FileStorage, Failure> {
    // The directories that do not exist yet, deepest first: these are ours to remove.
    let created: Vec<PathBuf> = root
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
        .map(Path::to_path_buf)
        .collect();
    let storage = match FileStorage::new(root, issuer, client_id) {
        Ok(storage) => storage,
        Err(e) => {
            remove_empty_dirs(&created);
            return Err(e.into());
        }
    };
    let store_is_new = !created.is_empty() || storage_was_empty(&storage);
    let mut written: Vec<String> = Vec::new();
    for (key, value) in staged.entries() {
        if let Err(e) = storage.save(&key, &value) {
            for key in &written {
                let _ = storage.delete(key);
            }
            if store_is_new {
                let _ = fs::remove_dir(storage.dir());
            }
            remove_empty_dirs(&created);
            return Err(e.into());
        }
        written.push(key);
    }
    Ok(storage)
}

fn storage_was_empty(storage: &FileStorage) -> bool {
    fs::read_dir(storage.dir()).is_ok_and(|mut entries| entries.next().is_none())
}

fn remove_empty_dirs(deepest_first: &[PathBuf]) {
    for dir in deepest_first {
        if fs::remove_dir(dir).is_err() {
            break;
        }
    }
}

/// After logout: removes the store's directory if nothing is left in it.
pub fn remove_if_empty(storage: &FileStorage) {
    let _ = fs::remove_dir(storage.dir());
}

/// A store in memory that can list what it holds: a login runs on it, and [`persist`] copies
/// its entries to the file store once the login succeeded. (The core's `MemoryStorage` cannot
/// list its entries, and which keys the core writes is its own business.)
#[derive(Default)]
pub struct StagedStorage {
    values: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl StagedStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key and value, in key order.
    pub fn entries(&self) -> Vec<(String, Vec<u8>)> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for StagedStorage {
    // The values are a session: show the keys only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StagedStorage")
            .field("keys", &self.lock().keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SecureStorage for StagedStorage {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().get(key).cloned())
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.lock().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.lock().remove(key);
        Ok(())
    }
}

/// A store that reads `inner` but keeps every write and deletion in memory: the session found
/// there before a new login can be loaded and then signed out (its refresh token revoked)
/// without touching the files, which by then hold the new session.
pub struct Detached {
    inner: FileStorage,
    /// Keys written (`Some`) or deleted (`None`) since, which hide `inner`'s.
    changed: Mutex<BTreeMap<String, Option<Vec<u8>>>>,
}

impl Detached {
    /// Reads `inner`; never writes to it.
    pub fn new(inner: FileStorage) -> Self {
        Detached {
            inner,
            changed: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<Vec<u8>>>> {
        self.changed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl fmt::Debug for Detached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detached")
            .field("dir", &self.inner.dir())
            .finish_non_exhaustive()
    }
}

impl SecureStorage for Detached {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        match self.lock().get(key) {
            Some(changed) => Ok(changed.clone()),
            None => self.inner.load(key),
        }
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.lock().insert(key.to_owned(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.lock().insert(key.to_owned(), None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("keyfob-cli-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn root_prefers_explicit_then_xdg_state_home_then_home() {
        let vars = [("XDG_STATE_HOME", "/x/state"), ("HOME", "/home/u")];
        assert_eq!(
            resolve_root(Some(Path::new("/s")), env(&vars)).unwrap(),
            PathBuf::from("/s")
        );
        assert_eq!(
            resolve_root(None, env(&vars)).unwrap(),
            PathBuf::from("/x/state/keyfob")
        );
        assert_eq!(
            resolve_root(None, env(&[("HOME", "/home/u")])).unwrap(),
            PathBuf::from("/home/u/.local/state/keyfob")
        );
        // Relative or empty values would mean the current directory: ignored.
        assert_eq!(
            resolve_root(None, env(&[("XDG_STATE_HOME", "rel"), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.local/state/keyfob")
        );
        assert_eq!(
            resolve_root(None, env(&[("XDG_STATE_HOME", ""), ("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.local/state/keyfob")
        );
        let e = resolve_root(None, env(&[("HOME", "relative")])).unwrap_err();
        assert_eq!((e.kind.as_str(), e.exit), ("Store", 2));
        assert!(resolve_root(Some(Path::new("")), env(&vars)).is_err());
        let relative = resolve_root(Some(Path::new("sessions")), env(&vars)).unwrap();
        assert!(relative.is_absolute() && relative.ends_with("sessions"));
    }

    #[test]
    fn open_existing_creates_nothing() {
        let root = temp_dir("open");
        assert!(
            open_existing(&root, "https://a.example", "app")
                .unwrap()
                .is_none()
        );
        assert!(!root.exists());
        fs::create_dir_all(&root).unwrap();
        assert!(
            open_existing(&root, "https://a.example", "app")
                .unwrap()
                .is_none()
        );
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0);

        let staged = StagedStorage::new();
        staged.save("session", b"s").unwrap();
        persist(&root, "https://a.example", "app", &staged).unwrap();
        let found = open_existing(&root, "https://a.example", "app")
            .unwrap()
            .unwrap();
        assert_eq!(found.load("session").unwrap().as_deref(), Some(&b"s"[..]));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn persist_copies_every_staged_entry_into_private_files() {
        let root = temp_dir("persist").join("deep").join("keyfob");
        let staged = StagedStorage::new();
        staged.save("session", b"one").unwrap();
        staged.save("other", b"two").unwrap();
        staged.save("gone", b"x").unwrap();
        staged.delete("gone").unwrap();
        assert_eq!(
            format!("{staged:?}"),
            r#"StagedStorage { keys: ["other", "session"] }"#
        );
        let storage = persist(&root, "https://a.example", "app", &staged).unwrap();
        assert_eq!(
            storage.load("session").unwrap().as_deref(),
            Some(&b"one"[..])
        );
        assert_eq!(storage.load("other").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!(storage.load("gone").unwrap(), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&storage.dir().join("session")), 0o600);
            assert_eq!(mode(storage.dir()), 0o700);
        }
        fs::remove_dir_all(root.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn detached_reads_the_files_and_never_writes_them() {
        let root = temp_dir("detached");
        let files = FileStorage::new(&root, "https://op.example", "app").unwrap();
        files.save("session", b"old").unwrap();
        let detached = Detached::new(
            FileStorage::open_existing(&root, "https://op.example", "app")
                .unwrap()
                .unwrap(),
        );
        assert_eq!(
            detached.load("session").unwrap().as_deref(),
            Some(&b"old"[..])
        );
        assert_eq!(detached.load("pending").unwrap(), None);
        // The files change (a new login); the detached store's deletions do not reach them.
        files.save("session", b"new").unwrap();
        detached.delete("session").unwrap();
        detached.save("pending", b"p").unwrap();
        assert_eq!(detached.load("session").unwrap(), None);
        assert_eq!(
            detached.load("pending").unwrap().as_deref(),
            Some(&b"p"[..])
        );
        assert_eq!(files.load("session").unwrap().as_deref(), Some(&b"new"[..]));
        assert_eq!(files.load("pending").unwrap(), None);
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_failed_persist_leaves_no_new_directory() {
        let base = temp_dir("fail");
        fs::create_dir_all(&base).unwrap();
        let root = base.join("a").join("b");
        let staged = StagedStorage::new();
        // An invalid key makes the file store refuse the write after creating its directory.
        staged.save("../escape", b"x").unwrap();
        assert!(persist(&root, "https://a.example", "app", &staged).is_err());
        assert_eq!(
            fs::read_dir(&base).unwrap().count(),
            0,
            "left a directory behind"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
