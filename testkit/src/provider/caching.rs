//! HTTP caching on the provider's metadata (discovery and JWKS), as real providers do it: every
//! answer carries an `ETag` (a digest of its body) and a `Last-Modified` (when the testkit first
//! served that body), plus the `Cache-Control` that the `metadata_cache_control` fault sets; a
//! conditional request whose `If-None-Match` — or, without one, `If-Modified-Since` — still
//! matches is answered `304 Not Modified` with no body (RFC 9110 §13, RFC 9111 §4.3).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::Provider;
use crate::keys::b64url;
use crate::resource::is_resource_server_request;

/// Which metadata document an answer carries.
#[derive(Clone, Copy, Debug)]
pub(super) enum Metadata {
    /// `/.well-known/openid-configuration`.
    Discovery,
    /// `/.well-known/jwks.json`.
    Jwks,
}

/// When each version of a document (by `ETag`) was first served, in testkit seconds: its
/// `Last-Modified`.
#[derive(Debug, Default)]
pub(super) struct Versions(Mutex<HashMap<String, u64>>);

impl Versions {
    /// The `Last-Modified` of the version `etag`, first served now if it is new.
    fn first_served(&self, etag: &str, now: u64) -> u64 {
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(etag.to_owned())
            .or_insert(now)
    }
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak tags compare by their opaque part.
fn etag_matches(if_none_match: &HeaderValue, etag: &str) -> bool {
    if_none_match.to_str().is_ok_and(|list| {
        list.split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag == etag)
    })
}

/// Seconds since the epoch of an HTTP date header.
fn http_date(value: &HeaderValue) -> Option<u64> {
    let time = httpdate::parse_http_date(value.to_str().ok()?).ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

impl Provider {
    /// The answer for `document` to a request with `headers`: the document with its
    /// validators, or `304 Not Modified` when the request's validator still matches.
    pub(super) fn metadata_answer(
        &self,
        which: Metadata,
        headers: &HeaderMap,
        document: &Value,
    ) -> Response {
        let body = document.to_string();
        let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        let etag = format!("\"{}\"", b64url(&digest.as_ref()[..12]));
        let modified = self.metadata_versions.first_served(&etag, self.now());
        let unchanged = match headers.get(header::IF_NONE_MATCH) {
            Some(tags) => etag_matches(tags, &etag),
            None => headers
                .get(header::IF_MODIFIED_SINCE)
                .and_then(http_date)
                .is_some_and(|since| modified <= since),
        };
        let mut response = if unchanged {
            if !is_resource_server_request(headers) {
                self.shared.stats.record(|s| match which {
                    Metadata::Discovery => s.discovery_not_modified += 1,
                    Metadata::Jwks => s.jwks_not_modified += 1,
                });
            }
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response()
        };
        let last_modified = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(modified));
        let cache_control = self.shared.faults.current().metadata_cache_control;
        let out = response.headers_mut();
        for (name, value) in [
            (header::ETAG, Some(etag)),
            (header::LAST_MODIFIED, Some(last_modified)),
            (header::CACHE_CONTROL, cache_control),
        ] {
            if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                out.insert(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_weak_tags_and_star() {
        let tag = "\"abc\"";
        for (header, matches) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("*", true),
            ("\"abcd\"", false),
            ("abc", false),
        ] {
            assert_eq!(
                etag_matches(&HeaderValue::from_static(header), tag),
                matches,
                "{header}"
            );
        }
    }

    #[test]
    fn a_version_keeps_the_time_it_was_first_served() {
        let versions = Versions::default();
        assert_eq!(versions.first_served("\"a\"", 100), 100);
        assert_eq!(versions.first_served("\"a\"", 200), 100);
        assert_eq!(versions.first_served("\"b\"", 300), 300);
    }
}
