//! OpenID Provider metadata (OpenID Connect Discovery 1.0), fetched (or revalidated) and validated.

use serde_json::{Map, Value};
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::http::Http;
use crate::http::caching::CachedDocument;
use crate::http::url_policy::endpoint_url;

/// The parts of the provider's metadata Keyfob uses, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// The issuer, equal to the configured one.
    pub issuer: String,
    /// Where the browser goes to sign in.
    pub authorization_endpoint: Url,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: Url,
    /// The provider's signing keys.
    pub jwks_uri: Url,
    /// UserInfo endpoint, if offered.
    pub userinfo_endpoint: Option<Url>,
    /// Token revocation (RFC 7009), if offered.
    pub revocation_endpoint: Option<Url>,
    /// RP-initiated logout, if offered.
    pub end_session_endpoint: Option<Url>,
    /// Whether the provider sends `iss` in authorization responses (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// Where authorization requests are pushed (RFC 9126), if offered.
    pub pushed_authorization_request_endpoint: Option<Url>,
    /// Whether the provider accepts only pushed authorization requests (RFC 9126 §5).
    pub require_pushed_authorization_requests: bool,
    /// The DPoP proof algorithms the provider accepts (RFC 9449 §5.1); empty when it does not
    /// advertise DPoP.
    pub dpop_signing_alg_values_supported: Vec<String>,
}

/// The discovery URL for `issuer`: the issuer without trailing slash, plus
/// `/.well-known/openid-configuration`.
pub(crate) fn discovery_url(issuer: &str, insecure_hosts: &[String]) -> Result<Url> {
    let base = issuer.trim_end_matches('/');
    endpoint_url(
        &format!("{base}/.well-known/openid-configuration"),
        "issuer",
        insecure_hosts,
    )
}

/// Fetches and validates the metadata of `issuer` — or, when `cached` is a copy of it, asks
/// whether it changed (a `304` renews the copy, which is validated again all the same).
/// Returns the metadata and the document it was read from, for the cache.
pub(crate) async fn fetch(
    http: &Http,
    issuer: &str,
    insecure_hosts: &[String],
    now: i64,
    cached: Option<&CachedDocument>,
) -> Result<(ProviderMetadata, CachedDocument)> {
    let url = discovery_url(issuer, insecure_hosts)?;
    let document = http.get_document(&url, "discovery", now, cached).await?;
    let metadata = parse(&document.body, issuer, insecure_hosts)?;
    Ok((metadata, document))
}

fn discovery_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Discovery, message)
}

/// Validates a discovery document against the configured issuer.
pub(crate) fn parse(
    doc: &Map<String, Value>,
    expected_issuer: &str,
    insecure_hosts: &[String],
) -> Result<ProviderMetadata> {
    let issuer = required_str(doc, "issuer")?;
    if issuer != expected_issuer {
        return Err(discovery_error(format!(
            "discovery: the provider's issuer `{issuer}` differs from the configured issuer `{expected_issuer}`"
        )));
    }
    let url = |name: &str| -> Result<Url> {
        endpoint_url(required_str(doc, name)?, name, insecure_hosts)
    };
    let optional_url = |name: &str| -> Result<Option<Url>> {
        match doc.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => endpoint_url(s, name, insecure_hosts).map(Some),
            Some(_) => Err(discovery_error(format!(
                "discovery: `{name}` must be a string"
            ))),
        }
    };
    if let Some(methods) = optional_str_array(doc, "code_challenge_methods_supported")?
        && !methods.iter().any(|m| m == "S256")
    {
        return Err(discovery_error(
            "discovery: the provider does not support PKCE S256",
        ));
    }
    if let Some(types) = optional_str_array(doc, "response_types_supported")?
        && !types.iter().any(|t| t == "code")
    {
        return Err(discovery_error(
            "discovery: the provider does not support response_type=code",
        ));
    }
    let iss_supported = optional_bool(doc, "authorization_response_iss_parameter_supported")?;
    let par_endpoint = optional_url("pushed_authorization_request_endpoint")?;
    let par_required = optional_bool(doc, "require_pushed_authorization_requests")?;
    if par_required && par_endpoint.is_none() {
        return Err(discovery_error(
            "discovery: the provider requires pushed authorization requests but names no endpoint for them",
        ));
    }
    Ok(ProviderMetadata {
        issuer: issuer.to_string(),
        authorization_endpoint: url("authorization_endpoint")?,
        token_endpoint: url("token_endpoint")?,
        jwks_uri: url("jwks_uri")?,
        userinfo_endpoint: optional_url("userinfo_endpoint")?,
        revocation_endpoint: optional_url("revocation_endpoint")?,
        end_session_endpoint: optional_url("end_session_endpoint")?,
        authorization_response_iss_parameter_supported: iss_supported,
        pushed_authorization_request_endpoint: par_endpoint,
        require_pushed_authorization_requests: par_required,
        dpop_signing_alg_values_supported: optional_str_array(
            doc,
            "dpop_signing_alg_values_supported",
        )?
        .unwrap_or_default(),
    })
}

impl ProviderMetadata {
    /// Whether the provider takes DPoP proofs signed the way Keyfob signs them (ES256).
    pub fn supports_dpop(&self) -> bool {
        self.dpop_signing_alg_values_supported
            .iter()
            .any(|a| a == crate::oidc::dpop::DPOP_ALG)
    }
}

fn optional_bool(doc: &Map<String, Value>, name: &str) -> Result<bool> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(discovery_error(format!(
            "discovery: `{name}` must be a boolean"
        ))),
    }
}

fn required_str<'a>(doc: &'a Map<String, Value>, name: &str) -> Result<&'a str> {
    match doc.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(discovery_error(format!("discovery: `{name}` is missing")))
        }
        Some(_) => Err(discovery_error(format!(
            "discovery: `{name}` must be a string"
        ))),
    }
}

fn optional_str_array(doc: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    discovery_error(format!("discovery: `{name}` must hold strings"))
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(_) => Err(discovery_error(format!(
            "discovery: `{name}` must be an array"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn good() -> Value {
        json!({
            "issuer": "https://auth.company.com",
            "authorization_endpoint": "https://auth.company.com/authorize",
            "token_endpoint": "https://auth.company.com/token",
            "jwks_uri": "https://auth.company.com/.well-known/jwks.json",
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true
        })
    }

    #[test]
    fn parses_a_valid_document() {
        let m = parse(&doc(good()), "https://auth.company.com", &[]).unwrap();
        assert!(m.authorization_response_iss_parameter_supported);
        assert!(m.revocation_endpoint.is_none());
    }

    #[test]
    fn issuer_must_match_exactly() {
        for configured in [
            "https://auth.company.com/",
            "https://AUTH.company.com",
            "https://evil.example",
        ] {
            let e = parse(&doc(good()), configured, &[]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Discovery, "{configured}");
        }
    }

    #[test]
    fn rejects_unusable_documents() {
        let cases = [
            ("token_endpoint", json!(null)),
            ("token_endpoint", json!(42)),
            ("token_endpoint", json!("http://auth.company.com/token")),
            ("code_challenge_methods_supported", json!(["plain"])),
            ("response_types_supported", json!(["token"])),
            (
                "authorization_response_iss_parameter_supported",
                json!("yes"),
            ),
            ("require_pushed_authorization_requests", json!(true)),
            ("require_pushed_authorization_requests", json!("true")),
            ("pushed_authorization_request_endpoint", json!(7)),
            ("dpop_signing_alg_values_supported", json!("ES256")),
            ("dpop_signing_alg_values_supported", json!([256])),
        ];
        for (field, value) in cases {
            let mut d = good();
            d[field] = value.clone();
            let e = parse(&doc(d), "https://auth.company.com", &[]).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Discovery | ErrorKind::InsecureUrl),
                "{field}={value}: {e:?}"
            );
        }
    }

    #[test]
    fn every_endpoint_must_be_https_except_on_loopback() {
        for field in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "revocation_endpoint",
            "end_session_endpoint",
            "pushed_authorization_request_endpoint",
        ] {
            let mut d = good();
            d[field] = json!("http://auth.company.com/endpoint");
            let e = parse(&doc(d), "https://auth.company.com", &[]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InsecureUrl, "{field}");

            let mut d = good();
            d[field] = json!("http://127.0.0.1:8080/endpoint");
            let m = parse(&doc(d), "https://auth.company.com", &[]);
            assert!(m.is_ok(), "{field} on loopback: {:?}", m.err());
        }
        let mut d = good();
        d["end_session_endpoint"] = json!("https://auth.company.com/logout");
        let m = parse(&doc(d), "https://auth.company.com", &[]).unwrap();
        assert_eq!(
            m.end_session_endpoint.map(String::from).as_deref(),
            Some("https://auth.company.com/logout")
        );
    }

    #[test]
    fn par_and_dpop_as_advertised() {
        let m = parse(&doc(good()), "https://auth.company.com", &[]).unwrap();
        assert!(m.pushed_authorization_request_endpoint.is_none());
        assert!(!m.require_pushed_authorization_requests && !m.supports_dpop());
        let mut d = good();
        d["pushed_authorization_request_endpoint"] = json!("https://auth.company.com/par");
        d["require_pushed_authorization_requests"] = json!(true);
        d["dpop_signing_alg_values_supported"] = json!(["PS256", "ES256"]);
        let m = parse(&doc(d.clone()), "https://auth.company.com", &[]).unwrap();
        assert!(m.require_pushed_authorization_requests && m.supports_dpop());
        d["dpop_signing_alg_values_supported"] = json!(["RS256"]);
        let m = parse(&doc(d), "https://auth.company.com", &[]).unwrap();
        assert!(!m.supports_dpop(), "Keyfob signs ES256 only");
    }

    #[test]
    fn discovery_url_strips_trailing_slash() {
        assert_eq!(
            discovery_url("https://a.example/tenant/", &[])
                .unwrap()
                .as_str(),
            "https://a.example/tenant/.well-known/openid-configuration"
        );
    }
}
