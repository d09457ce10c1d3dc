//! JSON Web Algorithms and keys (RFC 7518, RFC 7517): the allow-listed signature algorithms
//! and the public key material Keyfob verifies with, read from one JWK at a time.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

/// Some providers pad JWK numbers although RFC 7518 says not to; accept both.
const JWK_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A signature algorithm on the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 to 8192 bits.
    Rs256,
    /// RSASSA-PSS with SHA-256, keys of 2048 to 8192 bits.
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// The allow-listed algorithm named `name`, or `None` (for `none`, `HS256`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Algorithm::Rs256),
            "PS256" => Some(Algorithm::Ps256),
            "ES256" => Some(Algorithm::Es256),
            _ => None,
        }
    }

    /// Whether a key of this material can verify this algorithm.
    pub(crate) fn fits(self, key: &KeyMaterial) -> bool {
        matches!(
            (self, key),
            (Algorithm::Rs256 | Algorithm::Ps256, KeyMaterial::Rsa { .. })
                | (Algorithm::Es256, KeyMaterial::EcP256 { .. })
        )
    }
}

/// Public key material Keyfob can verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyMaterial {
    /// RSA modulus and exponent, big-endian, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Uncompressed P-256 point (0x04 ‖ x ‖ y).
    EcP256 { point: Vec<u8> },
}

/// One usable signing key from the JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Jwk {
    pub kid: Option<String>,
    /// The `alg` the key is restricted to, when the JWK names one.
    pub alg: Option<Algorithm>,
    pub material: KeyMaterial,
}

/// Why a single JWK was skipped (kept for the debug log).
type Skip = &'static str;

/// Parses one JWK; `Err` says why it is not usable for ID token signatures.
pub(crate) fn parse_key(value: &Value) -> Result<Jwk, Skip> {
    let obj = value.as_object().ok_or("not an object")?;
    let text = |name: &str| -> Result<Option<&str>, Skip> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err("a member has the wrong type"),
        }
    };
    let bytes = |name: &str| -> Result<Vec<u8>, Skip> {
        let s = text(name)?.ok_or("a required member is missing")?;
        JWK_B64.decode(s).map_err(|_| "a member is not base64url")
    };
    if let Some(u) = text("use")?
        && u != "sig"
    {
        return Err("not a signing key");
    }
    if let Some(ops) = obj.get("key_ops") {
        let ops = ops.as_array().ok_or("key_ops is not an array")?;
        if !ops.iter().any(|o| o == "verify") {
            return Err("key_ops does not allow verify");
        }
    }
    let alg = match text("alg")? {
        None => None,
        Some(a) => Some(Algorithm::from_name(a).ok_or("unsupported alg")?),
    };
    let material = match text("kty")? {
        Some("RSA") => {
            let n = strip_leading_zeros(bytes("n")?);
            let e = strip_leading_zeros(bytes("e")?);
            if n.is_empty() || e.is_empty() {
                return Err("empty RSA parameter");
            }
            KeyMaterial::Rsa { n, e }
        }
        Some("EC") => {
            if text("crv")? != Some("P-256") {
                return Err("unsupported curve");
            }
            let (x, y) = (bytes("x")?, bytes("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("bad P-256 coordinate length");
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            KeyMaterial::EcP256 { point }
        }
        _ => return Err("unsupported kty"),
    };
    if let Some(alg) = alg
        && !alg.fits(&material)
    {
        return Err("alg does not fit kty");
    }
    Ok(Jwk {
        kid: text("kid")?.map(str::to_string),
        alg,
        material,
    })
}

fn strip_leading_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::json;

    #[test]
    fn only_the_allow_listed_names_are_algorithms() {
        assert_eq!(Algorithm::from_name("RS256"), Some(Algorithm::Rs256));
        assert_eq!(Algorithm::from_name("PS256"), Some(Algorithm::Ps256));
        assert_eq!(Algorithm::from_name("ES256"), Some(Algorithm::Es256));
        for name in ["none", "HS256", "RS384", "ps256", ""] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn an_rsa_key_needs_both_a_modulus_and_an_exponent() {
        let rsa =
            |n: &[u8], e: &[u8]| json!({"kty": "RSA", "n": B64.encode(n), "e": B64.encode(e)});
        assert!(parse_key(&rsa(&[0xc3, 0x11], &[1, 0, 1])).is_ok());
        // All zeros is empty once the leading zeros are stripped.
        assert!(parse_key(&rsa(&[0, 0], &[1, 0, 1])).is_err());
        assert!(parse_key(&rsa(&[0xc3, 0x11], &[0])).is_err());
        assert!(parse_key(&rsa(&[], &[1, 0, 1])).is_err());
    }

    #[test]
    fn a_p256_key_needs_two_coordinates_of_32_bytes() {
        let ec = |x: usize, y: usize| json!({"kty": "EC", "crv": "P-256", "x": B64.encode(vec![1u8; x]), "y": B64.encode(vec![2u8; y])});
        let point = [&[4u8][..], &[1; 32], &[2; 32]].concat();
        assert_eq!(
            parse_key(&ec(32, 32)).map(|k| k.material),
            Ok(KeyMaterial::EcP256 { point })
        );
        for (x, y) in [(31, 32), (32, 31), (33, 32), (32, 33), (0, 0)] {
            assert!(parse_key(&ec(x, y)).is_err(), "{x}, {y}");
        }
    }
}
