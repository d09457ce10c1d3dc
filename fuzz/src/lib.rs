//! The entry points of Keyfob's fuzz targets, on the SDK's public API only.
//!
//! Each target drives a real [`keyfob::Client`] whose transport is a fake provider answering at
//! once from memory (so the async API runs to completion in a single poll, without a runtime),
//! whose clock is fixed, and whose storage is a [`keyfob::MemoryStorage`]:
//!
//! - [`callback_url`]: the deep link handed to `handle_redirect` (the input, with `STATE`
//!   replaced by the pending login's `state`, so that inputs get past the state check).
//! - [`id_token`]: the ID token of a code exchange or a refresh: raw text, or a header and claims
//!   the harness signs with the provider's real key (`NONCE` replaced by the login's nonce).
//! - [`jwks`]: the provider's JWKS (`KEY` replaced by the real signing key's JWK), with a
//!   genuinely signed ID token.
//! - [`token_response`]: the status and body of the token endpoint, on code exchange or refresh
//!   (`IDTOKEN` replaced by a valid ID token).
//! - [`stored_state`]: the bytes a store returns for the session and the pending login.
//! - [`stored_metadata`]: the bytes a store returns for the provider's metadata (discovery and
//!   keys, issue 15), then a sign-in.
//! - [`discovery`]: the discovery document (status, headers, body), through a login, userinfo
//!   and logout.
//! - [`userinfo`]: the UserInfo answer after a sign-in.
//! - [`token_headers`]: the `Date` and `Retry-After` headers of the token endpoint.
//! - [`pending_login`]: the pending login a store returns after a restart, and its callback.
//! - [`config`]: the issuer and redirect URIs an app configures (optionally with hosts in
//!   punycode).
//! - [`ffi_callback`] (feature `ffi`): the redirect URL as Swift or Kotlin hand it to
//!   `KeyfobClient::handle_redirect`.
//!
//! Besides "no panic", each target asserts invariants that must hold whatever the input (no ID
//! token accepted without the real key, a refreshed session never changes user or drops its
//! refresh token, a stored record is either read or reported corrupt, …). The same functions
//! replay the seeds and any crash regressions in `cargo test` (`core/tests/fuzz_corpus.rs`).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use keyfob::{
    Client, Config, ErrorKind, HttpRequest, HttpResponse, HttpTransport, ManualClock,
    MemoryStorage, SecureStorage, SessionState, StorageErrorKind, TransportError,
    TransportErrorKind,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

mod app_inputs;
mod provider_answers;

#[cfg(feature = "ffi")]
pub use app_inputs::ffi_callback;
pub use app_inputs::{config, pending_login};
pub use provider_answers::{discovery, token_headers, userinfo};

/// The fake provider's issuer.
pub const ISSUER: &str = "https://op.example";
/// The client.
pub const CLIENT_ID: &str = "app";
/// The app's redirect URI.
pub const REDIRECT_URI: &str = "myapp://callback";
/// The fixed time of the client and the provider.
pub const NOW: i64 = 1_800_000_000;
/// The `kid` of the provider's signing key.
pub const KID: &str = "k1";
/// The refresh token of every sign-in.
const FIRST_REFRESH_TOKEN: &str = "rt-first-0123456789abcdefghijklmnopqrstu";
/// The access token of every token response.
pub const ACCESS_TOKEN: &str = "at-0123456789abcdefghijklmnopqrstuvwxyz";

/// Runs a future that never waits: the fake transport and memory storage answer at once.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
    panic!("a Keyfob future kept waiting on a transport that answers at once");
}

// ---------------------------------------------------------------------------------------------
// The provider's key.

struct Signer {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Signer { pair, rng }
    })
}

fn point() -> &'static [u8] {
    signer().pair.public_key().as_ref()
}

/// The provider's signing key as a JWK.
pub fn jwk() -> Value {
    json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": KID,
        "x": URL_SAFE_NO_PAD.encode(&point()[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point()[33..65]),
    })
}

/// A compact JWS of the raw `header` and `payload` bytes, signed (ES256) by the provider's key
/// whatever the header says.
pub fn sign_raw(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let s = signer();
    let signature = s.pair.sign(&s.rng, input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn standard_header(with_kid: bool) -> Vec<u8> {
    let header = if with_kid {
        json!({"alg": "ES256", "kid": KID, "typ": "JWT"})
    } else {
        json!({"alg": "ES256", "typ": "JWT"})
    };
    header.to_string().into_bytes()
}

/// Valid ID token claims for a login with `nonce` (none for a refreshed token).
pub fn good_claims(nonce: Option<&str>) -> Value {
    good_claims_at(NOW, nonce)
}

/// Valid ID token claims issued at `now` for a login with `nonce`.
pub fn good_claims_at(now: i64, nonce: Option<&str>) -> Value {
    let mut claims = json!({
        "iss": ISSUER, "sub": "user-1", "aud": CLIENT_ID, "azp": CLIENT_ID,
        "exp": now + 300, "iat": now, "auth_time": now - 10, "email": "ada@example.com",
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    claims
}

/// A valid, signed ID token for a login with `nonce`.
pub fn good_id_token(nonce: Option<&str>) -> String {
    sign_raw(
        &standard_header(true),
        good_claims(nonce).to_string().as_bytes(),
    )
}

/// The body of a good code exchange for a login with `nonce`: a valid ID token and the first
/// refresh token.
pub fn exchange_body(nonce: &str) -> Vec<u8> {
    token_body(Some(&good_id_token(Some(nonce))), Some(FIRST_REFRESH_TOKEN))
}

/// A successful token response body.
pub fn token_body(id_token: Option<&str>, refresh_token: Option<&str>) -> Vec<u8> {
    let mut body = json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "openid email",
    });
    if let Some(t) = id_token {
        body["id_token"] = t.into();
    }
    if let Some(t) = refresh_token {
        body["refresh_token"] = t.into();
    }
    body.to_string().into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The fake provider.

/// One answer of the fake provider: besides these headers it always sends
/// `content-type: application/json`.
#[derive(Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// An answer with no header but the content type.
    pub fn json(status: u16, body: Vec<u8>) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body,
        }
    }
}

/// What the fake provider answers. Token responses are queued; when the queue is empty, the
/// token endpoint answers `invalid_grant`.
pub struct Answers {
    pub discovery: Answer,
    pub jwks: Answer,
    pub token: VecDeque<Answer>,
    pub userinfo: Answer,
}

/// A request the fake provider received: its URL and body.
#[derive(Clone)]
pub struct Received {
    pub url: String,
    pub body: Vec<u8>,
}

pub struct FakeProvider {
    pub answers: Mutex<Answers>,
    /// Every request, in order.
    pub received: Mutex<Vec<Received>>,
}

/// The provider's discovery document.
pub fn discovery_doc() -> Vec<u8> {
    json!({
        "issuer": ISSUER,
        "authorization_endpoint": format!("{ISSUER}/authorize"),
        "token_endpoint": format!("{ISSUER}/token"),
        "jwks_uri": format!("{ISSUER}/jwks"),
        "userinfo_endpoint": format!("{ISSUER}/userinfo"),
        "revocation_endpoint": format!("{ISSUER}/revoke"),
        "end_session_endpoint": format!("{ISSUER}/logout"),
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
        "authorization_response_iss_parameter_supported": true,
    })
    .to_string()
    .into_bytes()
}

impl FakeProvider {
    fn new() -> Self {
        FakeProvider {
            answers: Mutex::new(Answers {
                discovery: Answer::json(200, discovery_doc()),
                jwks: Answer::json(200, json!({"keys": [jwk()]}).to_string().into_bytes()),
                token: VecDeque::new(),
                userinfo: Answer::json(200, br#"{"sub":"user-1"}"#.to_vec()),
            }),
            received: Mutex::new(Vec::new()),
        }
    }

    fn answers(&self) -> std::sync::MutexGuard<'_, Answers> {
        self.answers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a token endpoint answer.
    pub fn push_token(&self, status: u16, body: Vec<u8>) {
        self.push_token_answer(Answer::json(status, body));
    }

    /// Queues a token endpoint answer with its headers.
    pub fn push_token_answer(&self, answer: Answer) {
        self.answers().token.push_back(answer);
    }

    pub fn set_jwks(&self, body: Vec<u8>) {
        self.answers().jwks = Answer::json(200, body);
    }

    pub fn set_discovery(&self, answer: Answer) {
        self.answers().discovery = answer;
    }

    pub fn set_userinfo(&self, answer: Answer) {
        self.answers().userinfo = answer;
    }

    /// The requests received so far whose URL starts with `prefix`.
    pub fn received(&self, prefix: &str) -> Vec<Received> {
        let received = self.received.lock().unwrap_or_else(|p| p.into_inner());
        received
            .iter()
            .filter(|r| r.url.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Records a request and answers it: the provider's paths under [`ISSUER`], anything else
    /// a connection failure. The answer carries `content-type: application/json` first.
    pub fn answer(
        &self,
        url: &str,
        body: &[u8],
        max_response_bytes: u64,
    ) -> Result<Answer, TransportError> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Received {
                url: url.to_owned(),
                body: body.to_vec(),
            });
        let path = url
            .strip_prefix(ISSUER)
            .and_then(|p| p.split('?').next())
            .unwrap_or("");
        let mut answers = self.answers();
        let answer = match path {
            "/.well-known/openid-configuration" => answers.discovery.clone(),
            "/jwks" => answers.jwks.clone(),
            "/token" => answers
                .token
                .pop_front()
                .unwrap_or_else(|| Answer::json(400, br#"{"error":"invalid_grant"}"#.to_vec())),
            "/userinfo" => answers.userinfo.clone(),
            "/revoke" => Answer::json(200, Vec::new()),
            _ => {
                return Err(TransportError::new(
                    TransportErrorKind::Connect,
                    "no such host",
                ));
            }
        };
        if answer.body.len() as u64 > max_response_bytes {
            return Err(TransportError::new(
                TransportErrorKind::TooLarge,
                "too large",
            ));
        }
        let mut headers = vec![("content-type".into(), "application/json".into())];
        headers.extend(answer.headers);
        Ok(Answer { headers, ..answer })
    }
}

#[async_trait::async_trait]
impl HttpTransport for FakeProvider {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let answer = self.answer(&request.url, &request.body, request.max_response_bytes)?;
        Ok(HttpResponse {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// A client, its provider and its store.

pub struct World {
    pub provider: Arc<FakeProvider>,
    pub storage: Arc<MemoryStorage>,
    pub client: Client,
}

/// A login in progress: its `state` and `nonce` (from the authorization URL) and its verifier
/// (from the stored pending login).
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> World {
        let provider = Arc::new(FakeProvider::new());
        let storage = Arc::new(MemoryStorage::new());
        let client = Self::client(&provider, &storage);
        World {
            provider,
            storage,
            client,
        }
    }

    fn client(provider: &Arc<FakeProvider>, storage: &Arc<MemoryStorage>) -> Client {
        let config = Config::builder(ISSUER, CLIENT_ID, REDIRECT_URI)
            .scopes(["email", "offline_access"])
            .build()
            .expect("a valid configuration");
        Client::new(config, provider.clone())
            .with_clock(Arc::new(ManualClock::new(NOW)))
            .with_storage(storage.clone())
    }

    /// Starts a login.
    pub fn begin(&self) -> Pending {
        let url = block_on(self.client.begin_login()).expect("begin_login");
        let url = url::Url::parse(&url).unwrap();
        let param = |name: &str| {
            url.query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        Pending {
            state: param("state"),
            nonce: param("nonce"),
            verifier: self
                .stored_pending()
                .expect("a stored pending login")
                .verifier,
        }
    }

    /// The pending login in the store.
    pub fn stored_pending(&self) -> Option<Pending> {
        stored_pending(&self.storage)
    }

    /// The callback a well-behaved provider sends for `pending`.
    pub fn callback(pending: &Pending) -> String {
        Self::callback_for(&pending.state)
    }

    /// The callback a well-behaved provider sends for a login with `state`.
    pub fn callback_for(state: &str) -> String {
        format!(
            "{REDIRECT_URI}?code=code-1&state={}&iss={}",
            encoded(state),
            encoded(ISSUER)
        )
    }

    /// A complete sign-in against a well-behaved provider; returns the login's nonce.
    pub fn login(&self) -> String {
        let pending = self.begin();
        self.provider.push_token(200, exchange_body(&pending.nonce));
        block_on(self.client.handle_redirect(&Self::callback(&pending))).expect("sign-in");
        pending.nonce
    }
}

/// The `state`, `nonce` and verifier of the pending login in `storage`.
pub fn stored_pending(storage: &MemoryStorage) -> Option<Pending> {
    let field = string_members(storage.load("pending").ok()?.as_deref());
    Some(Pending {
        state: field("state")?,
        nonce: field("nonce")?,
        verifier: field("verifier")?,
    })
}

/// The string members of the JSON object in `bytes`, by name (none if it is not JSON).
fn string_members(bytes: Option<&[u8]>) -> impl Fn(&str) -> Option<String> + use<> {
    let value: Option<Value> = bytes.and_then(|b| serde_json::from_slice(b).ok());
    move |name| value.as_ref()?.get(name)?.as_str().map(str::to_owned)
}

/// `value` percent-encoded for a query.
fn encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// Secrets must not show in an error's `Display` or `Debug`.
fn assert_not_in_error(e: &keyfob::Error, secrets: &[&str]) {
    let shown = format!("{e} {e:?}");
    for secret in secrets {
        assert!(!shown.contains(secret), "a secret shows in {shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// The targets.

/// `handle_redirect` with the input as the callback URL (`STATE` → the pending login's state).
pub fn callback_url(data: &[u8]) {
    let world = World::new();
    let pending = world.begin();
    world
        .provider
        .push_token(200, exchange_body(&pending.nonce));
    let callback = text(data).replace("STATE", &pending.state);
    match block_on(world.client.handle_redirect(&callback)) {
        Ok(claims) => {
            assert_eq!(world.client.state(), SessionState::SignedIn);
            assert_eq!(claims.subject, "user-1");
        }
        Err(e) => {
            assert_not_in_error(&e, &[&pending.verifier, &pending.nonce]);
            if matches!(
                e.kind(),
                ErrorKind::InvalidCallback | ErrorKind::StateMismatch
            ) && world.storage.load("pending").unwrap().is_some()
            {
                // A callback refused before its state matched leaves the login pending.
                assert_eq!(world.client.state(), SessionState::LoginPending);
            }
        }
    }
}

/// The ID token of a code exchange or a refresh. The first byte chooses:
/// `0`: the rest is the token text; `1`: the rest is the claims, signed with the standard
/// header; `2`: the rest is `header \0 claims`, signed; `3`: like `1`, in a refresh after a
/// good sign-in. `NONCE` in the rest becomes the login's nonce.
pub fn id_token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let world = World::new();
    let refresh = mode % 4 == 3;
    let login_nonce = refresh.then(|| world.login());
    let pending = (!refresh).then(|| world.begin());
    let nonce = login_nonce
        .as_deref()
        .or(pending.as_ref().map(|p| p.nonce.as_str()))
        .unwrap()
        .to_owned();
    let rest = text(rest).replace("NONCE", &nonce);
    let token = match mode % 4 {
        0 => rest,
        1 | 3 => sign_raw(&standard_header(true), rest.as_bytes()),
        _ => {
            let (header, claims) = rest.split_once('\0').unwrap_or((&rest, "{}"));
            sign_raw(header.as_bytes(), claims.as_bytes())
        }
    };
    world
        .provider
        .push_token(200, token_body(Some(&token), Some("rt-second")));
    if let Some(pending) = pending {
        match block_on(world.client.handle_redirect(&World::callback(&pending))) {
            Ok(claims) => {
                assert_eq!(claims.issuer, ISSUER);
                assert!(claims.audience.iter().any(|a| a == CLIENT_ID));
                assert!(!claims.subject.is_empty());
                // The default clock skew is 60 s.
                assert!(
                    claims.expires_at >= NOW - 60,
                    "an expired token was accepted"
                );
                assert!(claims.issued_at <= NOW + 60, "a future token was accepted");
                assert!(
                    claims.audience.len() == 1
                        || claims.authorized_party.as_deref() == Some(CLIENT_ID)
                );
            }
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::IdToken | ErrorKind::InvalidResponse),
                    "{e:?}"
                );
                assert_not_in_error(&e, &[&pending.verifier, &nonce]);
            }
        }
    } else {
        let result = block_on(world.client.refresh());
        match world.client.state() {
            SessionState::SignedIn => {
                let tokens = world.client.tokens().unwrap();
                // A refreshed ID token never changes who is signed in, and the session keeps a
                // refresh token.
                assert_eq!(tokens.claims().subject, "user-1");
                assert_eq!(tokens.claims().issuer, ISSUER);
                assert!(tokens.refresh_token().is_some());
                if result.is_ok() {
                    assert_eq!(tokens.refresh_token().unwrap().expose(), "rt-second");
                }
            }
            SessionState::NeedsReLogin => assert!(result.is_err()),
            other => panic!("unexpected state after a refresh: {other:?}"),
        }
    }
}

/// The provider's JWKS is the input after its first byte (`KEY` → the real key's JWK); the ID
/// token is genuinely signed, with a `kid` unless the first byte is odd.
pub fn jwks(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let body = text(rest).replace("KEY", &jwk().to_string());
    let world = World::new();
    world.provider.set_jwks(body.clone().into_bytes());
    let pending = world.begin();
    let token = sign_raw(
        &standard_header(mode % 2 == 0),
        good_claims(Some(&pending.nonce)).to_string().as_bytes(),
    );
    world
        .provider
        .push_token(200, token_body(Some(&token), Some(FIRST_REFRESH_TOKEN)));
    match block_on(world.client.handle_redirect(&World::callback(&pending))) {
        Ok(_) => assert!(
            has_real_key(&body),
            "an ID token was accepted with a JWKS that lacks the signing key"
        ),
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::IdToken | ErrorKind::InvalidResponse),
                "{e:?}"
            );
            assert_not_in_error(&e, &[&pending.verifier, &pending.nonce]);
        }
    }
}

/// Whether the JWKS document holds a key object with the provider key's coordinates.
fn has_real_key(body: &str) -> bool {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let Some(Value::Array(keys)) = doc.get("keys") else {
        return false;
    };
    keys.iter().any(|k| {
        let coordinate = |name: &str| {
            k.get(name)
                .and_then(Value::as_str)
                .and_then(|s| LENIENT.decode(s).ok())
        };
        coordinate("x").as_deref() == Some(&point()[1..33])
            && coordinate("y").as_deref() == Some(&point()[33..65])
    })
}

/// The token endpoint's answer: the first byte chooses the status (low bits) and whether it
/// answers a refresh after a good sign-in (high bit); the rest is the body (`IDTOKEN` → a
/// valid ID token for the login).
pub fn token_response(data: &[u8]) {
    const STATUSES: [u16; 8] = [200, 200, 200, 400, 401, 429, 500, 302];
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(mode % 8)];
    let world = World::new();
    if mode & 0x80 == 0 {
        let pending = world.begin();
        let body = text(rest).replace("IDTOKEN", &good_id_token(Some(&pending.nonce)));
        world.provider.push_token(status, body.into_bytes());
        match block_on(world.client.handle_redirect(&World::callback(&pending))) {
            Ok(_) => {
                assert_eq!(status, 200);
                assert_eq!(world.client.state(), SessionState::SignedIn);
                assert!(
                    !world
                        .client
                        .tokens()
                        .unwrap()
                        .access_token()
                        .expose()
                        .is_empty()
                );
            }
            Err(e) => {
                assert_not_in_error(&e, &[&pending.verifier, &pending.nonce]);
                assert_eq!(world.client.state(), SessionState::SignedOut);
                assert!(world.storage.load("session").unwrap().is_none());
            }
        }
    } else {
        let nonce = world.login();
        let before = world.storage.load("session").unwrap();
        let body = text(rest).replace("IDTOKEN", &good_id_token(Some(&nonce)));
        world.provider.push_token(status, body.clone().into_bytes());
        let result = block_on(world.client.refresh());
        match (&result, world.client.state()) {
            (Ok(tokens), SessionState::SignedIn) => {
                assert_eq!(status, 200);
                // Never dropped: the old refresh token stays unless a new one came.
                assert!(tokens.refresh_token().is_some());
                assert_eq!(tokens.claims().subject, "user-1");
            }
            (Err(e), SessionState::SignedIn) => {
                assert!(e.kind() != ErrorKind::ReLoginRequired, "{e:?}");
                // A new refresh token in an otherwise unusable 200 answer is kept (the provider
                // may have rotated the old one out); nothing else of the session changes.
                let rotated = (status == 200)
                    .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
                    .flatten()
                    .and_then(|v| v.get("refresh_token")?.as_str().map(str::to_string))
                    .filter(|rt| !rt.is_empty());
                let expected_rt = rotated.as_deref().unwrap_or(FIRST_REFRESH_TOKEN);
                // The one account of the stored record, without what a kept refresh token
                // changes (the token, the account's revision) or a refresh lease.
                let stored = |bytes: Option<Vec<u8>>| {
                    let mut v: serde_json::Value =
                        serde_json::from_slice(&bytes.expect("a stored session")).unwrap();
                    let mut account = v["accounts"][0].take();
                    let rt = account["refresh_token"].take();
                    for changes in ["revision", "lease"] {
                        account[changes].take();
                    }
                    (account, rt)
                };
                let (now, now_rt) = stored(world.storage.load("session").unwrap());
                let (then, _) = stored(before);
                assert_eq!(now, then, "a failed refresh changed the stored session");
                assert_eq!(now_rt.as_str(), Some(expected_rt), "stored refresh token");
                let tokens = world.client.tokens().unwrap();
                assert_eq!(tokens.refresh_token().unwrap().expose(), expected_rt);
            }
            (Err(_), SessionState::NeedsReLogin) => {
                assert!(world.storage.load("session").unwrap().is_none());
            }
            (result, state) => panic!("refresh gave {result:?} in state {state:?}"),
        }
    }
}

/// What the store returns for the provider's metadata (`KEY` replaced by the real signing key's
/// JWK), then a sign-in on a new client over that store.
///
/// Whatever the bytes, the metadata the client uses is the provider's: read from the record when
/// it is valid and bound to this issuer, fetched again otherwise (the issuer byte for byte
/// either way); a sign-in that succeeds is the provider's user, and stores a session.
pub fn stored_metadata(data: &[u8]) {
    let record = match std::str::from_utf8(data) {
        Ok(text) => text.replace("KEY", &jwk().to_string()).into_bytes(),
        Err(_) => data.to_vec(),
    };
    let world = World::new();
    world.storage.save("metadata", &record).unwrap();
    let metadata = block_on(world.client.provider_metadata())
        .expect("the stored metadata, or the provider's fetched again");
    assert_eq!(metadata.issuer, ISSUER);
    let requests = world.provider.received("");
    assert!(
        requests.len() <= 1
            && requests
                .iter()
                .all(|r| r.url.ends_with("openid-configuration")),
        "one discovery request at most"
    );

    let pending = world.begin();
    world
        .provider
        .push_token(200, exchange_body(&pending.nonce));
    if let Ok(claims) = block_on(world.client.handle_redirect(&World::callback(&pending))) {
        assert_eq!(claims.subject, "user-1");
        assert_eq!(world.client.state(), SessionState::SignedIn);
        assert!(world.storage.load("session").unwrap().is_some());
    }
}

/// What the store returns: the first byte chooses the session (`0`), the pending login (`1`), or
/// both (`2`, split at the first NUL byte). The app restarts on that store, restores, completes
/// a login whose callback carries the stored pending login's `state`, asks for a token and logs
/// out.
pub fn stored_state(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (session, pending): (Option<&[u8]>, Option<&[u8]>) = match mode % 3 {
        0 => (Some(rest), None),
        1 => (None, Some(rest)),
        _ => match rest.iter().position(|&b| b == 0) {
            Some(i) => (Some(&rest[..i]), Some(&rest[i + 1..])),
            None => (Some(rest), None),
        },
    };
    let world = World::new();
    if let Some(bytes) = session {
        world.storage.save("session", bytes).unwrap();
    }
    if let Some(bytes) = pending {
        world.storage.save("pending", bytes).unwrap();
    }
    match world.client.restore() {
        // A readable stored pending login shows as LoginPending after the restart.
        Ok(state) => assert!(
            matches!(
                state,
                SessionState::SignedIn | SessionState::SignedOut | SessionState::LoginPending
            ),
            "{state:?}"
        ),
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Storage, "{e:?}");
            // Unreadable, or a well-formed record of another issuer or client.
            assert!(
                matches!(
                    e.storage_kind(),
                    Some(StorageErrorKind::Corrupt | StorageErrorKind::Foreign)
                ),
                "{e:?}"
            );
            assert!(matches!(
                world.client.state(),
                SessionState::SignedOut | SessionState::LoginPending
            ));
        }
    }
    let _ = format!("{:?} {:?}", world.client.tokens(), world.client.claims());
    // Complete a login with the stored pending login, if it names a state and a nonce.
    let field = string_members(pending);
    if let (Some(state), Some(nonce)) = (field("state"), field("nonce")) {
        world.provider.push_token(200, exchange_body(&nonce));
        let _ = block_on(world.client.handle_redirect(&World::callback_for(&state)));
    }
    // A token (refreshing against a provider that answers with a good response), then logout.
    world
        .provider
        .push_token(200, token_body(None, Some("rt-second")));
    if block_on(world.client.access_token()).is_ok() {
        assert_eq!(world.client.state(), SessionState::SignedIn);
    }
    let _ = block_on(world.client.logout());
    assert_eq!(world.client.state(), SessionState::SignedOut);
    // Nothing a restarted app could sign in with is left (an unreadable record may stay: the
    // next sign-in replaces it).
    let restarted = World::client(&world.provider, &world.storage);
    assert_eq!(restarted.state(), SessionState::SignedOut);
    assert!(restarted.tokens().is_none());
}
