//! Signing keys: a process-wide pool of RSA-2048 keys, P-256 keys, the key ring
//! of one testkit (current keys plus retired ones still published), JWK
//! rendering and raw signatures.
//!
//! RSA key generation is the only slow operation in the testkit, so RSA keys are
//! generated once per process and shared: every testkit takes slot 0 of the pool
//! first and slots 1, 2, … as it rotates, and the next slot is generated in the
//! background ahead of need.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

use crate::SigningAlg;

/// Size of the generated RSA keys.
const RSA_BITS: usize = 2048;
/// Size of the key of the `Signing::ShortRsaKey` fault: below the 2048 bits a client must ask for.
const SHORT_RSA_BITS: usize = 1024;

/// 32 random bytes, base64url: codes, refresh tokens, sessions, `jti`s.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url without padding, the JOSE encoding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA key pair in the encodings the rest of the crate needs.
struct RsaMaterial {
    /// Private key, PKCS#1 DER (what `jsonwebtoken` signs with).
    pkcs1_der: Vec<u8>,
    /// Public modulus, big-endian.
    n: Vec<u8>,
    /// Public exponent, big-endian.
    e: Vec<u8>,
    /// Public key, SubjectPublicKeyInfo DER.
    spki_der: Vec<u8>,
}

impl RsaMaterial {
    fn generate() -> RsaMaterial {
        Self::generate_with(RSA_BITS)
    }

    fn generate_with(bits: usize) -> RsaMaterial {
        let key =
            rsa::PrivateKey::new(&mut getrandom::SysRng, bits).expect("RSA key generation failed");
        let public = key.to_public_key();
        RsaMaterial {
            pkcs1_der: key
                .to_pkcs1_der()
                .expect("PKCS#1 encoding of a fresh key")
                .as_bytes()
                .to_vec(),
            n: public.n().to_be_bytes_trimmed_vartime().into_vec(),
            e: public.e().to_be_bytes_trimmed_vartime().into_vec(),
            spki_der: public
                .to_public_key_der()
                .expect("SPKI encoding of a fresh key")
                .into_vec(),
        }
    }
}

type Slot = Arc<OnceLock<Arc<RsaMaterial>>>;

/// The process-wide RSA key pool, grown on demand.
static RSA_POOL: Mutex<Vec<Slot>> = Mutex::new(Vec::new());

/// The RSA key in pool slot `index`, generated on first use (blocking), with the
/// following slot prepared on a background thread.
fn pooled_rsa(index: usize) -> Arc<RsaMaterial> {
    let key = pool_slot(index)
        .get_or_init(|| Arc::new(RsaMaterial::generate()))
        .clone();
    let next = pool_slot(index + 1);
    if next.get().is_none() {
        std::thread::spawn(move || {
            next.get_or_init(|| Arc::new(RsaMaterial::generate()));
        });
    }
    key
}

fn pool_slot(index: usize) -> Slot {
    let mut pool = RSA_POOL.lock().unwrap_or_else(PoisonError::into_inner);
    while pool.len() <= index {
        pool.push(Slot::default());
    }
    pool[index].clone()
}

/// An RSA key that is never published by any testkit (for `Signing::UnpublishedKey`).
fn rogue_rsa() -> Arc<RsaMaterial> {
    static ROGUE: OnceLock<Arc<RsaMaterial>> = OnceLock::new();
    ROGUE
        .get_or_init(|| Arc::new(RsaMaterial::generate()))
        .clone()
}

/// Starts generating the rogue key on a background thread.
pub(crate) fn prepare_rogue_key() {
    std::thread::spawn(rogue_rsa);
}

/// The RSA key of the internal authorization servers, one per process: not in the pool, so
/// that no provider publishes or signs with it.
fn internal_rsa() -> Arc<RsaMaterial> {
    static INTERNAL: OnceLock<Arc<RsaMaterial>> = OnceLock::new();
    INTERNAL
        .get_or_init(|| Arc::new(RsaMaterial::generate()))
        .clone()
}

/// The RSA-1024 key of `Signing::ShortRsaKey`, one per process.
fn short_rsa() -> Arc<RsaMaterial> {
    static SHORT: OnceLock<Arc<RsaMaterial>> = OnceLock::new();
    SHORT
        .get_or_init(|| Arc::new(RsaMaterial::generate_with(SHORT_RSA_BITS)))
        .clone()
}

/// Starts generating the short RSA key on a background thread.
pub(crate) fn prepare_short_key() {
    std::thread::spawn(short_rsa);
}

/// The public half of a signing key.
enum PublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { x: Vec<u8>, y: Vec<u8> },
}

/// A private key with its `kid` and algorithm, able to sign JWS inputs.
pub(crate) struct SigningKey {
    kid: String,
    alg: SigningAlg,
    private: EncodingKey,
    public: PublicKey,
    spki_der: Vec<u8>,
}

/// DER prefix of a P-256 SubjectPublicKeyInfo, followed by the 65-byte point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

impl SigningKey {
    fn from_rsa(material: &RsaMaterial, alg: SigningAlg) -> SigningKey {
        let public = PublicKey::Rsa {
            n: material.n.clone(),
            e: material.e.clone(),
        };
        SigningKey {
            kid: thumbprint(&public),
            alg,
            private: EncodingKey::from_rsa_der(&material.pkcs1_der),
            public,
            spki_der: material.spki_der.clone(),
        }
    }

    /// A fresh P-256 key for ES256.
    fn generate_ec() -> SigningKey {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .expect("P-256 key generation failed");
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &SystemRandom::new(),
        )
        .expect("a freshly generated P-256 key parses");
        let point = pair.public_key().as_ref();
        let public = PublicKey::Ec {
            x: point[1..33].to_vec(),
            y: point[33..65].to_vec(),
        };
        SigningKey {
            kid: thumbprint(&public),
            alg: SigningAlg::Es256,
            private: EncodingKey::from_ec_der(pkcs8.as_ref()),
            public,
            spki_der: [&P256_SPKI_PREFIX[..], point].concat(),
        }
    }

    /// A key for `alg` taken from the given RSA pool slot (or fresh, for EC).
    fn for_alg(alg: SigningAlg, rsa_slot: usize) -> SigningKey {
        match alg {
            SigningAlg::Rs256 | SigningAlg::Ps256 => Self::from_rsa(&pooled_rsa(rsa_slot), alg),
            SigningAlg::Es256 => Self::generate_ec(),
        }
    }

    /// A key for `alg` that no testkit publishes.
    pub(crate) fn unpublished(alg: SigningAlg) -> SigningKey {
        match alg {
            SigningAlg::Rs256 | SigningAlg::Ps256 => Self::from_rsa(&rogue_rsa(), alg),
            SigningAlg::Es256 => Self::generate_ec(),
        }
    }

    /// The RS256 key of an internal authorization server (may block while it is generated).
    pub(crate) fn internal() -> SigningKey {
        Self::from_rsa(&internal_rsa(), SigningAlg::Rs256)
    }

    /// The RSA-1024 key of `Signing::ShortRsaKey`, signing with `alg` when it is an RSA
    /// algorithm and with RS256 otherwise.
    pub(crate) fn short_rsa(alg: SigningAlg) -> SigningKey {
        let alg = match alg {
            SigningAlg::Rs256 | SigningAlg::Ps256 => alg,
            SigningAlg::Es256 => SigningAlg::Rs256,
        };
        Self::from_rsa(&short_rsa(), alg)
    }

    /// The key id: its RFC 7638 JWK thumbprint.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub(crate) fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The public key as a JWK (`kid`, `kty`, `alg`, `use`, and `n`/`e` or `crv`/`x`/`y`).
    pub(crate) fn jwk(&self) -> Value {
        let mut jwk = match &self.public {
            PublicKey::Rsa { n, e } => json!({"kty": "RSA", "n": b64url(n), "e": b64url(e)}),
            PublicKey::Ec { x, y } => {
                json!({"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)})
            }
        };
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = self.alg.as_str().into();
        jwk["use"] = "sig".into();
        jwk
    }

    /// The public key as PEM text (SubjectPublicKeyInfo), as `openssl … -pubout` writes it.
    pub(crate) fn public_key_pem(&self) -> String {
        let base64 = STANDARD.encode(&self.spki_der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in base64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// The key for verifying this key's signatures.
    pub(crate) fn decoding_key(&self) -> DecodingKey {
        match &self.public {
            PublicKey::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            PublicKey::Ec { x, y } => DecodingKey::from_ec_components(&b64url(x), &b64url(y))
                .expect("a valid P-256 point"),
        }
    }

    /// The raw JWS signature of `signing_input`.
    pub(crate) fn sign(&self, signing_input: &[u8]) -> Vec<u8> {
        let alg = match self.alg {
            SigningAlg::Rs256 => Algorithm::RS256,
            SigningAlg::Ps256 => Algorithm::PS256,
            SigningAlg::Es256 => Algorithm::ES256,
        };
        let signature = jsonwebtoken::crypto::sign(signing_input, &self.private, alg)
            .expect("signing with a generated key");
        URL_SAFE_NO_PAD
            .decode(signature)
            .expect("jsonwebtoken returns base64url")
    }
}

/// The RFC 7638 thumbprint of a public key, base64url.
fn thumbprint(public: &PublicKey) -> String {
    // Required members only, in lexicographic order, no whitespace.
    let canonical = match public {
        PublicKey::Rsa { n, e } => {
            format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64url(e), b64url(n))
        }
        PublicKey::Ec { x, y } => format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64url(x),
            b64url(y)
        ),
    };
    b64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

/// The keys of one testkit: the current access-token key (always RS256), the
/// current ID-token key (the same key when ID tokens are RS256) and retired keys
/// that are still published after a rotation with `keep_old`.
pub(crate) struct KeyRing {
    id_alg: SigningAlg,
    access: Arc<SigningKey>,
    id: Arc<SigningKey>,
    retired: Vec<Arc<SigningKey>>,
    next_rsa_slot: usize,
}

impl KeyRing {
    /// The initial keys; may block while the first RSA key is generated.
    pub(crate) fn new(id_alg: SigningAlg) -> KeyRing {
        let mut next_rsa_slot = 0;
        let (access, id) = fresh_keys(id_alg, &mut next_rsa_slot);
        KeyRing {
            id_alg,
            access,
            id,
            retired: Vec::new(),
            next_rsa_slot,
        }
    }

    /// Switches to new keys; the old ones stay published if `keep_old`, and
    /// otherwise every older key is withdrawn.
    pub(crate) fn rotate(&mut self, keep_old: bool) {
        if keep_old {
            let old = [self.access.clone(), self.id.clone()];
            self.retired.extend(old);
        } else {
            self.retired.clear();
        }
        (self.access, self.id) = fresh_keys(self.id_alg, &mut self.next_rsa_slot);
    }

    /// The key that signs access tokens (RS256).
    pub(crate) fn access_key(&self) -> Arc<SigningKey> {
        self.access.clone()
    }

    /// The key that signs ID tokens.
    pub(crate) fn id_key(&self) -> Arc<SigningKey> {
        self.id.clone()
    }

    /// Every published key, current first, each once.
    pub(crate) fn published(&self) -> Vec<Arc<SigningKey>> {
        let mut keys: Vec<Arc<SigningKey>> = Vec::new();
        let candidates = [&self.access, &self.id]
            .into_iter()
            .chain(self.retired.iter().rev());
        for key in candidates {
            if !keys.iter().any(|known| known.kid == key.kid) {
                keys.push(key.clone());
            }
        }
        keys
    }

    /// The published key with this `kid`.
    pub(crate) fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.published().into_iter().find(|key| key.kid == kid)
    }
}

/// A new access-token key and ID-token key, taking RSA pool slots from `next_rsa_slot`.
fn fresh_keys(id_alg: SigningAlg, next_rsa_slot: &mut usize) -> (Arc<SigningKey>, Arc<SigningKey>) {
    let mut take_slot = || {
        *next_rsa_slot += 1;
        *next_rsa_slot - 1
    };
    let access = Arc::new(SigningKey::for_alg(SigningAlg::Rs256, take_slot()));
    let id = match id_alg {
        SigningAlg::Rs256 => access.clone(),
        SigningAlg::Ps256 => Arc::new(SigningKey::for_alg(SigningAlg::Ps256, take_slot())),
        SigningAlg::Es256 => Arc::new(SigningKey::generate_ec()),
    };
    (access, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_or_drops_old_keys() {
        let mut ring = KeyRing::new(SigningAlg::Rs256);
        let first = ring.access_key().kid().to_owned();
        assert_eq!(ring.published().len(), 1);
        assert_eq!(ring.id_key().kid(), first);

        ring.rotate(true);
        let second = ring.access_key().kid().to_owned();
        assert_ne!(first, second);
        let kids: Vec<_> = ring
            .published()
            .iter()
            .map(|k| k.kid().to_owned())
            .collect();
        assert_eq!(kids, vec![second.clone(), first.clone()]);

        ring.rotate(false);
        assert_eq!(ring.published().len(), 1);
        assert!(ring.find(&first).is_none());
        assert!(ring.find(&second).is_none());
    }

    #[test]
    fn es256_ring_publishes_both_keys() {
        let ring = KeyRing::new(SigningAlg::Es256);
        let jwks: Vec<Value> = ring.published().iter().map(|k| k.jwk()).collect();
        assert_eq!(jwks.len(), 2);
        assert_eq!(jwks[0]["alg"], "RS256");
        assert_eq!(jwks[1]["alg"], "ES256");
        assert_eq!(jwks[1]["crv"], "P-256");
    }

    #[test]
    fn signatures_verify() {
        for alg in [SigningAlg::Rs256, SigningAlg::Ps256, SigningAlg::Es256] {
            let key = SigningKey::for_alg(alg, 0);
            let signature = key.sign(b"a.b");
            let jwt_alg = match alg {
                SigningAlg::Rs256 => Algorithm::RS256,
                SigningAlg::Ps256 => Algorithm::PS256,
                SigningAlg::Es256 => Algorithm::ES256,
            };
            let valid = jsonwebtoken::crypto::verify(
                &b64url(&signature),
                b"a.b",
                &key.decoding_key(),
                jwt_alg,
            )
            .unwrap();
            assert!(valid, "{alg:?}");
        }
    }

    #[test]
    fn pem_has_standard_shape() {
        let key = SigningKey::generate_ec();
        let pem = key.public_key_pem();
        assert!(
            pem.starts_with("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")
        );
        assert!(pem.ends_with("-----END PUBLIC KEY-----\n"));
    }
}
