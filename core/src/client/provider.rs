//! The provider's metadata as the client keeps it: the discovery document and the signing keys,
//! in memory and in storage beside the session ([`super::provider_record`]), reused while fresh
//! (HTTP caching, within [`crate::ConfigBuilder::metadata_max_age`] and
//! [`crate::ConfigBuilder::metadata_min_age`]), revalidated when stale. So a new process, or an
//! app launched with an expired access token, makes exactly one request: the refresh.
//!
//! What each path does:
//!
//! - [`Client::provider_metadata`] (the start of a sign-in, logout, userinfo): the copy in memory
//!   or storage while it is fresh; a stale one is revalidated first, and none is fetched.
//! - A grant (code exchange, refresh) uses whatever copy is known, fresh or stale, so that it
//!   costs one round trip: stale copies (discovery, keys) are revalidated *beside* the token
//!   request, and the ID token of its answer is checked against keys that are fresh by then. A
//!   token endpoint answering 404 or 410 has moved: discovery is fetched again and the grant is
//!   retried once at the new endpoint (a grant that reached no endpoint spent nothing).
//! - Keys are trusted only while fresh (`oidc::jwks`); an unknown `kid` refetches once,
//!   rate-limited, and fails closed.
//! - A revalidated discovery document that fails validation (another issuer, an endpoint that is
//!   not HTTPS) is not used, and the copies in memory and storage are dropped: the provider no
//!   longer vouches for them. The next need fetches again, and fails until the provider is fixed.
//! - Storage is read at the first need, and again when the copy in memory is stale (a sibling
//!   process may have revalidated it meanwhile). It is written after every fetch or
//!   revalidation, with a plain save: any process's copy is as good as another's. Unreadable,
//!   foreign or invalid stored metadata is discarded with a warning and fetched again; a storage
//!   failure only costs requests, never an error.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures_util::future::join;
use url::Url;

use super::Client;
use super::provider_record::{self, METADATA_KEY, StoredProvider};
use crate::error::{Error, ErrorKind, Result};
use crate::http::caching::{AgeBounds, CachedDocument};
use crate::oidc::discovery::{self, ProviderMetadata};
use crate::oidc::jwks::KeyCache;
use crate::oidc::token::{RefreshFailure, TokenResponse};
use crate::storage::SecureStorage;
use crate::sync::lock;

/// A validated discovery document and the document it was read from.
#[derive(Clone)]
struct Discovered {
    metadata: Arc<ProviderMetadata>,
    document: CachedDocument,
}

#[derive(Default)]
struct DiscoveryState {
    current: Option<Discovered>,
    /// Fetched or revalidated since the last save.
    changed: bool,
}

/// The client's copy of the provider's metadata.
pub(crate) struct ProviderCache {
    storage: Arc<dyn SecureStorage>,
    discovery: Mutex<DiscoveryState>,
    /// The provider's signing keys.
    pub keys: KeyCache,
}

impl ProviderCache {
    /// An empty cache kept in `storage`, its documents fresh within `bounds`.
    pub fn new(storage: Arc<dyn SecureStorage>, bounds: AgeBounds) -> Self {
        ProviderCache {
            storage,
            discovery: Mutex::default(),
            keys: KeyCache::new(bounds),
        }
    }
}

/// The outcome of a grant: the token response, or why there is none (for a refresh, with the
/// rotated refresh token an unusable answer carried).
pub(super) type GrantOutcome = std::result::Result<TokenResponse, RefreshFailure>;

/// A grant in flight.
pub(super) type GrantFuture<'a> = Pin<Box<dyn Future<Output = GrantOutcome> + Send + 'a>>;

/// A grant (code exchange, refresh): a token request sent to the token endpoint it is given.
/// Boxed, so that one copy of the machinery around it serves both grants (issue 9's size
/// budget).
pub(super) type Grant<'a> = dyn Fn(Url) -> GrantFuture<'a> + Sync + 'a;

/// Whether the token endpoint answered that it is not there (any more): 404 or 410.
fn endpoint_gone(error: &Error) -> bool {
    matches!(error.http_status_code(), Some(404 | 410))
}

impl Client {
    fn age_bounds(&self) -> AgeBounds {
        self.config.metadata_age_bounds()
    }

    fn is_fresh(&self, document: &CachedDocument) -> bool {
        document.is_fresh(self.clock.now(), self.age_bounds())
    }

    /// The provider's validated metadata: the copy in memory or storage while it is fresh,
    /// otherwise revalidated with the provider (or fetched). See
    /// [`crate::ConfigBuilder::metadata_max_age`].
    pub async fn provider_metadata(&self) -> Result<Arc<ProviderMetadata>> {
        match self.known_discovery() {
            Some(known) if self.is_fresh(&known.document) => Ok(known.metadata),
            known => self.fetch_discovery(known.map(|k| k.document)).await,
        }
    }

    /// The metadata a grant uses: any known copy, fresh or stale (it is revalidated beside the
    /// grant); fetched only when none is known.
    pub(super) async fn metadata_for_grant(&self) -> Result<Arc<ProviderMetadata>> {
        match self.known_discovery() {
            Some(known) => Ok(known.metadata),
            None => self.fetch_discovery(None).await,
        }
    }

    /// Makes sure the keys are fresh (fetched or revalidated) while the browser is open, so that
    /// completing the sign-in takes one request. Not fatal: validation fetches them if needed.
    pub(super) async fn prefetch_keys(&self, provider: &ProviderMetadata) {
        let keys = &self.provider.keys;
        if let Err(e) = keys
            .ensure_fresh(&self.http, &provider.jwks_uri, self.clock.now())
            .await
        {
            log::warn!("JWKS prefetch failed: {e}");
        }
        self.save_metadata();
    }

    /// Runs `grant` at `provider`'s token endpoint with the stale metadata revalidated beside
    /// it. A token endpoint that answers 404 or 410 is looked up again, and the grant retried
    /// once where it moved. Returns the metadata current afterwards with the grant's outcome.
    pub(super) async fn grant_with_fresh_metadata(
        &self,
        provider: Arc<ProviderMetadata>,
        grant: &Grant<'_>,
    ) -> (Arc<ProviderMetadata>, GrantOutcome) {
        let sent_to = provider.token_endpoint.clone();
        let (outcome, ()) = join(grant(sent_to.clone()), self.revalidate_stale(&provider)).await;
        let current = self.current_discovery().unwrap_or(provider);
        let outcome = match outcome {
            Err(e) if endpoint_gone(&e.error) => e,
            other => {
                self.save_metadata();
                return (current, other);
            }
        };
        log::warn!("the token endpoint is gone; looking the provider's metadata up again");
        // The revalidation beside the grant may have found where it went already.
        let moved = if current.token_endpoint != sent_to {
            Ok(current.clone())
        } else {
            let cached = lock(&self.provider.discovery)
                .current
                .as_ref()
                .map(|d| d.document.clone());
            self.fetch_discovery(cached).await
        };
        match moved {
            Ok(moved) if moved.token_endpoint != sent_to => {
                // Keys at a moved `jwks_uri` are fetched when the answer's ID token needs them.
                let retried = grant(moved.token_endpoint.clone()).await;
                (moved, retried)
            }
            Ok(same) => (same, Err(outcome)),
            Err(e) => {
                log::warn!("the provider's metadata could not be looked up again: {e}");
                (current, Err(outcome))
            }
        }
    }

    /// Revalidates the stale copies (discovery, keys), both at once. Failures are logged: a
    /// stale discovery document stays in use; stale keys are fetched again when a token needs
    /// them, and are not trusted meanwhile.
    async fn revalidate_stale(&self, provider: &ProviderMetadata) {
        let stale_discovery = lock(&self.provider.discovery)
            .current
            .as_ref()
            .filter(|d| !self.is_fresh(&d.document))
            .map(|d| d.document.clone());
        let discovery = async {
            if let Some(stale) = stale_discovery
                && let Err(e) = self.fetch_discovery(Some(stale)).await
            {
                log::warn!("provider metadata not revalidated: {e}");
            }
        };
        let keys = async {
            let keys = &self.provider.keys;
            if let Err(e) = keys
                .ensure_fresh(&self.http, &provider.jwks_uri, self.clock.now())
                .await
            {
                log::warn!("JWKS not revalidated: {e}");
            }
        };
        join(discovery, keys).await;
    }

    /// The discovery copy in memory.
    fn current_discovery(&self) -> Option<Arc<ProviderMetadata>> {
        lock(&self.provider.discovery)
            .current
            .as_ref()
            .map(|d| d.metadata.clone())
    }

    /// The discovery copy known now, fresh or not: memory's while it is fresh, else the newer of
    /// memory's and storage's.
    fn known_discovery(&self) -> Option<Discovered> {
        let in_memory = lock(&self.provider.discovery).current.clone();
        if let Some(known) = in_memory
            && self.is_fresh(&known.document)
        {
            return Some(known);
        }
        self.load_stored();
        lock(&self.provider.discovery).current.clone()
    }

    /// Fetches discovery, or revalidates `cached`, and keeps what came back.
    async fn fetch_discovery(
        &self,
        cached: Option<CachedDocument>,
    ) -> Result<Arc<ProviderMetadata>> {
        let fetched = discovery::fetch(
            &self.http,
            &self.config.issuer,
            &self.config.insecure_http_hosts,
            self.clock.now(),
            cached.as_ref(),
        )
        .await;
        let metadata = match fetched {
            Ok((metadata, document)) => {
                let metadata = Arc::new(metadata);
                let mut state = lock(&self.provider.discovery);
                state.current = Some(Discovered {
                    metadata: metadata.clone(),
                    document,
                });
                state.changed = true;
                metadata
            }
            Err(e) => {
                if cached.is_some()
                    && matches!(e.kind(), ErrorKind::Discovery | ErrorKind::InsecureUrl)
                {
                    log::warn!(
                        "the provider's metadata no longer validates; dropping the cached copy"
                    );
                    self.forget_metadata();
                }
                return Err(e);
            }
        };
        self.save_metadata();
        Ok(metadata)
    }

    /// Drops the discovery copies in memory and storage.
    fn forget_metadata(&self) {
        let mut state = lock(&self.provider.discovery);
        state.current = None;
        state.changed = false;
        drop(state);
        if let Err(e) = self.provider.storage.delete(METADATA_KEY) {
            log::warn!(
                "stored provider metadata not deleted ({:?}): {}",
                e.kind,
                e.message
            );
        }
    }

    /// Reads the stored metadata and takes what is newer than memory's and still validates.
    fn load_stored(&self) {
        let stored = match self.provider.storage.load(METADATA_KEY) {
            Ok(Some(bytes)) => provider_record::decode(&bytes, &self.config.issuer),
            Ok(None) => return,
            Err(e) => {
                log::debug!(
                    "stored provider metadata not read ({:?}): {}",
                    e.kind,
                    e.message
                );
                return;
            }
        };
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => {
                log::warn!(
                    "stored provider metadata discarded ({:?}): {}",
                    e.kind,
                    e.message
                );
                return;
            }
        };
        let Some(discovered) = stored.discovery.and_then(|d| self.validate_stored(d)) else {
            return;
        };
        if let Some(jwks) = stored.jwks {
            if jwks.url != discovered.metadata.jwks_uri.as_str() {
                log::warn!("stored JWKS discarded: not the provider's jwks_uri");
            } else if !self.provider.keys.restore(jwks) {
                log::warn!("stored JWKS discarded: not a key set");
            }
        }
        let mut state = lock(&self.provider.discovery);
        let newer = state
            .current
            .as_ref()
            .is_none_or(|d| d.document.fetched_at < discovered.document.fetched_at);
        if newer {
            state.current = Some(discovered);
        }
    }

    /// A stored discovery document, validated as if it had just been fetched.
    fn validate_stored(&self, document: CachedDocument) -> Option<Discovered> {
        let (issuer, hosts) = (&self.config.issuer, &self.config.insecure_http_hosts);
        let from_here =
            discovery::discovery_url(issuer, hosts).is_ok_and(|url| url.as_str() == document.url);
        if !from_here {
            log::warn!("stored discovery document discarded: not fetched from this issuer");
            return None;
        }
        match discovery::parse(&document.body, issuer, hosts) {
            Ok(metadata) => Some(Discovered {
                metadata: Arc::new(metadata),
                document,
            }),
            Err(e) => {
                log::warn!(
                    "stored discovery document discarded ({:?}): {}",
                    e.kind(),
                    e.message()
                );
                None
            }
        }
    }

    /// Writes the metadata to storage if it changed since the last write (documents marked
    /// `no-store` are left out). A failed write is logged: it only costs requests later.
    pub(super) fn save_metadata(&self) {
        let keys_changed = self.provider.keys.take_changed();
        let discovery = {
            let mut state = lock(&self.provider.discovery);
            if !std::mem::take(&mut state.changed) && !keys_changed {
                return;
            }
            state.current.as_ref().map(|d| d.document.clone())
        };
        let stored = StoredProvider {
            discovery,
            jwks: self.provider.keys.document(),
        };
        let storage = &self.provider.storage;
        let written = match provider_record::encode(&self.config.issuer, &stored) {
            Some(bytes) => storage.save(METADATA_KEY, &bytes),
            None => storage.delete(METADATA_KEY),
        };
        if let Err(e) = written {
            log::warn!("provider metadata not saved ({:?}): {}", e.kind, e.message);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::http::caching::CachePolicy;
    use crate::oidc::dpop::{Dpop, DpopKey, SoftwareDpopKey};
    use crate::session::record::SESSION_KEY;
    use crate::storage::MemoryStorage;
    use crate::test_support::{
        CLIENT_ID, ISSUER, NOW, ScriptedProvider, TestSigner, client_on, client_with_session,
        session_record, session_tokens,
    };

    const DISCOVERY: &str = "GET /.well-known/openid-configuration";

    /// A signed-in client whose storage holds the provider's metadata, as a sign-in leaves it
    /// (`begin_login` fetched discovery and the keys), with no request recorded yet.
    async fn signed_in_with_metadata(
        provider: &Arc<ScriptedProvider>,
    ) -> (Arc<Client>, Arc<MemoryStorage>) {
        let tokens = session_tokens(provider, "u1");
        let (client, storage) = client_with_session(provider, Some(&tokens));
        client.begin_login().await.unwrap();
        client.cancel_login().unwrap();
        assert!(storage.load(METADATA_KEY).unwrap().is_some());
        provider.clear_requests();
        (client, storage)
    }

    /// The app launched again over `storage`, at `now`.
    fn relaunch(
        provider: &Arc<ScriptedProvider>,
        storage: &Arc<MemoryStorage>,
        now: i64,
    ) -> (Arc<Client>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(now));
        (client_on(provider, storage, clock.clone()), clock)
    }

    /// A client over an empty storage whose provider sends `headers` (and `ETag`s with
    /// `etags`), with the metadata fetched at `NOW` (one discovery request recorded).
    async fn fetched_from(
        headers: &[(&str, &str)],
        etags: bool,
    ) -> (
        Arc<ScriptedProvider>,
        Arc<MemoryStorage>,
        Arc<Client>,
        Arc<ManualClock>,
    ) {
        let provider = ScriptedProvider::new();
        provider.cache_with(headers, etags);
        let storage = Arc::new(MemoryStorage::new());
        let (client, clock) = relaunch(&provider, &storage, NOW);
        client.provider_metadata().await.unwrap();
        assert_eq!(provider.requests(), [DISCOVERY]);
        (provider, storage, client, clock)
    }

    /// The scripted provider's discovery document, as a test stores it.
    fn discovery_body() -> serde_json::Value {
        json!({
            "issuer": ISSUER,
            "authorization_endpoint": format!("{ISSUER}/authorize"),
            "token_endpoint": format!("{ISSUER}/token"),
            "jwks_uri": format!("{ISSUER}/jwks"),
        })
    }

    /// `body`, stored as fetched from `url` at `NOW` with no caching headers.
    fn stored_discovery(body: serde_json::Value, url: &str) -> CachedDocument {
        CachedDocument {
            url: url.to_string(),
            body: body.as_object().unwrap().clone(),
            fetched_at: NOW,
            policy: CachePolicy::default(),
        }
    }

    /// An ID token for `u1` signed by `signer`.
    fn signed_by(signer: &TestSigner) -> String {
        let claims = json!({"iss": ISSUER, "sub": "u1", "aud": crate::test_support::CLIENT_ID,
                            "iat": NOW, "exp": NOW + 3600});
        signer.sign(json!({}), &claims)
    }

    #[tokio::test]
    async fn a_relaunch_refreshes_an_expired_token_with_one_request_and_a_fresh_one_with_none() {
        let provider = ScriptedProvider::new();
        let (_, storage) = signed_in_with_metadata(&provider).await;

        let (fresh, _) = relaunch(&provider, &storage, NOW + 10);
        assert_eq!(fresh.access_token().await.unwrap().expose(), "at-1");
        assert!(provider.requests().is_empty());

        // The access token expired at NOW + 60.
        let (expired, _) = relaunch(&provider, &storage, NOW + 120);
        let id_token = provider.id_token("u1", json!({"email": "new@example.com"}));
        provider.answer_tokens(json!({"id_token": id_token}));
        assert_eq!(expired.access_token().await.unwrap().expose(), "at-2");
        assert_eq!(provider.requests(), ["POST /token refresh_token"]);
        // Its ID token was validated against the stored keys.
        assert_eq!(
            expired.claims().unwrap().email.as_deref(),
            Some("new@example.com")
        );
    }

    #[tokio::test]
    async fn a_sign_in_finished_after_a_relaunch_makes_one_request_after_the_callback() {
        let provider = ScriptedProvider::new();
        let storage = Arc::new(MemoryStorage::new());
        let (first, _) = relaunch(&provider, &storage, NOW);
        let url = url::Url::parse(&first.begin_login().await.unwrap()).unwrap();
        assert_eq!(provider.requests(), [DISCOVERY, "GET /jwks"]);
        let param = |name: &str| {
            url.query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        provider.clear_requests();

        // The browser brings the app back after the OS killed it: a new client over the storage
        // holding the pending login and the metadata the first one fetched.
        let (second, _) = relaunch(&provider, &storage, NOW + 30);
        let id_token = provider.id_token("u1", json!({"nonce": param("nonce")}));
        provider.answer_tokens(json!({"id_token": id_token}));
        let callback = format!("myapp://callback?code=c&state={}", param("state"));
        let claims = second.handle_redirect(&callback).await.unwrap();
        assert_eq!(claims.subject, "u1");
        assert_eq!(provider.requests(), ["POST /token authorization_code"]);
    }

    #[tokio::test]
    async fn metadata_expires_and_is_revalidated_with_its_etag() {
        let (provider, storage, client, clock) =
            fetched_from(&[("Cache-Control", "max-age=300")], true).await;
        clock.advance(299);
        client.provider_metadata().await.unwrap();
        assert_eq!(provider.count(DISCOVERY), 1);
        clock.advance(1);
        client.provider_metadata().await.unwrap();
        assert_eq!(
            provider.requests().last().unwrap(),
            &format!("{DISCOVERY} conditional 304")
        );
        // Renewed for another 300 s, here and for the next launch.
        clock.advance(299);
        client.provider_metadata().await.unwrap();
        let (next, _) = relaunch(&provider, &storage, NOW + 599);
        next.provider_metadata().await.unwrap();
        assert_eq!(provider.count(DISCOVERY), 2);

        // A provider that sends no validators is asked again in full.
        let (plain, _, client, clock) =
            fetched_from(&[("Cache-Control", "max-age=300")], false).await;
        clock.advance(300);
        client.provider_metadata().await.unwrap();
        assert_eq!(plain.requests(), [DISCOVERY, DISCOVERY]);
    }

    #[tokio::test]
    async fn stale_metadata_is_revalidated_beside_the_refresh_not_before_it() {
        let provider = ScriptedProvider::new();
        provider.cache_with(&[("Cache-Control", "max-age=0")], true);
        let (_, storage) = signed_in_with_metadata(&provider).await;
        // max-age=0 is stale after the minimum age (60 s).
        let (client, _) = relaunch(&provider, &storage, NOW + 61);
        provider.answer_tokens(json!({"id_token": provider.id_token("u1", json!({}))}));
        assert_eq!(client.access_token().await.unwrap().expose(), "at-2");
        assert_eq!(
            provider.requests(),
            [
                "POST /token refresh_token".to_string(),
                format!("{DISCOVERY} conditional 304"),
                "GET /jwks conditional 304".to_string(),
            ]
        );
    }

    #[tokio::test]
    async fn a_removed_key_is_trusted_until_the_cached_keys_expire() {
        let provider = ScriptedProvider::new();
        provider.cache_with(&[("Cache-Control", "max-age=300")], false);
        let (client, storage) = signed_in_with_metadata(&provider).await;
        drop(client);
        provider.publish_keys(vec![TestSigner::new("k2").jwk()]);

        let (client, clock) = relaunch(&provider, &storage, NOW + 100);
        provider.answer_tokens(json!({"id_token": provider.id_token("u1", json!({}))}));
        client.refresh().await.unwrap();
        assert_eq!(provider.count("GET /jwks"), 0);

        clock.advance(300);
        provider.answer_tokens(json!({"id_token": provider.id_token("u1", json!({}))}));
        let e = client.refresh().await.unwrap_err();
        assert_eq!(e.id_token_check(), Some(crate::IdTokenCheck::UnknownKey));
        assert!(provider.count("GET /jwks") >= 1);
    }

    #[tokio::test]
    async fn an_unknown_kid_refetches_the_keys_once() {
        let provider = ScriptedProvider::new();
        let (client, _) = signed_in_with_metadata(&provider).await;
        let rotated = TestSigner::new("k2");
        provider.publish_keys(vec![provider.signer.jwk(), rotated.jwk()]);

        provider.answer_tokens(json!({"id_token": signed_by(&rotated)}));
        client.refresh().await.unwrap();
        assert_eq!(provider.count("GET /jwks"), 1);

        // Another unknown kid within the minute: no request, refused.
        provider.answer_tokens(json!({"id_token": signed_by(&TestSigner::new("k9"))}));
        let e = client.refresh().await.unwrap_err();
        assert_eq!(e.id_token_check(), Some(crate::IdTokenCheck::UnknownKey));
        assert_eq!(provider.count("GET /jwks"), 1);
    }

    #[tokio::test]
    async fn corrupt_foreign_or_invalid_stored_metadata_is_discarded_and_fetched_again() {
        let provider = ScriptedProvider::new();
        let here = format!("{ISSUER}/.well-known/openid-configuration");
        let good = discovery_body();
        let mut other_issuer = good.clone();
        other_issuer["issuer"] = json!("https://evil.example");
        let mut insecure = good.clone();
        insecure["token_endpoint"] = json!("http://op.example/token");
        let record = |issuer: &str, doc: CachedDocument| {
            let stored = StoredProvider {
                discovery: Some(doc),
                jwks: None,
            };
            provider_record::encode(issuer, &stored).unwrap()
        };
        let unusable = [
            b"\x00not a record".to_vec(),
            br#"{"format": 9}"#.to_vec(),
            record(
                "https://evil.example",
                stored_discovery(good.clone(), &here),
            ),
            record(ISSUER, stored_discovery(other_issuer, &here)),
            record(ISSUER, stored_discovery(insecure, &here)),
            record(
                ISSUER,
                stored_discovery(
                    good.clone(),
                    "https://evil.example/.well-known/openid-configuration",
                ),
            ),
        ];
        for stored in unusable {
            let storage = Arc::new(MemoryStorage::new());
            storage.save(METADATA_KEY, &stored).unwrap();
            provider.clear_requests();
            let (client, _) = relaunch(&provider, &storage, NOW);
            let metadata = client.provider_metadata().await.unwrap();
            assert_eq!(metadata.issuer, ISSUER);
            assert_eq!(provider.requests(), [DISCOVERY]);
            let replaced = storage.load(METADATA_KEY).unwrap().unwrap();
            assert!(
                provider_record::decode(&replaced, ISSUER)
                    .unwrap()
                    .discovery
                    .is_some()
            );
        }
        // A well-formed record is used as it is.
        let storage = Arc::new(MemoryStorage::new());
        storage
            .save(METADATA_KEY, &record(ISSUER, stored_discovery(good, &here)))
            .unwrap();
        provider.clear_requests();
        let (client, _) = relaunch(&provider, &storage, NOW);
        client.provider_metadata().await.unwrap();
        assert!(provider.requests().is_empty());
    }

    #[tokio::test]
    async fn a_token_endpoint_that_moved_is_followed_once() {
        let provider = ScriptedProvider::new();
        let (client, storage) = signed_in_with_metadata(&provider).await;
        provider.move_token_endpoint("/oauth2/token");
        provider.answer_tokens(json!({}));
        assert_eq!(
            client.refresh().await.unwrap().access_token().expose(),
            "at-2"
        );
        assert_eq!(
            provider.requests(),
            [
                "POST /token refresh_token",
                DISCOVERY,
                "POST /oauth2/token refresh_token"
            ]
        );
        // The next launch goes to the new endpoint straight away.
        let (next, _) = relaunch(&provider, &storage, NOW);
        let metadata = next.provider_metadata().await.unwrap();
        assert_eq!(metadata.token_endpoint.path(), "/oauth2/token");
        assert_eq!(provider.count(DISCOVERY), 1);
    }

    #[tokio::test]
    async fn a_moved_token_endpoint_gets_a_dpop_proof_made_for_its_new_url() {
        let provider = ScriptedProvider::new();
        let key: Arc<dyn DpopKey> = Arc::new(SoftwareDpopKey::generate().unwrap());
        let mut tokens = session_tokens(&provider, "u1");
        tokens.dpop_jkt = Some(Dpop::new(key.clone()).thumbprint().unwrap());
        let storage = Arc::new(MemoryStorage::new());
        storage.save(SESSION_KEY, &session_record(&tokens)).unwrap();
        let config = Config::builder(ISSUER, CLIENT_ID, "myapp://callback")
            .build()
            .unwrap();
        let client = Client::new(config, provider.clone())
            .with_storage(storage)
            .with_clock(Arc::new(ManualClock::new(NOW)))
            .with_dpop_key(key);
        // Discovery and keys known, as a sign-in leaves them.
        client.begin_login().await.unwrap();
        client.cancel_login().unwrap();
        provider.clear_requests();

        provider.move_token_endpoint("/oauth2/token");
        provider.answer_tokens(json!({"token_type": "DPoP"}));
        let refreshed = client.refresh().await.unwrap();
        assert_eq!(refreshed.token_type(), "DPoP");
        assert_eq!(
            provider.requests(),
            [
                "POST /token refresh_token dpop@/token",
                DISCOVERY,
                "POST /oauth2/token refresh_token dpop@/oauth2/token"
            ]
        );
    }

    #[tokio::test]
    async fn stored_metadata_keeps_what_dpop_and_par_need() {
        let provider = ScriptedProvider::new();
        let par = format!("{ISSUER}/par");
        let mut body = discovery_body();
        body["pushed_authorization_request_endpoint"] = json!(par);
        body["require_pushed_authorization_requests"] = json!(true);
        body["dpop_signing_alg_values_supported"] = json!(["ES256"]);
        let here = format!("{ISSUER}/.well-known/openid-configuration");
        let stored = StoredProvider {
            discovery: Some(stored_discovery(body, &here)),
            jwks: None,
        };
        let storage = Arc::new(MemoryStorage::new());
        let record = provider_record::encode(ISSUER, &stored).unwrap();
        storage.save(METADATA_KEY, &record).unwrap();
        let (client, _) = relaunch(&provider, &storage, NOW);
        let metadata = client.provider_metadata().await.unwrap();
        assert!(provider.requests().is_empty());
        assert!(metadata.supports_dpop());
        assert!(metadata.require_pushed_authorization_requests);
        assert_eq!(
            metadata
                .pushed_authorization_request_endpoint
                .as_ref()
                .map(Url::as_str),
            Some(par.as_str())
        );
    }

    #[tokio::test]
    async fn a_token_endpoint_gone_for_good_is_looked_up_once_and_reported() {
        let provider = ScriptedProvider::new();
        let (client, storage) = signed_in_with_metadata(&provider).await;
        let before = crate::test_support::stored_tokens(&storage);
        // 404, while discovery still names it.
        provider.break_token_endpoint();
        let e = client.refresh().await.unwrap_err();
        assert_eq!(e.http_status_code(), Some(404));
        assert_eq!(
            provider.requests(),
            ["POST /token refresh_token", DISCOVERY]
        );
        assert_eq!(crate::test_support::stored_tokens(&storage), before);
    }

    #[tokio::test]
    async fn a_revalidated_document_of_another_issuer_is_refused_and_forgotten() {
        let (provider, storage, client, clock) =
            fetched_from(&[("Cache-Control", "max-age=300")], false).await;
        provider.claim_issuer("https://evil.example");
        clock.advance(300);
        let e = client.provider_metadata().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Discovery);
        assert!(storage.load(METADATA_KEY).unwrap().is_none());
        // Not used any more: the next need asks again, and is refused again.
        let e = client.metadata_for_grant().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Discovery);
        assert_eq!(provider.count(DISCOVERY), 3);
    }

    #[tokio::test]
    async fn no_store_metadata_is_kept_in_memory_for_the_minimum_age_only() {
        let (provider, storage, client, clock) =
            fetched_from(&[("Cache-Control", "no-store")], false).await;
        assert!(storage.load(METADATA_KEY).unwrap().is_none());
        clock.advance(59);
        client.provider_metadata().await.unwrap();
        assert_eq!(provider.count(DISCOVERY), 1);
        clock.advance(1);
        client.provider_metadata().await.unwrap();
        assert_eq!(provider.count(DISCOVERY), 2);
        // A new process has nothing stored to start from.
        let (next, _) = relaunch(&provider, &storage, NOW + 60);
        next.provider_metadata().await.unwrap();
        assert_eq!(provider.count(DISCOVERY), 3);
    }
}
