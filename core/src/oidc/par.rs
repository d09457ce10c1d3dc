//! Pushed authorization requests (RFC 9126): the authorization parameters go to the provider
//! over the back channel, and the browser gets only `client_id` and the `request_uri` that
//! stands for them, so nothing on the front channel can read or alter them.

use url::Url;

use crate::error::{Error, Result};
use crate::http::{Http, parse_json_object};
use crate::oidc::token::error_response;

const WHAT: &str = "pushed authorization request endpoint";

/// What the provider gave for a pushed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PushedRequest {
    /// Stands for the pushed parameters at the authorization endpoint; single use.
    pub request_uri: String,
    /// Seconds the `request_uri` may wait before the browser uses it.
    pub expires_in: u64,
}

/// Pushes the authorization parameters (a public client: `client_id` is among them).
pub(crate) async fn push(
    http: &Http,
    endpoint: &Url,
    params: &[(String, String)],
) -> Result<PushedRequest> {
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let response = http.post_form(endpoint, &pairs, WHAT).await?;
    // RFC 9126 §2.2 answers 201 Created; some providers say 200.
    if !matches!(response.status, 200 | 201) {
        return Err(error_response(&response, WHAT));
    }
    let body = parse_json_object(&response.body, WHAT)?;
    let request_uri = match body.get("request_uri").and_then(|v| v.as_str()) {
        Some(uri) if !uri.is_empty() => uri.to_string(),
        _ => return Err(invalid("`request_uri` is missing or not a string")),
    };
    let expires_in = match body.get("expires_in").and_then(|v| v.as_u64()) {
        Some(secs) if secs > 0 => secs,
        _ => return Err(invalid("`expires_in` must be a positive integer")),
    };
    log::debug!("authorization request pushed; its request_uri lives {expires_in} s");
    Ok(PushedRequest {
        request_uri,
        expires_in,
    })
}

fn invalid(message: &str) -> Error {
    Error::invalid_response(format!("{WHAT}: {message}"))
}

/// The URL the browser opens for a pushed request: the authorization endpoint (with any query
/// of its own) plus `client_id` and `request_uri`, nothing else (RFC 9126 §4).
pub(crate) fn browser_url(
    authorization_endpoint: &Url,
    client_id: &str,
    pushed: &PushedRequest,
) -> Url {
    let mut url = authorization_endpoint.clone();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", &pushed.request_uri);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::http::{HttpRequest, HttpResponse, HttpTransport, TransportError};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Answers every request with one canned response and keeps the requests.
    struct Canned(u16, &'static str, Mutex<Vec<HttpRequest>>);

    #[async_trait::async_trait]
    impl HttpTransport for Canned {
        async fn send(
            &self,
            request: HttpRequest,
        ) -> std::result::Result<HttpResponse, TransportError> {
            self.2.lock().unwrap().push(request);
            Ok(HttpResponse {
                status: self.0,
                headers: vec![],
                body: self.1.as_bytes().to_vec(),
            })
        }
    }

    async fn push_answered(
        status: u16,
        body: &'static str,
    ) -> (Result<PushedRequest>, Vec<HttpRequest>) {
        let transport = Arc::new(Canned(status, body, Mutex::new(Vec::new())));
        let http = Http::new(transport.clone(), Duration::from_secs(5), 1 << 16);
        let endpoint = Url::parse("https://auth.example/par").unwrap();
        let params = vec![
            ("client_id".to_string(), "app".to_string()),
            ("state".to_string(), "s t".to_string()),
        ];
        let result = push(&http, &endpoint, &params).await;
        let requests = transport.2.lock().unwrap().clone();
        (result, requests)
    }

    #[tokio::test]
    async fn a_pushed_request_gives_the_browser_only_client_id_and_request_uri() {
        let (pushed, requests) = push_answered(
            201,
            r#"{"request_uri":"urn:ietf:params:oauth:request_uri:abc","expires_in":60}"#,
        )
        .await;
        let pushed = pushed.unwrap();
        assert_eq!(pushed.expires_in, 60);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].body, b"client_id=app&state=s+t");
        let endpoint = Url::parse("https://auth.example/authorize?tenant=x").unwrap();
        assert_eq!(
            browser_url(&endpoint, "app", &pushed).as_str(),
            "https://auth.example/authorize?tenant=x&client_id=app&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc"
        );
    }

    #[tokio::test]
    async fn errors_and_malformed_answers_are_typed() {
        let (e, _) = push_answered(
            400,
            r#"{"error":"invalid_request","error_description":"no"}"#,
        )
        .await;
        let e = e.unwrap_err();
        assert_eq!(
            (e.kind(), e.provider_error()),
            (ErrorKind::Provider, Some("invalid_request"))
        );
        let (e, _) = push_answered(503, "down").await;
        assert!(e.unwrap_err().is_retryable());
        for body in [
            r#"{"expires_in":60}"#,
            r#"{"request_uri":"","expires_in":60}"#,
            r#"{"request_uri":"urn:x","expires_in":0}"#,
            r#"{"request_uri":"urn:x","expires_in":"60"}"#,
            r#"{"request_uri":"urn:x"}"#,
            "not json",
        ] {
            let (e, _) = push_answered(201, body).await;
            assert_eq!(e.unwrap_err().kind(), ErrorKind::InvalidResponse, "{body}");
        }
    }
}
