//! Keyfob: OpenID Connect sign-in for native apps.
//!
//! The authorization-code flow with PKCE (S256) for a public client, as RFC 8252 describes for
//! native apps: [`Client::begin_login`] returns the URL to open in the system browser,
//! [`Client::handle_redirect`] completes the login from the deep link, the ID token is validated
//! against the provider's JWKS (OpenID Connect Core §3.1.3.7), and [`Client::access_token`]
//! returns a valid access token, refreshing it when it expires.
//!
//! HTTP goes through the [`HttpTransport`] trait (the platform's stack on mobile, reqwest on
//! desktop with the `reqwest` feature); time through the [`Clock`] trait. Tokens are wrapped in
//! [`SecretString`] and never appear in `Debug`, `Display`, logs or errors.

mod authorize;
mod client;
mod clock;
mod config;
mod discovery;
mod error;
#[cfg(feature = "ffi")]
pub mod ffi;
mod http;
mod http_date;
mod id_token;
mod jwks;
mod jws;
mod keychain;
mod pkce;
mod secret;
mod session;
mod session_store;
mod storage;
mod sync;
mod token;
mod tokens;

#[cfg(feature = "ffi")]
uniffi::setup_scaffolding!();

pub use authorize::{LoginOptions, PENDING_LOGIN_LIFETIME_SECS};
pub use client::{Client, Logout};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Config, ConfigBuilder, MAX_CLOCK_SKEW};
pub use discovery::ProviderMetadata;
pub use error::{Error, ErrorKind, IdTokenCheck, Result};
#[cfg(feature = "reqwest")]
pub use http::ReqwestTransport;
pub use http::{
    HttpMethod, HttpRequest, HttpResponse, HttpTransport, TransportError, TransportErrorKind,
    is_loopback,
};
pub use id_token::IdTokenClaims;
pub use jws::Algorithm;
pub use keychain::{KeychainOptions, KeychainStorage};
pub use secret::SecretString;
pub use session::{SessionEvent, SessionObserver, SessionState};
pub use storage::{FileStorage, MemoryStorage, SecureStorage, StorageError, StorageErrorKind};
pub use tokens::Tokens;
