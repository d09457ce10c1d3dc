//! The error classification table (tests/data/error_classification.json), checked on the FFI
//! errors the Swift and Kotlin layers receive. Their own tests check the same table through
//! their wrappers, so the three languages classify every error kind the same way.
#![cfg(feature = "ffi")]

use keyfob::ffi::KeyfobError;
use keyfob::{IdTokenCheck, StorageErrorKind};
use serde_json::Value;

/// Every kind of `KeyfobError`; the table must have a row for each.
const KINDS: &[&str] = &[
    "Config",
    "InsecureUrl",
    "Network",
    "Timeout",
    "HttpStatus",
    "Provider",
    "InvalidResponse",
    "Discovery",
    "InvalidCallback",
    "StateMismatch",
    "IssuerMismatch",
    "NoPendingLogin",
    "IdToken",
    "NotSignedIn",
    "ReLoginRequired",
    "Storage",
    "MinTtlExceedsLifetime",
    "Internal",
];

fn rows() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/error_classification.json"
    );
    let table: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    table["rows"].as_array().unwrap().clone()
}

fn error_of(row: &Value) -> KeyfobError {
    let reason = "reason".to_string();
    match row["kind"].as_str().unwrap() {
        "Config" => KeyfobError::Config { reason },
        "InsecureUrl" => KeyfobError::InsecureUrl { reason },
        "Network" => KeyfobError::Network { reason },
        "Timeout" => KeyfobError::Timeout { reason },
        "HttpStatus" => KeyfobError::HttpStatus {
            status: row["status"].as_u64().unwrap() as u16,
            retry_after_seconds: row["retry_after"].as_u64().map(|s| s as u32),
            reason,
        },
        "Provider" => KeyfobError::Provider {
            error: row["error"].as_str().unwrap().into(),
            reason,
        },
        "InvalidResponse" => KeyfobError::InvalidResponse { reason },
        "Discovery" => KeyfobError::Discovery { reason },
        "InvalidCallback" => KeyfobError::InvalidCallback { reason },
        "StateMismatch" => KeyfobError::StateMismatch { reason },
        "IssuerMismatch" => KeyfobError::IssuerMismatch { reason },
        "NoPendingLogin" => KeyfobError::NoPendingLogin { reason },
        "IdToken" => KeyfobError::IdToken {
            check: match row["check"].as_str().unwrap() {
                "Expired" => IdTokenCheck::Expired,
                other => panic!("add IdTokenCheck {other} here"),
            },
            reason,
        },
        "NotSignedIn" => KeyfobError::NotSignedIn { reason },
        "ReLoginRequired" => KeyfobError::ReLoginRequired { reason },
        "Storage" => KeyfobError::Storage {
            kind: match row["storage"].as_str().unwrap() {
                "Unavailable" => StorageErrorKind::Unavailable,
                "KeyInvalidated" => StorageErrorKind::KeyInvalidated,
                "Corrupt" => StorageErrorKind::Corrupt,
                "Failed" => StorageErrorKind::Failed,
                "Foreign" => StorageErrorKind::Foreign,
                other => panic!("unknown storage kind {other}"),
            },
            reason,
        },
        "MinTtlExceedsLifetime" => KeyfobError::MinTtlExceedsLifetime { reason },
        "Internal" => KeyfobError::Internal { reason },
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn every_error_kind_is_classified_as_the_table_says() {
    let rows = rows();
    for kind in KINDS {
        assert!(
            rows.iter().any(|r| r["kind"] == *kind),
            "the table has no row for {kind}"
        );
    }
    for row in &rows {
        let e = error_of(row);
        assert_eq!(
            e.is_retryable(),
            row["retryable"].as_bool().unwrap(),
            "{row}"
        );
        assert_eq!(
            e.requires_sign_in(),
            row["sign_in"].as_bool().unwrap(),
            "{row}"
        );
        // The provider's Retry-After is kept for 429 and 503, whatever else the row says.
        assert_eq!(
            e.retry_after_secs().map(u64::from),
            row["retry_after"].as_u64(),
            "{row}"
        );
        assert!(
            !(e.is_retryable() && e.requires_sign_in()),
            "a retryable error never means the session is gone: {row}"
        );
    }
}
