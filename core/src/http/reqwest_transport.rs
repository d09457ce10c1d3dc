//! [`HttpTransport`] on reqwest with rustls (ring), for desktop, CLI and tests.

use async_trait::async_trait;

use super::{
    HttpMethod, HttpRequest, HttpResponse, HttpTransport, TransportError, TransportErrorKind,
};

/// A reqwest-based transport: rustls with the `ring` provider and the platform's trust store,
/// no redirects, no cookies, no proxy discovery, per-request timeout and a streamed size cap.
///
/// It needs a Tokio runtime to run on (reqwest's requirement, not the core's).
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// Builds the transport. Fails only if TLS cannot be initialised.
    pub fn new() -> Result<Self, TransportError> {
        // reqwest is built without a default crypto provider; use ring, as the core does.
        // Installing fails harmlessly when a provider is already installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("keyfob/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                TransportError::new(
                    TransportErrorKind::Other,
                    format!("cannot build HTTP client: {}", e.without_url()),
                )
            })?;
        Ok(ReqwestTransport { client })
    }
}

fn map_error(e: reqwest::Error) -> TransportError {
    let kind = if e.is_timeout() {
        TransportErrorKind::Timeout
    } else if e.is_connect() {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Other
    };
    // `without_url` keeps query strings (which may hold codes) out of the message.
    TransportError::new(kind, e.without_url().to_string())
}

#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
        };
        let mut builder = self
            .client
            .request(method, &request.url)
            .timeout(request.timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if request.method == HttpMethod::Post {
            builder = builder.body(request.body);
        }
        let mut response = builder.send().await.map_err(map_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        if response
            .content_length()
            .is_some_and(|n| n > request.max_response_bytes)
        {
            return Err(TransportError::new(
                TransportErrorKind::TooLarge,
                "response too large",
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            if (body.len() + chunk.len()) as u64 > request.max_response_bytes {
                return Err(TransportError::new(
                    TransportErrorKind::TooLarge,
                    "response too large",
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}
