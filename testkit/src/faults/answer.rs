//! How an [`EndpointFault`] answers: the canned response (status, headers, a body that is
//! text, a stream of filler bytes, or a connection that breaks mid-body), and the middleware
//! that puts it in front of the provider's and the resource servers' real endpoints.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::EndpointFault;
use crate::Shared;
use crate::resource::is_resource_server_request;

impl EndpointFault {
    /// Whether this fault answers the request itself (rather than only delaying it).
    fn answers(&self) -> bool {
        self.status.is_some()
            || self.body.is_some()
            || self.content_type.is_some()
            || self.body_bytes.is_some()
            || !self.headers.is_empty()
            || self.abort_after_bytes.is_some()
    }

    /// The canned response.
    fn response(&self) -> Response {
        let status = self
            .status
            .and_then(|code| StatusCode::from_u16(code).ok())
            .unwrap_or(StatusCode::OK);
        let body_is_json = self
            .body
            .as_deref()
            .is_some_and(|body| serde_json::from_str::<Value>(body).is_ok());
        let content_type = match &self.content_type {
            Some(content_type) => content_type.clone(),
            None if body_is_json || self.body_bytes.is_some() => "application/json".into(),
            None => "text/plain; charset=utf-8".into(),
        };
        let body = match (self.abort_after_bytes, self.body_bytes, &self.body) {
            (Some(sent), _, Some(text)) => aborted_body(text.as_bytes(), sent),
            (Some(sent), _, None) => aborted_body(&[], sent),
            (None, Some(len), _) => filler_body(len),
            (None, None, Some(text)) => Body::from(text.clone()),
            (None, None, None) => Body::empty(),
        };
        let mut response = (status, body).into_response();
        if let Ok(value) = HeaderValue::from_str(&content_type) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// A body of `len` bytes of `x`, streamed in chunks from one static buffer.
fn filler_body(len: u64) -> Body {
    static CHUNK: [u8; 16 * 1024] = [b'x'; 16 * 1024];
    let chunks = futures_util::stream::unfold(len, |remaining| async move {
        if remaining == 0 {
            return None;
        }
        let size = usize::try_from(remaining).map_or(CHUNK.len(), |r| r.min(CHUNK.len()));
        let chunk = Bytes::from_static(&CHUNK[..size]);
        Some((Ok::<_, std::io::Error>(chunk), remaining - size as u64))
    });
    Body::from_stream(chunks)
}

/// The first `sent` bytes of `text` (padded with `x` when `text` is shorter), then a
/// stream error: the server closes the connection without finishing the body.
fn aborted_body(text: &[u8], sent: u64) -> Body {
    let len = usize::try_from(sent)
        .unwrap_or(usize::MAX)
        .min(16 * 1024 * 1024);
    let mut prefix: Vec<u8> = text.iter().copied().take(len).collect();
    prefix.resize(len, b'x');
    // The prefix is sent first and given time to reach the client (the server would otherwise
    // drop the head and prefix with the connection), then the stream fails.
    let chunks = futures_util::stream::unfold(Some(Some(prefix)), |step| async move {
        match step? {
            Some(prefix) => Some((Ok(Bytes::from(prefix)), Some(None))),
            None => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let reset = std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "testkit fault: connection closed mid-body",
                );
                Some((Err(reset), None))
            }
        }
    });
    Body::from_stream(chunks)
}

/// Middleware: lets a matching [`EndpointFault`] delay the request and/or answer it.
pub(crate) async fn apply_endpoint_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if is_resource_server_request(request.headers()) {
        return next.run(request).await;
    }
    let Some(fault) = shared.faults.take_endpoint_fault(request.uri().path()) else {
        return next.run(request).await;
    };
    if let Some(delay) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if fault.answers() {
        fault.response()
    } else {
        next.run(request).await
    }
}
