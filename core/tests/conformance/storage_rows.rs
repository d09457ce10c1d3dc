//! List 3: a failing store. Writes, reads and deletes that fail, a locked store, a lost key, and
//! stored records that are corrupt or of another format.

use keyfob::{ErrorKind as K, StorageErrorKind};
use serde_json::{Map, Value, json};

use crate::row::Step::{Custom, RestorePending, RestoreSession};
use crate::row::Stored::{Nothing, PendingOnly, Unchanged};
use crate::row::{Row, fails, revoke, storage};
use crate::steps::{
    delete_fails_at_invalid_grant, delete_fails_at_logout, key_invalidated_at_start,
    locked_at_start, pending_read_fails, read_fails_at_start,
    then_callback_completes_once_reads_work, then_corruption_reported_once_and_login_works,
    then_dead_session_does_not_come_back, then_login_saved_on_next_call, then_logout_again_clears,
    then_logout_revokes_the_rotated_token, then_new_login_replaces_a_corrupt_pending_one,
    then_reads_recover_without_network, then_rotated_token_kept_and_saved, write_fails_at_begin,
    write_fails_at_login, write_fails_at_refresh,
};
use keyfob::SessionState::{NeedsReLogin, SignedIn, SignedOut, StorageUnavailable};

/// List 3, in the order of the row ids.
pub(crate) fn rows() -> Vec<Row> {
    [store_failure_rows(), corrupt_record_rows()]
        .into_iter()
        .flatten()
        .collect()
}

/// A store that fails to write, read or delete, is locked, or lost its key (3.01–3.10, 10 rows).
fn store_failure_rows() -> Vec<Row> {
    vec![
        Row::new(
            "3.01",
            "write fails when the login starts",
            Custom(write_fails_at_begin),
        )
        .expect(storage(StorageErrorKind::Failed), SignedOut, Nothing),
        Row::new(
            "3.02",
            "write fails when the login completes",
            Custom(write_fails_at_login),
        )
        .expect(storage(StorageErrorKind::Failed), SignedIn, Nothing)
        .then(then_login_saved_on_next_call),
        Row::new(
            "3.03",
            "write fails after a refresh rotated the refresh token",
            Custom(write_fails_at_refresh),
        )
        .expect(storage(StorageErrorKind::Failed), SignedIn, Unchanged)
        .then(then_rotated_token_kept_and_saved),
        Row::new(
            "3.04",
            "write fails after a rotation, then logout revokes the rotated token",
            Custom(write_fails_at_refresh),
        )
        .expect(storage(StorageErrorKind::Failed), SignedIn, Unchanged)
        .then(then_logout_revokes_the_rotated_token),
        Row::new("3.05", "read fails at start", Custom(read_fails_at_start))
            .expect(
                storage(StorageErrorKind::Failed),
                StorageUnavailable,
                Unchanged,
            )
            .then(then_reads_recover_without_network),
        Row::new(
            "3.06",
            "store locked at start (Unavailable)",
            Custom(locked_at_start),
        )
        .expect(
            storage(StorageErrorKind::Unavailable),
            StorageUnavailable,
            Unchanged,
        )
        .then(then_reads_recover_without_network),
        Row::new(
            "3.07",
            "read of the pending login fails after a restart",
            Custom(pending_read_fails),
        )
        .expect(
            storage(StorageErrorKind::Failed),
            StorageUnavailable,
            PendingOnly,
        )
        .then(then_callback_completes_once_reads_work),
        Row::new(
            "3.08",
            "key invalidated at start",
            Custom(key_invalidated_at_start),
        )
        .expect(
            storage(StorageErrorKind::KeyInvalidated),
            NeedsReLogin,
            Unchanged,
        ),
        Row::new(
            "3.09",
            "delete fails at logout",
            Custom(delete_fails_at_logout),
        )
        .expect(storage(StorageErrorKind::Failed), SignedOut, Unchanged)
        .stat("revocations", revoke, 1)
        .then(then_logout_again_clears),
        Row::new(
            "3.10",
            "delete fails when the provider rejects the refresh token",
            Custom(delete_fails_at_invalid_grant),
        )
        .expect(fails(K::ReLoginRequired), NeedsReLogin, Unchanged)
        .then(then_dead_session_does_not_come_back),
    ]
}

/// Stored records that are not what Keyfob wrote (3.11–3.23, 13 rows).
fn corrupt_record_rows() -> Vec<Row> {
    vec![
        Row::new(
            "3.11",
            "stored session: random bytes",
            RestoreSession(|_| b"\x00\xff\xfe garbage".to_vec()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged)
        .then(then_corruption_reported_once_and_login_works),
        Row::new(
            "3.12",
            "stored session: empty",
            RestoreSession(|_| Vec::new()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.13",
            "stored session: truncated",
            RestoreSession(|b| b[..b.len() / 2].to_vec()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.14",
            "stored session: a JSON array",
            RestoreSession(|_| b"[1,2,3]".to_vec()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.15",
            "stored session: a member of the wrong type",
            RestoreSession(|b| patch_record(b, "scopes", json!("openid email"))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.16",
            "stored session: format missing (older format)",
            RestoreSession(|b| patch_record(b, "format", Value::Null)),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.17",
            "stored session: format 0 (older format)",
            RestoreSession(|b| patch_record(b, "format", json!(0))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.18",
            "stored session: format 2 (newer Keyfob)",
            RestoreSession(|b| patch_record(b, "format", json!(2))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.19",
            "stored session: format \"1\" (a string)",
            RestoreSession(|b| patch_record(b, "format", json!("1"))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.20",
            "stored pending login: random bytes",
            RestorePending(|_| b"\xff\xfe".to_vec()),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged)
        .then(then_new_login_replaces_a_corrupt_pending_one),
        Row::new(
            "3.21",
            "stored pending login: format missing",
            RestorePending(|b| patch_record(b, "format", Value::Null)),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.22",
            "stored pending login: format 0",
            RestorePending(|b| patch_record(b, "format", json!(0))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
        Row::new(
            "3.23",
            "stored pending login: format 2",
            RestorePending(|b| patch_record(b, "format", json!(2))),
        )
        .expect(storage(StorageErrorKind::Corrupt), SignedOut, Unchanged),
    ]
}

/// Sets (or with `null` removes) one member of a stored JSON record.
pub(crate) fn patch_record(bytes: &[u8], name: &str, value: Value) -> Vec<u8> {
    let mut record: Map<String, Value> = serde_json::from_slice(bytes).unwrap();
    if value.is_null() {
        record.remove(name);
    } else {
        record.insert(name.to_string(), value);
    }
    serde_json::to_vec(&record).unwrap()
}
