//! OAuth 2.0 Token Exchange (RFC 8693): the request to a second authorization server and the
//! checks of its answer.

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::http::{Http, parse_json_object};
use crate::oidc::token::{TokenResponse, parse_token_response};
use crate::secret::SecretString;

/// `grant_type` of a token exchange (RFC 8693 §2.1).
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Token type URI of an OAuth access token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// Token type URI of an OpenID Connect ID token (RFC 8693 §3).
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// One token exchange request.
pub(crate) struct Request<'a> {
    pub client_id: &'a str,
    /// The token that says who the user is, and its type URI.
    pub subject: (&'a SecretString, &'a str),
    /// The token of the party acting for the user, and its type URI (delegation).
    pub actor: Option<(&'a SecretString, &'a str)>,
    pub audience: &'a [String],
    pub resource: &'a [String],
    pub scope: &'a [String],
    pub requested_token_type: Option<&'a str>,
}

/// A successful exchange: the token response and the type of the issued token.
pub(crate) struct Exchanged {
    pub tokens: TokenResponse,
    pub issued_token_type: String,
}

/// Sends the exchange to `token_endpoint` and checks the answer: a token response (status 200,
/// a JSON object, a non-empty `access_token`, `token_type` Bearer, every field of its type)
/// with an `issued_token_type` URI, which is the requested type when one was requested. An
/// error answer is a `Provider` error with its OAuth code (`invalid_grant`: the subject was
/// rejected; `invalid_target`: an audience or resource it does not serve).
pub(crate) async fn exchange(
    http: &Http,
    token_endpoint: &Url,
    request: &Request<'_>,
) -> Result<Exchanged> {
    let scope = request.scope.join(" ");
    let mut params = vec![
        ("grant_type", GRANT_TYPE),
        ("client_id", request.client_id),
        ("subject_token", request.subject.0.expose()),
        ("subject_token_type", request.subject.1),
    ];
    if let Some((token, token_type)) = request.actor {
        params.push(("actor_token", token.expose()));
        params.push(("actor_token_type", token_type));
    }
    params.extend(request.audience.iter().map(|a| ("audience", a.as_str())));
    params.extend(request.resource.iter().map(|r| ("resource", r.as_str())));
    if !scope.is_empty() {
        params.push(("scope", &scope));
    }
    if let Some(requested) = request.requested_token_type {
        params.push(("requested_token_type", requested));
    }
    let response = http
        .post_form(token_endpoint, &params, "token exchange")
        .await?;
    let tokens = parse_token_response(&response)?;
    let body = parse_json_object(&response.body, "token exchange")?;
    let issued_token_type = match body.get("issued_token_type") {
        Some(Value::String(t)) if is_type_uri(t) => t.clone(),
        Some(Value::String(_)) => {
            return Err(invalid("`issued_token_type` is not a token type URI"));
        }
        None | Some(Value::Null) => return Err(invalid("`issued_token_type` is missing")),
        Some(_) => return Err(invalid("`issued_token_type` must be a string")),
    };
    if request
        .requested_token_type
        .is_some_and(|requested| requested != issued_token_type)
    {
        return Err(invalid("the issued token is not of the requested type"));
    }
    Ok(Exchanged {
        tokens,
        issued_token_type,
    })
}

fn invalid(message: &str) -> Error {
    Error::invalid_response(format!("token exchange: {message}"))
}

/// An absolute URI without spaces, as token type identifiers are (RFC 8693 §3).
fn is_type_uri(value: &str) -> bool {
    Url::parse(value).is_ok() && !value.contains(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::error::ErrorKind;
    use crate::http::{HttpRequest, HttpResponse, HttpTransport, TransportError};

    /// Answers every request with one JSON body and keeps the last request's form.
    struct OneAnswer(u16, Value, Mutex<Vec<(String, String)>>);

    #[async_trait]
    impl HttpTransport for OneAnswer {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
            *self.2.lock().unwrap() = url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect();
            Ok(HttpResponse {
                status: self.0,
                headers: vec![],
                body: self.1.to_string().into_bytes(),
            })
        }
    }

    fn good() -> Value {
        json!({"access_token": "AT", "token_type": "Bearer", "expires_in": 60,
               "issued_token_type": ACCESS_TOKEN_TYPE, "refresh_token": "RT"})
    }

    async fn run(
        status: u16,
        body: Value,
        requested: Option<&str>,
    ) -> (Result<Exchanged>, Vec<(String, String)>) {
        let transport = Arc::new(OneAnswer(status, body, Mutex::new(Vec::new())));
        let http = Http::new(transport.clone(), Duration::from_secs(5), 1 << 20);
        let subject = SecretString::new("ID-TOKEN");
        let actor = SecretString::new("ACTOR");
        let request = Request {
            client_id: "app",
            subject: (&subject, ID_TOKEN_TYPE),
            actor: Some((&actor, ACCESS_TOKEN_TYPE)),
            audience: &["https://crm.example".into()],
            resource: &["https://a.example".into(), "https://b.example".into()],
            scope: &["read".into(), "write".into()],
            requested_token_type: requested,
        };
        let endpoint = Url::parse("https://internal.example/token").unwrap();
        let result = exchange(&http, &endpoint, &request).await;
        let form = transport.2.lock().unwrap().clone();
        (result, form)
    }

    #[tokio::test]
    async fn the_request_carries_every_parameter_and_a_good_answer_is_read() {
        let (result, form) = run(200, good(), Some(ACCESS_TOKEN_TYPE)).await;
        let exchanged = result.unwrap();
        assert_eq!(exchanged.tokens.access_token.expose(), "AT");
        assert_eq!(exchanged.issued_token_type, ACCESS_TOKEN_TYPE);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("grant_type", GRANT_TYPE),
                ("client_id", "app"),
                ("subject_token", "ID-TOKEN"),
                ("subject_token_type", ID_TOKEN_TYPE),
                ("actor_token", "ACTOR"),
                ("actor_token_type", ACCESS_TOKEN_TYPE),
                ("audience", "https://crm.example"),
                ("resource", "https://a.example"),
                ("resource", "https://b.example"),
                ("scope", "read write"),
                ("requested_token_type", ACCESS_TOKEN_TYPE),
            ]
        );
    }

    #[tokio::test]
    async fn unusable_answers_are_refused() {
        let with = |name: &str, value: Value| {
            let mut body = good();
            if value.is_null() {
                body.as_object_mut().unwrap().remove(name);
            } else {
                body[name] = value;
            }
            body
        };
        for (body, requested) in [
            (with("issued_token_type", Value::Null), None),
            (with("issued_token_type", json!(5)), None),
            (with("issued_token_type", json!("access token")), None),
            (
                with("issued_token_type", json!(ID_TOKEN_TYPE)),
                Some(ACCESS_TOKEN_TYPE),
            ),
            (with("token_type", json!("N_A")), None),
            (with("access_token", Value::Null), None),
            (with("expires_in", json!("60")), None),
        ] {
            let (result, _) = run(200, body.clone(), requested).await;
            let e = result.err().unwrap_or_else(|| panic!("accepted {body}"));
            assert_eq!(e.kind(), ErrorKind::InvalidResponse, "{body}");
            assert!(!e.to_string().contains("AT\""), "{e}");
        }
    }

    #[tokio::test]
    async fn a_rejected_subject_or_target_is_a_typed_provider_error() {
        for code in ["invalid_grant", "invalid_target", "invalid_request"] {
            let (result, _) = run(400, json!({"error": code}), None).await;
            let e = result.err().unwrap();
            assert_eq!(
                (e.kind(), e.provider_error()),
                (ErrorKind::Provider, Some(code))
            );
        }
    }
}
