//! The token endpoint (RFC 6749 §4.1.3, §6) and revocation (RFC 7009), with a DPoP proof
//! (RFC 9449) on each request when the session is sender-constrained.

use serde_json::{Map, Value};
use url::Url;

use crate::error::{Error, Result};
use crate::http::{Http, HttpMethod, HttpResponse, form, parse_json_object};
use crate::oidc::dpop::{self, Dpop, ProvenRequest, ServerRole};
use crate::secret::SecretString;

/// How a request to the token or revocation endpoint proves possession of the session's key:
/// `None` for Bearer tokens, a DPoP proof made at `now` otherwise.
#[derive(Clone, Copy)]
pub(crate) struct Proof<'a> {
    pub dpop: &'a Dpop,
    /// Seconds since the epoch, for the proof's `iat`.
    pub now: i64,
}

/// POSTs a form, with a DPoP proof (and one retry with the server's nonce) when `proof` is set.
async fn post(
    http: &Http,
    proof: Option<Proof<'_>>,
    url: &Url,
    params: &[(&str, &str)],
    what: &str,
) -> Result<HttpResponse> {
    let Some(proof) = proof else {
        return http.post_form(url, params, what).await;
    };
    let (headers, body) = form(params);
    let request = ProvenRequest {
        method: HttpMethod::Post,
        url,
        headers,
        body,
        access_token: None,
        now: proof.now,
        role: ServerRole::Authorization,
        what,
    };
    dpop::send(http, proof.dpop, request).await
}

/// A validated successful token response.
#[derive(Debug, Clone)]
pub(crate) struct TokenResponse {
    pub access_token: SecretString,
    /// Seconds the access token lives, when the provider says.
    pub expires_in: Option<u64>,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
    /// The granted scopes when the provider lists them (space-separated in the response): empty
    /// when it granted none of the requested ones (`"scope": ""`). `None`: the provider did not
    /// say, which means as requested (RFC 6749 §5.1).
    pub scope: Option<Vec<String>>,
    /// The provider's clock when it answered (its `Date` header), seconds since the epoch.
    pub server_time: Option<i64>,
}

/// Exchanges an authorization code (with its PKCE verifier) for tokens.
pub(crate) async fn exchange_code(
    http: &Http,
    token_endpoint: &Url,
    client_id: &str,
    redirect_uri: &str,
    code: &SecretString,
    verifier: &SecretString,
    proof: Option<Proof<'_>>,
) -> Result<TokenResponse> {
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code.expose()),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id),
        ("code_verifier", verifier.expose()),
    ];
    let response = post(http, proof, token_endpoint, &params, "token endpoint").await?;
    let tokens = parse_token_response_as(&response, proof.is_some())?;
    if tokens.id_token.is_none() {
        return Err(Error::invalid_response(
            "token endpoint: the code exchange returned no id_token (is the `openid` scope granted?)",
        ));
    }
    Ok(tokens)
}

/// A refresh that produced no usable tokens.
pub(crate) struct RefreshFailure {
    pub error: Error,
    /// A new refresh token found in a `200` response that was otherwise unusable (a bad
    /// `token_type`, `expires_in`, a missing access token…). The provider has issued it and may
    /// have rotated the old one out already, so the caller must keep it.
    pub rotated_refresh_token: Option<SecretString>,
}

impl From<Error> for RefreshFailure {
    fn from(error: Error) -> Self {
        RefreshFailure {
            error,
            rotated_refresh_token: None,
        }
    }
}

/// Uses a refresh token (`grant_type=refresh_token`).
pub(crate) async fn refresh(
    http: &Http,
    token_endpoint: &Url,
    client_id: &str,
    refresh_token: &SecretString,
    proof: Option<Proof<'_>>,
) -> std::result::Result<TokenResponse, RefreshFailure> {
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", client_id),
    ];
    let response = post(http, proof, token_endpoint, &params, "token endpoint").await?;
    parse_token_response_as(&response, proof.is_some()).map_err(|error| RefreshFailure {
        error,
        rotated_refresh_token: rotated_refresh_token(&response),
    })
}

/// The non-empty `refresh_token` string of a `200` JSON object response, whatever else in it
/// is wrong.
fn rotated_refresh_token(response: &HttpResponse) -> Option<SecretString> {
    if response.status != 200 {
        return None;
    }
    let body = parse_json_object(&response.body, "token endpoint").ok()?;
    let token = optional_string(&body, "refresh_token").ok()??;
    Some(SecretString::new(token))
}

/// Revokes a token (RFC 7009). `hint` is `refresh_token` or `access_token`.
pub(crate) async fn revoke(
    http: &Http,
    revocation_endpoint: &Url,
    client_id: &str,
    token: &SecretString,
    hint: &str,
    proof: Option<Proof<'_>>,
) -> Result<()> {
    let params = [
        ("token", token.expose()),
        ("token_type_hint", hint),
        ("client_id", client_id),
    ];
    let response = post(
        http,
        proof,
        revocation_endpoint,
        &params,
        "revocation endpoint",
    )
    .await?;
    match response.status {
        200 => Ok(()),
        _ => Err(error_response(&response, "revocation endpoint")),
    }
}

/// Turns a non-200 answer into an error: an OAuth error object for 4xx (RFC 6749 §5.2), an HTTP
/// status error (retryable where it makes sense) otherwise.
pub(crate) fn error_response(response: &HttpResponse, what: &str) -> Error {
    let status = response.status;
    if status < 500
        && status != 429
        && let Ok(body) = parse_json_object(&response.body, what)
        && let Some(Value::String(code)) = body.get("error")
    {
        let description = body.get("error_description").and_then(Value::as_str);
        return Error::provider(code, description, Some(status));
    }
    crate::http::unexpected_status(response, what)
}

/// Validates a token endpoint response: status 200, a JSON object, `token_type` Bearer, and each
/// field of the right JSON type.
#[cfg(test)]
pub(crate) fn parse_token_response(response: &HttpResponse) -> Result<TokenResponse> {
    parse_token_response_as(response, false)
}

/// [`parse_token_response`] for a request that carried a DPoP proof (`dpop`): then `token_type`
/// must be `DPoP` — a Bearer answer would leave the session unbound although the provider
/// advertises DPoP — and without a proof it must be `Bearer` (a DPoP-bound token cannot be
/// used without its key).
pub(crate) fn parse_token_response_as(
    response: &HttpResponse,
    dpop: bool,
) -> Result<TokenResponse> {
    const WHAT: &str = "token endpoint";
    if response.status != 200 {
        return Err(error_response(response, WHAT));
    }
    let body = parse_json_object(&response.body, WHAT)?;
    let access_token = required_string(&body, "access_token")?;
    let token_type = required_string(&body, "token_type")?;
    let expected = if dpop { "DPoP" } else { "Bearer" };
    if !token_type.eq_ignore_ascii_case(expected) {
        return Err(Error::invalid_response(format!(
            "{WHAT}: token_type must be {expected}, got `{}`",
            token_type.chars().take(20).collect::<String>()
        )));
    }
    let expires_in = match body.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(secs) => Some(secs),
            None => return Err(invalid(WHAT, "expires_in must be a non-negative integer")),
        },
        Some(_) => return Err(invalid(WHAT, "expires_in must be a number")),
    };
    // RFC 6749 §5.1: the granted scope may differ from the requested one, down to none of it
    // (a provider with resource indicators answers `"scope": ""` when no requested scope
    // applies to the resource). Unlike an empty token, an empty scope is an answer.
    let scope = match body.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Some(_) => return Err(invalid(WHAT, "`scope` must be a string")),
    };
    Ok(TokenResponse {
        access_token: SecretString::new(access_token),
        expires_in,
        refresh_token: optional_string(&body, "refresh_token")?.map(SecretString::new),
        id_token: optional_string(&body, "id_token")?.map(SecretString::new),
        scope,
        server_time: response.date(),
    })
}

fn invalid(what: &str, message: &str) -> Error {
    Error::invalid_response(format!("{what}: {message}"))
}

fn required_string(body: &Map<String, Value>, name: &str) -> Result<String> {
    optional_string(body, name)?
        .ok_or_else(|| invalid("token endpoint", &format!("`{name}` is missing")))
}

fn optional_string(body: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => {
            Err(invalid("token endpoint", &format!("`{name}` is empty")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(
            "token endpoint",
            &format!("`{name}` must be a string"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    fn ok_body() -> Value {
        json!({"access_token": "AT", "token_type": "Bearer", "expires_in": 300,
               "refresh_token": "RT", "id_token": "IDT", "scope": "openid email"})
    }

    #[test]
    fn a_new_refresh_token_is_found_in_an_unusable_response() {
        let rt = |status, body: &str| {
            rotated_refresh_token(&resp(status, body)).map(|t| t.expose().to_string())
        };
        let mut bad = ok_body();
        bad["token_type"] = json!("mac");
        assert!(parse_token_response(&resp(200, &bad.to_string())).is_err());
        assert_eq!(rt(200, &bad.to_string()).as_deref(), Some("RT"));
        bad["access_token"] = Value::Null;
        assert_eq!(rt(200, &bad.to_string()).as_deref(), Some("RT"));
        // Nothing to keep: no token, an empty or non-string one, not JSON, not a 200.
        bad["refresh_token"] = json!("");
        assert_eq!(rt(200, &bad.to_string()), None);
        bad["refresh_token"] = json!(7);
        assert_eq!(rt(200, &bad.to_string()), None);
        assert_eq!(rt(200, r#"{"refresh_token": "RT""#), None);
        assert_eq!(rt(400, &ok_body().to_string()), None);
    }

    #[test]
    fn parses_a_good_response() {
        let t = parse_token_response(&resp(200, &ok_body().to_string())).unwrap();
        assert_eq!(t.access_token.expose(), "AT");
        assert_eq!(t.expires_in, Some(300));
        assert_eq!(
            t.scope.as_deref(),
            Some(&["openid".to_string(), "email".to_string()][..])
        );
        assert_eq!(t.server_time, None);
        let mut dated = resp(200, &ok_body().to_string());
        dated
            .headers
            .push(("Date".into(), "Sun, 06 Nov 1994 08:49:37 GMT".into()));
        assert_eq!(
            parse_token_response(&dated).unwrap().server_time,
            Some(784111777)
        );
        let lower = parse_token_response(&resp(
            200,
            &json!({"access_token": "AT", "token_type": "bearer"}).to_string(),
        ))
        .unwrap();
        assert!(lower.refresh_token.is_none() && lower.expires_in.is_none());
    }

    #[test]
    fn an_empty_scope_is_granted_none_and_an_absent_one_is_as_requested() {
        let scope = |value: Value| {
            let mut body = ok_body();
            if value.is_null() {
                body.as_object_mut().unwrap().remove("scope");
            } else {
                body["scope"] = value;
            }
            parse_token_response(&resp(200, &body.to_string()))
                .unwrap()
                .scope
        };
        assert_eq!(scope(json!("")), Some(vec![]));
        assert_eq!(scope(json!(" ")), Some(vec![]));
        assert_eq!(scope(json!("openid")), Some(vec!["openid".to_string()]));
        assert_eq!(scope(Value::Null), None);
        let explicit_null = json!({"access_token": "AT", "token_type": "Bearer", "scope": null});
        let parsed = parse_token_response(&resp(200, &explicit_null.to_string())).unwrap();
        assert_eq!(parsed.scope, None);
    }

    #[test]
    fn rejects_malformed_responses() {
        for (field, value) in [
            ("access_token", Value::Null),
            ("access_token", json!(5)),
            ("access_token", json!("")),
            ("token_type", json!("mac")),
            ("token_type", Value::Null),
            ("expires_in", json!("3600")),
            ("expires_in", json!(-1)),
            ("expires_in", json!(1.5)),
            ("refresh_token", json!({})),
            ("id_token", json!(["x"])),
            ("scope", json!(["openid"])),
        ] {
            let mut body = ok_body();
            if value.is_null() {
                body.as_object_mut().unwrap().remove(field);
            } else {
                body[field] = value.clone();
            }
            let e = parse_token_response(&resp(200, &body.to_string())).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{field}={value}");
            assert!(!e.to_string().contains("AT\""));
        }
        for body in ["", "{\"access_token\":", "<html>oops</html>", "[]"] {
            let e = parse_token_response(&resp(200, body)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{body}");
        }
    }

    #[test]
    fn a_proof_asks_for_a_dpop_token_and_no_proof_for_a_bearer_one() {
        let mut body = ok_body();
        body["token_type"] = json!("DPoP");
        assert!(parse_token_response_as(&resp(200, &body.to_string()), true).is_ok());
        let e = parse_token_response(&resp(200, &body.to_string())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse);
        body["token_type"] = json!("dpop");
        assert!(parse_token_response_as(&resp(200, &body.to_string()), true).is_ok());
        // Downgraded to Bearer although a proof was sent: the session would not be bound.
        let e = parse_token_response_as(&resp(200, &ok_body().to_string()), true).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    }

    #[test]
    fn error_responses_are_typed() {
        let e = parse_token_response(&resp(
            400,
            r#"{"error":"invalid_grant","error_description":"used"}"#,
        ))
        .unwrap_err();
        assert_eq!(
            (e.kind(), e.provider_error()),
            (ErrorKind::Provider, Some("invalid_grant"))
        );
        let e = parse_token_response(&resp(500, r#"{"error":"server_error"}"#)).unwrap_err();
        assert_eq!(
            (e.kind(), e.http_status_code(), e.is_retryable()),
            (ErrorKind::HttpStatus, Some(500), true)
        );
        let e = parse_token_response(&resp(401, "nope")).unwrap_err();
        assert_eq!((e.kind(), e.is_retryable()), (ErrorKind::HttpStatus, false));
        let e = parse_token_response(&resp(429, "slow down")).unwrap_err();
        assert!(e.is_retryable());
        let e = parse_token_response(&resp(302, "")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::HttpStatus);
    }
}
