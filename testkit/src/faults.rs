//! The misbehaviour switchboard: faults that make the testkit answer the way a
//! broken or hostile provider would, for the client's negative tests.
//!
//! Faults are persistent until replaced or cleared. The JSON-object faults
//! (`id_token_claims`, `discovery`, `token_response`, …) are shallow merges: each
//! member replaces the member of the same name, and a JSON `null` removes it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Shared;
use crate::resource::is_resource_server_request;

/// The set of active faults. The default is "no fault": a well-behaved provider.
///
/// The client's own requests are affected; the JWKS fetches that servers A and B
/// make for themselves are not (they always see the real key set).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Faults {
    /// Merged into the claims of every issued ID token (`null` removes a claim),
    /// e.g. `{"exp": "9999999999"}`, `{"sub": null}`, `{"aud": ["keyfob-demo", "other"]}`.
    pub id_token_claims: Option<Map<String, Value>>,
    /// Merged into the JOSE header of every issued ID token before it is signed
    /// (`null` removes a member), e.g. `{"kid": "unknown-kid"}` or `{"kid": null}`.
    pub id_token_header: Option<Map<String, Value>>,
    /// How ID tokens are signed; `None` means [`Signing::Normal`].
    pub id_token_signing: Option<Signing>,
    /// Merged into the claims of every issued access token (`null` removes a
    /// claim), e.g. `{"aud": "https://other.example"}` for a token that servers A
    /// and B must refuse.
    pub access_token_claims: Option<Map<String, Value>>,
    /// Merged into the discovery document, e.g. `{"issuer": "https://evil.example"}`.
    pub discovery: Option<Map<String, Value>>,
    /// Merged into the query parameters of the successful `/authorize` redirect,
    /// e.g. `{"iss": null}`, `{"state": "other"}`,
    /// `{"error": "access_denied", "error_description": "User said no", "code": null}`.
    /// String values are used as they are; other values as their JSON text.
    pub callback: Option<Map<String, Value>>,
    /// Merged into the JSON of successful `/token` responses,
    /// e.g. `{"token_type": "mac"}`, `{"expires_in": "3600"}`, `{"access_token": null}`.
    pub token_response: Option<Map<String, Value>>,
    /// Canned answers (or delays) for requests to given paths, on the provider and
    /// on servers A and B.
    pub endpoints: Vec<EndpointFault>,
    /// Extra JWK objects placed before the real keys in the JWKS.
    pub jwks_extra_keys: Vec<Value>,
    /// Parameters appended to the query of the successful `/authorize` redirect after
    /// the `callback` merge, even when a parameter of that name is already there:
    /// `[["state", "other"]]` sends `state` twice. As JSON, an array of
    /// `[name, value]` pairs.
    pub callback_append: Vec<(String, String)>,
    /// The successful `/authorize` redirect carries its parameters in the fragment
    /// (`myapp://callback#code=…&state=…&iss=…`) instead of the query, as an
    /// implicit-flow or `response_mode=fragment` provider would.
    pub callback_in_fragment: bool,
}

impl Faults {
    /// The faults of a command-line argument: a JSON [`Faults`] object, or `@PATH` to read
    /// one from a file (what `keyfob-testkit --faults` and `keyfob testkit --faults` take).
    pub fn from_arg(arg: &str) -> Result<Faults, String> {
        let text = match arg.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the faults file {path:?}: {e}"))?,
            None => arg.to_owned(),
        };
        serde_json::from_str(&text).map_err(|e| format!("invalid faults JSON: {e}"))
    }
}

/// How the provider signs ID tokens (access tokens are always signed normally).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Signing {
    /// Signed with the published key for the configured algorithm.
    #[default]
    Normal,
    /// Header `"alg": "none"` and an empty signature.
    AlgNone,
    /// The key-confusion attack: header `"alg": "HS256"`, HMAC-SHA256 keyed with
    /// the text of the signing key's public key in PEM (SubjectPublicKeyInfo,
    /// `-----BEGIN PUBLIC KEY-----`, 64-column base64 lines, trailing newline).
    Hs256WithPublicKey,
    /// A valid token whose last signature byte is flipped.
    BadSignature,
    /// Signed by a key of the configured algorithm whose `kid` is not in the JWKS.
    UnpublishedKey,
    /// A valid signature by an RSA key of 1024 bits, which the JWKS publishes (after the real
    /// keys) while this fault is on: a key too short to be trusted, whose signatures a client
    /// must refuse. Signs with the configured algorithm when it is RS256 or PS256, with RS256
    /// when it is ES256.
    ShortRsaKey,
}

/// A canned answer for requests to one path.
///
/// If only `delay_ms` is set, the request is delayed and then served normally.
/// If any of `status`, `body`, `content_type`, `body_bytes`, `headers` or
/// `abort_after_bytes` is set, the fault answers instead of the real endpoint
/// (after the delay, if any).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct EndpointFault {
    /// The request path to match exactly, without query, e.g. `/token` or
    /// `/.well-known/jwks.json` (or `/api/customers` on server A).
    pub path: String,
    /// Response status; defaults to 200.
    pub status: Option<u16>,
    /// Response body text; defaults to empty.
    pub body: Option<String>,
    /// `Content-Type`; defaults to `application/json` when `body` is valid JSON
    /// or `body_bytes` is set, else `text/plain; charset=utf-8`.
    pub content_type: Option<String>,
    /// Delay before answering (or before serving normally), in milliseconds.
    pub delay_ms: Option<u64>,
    /// `None`: every matching request; `Some(n)`: only the next `n` ones.
    pub times: Option<u32>,
    /// Streams this many bytes of `x` as the body (chunked, no `Content-Length`),
    /// without allocating them; takes precedence over `body`.
    pub body_bytes: Option<u64>,
    /// Extra response headers, e.g. `[["Retry-After", "120"]]` with status 429, or
    /// `[["Location", "http://127.0.0.1:9/elsewhere"]]` with a 3xx status. As JSON,
    /// an array of `[name, value]` pairs; invalid names or values are skipped.
    pub headers: Vec<(String, String)>,
    /// Sends the status, the headers and this many bytes of the body (the start of
    /// `body`, padded with `x`), then fails the body stream: the connection is
    /// closed in the middle of the body, as a reset would (the client never gets a
    /// complete response). Takes precedence over `body_bytes`.
    pub abort_after_bytes: Option<u64>,
}

impl EndpointFault {
    /// Whether this fault answers the request itself (rather than only delaying it).
    fn answers(&self) -> bool {
        self.status.is_some()
            || self.body.is_some()
            || self.content_type.is_some()
            || self.body_bytes.is_some()
            || !self.headers.is_empty()
            || self.abort_after_bytes.is_some()
    }

    /// The canned response.
    fn response(&self) -> Response {
        let status = self
            .status
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or(StatusCode::OK);
        let body_is_json = self
            .body
            .as_deref()
            .is_some_and(|body| serde_json::from_str::<Value>(body).is_ok());
        let content_type = match &self.content_type {
            Some(content_type) => content_type.clone(),
            None if body_is_json || self.body_bytes.is_some() => "application/json".into(),
            None => "text/plain; charset=utf-8".into(),
        };
        let body = match (self.abort_after_bytes, self.body_bytes, &self.body) {
            (Some(sent), _, Some(text)) => aborted_body(text.as_bytes(), sent),
            (Some(sent), _, None) => aborted_body(&[], sent),
            (None, Some(len), _) => filler_body(len),
            (None, None, Some(text)) => Body::from(text.clone()),
            (None, None, None) => Body::empty(),
        };
        let mut response = (status, body).into_response();
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// A body of `len` bytes of `x`, streamed in chunks from one static buffer.
fn filler_body(len: u64) -> Body {
    static CHUNK: [u8; 16 * 1024] = [b'x'; 16 * 1024];
    let chunks = futures_util::stream::unfold(len, |remaining| async move {
        if remaining == 0 {
            return None;
        }
        let size = usize::try_from(remaining).map_or(CHUNK.len(), |r| r.min(CHUNK.len()));
        let chunk = Bytes::from_static(&CHUNK[..size]);
        Some((Ok::<_, std::io::Error>(chunk), remaining - size as u64))
    });
    Body::from_stream(chunks)
}

/// The first `sent` bytes of `text` (padded with `x` when `text` is shorter), then a
/// stream error: the server closes the connection without finishing the body.
fn aborted_body(text: &[u8], sent: u64) -> Body {
    let len = usize::try_from(sent)
        .unwrap_or(usize::MAX)
        .min(16 * 1024 * 1024);
    let mut prefix: Vec<u8> = text.iter().copied().take(len).collect();
    prefix.resize(len, b'x');
    // The prefix is sent first and given time to reach the client (the server would otherwise
    // drop the head and prefix with the connection), then the stream fails.
    let chunks = futures_util::stream::unfold(Some(Some(prefix)), |step| async move {
        match step? {
            Some(prefix) => Some((Ok(Bytes::from(prefix)), Some(None))),
            None => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let reset = std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "testkit fault: connection closed mid-body",
                );
                Some((Err(reset), None))
            }
        }
    });
    Body::from_stream(chunks)
}

/// The active faults, shared by all servers of one testkit.
#[derive(Debug, Default)]
pub(crate) struct FaultSwitch {
    active: Mutex<Faults>,
}

impl FaultSwitch {
    /// Replaces the active faults.
    pub(crate) fn set(&self, faults: Faults) {
        match faults.id_token_signing {
            Some(Signing::UnpublishedKey) => crate::keys::prepare_rogue_key(),
            Some(Signing::ShortRsaKey) => crate::keys::prepare_short_key(),
            _ => {}
        }
        *self.active.lock().unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// A copy of the active faults.
    pub(crate) fn current(&self) -> Faults {
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The first endpoint fault matching `path`, consuming one of its `times`.
    fn take_endpoint_fault(&self, path: &str) -> Option<EndpointFault> {
        let mut faults = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        let endpoints = &mut faults.endpoints;
        endpoints.retain(|fault| fault.times != Some(0));
        let index = endpoints.iter().position(|fault| fault.path == path)?;
        let fault = endpoints[index].clone();
        if let Some(times) = &mut endpoints[index].times {
            *times -= 1;
            if *times == 0 {
                endpoints.remove(index);
            }
        }
        Some(fault)
    }
}

/// Middleware: lets a matching [`EndpointFault`] delay the request and/or answer it.
pub(crate) async fn apply_endpoint_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if is_resource_server_request(request.headers()) {
        return next.run(request).await;
    }
    let Some(fault) = shared.faults.take_endpoint_fault(request.uri().path()) else {
        return next.run(request).await;
    };
    if let Some(delay) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if fault.answers() {
        fault.response()
    } else {
        next.run(request).await
    }
}

/// Shallow merge of `patch` into `target`: members replace, `null` removes.
pub(crate) fn merge_object(target: &mut Map<String, Value>, patch: Option<&Map<String, Value>>) {
    for (name, value) in patch.into_iter().flatten() {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// The same merge for ordered query parameters; new parameters are appended.
pub(crate) fn merge_params(params: &mut Vec<(String, String)>, patch: Option<&Map<String, Value>>) {
    for (name, value) in patch.into_iter().flatten() {
        let text = match value {
            Value::Null => {
                params.retain(|(existing, _)| existing != name);
                continue;
            }
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        match params.iter_mut().find(|(existing, _)| existing == name) {
            Some(param) => param.1 = text,
            None => params.push((name.clone(), text)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn merge_replaces_adds_and_removes() {
        let mut target = object(json!({"a": 1, "b": 2}));
        merge_object(
            &mut target,
            Some(&object(json!({"a": "x", "b": null, "c": [1]}))),
        );
        assert_eq!(Value::Object(target), json!({"a": "x", "c": [1]}));
    }

    #[test]
    fn merge_params_keeps_order() {
        let mut params = vec![("code".into(), "c".into()), ("state".into(), "s".into())];
        merge_params(
            &mut params,
            Some(&object(json!({"code": null, "state": "t", "n": 5}))),
        );
        assert_eq!(
            params,
            vec![("state".into(), "t".into()), ("n".into(), "5".into())]
        );
    }

    #[test]
    fn endpoint_fault_times_are_consumed() {
        let switch = FaultSwitch::default();
        switch.set(Faults {
            endpoints: vec![EndpointFault {
                path: "/token".into(),
                status: Some(500),
                times: Some(2),
                ..Default::default()
            }],
            ..Default::default()
        });
        assert!(switch.take_endpoint_fault("/jwks").is_none());
        assert!(switch.take_endpoint_fault("/token").is_some());
        assert!(switch.take_endpoint_fault("/token").is_some());
        assert!(switch.take_endpoint_fault("/token").is_none());
    }

    #[test]
    fn signing_uses_snake_case() {
        let faults: Faults =
            serde_json::from_value(json!({"id_token_signing": "hs256_with_public_key"})).unwrap();
        assert_eq!(faults.id_token_signing, Some(Signing::Hs256WithPublicKey));
    }
}
