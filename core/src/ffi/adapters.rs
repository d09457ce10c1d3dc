//! Traits the platform implements (HTTP, storage, session observer) and their adapters to the
//! core's own traits.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::error::{KeyfobError, StorageFailure, TransportFailure};
use super::records::{HttpHeader, KeyfobHttpRequest, KeyfobHttpResponse};
use crate::http::{
    HttpMethod, HttpRequest, HttpResponse, HttpTransport, TransportError, TransportErrorKind,
};
use crate::session::{SessionEvent, SessionObserver, SessionState};
use crate::storage::{SecureStorage, StorageError};

/// HTTP done by the platform (URLSession on iOS, HttpURLConnection on Android).
///
/// Contract: enforce `timeout_ms` and `max_response_bytes` (stop reading, do not buffer more),
/// never follow redirects, send and store no cookies, use no HTTP cache.
#[uniffi::export(foreign)]
#[async_trait]
pub trait KeyfobHttpTransport: Send + Sync {
    /// Performs the request and returns the response, whatever its status.
    async fn send(
        &self,
        request: KeyfobHttpRequest,
    ) -> Result<KeyfobHttpResponse, TransportFailure>;
}

/// Secure storage provided by the app or platform (Keychain, Keystore-backed file, …).
/// `save` must be atomic. Keys are short ASCII names.
#[uniffi::export(foreign)]
pub trait KeyfobStorage: Send + Sync {
    /// The stored bytes, or `nil`/`null` when nothing is stored.
    fn load(&self, key: String) -> Result<Option<Vec<u8>>, StorageFailure>;
    /// Stores `value` under `key`, replacing any previous value.
    fn save(&self, key: String, value: Vec<u8>) -> Result<(), StorageFailure>;
    /// Removes `key` (succeeds when nothing is stored).
    fn delete(&self, key: String) -> Result<(), StorageFailure>;
    /// Replaces the value under `key` with `new` (`nil`/`null`: removes it) only if it still is
    /// `expected` (`nil`/`null`: nothing stored); returns whether it did. Must be atomic
    /// against other processes sharing the store (an app extension, a worker process): Keyfob
    /// coordinates their refreshes through it.
    fn compare_and_swap(
        &self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Option<Vec<u8>>,
    ) -> Result<bool, StorageFailure>;
}

/// Receives session events, in order. Called on the thread of the operation that caused the
/// event: hop to your UI thread yourself. Errors it returns are logged and ignored.
#[uniffi::export(foreign)]
pub trait KeyfobSessionObserver: Send + Sync {
    /// `event` just happened; `state` is the state after it.
    fn on_session_event(&self, event: SessionEvent, state: SessionState)
    -> Result<(), KeyfobError>;
}

pub(crate) struct ForeignTransport(pub Arc<dyn KeyfobHttpTransport>);

fn headers_out(headers: Vec<(String, String)>) -> Vec<HttpHeader> {
    headers
        .into_iter()
        .map(|(name, value)| HttpHeader { name, value })
        .collect()
}

#[async_trait]
impl HttpTransport for ForeignTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let request = KeyfobHttpRequest {
            method: match request.method {
                HttpMethod::Get => "GET".to_string(),
                HttpMethod::Post => "POST".to_string(),
            },
            url: request.url,
            headers: headers_out(request.headers),
            body: request.body,
            timeout_ms: u64::try_from(request.timeout.as_millis()).unwrap_or(u64::MAX),
            max_response_bytes: request.max_response_bytes,
        };
        match self.0.send(request).await {
            Ok(r) => Ok(HttpResponse {
                status: r.status,
                headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                body: r.body,
            }),
            Err(f) => Err(match f {
                TransportFailure::Timeout { reason } => {
                    TransportError::new(TransportErrorKind::Timeout, reason)
                }
                TransportFailure::Connect { reason } => {
                    TransportError::new(TransportErrorKind::Connect, reason)
                }
                TransportFailure::TooLarge { reason } => {
                    TransportError::new(TransportErrorKind::TooLarge, reason)
                }
                TransportFailure::Other { reason } => {
                    TransportError::new(TransportErrorKind::Other, reason)
                }
            }),
        }
    }
}

pub(crate) struct ForeignStorage(pub Arc<dyn KeyfobStorage>);

impl SecureStorage for ForeignStorage {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.0.load(key.to_string()).map_err(Into::into)
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.0
            .save(key.to_string(), value.to_vec())
            .map_err(Into::into)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.0.delete(key.to_string()).map_err(Into::into)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StorageError> {
        self.0
            .compare_and_swap(
                key.to_string(),
                expected.map(<[u8]>::to_vec),
                new.map(<[u8]>::to_vec),
            )
            .map_err(Into::into)
    }
}

/// Forwards core events to a foreign observer, with the state after the event.
pub(crate) struct ForeignObserver {
    pub observer: Arc<dyn KeyfobSessionObserver>,
    /// Computes the current state (the client, held weakly to avoid a reference cycle).
    pub state: Box<dyn Fn() -> SessionState + Send + Sync>,
}

impl SessionObserver for ForeignObserver {
    fn on_session_event(&self, event: SessionEvent) {
        if let Err(e) = self.observer.on_session_event(event, (self.state)()) {
            log::warn!("session observer failed: {e}");
        }
    }
}

/// Seconds to a `Duration`, for records that carry times as integers.
pub(crate) fn secs(v: u32) -> Duration {
    Duration::from_secs(u64::from(v))
}
