//! The persisted form of a session and of a pending login: versioned JSON records under two
//! storage keys. Decoding never quotes the stored values in its errors (they hold tokens).

use serde::{Deserialize, Serialize};

use crate::error::{StorageError, StorageErrorKind};
use crate::oidc::authorize::PendingAuthorization;
use crate::oidc::id_token::IdTokenClaims;
use crate::secret::SecretString;
use crate::session::tokens::Tokens;

/// Storage key of the signed-in session.
pub(crate) const SESSION_KEY: &str = "session";
/// Storage key of the pending login (so a login survives the app being killed meanwhile).
pub(crate) const PENDING_KEY: &str = "pending";

/// The version of the stored format written by this release. Older versions are migrated when
/// read; a newer version is reported as corrupt (it cannot be understood safely).
pub(crate) const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct StoredSession {
    format: u32,
    access_token: String,
    refresh_token: Option<String>,
    id_token: String,
    expires_at: Option<i64>,
    scopes: Vec<String>,
    claims: IdTokenClaims,
    #[serde(default)]
    login_nonce: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredPending {
    format: u32,
    state: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
    created_at: i64,
}

fn corrupt(what: &str, detail: &str) -> StorageError {
    StorageError::new(
        StorageErrorKind::Corrupt,
        format!("the stored {what} cannot be read: {detail}"),
    )
}

/// Reads the `format` field first, so a newer format is told apart from garbage.
fn check_format(bytes: &[u8], what: &str) -> Result<(), StorageError> {
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let v: Version =
        serde_json::from_slice(bytes).map_err(|_| corrupt(what, "not a Keyfob record"))?;
    // Format 1 is the first: nothing older to migrate yet, so only it is readable.
    match v.format {
        FORMAT_VERSION => Ok(()),
        f if f > FORMAT_VERSION => Err(corrupt(what, "written by a newer version of Keyfob")),
        _ => Err(corrupt(
            what,
            "written in a format this version of Keyfob cannot read",
        )),
    }
}

/// serde_json's own messages may quote the offending value (a token): report only where.
fn json_error(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

pub(crate) fn encode_tokens(t: &Tokens) -> Vec<u8> {
    let stored = StoredSession {
        format: FORMAT_VERSION,
        access_token: t.access_token.expose().to_string(),
        refresh_token: t.refresh_token.as_ref().map(|r| r.expose().to_string()),
        id_token: t.id_token.expose().to_string(),
        expires_at: t.expires_at,
        scopes: t.scopes.clone(),
        claims: t.claims.clone(),
        login_nonce: t.login_nonce.as_ref().map(|n| n.expose().to_string()),
    };
    serde_json::to_vec(&stored).expect("a session always serialises")
}

pub(crate) fn decode_tokens(bytes: &[u8]) -> Result<Tokens, StorageError> {
    check_format(bytes, "session")?;
    let s: StoredSession =
        serde_json::from_slice(bytes).map_err(|e| corrupt("session", &json_error(&e)))?;
    Ok(Tokens {
        access_token: SecretString::new(s.access_token),
        refresh_token: s.refresh_token.map(SecretString::new),
        id_token: SecretString::new(s.id_token),
        expires_at: s.expires_at,
        scopes: s.scopes,
        claims: s.claims,
        login_nonce: s.login_nonce.map(SecretString::new),
    })
}

pub(crate) fn encode_pending(p: &PendingAuthorization) -> Vec<u8> {
    let stored = StoredPending {
        format: FORMAT_VERSION,
        state: p.state.expose().to_string(),
        nonce: p.nonce.expose().to_string(),
        verifier: p.verifier.expose().to_string(),
        redirect_uri: p.redirect_uri.clone(),
        created_at: p.created_at,
    };
    serde_json::to_vec(&stored).expect("a pending login always serialises")
}

pub(crate) fn decode_pending(bytes: &[u8]) -> Result<PendingAuthorization, StorageError> {
    check_format(bytes, "pending login")?;
    let s: StoredPending =
        serde_json::from_slice(bytes).map_err(|e| corrupt("pending login", &json_error(&e)))?;
    Ok(PendingAuthorization {
        state: SecretString::new(s.state),
        nonce: SecretString::new(s.nonce),
        verifier: SecretString::new(s.verifier),
        redirect_uri: s.redirect_uri,
        created_at: s.created_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            access_token: SecretString::new("at-secret"),
            refresh_token: Some(SecretString::new("rt-secret")),
            id_token: SecretString::new("idt-secret"),
            expires_at: Some(1_800_000_300),
            scopes: vec!["openid".into()],
            claims: IdTokenClaims {
                issuer: "https://a.example".into(),
                subject: "u1".into(),
                audience: vec!["app".into()],
                authorized_party: None,
                expires_at: 1,
                issued_at: 0,
                auth_time: None,
                email: None,
                email_verified: Some(true),
                name: None,
                preferred_username: None,
                extra: serde_json::Map::new(),
            },
            login_nonce: Some(SecretString::new("nonce-secret")),
        }
    }

    #[test]
    fn tokens_round_trip() {
        let t = tokens();
        assert_eq!(decode_tokens(&encode_tokens(&t)).unwrap(), t);
    }

    #[test]
    fn garbage_and_newer_formats_are_corrupt_without_leaking() {
        let newer = String::from_utf8(encode_tokens(&tokens()))
            .unwrap()
            .replace("\"format\":1", "\"format\":2");
        let mistyped = String::from_utf8(encode_tokens(&tokens()))
            .unwrap()
            .replace("\"scopes\":[\"openid\"]", "\"scopes\":\"secret-scope\"");
        for bytes in [
            &b"\x00\x01garbage"[..],
            b"{}",
            b"{\"format\":1}",
            newer.as_bytes(),
            mistyped.as_bytes(),
        ] {
            let e = decode_tokens(bytes).unwrap_err();
            assert_eq!(e.kind, StorageErrorKind::Corrupt);
            assert!(!e.message.contains("secret"), "{e}");
        }
        let truncated = &encode_tokens(&tokens())[..40];
        assert_eq!(
            decode_tokens(truncated).unwrap_err().kind,
            StorageErrorKind::Corrupt
        );
    }

    #[test]
    fn pending_round_trip() {
        let p = PendingAuthorization {
            state: SecretString::new("s"),
            nonce: SecretString::new("n"),
            verifier: SecretString::new("v"),
            redirect_uri: "myapp://cb".into(),
            created_at: 5,
        };
        assert_eq!(decode_pending(&encode_pending(&p)).unwrap(), p);
    }
}
