//! The misbehaviour switchboard: faults that make the testkit answer the way a
//! broken or hostile provider would, for the client's negative tests.
//!
//! Faults are persistent until replaced or cleared. The JSON-object faults
//! (`id_token_claims`, `discovery`, `token_response`, …) are shallow merges: each
//! member replaces the member of the same name, and a JSON `null` removes it.

mod answer;

use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use answer::apply_endpoint_faults;

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
    /// A `Cache-Control` header for the discovery and JWKS answers (and their `304`s), e.g.
    /// `"max-age=3600"`, `"max-age=0"`, `"no-cache"`, `"no-store"`. Without it they carry no
    /// `Cache-Control`. Either way they carry an `ETag` and a `Last-Modified`, and a request
    /// whose `If-None-Match` (or, without one, `If-Modified-Since`) still matches is answered
    /// `304 Not Modified` (counted in [`crate::Stats`]).
    pub metadata_cache_control: Option<String>,
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

/// One fault each, for tests: `Faults::id_token_claims(json!({"sub": null}))`,
/// `Faults::endpoint("/token", |f| f.status = Some(503))`; combine them with [`Faults::and`].
///
/// The JSON patches must be JSON objects (the constructors panic otherwise, as a test's
/// typo should); their members are merged as the module documentation says.
impl Faults {
    /// Merges `patch` into the claims of every issued ID token: `{"iss": "https://evil.example"}`,
    /// `{"nonce": null}`.
    pub fn id_token_claims(patch: Value) -> Faults {
        only(|f| f.id_token_claims = Some(json_object(patch)))
    }

    /// Merges `patch` into the JOSE header of every issued ID token: `{"kid": null}`,
    /// `{"typ": "at+jwt"}`.
    pub fn id_token_header(patch: Value) -> Faults {
        only(|f| f.id_token_header = Some(json_object(patch)))
    }

    /// Signs ID tokens the given (broken or hostile) way.
    pub fn id_token_signing(signing: Signing) -> Faults {
        only(|f| f.id_token_signing = Some(signing))
    }

    /// Merges `patch` into the claims of every issued access token: `{"aud": null}`.
    pub fn access_token_claims(patch: Value) -> Faults {
        only(|f| f.access_token_claims = Some(json_object(patch)))
    }

    /// Merges `patch` into the discovery document: `{"issuer": "https://evil.example"}`.
    pub fn discovery(patch: Value) -> Faults {
        only(|f| f.discovery = Some(json_object(patch)))
    }

    /// Merges `patch` into the query of the `/authorize` redirect: `{"iss": null}`,
    /// `{"error": "access_denied", "code": null}`.
    pub fn callback(patch: Value) -> Faults {
        only(|f| f.callback = Some(json_object(patch)))
    }

    /// Appends `name=value` to the query of the `/authorize` redirect, even when `name` is
    /// already there: `Faults::callback_append("state", "second-state")` sends `state` twice.
    pub fn callback_append(name: &str, value: &str) -> Faults {
        only(|f| f.callback_append = vec![(name.to_owned(), value.to_owned())])
    }

    /// Puts the parameters of the `/authorize` redirect in its fragment instead of its query.
    pub fn callback_in_fragment() -> Faults {
        only(|f| f.callback_in_fragment = true)
    }

    /// Merges `patch` into the JSON of successful `/token` answers: `{"token_type": "mac"}`.
    pub fn token_response(patch: Value) -> Faults {
        only(|f| f.token_response = Some(json_object(patch)))
    }

    /// Sends `Cache-Control: {value}` with discovery and the JWKS: `"max-age=0"`, `"no-store"`.
    pub fn metadata_cache_control(value: &str) -> Faults {
        only(|f| f.metadata_cache_control = Some(value.to_owned()))
    }

    /// Places these JWK objects before the real keys in the JWKS.
    pub fn jwks_extra_keys(keys: Vec<Value>) -> Faults {
        only(|f| f.jwks_extra_keys = keys)
    }

    /// A canned answer (or a delay) for requests to `path`: `configure` sets the members of an
    /// [`EndpointFault`] for that path, e.g. `|f| f.delay_ms = Some(2_500)`.
    pub fn endpoint(path: &str, configure: impl FnOnce(&mut EndpointFault)) -> Faults {
        let mut fault = EndpointFault {
            path: path.to_owned(),
            ..EndpointFault::default()
        };
        configure(&mut fault);
        only(|f| f.endpoints = vec![fault])
    }

    /// Every request to `path` is answered with `status` and an empty body.
    pub fn status(path: &str, status: u16) -> Faults {
        Faults::endpoint(path, |f| f.status = Some(status))
    }

    /// Every request to `path` is answered with an OAuth error (RFC 6749 §5.2): status 400 and
    /// `error` as the JSON body, e.g. `json!({"error": "invalid_grant"})`.
    pub fn oauth_error(path: &str, error: Value) -> Faults {
        let body = json_object(error);
        Faults::endpoint(path, |f| {
            f.status = Some(400);
            f.body = Some(Value::Object(body).to_string());
        })
    }

    /// Every request to `path` is answered with `status` (429 or 503) and a `Retry-After`
    /// header of `seconds`.
    pub fn retry_after(path: &str, status: u16, seconds: u32) -> Faults {
        Faults::endpoint(path, |f| {
            f.status = Some(status);
            f.headers = vec![("Retry-After".into(), seconds.to_string())];
        })
    }

    /// Every request to `path` is answered with the redirect `status` (301, 302, 307, …) to
    /// `location`, which a client must not follow.
    pub fn redirect(path: &str, status: u16, location: impl Into<String>) -> Faults {
        Faults::endpoint(path, |f| {
            f.status = Some(status);
            f.headers = vec![("Location".into(), location.into())];
        })
    }

    /// Both sets of faults at once. The JSON patches are merged member by member (a member of
    /// `other` replaces the one of the same name, a `null` in `other` still removes it), the
    /// signing and `Cache-Control` of `other` win when it has them, and the lists are joined,
    /// `self`'s first (so `self`'s endpoint fault answers first for a path that both name).
    pub fn and(self, other: Faults) -> Faults {
        // Destructured, so that a new kind of fault cannot be forgotten here.
        let Faults {
            id_token_claims,
            id_token_header,
            id_token_signing,
            access_token_claims,
            discovery,
            callback,
            token_response,
            endpoints,
            jwks_extra_keys,
            callback_append,
            callback_in_fragment,
            metadata_cache_control,
        } = other;
        Faults {
            id_token_claims: join_patches(self.id_token_claims, id_token_claims),
            id_token_header: join_patches(self.id_token_header, id_token_header),
            id_token_signing: id_token_signing.or(self.id_token_signing),
            access_token_claims: join_patches(self.access_token_claims, access_token_claims),
            discovery: join_patches(self.discovery, discovery),
            callback: join_patches(self.callback, callback),
            token_response: join_patches(self.token_response, token_response),
            endpoints: [self.endpoints, endpoints].concat(),
            jwks_extra_keys: [self.jwks_extra_keys, jwks_extra_keys].concat(),
            callback_append: [self.callback_append, callback_append].concat(),
            callback_in_fragment: self.callback_in_fragment || callback_in_fragment,
            metadata_cache_control: metadata_cache_control.or(self.metadata_cache_control),
        }
    }
}

/// No fault but the one that `set` switches on.
fn only(set: impl FnOnce(&mut Faults)) -> Faults {
    let mut faults = Faults::default();
    set(&mut faults);
    faults
}

/// The members of a JSON object given to a fault constructor.
fn json_object(patch: Value) -> Map<String, Value> {
    match patch {
        Value::Object(members) => members,
        other => panic!("a fault patch must be a JSON object, not {other}"),
    }
}

/// One patch that does what `first` then `second` would: `second`'s members (`null` included)
/// replace `first`'s.
fn join_patches(
    first: Option<Map<String, Value>>,
    second: Option<Map<String, Value>>,
) -> Option<Map<String, Value>> {
    match (first, second) {
        (Some(mut first), Some(second)) => {
            first.extend(second);
            Some(first)
        }
        (first, second) => second.or(first),
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

    #[test]
    fn merge_replaces_adds_and_removes() {
        let mut target = json_object(json!({"a": 1, "b": 2}));
        merge_object(
            &mut target,
            Some(&json_object(json!({"a": "x", "b": null, "c": [1]}))),
        );
        assert_eq!(Value::Object(target), json!({"a": "x", "c": [1]}));
    }

    #[test]
    fn merge_params_keeps_order() {
        let mut params = vec![("code".into(), "c".into()), ("state".into(), "s".into())];
        merge_params(
            &mut params,
            Some(&json_object(json!({"code": null, "state": "t", "n": 5}))),
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

    #[test]
    fn a_constructor_sets_its_one_fault() {
        let faults = Faults::id_token_claims(json!({"sub": null}));
        assert_eq!(
            faults,
            Faults {
                id_token_claims: Some(json_object(json!({"sub": null}))),
                ..Faults::default()
            }
        );
        let endpoint = Faults::retry_after("/token", 429, 120);
        assert_eq!(
            endpoint.endpoints,
            vec![EndpointFault {
                path: "/token".into(),
                status: Some(429),
                headers: vec![("Retry-After".into(), "120".into())],
                ..EndpointFault::default()
            }]
        );
        let error = Faults::oauth_error("/token", json!({"error": "invalid_grant"}));
        assert_eq!(error.endpoints[0].status, Some(400));
        assert_eq!(
            error.endpoints[0].body.as_deref(),
            Some(r#"{"error":"invalid_grant"}"#)
        );
    }

    #[test]
    #[should_panic(expected = "must be a JSON object")]
    fn a_patch_that_is_not_an_object_is_refused() {
        Faults::discovery(json!(["issuer"]));
    }

    #[test]
    fn and_merges_patches_member_by_member_the_second_winning() {
        let first = Faults::id_token_claims(json!({"iss": "a", "sub": "s", "nonce": null}));
        let second = Faults::id_token_claims(json!({"iss": "b", "sub": null, "nonce": "n"}));
        let both = first.and(second);
        assert_eq!(
            both.id_token_claims,
            Some(json_object(json!({"iss": "b", "sub": null, "nonce": "n"})))
        );
        // Applied, the joined patch does what the two would one after the other.
        let mut claims = json_object(json!({"iss": "i", "sub": "u", "aud": "c"}));
        merge_object(&mut claims, both.id_token_claims.as_ref());
        assert_eq!(
            Value::Object(claims),
            json!({"iss": "b", "nonce": "n", "aud": "c"})
        );
        // A patch on one side only is kept as it is.
        let one_sided = Faults::discovery(json!({"issuer": "x"})).and(Faults::default());
        assert_eq!(one_sided, Faults::discovery(json!({"issuer": "x"})));
    }

    #[test]
    fn and_joins_lists_in_order_and_keeps_every_kind_of_fault() {
        let both = Faults::status("/token", 500)
            .and(Faults::jwks_extra_keys(vec![json!(1)]))
            .and(Faults::callback_append("state", "s2"))
            .and(Faults::id_token_signing(Signing::AlgNone))
            .and(Faults::status("/token", 503))
            .and(Faults::jwks_extra_keys(vec![json!(2)]))
            .and(Faults::callback_append("code", "c2"))
            .and(Faults::callback_in_fragment())
            .and(Faults::metadata_cache_control("no-store"));
        let statuses: Vec<_> = both.endpoints.iter().map(|f| f.status).collect();
        assert_eq!(statuses, [Some(500), Some(503)]);
        assert_eq!(both.jwks_extra_keys, [json!(1), json!(2)]);
        assert_eq!(
            both.callback_append,
            [("state".into(), "s2".into()), ("code".into(), "c2".into())]
        );
        assert_eq!(both.id_token_signing, Some(Signing::AlgNone));
        assert!(both.callback_in_fragment);
        assert_eq!(both.metadata_cache_control.as_deref(), Some("no-store"));
        // The later signing wins; a fault without one keeps the earlier.
        let signing = Faults::id_token_signing(Signing::AlgNone)
            .and(Faults::id_token_signing(Signing::BadSignature))
            .and(Faults::callback_append("iss", "x"));
        assert_eq!(signing.id_token_signing, Some(Signing::BadSignature));
    }

    #[test]
    fn the_first_endpoint_fault_for_a_path_answers_first() {
        let switch = FaultSwitch::default();
        switch.set(
            Faults::endpoint("/token", |f| {
                f.status = Some(500);
                f.times = Some(1);
            })
            .and(Faults::status("/token", 503)),
        );
        let statuses: Vec<_> = (0..3)
            .map(|_| switch.take_endpoint_fault("/token").and_then(|f| f.status))
            .collect();
        assert_eq!(statuses, [Some(500), Some(503), Some(503)]);
    }
}
