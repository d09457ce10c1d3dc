//! HTTP caching (RFC 9111) for the provider's metadata: how long a discovery document or a key
//! set may be used before it is asked for again, and how it is revalidated.
//!
//! - Freshness comes from `Cache-Control: max-age` (less `Age`), else `Expires` counted from the
//!   answer's own `Date` (so a wrong device clock does not shift it); `no-cache`, a malformed
//!   `max-age` or `Expires` mean stale at once. An answer that says nothing is fresh for the
//!   configured maximum age. Whatever the provider says is bounded by [`AgeBounds`]: never
//!   longer than the maximum (a removed key stops being trusted), never shorter than the
//!   minimum (a provider cannot make Keyfob fetch on every request).
//! - `no-store`: the document is used by this client for the minimum age (as `no-cache`) and
//!   never written to storage.
//! - `ETag` and `Last-Modified` are kept and sent back as `If-None-Match` and
//!   `If-Modified-Since`; a `304 Not Modified` renews the cached document with the headers it
//!   carries (§4.3.4).

use serde_json::{Map, Value};
use url::Url;

use super::{Http, HttpMethod, HttpResponse, date, parse_json_object, unexpected_status};
use crate::error::Result;

/// The longest validator Keyfob keeps: a longer `ETag` or `Last-Modified` is not used.
const MAX_VALIDATOR_LEN: usize = 256;

/// What a response's caching headers say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CachePolicy {
    /// Seconds the document is fresh from the moment it was received; `None` when the response
    /// does not say (no `max-age`, no `Expires`).
    pub lifetime: Option<i64>,
    /// `Cache-Control: no-store`: never written to storage.
    pub no_store: bool,
    /// `ETag`, sent back as `If-None-Match`.
    pub etag: Option<String>,
    /// `Last-Modified`, sent back as `If-Modified-Since`.
    pub last_modified: Option<String>,
}

/// The configured bounds on how long metadata is used before it is revalidated, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AgeBounds {
    /// The shortest freshness Keyfob grants, whatever the provider says.
    pub min: i64,
    /// The longest, and the freshness of a response that does not say.
    pub max: i64,
}

/// The directives of every `Cache-Control` header, names in lower case, values unquoted.
fn cache_directives(response: &HttpResponse) -> Vec<(String, Option<String>)> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cache-control"))
        .flat_map(|(_, value)| value.split(','))
        .filter_map(|directive| {
            let directive = directive.trim();
            if directive.is_empty() {
                return None;
            }
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n, Some(v.trim().trim_matches('"').to_string())),
                None => (directive, None),
            };
            Some((name.trim().to_ascii_lowercase(), value))
        })
        .collect()
}

/// Whole seconds of a delta-seconds value (`max-age`, `Age`): a number too large to parse is a
/// long time, anything that is not digits is `None`.
fn delta_seconds(value: &str) -> Option<i64> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<i64>().unwrap_or(i64::MAX))
}

/// A validator worth keeping: short, visible ASCII (it goes back out as a request header).
fn validator(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    let usable = !value.is_empty()
        && value.len() <= MAX_VALIDATOR_LEN
        && value.bytes().all(|b| (0x20..0x7f).contains(&b));
    usable.then(|| value.to_string())
}

impl CachePolicy {
    /// The policy of `response`, received at `received_at` (device time, seconds).
    pub fn of(response: &HttpResponse, received_at: i64) -> CachePolicy {
        let directives = cache_directives(response);
        let has = |name: &str| directives.iter().any(|(n, _)| n == name);
        let max_age = directives
            .iter()
            .find(|(n, _)| n == "max-age")
            .map(|(_, v)| v.as_deref().and_then(delta_seconds).unwrap_or(0));
        let lifetime = if has("no-cache") || has("no-store") {
            Some(0)
        } else if let Some(max_age) = max_age {
            Some(max_age)
        } else {
            response.header("expires").map(|expires| {
                // Counted from the answer's own clock: the device's may be off.
                let date = response.date().unwrap_or(received_at);
                date::parse(expires).map_or(0, |at| at.saturating_sub(date))
            })
        };
        let age = response.header("age").and_then(delta_seconds).unwrap_or(0);
        CachePolicy {
            lifetime: lifetime.map(|l| l.saturating_sub(age).max(0)),
            no_store: has("no-store"),
            etag: validator(response.header("etag")),
            last_modified: validator(response.header("last-modified"))
                .filter(|v| date::parse(v).is_some()),
        }
    }

    /// The policy after a `304 Not Modified`: the headers it carries replace the stored ones;
    /// the validators and freshness it does not carry are kept (RFC 9111 §4.3.4).
    fn renewed_by(&self, not_modified: &HttpResponse, received_at: i64) -> CachePolicy {
        let new = CachePolicy::of(not_modified, received_at);
        let says_freshness = not_modified.header("cache-control").is_some()
            || not_modified.header("expires").is_some();
        CachePolicy {
            lifetime: if says_freshness {
                new.lifetime
            } else {
                self.lifetime
            },
            no_store: if says_freshness {
                new.no_store
            } else {
                self.no_store
            },
            etag: new.etag.or_else(|| self.etag.clone()),
            last_modified: new.last_modified.or_else(|| self.last_modified.clone()),
        }
    }

    /// The request headers that revalidate a document with this policy.
    pub fn conditional_headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        if let Some(etag) = &self.etag {
            headers.push(("if-none-match".to_string(), etag.clone()));
        }
        if let Some(date) = &self.last_modified {
            headers.push(("if-modified-since".to_string(), date.clone()));
        }
        headers
    }

    /// Seconds of freshness granted: what the provider said (or the maximum when it said
    /// nothing), within `bounds`.
    pub fn granted_lifetime(&self, bounds: AgeBounds) -> i64 {
        self.lifetime
            .unwrap_or(bounds.max)
            .clamp(bounds.min, bounds.max.max(bounds.min))
    }
}

/// A JSON document fetched over HTTP (discovery or a key set), with when and how it may be
/// reused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedDocument {
    /// Where it was fetched from.
    pub url: String,
    /// The document, a JSON object as the provider sent it (validated by its user, at each use).
    pub body: Map<String, Value>,
    /// Device time of the fetch, or of the last revalidation.
    pub fetched_at: i64,
    /// What the caching headers said.
    pub policy: CachePolicy,
}

impl CachedDocument {
    /// Whether it may be used at `now` without asking the provider. A clock that went back
    /// before the fetch makes it stale, so that keys cannot stay trusted by a clock change.
    pub fn is_fresh(&self, now: i64, bounds: AgeBounds) -> bool {
        let until = self
            .fetched_at
            .saturating_add(self.policy.granted_lifetime(bounds));
        (self.fetched_at..until).contains(&now)
    }
}

impl Http {
    /// GETs the JSON object at `url` (status 200), or — when `cached` is a copy of it — asks
    /// whether it changed: a `304` renews `cached` at `now`. `what` names it in errors.
    pub async fn get_document(
        &self,
        url: &Url,
        what: &str,
        now: i64,
        cached: Option<&CachedDocument>,
    ) -> Result<CachedDocument> {
        let cached = cached.filter(|c| c.url == url.as_str());
        let mut headers = vec![("accept".to_string(), "application/json".to_string())];
        if let Some(c) = cached {
            headers.extend(c.policy.conditional_headers());
        }
        let response = self
            .send(HttpMethod::Get, url, headers, Vec::new(), what)
            .await?;
        match (response.status, cached) {
            (200, _) => Ok(CachedDocument {
                url: url.to_string(),
                body: parse_json_object(&response.body, what)?,
                fetched_at: now,
                policy: CachePolicy::of(&response, now),
            }),
            (304, Some(c)) if !c.policy.conditional_headers().is_empty() => {
                log::debug!("{what}: not modified");
                Ok(CachedDocument {
                    fetched_at: now,
                    policy: c.policy.renewed_by(&response, now),
                    ..c.clone()
                })
            }
            _ => Err(unexpected_status(&response, what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const BOUNDS: AgeBounds = AgeBounds {
        min: 60,
        max: 86_400,
    };
    /// `Date` of the answers below: `NOW` in IMF-fixdate.
    const DATE: &str = "Fri, 15 Jan 2027 08:00:00 GMT";

    fn answer(status: u16, headers: &[(&str, &str)]) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: b"{}".to_vec(),
        }
    }

    fn lifetime(headers: &[(&str, &str)]) -> Option<i64> {
        CachePolicy::of(&answer(200, headers), NOW).lifetime
    }

    #[test]
    fn the_fixture_date_is_now() {
        assert_eq!(date::parse(DATE), Some(NOW));
    }

    #[test]
    fn freshness_from_max_age_expires_and_age() {
        assert_eq!(lifetime(&[]), None);
        assert_eq!(
            lifetime(&[("Cache-Control", "public, max-age=3600")]),
            Some(3600)
        );
        assert_eq!(lifetime(&[("cache-control", "MAX-AGE=\"30\"")]), Some(30));
        // Several headers are one list; max-age wins over Expires.
        assert_eq!(
            lifetime(&[
                ("Cache-Control", "public"),
                ("Cache-Control", "max-age=10"),
                ("Expires", "Fri, 15 Jan 2027 09:00:00 GMT"),
                ("Date", DATE),
            ]),
            Some(10)
        );
        // Expires is counted from the answer's Date, not the device clock.
        let an_hour_after_date = [("Expires", "Fri, 15 Jan 2027 09:00:00 GMT"), ("Date", DATE)];
        assert_eq!(lifetime(&an_hour_after_date), Some(3600));
        assert_eq!(
            CachePolicy::of(&answer(200, &an_hour_after_date), NOW - 999_999).lifetime,
            Some(3600)
        );
        // Without Date, from the time it was received.
        assert_eq!(
            CachePolicy::of(
                &answer(200, &[("Expires", "Fri, 15 Jan 2027 08:10:00 GMT")]),
                NOW
            )
            .lifetime,
            Some(600)
        );
        // Age is what the answer spent in caches on the way.
        assert_eq!(
            lifetime(&[("Cache-Control", "max-age=100"), ("Age", "40")]),
            Some(60)
        );
        assert_eq!(
            lifetime(&[("Cache-Control", "max-age=100"), ("Age", "400")]),
            Some(0)
        );
        // Huge numbers are a long time, not an error.
        assert_eq!(
            lifetime(&[("Cache-Control", "max-age=99999999999999999999999")]),
            Some(i64::MAX)
        );
    }

    #[test]
    fn no_cache_and_malformed_values_are_stale_at_once() {
        for headers in [
            &[("Cache-Control", "no-cache, max-age=3600")][..],
            &[("Cache-Control", "max-age=soon")],
            &[("Cache-Control", "max-age=-5")],
            &[("Cache-Control", "max-age")],
            &[("Expires", "0"), ("Date", DATE)],
            &[("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"), ("Date", DATE)],
        ] {
            assert_eq!(lifetime(headers), Some(0), "{headers:?}");
        }
    }

    #[test]
    fn no_store_is_noted() {
        let p = CachePolicy::of(&answer(200, &[("Cache-Control", "No-Store")]), NOW);
        assert!(p.no_store);
        // Used for the minimum age only.
        assert_eq!(p.lifetime, Some(0));
        assert!(!CachePolicy::of(&answer(200, &[("Cache-Control", "max-age=1")]), NOW).no_store);
    }

    #[test]
    fn the_granted_lifetime_stays_within_the_bounds() {
        let granted = |lifetime| {
            CachePolicy {
                lifetime,
                ..CachePolicy::default()
            }
            .granted_lifetime(BOUNDS)
        };
        assert_eq!(granted(None), 86_400);
        assert_eq!(granted(Some(0)), 60);
        assert_eq!(granted(Some(600)), 600);
        assert_eq!(granted(Some(i64::MAX)), 86_400);
    }

    #[test]
    fn a_document_is_fresh_from_its_fetch_for_the_granted_lifetime() {
        let doc = CachedDocument {
            url: "https://a.example/jwks".into(),
            body: Map::new(),
            fetched_at: NOW,
            policy: CachePolicy {
                lifetime: Some(600),
                ..CachePolicy::default()
            },
        };
        assert!(doc.is_fresh(NOW, BOUNDS));
        assert!(doc.is_fresh(NOW + 599, BOUNDS));
        assert!(!doc.is_fresh(NOW + 600, BOUNDS));
        // A clock set back before the fetch does not extend it.
        assert!(!doc.is_fresh(NOW - 1, BOUNDS));
    }

    #[test]
    fn validators_are_sent_back_and_kept_across_a_304() {
        let first = CachePolicy::of(
            &answer(
                200,
                &[
                    ("ETag", "\"v1\""),
                    ("Last-Modified", DATE),
                    ("Cache-Control", "max-age=300"),
                ],
            ),
            NOW,
        );
        assert_eq!(
            first.conditional_headers(),
            [
                ("if-none-match".to_string(), "\"v1\"".to_string()),
                ("if-modified-since".to_string(), DATE.to_string())
            ]
        );
        // A bare 304 keeps everything; one with new headers replaces what it carries.
        assert_eq!(first.renewed_by(&answer(304, &[]), NOW + 10), first);
        let renewed = first.renewed_by(
            &answer(304, &[("Cache-Control", "no-store"), ("ETag", "W/\"v2\"")]),
            NOW + 10,
        );
        assert_eq!(renewed.lifetime, Some(0));
        assert!(renewed.no_store);
        assert_eq!(renewed.etag.as_deref(), Some("W/\"v2\""));
        assert_eq!(renewed.last_modified.as_deref(), Some(DATE));
    }

    #[test]
    fn unusable_validators_are_dropped() {
        let long = "x".repeat(MAX_VALIDATOR_LEN + 1);
        let p = CachePolicy::of(
            &answer(200, &[("ETag", &long), ("Last-Modified", "yesterday")]),
            NOW,
        );
        assert_eq!((p.etag, p.last_modified), (None, None));
        let p = CachePolicy::of(&answer(200, &[("ETag", "\"caf\u{e9}\"")]), NOW);
        assert_eq!(p.etag, None);
        assert!(p.conditional_headers().is_empty());
    }
}
