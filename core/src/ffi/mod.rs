//! The uniffi surface (feature `ffi`): what Swift and Kotlin see.
//!
//! A thin edge over [`crate::Client`]: records and an error enum shaped for the bindings, and
//! adapters that let platform code implement HTTP, storage, session observation and the DPoP
//! key. The
//! protocol modules know nothing about it. One plain C function sits beside it,
//! `keyfob_cached_access_token` (`cached_token.rs`): the synchronous cached-token accessor for
//! the Kotlin layer, for which a uniffi call through JNA is too slow.
//!
//! Futures need no Rust runtime: the core only awaits the platform's HTTP transport and its own
//! locks, so the foreign language's executor drives everything (no tokio in the mobile library).

mod adapters;
mod cached_token;
mod cancellation;
mod client;
mod dpop;
mod error;
mod records;

pub use adapters::{KeyfobHttpTransport, KeyfobSessionObserver, KeyfobStorage};
pub use cancellation::KeyfobCancellation;
pub use client::KeyfobClient;
pub use dpop::KeyfobDpopKey;
pub use error::{KeyfobError, StorageFailure, TransportFailure};
pub use records::{
    AuthParam, HttpHeader, KeyfobAccount, KeyfobClaims, KeyfobConfig, KeyfobHttpRequest,
    KeyfobHttpResponse, KeyfobLoginOptions, KeyfobTokens, LogoutResult,
};
