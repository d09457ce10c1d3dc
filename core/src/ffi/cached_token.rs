//! The synchronous cached-access-token accessor as a plain C function, for callers to whom a
//! uniffi call is too slow (issue 9: ≤ 2 µs per call).
//!
//! Through uniffi's Kotlin bindings (JNA) `cachedAccessToken()` costs tens of microseconds:
//! each call allocates three JNA `Structure`s for the call status, one for the returned buffer,
//! and makes three native calls (clone the handle, the method, free the buffer), all of which
//! JNA marshals by reflection. [`keyfob_cached_access_token`] takes and returns primitives
//! only, so that JNA's direct mapping passes them straight through: the Kotlin layer calls it
//! with a `byte[]` that the token is copied into.
//!
//! Kotlin never holds a pointer into Rust. It names its client by a handle
//! (`KeyfobClient::token_handle`):
//! an id in a process-wide table of weak references, removed when the client is freed and
//! never reused, so a call with a stale id reports [`CLOSED`] and touches nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};

use crate::client::Client;

/// No cached token: signed out, due for a refresh, or not yet saved. The caller takes the full
/// path (`accessToken()`), as for `None` from `cached_access_token`.
pub const NONE: i32 = -1;
/// The handle names no live client (it was freed, or never existed).
pub const CLOSED: i32 = -2;
/// Invalid arguments or an internal failure; nothing was written.
pub const FAILED: i32 = -3;

/// Live clients by handle. Weak: the table never keeps a client alive. A list: an app has one
/// client or a few, and a `BTreeMap` would bring its own tree code into the mobile library.
static CLIENTS: RwLock<Vec<(u64, Weak<Client>)>> = RwLock::new(Vec::new());
/// The next handle; handles start at 1 and are never reused.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(1);

/// Adds `client` to the table and returns its handle.
pub(super) fn register(client: Weak<Client>) -> u64 {
    let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
    CLIENTS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .push((handle, client));
    handle
}

/// Removes `handle` (when its client is dropped).
pub(super) fn unregister(handle: u64) {
    CLIENTS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(h, _)| *h != handle);
}

/// The live client named by `handle`.
fn lookup(handle: u64) -> Option<Arc<Client>> {
    // The guard is released at the end of this statement, before the caller can drop the last
    // strong reference (whose `Drop` takes the write lock).
    CLIENTS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(h, _)| *h == handle)
        .and_then(|(_, client)| client.upgrade())
}

/// Copies the access token of the client named by `handle` into `buf`, if it holds one in memory
/// that is saved and not due for a refresh — the same token and the same conditions as
/// [`Client::cached_access_token`] (no I/O, no waiting beyond the session lock).
///
/// Returns:
/// - `n >= 0`: the token is `n` bytes of UTF-8. If `n <= cap` it was written to `buf[..n]`;
///   otherwise nothing was written: call again with a buffer of at least `n` bytes (the token
///   may change in between: check the result again).
/// - [`NONE`] (-1): no cached token.
/// - [`CLOSED`] (-2): no live client has this handle.
/// - [`FAILED`] (-3): `cap < 0`, `buf` null with `cap > 0`, or an internal failure.
///
/// Thread-safe. Never unwinds.
///
/// # Safety
///
/// When `cap > 0`, `buf` must be valid for writes of `cap` bytes for the duration of the call
/// (JNA guarantees that for a `byte[]` argument passed with `cap = array.size`). `buf` may be null
/// when `cap` is 0 (asks for the length only).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keyfob_cached_access_token(handle: u64, buf: *mut u8, cap: i32) -> i32 {
    let Ok(cap) = usize::try_from(cap) else {
        return FAILED;
    };
    if buf.is_null() && cap > 0 {
        return FAILED;
    }
    let copied = catch_unwind(AssertUnwindSafe(|| {
        let Some(client) = lookup(handle) else {
            return CLOSED;
        };
        let Some(token) = client.cached_access_token() else {
            return NONE;
        };
        let bytes = token.expose().as_bytes();
        let Ok(len) = i32::try_from(bytes.len()) else {
            return FAILED;
        };
        if bytes.len() <= cap {
            // SAFETY: `buf` is valid for `cap >= bytes.len()` bytes (the caller's contract), and
            // cannot overlap `bytes`, which Rust owns.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
        }
        len
    }));
    copied.unwrap_or(FAILED)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::client::Client;
    use crate::config::Config;
    use crate::http::{HttpRequest, HttpResponse, HttpTransport, TransportError};
    use crate::secret::SecretString;
    use crate::session::record::SESSION_KEY;
    use crate::session::tokens::Tokens;
    use crate::storage::{MemoryStorage, SecureStorage};
    use crate::test_support::{
        CLIENT_ID, ISSUER, ScriptedProvider, session_record, session_tokens,
    };

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.access-token-secret.signature";

    /// A transport that is never reached: the cached path does no I/O.
    struct NoNetwork;

    #[async_trait::async_trait]
    impl HttpTransport for NoNetwork {
        async fn send(&self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
            panic!("the cached token path must not send requests")
        }
    }

    /// A session whose access token is [`TOKEN`], expiring `expires_in` seconds from now.
    fn tokens(expires_in: i64) -> Tokens {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        Tokens {
            access_token: SecretString::new(TOKEN),
            expires_at: Some(now + expires_in),
            ..session_tokens(&ScriptedProvider::new(), "u1")
        }
    }

    /// A client in the table, as `KeyfobClient` registers one: unregistered when dropped.
    struct Registered {
        client: Arc<Client>,
        handle: u64,
    }

    impl Registered {
        fn token_handle(&self) -> u64 {
            self.handle
        }

        fn cached_access_token(&self) -> Option<String> {
            self.client
                .cached_access_token()
                .map(|t| t.expose().to_string())
        }
    }

    impl Drop for Registered {
        fn drop(&mut self) {
            unregister(self.handle);
        }
    }

    /// A client restored from storage holding a session whose access token expires in
    /// `expires_in` seconds (`None`: nothing stored). The refresh margin is 30 s.
    fn client(expires_in: Option<i64>) -> Registered {
        let storage = MemoryStorage::new();
        if let Some(expires_in) = expires_in {
            storage
                .save(SESSION_KEY, &session_record(&tokens(expires_in)))
                .unwrap();
        }
        let config = Config::builder(ISSUER, CLIENT_ID, "myapp://callback")
            .build()
            .unwrap();
        let client =
            Arc::new(Client::new(config, Arc::new(NoNetwork)).with_storage(Arc::new(storage)));
        client.state(); // restores the stored session
        let handle = register(Arc::downgrade(&client));
        Registered { client, handle }
    }

    fn call(handle: u64, buf: &mut [u8]) -> i32 {
        let cap = i32::try_from(buf.len()).unwrap();
        // SAFETY: `buf` is valid for `cap` bytes.
        unsafe { keyfob_cached_access_token(handle, buf.as_mut_ptr(), cap) }
    }

    #[test]
    fn copies_the_cached_token() {
        let client = client(Some(3600));
        let mut buf = [0u8; 256];
        let n = call(client.token_handle(), &mut buf);
        assert_eq!(n, TOKEN.len() as i32);
        assert_eq!(&buf[..TOKEN.len()], TOKEN.as_bytes());
        assert_eq!(client.cached_access_token().as_deref(), Some(TOKEN));
    }

    #[test]
    fn a_short_buffer_gets_the_length_and_nothing_written() {
        let client = client(Some(3600));
        let mut buf = [0u8; 8];
        assert_eq!(call(client.token_handle(), &mut buf), TOKEN.len() as i32);
        assert_eq!(buf, [0u8; 8]);
        // SAFETY: a null buffer with capacity 0 asks for the length only.
        let n =
            unsafe { keyfob_cached_access_token(client.token_handle(), std::ptr::null_mut(), 0) };
        assert_eq!(n, TOKEN.len() as i32);
    }

    #[test]
    fn none_when_signed_out_or_within_the_refresh_margin() {
        let mut buf = [0u8; 256];
        assert_eq!(call(client(None).token_handle(), &mut buf), NONE);
        let expiring = client(Some(10));
        assert_eq!(call(expiring.token_handle(), &mut buf), NONE);
        assert_eq!(expiring.cached_access_token(), None);
        assert_eq!(buf, [0u8; 256]);
    }

    #[test]
    fn closed_once_the_client_is_freed_even_before_it_is_unregistered() {
        let registered = client(Some(3600));
        let handle = register(Arc::downgrade(&registered.client));
        drop(registered);
        let mut buf = [0u8; 256];
        assert_eq!(call(handle, &mut buf), CLOSED);
        unregister(handle);
    }

    #[test]
    fn closed_once_the_client_is_dropped_and_handles_are_not_reused() {
        let first = client(Some(3600));
        let handle = first.token_handle();
        drop(first);
        let mut buf = [0u8; 256];
        assert_eq!(call(handle, &mut buf), CLOSED);
        assert_eq!(call(0, &mut buf), CLOSED);
        assert_eq!(call(u64::MAX, &mut buf), CLOSED);
        let second = client(Some(3600));
        assert!(second.token_handle() > handle);
        assert_eq!(call(handle, &mut buf), CLOSED);
    }

    #[test]
    fn bad_arguments_fail_without_writing() {
        let client = client(Some(3600));
        let mut buf = [0u8; 256];
        // SAFETY: rejected before `buf` is used.
        let negative =
            unsafe { keyfob_cached_access_token(client.token_handle(), buf.as_mut_ptr(), -1) };
        assert_eq!(negative, FAILED);
        // SAFETY: rejected before the null pointer is used.
        let null =
            unsafe { keyfob_cached_access_token(client.token_handle(), std::ptr::null_mut(), 8) };
        assert_eq!(null, FAILED);
        assert_eq!(buf, [0u8; 256]);
    }

    #[test]
    fn concurrent_calls_and_drops() {
        let clients: Vec<_> = (0..4).map(|_| client(Some(3600))).collect();
        let handles: Vec<u64> = clients.iter().map(|c| c.token_handle()).collect();
        std::thread::scope(|s| {
            for _ in 0..4 {
                let handles = &handles;
                s.spawn(move || {
                    let mut buf = [0u8; 128];
                    for i in 0..5000 {
                        let n = call(handles[i % handles.len()], &mut buf);
                        // Each client is either alive (the token) or dropped meanwhile.
                        assert!(n == CLOSED || n == TOKEN.len() as i32, "{n}");
                        if n >= 0 {
                            assert_eq!(&buf[..TOKEN.len()], TOKEN.as_bytes());
                        }
                    }
                });
            }
            s.spawn(move || drop(clients));
        });
        let mut buf = [0u8; 128];
        for h in handles {
            assert_eq!(call(h, &mut buf), CLOSED);
        }
    }
}
