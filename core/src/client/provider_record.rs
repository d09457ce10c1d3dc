//! The persisted form of the provider's metadata: one versioned JSON record under its own
//! storage key, beside the session, holding the discovery document and the key set as the
//! provider sent them, each with where and when it was fetched and its caching headers.
//!
//! The record names the issuer it belongs to; a record of another issuer is refused as
//! [`StorageErrorKind::Foreign`], an unreadable one as [`StorageErrorKind::Corrupt`]. Neither
//! is ever trusted: the caller discards it and fetches again. The documents themselves are
//! validated again at each load (the issuer byte for byte, HTTPS endpoints, usable keys), as if
//! they had just been fetched. The record holds public data only, no token.

use serde_json::{Map, Value, json};

use crate::error::{StorageError, StorageErrorKind};
use crate::http::caching::{CachePolicy, CachedDocument};
use crate::session::record::{check_format, corrupt};

/// Storage key of the provider's metadata.
pub(crate) const METADATA_KEY: &str = "metadata";
/// The metadata record's format written by this release.
pub(crate) const METADATA_FORMAT: u32 = 1;

// The record is built and read through `serde_json::Value` rather than derived types: the
// mobile library already carries that code, and a derived deserializer is 6 KB more (issue 9).

/// The documents of a metadata record: either may be missing (never fetched, or `no-store`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct StoredProvider {
    pub discovery: Option<CachedDocument>,
    pub jwks: Option<CachedDocument>,
}

/// `{url, fetched_at, lifetime, etag, last_modified, body}`, or `null` for a document that is
/// missing or must not be stored.
fn encode_document(document: Option<&CachedDocument>) -> Value {
    match document.filter(|d| !d.policy.no_store) {
        Some(d) => json!({
            "url": d.url,
            "fetched_at": d.fetched_at,
            // Seconds of freshness the provider granted; `null` when it did not say.
            "lifetime": d.policy.lifetime,
            "etag": d.policy.etag,
            "last_modified": d.policy.last_modified,
            "body": d.body,
        }),
        None => Value::Null,
    }
}

/// The record for `issuer`'s documents; those marked `no-store` are left out. `None` when
/// nothing is left to store.
pub(crate) fn encode(issuer: &str, provider: &StoredProvider) -> Option<Vec<u8>> {
    let discovery = encode_document(provider.discovery.as_ref());
    let jwks = encode_document(provider.jwks.as_ref());
    if discovery.is_null() && jwks.is_null() {
        return None;
    }
    let record = json!({
        "format": METADATA_FORMAT,
        "issuer": issuer,
        "discovery": discovery,
        "jwks": jwks,
    });
    Some(serde_json::to_vec(&record).expect("a metadata record always serialises"))
}

fn unreadable(detail: &str) -> StorageError {
    corrupt("provider metadata", detail)
}

/// The document stored under `name`, if any.
fn decode_document(
    record: &Map<String, Value>,
    name: &str,
) -> Result<Option<CachedDocument>, StorageError> {
    let d = match record.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(d)) => d,
        Some(_) => return Err(unreadable("a document is not an object")),
    };
    let text = |field: &str| match d.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(unreadable("a document field has the wrong type")),
    };
    let wrong = || unreadable("a document field is missing or has the wrong type");
    let lifetime = match d.get("lifetime") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(wrong)?),
    };
    let Some(Value::Object(body)) = d.get("body") else {
        return Err(wrong());
    };
    Ok(Some(CachedDocument {
        url: text("url")?.ok_or_else(wrong)?,
        body: body.clone(),
        fetched_at: d
            .get("fetched_at")
            .and_then(Value::as_i64)
            .ok_or_else(wrong)?,
        policy: CachePolicy {
            lifetime,
            // A `no-store` document is never written.
            no_store: false,
            etag: text("etag")?,
            last_modified: text("last_modified")?,
        },
    }))
}

/// Reads a metadata record that must belong to `issuer`.
pub(crate) fn decode(bytes: &[u8], issuer: &str) -> Result<StoredProvider, StorageError> {
    check_format(bytes, "provider metadata", METADATA_FORMAT)?;
    let Ok(Value::Object(record)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(unreadable("not a JSON object"));
    };
    match record.get("issuer") {
        Some(Value::String(stored)) if stored == issuer => {}
        Some(Value::String(_)) => {
            return Err(StorageError::new(
                StorageErrorKind::Foreign,
                "the stored provider metadata belongs to another issuer; it is not used",
            ));
        }
        _ => return Err(unreadable("no issuer")),
    }
    Ok(StoredProvider {
        discovery: decode_document(&record, "discovery")?,
        jwks: decode_document(&record, "jwks")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISSUER: &str = "https://a.example";

    fn document(url: &str, body: Value) -> CachedDocument {
        CachedDocument {
            url: url.into(),
            body: body.as_object().unwrap().clone(),
            fetched_at: 1_800_000_000,
            policy: CachePolicy {
                lifetime: Some(300),
                no_store: false,
                etag: Some("\"v1\"".into()),
                last_modified: None,
            },
        }
    }

    fn provider() -> StoredProvider {
        StoredProvider {
            discovery: Some(document(
                "https://a.example/.well-known/openid-configuration",
                json!({"issuer": ISSUER}),
            )),
            jwks: Some(document("https://a.example/jwks", json!({"keys": []}))),
        }
    }

    #[test]
    fn round_trip() {
        let bytes = encode(ISSUER, &provider()).unwrap();
        assert_eq!(decode(&bytes, ISSUER).unwrap(), provider());
    }

    #[test]
    fn no_store_documents_are_left_out() {
        let mut p = provider();
        p.jwks.as_mut().unwrap().policy.no_store = true;
        let decoded = decode(&encode(ISSUER, &p).unwrap(), ISSUER).unwrap();
        assert_eq!(decoded.discovery, provider().discovery);
        assert_eq!(decoded.jwks, None);
        p.discovery.as_mut().unwrap().policy.no_store = true;
        assert_eq!(encode(ISSUER, &p), None);
        assert_eq!(encode(ISSUER, &StoredProvider::default()), None);
    }

    #[test]
    fn a_record_of_another_issuer_is_foreign() {
        let bytes = encode(ISSUER, &provider()).unwrap();
        for other in [
            "https://b.example",
            "https://a.example/",
            "https://A.example",
        ] {
            assert_eq!(
                decode(&bytes, other).unwrap_err().kind,
                StorageErrorKind::Foreign,
                "{other}"
            );
        }
    }

    #[test]
    fn garbage_and_newer_formats_are_corrupt() {
        let record = String::from_utf8(encode(ISSUER, &provider()).unwrap()).unwrap();
        let newer = record.replace("\"format\":1", "\"format\":2");
        let mistyped = record.replace("\"fetched_at\":1800000000", "\"fetched_at\":\"now\"");
        assert_ne!(mistyped, record);
        for bytes in [
            &b"\x00garbage"[..],
            b"{}",
            b"{\"format\":0}",
            b"{\"format\":1}",
            newer.as_bytes(),
            mistyped.as_bytes(),
            &record.as_bytes()[..record.len() / 2],
        ] {
            assert_eq!(
                decode(bytes, ISSUER).unwrap_err().kind,
                StorageErrorKind::Corrupt,
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
