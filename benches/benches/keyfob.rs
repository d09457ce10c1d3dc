//! Keyfob's benchmarks (issue 9). `scripts/bench.sh` runs them with quick settings
//! (`KEYFOB_BENCH_QUICK=1`) and turns the results into one table; `cargo bench` alone runs them
//! with criterion's full defaults.
//!
//! Groups:
//! - `hot_path`: `Client::access_token()` and `cached_access_token()` with a valid token in memory,
//!   the same for one API's own token (`access_token_for`, `cached_access_token_for`, RFC 8707),
//!   and the Rust side of the exported `KeyfobClient` accessors.
//! - `id_token`: RS256 ID token validation with a cached JWKS — Keyfob, `openidconnect` 4 and a raw
//!   `ring` verify, on the same token. Keyfob validates ID tokens only inside `handle_redirect`
//!   and `refresh`, so its figure is `refresh` with an ID token in the response minus `refresh`
//!   without one (same client, same in-memory provider); the `paired` run measures that
//!   difference and the raw verify interleaved, round by round, for a drift-free ratio.
//! - `callback`: `handle_redirect` (callback checks, code exchange over the in-memory transport,
//!   token response, ID token validation, persisting the session) and `begin_login`.
//! - `concurrency`: 1000 tasks call `access_token()` on an expired token at once.
//! - `refresh_window`: `access_token()` for a caller whose token is due for a refresh but not
//!   expired, refresh-ahead off (the caller waits for the refresh) and on (a tokio spawner runs
//!   it); and a minute of steady use of a 10-second token, counting refreshes and callers that
//!   waited for one.
//! - `cold_start`: a new client restoring a stored session and handing out its token, no network.
//! - `dpop`: `authorization_headers` (what an app puts on an API request) for a Bearer session and
//!   for a session bound to a software DPoP key (a proof: JSON, ES256 signature, base64), and
//!   `access_token()` on the DPoP-bound session; the ES256 signature alone, for the floor.
//!
//! Counts that are not timings (requests after the callback, refreshes per 1000 callers, requests
//! during a cold start) are checked here and written to `KEYFOB_BENCH_FACTS` for the report. No
//! timing is ever asserted.

use std::hint::black_box;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keyfob::ffi::{
    HttpHeader, KeyfobClient, KeyfobConfig, KeyfobHttpRequest, KeyfobHttpResponse,
    KeyfobHttpTransport, TransportFailure,
};
use keyfob::{
    Client, FileStorage, HttpMethod, HttpRequest, HttpTransport, MemoryStorage, SecureStorage,
};
use keyfob_benches::*;
use serde_json::json;

fn quick() -> bool {
    std::env::var_os("KEYFOB_BENCH_QUICK").is_some_and(|v| v != "0")
}

fn configured() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_millis(1500))
            .sample_size(20)
    } else {
        c
    }
}

/// A benchmark group whose iterations take milliseconds (a runtime, many tasks, the network):
/// fewer samples under quick settings.
fn slow_group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    if quick() {
        g.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
            .sample_size(10);
    }
    g
}

// ---------------------------------------------------------------------------------------------
// Hot path

/// The platform transport as Swift or Kotlin would implement it, here in Rust over the fake
/// provider, so the exported `KeyfobClient` can be signed in and measured from Rust.
struct ForeignFake(Arc<FakeProvider>);

#[async_trait::async_trait]
impl KeyfobHttpTransport for ForeignFake {
    async fn send(
        &self,
        request: KeyfobHttpRequest,
    ) -> Result<KeyfobHttpResponse, TransportFailure> {
        let request = HttpRequest {
            method: if request.method == "POST" {
                HttpMethod::Post
            } else {
                HttpMethod::Get
            },
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: request.body,
            timeout: Duration::from_millis(request.timeout_ms),
            max_response_bytes: request.max_response_bytes,
        };
        let response = self
            .0
            .send(request)
            .await
            .map_err(|e| TransportFailure::Other { reason: e.message })?;
        Ok(KeyfobHttpResponse {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: response.body,
        })
    }
}

fn ffi_signed_in() -> (Arc<KeyfobClient>, Arc<FakeProvider>) {
    let provider = Arc::new(FakeProvider::default());
    let config = KeyfobConfig {
        scopes: vec!["email".into(), "offline_access".into()],
        ..KeyfobConfig::new(ISSUER, CLIENT_ID, REDIRECT_URI)
    };
    let client = KeyfobClient::new(
        config,
        Arc::new(ForeignFake(provider.clone())),
        None,
        None,
        None,
    )
    .expect("KeyfobClient::new");
    let url = now_or_never(client.begin_login(None, None)).expect("begin_login");
    let (state, nonce) = state_and_nonce(&url);
    let now = unix_now();
    let id_token = key().sign("JWT", &id_token_claims(now, Some(&nonce)));
    provider.set_code_response(token_response(&access_token(now), Some(&id_token)));
    now_or_never(client.handle_redirect(callback_url(&state))).expect("handle_redirect");
    (client, provider)
}

// The C functions the Swift and Kotlin bindings call (see bindings-swift/Sources/KeyfobFFIC).
unsafe extern "C" {
    fn uniffi_keyfob_fn_clone_keyfobclient(handle: u64, status: &mut uniffi::RustCallStatus)
    -> u64;
    fn uniffi_keyfob_fn_method_keyfobclient_cached_access_token(
        handle: u64,
        status: &mut uniffi::RustCallStatus,
    ) -> uniffi::RustBuffer;
    fn ffi_keyfob_rustbuffer_free(buf: uniffi::RustBuffer, status: &mut uniffi::RustCallStatus);
}

/// One `cachedAccessToken()` as the generated bindings make it, minus the foreign language:
/// clone the object handle, call the method (which consumes the clone), read the
/// `Option<String>` out of the returned buffer, free the buffer.
fn c_abi_cached_access_token(handle: u64) -> usize {
    let mut status = uniffi::RustCallStatus::default();
    // SAFETY: `handle` is a live `Arc<KeyfobClient>` handle (see `hot_path`); each call gets
    // its own clone, as the bindings do; the buffer is freed exactly once.
    unsafe {
        let cloned = uniffi_keyfob_fn_clone_keyfobclient(handle, &mut status);
        let buf = uniffi_keyfob_fn_method_keyfobclient_cached_access_token(cloned, &mut status);
        assert_eq!(status.code, uniffi::RustCallStatusCode::Success);
        // Option<String>: a 1 tag byte, then a big-endian i32 length and the UTF-8 bytes.
        let bytes = std::slice::from_raw_parts(buf.data_pointer(), buf.len());
        let token = std::str::from_utf8(&bytes[5..]).expect("UTF-8").len();
        ffi_keyfob_rustbuffer_free(buf, &mut status);
        token
    }
}

/// The API whose own token (RFC 8707) the hot path also measures.
const API: &str = "https://crm.example.com";

fn hot_path(c: &mut Criterion) {
    // The system clock, as in an app: `access_token()` reads it on every call.
    let s = signed_in(None);
    let client: &Client = &s.client;
    assert!(client.cached_access_token().is_some());
    // The API's token, obtained once with the refresh token and kept with the session.
    s.provider
        .set_refresh_response(token_response(&access_token(unix_now()), None));
    now_or_never(client.access_token_for(API)).expect("a token for the API");
    assert!(client.cached_access_token_for(API).is_some());
    let (ffi, ffi_provider) = ffi_signed_in();
    let requests = (s.provider.counts.total(), ffi_provider.counts.total());

    let mut g = c.benchmark_group("hot_path");
    g.bench_function("access_token", |b| {
        b.iter(|| now_or_never(black_box(client).access_token()).unwrap())
    });
    g.bench_function("cached_access_token", |b| {
        b.iter(|| black_box(client).cached_access_token().unwrap())
    });
    g.bench_function("access_token_for", |b| {
        b.iter(|| now_or_never(black_box(client).access_token_for(black_box(API))).unwrap())
    });
    g.bench_function("cached_access_token_for", |b| {
        b.iter(|| {
            black_box(client)
                .cached_access_token_for(black_box(API))
                .unwrap()
        })
    });
    // The Rust side of the exported accessors (what the FFI call runs, minus lifting the handle
    // and lowering the String into a RustBuffer on the foreign side).
    g.bench_function("ffi_cached_access_token_rust_side", |b| {
        b.iter(|| black_box(&*ffi).cached_access_token().unwrap())
    });
    g.bench_function("ffi_access_token_rust_side", |b| {
        b.iter(|| now_or_never(black_box(&*ffi).access_token(0, None, None)).unwrap())
    });
    // The whole C-ABI round trip of the synchronous accessor, as the bindings make it.
    let handle = uniffi::Handle::from_arc(ffi.clone()).as_raw();
    assert_eq!(
        c_abi_cached_access_token(handle),
        ffi.cached_access_token().unwrap().len()
    );
    g.bench_function("ffi_c_abi_cached_access_token", |b| {
        b.iter(|| c_abi_cached_access_token(black_box(handle)))
    });
    g.finish();
    // SAFETY: the handle made above, not used any more.
    drop(unsafe { uniffi::Handle::from_raw_unchecked(handle).into_arc::<KeyfobClient>() });

    assert_eq!(
        requests,
        (s.provider.counts.total(), ffi_provider.counts.total()),
        "the hot path made a request"
    );
    record_fact(
        "access_token_bytes",
        json!(client.cached_access_token().unwrap().expose().len()),
    );
}

// ---------------------------------------------------------------------------------------------
// ID token validation

struct Validation {
    token: String,
    with_id_token: Session,
    without_id_token: Session,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    oidc_verifier: openidconnect::core::CoreIdTokenVerifier<'static>,
    oidc_nonce: openidconnect::Nonce,
}

impl Validation {
    fn new() -> Self {
        use base64::Engine as _;
        let t0 = unix_now();
        let with_id_token = signed_in(Some(t0));
        let without_id_token = signed_in(Some(t0));
        // The refreshed ID token: same user, carrying the login's nonce (as some providers do),
        // so that openidconnect can check the same token against that nonce.
        let token = key().sign(
            "JWT",
            &id_token_claims(t0, Some(&with_id_token.login_nonce)),
        );
        let at = access_token(t0);
        with_id_token
            .provider
            .set_refresh_response(token_response(&at, Some(&token)));
        without_id_token
            .provider
            .set_refresh_response(token_response(&at, None));

        let (input, signature) = token.rsplit_once('.').unwrap();
        let jwks: openidconnect::core::CoreJsonWebKeySet =
            serde_json::from_value(key().jwks()).expect("openidconnect reads the JWKS");
        let oidc_verifier = openidconnect::core::CoreIdTokenVerifier::new_public_client(
            openidconnect::ClientId::new(CLIENT_ID.into()),
            openidconnect::IssuerUrl::new(ISSUER.into()).unwrap(),
            jwks,
        );
        let v = Validation {
            oidc_nonce: openidconnect::Nonce::new(with_id_token.login_nonce.clone()),
            token: token.clone(),
            with_id_token,
            without_id_token,
            signing_input: input.as_bytes().to_vec(),
            signature: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(signature)
                .unwrap(),
            oidc_verifier,
        };
        // Each contender accepts the token (and Keyfob really took the new ID token).
        v.ring();
        assert_eq!(v.openidconnect(), "user-123");
        let refreshed = v.keyfob_with();
        assert_eq!(refreshed.id_token().expose(), v.token);
        v.keyfob_without();
        v
    }

    /// The floor: one RSA-2048 PKCS#1 v1.5 SHA-256 verify, signing input and signature already
    /// decoded, through the same ring call Keyfob makes.
    fn ring(&self) {
        ring::signature::RsaPublicKeyComponents {
            n: &key().n,
            e: &key().e,
        }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            black_box(&self.signing_input),
            black_box(&self.signature),
        )
        .expect("ring verifies");
    }

    /// openidconnect: parse the compact token, verify signature and claims (cached JWKS).
    fn openidconnect(&self) -> String {
        let token = openidconnect::core::CoreIdToken::from_str(black_box(&self.token)).unwrap();
        let claims = token
            .claims(&self.oidc_verifier, &self.oidc_nonce)
            .expect("openidconnect verifies");
        claims.subject().to_string()
    }

    fn keyfob_with(&self) -> keyfob::Tokens {
        now_or_never(self.with_id_token.client.refresh()).expect("refresh with an ID token")
    }

    fn keyfob_without(&self) -> keyfob::Tokens {
        now_or_never(self.without_id_token.client.refresh()).expect("refresh without an ID token")
    }

    /// Interleaves the three measurements round by round and returns the median per-call times
    /// (ns) of refresh-with, refresh-without and the raw verify, plus the median of the per-round
    /// ratios (with − without) / raw. On a shared, noisy machine a drift hits all three alike.
    fn paired(&self, rounds: usize, per_round: u32) -> (f64, f64, f64, f64) {
        fn time(n: u32, f: impl Fn()) -> f64 {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        }
        let mut with = Vec::new();
        let mut without = Vec::new();
        let mut raw = Vec::new();
        let mut ratios = Vec::new();
        for round in 0..rounds {
            // Rotate the order so that none always runs first.
            let mut t = [0.0; 3];
            for k in 0..3 {
                let which = (round + k) % 3;
                t[which] = match which {
                    0 => time(per_round, || drop(self.keyfob_with())),
                    1 => time(per_round, || drop(self.keyfob_without())),
                    _ => time(per_round, || self.ring()),
                };
            }
            with.push(t[0]);
            without.push(t[1]);
            raw.push(t[2]);
            ratios.push((t[0] - t[1]) / t[2]);
        }
        (
            median(&mut with),
            median(&mut without),
            median(&mut raw),
            median(&mut ratios),
        )
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn id_token(c: &mut Criterion) {
    let v = Validation::new();
    record_fact("id_token_bytes", json!(v.token.len()));

    let mut g = c.benchmark_group("id_token");
    g.bench_function("ring_raw_verify", |b| b.iter(|| v.ring()));
    g.bench_function("openidconnect", |b| b.iter(|| v.openidconnect()));
    g.bench_function("keyfob_refresh_with_id_token", |b| {
        b.iter(|| v.keyfob_with())
    });
    g.bench_function("keyfob_refresh_without_id_token", |b| {
        b.iter(|| v.keyfob_without())
    });
    g.finish();

    let rounds = if quick() { 60 } else { 300 };
    let (with, without, raw, ratio) = v.paired(rounds, 20);
    println!(
        "id_token/paired ({rounds} rounds): refresh with ID token {with:.0} ns, without {without:.0} ns, \
         raw verify {raw:.0} ns; Keyfob validation = {:.0} ns = {ratio:.3}x raw",
        with - without
    );
    record_fact(
        "paired_validation",
        json!({"rounds": rounds, "with_ns": with, "without_ns": without, "raw_ns": raw, "ratio": ratio}),
    );
}

// ---------------------------------------------------------------------------------------------
// Callback

fn callback(c: &mut Criterion) {
    // The critical path: on a fresh client, begin_login fetches discovery and the JWKS while the
    // browser is open; after the callback only the token request remains.
    let t0 = unix_now();
    {
        let provider = Arc::new(FakeProvider::default());
        let client = Client::new(config(), provider.clone())
            .with_clock(Arc::new(keyfob::ManualClock::new(t0)));
        let url = now_or_never(client.begin_login()).unwrap();
        let before_callback = (
            provider.counts.discovery.load(Ordering::SeqCst),
            provider.counts.jwks.load(Ordering::SeqCst),
        );
        let (state, nonce) = state_and_nonce(&url);
        let id_token = key().sign("JWT", &id_token_claims(t0, Some(&nonce)));
        provider.set_code_response(token_response(&access_token(t0), Some(&id_token)));
        let total = provider.counts.total();
        now_or_never(client.handle_redirect(&callback_url(&state))).unwrap();
        let after = provider.counts.total() - total;
        assert_eq!(
            before_callback,
            (1, 1),
            "begin_login prefetches discovery and JWKS"
        );
        assert_eq!(after, 1, "requests after the callback");
        assert_eq!(provider.counts.code_exchange.load(Ordering::SeqCst), 1);
        record_fact(
            "critical_path",
            json!({"discovery_and_jwks_before_callback": [before_callback.0, before_callback.1],
                   "requests_after_callback": after}),
        );
    }

    let s = signed_in(Some(t0));
    let at = access_token(t0);
    let mut g = c.benchmark_group("callback");
    if quick() {
        // Each iteration signs a fresh ID token (the nonce is new per login) outside the timing;
        // keep the number of iterations, hence of RSA signatures, moderate.
        g.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
            .sample_size(10);
    }
    g.bench_function("handle_redirect", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let url = now_or_never(s.client.begin_login()).unwrap();
                let (state, nonce) = state_and_nonce(&url);
                let id_token = key().sign("JWT", &id_token_claims(t0, Some(&nonce)));
                s.provider
                    .set_code_response(token_response(&at, Some(&id_token)));
                let callback = callback_url(&state);
                let start = Instant::now();
                let claims = now_or_never(s.client.handle_redirect(black_box(&callback)));
                total += start.elapsed();
                claims.expect("handle_redirect");
            }
            total
        })
    });
    g.finish();

    let mut g = c.benchmark_group("callback");
    g.bench_function("begin_login", |b| {
        b.iter(|| now_or_never(s.client.begin_login()).unwrap())
    });
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Concurrency

/// Spawns `callers` tasks that each ask for the access token and waits until all have one.
fn all_get_a_token(runtime: &tokio::runtime::Runtime, client: &Arc<Client>, callers: usize) {
    runtime.block_on(async {
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.access_token().await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().expect("access_token");
        }
    });
}

/// A tokio runtime with two workers, as on this two-core machine (phones have more cores; the
/// locks are the same).
fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

fn concurrency(c: &mut Criterion) {
    const CALLERS: usize = 1000;
    let runtime = two_workers();
    let t0 = unix_now();
    let s = signed_in(Some(t0));
    let clock = s.clock.clone().unwrap();
    let refreshed = key().sign("JWT", &id_token_claims(t0, Some(&s.login_nonce)));
    s.provider
        .set_refresh_response(token_response(&access_token(t0), Some(&refreshed)));

    let mut g = slow_group(c, "concurrency");
    // Baseline: the same 1000 tasks on a valid token (no refresh, no waiting on the lock).
    g.bench_function("callers_1000_valid_token", |b| {
        b.iter(|| all_get_a_token(&runtime, &s.client, CALLERS))
    });
    for latency_ms in [0u64, 10] {
        s.provider
            .set_refresh_latency(Some(Duration::from_millis(latency_ms)));
        let mut refreshes_per_round: Vec<usize> = Vec::new();
        let name = format!("callers_1000_expired_{latency_ms}ms_network");
        g.bench_function(&name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Expire the access token (refresh margin included).
                    clock.advance(ACCESS_TOKEN_TTL + 1);
                    assert!(s.client.cached_access_token().is_none());
                    let before = s.provider.counts.refresh.load(Ordering::SeqCst);
                    let start = Instant::now();
                    all_get_a_token(&runtime, &s.client, CALLERS);
                    total += start.elapsed();
                    refreshes_per_round
                        .push(s.provider.counts.refresh.load(Ordering::SeqCst) - before);
                }
                total
            })
        });
        if refreshes_per_round.is_empty() {
            continue; // filtered out on the command line
        }
        let (min, max) = (
            refreshes_per_round.iter().min().copied().unwrap_or(0),
            refreshes_per_round.iter().max().copied().unwrap_or(0),
        );
        assert_eq!((min, max), (1, 1), "refreshes per 1000 callers");
        record_fact(
            &format!("refreshes_per_1000_callers_{latency_ms}ms"),
            json!({"rounds": refreshes_per_round.len(), "min": min, "max": max}),
        );
    }
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Refresh window (issue 21)

/// How long a refresh takes at the fake provider in the refresh-window benchmarks: "the network".
const REFRESH_LATENCY: Duration = Duration::from_millis(10);

/// A tokio spawner: what an app on tokio hands to `Client::with_background_refresh`.
fn tokio_spawner(runtime: &tokio::runtime::Runtime) -> Arc<dyn keyfob::Spawner> {
    let handle = runtime.handle().clone();
    Arc::new(move |task: keyfob::BackgroundTask| {
        handle.spawn(task);
    })
}

/// One caller's `access_token()` with the token due for a refresh but not expired (10 s of its
/// hour left), timed; then, untimed, until the refresh it caused (if it ran in the background)
/// has landed, so that every iteration starts alike.
fn due_token_latency(runtime: &tokio::runtime::Runtime, s: &Session, iters: u64) -> Duration {
    let clock = s.clock.clone().expect("a manual clock");
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let expires_at = s.client.tokens().unwrap().expires_at().unwrap();
        clock.set(expires_at - 10);
        assert!(
            s.client.cached_access_token().is_none(),
            "due for a refresh"
        );
        let before = s.provider.counts.refresh.load(Ordering::SeqCst);
        let start = Instant::now();
        let token = runtime.block_on(s.client.access_token());
        total += start.elapsed();
        black_box(token.expect("access_token"));
        runtime.block_on(async {
            while s.provider.counts.refresh.load(Ordering::SeqCst) == before
                || s.client.cached_access_token().is_none()
            {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        });
    }
    total
}

/// A minute of steady use of a 10-second token: 10 calls a second on the manual clock. Returns
/// (refresh grants, callers that waited for one). Background work is held until the call that
/// caused it has returned, so a caller "waited" exactly when a grant was made during its call.
fn ten_second_token_minute(refresh_ahead: bool) -> (usize, usize) {
    let held: Arc<Mutex<Vec<keyfob::BackgroundTask>>> = Arc::default();
    let spawner = {
        let held = held.clone();
        Arc::new(move |task| held.lock().unwrap().push(task)) as Arc<dyn keyfob::Spawner>
    };
    let t0 = unix_now();
    let config = config_builder()
        .refresh_ahead(refresh_ahead)
        .build()
        .unwrap();
    let s = signed_in_with(Some(t0), config, Some(spawner));
    let clock = s.clock.clone().unwrap();
    // From now on the provider issues 10-second access tokens, the first one right away.
    s.provider
        .set_refresh_response(token_response_for(&access_token(t0), None, 10));
    now_or_never(s.client.refresh()).expect("refresh");
    let start = s.provider.counts.refresh.load(Ordering::SeqCst);
    let mut waited = 0;
    for call in 0..600 {
        clock.set(t0 + call / 10);
        let before = s.provider.counts.refresh.load(Ordering::SeqCst);
        now_or_never(s.client.access_token()).expect("access_token");
        if s.provider.counts.refresh.load(Ordering::SeqCst) > before {
            waited += 1;
        }
        let tasks = std::mem::take(&mut *held.lock().unwrap());
        for task in tasks {
            now_or_never(task);
        }
    }
    (
        s.provider.counts.refresh.load(Ordering::SeqCst) - start,
        waited,
    )
}

fn refresh_window(c: &mut Criterion) {
    let runtime = two_workers();
    let t0 = unix_now();
    let off = signed_in_with(
        Some(t0),
        config_builder().refresh_ahead(false).build().unwrap(),
        None,
    );
    let on = signed_in_with(Some(t0), config(), Some(tokio_spawner(&runtime)));
    for s in [&off, &on] {
        s.provider
            .set_refresh_response(token_response(&access_token(t0), None));
        s.provider.set_refresh_latency(Some(REFRESH_LATENCY));
    }

    let mut g = slow_group(c, "refresh_window");
    g.bench_function("access_token_due_refresh_ahead_off", |b| {
        b.iter_custom(|iters| due_token_latency(&runtime, &off, iters))
    });
    g.bench_function("access_token_due_refresh_ahead_on", |b| {
        b.iter_custom(|iters| due_token_latency(&runtime, &on, iters))
    });
    g.finish();

    let (refreshes, waited) = ten_second_token_minute(true);
    let (refreshes_off, waited_off) = ten_second_token_minute(false);
    // Half the lifetime is the margin: one refresh per 5 s of use (at seconds 5, 10, … 55 of the
    // minute), and with refresh-ahead none of them makes a caller wait.
    assert_eq!((refreshes, waited), (11, 0), "refresh-ahead on");
    assert_eq!((refreshes_off, waited_off), (11, 11), "refresh-ahead off");
    record_fact(
        "ten_second_token_minute",
        json!({"calls": 600, "refreshes": refreshes, "waited": waited,
               "refreshes_without_refresh_ahead": refreshes_off,
               "waited_without_refresh_ahead": waited_off}),
    );
}

// ---------------------------------------------------------------------------------------------
// Cold start

/// The round trip of the simulated mobile network (issue 15: 150–300 ms on a phone).
const MOBILE_RTT: Duration = Duration::from_millis(150);

/// Requests and network time from a cold start to a usable token over a 150 ms network: with the
/// access token expired and still fresh, from a storage holding what sign-in left (the session
/// and, since issue 15, the provider's metadata) and from one holding the session only (what
/// Keyfob stored before: the first launch after an upgrade).
fn cold_start_network() {
    let t0 = unix_now();
    let s = signed_in(Some(t0));
    let session = ("session", s.stored_session());
    let metadata = s.stored_metadata().map(|m| ("metadata", m));
    record_fact(
        "stored_metadata_bytes",
        json!(metadata.as_ref().map(|(_, m)| m.len())),
    );
    let everything: Vec<_> = [Some(session.clone()), metadata]
        .into_iter()
        .flatten()
        .collect();
    let expired = t0 + ACCESS_TOKEN_TTL + 1;
    let fresh = t0 + 10;
    let mut facts = serde_json::Map::new();
    for (name, stored, now) in [
        ("expired", &everything[..], expired),
        ("fresh", &everything[..], fresh),
        ("expired_session_only", &[session.clone()][..], expired),
    ] {
        let run = simulated_cold_start(stored, now, (t0, &s.login_nonce), MOBILE_RTT);
        facts.insert(
            name.into(),
            json!({"requests": run.requests, "network_ms": run.network.as_millis() as u64}),
        );
    }
    facts.insert("rtt_ms".into(), json!(MOBILE_RTT.as_millis() as u64));
    record_fact("cold_start_150ms", serde_json::Value::Object(facts));
}

fn cold_start(c: &mut Criterion) {
    cold_start_network();
    let s = signed_in(None);
    let stored = s.stored_session();
    record_fact("stored_session_bytes", json!(stored.len()));
    let provider = s.provider.clone();
    let requests = provider.counts.total();
    let transport: Arc<dyn HttpTransport> = provider.clone();

    let mut g = c.benchmark_group("cold_start");
    // Everything an app does at launch until it holds a token: build the configuration and the
    // client, restore the stored session, ask for the access token.
    g.bench_function("memory_storage", |b| {
        b.iter_batched(
            || {
                let storage = Arc::new(MemoryStorage::new());
                storage.save("session", &stored).unwrap();
                storage
            },
            |storage| {
                let client = Client::new(config(), transport.clone()).with_storage(storage);
                assert_eq!(client.restore().unwrap(), keyfob::SessionState::SignedIn);
                let token = now_or_never(client.access_token()).unwrap();
                (client, token)
            },
            BatchSize::SmallInput,
        )
    });
    let root = std::env::temp_dir().join(format!("keyfob-bench-{}", std::process::id()));
    FileStorage::new(&root, ISSUER, CLIENT_ID)
        .unwrap()
        .save("session", &stored)
        .unwrap();
    g.bench_function("file_storage", |b| {
        b.iter_batched(
            || (),
            |()| {
                let storage = Arc::new(FileStorage::new(&root, ISSUER, CLIENT_ID).unwrap());
                let client = Client::new(config(), transport.clone()).with_storage(storage);
                assert_eq!(client.restore().unwrap(), keyfob::SessionState::SignedIn);
                let token = now_or_never(client.access_token()).unwrap();
                (client, token)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&root);

    let during = provider.counts.total() - requests;
    assert_eq!(during, 0, "a cold start made requests");
    record_fact("requests_during_cold_start", json!(during));
}

// ---------------------------------------------------------------------------------------------
// DPoP

fn dpop(c: &mut Criterion) {
    use keyfob::DpopKey as _;
    const API: &str = "https://crm.company.com/api/customers";
    let bearer = signed_in(None);
    let bound = signed_in_with_dpop();
    assert_eq!(bound.client.tokens().unwrap().token_type(), "DPoP");
    let requests = (
        bearer.provider.counts.total(),
        bound.provider.counts.total(),
    );
    let headers = |s: &Session| now_or_never(s.client.authorization_headers("GET", API)).unwrap();
    assert!(headers(&bound).dpop.is_some() && headers(&bearer).dpop.is_none());
    let key = keyfob::SoftwareDpopKey::generate().unwrap();
    let input = vec![b'x'; 600];

    let mut g = c.benchmark_group("dpop");
    g.bench_function("authorization_headers_bearer", |b| {
        b.iter(|| headers(black_box(&bearer)))
    });
    g.bench_function("authorization_headers_dpop", |b| {
        b.iter(|| headers(black_box(&bound)))
    });
    g.bench_function("access_token_dpop_session", |b| {
        b.iter(|| now_or_never(black_box(&bound.client).access_token()).unwrap())
    });
    g.bench_function("es256_sign_software_key", |b| {
        b.iter(|| key.sign(black_box(&input)).unwrap())
    });
    g.finish();
    assert_eq!(
        requests,
        (
            bearer.provider.counts.total(),
            bound.provider.counts.total()
        ),
        "building headers made a request"
    );
}

criterion_group! {
    name = benches;
    config = configured();
    targets = hot_path, id_token, callback, concurrency, refresh_window, cold_start, dpop
}
criterion_main!(benches);
