//! DPoP (RFC 9449): proofs that the client holds the key its tokens are bound to.
//!
//! The key never leaves the platform: a [`DpopKey`] (Secure Enclave, StrongBox/TEE, or a
//! software key on desktop) gives its public half and signs what it is handed. Keyfob builds
//! the proof JWS itself — header `{"typ":"dpop+jwt","alg":"ES256","jwk":…}`, claims `jti`,
//! `htm`, `htu` (no query, no fragment), `iat`, and `nonce` and `ath` when they apply — and
//! asks the key to sign its signing input. ES256 only.
//!
//! Servers may demand a nonce: the token endpoint answers `400 {"error":"use_dpop_nonce"}`, a
//! resource server `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"`, both with a
//! `DPoP-Nonce` header. [`send`] then retries once with that nonce, never more; the latest nonce
//! of every server (by origin; the [`MAX_NONCE_ORIGINS`] servers heard from last) is remembered
//! for the next proof.

use std::fmt;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use url::{Position, Url};

use crate::error::{Error, ErrorKind, Result, StorageError, StorageErrorKind};
use crate::http::{Http, HttpMethod, HttpResponse, json_text, parse_json_object};
use crate::oidc::pkce::random_token;
use crate::secret::SecretString;
use crate::sync::lock;

/// The one algorithm Keyfob signs proofs with.
pub(crate) const DPOP_ALG: &str = "ES256";

/// A P-256 key that proves possession for DPoP-bound tokens, held where the platform keeps keys
/// (Secure Enclave, Android Keystore with StrongBox or TEE, a file for the CLI).
///
/// The private key never crosses this trait: Keyfob builds each proof and asks the key to sign
/// it. Both methods report a key that is gone (deleted, invalidated by a lock-screen change) as
/// [`StorageErrorKind::KeyInvalidated`], a key that cannot be used right now (device locked) as
/// [`StorageErrorKind::Unavailable`]. A session bound to a key that is gone, or to another key
/// than this one, must be signed in again.
pub trait DpopKey: Send + Sync {
    /// The public key: the uncompressed P-256 point (65 bytes, `0x04 ‖ x ‖ y`, what
    /// `SecKeyCopyExternalRepresentation` and CryptoKit's `x963Representation` give), or its
    /// DER SubjectPublicKeyInfo (91 bytes, Java's `PublicKey.getEncoded()`).
    fn public_key(&self) -> std::result::Result<Vec<u8>, StorageError>;

    /// An ES256 signature of `message` (ECDSA P-256 over its SHA-256 digest): raw `r ‖ s`
    /// (64 bytes, CryptoKit) or DER `ECDSA-Sig-Value` (SecKey, Java's `SHA256withECDSA`).
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, StorageError>;
}

/// DER prefix of a P-256 SubjectPublicKeyInfo, followed by the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn key_error(message: &str) -> Error {
    Error::from(StorageError::new(StorageErrorKind::Failed, message))
}

/// The public half of a DPoP key as a JWK: base64url coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicJwk {
    x: String,
    y: String,
}

impl PublicJwk {
    /// Reads what [`DpopKey::public_key`] gave: an uncompressed point or its SPKI.
    pub fn from_key_bytes(bytes: &[u8]) -> Result<Self> {
        let point = match bytes.len() {
            65 => bytes,
            91 if bytes[..26] == P256_SPKI_PREFIX => &bytes[26..],
            _ => return Err(key_error("the DPoP key's public key is not a P-256 point")),
        };
        if point[0] != 0x04 {
            return Err(key_error(
                "the DPoP key's public key is not an uncompressed P-256 point",
            ));
        }
        Ok(PublicJwk {
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// The JWK for the proof's header.
    fn to_json(&self) -> Value {
        json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }

    /// Its JWK SHA-256 thumbprint (RFC 7638): the `jkt` tokens are bound to.
    pub fn thumbprint(&self) -> String {
        // The required members in lexicographic order, no whitespace (RFC 7638 §3.2).
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x, self.y
        );
        let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

/// The order n of the P-256 group, big-endian: `r` and `s` of a signature lie in `1..n`.
const P256_ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `r ‖ s` (64 bytes) from a raw or DER ECDSA P-256 signature, each in `1..n` (a key holder
/// that returns anything else is broken: such a proof could never verify).
pub(crate) fn raw_signature(signature: &[u8]) -> Result<[u8; 64]> {
    let raw = parse_signature(signature)?;
    // Big-endian numbers of equal length compare as byte strings.
    if raw
        .chunks(32)
        .any(|half| half.iter().all(|&b| b == 0) || half >= &P256_ORDER[..])
    {
        return Err(key_error(
            "the DPoP key returned an ES256 signature out of range",
        ));
    }
    Ok(raw)
}

/// `r ‖ s` as 32-byte big-endian numbers, from raw `r ‖ s` or DER `ECDSA-Sig-Value`.
fn parse_signature(signature: &[u8]) -> Result<[u8; 64]> {
    let bad = || key_error("the DPoP key returned a malformed ES256 signature");
    if let Ok(raw) = <[u8; 64]>::try_from(signature) {
        return Ok(raw);
    }
    // SEQUENCE { INTEGER r, INTEGER s }, DER: short lengths only (at most 72 bytes in all).
    let [0x30, len, rest @ ..] = signature else {
        return Err(bad());
    };
    if usize::from(*len) != rest.len() {
        return Err(bad());
    }
    let mut out = [0u8; 64];
    let mut rest = rest;
    for half in out.chunks_mut(32) {
        let [0x02, n, tail @ ..] = rest else {
            return Err(bad());
        };
        let n = usize::from(*n);
        if n == 0 || n > 33 || tail.len() < n {
            return Err(bad());
        }
        let (int, after) = tail.split_at(n);
        // DER: no needless leading zero; a positive integer (high bit clear).
        if int[0] & 0x80 != 0 || (n > 1 && int[0] == 0 && int[1] & 0x80 == 0) {
            return Err(bad());
        }
        let digits = if int[0] == 0 { &int[1..] } else { int };
        if digits.len() > 32 {
            return Err(bad());
        }
        half[32 - digits.len()..].copy_from_slice(digits);
        rest = after;
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// `base64url(SHA-256(token))`: the proof's `ath` for a resource request.
pub(crate) fn access_token_hash(access_token: &SecretString) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, access_token.expose().as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// The proof's `htu`: the request URL without query and fragment (RFC 9449 §4.2).
pub(crate) fn target_uri(url: &Url) -> String {
    // Slices of the parsed URL rather than a modified copy (no URL setters in the mobile
    // library). No credentials in a URL that is signed and sent in a header.
    let scheme = &url[..Position::BeforeUsername];
    format!(
        "{scheme}{}",
        &url[Position::BeforeHost..Position::AfterPath]
    )
}

/// Whether `method` is an HTTP method token (RFC 9110 §9.1).
pub(crate) fn is_method(method: &str) -> bool {
    !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A client's DPoP key with the nonces servers gave it.
pub(crate) struct Dpop {
    key: Arc<dyn DpopKey>,
    /// The latest `DPoP-Nonce` of each server, by origin (`https://host:port`): a short list
    /// (the provider and a few APIs), searched in order, the server heard from last at the end,
    /// at most [`MAX_NONCE_ORIGINS`] of them.
    nonces: Mutex<Vec<(String, String)>>,
}

/// How many servers' nonces a client keeps: the one heard from longest ago makes room. An app
/// talks to the provider and a few APIs; a bound keeps URLs the app builds from growing it.
pub(crate) const MAX_NONCE_ORIGINS: usize = 16;

/// A signed proof and the nonce it carries, if any.
pub(crate) struct SignedProof {
    /// The proof JWS: a secret.
    pub jws: SecretString,
    /// The server nonce embedded in it (`nonce`).
    pub nonce: Option<String>,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop").finish_non_exhaustive()
    }
}

/// What a proof is for.
pub(crate) struct ProofTarget<'a> {
    /// The HTTP method, as sent.
    pub method: &'a str,
    pub url: &'a Url,
    /// The access token sent with a resource request (for `ath`); `None` at the token endpoint.
    pub access_token: Option<&'a SecretString>,
    /// Seconds since the epoch (`iat`).
    pub now: i64,
}

impl Dpop {
    /// DPoP with `key`, no nonce known yet.
    pub fn new(key: Arc<dyn DpopKey>) -> Self {
        Dpop {
            key,
            nonces: Mutex::new(Vec::new()),
        }
    }

    /// The key's public JWK, asked of the key holder each time (a platform key may have been
    /// replaced since the last proof).
    pub fn public_jwk(&self) -> Result<PublicJwk> {
        PublicJwk::from_key_bytes(&self.key.public_key()?)
    }

    /// The key's thumbprint (`jkt`).
    pub fn thumbprint(&self) -> Result<String> {
        Ok(self.public_jwk()?.thumbprint())
    }

    /// A proof for one request, with the server's latest nonce. A proof is as good as a token
    /// for its URL for a minute or so: it is a secret.
    pub fn proof(&self, target: &ProofTarget<'_>) -> Result<SecretString> {
        let jwk = self.public_jwk()?;
        Ok(self.proof_with(&jwk, target)?.jws)
    }

    /// [`Dpop::proof`] with the public key already read, and the nonce the proof carries.
    pub fn proof_with(&self, jwk: &PublicJwk, target: &ProofTarget<'_>) -> Result<SignedProof> {
        if !is_method(target.method) {
            return Err(Error::config("DPoP: the HTTP method is not a method name"));
        }
        let header = json!({"typ": "dpop+jwt", "alg": DPOP_ALG, "jwk": jwk.to_json()});
        let mut claims = Map::new();
        claims.insert("jti".into(), random_token(16)?.into());
        claims.insert("htm".into(), target.method.into());
        claims.insert("htu".into(), target_uri(target.url).into());
        claims.insert("iat".into(), target.now.into());
        let nonce = self.nonce_for(target.url);
        if let Some(nonce) = &nonce {
            claims.insert("nonce".into(), nonce.as_str().into());
        }
        if let Some(token) = target.access_token {
            claims.insert("ath".into(), access_token_hash(token).into());
        }
        let encode = |v: &Value| URL_SAFE_NO_PAD.encode(json_text(v));
        let signing_input = format!("{}.{}", encode(&header), encode(&Value::Object(claims)));
        let signature = raw_signature(&self.key.sign(signing_input.as_bytes())?)?;
        Ok(SignedProof {
            jws: SecretString::new(format!(
                "{signing_input}.{}",
                URL_SAFE_NO_PAD.encode(signature)
            )),
            nonce,
        })
    }

    /// The latest nonce of the server of `url`.
    pub fn nonce_for(&self, url: &Url) -> Option<String> {
        let origin = origin(url);
        lock(&self.nonces)
            .iter()
            .find(|(o, _)| *o == origin)
            .map(|(_, nonce)| nonce.clone())
    }

    /// Keeps the `DPoP-Nonce` a response from `url`'s server carries, if it carries a valid
    /// one, and returns it. Whether it is new to this store says nothing about a given request:
    /// concurrent requests may all have been refused for the nonce only the first one stored.
    pub fn remember_nonce(&self, url: &Url, headers: &[(String, String)]) -> Option<String> {
        let nonce = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("dpop-nonce"))
            .map(|(_, v)| v.trim())
            .filter(|v| is_nonce(v))?;
        let origin = origin(url);
        let mut nonces = lock(&self.nonces);
        // Latest at the end: a server heard from again moves there, the oldest goes first.
        nonces.retain(|(o, _)| *o != origin);
        if nonces.len() >= MAX_NONCE_ORIGINS {
            nonces.remove(0);
        }
        nonces.push((origin, nonce.to_string()));
        Some(nonce.to_string())
    }
}

/// The server a nonce belongs to: scheme, host and port of `url` (its origin).
fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// A `DPoP-Nonce` value: `1*NQCHAR` (RFC 9449 §8.1), bounded.
fn is_nonce(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 512
        && value
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Which side of DPoP a server is: they ask for a nonce differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerRole {
    /// The token, PAR and revocation endpoints: `400` with `{"error":"use_dpop_nonce"}`.
    Authorization,
    /// An API (and UserInfo): `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"`.
    Resource,
}

/// Whether `response` asks for a proof with a nonce (RFC 9449 §8, §9).
pub(crate) fn asks_for_nonce(role: ServerRole, response: &HttpResponse) -> bool {
    match role {
        ServerRole::Authorization => {
            response.status == 400
                && parse_json_object(&response.body, "DPoP")
                    .is_ok_and(|body| body.get("error") == Some(&json!("use_dpop_nonce")))
        }
        ServerRole::Resource => {
            response.status == 401
                && response
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("www-authenticate"))
                    .any(|(_, v)| dpop_challenge_error(v) == Some("use_dpop_nonce"))
        }
    }
}

/// The `error` of a `DPoP` challenge in a `WWW-Authenticate` value, if there is one.
fn dpop_challenge_error(value: &str) -> Option<&str> {
    // Challenges are `scheme param=value, …`; several may share one header line. Find the DPoP
    // one and read its `error` parameter (quoted or token).
    // `get` rather than indexing: the value may hold non-ASCII text, and a slice that ends
    // inside a character would panic.
    let start = value
        .match_indices(|c: char| c.is_ascii_alphabetic())
        .map(|(i, _)| i)
        .find(|&i| {
            (i == 0 || value[..i].ends_with([' ', ',']))
                && value
                    .get(i..i + 4)
                    .is_some_and(|s| s.eq_ignore_ascii_case("dpop"))
                && value.get(i + 4..).is_some_and(|s| s.starts_with(' '))
        })?;
    let params = &value[start + 5..];
    for param in params.split(',') {
        let Some((name, raw)) = param.split_once('=') else {
            continue;
        };
        let name = name.trim();
        if name.contains(' ') {
            // The next challenge started (`Bearer realm=…`).
            break;
        }
        if name.eq_ignore_ascii_case("error") {
            return Some(raw.trim().trim_matches('"'));
        }
    }
    None
}

/// A request that carries a DPoP proof (and, for resource servers, `Authorization: DPoP`).
pub(crate) struct ProvenRequest<'a> {
    pub method: HttpMethod,
    pub url: &'a Url,
    /// Headers besides `DPoP` (and `Authorization`, which is added for `access_token`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub access_token: Option<&'a SecretString>,
    pub now: i64,
    pub role: ServerRole,
    pub what: &'a str,
}

/// Sends `request` with a fresh proof; when the server asks for a nonce other than the one the
/// proof carried, once more with it (never more than once). Every `DPoP-Nonce` the server sends
/// is remembered.
pub(crate) async fn send(
    http: &Http,
    dpop: &Dpop,
    request: ProvenRequest<'_>,
) -> Result<HttpResponse> {
    let method = match request.method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
    };
    let target = ProofTarget {
        method,
        url: request.url,
        access_token: request.access_token,
        now: request.now,
    };
    let jwk = dpop.public_jwk()?;
    let mut retried = false;
    loop {
        let proof = dpop.proof_with(&jwk, &target)?;
        let mut headers = request.headers.clone();
        headers.push(("dpop".to_string(), proof.jws.expose().to_string()));
        if let Some(token) = request.access_token {
            headers.push((
                "authorization".to_string(),
                format!("DPoP {}", token.expose()),
            ));
        }
        let response = http
            .send(
                request.method,
                request.url,
                headers,
                request.body.clone(),
                request.what,
            )
            .await?;
        let nonce = dpop.remember_nonce(request.url, &response.headers);
        // Retry for a nonce this proof did not carry, even when a concurrent request stored it
        // first; the same nonce again would only be refused again.
        let other_nonce = nonce.is_some() && nonce != proof.nonce;
        if retried || !other_nonce || !asks_for_nonce(request.role, &response) {
            return Ok(response);
        }
        log::debug!(
            "{}: the server asked for a DPoP nonce; retrying once",
            request.what
        );
        retried = true;
    }
}

/// The error for a DPoP-bound session whose key is gone or replaced: it must be signed in again.
pub(crate) fn key_lost(reason: &str) -> Error {
    Error::from(StorageError::new(
        StorageErrorKind::KeyInvalidated,
        format!("the DPoP key of this session is gone ({reason}); sign in again"),
    ))
}

/// Whether a key holder's failure means the key is gone for good (the session cannot be used).
pub(crate) fn is_key_lost(error: &Error) -> bool {
    error.kind() == ErrorKind::Storage
        && error.storage_kind() == Some(StorageErrorKind::KeyInvalidated)
}

#[cfg(feature = "software-key")]
pub use software::SoftwareDpopKey;

#[cfg(feature = "software-key")]
mod software {
    use std::fmt;

    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    use super::DpopKey;
    use crate::error::{StorageError, StorageErrorKind};

    /// A DPoP key in memory, from `ring` (feature `software-key`): for the CLI, desktop apps and
    /// tests. Mobile apps use the platform's key store instead (Secure Enclave, StrongBox), so
    /// the mobile library carries no ECDSA signing code.
    pub struct SoftwareDpopKey {
        pair: EcdsaKeyPair,
        pkcs8: Vec<u8>,
        rng: SystemRandom,
    }

    impl fmt::Debug for SoftwareDpopKey {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SoftwareDpopKey").finish_non_exhaustive()
        }
    }

    fn failed(message: &str) -> StorageError {
        StorageError::new(StorageErrorKind::Failed, message)
    }

    impl SoftwareDpopKey {
        /// A new P-256 key from the system CSPRNG.
        pub fn generate() -> Result<Self, StorageError> {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| failed("cannot generate a DPoP key"))?;
            Self::from_pkcs8(pkcs8.as_ref())
        }

        /// The key stored as PKCS#8 by [`SoftwareDpopKey::to_pkcs8`]; an unreadable one is
        /// [`StorageErrorKind::Corrupt`].
        pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, StorageError> {
            let rng = SystemRandom::new();
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|_| {
                    StorageError::new(
                        StorageErrorKind::Corrupt,
                        "the stored DPoP key is unreadable",
                    )
                })?;
            Ok(SoftwareDpopKey {
                pair,
                pkcs8: pkcs8.to_vec(),
                rng,
            })
        }

        /// The private key as PKCS#8 DER, to store. A secret: keep it where the session is.
        pub fn to_pkcs8(&self) -> Vec<u8> {
            self.pkcs8.clone()
        }
    }

    impl DpopKey for SoftwareDpopKey {
        fn public_key(&self) -> Result<Vec<u8>, StorageError> {
            Ok(self.pair.public_key().as_ref().to_vec())
        }

        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, StorageError> {
            self.pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| failed("the DPoP key could not sign"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key holder whose answers the test chooses.
    struct Canned {
        public: Vec<u8>,
        signature: Vec<u8>,
    }

    impl DpopKey for Canned {
        fn public_key(&self) -> std::result::Result<Vec<u8>, StorageError> {
            Ok(self.public.clone())
        }
        fn sign(&self, _: &[u8]) -> std::result::Result<Vec<u8>, StorageError> {
            Ok(self.signature.clone())
        }
    }

    fn point() -> Vec<u8> {
        let mut p = vec![4u8];
        p.extend(1..=64u8);
        p
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn rfc9449_example_key_and_its_thumbprint() {
        // The key of RFC 9449's example proofs (§4.1) and the `jkt` its example access token
        // is bound to (§6.1).
        let jwk = PublicJwk {
            x: "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs".into(),
            y: "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA".into(),
        };
        assert_eq!(
            jwk.thumbprint(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
    }

    #[test]
    fn public_keys_as_points_or_spki() {
        let from_point = PublicJwk::from_key_bytes(&point()).unwrap();
        let spki = [&P256_SPKI_PREFIX[..], &point()].concat();
        assert_eq!(PublicJwk::from_key_bytes(&spki).unwrap(), from_point);
        let mut compressed = point();
        compressed[0] = 2;
        for bad in [&point()[..64], &compressed[..], &[0u8; 91][..], b""] {
            let e = PublicJwk::from_key_bytes(bad).unwrap_err();
            assert_eq!(e.storage_kind(), Some(StorageErrorKind::Failed));
        }
    }

    #[test]
    fn der_signatures_become_raw() {
        let raw: Vec<u8> = (1..=64).collect();
        assert_eq!(raw_signature(&raw).unwrap().to_vec(), raw);
        // r with its high bit set takes a leading zero in DER; s shorter than 32 bytes.
        let mut r = vec![0x80u8];
        r.extend([7u8; 31]);
        let s = vec![5u8; 20];
        let der = [
            &[0x30, (2 + 33 + 2 + 20) as u8, 0x02, 33, 0x00][..],
            &r,
            &[0x02, 20],
            &s,
        ]
        .concat();
        let out = raw_signature(&der).unwrap();
        assert_eq!(&out[..32], &r[..]);
        assert_eq!(&out[32..44], &[0u8; 12]);
        assert_eq!(&out[44..], &s[..]);
        for bad in [
            &der[..der.len() - 1],
            &[&der[..], &[0]].concat()[..],
            &[0x30, 6, 0x02, 1, 0x80, 0x02, 1, 1][..], // negative r
            &[0x30, 7, 0x02, 2, 0x00, 0x01, 0x02, 1, 1][..], // needless zero
            &[0x30, 3, 0x02, 1, 1][..],                // no s
            &[0x31, 6, 0x02, 1, 1, 0x02, 1, 1][..],
            &[0u8; 63][..],
        ] {
            assert!(raw_signature(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signatures_out_of_the_group_order_are_refused() {
        let one = {
            let mut v = [0u8; 32];
            v[31] = 1;
            v
        };
        let below_n = {
            let mut v = P256_ORDER;
            v[31] -= 1;
            v
        };
        let above_n = [0xffu8; 32];
        let der = |r: &[u8; 32], s: &[u8; 32]| {
            let int = |v: &[u8; 32]| {
                let digits = &v[v.iter().position(|&b| b != 0).unwrap_or(31)..];
                let pad = if digits[0] & 0x80 != 0 {
                    &[0u8][..]
                } else {
                    &[]
                };
                [&[0x02, (pad.len() + digits.len()) as u8][..], pad, digits].concat()
            };
            let body = [int(r), int(s)].concat();
            [&[0x30, body.len() as u8][..], &body].concat()
        };
        // 1 and n - 1 are the bounds that are accepted, raw and DER.
        for (r, s) in [(one, below_n), (below_n, one)] {
            let raw = raw_signature(&[r, s].concat()).unwrap();
            assert_eq!(raw_signature(&der(&r, &s)).unwrap(), raw);
        }
        for (r, s) in [
            ([0u8; 32], one),
            (one, [0u8; 32]),
            (P256_ORDER, one),
            (one, P256_ORDER),
            (above_n, one),
            (one, above_n),
        ] {
            for signature in [[r, s].concat(), der(&r, &s)] {
                let e = raw_signature(&signature).unwrap_err();
                assert_eq!(
                    e.storage_kind(),
                    Some(StorageErrorKind::Failed),
                    "{signature:?}"
                );
            }
        }
    }

    #[test]
    fn a_proof_carries_the_claims_of_its_request() {
        let dpop = Dpop::new(Arc::new(Canned {
            public: point(),
            signature: vec![9; 64],
        }));
        let url = Url::parse("https://User:pw@API.example.com:443/a/b?q=secret#frag").unwrap();
        let token = SecretString::new("at-1");
        let target = ProofTarget {
            method: "PUT",
            url: &url,
            access_token: Some(&token),
            now: 1_700_000_000,
        };
        let proof = dpop.proof(&target).unwrap();
        let parts: Vec<&str> = proof.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["jwk"]["kty"], "EC");
        assert!(header["jwk"].get("d").is_none());
        let claims = decode(parts[1]);
        assert_eq!(claims["htm"], "PUT");
        assert_eq!(claims["htu"], "https://api.example.com/a/b");
        assert_eq!(claims["iat"], 1_700_000_000);
        assert_eq!(claims["ath"], access_token_hash(&token));
        assert!(claims.get("nonce").is_none());
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap(), vec![9; 64]);
        // A fresh jti each time.
        let again = decode(
            dpop.proof(&target)
                .unwrap()
                .expose()
                .split('.')
                .nth(1)
                .unwrap(),
        );
        assert_ne!(again["jti"], claims["jti"]);
        assert!(claims["jti"].as_str().unwrap().len() >= 22);
        // Not a method: refused before anything is signed.
        let bad = ProofTarget {
            method: "GET /x",
            ..target
        };
        assert_eq!(dpop.proof(&bad).unwrap_err().kind(), ErrorKind::Config);
        assert!(!format!("{proof:?} {dpop:?}").contains(parts[2]));
    }

    #[test]
    fn nonces_are_kept_per_server() {
        let dpop = Dpop::new(Arc::new(Canned {
            public: point(),
            signature: vec![1; 64],
        }));
        let a = Url::parse("https://a.example/token").unwrap();
        let a_api = Url::parse("https://a.example/other?x=1").unwrap();
        let b = Url::parse("https://b.example:8443/api").unwrap();
        let nonce = |v: &str| vec![("DPoP-Nonce".to_string(), v.to_string())];
        assert_eq!(
            dpop.remember_nonce(&a, &nonce("n-1")).as_deref(),
            Some("n-1")
        );
        assert_eq!(
            dpop.remember_nonce(&a, &nonce(" n-1 ")).as_deref(),
            Some("n-1")
        );
        assert_eq!(
            dpop.remember_nonce(&a, &nonce("bad nonce with spaces")),
            None
        );
        assert_eq!(dpop.remember_nonce(&a, &[]), None);
        assert_eq!(dpop.nonce_for(&a_api).as_deref(), Some("n-1"));
        assert_eq!(dpop.nonce_for(&b), None);
        assert_eq!(
            dpop.remember_nonce(&b, &nonce("n-b")).as_deref(),
            Some("n-b")
        );
        let target = ProofTarget {
            method: "GET",
            url: &b,
            access_token: None,
            now: 0,
        };
        let proof = dpop.proof(&target).unwrap();
        let claims = decode(proof.expose().split('.').nth(1).unwrap());
        assert_eq!(claims["nonce"], "n-b");
        assert!(claims.get("ath").is_none());
    }

    #[test]
    fn nonces_are_kept_for_the_latest_servers_only() {
        let dpop = Dpop::new(Arc::new(Canned {
            public: point(),
            signature: vec![1; 64],
        }));
        let server = |i: usize| Url::parse(&format!("https://api{i}.example/x")).unwrap();
        let nonce = |i: usize| vec![("DPoP-Nonce".to_string(), format!("n-{i}"))];
        for i in 0..MAX_NONCE_ORIGINS {
            dpop.remember_nonce(&server(i), &nonce(i));
        }
        // Server 0 is heard from again: server 1 is now the one heard from longest ago.
        dpop.remember_nonce(&server(0), &nonce(100));
        assert_eq!(lock(&dpop.nonces).len(), MAX_NONCE_ORIGINS);
        dpop.remember_nonce(&server(MAX_NONCE_ORIGINS), &nonce(MAX_NONCE_ORIGINS));
        assert_eq!(lock(&dpop.nonces).len(), MAX_NONCE_ORIGINS);
        assert_eq!(dpop.nonce_for(&server(1)), None);
        assert_eq!(dpop.nonce_for(&server(0)).as_deref(), Some("n-100"));
        assert_eq!(dpop.nonce_for(&server(2)).as_deref(), Some("n-2"));
        let last = server(MAX_NONCE_ORIGINS);
        assert_eq!(dpop.nonce_for(&last).as_deref(), Some("n-16"));
    }

    /// A token endpoint that wants the nonce `n-1` and holds back its answers to proofs without
    /// it until two have come in: both proofs are made before either answer is read.
    struct NonceServer {
        first_round: tokio::sync::Barrier,
        nonces_seen: Mutex<Vec<Option<String>>>,
    }

    #[async_trait::async_trait]
    impl crate::http::HttpTransport for NonceServer {
        async fn send(
            &self,
            request: crate::http::HttpRequest,
        ) -> std::result::Result<HttpResponse, crate::http::TransportError> {
            let (_, proof) = request.headers.iter().find(|(n, _)| n == "dpop").unwrap();
            let claims = decode(proof.split('.').nth(1).unwrap());
            let nonce = claims["nonce"].as_str().map(String::from);
            lock(&self.nonces_seen).push(nonce.clone());
            if nonce.as_deref() == Some("n-1") {
                return Ok(HttpResponse {
                    status: 200,
                    headers: Vec::new(),
                    body: b"{}".to_vec(),
                });
            }
            self.first_round.wait().await;
            Ok(HttpResponse {
                status: 400,
                headers: vec![("DPoP-Nonce".into(), "n-1".into())],
                body: br#"{"error":"use_dpop_nonce"}"#.to_vec(),
            })
        }
    }

    #[tokio::test]
    async fn requests_racing_on_one_new_nonce_each_retry_once() {
        let server = Arc::new(NonceServer {
            first_round: tokio::sync::Barrier::new(2),
            nonces_seen: Mutex::new(Vec::new()),
        });
        let http = Http::new(server.clone(), std::time::Duration::from_secs(5), 1 << 16);
        let dpop = Dpop::new(Arc::new(Canned {
            public: point(),
            signature: vec![1; 64],
        }));
        let url = Url::parse("https://as.example/token").unwrap();
        let request = || ProvenRequest {
            method: HttpMethod::Post,
            url: &url,
            headers: Vec::new(),
            body: Vec::new(),
            access_token: None,
            now: 0,
            role: ServerRole::Authorization,
            what: "token endpoint",
        };
        let (a, b) = tokio::join!(send(&http, &dpop, request()), send(&http, &dpop, request()));
        assert_eq!((a.unwrap().status, b.unwrap().status), (200, 200));
        // Each request once without the nonce, once with it: the second to learn the nonce
        // retried too, though the first had stored it already.
        let mut seen = lock(&server.nonces_seen).clone();
        seen.sort();
        let with = Some("n-1".to_string());
        assert_eq!(seen, [None, None, with.clone(), with]);
    }

    #[test]
    fn nonce_requests_are_recognised() {
        let answer = |status, headers: &[(&str, &str)], body: &str| HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        };
        let use_nonce = r#"{"error":"use_dpop_nonce"}"#;
        let auth = ServerRole::Authorization;
        assert!(asks_for_nonce(auth, &answer(400, &[], use_nonce)));
        assert!(!asks_for_nonce(auth, &answer(401, &[], use_nonce)));
        assert!(!asks_for_nonce(
            auth,
            &answer(400, &[], r#"{"error":"invalid_dpop_proof"}"#)
        ));
        let res = ServerRole::Resource;
        for challenge in [
            r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce""#,
            r#"Bearer realm="x", DPoP algs="ES256", error="use_dpop_nonce""#,
            r#"dpop error=use_dpop_nonce"#,
        ] {
            let r = answer(401, &[("WWW-Authenticate", challenge)], "");
            assert!(asks_for_nonce(res, &r), "{challenge}");
        }
        for challenge in [
            r#"DPoP error="invalid_token""#,
            r#"Bearer error="use_dpop_nonce""#,
            r#"DPoP algs="ES256", Bearer error="use_dpop_nonce""#,
        ] {
            let r = answer(401, &[("WWW-Authenticate", challenge)], "");
            assert!(!asks_for_nonce(res, &r), "{challenge}");
        }
        let r = answer(
            403,
            &[("WWW-Authenticate", r#"DPoP error="use_dpop_nonce""#)],
            "",
        );
        assert!(!asks_for_nonce(res, &r));
        // Text that is not ASCII next to the scheme is read, never sliced through.
        for challenge in ["dpo€ x", "DPo€", "é DPoP error=use_dpop_nonce", "DPoPé"] {
            let r = answer(401, &[("WWW-Authenticate", challenge)], "");
            assert_eq!(
                asks_for_nonce(res, &r),
                challenge.starts_with('é'),
                "{challenge}"
            );
        }
    }

    #[test]
    fn target_uris_lose_query_fragment_and_credentials() {
        let url = Url::parse("HTTP://127.0.0.1:8080/token?x=1#y").unwrap();
        assert_eq!(target_uri(&url), "http://127.0.0.1:8080/token");
        for (url, htu) in [
            (
                "https://user:pw@api.example/a/b?q=1#f",
                "https://api.example/a/b",
            ),
            (
                "https://user@api.example:8443/",
                "https://api.example:8443/",
            ),
            ("https://:pw@api.example", "https://api.example/"),
            ("http://[::1]:8080/p?", "http://[::1]:8080/p"),
        ] {
            assert_eq!(target_uri(&Url::parse(url).unwrap()), htu, "{url}");
        }
        assert!(is_method("GET") && is_method("PATCH") && !is_method("") && !is_method("G T"));
    }

    #[cfg(feature = "software-key")]
    #[test]
    fn a_software_key_signs_proofs_that_verify_against_their_header_key() {
        use crate::oidc::jwa::{Jwk, parse_key};
        let key = Arc::new(SoftwareDpopKey::generate().unwrap());
        let again = SoftwareDpopKey::from_pkcs8(&key.to_pkcs8()).unwrap();
        assert_eq!(again.public_key().unwrap(), key.public_key().unwrap());
        let dpop = Dpop::new(key);
        let url = Url::parse("https://a.example/token").unwrap();
        let target = ProofTarget {
            method: "POST",
            url: &url,
            access_token: None,
            now: 1,
        };
        let proof = dpop.proof(&target).unwrap();
        let decoded = crate::oidc::jws::decode(proof.expose()).unwrap();
        let header = decode(proof.expose().split('.').next().unwrap());
        let jwk: Jwk = parse_key(&header["jwk"]).unwrap();
        decoded.verify(&jwk).unwrap();
        let jkt = dpop.thumbprint().unwrap();
        assert_eq!(
            jkt,
            PublicJwk::from_key_bytes(&dpop.key.public_key().unwrap())
                .unwrap()
                .thumbprint()
        );
        assert!(!format!("{:?}", SoftwareDpopKey::generate().unwrap()).contains("pkcs8"));
        assert_eq!(
            SoftwareDpopKey::from_pkcs8(b"junk").unwrap_err().kind,
            StorageErrorKind::Corrupt
        );
    }

    #[test]
    fn a_lost_key_requires_sign_in() {
        let e = key_lost("replaced");
        assert!(e.requires_sign_in() && is_key_lost(&e) && !e.is_retryable());
    }
}
