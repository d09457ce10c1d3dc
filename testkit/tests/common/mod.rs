//! Helpers shared by the integration tests: a client that plays the app's side of
//! the protocol over real HTTP, with redirects disabled.

#![allow(dead_code)] // Each test binary uses a different subset.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyfob_testkit::{Options, SigningAlg, Testkit};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, WWW_AUTHENTICATE};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

pub const REDIRECT_URI: &str = "myapp://callback";

/// An HTTP client that does not follow redirects and ignores proxy settings.
pub fn http() -> reqwest::Client {
    // Needed when the workspace build gives reqwest `rustls-no-provider`;
    // fails harmlessly when a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

pub async fn start() -> Testkit {
    Testkit::start(Options::default()).await.unwrap()
}

/// A testkit whose provider signs ID tokens with `alg`.
pub async fn start_with_alg(alg: SigningAlg) -> Testkit {
    Testkit::start(Options {
        id_token_alg: alg,
        ..Options::default()
    })
    .await
    .unwrap()
}

/// A PKCE pair.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD
            .encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()).as_ref());
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// The standard authorization request parameters for `pkce`, with `extra` added or
/// replacing (an empty value drops the parameter).
pub fn authorize_url(tk: &Testkit, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", tk.client_id()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile email offline_access"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(existing, _)| existing != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let mut url = Url::parse(&format!("{}/authorize", tk.issuer())).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// Sends an authorization request and returns the response.
pub async fn authorize(tk: &Testkit, pkce: &Pkce, extra: &[(&str, &str)]) -> reqwest::Response {
    http()
        .get(authorize_url(tk, pkce, extra))
        .send()
        .await
        .unwrap()
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(headers: &HeaderMap) -> Vec<(String, String)> {
    let location = headers[LOCATION].to_str().unwrap();
    Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Runs `/authorize` and returns the code.
pub async fn code(tk: &Testkit, pkce: &Pkce) -> String {
    let response = authorize(tk, pkce, &[]).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let params = location_params(response.headers());
    param(&params, "code").expect("a code").to_owned()
}

/// Posts a form to an endpoint of the provider.
pub async fn post_form(tk: &Testkit, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    http()
        .post(format!("{}{path}", tk.issuer()))
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Posts the code-exchange form for `code` and `verifier`, with `changes` replacing its
/// parameters of the same name; returns the response.
pub async fn post_code_exchange(
    tk: &Testkit,
    code: &str,
    verifier: &str,
    changes: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", tk.client_id()),
        ("code_verifier", verifier),
    ];
    for (name, value) in changes {
        for param in form.iter_mut().filter(|(existing, _)| existing == name) {
            param.1 = value;
        }
    }
    post_form(tk, "/token", &form).await
}

/// Exchanges a code; returns status and JSON body.
pub async fn exchange(tk: &Testkit, code: &str, verifier: &str) -> (StatusCode, Value) {
    let response = post_code_exchange(tk, code, verifier, &[]).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    (response.status(), response.json().await.unwrap())
}

/// Refreshes; returns status and JSON body.
pub async fn refresh(tk: &Testkit, refresh_token: &str) -> (StatusCode, Value) {
    let response = post_form(
        tk,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", tk.client_id()),
        ],
    )
    .await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    (response.status(), response.json().await.unwrap())
}

/// A full sign-in: authorize, then exchange the code. Returns the token response.
pub async fn sign_in(tk: &Testkit) -> Value {
    let pkce = Pkce::new();
    let code = code(tk, &pkce).await;
    let (status, body) = exchange(tk, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The decoded header and claims of a JWT, without verification.
pub fn decode(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact serialisation");
    let part = |text: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap();
    (part(parts[0]), part(parts[1]))
}

/// The raw signature bytes of a JWT.
pub fn signature(jwt: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(jwt.rsplit('.').next().unwrap())
        .unwrap()
}

/// GETs `path` from the server at `base` with an optional bearer token: an API of a resource
/// server, or the provider's `/userinfo`.
pub async fn call_api(base: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = http().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The `WWW-Authenticate` header of a response.
pub fn challenge(response: &reqwest::Response) -> String {
    response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned()
}

/// GETs `url` and returns its JSON body.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> T {
    http().get(url).send().await.unwrap().json().await.unwrap()
}

/// The provider's discovery document as fetched by a client.
pub async fn discovery_document(tk: &Testkit) -> Value {
    get_json(&format!("{}/.well-known/openid-configuration", tk.issuer())).await
}

/// The provider's JWKS as fetched by a client.
pub async fn jwks(tk: &Testkit) -> Value {
    get_json(&format!("{}/.well-known/jwks.json", tk.issuer())).await
}

/// Verifies a JWT's signature against the JWKS with `jsonwebtoken`, checking
/// only the signature and `alg` (claims are checked by the tests themselves).
pub async fn verify_with_jwks(tk: &Testkit, jwt: &str) -> bool {
    use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let set: JwkSet = serde_json::from_value(jwks(tk).await).unwrap();
    let Some(jwk) = header.kid.as_deref().and_then(|kid| set.find(kid)) else {
        return false;
    };
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(jwt, &key, &validation).is_ok()
}
