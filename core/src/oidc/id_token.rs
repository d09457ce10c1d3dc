//! ID token validation, OpenID Connect Core §3.1.3.7 (and §12.2 for refreshed ID tokens).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, IdTokenCheck, Result};
use crate::oidc::jwks::KeySource;
use crate::oidc::jws;
use crate::secret::constant_time_eq;

/// The validated claims of an ID token.
///
/// Registered claims are typed; everything else the provider sent is in [`IdTokenClaims::extra`].
/// The `nonce` is not kept: it has done its job once the token is validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// `iss`: the provider.
    pub issuer: String,
    /// `sub`: the user's stable identifier at this provider.
    pub subject: String,
    /// `aud`: the audiences; always contains this client.
    pub audience: Vec<String>,
    /// `azp`, when present.
    pub authorized_party: Option<String>,
    /// `exp`, seconds since the epoch.
    pub expires_at: i64,
    /// `iat`, seconds since the epoch.
    pub issued_at: i64,
    /// `auth_time`, when present: when the user last authenticated (seconds since the epoch).
    pub auth_time: Option<i64>,
    /// `acr`, when present and a string: the authentication context class the provider says
    /// the authentication satisfied (see [`crate::LoginOptions::acr_values`]).
    #[serde(default)]
    pub acr: Option<String>,
    /// `email`, when present and a string.
    pub email: Option<String>,
    /// `email_verified`, when present and a boolean.
    pub email_verified: Option<bool>,
    /// `name`, when present and a string.
    pub name: Option<String>,
    /// `preferred_username`, when present and a string.
    pub preferred_username: Option<String>,
    /// Every other claim, untouched.
    pub extra: Map<String, Value>,
}

/// What the token is checked against.
pub(crate) struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce sent with the login request; `None` for a refreshed ID token.
    pub nonce: Option<&'a str>,
    /// The claims from sign-in, for a refreshed ID token (§12.2).
    pub previous: Option<&'a IdTokenClaims>,
    /// The login's nonce, for a refreshed ID token: if it carries a nonce, it must be this one.
    pub previous_nonce: Option<&'a str>,
    pub now: i64,
    pub skew: i64,
}

const REGISTERED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "acr",
    "nonce",
    "email",
    "email_verified",
    "name",
    "preferred_username",
];

fn fail(check: IdTokenCheck, message: impl Into<String>) -> Error {
    Error::id_token(check, message)
}

fn missing(name: &str) -> Error {
    fail(
        IdTokenCheck::MissingClaim,
        format!("ID token has no `{name}` claim"),
    )
}

fn wrong_type(name: &str, expected: &str) -> Error {
    fail(
        IdTokenCheck::ClaimType,
        format!("ID token claim `{name}` must be {expected}"),
    )
}

/// A required string claim: a non-string value is a type error, not an absent claim.
fn string(claims: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(name, "a string")),
    }
}

/// A NumericDate claim (RFC 7519 §2): a JSON number of seconds, possibly fractional.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if let Some(f) = n.as_f64() {
                // `as` saturates: an absurdly large exp stays absurdly large, never wraps.
                Ok(Some(f.floor() as i64))
            } else {
                Err(wrong_type(name, "a number"))
            }
        }
        Some(_) => Err(wrong_type(name, "a number (NumericDate)")),
    }
}

fn audience(claims: &Map<String, Value>) -> Result<Vec<String>> {
    match claims.get("aud") {
        None => Err(missing("aud")),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| wrong_type("aud", "a string or an array of strings"))
            })
            .collect(),
        Some(_) => Err(wrong_type(
            "aud",
            "a string or a non-empty array of strings",
        )),
    }
}

/// Reads and type-checks the claims. Optional profile claims of the wrong type are dropped
/// rather than failing sign-in; security-relevant claims must have the right type.
fn typed_claims(raw: Map<String, Value>) -> Result<(IdTokenClaims, Option<String>)> {
    let issuer = string(&raw, "iss")?.ok_or_else(|| missing("iss"))?;
    let subject = string(&raw, "sub")?.ok_or_else(|| missing("sub"))?;
    if subject.is_empty() {
        return Err(missing("sub"));
    }
    let audience = audience(&raw)?;
    let authorized_party = string(&raw, "azp")?;
    let expires_at = numeric_date(&raw, "exp")?.ok_or_else(|| missing("exp"))?;
    let issued_at = numeric_date(&raw, "iat")?.ok_or_else(|| missing("iat"))?;
    let auth_time = numeric_date(&raw, "auth_time")?;
    let nonce = string(&raw, "nonce")?;
    let acr = raw.get("acr").and_then(Value::as_str).map(str::to_string);
    let email = raw.get("email").and_then(Value::as_str).map(str::to_string);
    let email_verified = raw.get("email_verified").and_then(Value::as_bool);
    let name = raw.get("name").and_then(Value::as_str).map(str::to_string);
    let preferred_username = raw
        .get("preferred_username")
        .and_then(Value::as_str)
        .map(str::to_string);
    // Copied over rather than removed in place: no tree-removal code in the mobile library.
    let mut extra = Map::new();
    for (name, value) in raw {
        if !REGISTERED.contains(&name.as_str()) {
            extra.insert(name, value);
        }
    }
    Ok((
        IdTokenClaims {
            issuer,
            subject,
            audience,
            authorized_party,
            expires_at,
            issued_at,
            auth_time,
            acr,
            email,
            email_verified,
            name,
            preferred_username,
            extra,
        },
        nonce,
    ))
}

/// Checks the claims of a signature-verified token against `expected`.
pub(crate) fn check_claims(
    raw: Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<IdTokenClaims> {
    let (claims, nonce) = typed_claims(raw)?;
    if claims.issuer != expected.issuer {
        return Err(fail(
            IdTokenCheck::Issuer,
            "ID token `iss` is not the provider's issuer",
        ));
    }
    if !claims.audience.iter().any(|a| a == expected.client_id) {
        return Err(fail(
            IdTokenCheck::Audience,
            "ID token `aud` does not include this client",
        ));
    }
    match &claims.authorized_party {
        Some(azp) if azp != expected.client_id => {
            return Err(fail(
                IdTokenCheck::AuthorizedParty,
                "ID token `azp` is not this client",
            ));
        }
        None if claims.audience.len() > 1 => {
            return Err(fail(
                IdTokenCheck::Audience,
                "ID token has several audiences but no `azp` naming this client",
            ));
        }
        _ => {}
    }
    if expected.now > claims.expires_at.saturating_add(expected.skew) {
        return Err(fail(IdTokenCheck::Expired, "ID token has expired"));
    }
    if claims.issued_at > expected.now.saturating_add(expected.skew) {
        return Err(fail(
            IdTokenCheck::IssuedInFuture,
            "ID token `iat` is in the future",
        ));
    }
    if let Some(sent) = expected.nonce {
        let ok = nonce
            .as_deref()
            .is_some_and(|got| constant_time_eq(got, sent));
        if !ok {
            return Err(fail(
                IdTokenCheck::Nonce,
                "ID token `nonce` does not match the login request",
            ));
        }
    }
    if expected.previous.is_some() && nonce.is_some() {
        let same = matches!((nonce.as_deref(), expected.previous_nonce), (Some(a), Some(b)) if constant_time_eq(a, b));
        if !same {
            return Err(fail(
                IdTokenCheck::Nonce,
                "refreshed ID token carries a nonce other than the login's",
            ));
        }
    }
    if let Some(prev) = expected.previous {
        let same_auth_time = match (claims.auth_time, prev.auth_time) {
            (Some(x), Some(y)) => x == y,
            _ => true,
        };
        if claims.issuer != prev.issuer
            || claims.subject != prev.subject
            || !same_audiences(&claims.audience, &prev.audience)
            || claims.authorized_party != prev.authorized_party
            || !same_auth_time
        {
            return Err(fail(
                IdTokenCheck::SubjectChanged,
                "refreshed ID token does not belong to the signed-in user (iss, sub, aud, azp or auth_time changed)",
            ));
        }
    }
    Ok(claims)
}

/// Whether `a` and `b` hold the same audiences, each as often, in any order. Counted rather
/// than sorted: a handful of values, and no sorting code in the mobile library (issue 9).
fn same_audiences(a: &[String], b: &[String]) -> bool {
    let count = |list: &[String], x: &String| list.iter().filter(|y| *y == x).count();
    a.len() == b.len() && a.iter().all(|x| count(a, x) == count(b, x))
}

/// Decodes `token`, verifies its signature with a key from `keys`, then checks its claims.
pub(crate) async fn validate(
    token: &str,
    expected: &Expected<'_>,
    keys: &KeySource<'_>,
) -> Result<IdTokenClaims> {
    let decoded = jws::decode(token)?;
    let key = keys
        .cache
        .key_for(
            keys.http,
            keys.jwks_uri,
            keys.now,
            decoded.alg,
            decoded.kid.as_deref(),
        )
        .await?;
    if let Err(e) = decoded.verify(&key) {
        // Without a kid, a failed signature may mean the provider rotated its only key.
        let rotated = if decoded.kid.is_none() {
            keys.cache
                .refetch_for_kidless(keys.http, keys.jwks_uri, keys.now, decoded.alg)
                .await?
        } else {
            None
        };
        match rotated {
            Some(new_key) => decoded.verify(&new_key)?,
            None => return Err(e),
        }
    }
    check_claims(decoded.claims, expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audiences_are_compared_in_any_order_each_as_often() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(same_audiences(
            &list(&["app", "api"]),
            &list(&["api", "app"])
        ));
        assert!(same_audiences(&list(&[]), &list(&[])));
        assert!(!same_audiences(&list(&["app"]), &list(&["app", "api"])));
        assert!(!same_audiences(
            &list(&["app", "app", "api"]),
            &list(&["app", "api", "api"])
        ));
        assert!(!same_audiences(&list(&["app"]), &list(&["api"])));
    }

    const NOW: i64 = 1_800_000_000;

    fn expected(nonce: Option<&'static str>) -> Expected<'static> {
        Expected {
            issuer: "https://auth.company.com",
            client_id: "app",
            nonce,
            previous: None,
            previous_nonce: None,
            now: NOW,
            skew: 60,
        }
    }

    fn claims() -> Value {
        json!({"iss": "https://auth.company.com", "sub": "u1", "aud": "app", "exp": NOW + 300,
               "iat": NOW, "nonce": "n-1", "email": "a@b.c", "email_verified": "yes", "tenant": "t1"})
    }

    fn check(c: Value, e: &Expected<'_>) -> Result<IdTokenClaims> {
        check_claims(c.as_object().unwrap().clone(), e)
    }

    fn with(field: &str, value: Value) -> Value {
        let mut c = claims();
        if value.is_null() {
            c.as_object_mut().unwrap().remove(field);
        } else {
            c[field] = value;
        }
        c
    }

    fn failed(c: Value, e: &Expected<'_>) -> Option<IdTokenCheck> {
        check(c, e).err().and_then(|e| e.id_token_check())
    }

    #[test]
    fn accepts_a_valid_token_and_types_the_claims() {
        let c = check(claims(), &expected(Some("n-1"))).unwrap();
        assert_eq!(c.subject, "u1");
        assert_eq!(c.email.as_deref(), Some("a@b.c"));
        // A profile claim of the wrong type is dropped, not fatal.
        assert_eq!(c.email_verified, None);
        assert_eq!(c.extra.get("tenant"), Some(&json!("t1")));
        assert!(!c.extra.contains_key("nonce"));
    }

    #[test]
    fn each_required_claim_is_required() {
        for name in ["iss", "sub", "aud", "exp", "iat"] {
            assert_eq!(
                failed(with(name, Value::Null), &expected(None)),
                Some(IdTokenCheck::MissingClaim),
                "{name}"
            );
        }
        assert_eq!(
            failed(with("sub", json!("")), &expected(None)),
            Some(IdTokenCheck::MissingClaim)
        );
    }

    #[test]
    fn mistyped_claims_are_rejected_not_ignored() {
        for (name, value) in [
            ("exp", json!("9999999999")),
            ("iat", json!("0")),
            ("iss", json!(["https://auth.company.com"])),
            ("sub", json!(42)),
            ("aud", json!(["app", 7])),
            ("aud", json!([])),
            ("azp", json!(true)),
            ("nonce", json!(1)),
            ("auth_time", json!("x")),
        ] {
            assert_eq!(
                failed(with(name, value.clone()), &expected(None)),
                Some(IdTokenCheck::ClaimType),
                "{name}={value}"
            );
        }
    }

    #[test]
    fn issuer_audience_and_azp() {
        let e = expected(None);
        assert_eq!(
            failed(with("iss", json!("https://evil.example")), &e),
            Some(IdTokenCheck::Issuer)
        );
        assert_eq!(
            failed(with("aud", json!("other")), &e),
            Some(IdTokenCheck::Audience)
        );
        assert_eq!(
            failed(with("aud", json!(["app", "other"])), &e),
            Some(IdTokenCheck::Audience)
        );
        let mut c = with("aud", json!(["app", "other"]));
        c["azp"] = json!("app");
        assert!(check(c.clone(), &e).is_ok());
        c["azp"] = json!("other");
        assert_eq!(failed(c, &e), Some(IdTokenCheck::AuthorizedParty));
        assert_eq!(
            failed(with("azp", json!("other")), &e),
            Some(IdTokenCheck::AuthorizedParty)
        );
    }

    #[test]
    fn time_checks_allow_only_the_configured_skew() {
        let e = expected(None);
        assert!(check(with("exp", json!(NOW - 60)), &e).is_ok());
        assert_eq!(
            failed(with("exp", json!(NOW - 61)), &e),
            Some(IdTokenCheck::Expired)
        );
        assert!(check(with("iat", json!(NOW + 60)), &e).is_ok());
        assert_eq!(
            failed(with("iat", json!(NOW + 61)), &e),
            Some(IdTokenCheck::IssuedInFuture)
        );
        // Fractional NumericDates are fine.
        assert!(check(with("exp", json!((NOW + 10) as f64 + 0.5)), &e).is_ok());
        assert_eq!(
            failed(with("exp", json!(-1e300)), &e),
            Some(IdTokenCheck::Expired)
        );
    }

    #[test]
    fn nonce_must_match_when_one_was_sent() {
        assert_eq!(
            failed(claims(), &expected(Some("n-2"))),
            Some(IdTokenCheck::Nonce)
        );
        assert_eq!(
            failed(with("nonce", Value::Null), &expected(Some("n-1"))),
            Some(IdTokenCheck::Nonce)
        );
        // Refresh: no nonce expected.
        assert!(check(with("nonce", Value::Null), &expected(None)).is_ok());
    }

    #[test]
    fn refreshed_token_must_keep_the_same_user() {
        let first = check(claims(), &expected(Some("n-1"))).unwrap();
        let mut e = expected(None);
        e.previous = Some(&first);
        assert!(check(with("nonce", Value::Null), &e).is_ok());
        // A nonce on a refreshed token must be the login's.
        assert_eq!(failed(claims(), &e), Some(IdTokenCheck::Nonce));
        e.previous_nonce = Some("n-1");
        assert!(check(claims(), &e).is_ok());
        assert_eq!(
            failed(with("sub", json!("u2")), &e),
            Some(IdTokenCheck::SubjectChanged)
        );
        assert_eq!(
            failed(with("azp", json!("app")), &e),
            Some(IdTokenCheck::SubjectChanged)
        );
    }

    #[test]
    fn refreshed_token_must_keep_the_auth_time_when_both_carry_one() {
        let first = check(with("auth_time", json!(NOW - 5)), &expected(Some("n-1"))).unwrap();
        let mut e = expected(None);
        e.previous = Some(&first);
        e.previous_nonce = Some("n-1");
        assert!(check(with("auth_time", json!(NOW - 5)), &e).is_ok());
        // Leaving it out is allowed (§12.2 does not require it on a refreshed token).
        assert!(check(claims(), &e).is_ok());
        assert_eq!(
            failed(with("auth_time", json!(NOW - 4)), &e),
            Some(IdTokenCheck::SubjectChanged)
        );
    }
}
