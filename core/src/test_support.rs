//! Test doubles shared by the unit tests of several layers: a real ES256 signer and a scripted
//! provider that answers from memory.
//!
//! The integration tests (core/tests) run against the testkit over real HTTP; these doubles are
//! for unit tests that must steer one branch exactly (a refresh that races a logout, a 200
//! answer that is unusable but rotates the refresh token, …).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::client::Client;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::http::{HttpRequest, HttpResponse, HttpTransport, TransportError, TransportErrorKind};
use crate::oidc::id_token::IdTokenClaims;
use crate::secret::SecretString;
use crate::session::accounts::Sessions;
use crate::session::record::{Owner, SESSION_KEY, decode_sessions, encode_sessions};
use crate::session::{SessionEvent, SessionObserver, Tokens};
use crate::storage::{MemoryStorage, SecureStorage};
use crate::sync::lock;

/// An ES256 key pair made by ring, for unit tests that need real signatures.
pub(crate) struct TestSigner {
    pub pair: EcdsaKeyPair,
    pub kid: String,
}

impl TestSigner {
    pub fn new(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        TestSigner {
            pair,
            kid: kid.to_string(),
        }
    }

    /// The public key as a JWK object.
    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// Signs `claims` with `header` (alg/kid/typ filled in unless given; a `null` member removes it).
    pub fn sign(&self, header: Value, claims: &Value) -> String {
        let mut h = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        for (k, v) in header.as_object().unwrap() {
            if v.is_null() {
                h.as_object_mut().unwrap().remove(k);
            } else {
                h[k] = v.clone();
            }
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// The scripted provider's issuer and client.
pub(crate) const ISSUER: &str = "https://op.example";
pub(crate) const CLIENT_ID: &str = "app";
/// The time on the client's clock when a test starts.
pub(crate) const NOW: i64 = 1_800_000_000;

/// What the scripted token endpoint does with the next request.
pub(crate) enum Answer {
    /// Answers with this status and JSON body.
    Json(u16, Value),
    /// Fails the way a transport does (timeout, no connection).
    Fail(TransportErrorKind),
}

/// How the scripted provider serves its metadata (discovery and JWKS).
struct MetadataScript {
    /// Headers on every discovery and JWKS answer (`Cache-Control`, `Expires`, …).
    cache_headers: Vec<(String, String)>,
    /// Whether it sends an `ETag` and answers a matching `If-None-Match` with 304.
    etags: bool,
    /// The path of the token endpoint; `/token` answers 404 once it moved elsewhere.
    token_path: String,
    /// The token endpoint answers 404 wherever it is.
    token_gone: bool,
    /// The `issuer` its discovery document names, when not [`ISSUER`].
    issuer: Option<String>,
    /// The keys the JWKS publishes.
    keys: Vec<Value>,
}

/// A provider answering from memory: discovery and JWKS always (the JWKS can be made to fail;
/// both can carry caching headers and validators), the token endpoint from a queue of
/// [`Answer`]s, revocation with 200. It records every request as `"METHOD /path"` plus, for form
/// posts, the `grant_type` or revoked token, for a request with a DPoP proof ` dpop@` and the
/// path the proof was made for, and for conditional requests ` conditional` (and ` 304` when
/// answered so).
pub(crate) struct ScriptedProvider {
    pub signer: TestSigner,
    token_answers: Mutex<VecDeque<Answer>>,
    requests: Mutex<Vec<String>>,
    jwks_unreachable: AtomicBool,
    metadata: Mutex<MetadataScript>,
    /// Runs once, when the next token request arrives (before it is answered).
    on_token_request: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl ScriptedProvider {
    pub fn new() -> Arc<Self> {
        let signer = TestSigner::new("k1");
        let metadata = MetadataScript {
            cache_headers: Vec::new(),
            etags: false,
            token_path: "/token".into(),
            token_gone: false,
            issuer: None,
            keys: vec![signer.jwk()],
        };
        Arc::new(ScriptedProvider {
            signer,
            token_answers: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            jwks_unreachable: AtomicBool::new(false),
            metadata: Mutex::new(metadata),
            on_token_request: Mutex::new(None),
        })
    }

    /// Queues the token endpoint's next answer.
    pub fn answer(&self, answer: Answer) {
        lock(&self.token_answers).push_back(answer);
    }

    /// Queues a successful token response: `body` merged over a Bearer token of 300 s.
    pub fn answer_tokens(&self, body: Value) {
        let mut response =
            json!({"access_token": "at-2", "token_type": "Bearer", "expires_in": 300});
        for (k, v) in body.as_object().unwrap() {
            response[k] = v.clone();
        }
        self.answer(Answer::Json(200, response));
    }

    /// Runs `hook` when the next token request arrives, as if it happened while the request
    /// was on the wire.
    pub fn on_token_request(&self, hook: impl FnOnce() + Send + 'static) {
        *lock(&self.on_token_request) = Some(Box::new(hook));
    }

    /// Makes the JWKS answer 503 (keys unreachable).
    pub fn make_jwks_unreachable(&self) {
        self.jwks_unreachable.store(true, Ordering::SeqCst);
    }

    /// Sends `headers` (e.g. `Cache-Control: max-age=300`) with discovery and the JWKS, and —
    /// with `etags` — an `ETag`, answering a matching `If-None-Match` with 304.
    pub fn cache_with(&self, headers: &[(&str, &str)], etags: bool) {
        let mut script = lock(&self.metadata);
        script.cache_headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        script.etags = etags;
    }

    /// Moves the token endpoint to `path` (discovery says so; `/token` answers 404).
    pub fn move_token_endpoint(&self, path: &str) {
        lock(&self.metadata).token_path = path.to_string();
    }

    /// Makes the token endpoint answer 404 while discovery still names it.
    pub fn break_token_endpoint(&self) {
        lock(&self.metadata).token_gone = true;
    }

    /// Makes discovery name `issuer`.
    pub fn claim_issuer(&self, issuer: &str) {
        lock(&self.metadata).issuer = Some(issuer.to_string());
    }

    /// Publishes exactly these keys in the JWKS.
    pub fn publish_keys(&self, keys: Vec<Value>) {
        lock(&self.metadata).keys = keys;
    }

    /// Forgets every request recorded so far.
    pub fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    /// A discovery or JWKS answer with `body`, the caching headers and validators, or a 304
    /// when the request's `If-None-Match` matches. Appends what happened to `record`.
    fn metadata_answer(
        &self,
        request: &HttpRequest,
        body: &Value,
        record: &mut String,
    ) -> HttpResponse {
        let script = lock(&self.metadata);
        let text = body.to_string();
        let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest.as_ref()[..9]));
        let asked = request
            .headers
            .iter()
            .find(|(n, _)| n == "if-none-match")
            .map(|(_, v)| v.as_str());
        if request.headers.iter().any(|(n, _)| n.starts_with("if-")) {
            record.push_str(" conditional");
        }
        let mut response = json_response(200, body);
        if script.etags && asked == Some(etag.as_str()) {
            record.push_str(" 304");
            response.status = 304;
            response.body.clear();
        }
        response
            .headers
            .extend(script.cache_headers.iter().cloned());
        if script.etags {
            response.headers.push(("etag".into(), etag));
        }
        response
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.requests).clone()
    }

    /// The requests matching `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }

    /// An ID token for user `sub` of this provider and client, signed with its key, with
    /// `patch` merged into the claims (`null` removes one).
    pub fn id_token(&self, sub: &str, patch: Value) -> String {
        let mut claims = json!({"iss": ISSUER, "sub": sub, "aud": CLIENT_ID,
                                "iat": NOW, "exp": NOW + 3600});
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        self.signer.sign(json!({}), &claims)
    }
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

/// The value of form field `name` in `body`.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

/// The path of the URL (`htu`) the request's DPoP proof was made for, if it carries one.
fn dpop_proof_target(request: &HttpRequest) -> Option<String> {
    let (_, proof) = request.headers.iter().find(|(n, _)| n == "dpop")?;
    let claims = URL_SAFE_NO_PAD.decode(proof.split('.').nth(1)?).ok()?;
    let claims: Value = serde_json::from_slice(&claims).ok()?;
    Some(
        url::Url::parse(claims["htu"].as_str()?)
            .ok()?
            .path()
            .to_string(),
    )
}

#[async_trait]
impl HttpTransport for ScriptedProvider {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let url = url::Url::parse(&request.url).unwrap();
        let path = url.path().to_string();
        let method = format!("{:?}", request.method).to_uppercase();
        let mut record = format!("{method} {path}");
        if let Some(grant) = form_field(&request.body, "grant_type") {
            record.push_str(&format!(" {grant}"));
        }
        if let Some(token) = form_field(&request.body, "token") {
            record.push_str(&format!(" {token}"));
        }
        if let Some(htu) = dpop_proof_target(&request) {
            record.push_str(&format!(" dpop@{htu}"));
        }
        let (token_path, token_gone) = {
            let script = lock(&self.metadata);
            (script.token_path.clone(), script.token_gone)
        };
        let answer = match path.as_str() {
            "/.well-known/openid-configuration" => {
                let issuer = lock(&self.metadata).issuer.clone();
                let document = json!({
                    "issuer": issuer.as_deref().unwrap_or(ISSUER),
                    "authorization_endpoint": format!("{ISSUER}/authorize"),
                    "token_endpoint": format!("{ISSUER}{token_path}"),
                    "jwks_uri": format!("{ISSUER}/jwks"),
                    "revocation_endpoint": format!("{ISSUER}/revoke"),
                });
                Some(self.metadata_answer(&request, &document, &mut record))
            }
            "/jwks" if self.jwks_unreachable.load(Ordering::SeqCst) => {
                Some(json_response(503, &json!({})))
            }
            "/jwks" => {
                let keys = lock(&self.metadata).keys.clone();
                Some(self.metadata_answer(&request, &json!({"keys": keys}), &mut record))
            }
            "/token" if token_gone || token_path != "/token" => {
                Some(json_response(404, &json!({})))
            }
            _ => None,
        };
        lock(&self.requests).push(record);
        if let Some(answer) = answer {
            return Ok(answer);
        }
        match path.as_str() {
            "/revoke" => Ok(json_response(200, &json!({}))),
            path if path == token_path => {
                let hook = lock(&self.on_token_request).take();
                if let Some(hook) = hook {
                    hook();
                }
                // Let concurrent callers run while this request is "on the wire".
                tokio::task::yield_now().await;
                let answer = lock(&self.token_answers).pop_front();
                match answer.expect("the test queued no answer for this token request") {
                    Answer::Json(status, body) => Ok(json_response(status, &body)),
                    Answer::Fail(kind) => Err(TransportError::new(kind, "scripted failure")),
                }
            }
            other => panic!("unexpected request to {other}"),
        }
    }
}

/// The tokens of user `sub`'s session: access token `at-1` expiring at `NOW + 60`, refresh
/// token `rt-1`, and an ID token signed by `provider`.
pub(crate) fn session_tokens(provider: &ScriptedProvider, sub: &str) -> Tokens {
    Tokens {
        access_token: SecretString::new("at-1"),
        refresh_token: Some(SecretString::new("rt-1")),
        id_token: SecretString::new(provider.id_token(sub, json!({}))),
        expires_at: Some(NOW + 60),
        scopes: vec!["openid".into()],
        claims: IdTokenClaims {
            issuer: ISSUER.into(),
            subject: sub.into(),
            audience: vec![CLIENT_ID.into()],
            authorized_party: None,
            expires_at: NOW + 3600,
            issued_at: NOW,
            auth_time: None,
            email: None,
            email_verified: None,
            name: None,
            preferred_username: None,
            extra: serde_json::Map::new(),
        },
        login_nonce: None,
        dpop_jkt: None,
    }
}

/// A client of `provider` whose store holds `tokens`, on a clock stopped at [`NOW`].
pub(crate) fn client_with_session(
    provider: &Arc<ScriptedProvider>,
    tokens: Option<&Tokens>,
) -> (Arc<Client>, Arc<MemoryStorage>) {
    let storage = Arc::new(MemoryStorage::new());
    if let Some(tokens) = tokens {
        storage.save(SESSION_KEY, &session_record(tokens)).unwrap();
    }
    let client = client_on(provider, &storage, Arc::new(ManualClock::new(NOW)));
    (client, storage)
}

/// A client of `provider` over `storage` (what a new process or app launch would create),
/// reading `clock`.
pub(crate) fn client_on(
    provider: &Arc<ScriptedProvider>,
    storage: &Arc<MemoryStorage>,
    clock: Arc<ManualClock>,
) -> Arc<Client> {
    let config = Config::builder(ISSUER, CLIENT_ID, "myapp://callback")
        .build()
        .unwrap();
    let client = Client::new(config, provider.clone())
        .with_storage(storage.clone())
        .with_clock(clock);
    Arc::new(client)
}

/// The scripted provider's client, as the owner of session records.
pub(crate) const OWNER: Owner<'static> = Owner {
    issuer: ISSUER,
    client_id: CLIENT_ID,
};

/// A session record holding `tokens` as the one, active account.
pub(crate) fn session_record(tokens: &Tokens) -> Vec<u8> {
    let mut sessions = Sessions::default();
    sessions.sign_in(tokens.clone());
    encode_sessions(&sessions, OWNER)
}

/// The sessions `storage` holds.
pub(crate) fn stored_sessions(storage: &MemoryStorage) -> Sessions {
    storage
        .load(SESSION_KEY)
        .unwrap()
        .map(|bytes| decode_sessions(&bytes, OWNER).unwrap())
        .unwrap_or_default()
}

/// The tokens of the active account `storage` holds, if any.
pub(crate) fn stored_tokens(storage: &MemoryStorage) -> Option<Tokens> {
    stored_sessions(storage).active().map(|a| a.tokens.clone())
}

/// An observer that keeps every event it hears.
#[derive(Default)]
pub(crate) struct RecordingObserver(Mutex<Vec<SessionEvent>>);

impl RecordingObserver {
    /// The events so far, in order.
    pub fn events(&self) -> Vec<SessionEvent> {
        lock(&self.0).clone()
    }
}

impl SessionObserver for RecordingObserver {
    fn on_session_event(&self, event: SessionEvent) {
        lock(&self.0).push(event);
    }
}
