//! The one way the core takes its `std` mutexes.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering from poisoning: the data behind the core's locks is consistent between
/// statements, and a panic elsewhere must not make the client unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
