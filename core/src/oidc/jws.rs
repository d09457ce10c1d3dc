//! Compact JWS (RFC 7515) decoding and signature verification with `ring`.
//!
//! Only asymmetric algorithms are accepted: RS256, PS256 and ES256. `none` and every HMAC
//! algorithm are refused before any key is looked at, so a public key can never be used as an
//! HMAC secret. Keys come only from the provider's JWKS: `jwk`, `jku`, `x5u` and `x5c` header
//! parameters are never used.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents};
use serde_json::{Map, Value};

use crate::error::{Error, IdTokenCheck, Result};
use crate::oidc::jwa::{Algorithm, Jwk, KeyMaterial};

/// A decoded, not yet verified, compact JWS.
pub(crate) struct DecodedJws<'a> {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    signing_input: &'a str,
    signature: Vec<u8>,
}

fn malformed(message: &str) -> Error {
    Error::id_token(
        IdTokenCheck::Malformed,
        format!("ID token is malformed: {message}"),
    )
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed(&format!("{what} is not base64url")))
}

fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(&format!("{what} is not a JSON object"))),
    }
}

/// Splits and decodes `token`, checks the header's `alg` against the allow-list.
pub(crate) fn decode(token: &str) -> Result<DecodedJws<'_>> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("expected three dot-separated parts"));
    };
    let header = json_object(&decode_part(h, "header")?, "header")?;
    let alg_name = match header.get("alg") {
        Some(Value::String(a)) => a.as_str(),
        _ => return Err(malformed("header has no `alg`")),
    };
    let alg = Algorithm::from_name(alg_name).ok_or_else(|| {
        Error::id_token(
            IdTokenCheck::Algorithm,
            format!(
                "ID token algorithm `{}` is not allowed (RS256, PS256, ES256 only)",
                alg_name.chars().take(16).collect::<String>()
            ),
        )
    })?;
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: unknown critical extensions make the JWS invalid.
        return Err(Error::id_token(
            IdTokenCheck::Algorithm,
            "ID token header has critical extensions Keyfob does not understand",
        ));
    }
    // An access token or logout token signed with the same key must not pass as an ID token.
    if let Some(Value::String(typ)) = header.get("typ") {
        let typ = typ.to_ascii_lowercase();
        if typ.contains("at+jwt") || typ.contains("logout+jwt") || typ.contains("secevent+jwt") {
            return Err(Error::id_token(
                IdTokenCheck::Malformed,
                "the token's `typ` says it is not an ID token",
            ));
        }
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(malformed("`kid` is not a string")),
    };
    let claims = json_object(&decode_part(p, "payload")?, "payload")?;
    let signature = decode_part(s, "signature")?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok(DecodedJws {
        alg,
        kid,
        claims,
        signing_input,
        signature,
    })
}

impl DecodedJws<'_> {
    /// Verifies the signature with `key`, which must fit the token's algorithm.
    pub fn verify(&self, key: &Jwk) -> Result<()> {
        let bad = || Error::id_token(IdTokenCheck::Signature, "ID token signature is invalid");
        if !self.alg.fits(&key.material) || key.alg.is_some_and(|a| a != self.alg) {
            return Err(bad());
        }
        let message = self.signing_input.as_bytes();
        let result = match (&key.material, self.alg) {
            (KeyMaterial::Rsa { n, e }, Algorithm::Rs256) => RsaPublicKeyComponents { n, e }
                .verify(
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    message,
                    &self.signature,
                ),
            (KeyMaterial::Rsa { n, e }, Algorithm::Ps256) => RsaPublicKeyComponents { n, e }
                .verify(
                    &signature::RSA_PSS_2048_8192_SHA256,
                    message,
                    &self.signature,
                ),
            (KeyMaterial::EcP256 { point }, Algorithm::Es256) => {
                return verify_es256(point, message, &self.signature).ok_or_else(bad);
            }
            _ => return Err(bad()),
        };
        result.map_err(|_| bad())
    }
}

/// ES256 (RFC 7518 §3.4): ECDSA P-256 over SHA-256, the signature being `R || S`, 64 bytes.
/// `point` is the SEC1 uncompressed public point (`04 || X || Y`), which must be on the curve.
/// High-S signatures are accepted, as JWS does not require low-S. `None` when the point, the
/// signature or the check is bad. The point is taken from its coordinates rather than parsed as
/// SEC1, which keeps point decompression and the ASN.1 error texts out of the mobile library.
fn verify_es256(point: &[u8], message: &[u8], signature: &[u8]) -> Option<()> {
    use p256::elliptic_curve::point::AffineCoordinates;
    let [0x04, xy @ ..] = point else { return None };
    if xy.len() != 64 {
        return None;
    }
    let (x, y) = xy.split_at(32);
    let (x, y) = (
        p256::FieldBytes::try_from(x).ok()?,
        p256::FieldBytes::try_from(y).ok()?,
    );
    let key: p256::AffinePoint = Option::from(p256::AffinePoint::from_coordinates(&x, &y))?;
    let signature = p256::ecdsa::Signature::from_slice(signature).ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, message);
    ecdsa::hazmat::verify_prehashed::<p256::NistP256>(&key.into(), digest.as_ref(), &signature).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestSigner;
    use ring::signature::KeyPair;

    /// The order n of the P-256 group, big-endian.
    const ORDER: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];

    /// A valid ES256 signature of `message` whose r and s are small integers, and the public
    /// point it verifies with, built backwards from the signature (Q = r⁻¹(sR − eG), where R is
    /// the curve point with the smallest integer x-coordinate and r = x(R)). With r and s that
    /// small, r + n and s + n still fit in 32 bytes: a verifier that reduced them modulo n would
    /// take either for the same signature.
    fn es256_with_small_scalars(message: &[u8]) -> (Vec<u8>, Vec<u8>) {
        use p256::elliptic_curve::ops::Reduce;
        use p256::elliptic_curve::point::{AffineCoordinates, DecompressPoint};
        use p256::elliptic_curve::subtle::Choice;
        use p256::{AffinePoint, FieldBytes, ProjectivePoint, Scalar};
        let small = |v: u64| {
            let mut bytes = FieldBytes::default();
            bytes[24..].copy_from_slice(&v.to_be_bytes());
            bytes
        };
        let (x, big_r) = (1u64..)
            .find_map(|x| {
                Option::<AffinePoint>::from(AffinePoint::decompress(&small(x), Choice::from(0)))
                    .map(|point| (x, point))
            })
            .unwrap();
        let (r, s) = (Scalar::from(x), Scalar::from(7u64));
        let digest = ring::digest::digest(&ring::digest::SHA256, message);
        let e =
            <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::try_from(digest.as_ref()).unwrap());
        let q = ((ProjectivePoint::from(big_r) * s - ProjectivePoint::GENERATOR * e)
            * r.invert().unwrap())
        .to_affine();
        let point = [&[0x04][..], q.x().as_slice(), q.y().as_slice()].concat();
        (point, [small(x).as_slice(), small(7).as_slice()].concat())
    }

    /// `scalar + n` for a big-endian 256-bit `scalar` small enough for the sum to fit.
    fn plus_order(scalar: &[u8]) -> Vec<u8> {
        let mut sum = scalar.to_vec();
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let d = u16::from(scalar[i]) + u16::from(ORDER[i]) + carry;
            sum[i] = (d & 0xff) as u8;
            carry = d >> 8;
        }
        assert_eq!(carry, 0, "the scalar is too large");
        sum
    }

    fn key_of(signer: &TestSigner) -> Jwk {
        crate::oidc::jwa::parse_key(&signer.jwk()).unwrap()
    }

    #[test]
    fn verifies_a_good_signature_and_rejects_a_tampered_one() {
        let s = TestSigner::new("k1");
        let token = s.sign(serde_json::json!({}), &serde_json::json!({"sub": "a"}));
        decode(&token).unwrap().verify(&key_of(&s)).unwrap();

        let other = TestSigner::new("k1");
        let e = decode(&token).unwrap().verify(&key_of(&other)).unwrap_err();
        assert_eq!(e.id_token_check(), Some(IdTokenCheck::Signature));

        // Change one claim, keep the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(r#"{"sub":"b"}"#),
            parts[2]
        );
        let e = decode(&forged).unwrap().verify(&key_of(&s)).unwrap_err();
        assert_eq!(e.id_token_check(), Some(IdTokenCheck::Signature));
    }

    #[test]
    fn refuses_none_hmac_and_unknown_algorithms() {
        for alg in ["none", "HS256", "HS512", "RS512", "EdDSA", "es256"] {
            let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let token = format!("{h}.{}.", URL_SAFE_NO_PAD.encode("{}"));
            let e = decode(&token).err().expect(alg);
            assert_eq!(e.id_token_check(), Some(IdTokenCheck::Algorithm), "{alg}");
        }
    }

    #[test]
    fn refuses_malformed_tokens() {
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#);
        let p = URL_SAFE_NO_PAD.encode("{}");
        for token in [
            String::new(),
            "a.b".to_string(),
            format!("{h}.{p}.sig.extra"),
            format!("{h}=.{p}.AAAA"),
            format!("{}.{p}.AAAA", URL_SAFE_NO_PAD.encode("[]")),
            format!("{h}.{}.AAAA", URL_SAFE_NO_PAD.encode("not json")),
            format!(
                "{}.{p}.AAAA",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","kid":7}"#)
            ),
        ] {
            let e = decode(&token).err().unwrap_or_else(|| panic!("{token}"));
            assert_eq!(e.id_token_check(), Some(IdTokenCheck::Malformed), "{token}");
        }
    }

    #[test]
    fn refuses_other_token_types_posing_as_id_tokens() {
        let s = TestSigner::new("k1");
        // Access tokens (RFC 9068), logout tokens and security events (RFC 8417) signed with the
        // provider's key, whatever the case or media-type prefix.
        for typ in [
            "at+jwt",
            "application/at+JWT",
            "logout+jwt",
            "Logout+JWT",
            "secevent+jwt",
            "application/secevent+jwt",
        ] {
            let token = s.sign(serde_json::json!({"typ": typ}), &serde_json::json!({}));
            assert_eq!(
                decode(&token).err().map(|e| e.id_token_check()),
                Some(Some(IdTokenCheck::Malformed)),
                "{typ}"
            );
        }
        // What providers put on ID tokens: `JWT` in any case, the media type, or nothing.
        for typ in [
            Value::from("JWT"),
            Value::from("jwt"),
            Value::from("application/jwt"),
            Value::Null,
        ] {
            let token = s.sign(serde_json::json!({ "typ": typ }), &serde_json::json!({}));
            assert!(decode(&token).is_ok(), "{typ}");
        }
    }

    #[test]
    fn refuses_critical_extensions() {
        let s = TestSigner::new("k1");
        let token = s.sign(serde_json::json!({"crit": ["exp"]}), &serde_json::json!({}));
        assert_eq!(
            decode(&token).err().unwrap().id_token_check(),
            Some(IdTokenCheck::Algorithm)
        );
    }

    #[test]
    fn es256_accepts_high_s_and_refuses_malformed_signatures_and_points() {
        let s = TestSigner::new("k1");
        let token = s.sign(serde_json::json!({}), &serde_json::json!({"sub": "a"}));
        let jws = decode(&token).unwrap();
        let point = s.pair.public_key().as_ref().to_vec();
        let input = jws.signing_input.as_bytes();
        let sig = jws.signature.clone();
        assert!(verify_es256(&point, input, &sig).is_some());
        // (r, n - s) is the same signature: JWS does not ask for low S, and ring did accept it.
        let mut flipped = sig.clone();
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(ORDER[i]) - i16::from(sig[32 + i]) - borrow;
            flipped[32 + i] = d.rem_euclid(256) as u8;
            borrow = i16::from(d < 0);
        }
        assert_ne!(flipped, sig);
        assert!(verify_es256(&point, input, &flipped).is_some());
        // Malformed: short, long, zero r or s, r or s ≥ n, DER instead of R || S.
        assert!(verify_es256(&point, input, &sig[..63]).is_none());
        assert!(verify_es256(&point, input, &[sig.as_slice(), &[0]].concat()).is_none());
        let mut zero_r = sig.clone();
        zero_r[..32].fill(0);
        assert!(verify_es256(&point, input, &zero_r).is_none());
        let mut zero_s = sig.clone();
        zero_s[32..].fill(0);
        assert!(verify_es256(&point, input, &zero_s).is_none());
        let big_s = [&sig[..32], &ORDER[..]].concat();
        assert!(verify_es256(&point, input, &big_s).is_none());
        // r = n and r = 2^256 - 1: out of range, however the rest of the signature looks.
        let big_r = [&ORDER[..], &sig[32..]].concat();
        assert!(verify_es256(&point, input, &big_r).is_none());
        let max_r = [&[0xff; 32][..], &sig[32..]].concat();
        assert!(verify_es256(&point, input, &max_r).is_none());
        let der = [
            &[0x30, 0x44, 0x02, 0x20][..],
            &sig[..32],
            &[0x02, 0x20],
            &sig[32..],
        ]
        .concat();
        assert!(verify_es256(&point, input, &der).is_none());
        // Points: not on the curve, compressed, short, the identity (a lone 0 byte), empty.
        let compressed = [&[0x02 | (point[64] & 1)][..], &point[1..33]].concat();
        assert!(verify_es256(&compressed, input, &sig).is_none());
        assert!(verify_es256(&point[..64], input, &sig).is_none());
        let mut off_curve = point.clone();
        off_curve[64] ^= 1;
        assert!(verify_es256(&off_curve, input, &sig).is_none());
        assert!(verify_es256(&[0], input, &sig).is_none());
        assert!(verify_es256(&[], input, &sig).is_none());
    }

    #[test]
    fn es256_refuses_r_or_s_plus_n_which_a_reduction_modulo_n_would_accept() {
        let message = b"header.payload";
        let (point, sig) = es256_with_small_scalars(message);
        assert!(
            verify_es256(&point, message, &sig).is_some(),
            "the constructed signature is valid"
        );
        let r_plus_n = [plus_order(&sig[..32]), sig[32..].to_vec()].concat();
        assert!(verify_es256(&point, message, &r_plus_n).is_none());
        let s_plus_n = [sig[..32].to_vec(), plus_order(&sig[32..])].concat();
        assert!(verify_es256(&point, message, &s_plus_n).is_none());
    }

    #[test]
    fn key_of_another_type_or_alg_never_verifies() {
        let s = TestSigner::new("k1");
        let token = s.sign(serde_json::json!({}), &serde_json::json!({}));
        let mut key = key_of(&s);
        key.alg = Some(Algorithm::Rs256);
        assert!(decode(&token).unwrap().verify(&key).is_err());
    }
}
