//! The persisted form of the sessions and of a pending login: versioned JSON records under two
//! storage keys. Decoding never quotes the stored values in its errors (they hold tokens).
//!
//! The session record (format 2) names the issuer and client id it belongs to, every signed-in
//! account with its revision and refresh lease, and the active account. A record of another
//! issuer or client is refused as [`StorageErrorKind::Foreign`] (and left as it is). Format 1,
//! one account without issuer and client id, is read and bound through its ID token claims
//! (`iss` must be the issuer, `aud` must include the client); it is written back as format 2.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{StorageError, StorageErrorKind};
use crate::oidc::authorize::PendingAuthorization;
use crate::oidc::id_token::IdTokenClaims;
use crate::oidc::step_up::StepUp;
use crate::secret::SecretString;
use crate::session::accounts::{Account, Lease, Sessions};
use crate::session::tokens::{ResourceToken, Tokens};

/// Storage key of the sessions.
pub(crate) const SESSION_KEY: &str = "session";
/// Storage key of the pending login (so a login survives the app being killed meanwhile).
pub(crate) const PENDING_KEY: &str = "pending";

/// The session record's format written by this release. Older formats are migrated when read;
/// a newer one is reported as corrupt (it cannot be understood safely).
pub(crate) const SESSION_FORMAT: u32 = 2;
/// The pending login's format.
pub(crate) const PENDING_FORMAT: u32 = 1;

/// Whom a session record belongs to: the configured issuer and client id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
}

/// One account's tokens, as stored (format 1 is one of these with `format` beside it).
#[derive(Serialize, Deserialize)]
struct StoredTokens {
    access_token: String,
    refresh_token: Option<String>,
    id_token: String,
    expires_at: Option<i64>,
    /// Added after format 2 was released: records without it read as "lifetime unknown", and
    /// releases that do not know it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifetime: Option<i64>,
    scopes: Vec<String>,
    claims: IdTokenClaims,
    #[serde(default)]
    login_nonce: Option<String>,
    /// The DPoP key's thumbprint for sender-constrained tokens; absent for Bearer tokens (and
    /// in records written before DPoP, which are all Bearer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_jkt: Option<String>,
    /// RFC 8707 (absent in records written before, and when none is configured or held).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    resources: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    resource_tokens: BTreeMap<String, StoredResourceToken>,
}

#[derive(Serialize, Deserialize)]
struct StoredResourceToken {
    access_token: String,
    expires_at: Option<i64>,
    /// Absent in records written before lifetimes were kept, and when the provider did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifetime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scopes: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize)]
struct StoredAccount {
    revision: u64,
    #[serde(default)]
    lease: Option<StoredLease>,
    #[serde(flatten)]
    tokens: StoredTokens,
}

#[derive(Serialize, Deserialize)]
struct StoredLease {
    holder: String,
    until: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredSessions {
    format: u32,
    issuer: String,
    client_id: String,
    active: Option<String>,
    accounts: Vec<StoredAccount>,
}

#[derive(Serialize, Deserialize)]
struct StoredPending {
    format: u32,
    state: String,
    nonce: String,
    verifier: String,
    redirect_uri: String,
    created_at: i64,
    /// Step-up (absent in records written before it existed, and when not asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_age: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    acr_values: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    require_acr: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    fresh_login: bool,
}

fn foreign() -> StorageError {
    StorageError::new(
        StorageErrorKind::Foreign,
        "the stored session belongs to another issuer or client id; it is not used",
    )
}

pub(crate) fn corrupt(what: &str, detail: &str) -> StorageError {
    StorageError::new(
        StorageErrorKind::Corrupt,
        format!("the stored {what} cannot be read: {detail}"),
    )
}

/// Reads the `format` field first, so a newer format is told apart from garbage. Returns it
/// when this release can read it (`1..=current`).
pub(crate) fn check_format(bytes: &[u8], what: &str, current: u32) -> Result<u32, StorageError> {
    #[derive(Deserialize)]
    struct Version {
        format: u32,
    }
    let v: Version =
        serde_json::from_slice(bytes).map_err(|_| corrupt(what, "not a Keyfob record"))?;
    match v.format {
        f if (1..=current).contains(&f) => Ok(f),
        f if f > current => Err(corrupt(what, "written by a newer version of Keyfob")),
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

impl From<&Tokens> for StoredTokens {
    fn from(t: &Tokens) -> Self {
        StoredTokens {
            access_token: t.access_token.expose().to_string(),
            refresh_token: t.refresh_token.as_ref().map(|r| r.expose().to_string()),
            id_token: t.id_token.expose().to_string(),
            expires_at: t.expires_at,
            lifetime: t.lifetime,
            scopes: t.scopes.clone(),
            claims: t.claims.clone(),
            login_nonce: t.login_nonce.as_ref().map(|n| n.expose().to_string()),
            dpop_jkt: t.dpop_jkt.clone(),
            resources: t.resources.clone(),
            resource_tokens: t
                .resource_tokens
                .iter()
                .map(|(resource, token)| {
                    let stored = StoredResourceToken {
                        access_token: token.access_token.expose().to_string(),
                        expires_at: token.expires_at,
                        lifetime: token.lifetime,
                        scopes: token.scopes.clone(),
                    };
                    (resource.clone(), stored)
                })
                .collect(),
        }
    }
}

impl From<StoredTokens> for Tokens {
    fn from(s: StoredTokens) -> Self {
        Tokens {
            access_token: SecretString::new(s.access_token),
            refresh_token: s.refresh_token.map(SecretString::new),
            id_token: SecretString::new(s.id_token),
            expires_at: s.expires_at,
            lifetime: s.lifetime,
            scopes: s.scopes,
            claims: s.claims,
            login_nonce: s.login_nonce.map(SecretString::new),
            dpop_jkt: s.dpop_jkt,
            resources: s.resources,
            resource_tokens: s
                .resource_tokens
                .into_iter()
                .map(|(resource, t)| {
                    let token = ResourceToken {
                        access_token: SecretString::new(t.access_token),
                        expires_at: t.expires_at,
                        lifetime: t.lifetime,
                        scopes: t.scopes,
                    };
                    (resource, token)
                })
                .collect(),
        }
    }
}

/// The session record for `sessions`, owned by `owner`.
pub(crate) fn encode_sessions(sessions: &Sessions, owner: Owner<'_>) -> Vec<u8> {
    let stored = StoredSessions {
        format: SESSION_FORMAT,
        issuer: owner.issuer.to_string(),
        client_id: owner.client_id.to_string(),
        active: sessions.active.clone(),
        accounts: sessions
            .accounts
            .values()
            .map(|a| StoredAccount {
                revision: a.revision,
                lease: a.lease.as_ref().map(|l| StoredLease {
                    holder: l.holder.clone(),
                    until: l.until,
                }),
                tokens: (&a.tokens).into(),
            })
            .collect(),
    };
    serde_json::to_vec(&stored).expect("a session record always serialises")
}

/// Reads a session record that must belong to `owner`.
pub(crate) fn decode_sessions(bytes: &[u8], owner: Owner<'_>) -> Result<Sessions, StorageError> {
    if check_format(bytes, "session", SESSION_FORMAT)? == 1 {
        return decode_format_1(bytes, owner);
    }
    let s: StoredSessions =
        serde_json::from_slice(bytes).map_err(|e| corrupt("session", &json_error(&e)))?;
    if s.issuer != owner.issuer || s.client_id != owner.client_id {
        return Err(foreign());
    }
    let mut accounts = BTreeMap::new();
    for a in s.accounts {
        let tokens: Tokens = a.tokens.into();
        let account = Account {
            revision: a.revision,
            lease: a.lease.map(|l| Lease {
                holder: l.holder,
                until: l.until,
            }),
            tokens,
        };
        let subject = account.tokens.claims.subject.clone();
        if accounts.insert(subject, account).is_some() {
            return Err(corrupt("session", "an account is listed twice"));
        }
    }
    if s.active.as_ref().is_some_and(|a| !accounts.contains_key(a)) {
        return Err(corrupt(
            "session",
            "the active account is not among the accounts",
        ));
    }
    Ok(Sessions {
        active: s.active,
        accounts,
    })
}

/// Format 1: one account, bound to its owner through the ID token claims.
fn decode_format_1(bytes: &[u8], owner: Owner<'_>) -> Result<Sessions, StorageError> {
    #[derive(Deserialize)]
    struct Format1 {
        #[serde(flatten)]
        tokens: StoredTokens,
    }
    let v1: Format1 =
        serde_json::from_slice(bytes).map_err(|e| corrupt("session", &json_error(&e)))?;
    let tokens: Tokens = v1.tokens.into();
    let claims = &tokens.claims;
    if claims.issuer != owner.issuer || !claims.audience.iter().any(|a| a == owner.client_id) {
        return Err(foreign());
    }
    let mut sessions = Sessions::default();
    sessions.sign_in(tokens);
    Ok(sessions)
}

pub(crate) fn encode_pending(p: &PendingAuthorization) -> Vec<u8> {
    let stored = StoredPending {
        format: PENDING_FORMAT,
        state: p.state.expose().to_string(),
        nonce: p.nonce.expose().to_string(),
        verifier: p.verifier.expose().to_string(),
        redirect_uri: p.redirect_uri.clone(),
        created_at: p.created_at,
        max_age: p.step_up.max_age,
        acr_values: p.step_up.acr_values.clone(),
        require_acr: p.step_up.require_acr,
        fresh_login: p.step_up.fresh_login,
    };
    serde_json::to_vec(&stored).expect("a pending login always serialises")
}

pub(crate) fn decode_pending(bytes: &[u8]) -> Result<PendingAuthorization, StorageError> {
    check_format(bytes, "pending login", PENDING_FORMAT)?;
    let s: StoredPending =
        serde_json::from_slice(bytes).map_err(|e| corrupt("pending login", &json_error(&e)))?;
    Ok(PendingAuthorization {
        state: SecretString::new(s.state),
        nonce: SecretString::new(s.nonce),
        verifier: SecretString::new(s.verifier),
        redirect_uri: s.redirect_uri,
        created_at: s.created_at,
        step_up: StepUp {
            max_age: s.max_age,
            acr_values: s.acr_values,
            require_acr: s.require_acr,
            fresh_login: s.fresh_login,
        },
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
            lifetime: Some(300),
            scopes: vec!["openid".into()],
            claims: IdTokenClaims {
                issuer: "https://a.example".into(),
                subject: "u1".into(),
                audience: vec!["app".into()],
                authorized_party: None,
                expires_at: 1,
                issued_at: 0,
                auth_time: None,
                acr: None,
                email: None,
                email_verified: Some(true),
                name: None,
                preferred_username: None,
                extra: serde_json::Map::new(),
            },
            login_nonce: Some(SecretString::new("nonce-secret")),
            dpop_jkt: None,
            resources: Vec::new(),
            resource_tokens: BTreeMap::new(),
        }
    }

    const OWNER: Owner<'static> = Owner {
        issuer: "https://a.example",
        client_id: "app",
    };

    fn two_accounts() -> Sessions {
        let mut sessions = Sessions::default();
        let mut other = tokens();
        other.claims.subject = "u2".into();
        sessions.sign_in(tokens());
        sessions.sign_in(other);
        sessions.accounts.get_mut("u1").unwrap().lease = Some(Lease {
            holder: "p1".into(),
            until: 42,
        });
        sessions
    }

    #[test]
    fn sessions_round_trip() {
        let sessions = two_accounts();
        let bytes = encode_sessions(&sessions, OWNER);
        assert_eq!(decode_sessions(&bytes, OWNER).unwrap(), sessions);
        assert_eq!(sessions.active.as_deref(), Some("u2"));
        assert_eq!(
            decode_sessions(&encode_sessions(&Sessions::default(), OWNER), OWNER).unwrap(),
            Sessions::default()
        );
    }

    #[test]
    fn a_record_without_the_lifetime_reads_as_lifetime_unknown() {
        // Records written before the lifetime was kept, and records of releases that do not
        // know it, stay readable both ways.
        let written = String::from_utf8(encode_sessions(&two_accounts(), OWNER)).unwrap();
        assert!(written.contains("\"lifetime\":300"));
        let older = written.replace(",\"lifetime\":300", "");
        assert_ne!(older, written);
        let read = decode_sessions(older.as_bytes(), OWNER).unwrap();
        assert!(read.accounts.values().all(|a| a.tokens.lifetime.is_none()));
        let mut unknown = tokens();
        unknown.lifetime = None;
        let mut sessions = Sessions::default();
        sessions.sign_in(unknown);
        let bytes = encode_sessions(&sessions, OWNER);
        assert!(!String::from_utf8_lossy(&bytes).contains("lifetime"));
    }

    #[test]
    fn a_dpop_bound_account_keeps_its_key_thumbprint() {
        let mut sessions = two_accounts();
        sessions.accounts.get_mut("u2").unwrap().tokens.dpop_jkt = Some("jkt-1".into());
        let bytes = encode_sessions(&sessions, OWNER);
        let back = decode_sessions(&bytes, OWNER).unwrap();
        assert_eq!(back, sessions);
        assert_eq!(back.accounts["u2"].tokens.token_type(), "DPoP");
        assert_eq!(back.accounts["u1"].tokens.token_type(), "Bearer");
        // A Bearer account is written as before DPoP: older releases read it unchanged.
        assert_eq!(
            String::from_utf8(bytes)
                .unwrap()
                .matches("dpop_jkt")
                .count(),
            1
        );
    }

    #[test]
    fn resource_tokens_round_trip_and_are_absent_when_none() {
        let plain = String::from_utf8(encode_sessions(&two_accounts(), OWNER)).unwrap();
        assert!(!plain.contains("resource"), "{plain}");
        let mut sessions = two_accounts();
        let tokens = &mut sessions.accounts.get_mut("u1").unwrap().tokens;
        tokens.resources = vec!["https://crm.example".into()];
        tokens.resource_tokens.insert(
            "https://crm.example".into(),
            ResourceToken {
                access_token: SecretString::new("crm-secret"),
                expires_at: Some(7),
                lifetime: Some(60),
                scopes: Some(vec!["read".into()]),
            },
        );
        let bytes = encode_sessions(&sessions, OWNER);
        assert_eq!(decode_sessions(&bytes, OWNER).unwrap(), sessions);
    }

    #[test]
    fn a_record_of_another_issuer_or_client_is_foreign() {
        let bytes = encode_sessions(&two_accounts(), OWNER);
        for owner in [
            Owner {
                issuer: "https://b.example",
                client_id: "app",
            },
            Owner {
                issuer: "https://a.example",
                client_id: "other-app",
            },
            Owner {
                issuer: "https://a.example/",
                client_id: "app",
            },
        ] {
            let e = decode_sessions(&bytes, owner).unwrap_err();
            assert_eq!(e.kind, StorageErrorKind::Foreign, "{owner:?}");
        }
    }

    /// What Keyfob 0.1 wrote: one account, no issuer or client id.
    fn format_1(t: &Tokens) -> Vec<u8> {
        let mut v = serde_json::to_value(StoredTokens::from(t)).unwrap();
        v["format"] = 1.into();
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn format_1_is_read_as_one_active_account_bound_by_its_claims() {
        let t = tokens();
        let sessions = decode_sessions(&format_1(&t), OWNER).unwrap();
        assert_eq!(sessions.active.as_deref(), Some("u1"));
        assert_eq!(sessions.active().unwrap().tokens, t);
        let mut elsewhere = t.clone();
        elsewhere.claims.issuer = "https://b.example".into();
        let mut for_another_client = t;
        for_another_client.claims.audience = vec!["other-app".into()];
        for foreign_record in [format_1(&elsewhere), format_1(&for_another_client)] {
            assert_eq!(
                decode_sessions(&foreign_record, OWNER).unwrap_err().kind,
                StorageErrorKind::Foreign
            );
        }
    }

    #[test]
    fn garbage_and_newer_formats_are_corrupt_without_leaking() {
        let record = || String::from_utf8(encode_sessions(&two_accounts(), OWNER)).unwrap();
        let newer = record().replace("\"format\":2", "\"format\":3");
        let mistyped = record().replace("\"scopes\":[\"openid\"]", "\"scopes\":\"secret-scope\"");
        let dangling = record().replace("\"active\":\"u2\"", "\"active\":\"u9\"");
        let twice = record().replace("\"subject\":\"u2\"", "\"subject\":\"u1\"");
        assert_ne!(twice, record());
        for bytes in [
            &b"\x00\x01garbage"[..],
            b"{}",
            b"{\"format\":1}",
            b"{\"format\":2}",
            b"{\"format\":0}",
            newer.as_bytes(),
            mistyped.as_bytes(),
            dangling.as_bytes(),
            twice.as_bytes(),
        ] {
            let e = decode_sessions(bytes, OWNER).unwrap_err();
            assert_eq!(
                e.kind,
                StorageErrorKind::Corrupt,
                "{}",
                String::from_utf8_lossy(bytes)
            );
            assert!(!e.message.contains("secret"), "{e}");
        }
        let truncated = &encode_sessions(&two_accounts(), OWNER)[..40];
        assert_eq!(
            decode_sessions(truncated, OWNER).unwrap_err().kind,
            StorageErrorKind::Corrupt
        );
    }

    #[test]
    fn pending_round_trip() {
        let mut p = PendingAuthorization {
            state: SecretString::new("s"),
            nonce: SecretString::new("n"),
            verifier: SecretString::new("v"),
            redirect_uri: "myapp://cb".into(),
            created_at: 5,
            step_up: StepUp::default(),
        };
        let plain = encode_pending(&p);
        assert_eq!(decode_pending(&plain).unwrap(), p);
        // Records without step-up keep the shape they had before it existed.
        assert!(!String::from_utf8(plain).unwrap().contains("max_age"));
        p.step_up = StepUp {
            max_age: Some(0),
            acr_values: vec!["urn:mfa".into()],
            require_acr: true,
            fresh_login: true,
        };
        assert_eq!(decode_pending(&encode_pending(&p)).unwrap(), p);
    }
}
