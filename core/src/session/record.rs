//! The persisted form of the sessions and of a pending login: versioned JSON records under two
//! storage keys. Decoding never quotes the stored values in its errors (they hold tokens).
//!
//! The session record (format 2) names the issuer and client id it belongs to, every signed-in
//! account with its revision and refresh lease, and the active account. A record of another
//! issuer or client is refused as [`StorageErrorKind::Foreign`] (and left as it is). Format 1,
//! one account without issuer and client id, is read and bound through its ID token claims
//! (`iss` must be the issuer, `aud` must include the client); it is written back as format 2.

use serde_json::{Map, Value};

use crate::error::{StorageError, StorageErrorKind};
use crate::http::json_text;
use crate::oidc::authorize::PendingAuthorization;
use crate::oidc::id_token::IdTokenClaims;
use crate::oidc::step_up::StepUp;
use crate::secret::SecretString;
use crate::session::accounts::{Account, BySubject, Lease, Sessions};
use crate::session::sorted_map::SortedMap;
use crate::session::tokens::{ResourceToken, Tokens};

// The records are read and written through `serde_json::Value`, field by field, rather than
// with `#[derive(Serialize, Deserialize)]`: the mobile library parses every other JSON document
// the same way, and the derived code (with `#[serde(flatten)]` for the account fields) cost
// tens of KB of its size budget (issue 9).

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

/// One JSON object of a record, read field by field. A `null` field counts as absent; errors
/// name the field, never its value (it may be a token).
struct Fields<'a> {
    object: &'a Map<String, Value>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value, what: &'static str) -> Result<Self, StorageError> {
        match value {
            Value::Object(object) => Ok(Fields { object, what }),
            _ => Err(corrupt(what, "a part of it is not a JSON object")),
        }
    }

    /// The field `name` read by `read`; `None` when absent.
    fn optional<T>(
        &self,
        name: &str,
        read: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, StorageError> {
        match self.object.get(name).filter(|v| !v.is_null()) {
            None => Ok(None),
            Some(v) => read(v).map(Some).ok_or_else(|| self.wrong_type(name)),
        }
    }

    /// The field `name` read by `read`; absent is an error.
    fn required<T>(
        &self,
        name: &str,
        read: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T, StorageError> {
        self.optional(name, read)?.ok_or_else(|| self.missing(name))
    }

    // The errors outside the generic readers: one copy of their formatting.
    fn wrong_type(&self, name: &str) -> StorageError {
        corrupt(self.what, &format!("field `{name}` has the wrong type"))
    }

    fn missing(&self, name: &str) -> StorageError {
        corrupt(self.what, &format!("field `{name}` is missing"))
    }

    fn string(&self, name: &str) -> Result<String, StorageError> {
        self.required(name, string)
    }

    fn optional_string(&self, name: &str) -> Result<Option<String>, StorageError> {
        self.optional(name, string)
    }

    fn integer(&self, name: &str) -> Result<i64, StorageError> {
        self.required(name, Value::as_i64)
    }

    fn optional_integer(&self, name: &str) -> Result<Option<i64>, StorageError> {
        self.optional(name, Value::as_i64)
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, StorageError> {
        self.required(name, strings)
    }

    /// A list that records written before it existed leave out: empty when absent.
    fn optional_strings(&self, name: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.optional(name, strings)?.unwrap_or_default())
    }

    /// A flag that records leave out when it is off.
    fn flag(&self, name: &str) -> Result<bool, StorageError> {
        Ok(self.optional(name, Value::as_bool)?.unwrap_or(false))
    }
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(string).collect()
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// Reads the `format` field first, so a newer format is told apart from garbage. Returns the
/// parsed record and its format when this release can read it (`1..=current`).
pub(crate) fn check_format(
    bytes: &[u8],
    what: &'static str,
    current: u32,
) -> Result<(Value, u32), StorageError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| corrupt(what, "not a Keyfob record"))?;
    let format = Fields::of(&value, what)
        .and_then(|f| f.required("format", |v| u32::try_from(v.as_u64()?).ok()))
        .map_err(|_| corrupt(what, "not a Keyfob record"))?;
    match format {
        f if (1..=current).contains(&f) => Ok((value, f)),
        f if f > current => Err(corrupt(what, "written by a newer version of Keyfob")),
        _ => Err(corrupt(
            what,
            "written in a format this version of Keyfob cannot read",
        )),
    }
}

fn claims_to_json(c: &IdTokenClaims) -> Value {
    let mut m = Map::new();
    m.insert("issuer".into(), c.issuer.clone().into());
    m.insert("subject".into(), c.subject.clone().into());
    m.insert("audience".into(), c.audience.clone().into());
    m.insert("authorized_party".into(), c.authorized_party.clone().into());
    m.insert("expires_at".into(), c.expires_at.into());
    m.insert("issued_at".into(), c.issued_at.into());
    m.insert("auth_time".into(), c.auth_time.into());
    m.insert("acr".into(), c.acr.clone().into());
    m.insert("email".into(), c.email.clone().into());
    m.insert("email_verified".into(), c.email_verified.into());
    m.insert("name".into(), c.name.clone().into());
    m.insert(
        "preferred_username".into(),
        c.preferred_username.clone().into(),
    );
    m.insert("extra".into(), Value::Object(c.extra.clone()));
    Value::Object(m)
}

fn claims_from_json(v: &Value) -> Result<IdTokenClaims, StorageError> {
    let f = Fields::of(v, "session")?;
    Ok(IdTokenClaims {
        issuer: f.string("issuer")?,
        subject: f.string("subject")?,
        audience: f.strings("audience")?,
        authorized_party: f.optional_string("authorized_party")?,
        expires_at: f.integer("expires_at")?,
        issued_at: f.integer("issued_at")?,
        auth_time: f.optional_integer("auth_time")?,
        // Absent in records written before step-up.
        acr: f.optional_string("acr")?,
        email: f.optional_string("email")?,
        email_verified: f.optional("email_verified", Value::as_bool)?,
        name: f.optional_string("name")?,
        preferred_username: f.optional_string("preferred_username")?,
        extra: f.required("extra", |v| v.as_object().cloned())?,
    })
}

/// One account's token fields into `m` (format 1 is these with `format` beside them).
fn put_tokens(m: &mut Map<String, Value>, t: &Tokens) {
    let secret = |s: &SecretString| Value::from(s.expose());
    m.insert("access_token".into(), secret(&t.access_token));
    m.insert(
        "refresh_token".into(),
        t.refresh_token.as_ref().map(secret).into(),
    );
    m.insert("id_token".into(), secret(&t.id_token));
    m.insert("expires_at".into(), t.expires_at.into());
    // Added after format 2 was released: records without it read as "lifetime unknown", and
    // releases that do not know it ignore it.
    if let Some(lifetime) = t.lifetime {
        m.insert("lifetime".into(), lifetime.into());
    }
    m.insert("scopes".into(), t.scopes.clone().into());
    m.insert("claims".into(), claims_to_json(&t.claims));
    m.insert(
        "login_nonce".into(),
        t.login_nonce.as_ref().map(secret).into(),
    );
    // Absent for Bearer tokens, as in records written before DPoP (which are all Bearer).
    if let Some(jkt) = &t.dpop_jkt {
        m.insert("dpop_jkt".into(), jkt.clone().into());
    }
    // RFC 8707 (absent in records written before, and when none is configured or held).
    if !t.resources.is_empty() {
        m.insert("resources".into(), t.resources.clone().into());
    }
    if !t.resource_tokens.is_empty() {
        let by_resource = t
            .resource_tokens
            .iter()
            .map(|(resource, token)| (resource.clone(), resource_token_to_json(token)))
            .collect();
        m.insert("resource_tokens".into(), Value::Object(by_resource));
    }
}

fn resource_token_to_json(t: &ResourceToken) -> Value {
    let mut m = Map::new();
    m.insert("access_token".into(), t.access_token.expose().into());
    m.insert("expires_at".into(), t.expires_at.into());
    // Absent in records written before lifetimes were kept, and when the provider did not say.
    if let Some(lifetime) = t.lifetime {
        m.insert("lifetime".into(), lifetime.into());
    }
    if let Some(scopes) = &t.scopes {
        m.insert("scopes".into(), scopes.clone().into());
    }
    Value::Object(m)
}

fn resource_token_from_json(v: &Value) -> Result<ResourceToken, StorageError> {
    let f = Fields::of(v, "session")?;
    Ok(ResourceToken {
        access_token: SecretString::new(f.string("access_token")?),
        expires_at: f.optional_integer("expires_at")?,
        lifetime: f.optional_integer("lifetime")?,
        scopes: f.optional("scopes", strings)?,
    })
}

fn resource_tokens_from(f: &Fields<'_>) -> Result<SortedMap<ResourceToken>, StorageError> {
    let mut tokens = SortedMap::default();
    if let Some(by_resource) = f.optional("resource_tokens", Value::as_object)? {
        for (resource, token) in by_resource {
            tokens.insert(resource.clone(), resource_token_from_json(token)?);
        }
    }
    Ok(tokens)
}

fn tokens_from(f: &Fields<'_>) -> Result<Tokens, StorageError> {
    let secret = |name: &str| f.string(name).map(SecretString::new);
    let optional_secret = |name: &str| -> Result<_, StorageError> {
        Ok(f.optional_string(name)?.map(SecretString::new))
    };
    Ok(Tokens {
        access_token: secret("access_token")?,
        refresh_token: optional_secret("refresh_token")?,
        id_token: secret("id_token")?,
        expires_at: f.optional_integer("expires_at")?,
        lifetime: f.optional_integer("lifetime")?,
        scopes: f.strings("scopes")?,
        claims: f.required("claims", Some).and_then(claims_from_json)?,
        login_nonce: optional_secret("login_nonce")?,
        dpop_jkt: f.optional_string("dpop_jkt")?,
        resources: f.optional_strings("resources")?,
        resource_tokens: resource_tokens_from(f)?,
    })
}

fn to_bytes(m: Map<String, Value>) -> Vec<u8> {
    json_text(&Value::Object(m)).into_bytes()
}

/// The session record for `sessions`, owned by `owner`.
pub(crate) fn encode_sessions(sessions: &Sessions, owner: Owner<'_>) -> Vec<u8> {
    let accounts: Vec<Value> = sessions
        .accounts
        .values()
        .map(|a| {
            let mut m = Map::new();
            m.insert("revision".into(), a.revision.into());
            let lease = a.lease.as_ref().map(|l| {
                let mut lease = Map::new();
                lease.insert("holder".into(), l.holder.clone().into());
                lease.insert("until".into(), l.until.into());
                Value::Object(lease)
            });
            m.insert("lease".into(), lease.into());
            put_tokens(&mut m, &a.tokens);
            Value::Object(m)
        })
        .collect();
    let mut m = Map::new();
    m.insert("format".into(), SESSION_FORMAT.into());
    m.insert("issuer".into(), owner.issuer.into());
    m.insert("client_id".into(), owner.client_id.into());
    m.insert("active".into(), sessions.active.clone().into());
    m.insert("accounts".into(), accounts.into());
    to_bytes(m)
}

/// Reads a session record that must belong to `owner`.
pub(crate) fn decode_sessions(bytes: &[u8], owner: Owner<'_>) -> Result<Sessions, StorageError> {
    let (value, format) = check_format(bytes, "session", SESSION_FORMAT)?;
    let f = Fields::of(&value, "session")?;
    if format == 1 {
        return decode_format_1(&f, owner);
    }
    let (issuer, client_id) = (f.string("issuer")?, f.string("client_id")?);
    let active = f.optional_string("active")?;
    let listed = f.required("accounts", Value::as_array)?;
    if issuer != owner.issuer || client_id != owner.client_id {
        return Err(foreign());
    }
    let mut accounts = BySubject::default();
    for a in listed {
        let a = Fields::of(a, "session")?;
        let lease = a.optional("lease", Some)?.map(|l| {
            let l = Fields::of(l, "session")?;
            Ok::<_, StorageError>(Lease {
                holder: l.string("holder")?,
                until: l.integer("until")?,
            })
        });
        let account = Account {
            revision: a.required("revision", Value::as_u64)?,
            lease: lease.transpose()?,
            tokens: tokens_from(&a)?,
        };
        let subject = account.tokens.claims.subject.clone();
        if accounts.insert(subject, account).is_some() {
            return Err(corrupt("session", "an account is listed twice"));
        }
    }
    if active.as_ref().is_some_and(|a| !accounts.contains_key(a)) {
        return Err(corrupt(
            "session",
            "the active account is not among the accounts",
        ));
    }
    Ok(Sessions { active, accounts })
}

/// Format 1: one account, bound to its owner through the ID token claims.
fn decode_format_1(f: &Fields<'_>, owner: Owner<'_>) -> Result<Sessions, StorageError> {
    let tokens = tokens_from(f)?;
    let claims = &tokens.claims;
    if claims.issuer != owner.issuer || !claims.audience.iter().any(|a| a == owner.client_id) {
        return Err(foreign());
    }
    let mut sessions = Sessions::default();
    sessions.sign_in(tokens);
    Ok(sessions)
}

pub(crate) fn encode_pending(p: &PendingAuthorization) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("format".into(), PENDING_FORMAT.into());
    m.insert("state".into(), p.state.expose().into());
    m.insert("nonce".into(), p.nonce.expose().into());
    m.insert("verifier".into(), p.verifier.expose().into());
    m.insert("redirect_uri".into(), p.redirect_uri.clone().into());
    m.insert("created_at".into(), p.created_at.into());
    // Step-up (absent in records written before it existed, and when not asked for).
    let step_up = &p.step_up;
    if let Some(max_age) = step_up.max_age {
        m.insert("max_age".into(), max_age.into());
    }
    if !step_up.acr_values.is_empty() {
        m.insert("acr_values".into(), step_up.acr_values.clone().into());
    }
    for (name, on) in [
        ("require_acr", step_up.require_acr),
        ("fresh_login", step_up.fresh_login),
    ] {
        if on {
            m.insert(name.into(), on.into());
        }
    }
    to_bytes(m)
}

pub(crate) fn decode_pending(bytes: &[u8]) -> Result<PendingAuthorization, StorageError> {
    let (value, _) = check_format(bytes, "pending login", PENDING_FORMAT)?;
    let f = Fields::of(&value, "pending login")?;
    Ok(PendingAuthorization {
        state: SecretString::new(f.string("state")?),
        nonce: SecretString::new(f.string("nonce")?),
        verifier: SecretString::new(f.string("verifier")?),
        redirect_uri: f.string("redirect_uri")?,
        created_at: f.integer("created_at")?,
        step_up: StepUp {
            max_age: f.optional("max_age", Value::as_u64)?,
            acr_values: f.optional_strings("acr_values")?,
            require_acr: f.flag("require_acr")?,
            fresh_login: f.flag("fresh_login")?,
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
            resource_tokens: SortedMap::default(),
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

    /// A token for one API, with every field set.
    fn crm_token() -> ResourceToken {
        ResourceToken {
            access_token: SecretString::new("crm-secret"),
            expires_at: Some(7),
            lifetime: Some(60),
            scopes: Some(vec!["read".into()]),
        }
    }

    #[test]
    fn resource_tokens_round_trip_and_are_absent_when_none() {
        let plain = String::from_utf8(encode_sessions(&two_accounts(), OWNER)).unwrap();
        assert!(!plain.contains("resource"), "{plain}");
        let mut sessions = two_accounts();
        let tokens = &mut sessions.accounts.get_mut("u1").unwrap().tokens;
        tokens.resources = vec!["https://crm.example".into()];
        tokens
            .resource_tokens
            .insert("https://crm.example".into(), crm_token());
        let bytes = encode_sessions(&sessions, OWNER);
        assert_eq!(decode_sessions(&bytes, OWNER).unwrap(), sessions);
    }

    #[test]
    fn an_account_with_every_field_set_round_trips() {
        let mut full = tokens();
        full.claims.authorized_party = Some("app".into());
        full.claims.auth_time = Some(1_799_999_000);
        full.claims.acr = Some("urn:keyfob:loa:2".into());
        full.claims.email = Some("u1@example.com".into());
        full.claims.name = Some("U One".into());
        full.claims.preferred_username = Some("u1".into());
        full.claims.extra.insert("tenant".into(), "t1".into());
        full.dpop_jkt = Some("jkt-1".into());
        full.resources = vec![
            "https://crm.example".into(),
            "https://orders.example".into(),
        ];
        full.resource_tokens
            .insert("https://crm.example".into(), crm_token());
        full.resource_tokens.insert(
            "https://orders.example".into(),
            ResourceToken {
                access_token: SecretString::new("orders-secret"),
                expires_at: None,
                lifetime: None,
                scopes: None,
            },
        );
        let mut sessions = two_accounts();
        sessions.accounts.get_mut("u1").unwrap().tokens = full;
        let bytes = encode_sessions(&sessions, OWNER);
        assert_eq!(decode_sessions(&bytes, OWNER).unwrap(), sessions);
        let format_1_read = decode_sessions(&format_1(&sessions.accounts["u1"].tokens), OWNER);
        assert_eq!(
            format_1_read.unwrap().active().unwrap().tokens,
            sessions.accounts["u1"].tokens
        );
    }

    #[test]
    fn a_record_of_a_release_before_dpop_step_up_and_resources_loads() {
        // Format 2 as written before DPoP, the token lifetime, step-up (`acr`) and RFC 8707.
        let older = br#"{"format":2,"issuer":"https://a.example","client_id":"app","active":"u1",
            "accounts":[{"revision":3,"lease":null,"access_token":"at","refresh_token":"rt",
            "id_token":"idt","expires_at":1800000300,"scopes":["openid"],"login_nonce":null,
            "claims":{"issuer":"https://a.example","subject":"u1","audience":["app"],
            "authorized_party":null,"expires_at":1,"issued_at":0,"auth_time":5,"email":null,
            "email_verified":null,"name":null,"preferred_username":null,"extra":{}}}]}"#;
        let sessions = decode_sessions(older, OWNER).unwrap();
        let account = &sessions.accounts["u1"];
        assert_eq!(account.revision, 3);
        let tokens = &account.tokens;
        assert_eq!(
            tokens.refresh_token.as_ref().map(|t| t.expose()),
            Some("rt")
        );
        assert_eq!(tokens.claims.auth_time, Some(5));
        assert_eq!(
            (tokens.lifetime, tokens.claims.acr.as_deref()),
            (None, None)
        );
        assert_eq!(tokens.token_type(), "Bearer");
        assert!(tokens.resources.is_empty() && tokens.resource_tokens.is_empty());
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
        let mut m = Map::new();
        put_tokens(&mut m, t);
        m.insert("format".into(), 1.into());
        to_bytes(m)
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
        let negative_revision = record().replace("\"revision\":1", "\"revision\":-1");
        let mistyped_lease = record().replace("\"holder\":\"p1\"", "\"holder\":7");
        let mistyped_extra = record().replace("\"extra\":{}", "\"extra\":[]");
        let no_claims = record().replace("\"claims\":", "\"claimz\":");
        for changed in [
            &twice,
            &negative_revision,
            &mistyped_lease,
            &mistyped_extra,
            &no_claims,
        ] {
            assert_ne!(changed, &record());
        }
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
            negative_revision.as_bytes(),
            mistyped_lease.as_bytes(),
            mistyped_extra.as_bytes(),
            no_claims.as_bytes(),
            br#"{"format":2,"issuer":"https://a.example","client_id":"app","accounts":[7]}"#,
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
