//! Where the CLI keeps sessions.
//!
//! The store root is `--store DIR`, else `KEYFOB_STORE`, else `$XDG_STATE_HOME/keyfob`, else
//! `~/.local/state/keyfob` — never the current directory. Under it the core's
//! [`FileStorage`] keeps one private directory per issuer and client (mode 0700, files 0600).
//!
//! Two rules keep the disk clean:
//!
//! - a login runs on a [`LoginStorage`]: its pending login stays in memory, and so does the
//!   provider's metadata until the file store exists; the store is created only when the session
//!   is written, after the login succeeded, so a failed login creates nothing;
//! - the other commands look for an existing store with [`open_existing`], which never leaves a
//!   new directory behind.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use keyfob::{FileStorage, MemoryStorage, SecureStorage, StorageError};

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

/// After a logout: removes the store's directory if no session is left in it. The writers' lock
/// file and the metadata of the provider and of the servers the session exchanged tokens with
/// (public data, kept to spare the next login its requests) do not count, and go with it.
pub fn remove_if_empty(storage: &FileStorage) {
    let Ok(entries) = fs::read_dir(storage.dir()) else {
        return;
    };
    let mut disposable = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // An exchange server's metadata is the core's `metadata` key under its namespace.
        if name != LOCK_FILE && !name.ends_with(METADATA_KEY) {
            return;
        }
        disposable.push(entry.path());
    }
    for file in disposable {
        let _ = fs::remove_file(file);
    }
    let _ = fs::remove_dir(storage.dir());
}

/// The file store's writers' lock file (see `keyfob::FileStorage`).
const LOCK_FILE: &str = ".lock";
/// The core's storage key (hence file name) of the provider's metadata.
const METADATA_KEY: &str = "metadata";

/// The store a login runs on. The pending login stays in memory: it never touches the disk.
/// The session record goes to the file store of `issuer` and `client_id` under `root` (where
/// other accounts, and other processes, may already keep theirs: the core merges the new
/// account into the record). That store is created only when the core first writes the session,
/// i.e. once the login succeeded, so a failed login leaves no new file or directory. The
/// provider's metadata, which the core writes as the login starts, waits in memory until then
/// (unless the store exists already).
pub struct LoginStorage {
    root: PathBuf,
    issuer: String,
    client_id: String,
    /// The pending login, and the metadata while the file store does not exist.
    held: MemoryStorage,
    files: Mutex<Option<FileStorage>>,
}

impl LoginStorage {
    /// The store of a login for `issuer` and `client_id` under `root`.
    pub fn new(root: &Path, issuer: &str, client_id: &str) -> Self {
        LoginStorage {
            root: root.to_path_buf(),
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            held: MemoryStorage::new(),
            files: Mutex::new(None),
        }
    }

    /// The file store, if it exists; creates nothing.
    pub fn existing(&self) -> Result<Option<FileStorage>, StorageError> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        if files.is_none() {
            *files = FileStorage::open_existing(&self.root, &self.issuer, &self.client_id)?;
        }
        Ok(files.clone())
    }

    /// The file store, created (with the directories above it) if missing. When `write` then
    /// fails, what was created for it is removed again.
    fn writing<T>(
        &self,
        write: impl FnOnce(&FileStorage) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        if let Some(files) = self.existing()? {
            return write(&files);
        }
        // The directories that do not exist yet, deepest first: these are ours to remove.
        let created: Vec<PathBuf> = self
            .root
            .ancestors()
            .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
            .map(Path::to_path_buf)
            .collect();
        let files = FileStorage::new(&self.root, &self.issuer, &self.client_id)?;
        match write(&files) {
            Ok(done) => {
                // The metadata that waited for the store (a cache: a failed write costs requests).
                if let Ok(Some(metadata)) = self.held.load(METADATA_KEY)
                    && files.save(METADATA_KEY, &metadata).is_ok()
                {
                    let _ = self.held.delete(METADATA_KEY);
                }
                *self.files.lock().unwrap_or_else(|p| p.into_inner()) = Some(files);
                Ok(done)
            }
            Err(e) => {
                remove_if_empty(&files);
                for dir in &created {
                    if fs::remove_dir(dir).is_err() {
                        break;
                    }
                }
                Err(e)
            }
        }
    }
}

impl fmt::Debug for LoginStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginStorage")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Whether `key` is the pending login, which stays in memory.
fn is_pending(key: &str) -> bool {
    key == "pending"
}

impl SecureStorage for LoginStorage {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        if is_pending(key) {
            return self.held.load(key);
        }
        match self.existing()? {
            Some(files) => files.load(key),
            None => self.held.load(key),
        }
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        if is_pending(key) {
            return self.held.save(key, value);
        }
        match self.existing()? {
            None if key == METADATA_KEY => self.held.save(key, value),
            _ => self.writing(|files| files.save(key, value)),
        }
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.held.delete(key)?;
        if is_pending(key) {
            return Ok(());
        }
        match self.existing()? {
            Some(files) => files.delete(key),
            None => Ok(()),
        }
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        if is_pending(key) {
            return self.held.compare_and_swap(key, expected, new);
        }
        self.writing(|files| files.compare_and_swap(key, expected, new))
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

        FileStorage::new(&root, "https://a.example", "app")
            .unwrap()
            .save("session", b"s")
            .unwrap();
        let found = open_existing(&root, "https://a.example", "app")
            .unwrap()
            .unwrap();
        assert_eq!(found.load("session").unwrap().as_deref(), Some(&b"s"[..]));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_login_keeps_its_pending_login_in_memory_and_creates_the_store_on_the_session_write() {
        let root = temp_dir("login").join("deep").join("keyfob");
        let login = LoginStorage::new(&root, "https://a.example", "app");
        login.save("pending", b"p").unwrap();
        login.save("metadata", b"m").unwrap();
        assert_eq!(login.load("pending").unwrap().as_deref(), Some(&b"p"[..]));
        assert_eq!(login.load("metadata").unwrap().as_deref(), Some(&b"m"[..]));
        assert_eq!(login.load("session").unwrap(), None);
        assert!(
            !root.exists(),
            "nothing on disk before the session is written"
        );
        assert!(
            login
                .compare_and_swap("session", None, Some(b"one"))
                .unwrap()
        );
        let files = open_existing(&root, "https://a.example", "app")
            .unwrap()
            .unwrap();
        assert_eq!(files.load("session").unwrap().as_deref(), Some(&b"one"[..]));
        assert_eq!(files.load("pending").unwrap(), None);
        // The metadata followed the session into the store; from now on it is written there.
        assert_eq!(files.load("metadata").unwrap().as_deref(), Some(&b"m"[..]));
        login.save("metadata", b"m2").unwrap();
        assert_eq!(files.load("metadata").unwrap().as_deref(), Some(&b"m2"[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&files.dir().join("session")), 0o600);
            assert_eq!(mode(files.dir()), 0o700);
        }
        // What another process stored meanwhile is what the next write must expect.
        files.save("session", b"sibling").unwrap();
        assert!(
            !login
                .compare_and_swap("session", Some(b"one"), Some(b"two"))
                .unwrap()
        );
        files.delete("session").unwrap();
        // What a token exchange (`keyfob exchange`) left: its server's metadata.
        files.save("x0123456789abcdef-metadata", b"m").unwrap();
        files.save("x0123456789abcdef-session", b"s").unwrap();
        remove_if_empty(&files);
        assert!(files.dir().exists(), "a session keeps the store");
        files.delete("x0123456789abcdef-session").unwrap();
        remove_if_empty(&files);
        assert!(
            !files.dir().exists(),
            "the lock file and the metadata alone do not keep the store"
        );
        fs::remove_dir_all(root.parent().unwrap().parent().unwrap()).unwrap();
    }

    #[test]
    fn a_failed_session_write_leaves_no_new_directory() {
        let base = temp_dir("fail");
        fs::create_dir_all(&base).unwrap();
        let root = base.join("a").join("b");
        let login = LoginStorage::new(&root, "https://a.example", "app");
        // An invalid key makes the file store refuse the write after creating its directory.
        assert!(login.save("../escape", b"x").is_err());
        assert_eq!(
            fs::read_dir(&base).unwrap().count(),
            0,
            "left a directory behind"
        );
        fs::remove_dir_all(&base).unwrap();
    }
}
