//! PKCE (RFC 7636) with the S256 method only, and the random values of a login attempt.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::{Error, ErrorKind, Result};
use crate::secret::SecretString;

/// A code verifier and its S256 challenge.
pub(crate) struct Pkce {
    /// 43 characters from the unreserved set (32 random bytes, base64url).
    pub verifier: SecretString,
    /// BASE64URL(SHA256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// A fresh verifier from the system CSPRNG and its challenge.
    pub fn generate() -> Result<Self> {
        let verifier = random_token(32)?;
        let challenge = s256_challenge(&verifier);
        Ok(Pkce {
            verifier: SecretString::new(verifier),
            challenge,
        })
    }
}

/// BASE64URL-ENCODE(SHA256(ASCII(verifier))), RFC 7636 §4.2.
pub(crate) fn s256_challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// `bytes` random bytes from the system CSPRNG, base64url-encoded without padding.
/// Used for the verifier, `state` and `nonce`.
pub(crate) fn random_token(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).map_err(|_| {
        Error::new(
            ErrorKind::Config,
            "the system random number generator is unavailable",
        )
    })?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_is_43_unreserved_characters_and_fresh() {
        let a = Pkce::generate().unwrap();
        let b = Pkce::generate().unwrap();
        let v = a.verifier.expose();
        assert_eq!(v.len(), 43);
        assert!(
            v.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c))
        );
        assert_ne!(a.verifier.expose(), b.verifier.expose());
        assert_eq!(a.challenge, s256_challenge(v));
    }
}
