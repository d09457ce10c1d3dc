//! Errors across the FFI: Swift `Error` enums and Kotlin exception classes.

use std::fmt;

use crate::error::{Error, ErrorKind, IdTokenCheck};
use crate::storage::{StorageError, StorageErrorKind};

/// Every Keyfob failure, one case per stable kind. `reason` is for developers and never
/// contains a token, code or verifier.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum KeyfobError {
    /// The configuration is invalid.
    Config {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// An endpoint is not HTTPS (and not loopback).
    InsecureUrl {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// No complete HTTP response (connection, DNS, TLS). Retryable.
    Network {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The request timed out. Retryable.
    Timeout {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// Unexpected HTTP status (retryable for 5xx and 429). `retry_after_seconds`: how long the
    /// provider asked to wait (`Retry-After` of a 429 or 503, at most a day), when it said.
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// How long the provider asked to wait, in seconds, when it said.
        retry_after_seconds: Option<u32>,
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// An OAuth error from the provider (`access_denied`, `invalid_grant`, …).
    Provider {
        /// The OAuth error code, e.g. `invalid_grant`.
        error: String,
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// A malformed response (bad JSON, missing or mistyped fields, too large).
    InvalidResponse {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The discovery document is unusable (issuer mismatch, missing endpoint, no S256).
    Discovery {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The callback URL is not a valid callback for this client.
    InvalidCallback {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The callback's `state` does not match the pending login.
    StateMismatch {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The callback's `iss` is missing or wrong (RFC 9207 mix-up defence).
    IssuerMismatch {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// No pending login for this callback (never started, already used, or expired).
    NoPendingLogin {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The ID token failed the named check.
    IdToken {
        /// The ID token check that failed.
        check: IdTokenCheck,
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// Not signed in.
    NotSignedIn {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The refresh token was rejected: sign in again.
    ReLoginRequired {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The secure storage failed.
    Storage {
        /// How the storage failed.
        kind: StorageErrorKind,
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The minimum lifetime asked of an access token is more than the provider issues tokens
    /// for: ask for less (no refresh can help).
    MinTtlExceedsLifetime {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// A bug or a platform callback that failed unexpectedly.
    Internal {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
}

impl fmt::Display for KeyfobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use KeyfobError::*;
        match self {
            Config { reason }
            | InsecureUrl { reason }
            | Network { reason }
            | Timeout { reason }
            | HttpStatus { reason, .. }
            | Provider { reason, .. }
            | InvalidResponse { reason }
            | Discovery { reason }
            | InvalidCallback { reason }
            | StateMismatch { reason }
            | IssuerMismatch { reason }
            | NoPendingLogin { reason }
            | IdToken { reason, .. }
            | NotSignedIn { reason }
            | ReLoginRequired { reason }
            | Storage { reason, .. }
            | MinTtlExceedsLifetime { reason }
            | Internal { reason } => f.write_str(reason),
        }
    }
}

impl std::error::Error for KeyfobError {}

impl From<Error> for KeyfobError {
    fn from(e: Error) -> Self {
        let reason = e.message().to_string();
        match e.kind() {
            ErrorKind::Config => KeyfobError::Config { reason },
            ErrorKind::InsecureUrl => KeyfobError::InsecureUrl { reason },
            ErrorKind::Network => KeyfobError::Network { reason },
            ErrorKind::Timeout => KeyfobError::Timeout { reason },
            ErrorKind::HttpStatus => KeyfobError::HttpStatus {
                status: e.http_status_code().unwrap_or(0),
                retry_after_seconds: e.retry_after_secs(),
                reason,
            },
            ErrorKind::Provider => KeyfobError::Provider {
                error: e.provider_error().unwrap_or_default().to_string(),
                reason,
            },
            ErrorKind::InvalidResponse => KeyfobError::InvalidResponse { reason },
            ErrorKind::Discovery => KeyfobError::Discovery { reason },
            ErrorKind::InvalidCallback => KeyfobError::InvalidCallback { reason },
            ErrorKind::StateMismatch => KeyfobError::StateMismatch { reason },
            ErrorKind::IssuerMismatch => KeyfobError::IssuerMismatch { reason },
            ErrorKind::NoPendingLogin => KeyfobError::NoPendingLogin { reason },
            ErrorKind::IdToken => KeyfobError::IdToken {
                check: e.id_token_check().unwrap_or(IdTokenCheck::Malformed),
                reason,
            },
            ErrorKind::NotSignedIn => KeyfobError::NotSignedIn { reason },
            ErrorKind::ReLoginRequired => KeyfobError::ReLoginRequired { reason },
            ErrorKind::Storage => KeyfobError::Storage {
                kind: e.storage_kind().unwrap_or(StorageErrorKind::Failed),
                reason,
            },
            ErrorKind::MinTtlExceedsLifetime => KeyfobError::MinTtlExceedsLifetime { reason },
        }
    }
}

impl KeyfobError {
    /// The core error this one stands for, carrying what its classification reads (kind, HTTP
    /// status, `Retry-After`, storage kind); `None` for `Internal`, which has no core kind.
    fn as_core(&self) -> Option<Error> {
        use KeyfobError::*;
        let kind = match self {
            Config { .. } => ErrorKind::Config,
            InsecureUrl { .. } => ErrorKind::InsecureUrl,
            Network { .. } => ErrorKind::Network,
            Timeout { .. } => ErrorKind::Timeout,
            HttpStatus {
                status,
                retry_after_seconds,
                ..
            } => {
                return Some(
                    Error::http_status(*status, "").with_retry_after(*retry_after_seconds),
                );
            }
            Provider { .. } => ErrorKind::Provider,
            InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Discovery { .. } => ErrorKind::Discovery,
            InvalidCallback { .. } => ErrorKind::InvalidCallback,
            StateMismatch { .. } => ErrorKind::StateMismatch,
            IssuerMismatch { .. } => ErrorKind::IssuerMismatch,
            NoPendingLogin { .. } => ErrorKind::NoPendingLogin,
            IdToken { .. } => ErrorKind::IdToken,
            NotSignedIn { .. } => ErrorKind::NotSignedIn,
            ReLoginRequired { .. } => ErrorKind::ReLoginRequired,
            Storage { kind, .. } => return Some(StorageError::new(*kind, "").into()),
            MinTtlExceedsLifetime { .. } => ErrorKind::MinTtlExceedsLifetime,
            Internal { .. } => return None,
        };
        Some(Error::new(kind, ""))
    }
}

/// The core's one classification of errors ([`Error::is_retryable`],
/// [`Error::requires_sign_in`], [`Error::retry_after`]), for the Swift and Kotlin layers, which
/// ask it here instead of re-deriving it. `Internal` (a bug, or a failed platform callback) is
/// neither retryable nor a reason to sign in.
#[uniffi::export]
impl KeyfobError {
    /// Whether the same call may succeed later without the user doing anything.
    pub fn is_retryable(&self) -> bool {
        self.as_core().is_some_and(|e| e.is_retryable())
    }

    /// Whether the user has to sign in (again) before an access token can be had.
    pub fn requires_sign_in(&self) -> bool {
        self.as_core().is_some_and(|e| e.requires_sign_in())
    }

    /// How long the provider asked to wait before trying again, in seconds, when it said.
    pub fn retry_after_secs(&self) -> Option<u32> {
        self.as_core().and_then(|e| e.retry_after_secs())
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for KeyfobError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        KeyfobError::Internal {
            reason: format!("a platform callback failed: {}", e.reason),
        }
    }
}

/// How a platform [`super::KeyfobStorage`] failed. Return `nil`/`null` from `load` for "nothing
/// stored" — that is not a failure.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum StorageFailure {
    /// Locked device / protected data not available yet: try later; the session is not gone.
    Unavailable {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The protecting key was invalidated (e.g. lock screen changed): the data is lost.
    KeyInvalidated {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The stored bytes are unreadable.
    Corrupt {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// Anything else.
    Failed {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
}

impl fmt::Display for StorageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e: StorageError = self.clone().into();
        fmt::Display::fmt(&e, f)
    }
}

impl std::error::Error for StorageFailure {}

impl From<StorageFailure> for StorageError {
    fn from(f: StorageFailure) -> Self {
        match f {
            StorageFailure::Unavailable { reason } => {
                StorageError::new(StorageErrorKind::Unavailable, reason)
            }
            StorageFailure::KeyInvalidated { reason } => {
                StorageError::new(StorageErrorKind::KeyInvalidated, reason)
            }
            StorageFailure::Corrupt { reason } => {
                StorageError::new(StorageErrorKind::Corrupt, reason)
            }
            StorageFailure::Failed { reason } => {
                StorageError::new(StorageErrorKind::Failed, reason)
            }
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for StorageFailure {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        StorageFailure::Failed {
            reason: format!("the storage callback failed: {}", e.reason),
        }
    }
}

/// How a platform [`super::KeyfobHttpTransport`] failed to get a response.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Error)]
pub enum TransportFailure {
    /// The request exceeded its timeout.
    Timeout {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// No connection (DNS, refused, TLS).
    Connect {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// The body exceeded `max_response_bytes`.
    TooLarge {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
    /// Anything else.
    Other {
        /// What went wrong, for developers (never a token, code or verifier).
        reason: String,
    },
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (TransportFailure::Timeout { reason }
        | TransportFailure::Connect { reason }
        | TransportFailure::TooLarge { reason }
        | TransportFailure::Other { reason }) = self;
        f.write_str(reason)
    }
}

impl std::error::Error for TransportFailure {}

impl From<uniffi::UnexpectedUniFFICallbackError> for TransportFailure {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TransportFailure::Other {
            reason: format!("the HTTP transport callback failed: {}", e.reason),
        }
    }
}
