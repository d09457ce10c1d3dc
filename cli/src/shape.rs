//! Token *shapes*: what a token looks like without showing the token.
//!
//! A shape keeps the length of a token and, for a JWT, a few header fields (`alg`, `kid`,
//! `typ`) and registered claims (`iss`, `sub`, `aud`, `exp`). The signature, the raw parts and
//! every other claim (`nonce`, `jti`, …) are dropped. Nothing here verifies anything: the core
//! has already validated the tokens it hands out; this is only for display.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value};

/// The visible shape of one token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenShape {
    /// Length of the token in bytes.
    pub len: usize,
    /// Header and claims, when the token is a JWT (compact JWS with JSON header and claims).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtShape>,
}

/// The non-secret parts of a JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JwtShape {
    /// Header `alg`.
    pub alg: Option<String>,
    /// Header `kid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Header `typ`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Claim `iss`.
    pub iss: Option<String>,
    /// Claim `sub`.
    pub sub: Option<String>,
    /// Claim `aud`, always as a list (a single string becomes a one-element list).
    pub aud: Vec<String>,
    /// Claim `exp`, seconds since the epoch.
    pub exp: Option<i64>,
}

impl TokenShape {
    /// The shape of `token`; `jwt` is `None` for an opaque token.
    pub fn of(token: &str) -> TokenShape {
        TokenShape {
            len: token.len(),
            jwt: JwtShape::of(token),
        }
    }
}

impl JwtShape {
    /// The shape of a compact JWS (`header.claims.signature`), or `None` if `token` is not one.
    pub fn of(token: &str) -> Option<JwtShape> {
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let header = decode_object(header)?;
        let claims = decode_object(claims)?;
        let text = |map: &Map<String, Value>, name: &str| {
            map.get(name).and_then(Value::as_str).map(str::to_owned)
        };
        let aud = match claims.get("aud") {
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) => many
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        Some(JwtShape {
            alg: text(&header, "alg"),
            kid: text(&header, "kid"),
            typ: text(&header, "typ"),
            iss: text(&claims, "iss"),
            sub: text(&claims, "sub"),
            aud,
            exp: claims.get("exp").and_then(Value::as_i64),
        })
    }
}

/// A base64url part decoded as a JSON object.
fn decode_object(part: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

impl fmt::Display for TokenShape {
    /// `RS256 kid=k1 sub=user-123 aud=[app] exp=1700000000 (812 bytes)`, or `opaque (43 bytes)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(jwt) = &self.jwt else {
            return write!(f, "opaque ({} bytes)", self.len);
        };
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        write!(f, "JWT {}", or_none(&jwt.alg))?;
        if let Some(kid) = &jwt.kid {
            write!(f, " kid={kid}")?;
        }
        write!(
            f,
            " iss={} sub={} aud=[{}]",
            or_none(&jwt.iss),
            or_none(&jwt.sub),
            jwt.aud.join(", ")
        )?;
        match jwt.exp {
            Some(exp) => write!(f, " exp={exp}")?,
            None => f.write_str(" exp=-")?,
        }
        write!(f, " ({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn keeps_only_the_shape_of_a_jwt() {
        let token = jwt(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"http://127.0.0.1:1","sub":"user-123","aud":"app","exp":1700000000,"nonce":"SECRET-NONCE"}"#,
        );
        let shape = TokenShape::of(&token);
        assert_eq!(shape.len, token.len());
        let jwt = shape.jwt.clone().unwrap();
        assert_eq!(jwt.alg.as_deref(), Some("RS256"));
        assert_eq!(jwt.kid.as_deref(), Some("k1"));
        assert_eq!(jwt.aud, vec!["app"]);
        assert_eq!(jwt.exp, Some(1_700_000_000));
        let shown = format!("{shape} {}", serde_json::to_string(&shape).unwrap());
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(!shown.contains("c2lnbmF0dXJl"), "{shown}");
        assert_eq!(
            shape.to_string(),
            format!(
                "JWT RS256 kid=k1 iss=http://127.0.0.1:1 sub=user-123 aud=[app] exp=1700000000 ({} bytes)",
                token.len()
            )
        );
    }

    #[test]
    fn audience_lists_and_missing_fields() {
        let shape = JwtShape::of(&jwt(r#"{"alg":"ES256"}"#, r#"{"aud":["a","b"]}"#)).unwrap();
        assert_eq!(shape.aud, vec!["a", "b"]);
        assert_eq!((shape.kid, shape.sub, shape.exp), (None, None, None));
    }

    #[test]
    fn opaque_tokens_show_only_their_length() {
        for token in ["abc", "a.b", "a.b.c.d", "e30.bm90IGpzb24.x", "W10.e30.x"] {
            let shape = TokenShape::of(token);
            assert_eq!(shape.jwt, None, "{token}");
            assert_eq!(shape.to_string(), format!("opaque ({} bytes)", token.len()));
        }
    }
}
