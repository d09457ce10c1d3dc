//! The one error type of the crate.
//!
//! Every failure carries a stable [`ErrorKind`] that callers (and the Swift/Kotlin layers) match
//! on, plus a human-readable message for developers. Messages never contain tokens,
//! authorization codes, PKCE verifiers, `state` or `nonce` values: they name *what* was wrong,
//! never the secret itself.

use std::fmt;

/// Why a storage operation failed. "Nothing stored" is not an error: `load` returns `Ok(None)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum StorageErrorKind {
    /// The store cannot be used right now (device locked, protected data not yet available after
    /// a reboot or during iOS prewarming). Try again later; the session is not gone.
    Unavailable,
    /// The key protecting the data is gone (Android Keystore keys die when the lock screen
    /// changes). The stored session cannot be read again: the user must sign in.
    KeyInvalidated,
    /// The stored bytes cannot be decoded.
    Corrupt,
    /// The stored session belongs to another issuer or client id (a store shared by mistake, a
    /// configuration that changed). It is not used, and left as it is until a sign-in replaces
    /// it: the user must sign in for this client.
    Foreign,
    /// Any other failure (disk full, I/O error, permission denied).
    Failed,
}

/// A storage failure, with a message for developers (never containing the stored data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError {
    /// What kind of failure.
    pub kind: StorageErrorKind,
    /// A short description.
    pub message: String,
}

impl StorageError {
    /// A storage error of `kind`.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for StorageError {}

/// What went wrong, as a stable, matchable kind. New kinds may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The client configuration is invalid; the message says which field and why.
    Config,
    /// An endpoint URL is not HTTPS (and not a loopback address).
    InsecureUrl,
    /// The request never got a complete HTTP response (connection, DNS, TLS, reset). Retryable.
    Network,
    /// The request did not complete within the configured timeout. Retryable.
    Timeout,
    /// The provider answered with an unexpected HTTP status (e.g. 500, 503, 429) and no OAuth
    /// error. Retryable for 5xx and 429.
    HttpStatus,
    /// The provider answered with an OAuth error (`invalid_grant`, `access_denied`, …), from the
    /// token endpoint or in the callback. See [`Error::provider_error`].
    Provider,
    /// The provider's response was malformed: not JSON, missing or mistyped fields, too large.
    InvalidResponse,
    /// The discovery document is unusable (issuer differs from the configured one, required
    /// endpoint missing, S256 not supported).
    Discovery,
    /// The redirect URL handed to [`crate::Client::handle_redirect`] is not a valid callback for
    /// this client (wrong scheme/host/path, duplicated or missing parameters, fragment).
    InvalidCallback,
    /// The callback's `state` does not match the pending login (possible CSRF).
    StateMismatch,
    /// The callback's `iss` (RFC 9207) is missing or names another issuer (possible mix-up).
    IssuerMismatch,
    /// There is no pending login for this callback: none was started, it was already used, or it
    /// expired.
    NoPendingLogin,
    /// The ID token failed validation; [`Error::id_token_check`] names the check.
    IdToken,
    /// The operation needs a signed-in session and there is none.
    NotSignedIn,
    /// The provider rejected the refresh token (`invalid_grant`: expired, revoked, or reused):
    /// the tokens were cleared and the user must sign in again.
    ReLoginRequired,
    /// The secure storage failed; [`Error::storage_kind`] says how. Only
    /// [`StorageErrorKind::KeyInvalidated`] and [`StorageErrorKind::Corrupt`] mean the stored
    /// session is lost; [`StorageErrorKind::Unavailable`] means "try again later".
    Storage,
    /// An access token was asked for with a minimum lifetime (`min_ttl`) that the provider's
    /// tokens do not reach: it issues them for no longer than that. Ask for less; a refresh
    /// cannot help (none is made when the lifetime is known already).
    MinTtlExceedsLifetime,
}

/// The ID token check that failed, for [`ErrorKind::IdToken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum IdTokenCheck {
    /// Not a compact JWS (three base64url parts with JSON header and claims).
    Malformed,
    /// `alg` is not one of RS256, PS256, ES256 (e.g. `none` or HS256), or a `crit` header is set.
    Algorithm,
    /// No key in the provider's JWKS matches the token's `kid` and `alg`, even after a refetch.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// A required claim is missing.
    MissingClaim,
    /// A claim has the wrong JSON type (e.g. `"exp": "9999999999"`).
    ClaimType,
    /// `iss` differs from the provider's issuer.
    Issuer,
    /// `aud` does not contain this client, or has other audiences without `azp` naming this client.
    Audience,
    /// `azp` is present and is not this client.
    AuthorizedParty,
    /// `exp` is in the past (beyond the allowed clock skew).
    Expired,
    /// `iat` is in the future (beyond the allowed clock skew).
    IssuedInFuture,
    /// `nonce` differs from the one sent with the login request, or is missing.
    Nonce,
    /// A refreshed ID token names another `iss`, `sub` or `aud` than the one from sign-in.
    SubjectChanged,
    /// Step-up: the login asked for a recent authentication (`max_age`, `prompt=login`) and the
    /// ID token's `auth_time` is missing (with `max_age`), older than asked, or in the future.
    AuthTime,
    /// Step-up: the login required an authentication context (`acr`) and the ID token carries
    /// none of the requested ones.
    Acr,
}

/// The single error type of Keyfob. Match on [`Error::kind`]; show [`Error`]'s `Display` to
/// developers, not to end users.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    /// Boxed: a `Result<T, Error>` stays small, so results move cheaply through the core.
    details: Box<Details>,
}

/// What an [`Error`] says (read through its accessors).
#[derive(Clone, PartialEq, Eq)]
struct Details {
    kind: ErrorKind,
    check: Option<IdTokenCheck>,
    provider_error: Option<String>,
    status: Option<u16>,
    retry_after: Option<u32>,
    storage: Option<StorageErrorKind>,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            details: Box::new(Details {
                kind,
                check: None,
                provider_error: None,
                status: None,
                retry_after: None,
                storage: None,
                message: message.into(),
            }),
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn invalid_response(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidResponse, message)
    }

    pub(crate) fn invalid_callback(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidCallback, message)
    }

    pub(crate) fn id_token(check: IdTokenCheck, message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorKind::IdToken, message);
        e.details.check = Some(check);
        e
    }

    pub(crate) fn http_status(status: u16, message: impl Into<String>) -> Self {
        let mut e = Self::new(ErrorKind::HttpStatus, message);
        e.details.status = Some(status);
        e
    }

    /// How long the provider asked to wait (`Retry-After`), in seconds.
    pub(crate) fn with_retry_after(mut self, seconds: Option<u32>) -> Self {
        self.details.retry_after = seconds;
        self
    }

    /// An OAuth error response. `description` is the provider's own text and is kept short.
    pub(crate) fn provider(code: &str, description: Option<&str>, status: Option<u16>) -> Self {
        let code = truncate(code, 64);
        let message = match description {
            Some(d) if !d.is_empty() => format!("provider error {code}: {}", truncate(d, 200)),
            _ => format!("provider error {code}"),
        };
        let mut e = Self::new(ErrorKind::Provider, message);
        e.details.provider_error = Some(code);
        e.details.status = status;
        e
    }

    /// For [`ErrorKind::Storage`]: what kind of storage failure.
    pub fn storage_kind(&self) -> Option<StorageErrorKind> {
        self.details.storage
    }

    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.details.kind
    }

    /// For [`ErrorKind::IdToken`]: the check that failed.
    pub fn id_token_check(&self) -> Option<IdTokenCheck> {
        self.details.check
    }

    /// For [`ErrorKind::Provider`]: the OAuth `error` code, e.g. `invalid_grant`.
    pub fn provider_error(&self) -> Option<&str> {
        self.details.provider_error.as_deref()
    }

    /// The HTTP status that came with the error, when there was one.
    pub fn http_status_code(&self) -> Option<u16> {
        self.details.status
    }

    /// How long the provider asked the app to wait before trying again: the `Retry-After` of a
    /// 429 or 503 answer (RFC 9110 §10.2.3), at most a day. `None` when it did not say.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.details
            .retry_after
            .map(|secs| std::time::Duration::from_secs(u64::from(secs)))
    }

    /// [`Error::retry_after`] in whole seconds (for the FFI).
    #[cfg(feature = "ffi")]
    pub(crate) fn retry_after_secs(&self) -> Option<u32> {
        self.details.retry_after
    }

    /// Whether retrying the same operation later may succeed without the user doing anything:
    /// network trouble, timeouts, 5xx, 429, a locked device ([`StorageErrorKind::Unavailable`]).
    /// A retryable error never means the session is gone. Wait [`Error::retry_after`] when set.
    ///
    /// This, [`Error::requires_sign_in`] and [`Error::retry_after`] are the one classification
    /// of errors: the Swift and Kotlin layers ask the core for it rather than re-deriving it.
    pub fn is_retryable(&self) -> bool {
        match self.details.kind {
            ErrorKind::Network | ErrorKind::Timeout => true,
            ErrorKind::HttpStatus => matches!(self.details.status, Some(s) if s >= 500 || s == 429),
            ErrorKind::Storage => self.details.storage == Some(StorageErrorKind::Unavailable),
            _ => false,
        }
    }

    /// Whether the user has to sign in (again) before an access token can be had: nobody is
    /// signed in, the provider rejected the refresh token, or the stored session is lost (its
    /// key was invalidated, it is corrupt, or it belongs to another client). Never true for a
    /// retryable error.
    pub fn requires_sign_in(&self) -> bool {
        match self.details.kind {
            ErrorKind::NotSignedIn | ErrorKind::ReLoginRequired => true,
            ErrorKind::Storage => matches!(
                self.details.storage,
                Some(
                    StorageErrorKind::KeyInvalidated
                        | StorageErrorKind::Corrupt
                        | StorageErrorKind::Foreign
                )
            ),
            _ => false,
        }
    }

    /// The developer-facing message (also what `Display` shows).
    pub fn message(&self) -> &str {
        &self.details.message
    }
}

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        let mut err = Error::new(ErrorKind::Storage, format!("storage: {}", e.message));
        err.details.storage = Some(e.kind);
        err
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    // Provider text may be long or contain control characters; keep logs tidy.
    s.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.details.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.details.kind);
        if let Some(check) = self.details.check {
            d.field("check", &check);
        }
        if let Some(code) = &self.details.provider_error {
            d.field("provider_error", code);
        }
        if let Some(status) = self.details.status {
            d.field("status", &status);
        }
        if let Some(secs) = self.details.retry_after {
            d.field("retry_after", &secs);
        }
        if let Some(storage) = self.details.storage {
            d.field("storage", &storage);
        }
        d.field("message", &self.details.message).finish()
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_pointer_so_results_stay_small() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Result<u64>>(),
            2 * std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn retryable_only_for_transient_failures() {
        assert!(Error::new(ErrorKind::Network, "x").is_retryable());
        assert!(Error::new(ErrorKind::Timeout, "x").is_retryable());
        assert!(Error::http_status(503, "x").is_retryable());
        assert!(Error::http_status(429, "x").is_retryable());
        assert!(!Error::http_status(404, "x").is_retryable());
        assert!(!Error::provider("invalid_grant", None, Some(400)).is_retryable());
        assert!(!Error::id_token(IdTokenCheck::Expired, "x").is_retryable());
    }

    #[test]
    fn sign_in_required_only_when_the_session_is_gone() {
        let storage = |kind| Error::from(StorageError::new(kind, "x"));
        assert!(Error::new(ErrorKind::NotSignedIn, "x").requires_sign_in());
        assert!(Error::new(ErrorKind::ReLoginRequired, "x").requires_sign_in());
        assert!(storage(StorageErrorKind::KeyInvalidated).requires_sign_in());
        assert!(storage(StorageErrorKind::Corrupt).requires_sign_in());
        assert!(storage(StorageErrorKind::Foreign).requires_sign_in());
        assert!(!storage(StorageErrorKind::Unavailable).requires_sign_in());
        assert!(!storage(StorageErrorKind::Failed).requires_sign_in());
        assert!(!Error::provider("invalid_grant", None, Some(400)).requires_sign_in());
        assert!(!Error::new(ErrorKind::Network, "x").requires_sign_in());
    }

    #[test]
    fn provider_text_is_bounded_and_stripped_of_control_characters() {
        let e = Error::provider("access_denied", Some(&"a\nb".repeat(500)), None);
        assert_eq!(e.provider_error(), Some("access_denied"));
        assert!(!e.to_string().contains('\n'));
        assert!(e.to_string().len() < 300);
    }
}
