//! The provider's JSON Web Key Set: parsed key by key, cached while fresh (HTTP caching), refetched
//! once for an unknown `kid`.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use url::Url;

use crate::error::{Error, IdTokenCheck, Result};
use crate::http::Http;
use crate::http::caching::{AgeBounds, CachedDocument};
use crate::oidc::jwa::{Algorithm, Jwk, parse_key};
use crate::sync::lock;

/// Least time between two refetches caused by unknown `kid`s, so that tokens with made-up key ids
/// cannot make the client hammer the provider.
pub(crate) const REFETCH_MIN_INTERVAL_SECS: i64 = 60;

/// The usable keys of a JWKS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Parses a JWKS document. Keys that cannot be read or are not for signatures are skipped;
/// only a document without a `keys` array is an error.
pub(crate) fn parse_set(doc: &serde_json::Map<String, Value>) -> Result<JwkSet> {
    let Some(Value::Array(keys)) = doc.get("keys") else {
        return Err(Error::invalid_response("JWKS: `keys` must be an array"));
    };
    let mut set = JwkSet::default();
    for (i, key) in keys.iter().enumerate() {
        match parse_key(key) {
            Ok(k) => set.keys.push(k),
            Err(why) => log::debug!("JWKS: skipping key #{i}: {why}"),
        }
    }
    Ok(set)
}

/// The outcome of looking a key up.
enum Lookup<'a> {
    Found(&'a Jwk),
    Missing,
    Ambiguous,
}

impl Lookup<'_> {
    /// The key found, or the `UnknownKey` error that says why there is none.
    fn into_key(self) -> Result<Jwk> {
        match self {
            Lookup::Found(k) => Ok(k.clone()),
            Lookup::Ambiguous => Err(ambiguous()),
            Lookup::Missing => Err(unknown_key()),
        }
    }
}

impl JwkSet {
    /// The key for a token with `alg` and `kid`. Without a `kid`, the single key that fits `alg`;
    /// several fitting keys and no `kid` is ambiguous and refused (Keyfob does not try each).
    fn find(&self, alg: Algorithm, kid: Option<&str>) -> Lookup<'_> {
        let mut fitting = self
            .keys
            .iter()
            .filter(|k| alg.fits(&k.material) && k.alg.is_none_or(|a| a == alg));
        match kid {
            Some(kid) => {
                let mut named = fitting.filter(|k| k.kid.as_deref() == Some(kid));
                match (named.next(), named.next()) {
                    (Some(k), None) => Lookup::Found(k),
                    (None, _) => Lookup::Missing,
                    // Two keys under one kid: refuse rather than pick one.
                    (Some(_), Some(_)) => Lookup::Ambiguous,
                }
            }
            None => match (fitting.next(), fitting.next()) {
                (Some(k), None) => Lookup::Found(k),
                (None, _) => Lookup::Missing,
                (Some(_), Some(_)) => Lookup::Ambiguous,
            },
        }
    }
}

#[derive(Default)]
struct CacheState {
    set: Option<Arc<JwkSet>>,
    /// The document `set` was read from: where, when, and its caching headers.
    document: Option<CachedDocument>,
    /// When the last refetch for an unknown `kid` happened; the initial fetch does not count.
    last_refetch: Option<i64>,
    /// The set was fetched or revalidated since [`KeyCache::take_changed`].
    changed: bool,
}

/// Where an ID token's keys come from: the cache, the HTTP client that refills it, the
/// provider's `jwks_uri`, and the device time the cache's documents are stamped with.
pub(crate) struct KeySource<'a> {
    pub cache: &'a KeyCache,
    pub http: &'a Http,
    pub jwks_uri: &'a Url,
    pub now: i64,
}

/// The cached key set of one provider. Keys are trusted only while the document they came from
/// is fresh ([`AgeBounds`]); after that the set is revalidated (conditionally, when the provider
/// sent validators) before any key of it is used again, so a key the provider removed stops
/// being trusted once the cached copy has expired.
///
/// Times are device time (seconds), the clock the cached documents are stamped with.
pub(crate) struct KeyCache {
    state: Mutex<CacheState>,
    bounds: AgeBounds,
}

impl KeyCache {
    /// An empty cache whose documents stay fresh within `bounds`.
    pub fn new(bounds: AgeBounds) -> Self {
        KeyCache {
            state: Mutex::default(),
            bounds,
        }
    }

    /// The cached set when it came from `jwks_uri` and is fresh at `now`.
    fn fresh(&self, jwks_uri: &Url, now: i64) -> Option<Arc<JwkSet>> {
        let state = lock(&self.state);
        let doc = state.document.as_ref()?;
        (doc.url == jwks_uri.as_str() && doc.is_fresh(now, self.bounds))
            .then(|| state.set.clone())
            .flatten()
    }

    /// Fetches the set, or revalidates the cached copy of it.
    async fn fetch(&self, http: &Http, jwks_uri: &Url, now: i64) -> Result<Arc<JwkSet>> {
        let cached = lock(&self.state).document.clone();
        let document = http
            .get_document(jwks_uri, "JWKS", now, cached.as_ref())
            .await?;
        let set = Arc::new(parse_set(&document.body)?);
        let mut state = lock(&self.state);
        state.set = Some(set.clone());
        state.document = Some(document);
        state.changed = true;
        Ok(set)
    }

    /// Takes a stored copy of the set (from an earlier run) unless one is cached already.
    /// Whether it is still fresh is decided at each use. `false`: not a usable key set.
    pub fn restore(&self, document: CachedDocument) -> bool {
        let Ok(set) = parse_set(&document.body) else {
            return false;
        };
        let mut state = lock(&self.state);
        if state.document.is_none() {
            state.set = Some(Arc::new(set));
            state.document = Some(document);
        }
        true
    }

    /// The document the cached set came from, to persist.
    pub fn document(&self) -> Option<CachedDocument> {
        lock(&self.state).document.clone()
    }

    /// Whether the set changed (fetched or revalidated) since the last call.
    pub fn take_changed(&self) -> bool {
        std::mem::take(&mut lock(&self.state).changed)
    }

    /// Fetches (or revalidates) the set unless the cached one is fresh: while the browser is
    /// open at sign-in, and beside a token request when the cached copy went stale.
    pub async fn ensure_fresh(&self, http: &Http, jwks_uri: &Url, now: i64) -> Result<()> {
        if self.fresh(jwks_uri, now).is_none() {
            self.fetch(http, jwks_uri, now).await?;
        }
        Ok(())
    }

    /// The key for `alg`/`kid`: from the cached set while it is fresh, otherwise from the set
    /// fetched (or revalidated) now. A `kid` the cached set does not know gets one refetch (at
    /// most one per [`REFETCH_MIN_INTERVAL_SECS`]; none when the set was just fetched).
    pub async fn key_for(
        &self,
        http: &Http,
        jwks_uri: &Url,
        now: i64,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Jwk> {
        let (set, just_fetched) = match self.fresh(jwks_uri, now) {
            Some(set) => (set, false),
            None => (self.fetch(http, jwks_uri, now).await?, true),
        };
        match set.find(alg, kid) {
            Lookup::Missing => {}
            found_or_ambiguous => return found_or_ambiguous.into_key(),
        }
        if just_fetched || !self.may_refetch(now) {
            return Err(unknown_key());
        }
        log::debug!("JWKS: unknown key id, refetching once");
        let set = self.fetch(http, jwks_uri, now).await?;
        set.find(alg, kid).into_key()
    }

    /// Whether a refetch is allowed now (the first one always is; then one per
    /// [`REFETCH_MIN_INTERVAL_SECS`]); records it if so.
    fn may_refetch(&self, now: i64) -> bool {
        let mut state = lock(&self.state);
        let allowed = state
            .last_refetch
            .is_none_or(|t| now - t >= REFETCH_MIN_INTERVAL_SECS || now < t);
        if allowed {
            state.last_refetch = Some(now);
        }
        allowed
    }

    /// For a token without `kid` whose signature failed with the cached key: the provider may
    /// have rotated its only key. Refetches (same rate limit) and returns the key that now fits,
    /// if the set changed.
    pub async fn refetch_for_kidless(
        &self,
        http: &Http,
        jwks_uri: &Url,
        now: i64,
        alg: Algorithm,
    ) -> Result<Option<Jwk>> {
        let before = lock(&self.state).set.clone();
        if !self.may_refetch(now) {
            return Ok(None);
        }
        log::debug!("JWKS: signature failed without kid, refetching once");
        let set = self.fetch(http, jwks_uri, now).await?;
        if before.as_deref() == Some(&*set) {
            return Ok(None);
        }
        set.find(alg, None).into_key().map(Some)
    }
}

fn unknown_key() -> Error {
    Error::id_token(
        IdTokenCheck::UnknownKey,
        "no key in the provider's JWKS matches the ID token's kid and alg",
    )
}

fn ambiguous() -> Error {
    Error::id_token(
        IdTokenCheck::UnknownKey,
        "the provider's JWKS has several keys that could match the ID token (no kid, or a duplicated kid)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::jwa::KeyMaterial;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::json;

    fn rsa_jwk(kid: &str) -> Value {
        // A syntactically valid RSA key (values need not be a real key for parsing tests).
        json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
               "n": B64.encode([0u8, 0xc3, 0x11, 0x22]), "e": "AQAB"})
    }

    #[test]
    fn skips_unusable_keys_and_keeps_good_ones() {
        let doc = json!({"keys": [
            "garbage",
            {"kty": "oct", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "ops", "key_ops": ["encrypt"], "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "badb64", "n": "!!!", "e": "AQAB"},
            {"kty": "RSA", "kid": "hs", "alg": "HS256", "n": "AQAB", "e": "AQAB"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "EC", "kid": "mismatch", "alg": "RS256", "crv": "P-256", "x": B64.encode([1u8; 32]), "y": B64.encode([2u8; 32])},
            rsa_jwk("good"),
        ]});
        let set = parse_set(doc.as_object().unwrap()).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.keys[0].kid.as_deref(), Some("good"));
        // Leading zero of the modulus stripped.
        assert_eq!(
            set.keys[0].material,
            KeyMaterial::Rsa {
                n: vec![0xc3, 0x11, 0x22],
                e: vec![1, 0, 1]
            }
        );
    }

    #[test]
    fn a_document_without_keys_is_an_error() {
        assert!(parse_set(json!({"keys": {}}).as_object().unwrap()).is_err());
        assert!(parse_set(json!({}).as_object().unwrap()).is_err());
    }

    #[test]
    fn lookup_by_kid_and_without_kid() {
        let one = parse_set(json!({"keys": [rsa_jwk("a")]}).as_object().unwrap()).unwrap();
        assert!(matches!(
            one.find(Algorithm::Rs256, Some("a")),
            Lookup::Found(_)
        ));
        assert!(matches!(one.find(Algorithm::Rs256, None), Lookup::Found(_)));
        assert!(matches!(
            one.find(Algorithm::Rs256, Some("b")),
            Lookup::Missing
        ));
        // The key is restricted to RS256: PS256 may not use it.
        assert!(matches!(
            one.find(Algorithm::Ps256, Some("a")),
            Lookup::Missing
        ));
        assert!(matches!(one.find(Algorithm::Es256, None), Lookup::Missing));
        let two = parse_set(
            json!({"keys": [rsa_jwk("a"), rsa_jwk("b")]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert!(matches!(
            two.find(Algorithm::Rs256, None),
            Lookup::Ambiguous
        ));
        assert!(matches!(
            two.find(Algorithm::Rs256, Some("b")),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn a_stored_set_is_restored_but_not_reported_as_changed() {
        let cache = KeyCache::new(AgeBounds { min: 60, max: 3600 });
        let stored = |keys: Value| CachedDocument {
            url: "https://auth.company.com/jwks".into(),
            body: json!({ "keys": keys }).as_object().unwrap().clone(),
            fetched_at: 1_800_000_000,
            policy: Default::default(),
        };
        assert!(!cache.restore(stored(json!("not an array"))));
        assert_eq!(cache.document(), None);
        let document = stored(json!([rsa_jwk("a")]));
        assert!(cache.restore(document.clone()));
        assert_eq!(cache.document(), Some(document));
        // Only a fetch or a revalidation is news for the storage.
        assert!(!cache.take_changed());
    }

    #[tokio::test]
    async fn a_failed_signature_without_kid_refetches_once_and_takes_only_a_rotated_key() {
        use crate::test_support::{ISSUER, NOW, ScriptedProvider, TestSigner};
        let provider = ScriptedProvider::new();
        let http = Http::new(provider.clone(), std::time::Duration::from_secs(5), 1 << 20);
        let jwks_uri = Url::parse(&format!("{ISSUER}/jwks")).unwrap();
        let cache = KeyCache::new(AgeBounds { min: 60, max: 3600 });
        let refetch = |now| cache.refetch_for_kidless(&http, &jwks_uri, now, Algorithm::Es256);
        cache
            .key_for(&http, &jwks_uri, NOW, Algorithm::Es256, None)
            .await
            .unwrap();
        // The same set again: no other key to try.
        assert_eq!(refetch(NOW).await.unwrap(), None);
        let rotated = TestSigner::new("k2");
        provider.publish_keys(vec![rotated.jwk()]);
        // Within the minute: no refetch at all.
        assert_eq!(refetch(NOW + 1).await.unwrap(), None);
        assert_eq!(
            refetch(NOW + REFETCH_MIN_INTERVAL_SECS).await.unwrap(),
            Some(parse_key(&rotated.jwk()).unwrap())
        );
        assert_eq!(provider.count("GET /jwks"), 3);
    }

    #[test]
    fn unknown_kids_refetch_at_most_once_a_minute() {
        let cache = KeyCache::new(AgeBounds { min: 60, max: 3600 });
        let t = 1_800_000_000;
        assert!(cache.may_refetch(t), "the first refetch");
        assert!(!cache.may_refetch(t));
        assert!(!cache.may_refetch(t + REFETCH_MIN_INTERVAL_SECS - 1));
        assert!(cache.may_refetch(t + REFETCH_MIN_INTERVAL_SECS));
        // A clock set back must not lock refetches out for the time it jumped.
        assert!(cache.may_refetch(t));
        assert!(!cache.may_refetch(t + 1));
    }
}
