//! The persisted form of the provider's metadata: one versioned JSON record under its own
//! storage key, beside the session, holding the discovery document and the key set as the
//! provider sent them, each with where and when it was fetched and its caching headers.
//!
//! The record names the issuer it belongs to; a record of another issuer is refused as
//! [`StorageErrorKind::Foreign`], an unreadable one as [`StorageErrorKind::Corrupt`]. Neither
//! is ever trusted: the caller discards it and fetches again. The documents themselves are
//! validated again at each load (the issuer byte for byte, HTTPS endpoints, usable keys), as if
//! they had just been fetched. The record holds public data only, no token.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{StorageError, StorageErrorKind};
use crate::http::caching::{CachePolicy, CachedDocument};
use crate::session::record::{check_format, corrupt, json_error};

/// Storage key of the provider's metadata.
pub(crate) const METADATA_KEY: &str = "metadata";
/// The metadata record's format written by this release.
pub(crate) const METADATA_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StoredMetadata {
    format: u32,
    issuer: String,
    discovery: Option<StoredDocument>,
    jwks: Option<StoredDocument>,
}

#[derive(Serialize, Deserialize)]
struct StoredDocument {
    url: String,
    fetched_at: i64,
    /// Seconds of freshness the provider granted; absent when it did not say.
    lifetime: Option<i64>,
    etag: Option<String>,
    last_modified: Option<String>,
    body: Map<String, Value>,
}

/// The documents of a metadata record: either may be missing (never fetched, or `no-store`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct StoredProvider {
    pub discovery: Option<CachedDocument>,
    pub jwks: Option<CachedDocument>,
}

impl From<&CachedDocument> for StoredDocument {
    fn from(d: &CachedDocument) -> Self {
        StoredDocument {
            url: d.url.clone(),
            fetched_at: d.fetched_at,
            lifetime: d.policy.lifetime,
            etag: d.policy.etag.clone(),
            last_modified: d.policy.last_modified.clone(),
            body: d.body.clone(),
        }
    }
}

impl From<StoredDocument> for CachedDocument {
    fn from(s: StoredDocument) -> Self {
        CachedDocument {
            url: s.url,
            body: s.body,
            fetched_at: s.fetched_at,
            policy: CachePolicy {
                lifetime: s.lifetime,
                // A `no-store` document is never written.
                no_store: false,
                etag: s.etag,
                last_modified: s.last_modified,
            },
        }
    }
}

/// The record for `issuer`'s documents; those marked `no-store` are left out. `None` when
/// nothing is left to store.
pub(crate) fn encode(issuer: &str, provider: &StoredProvider) -> Option<Vec<u8>> {
    let keep = |d: &Option<CachedDocument>| {
        d.as_ref()
            .filter(|d| !d.policy.no_store)
            .map(StoredDocument::from)
    };
    let stored = StoredMetadata {
        format: METADATA_FORMAT,
        issuer: issuer.to_string(),
        discovery: keep(&provider.discovery),
        jwks: keep(&provider.jwks),
    };
    if stored.discovery.is_none() && stored.jwks.is_none() {
        return None;
    }
    Some(serde_json::to_vec(&stored).expect("a metadata record always serialises"))
}

/// Reads a metadata record that must belong to `issuer`.
pub(crate) fn decode(bytes: &[u8], issuer: &str) -> Result<StoredProvider, StorageError> {
    check_format(bytes, "provider metadata", METADATA_FORMAT)?;
    let stored: StoredMetadata =
        serde_json::from_slice(bytes).map_err(|e| corrupt("provider metadata", &json_error(&e)))?;
    if stored.issuer != issuer {
        return Err(StorageError::new(
            StorageErrorKind::Foreign,
            "the stored provider metadata belongs to another issuer; it is not used",
        ));
    }
    Ok(StoredProvider {
        discovery: stored.discovery.map(Into::into),
        jwks: stored.jwks.map(Into::into),
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
