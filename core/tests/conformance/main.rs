//! The relying-party conformance matrix: a hostile or broken provider (list 1), a failing network
//! (list 2) and a failing store (list 3), one row per misbehaviour.
//!
//! Each row names the misbehaviour, the error Keyfob must return (kind, ID-token check,
//! retryability, storage kind) and where the session must stand afterwards (its
//! [`SessionState`] and what the store holds). The whole table runs in one test,
//! [`conformance_matrix`], with every log record captured at trace level and every error's
//! `Display` and `Debug` kept, and ends by checking that no token, code, verifier, state, nonce
//! or refresh token seen on the wire or in the store shows up in any of them (list 4).
//!
//! A row marked `known_bug` documents a defect: it must still fail as described (if it passes,
//! the bug is fixed and the marker must go), and an `#[ignore = "bug: …"]` test below states the
//! behaviour the fix must bring.
//!
//! Rows that existing tests already cover are kept here too, because those tests assert the
//! error kind only, not the session state afterwards, and because the leak check must see them.
//!
//! The table is one list of rows, written by topic: `provider_rows` (list 1), `network_rows`
//! (list 2) and `storage_rows` (list 3), with the scenarios of their custom steps and follow-ups
//! in `steps`. A row is described in `row`; `world` is one row's client, testkit and store;
//! `spy` the transport that records every secret; `runner` plays a row and judges it.

#[path = "../common/mod.rs"]
mod common;
mod network_rows;
mod provider_rows;
mod row;
mod runner;
mod spy;
mod steps;
mod storage_rows;
mod world;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use keyfob::{SecureStorage, SessionState, StorageErrorKind};
use keyfob_testkit::Faults;
use serde_json::json;

use row::Row;
use runner::run_row;
use steps::{delete_fails_at_invalid_grant, then_dead_session_does_not_come_back};
use storage_rows::patch_record;
use world::Ctx;

/// The whole table, lists 1 to 3, in the order of the row ids.
fn rows() -> Vec<Row> {
    let mut rows: Vec<Row> = [
        provider_rows::rows(),
        network_rows::rows(),
        storage_rows::rows(),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Keep the ids unique and in order.
    let ids: Vec<&str> = rows.iter().map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted, "row ids must be unique and ascending");
    rows.shrink_to_fit();
    rows
}

/// The whole matrix, then the leak check over everything it logged and printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_matrix() {
    common::capture_logs();
    let rows = Arc::new(rows());
    let filter = std::env::var("KEYFOB_MATRIX_ROWS").ok();
    let limit = Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..rows.len() {
        if let Some(f) = &filter
            && !f.split(',').any(|id| rows[index].id.starts_with(id))
        {
            continue;
        }
        let rows = rows.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            run_row(&rows[index]).await
        });
    }
    let mut reports = Vec::new();
    while let Some(report) = tasks.join_next().await {
        reports.push(report.expect("a row panicked"));
    }
    reports.sort_by_key(|r| r.id);

    let mut failures = Vec::new();
    println!("| row | misbehaviour | expected | result |");
    println!("| --- | --- | --- | --- |");
    for r in &reports {
        let verdict = match (r.problems.is_empty(), r.known_bug) {
            (true, None) => "ok".to_string(),
            (false, Some(bug)) => format!("KNOWN BUG: {bug} (got {})", r.got),
            (true, Some(_)) => {
                failures.push(format!("{}: passes now; remove its known_bug marker", r.id));
                "passes (remove known_bug)".to_string()
            }
            (false, None) => {
                failures.push(format!("{} {}: {}", r.id, r.case, r.problems.join("; ")));
                format!("FAIL: {}", r.problems.join("; "))
            }
        };
        println!("| {} | {} | {} | {} |", r.id, r.case, r.expected, verdict);
    }

    // List 4: no secret seen on the wire or in the store shows up in any log record (all
    // targets, trace level) or in anything Keyfob printed, for any row.
    let logs = common::captured_logs();
    let secrets: BTreeSet<&String> = reports
        .iter()
        .flat_map(|r| r.secrets.iter())
        .filter(|s| s.len() >= 16)
        .collect();
    let printed: Vec<&String> = reports.iter().flat_map(|r| r.printed.iter()).collect();
    assert!(
        secrets.len() > 300,
        "too few secrets collected: {}",
        secrets.len()
    );
    assert!(logs.len() > 100, "too few log records: {}", logs.len());
    for secret in &secrets {
        for text in printed.iter().copied().chain(logs.iter()) {
            if text.contains(secret.as_str()) {
                failures.push(format!("a secret leaked into: {text}"));
            }
        }
    }
    println!(
        "{} rows; leak check: {} secrets against {} log records and {} printed texts",
        reports.len(),
        secrets.len(),
        logs.len(),
        printed.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// =============================================================================================
// The bugs the matrix found (now fixed), as the behaviour their fix brought.

/// The `format` of a stored record that Keyfob never wrote (0, or older than the first format)
/// must not be read as the current format.
#[tokio::test]
async fn a_stored_record_of_format_0_is_corrupt() {
    let ctx = Ctx::new(Duration::from_secs(10)).await;
    ctx.login().await;
    let stored = ctx.storage.get("session").unwrap();
    ctx.storage
        .inner
        .save("session", &patch_record(&stored, "format", json!(0)))
        .unwrap();
    ctx.restart();
    let e = ctx.client().restore().unwrap_err();
    assert_eq!(e.storage_kind(), Some(StorageErrorKind::Corrupt));
    assert_eq!(ctx.client().state(), SessionState::SignedOut);
}

/// A provider that signs without `kid` (one key in its JWKS) and rotates that key: the next
/// sign-in must refetch the JWKS once and succeed, and the next refresh must not end the session.
#[tokio::test]
async fn a_kid_less_provider_may_rotate_its_key() {
    let ctx = Ctx::new(Duration::from_secs(10)).await;
    ctx.env
        .kit
        .set_faults(Faults::id_token_header(json!({"kid": null})));
    ctx.login().await;
    ctx.env.kit.rotate_keys(false);
    // A refresh whose ID token is signed by the new key keeps the session.
    let refreshed = ctx.client().refresh().await;
    assert!(refreshed.is_ok(), "{refreshed:?}");
    assert_eq!(ctx.client().state(), SessionState::SignedIn);
    assert_eq!(ctx.env.kit.stats().jwks, 2, "prefetch + one refetch");
}

/// When the provider rejects the refresh token and the store cannot delete the session at that
/// moment, the delete must be retried, so that the rejected session does not come back.
#[tokio::test]
async fn a_rejected_session_is_deleted_once_the_store_recovers() {
    let ctx = Ctx::new(Duration::from_secs(10)).await;
    delete_fails_at_invalid_grant(&ctx).await.unwrap_err();
    then_dead_session_does_not_come_back(&ctx).await.unwrap();
}
