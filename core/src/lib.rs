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
//!
//! # Layout
//!
//! The folders read top to bottom in the order data flows, and a layer imports only from the
//! layers below it (`tests/layering.rs` checks this, and that no file imports itself back
//! through another):
//!
//! | layer | what it holds |
//! | --- | --- |
//! | `ffi/` | the uniffi surface (feature `ffi`): exported client, records, errors, foreign traits |
//! | `client/` | the public [`Client`]: sign-in, access token and refresh, logout, userinfo, DPoP-bound sessions and API call headers |
//! | `session/` | the live session and its generations, states and events, the stored record |
//! | `oidc/` | the protocol as plain functions: authorize + callback, PKCE, discovery, token endpoint, JWA/JWS/JWKS, ID token, DPoP proofs, pushed authorization requests |
//! | `config.rs` | the client configuration and its validation |
//! | `http/`, `storage/` | the transport trait, URL policy, dates; the storage trait and its stores |
//! | `error.rs`, `secret.rs`, `clock.rs`, `sync.rs` | shared by every layer |
#![warn(missing_docs)]

mod client;
mod clock;
mod config;
mod error;
#[cfg(feature = "ffi")]
pub mod ffi;
mod http;
mod oidc;
mod secret;
mod session;
mod storage;
mod sync;
#[cfg(test)]
mod test_support;

#[cfg(feature = "ffi")]
uniffi::setup_scaffolding!();

pub use client::{AuthorizationHeaders, Client, Logout};
#[cfg(any(test, feature = "testing"))]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
pub use config::{Config, ConfigBuilder, MAX_CLOCK_SKEW};
pub use error::{Error, ErrorKind, IdTokenCheck, Result, StorageError, StorageErrorKind};
#[cfg(feature = "reqwest")]
pub use http::ReqwestTransport;
pub use http::{
    HttpMethod, HttpRequest, HttpResponse, HttpTransport, TransportError, TransportErrorKind,
};
// Not API: the `keyfob` CLI applies the core's loopback rule to the URLs it calls (one rule, not
// a copy). Apps never need it; it may change without notice.
#[doc(hidden)]
pub use http::url_policy::is_loopback;
#[cfg(feature = "software-key")]
pub use oidc::SoftwareDpopKey;
pub use oidc::{
    DpopKey, IdTokenClaims, LoginOptions, PENDING_LOGIN_LIFETIME_SECS, ProviderMetadata,
};
pub use secret::SecretString;
pub use session::{AccountInfo, SessionEvent, SessionObserver, SessionState, Tokens};
pub use storage::{FileStorage, MemoryStorage, SecureStorage};
