//! HTTP through a pluggable transport.
//!
//! The core never opens sockets itself: it hands an [`HttpRequest`] to an [`HttpTransport`]. On
//! iOS and Android the platform's stack (URLSession, HttpURLConnection) implements the trait, so
//! the library carries no TLS stack and honours the device's proxy, VPN and certificate
//! settings. The `reqwest` feature adds [`ReqwestTransport`] for desktop, CLI and tests.

pub(crate) mod caching;
pub(crate) mod date;
mod parse_url;
#[cfg(feature = "reqwest")]
mod reqwest_transport;
pub(crate) mod url_policy;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use url::Url;

use crate::error::{Error, ErrorKind, Result};

pub(crate) use parse_url::parse_url;
#[cfg(feature = "reqwest")]
pub use reqwest_transport::ReqwestTransport;

/// HTTP method of an [`HttpRequest`]. Keyfob only needs these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
}

/// One HTTP request, with the limits the transport must enforce.
#[derive(Clone)]
pub struct HttpRequest {
    /// GET or POST.
    pub method: HttpMethod,
    /// Absolute URL, already checked to be HTTPS or loopback.
    pub url: String,
    /// Request headers (names in lower case).
    pub headers: Vec<(String, String)>,
    /// Request body (empty for GET). May hold a code, verifier or refresh token: never log it.
    pub body: Vec<u8>,
    /// The whole exchange (connect, send, receive the full body) must finish within this time.
    pub timeout: Duration,
    /// The transport stops reading and fails with [`TransportErrorKind::TooLarge`] once the body
    /// exceeds this many bytes; it never buffers more.
    pub max_response_bytes: u64,
}

impl fmt::Debug for HttpRequest {
    // The body and the Authorization header carry secrets; the URL never does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &header_names)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A complete HTTP response. Redirects are returned as they are, never followed.
#[derive(Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers (names in any case; look them up with [`HttpResponse::header`]).
    pub headers: Vec<(String, String)>,
    /// The body, at most `max_response_bytes` long.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `Date` header as seconds since the epoch, when present and well-formed.
    pub(crate) fn date(&self) -> Option<i64> {
        date::parse(self.header("date")?)
    }
}

/// The longest wait taken from `Retry-After`: a day.
const MAX_RETRY_AFTER: u32 = 86_400;

/// The error for an answer whose status `what` did not expect: its status, and the wait its
/// `Retry-After` asks for.
pub(crate) fn unexpected_status(response: &HttpResponse, what: &str) -> Error {
    Error::http_status(
        response.status,
        format!("{what}: unexpected HTTP status {}", response.status),
    )
    .with_retry_after(retry_after(response))
}

/// The `Retry-After` of a 429 or 503 answer (RFC 9110 §10.2.3), in seconds from now, at most
/// [`MAX_RETRY_AFTER`]: delta-seconds, or an HTTP-date counted from the answer's own `Date`
/// (the device clock may be off; without `Date` the date form is not used).
fn retry_after(response: &HttpResponse) -> Option<u32> {
    if !matches!(response.status, 429 | 503) {
        return None;
    }
    let value = response.header("retry-after")?.trim();
    let secs = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: too many of them to parse is a long wait, not no wait.
        value.parse::<u32>().unwrap_or(MAX_RETRY_AFTER)
    } else {
        let wait = date::parse(value)? - response.date()?;
        u32::try_from(wait.max(0)).unwrap_or(MAX_RETRY_AFTER)
    };
    Some(secs.min(MAX_RETRY_AFTER))
}

impl fmt::Debug for HttpResponse {
    // Token responses carry secrets in the body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why a transport could not produce a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The request did not complete within its timeout.
    Timeout,
    /// The connection could not be made (DNS, refused, TLS handshake).
    Connect,
    /// The response body exceeded `max_response_bytes`.
    TooLarge,
    /// Anything else (reset mid-body, protocol error).
    Other,
}

/// A transport failure. The message must not contain URLs with query strings, headers or bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The kind of failure.
    pub kind: TransportErrorKind,
    /// A short description for developers.
    pub message: String,
}

impl TransportError {
    /// A transport error of `kind`.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            message: message.into(),
        }
    }
}

/// Sends HTTP requests for the core.
///
/// Every implementation keeps this contract: it enforces the request's timeout and
/// `max_response_bytes` (stops reading, does not buffer more), does not follow redirects, sends
/// and stores no cookies, and uses no HTTP cache.
#[async_trait]
pub trait HttpTransport: Send + Sync {
    /// Performs one request and returns the full response, whatever its status.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;
}

/// The core's view of HTTP: one transport plus the limits from the configuration.
#[derive(Clone)]
pub(crate) struct Http {
    transport: Arc<dyn HttpTransport>,
    timeout: Duration,
    max_response_bytes: u64,
}

impl Http {
    pub fn new(
        transport: Arc<dyn HttpTransport>,
        timeout: Duration,
        max_response_bytes: u64,
    ) -> Self {
        Http {
            transport,
            timeout,
            max_response_bytes,
        }
    }

    /// Sends a request; transport failures become [`ErrorKind::Network`] / [`ErrorKind::Timeout`]
    /// / [`ErrorKind::InvalidResponse`] errors naming `what` (e.g. "token endpoint").
    pub async fn send(
        &self,
        method: HttpMethod,
        url: &Url,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        what: &str,
    ) -> Result<HttpResponse> {
        let request = HttpRequest {
            method,
            url: url.to_string(),
            headers,
            body,
            timeout: self.timeout,
            max_response_bytes: self.max_response_bytes,
        };
        log::debug!("{what}: {method:?} {}", redact_query(url));
        let response = self.transport.send(request).await.map_err(|e| {
            let (kind, text) = match e.kind {
                TransportErrorKind::Timeout => (ErrorKind::Timeout, "timed out"),
                TransportErrorKind::Connect => (ErrorKind::Network, "could not connect"),
                TransportErrorKind::TooLarge => (ErrorKind::InvalidResponse, "response too large"),
                TransportErrorKind::Other => (ErrorKind::Network, "request failed"),
            };
            Error::new(kind, format!("{what}: {text}: {}", e.message))
        })?;
        // Defence in depth: a foreign transport may not honour the cap.
        if response.body.len() as u64 > self.max_response_bytes {
            return Err(Error::invalid_response(format!(
                "{what}: response too large"
            )));
        }
        log::debug!("{what}: status {}", response.status);
        Ok(response)
    }

    /// POST an `application/x-www-form-urlencoded` body.
    pub async fn post_form(
        &self,
        url: &Url,
        params: &[(&str, &str)],
        what: &str,
    ) -> Result<HttpResponse> {
        let (headers, body) = form(params);
        self.send(HttpMethod::Post, url, headers, body, what).await
    }
}

/// The headers and body of a form POST that expects JSON back.
pub(crate) fn form(params: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
        .into_bytes();
    let headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept".to_string(), "application/json".to_string()),
    ];
    (headers, body)
}

/// Parses a body as a JSON object.
pub(crate) fn parse_json_object(body: &[u8], what: &str) -> Result<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid_response(format!(
            "{what}: expected a JSON object"
        ))),
        Err(e) if e.is_eof() => Err(Error::invalid_response(format!("{what}: truncated JSON"))),
        Err(_) => Err(Error::invalid_response(format!("{what}: not valid JSON"))),
    }
}

/// `value` as compact JSON text: through `serde_json::to_string` rather than `Value`'s
/// `Display`, which brings a second copy of the JSON writer and a pretty printer into the mobile
/// library (issue 9).
pub(crate) fn json_text(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON value always serialises")
}

/// The URL without its query, for logs.
fn redact_query(url: &Url) -> String {
    url[..url::Position::AfterPath].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_is_the_compact_json_of_display() {
        let v = serde_json::json!({"b": [1, 2.5, null], "a": "x\"y\u{1}é", "c": {"d": true}});
        assert_eq!(json_text(&v), v.to_string());
        assert_eq!(
            json_text(&v),
            r#"{"a":"x\"y\u0001é","b":[1,2.5,null],"c":{"d":true}}"#
        );
    }

    #[test]
    fn retry_after_of_429_and_503() {
        let answer = |status, headers: &[(&str, &str)]| HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        };
        let date = ("Date", "Sun, 06 Nov 1994 08:49:37 GMT");
        for (status, headers, expected) in [
            (429, vec![("Retry-After", "120")], Some(120)),
            (503, vec![("retry-after", " 0 ")], Some(0)),
            (
                503,
                vec![("Retry-After", "999999999")],
                Some(MAX_RETRY_AFTER),
            ),
            (
                503,
                vec![("Retry-After", "99999999999999999999999")],
                Some(MAX_RETRY_AFTER),
            ),
            // The date form, counted from the answer's Date (not the device clock).
            (
                503,
                vec![("Retry-After", "Sun, 06 Nov 1994 08:51:37 GMT"), date],
                Some(120),
            ),
            (
                503,
                vec![("Retry-After", "Sun, 06 Nov 1994 08:40:00 GMT"), date],
                Some(0),
            ),
            (
                503,
                vec![("Retry-After", "Sun, 06 Nov 1994 08:51:37 GMT")],
                None,
            ),
            // Not a number, negative, fractional; other statuses; no header.
            (503, vec![("Retry-After", "soon")], None),
            (503, vec![("Retry-After", "-5")], None),
            (503, vec![("Retry-After", "1.5")], None),
            (503, vec![("Retry-After", "")], None),
            (500, vec![("Retry-After", "120")], None),
            (400, vec![("Retry-After", "120")], None),
            (429, vec![], None),
        ] {
            assert_eq!(
                retry_after(&answer(status, &headers)),
                expected,
                "{status} {headers:?}"
            );
        }
    }

    #[test]
    fn debug_hides_bodies_and_header_values() {
        let req = HttpRequest {
            method: HttpMethod::Post,
            url: "https://a.example/token".into(),
            headers: vec![("authorization".into(), "Bearer SECRET-AT".into())],
            body: b"code=SECRET-CODE".to_vec(),
            timeout: Duration::from_secs(1),
            max_response_bytes: 10,
        };
        let s = format!("{req:?}");
        assert!(!s.contains("SECRET"), "{s}");
        let resp = HttpResponse {
            status: 200,
            headers: vec![],
            body: b"{\"access_token\":\"SECRET\"}".to_vec(),
        };
        assert!(!format!("{resp:?}").contains("SECRET"));
    }

    #[test]
    fn json_errors_are_typed() {
        assert_eq!(
            parse_json_object(b"{\"a\":", "t").unwrap_err().message(),
            "t: truncated JSON"
        );
        assert_eq!(
            parse_json_object(b"<html>", "t").unwrap_err().kind(),
            ErrorKind::InvalidResponse
        );
        assert!(parse_json_object(b"[1]", "t").is_err());
    }
}
