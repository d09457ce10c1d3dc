//! The protocol, as plain Rust that knows nothing of sessions, storage or FFI: the
//! authorization request and its callback ([`authorize`]), PKCE ([`pkce`]), provider metadata
//! ([`discovery`]), the token endpoint ([`token`]), algorithms and key material ([`jwa`]),
//! compact JWS ([`jws`]), the key set ([`jwks`]), ID token validation ([`id_token`]), DPoP
//! proofs ([`dpop`]) and pushed authorization requests ([`par`]).
//!
//! Within the layer: `id_token` → `jws`, `jwks` → `jwa`; `authorize` → `pkce`, `discovery`;
//! `token` → `dpop` → `pkce`; `par` → `token`.

pub(crate) mod authorize;
pub(crate) mod discovery;
pub(crate) mod dpop;
pub(crate) mod id_token;
pub(crate) mod jwa;
pub(crate) mod jwks;
pub(crate) mod jws;
pub(crate) mod par;
pub(crate) mod pkce;
pub(crate) mod token;

pub use authorize::{LoginOptions, PENDING_LOGIN_LIFETIME_SECS};
pub use discovery::ProviderMetadata;
pub use dpop::DpopKey;
#[cfg(feature = "software-key")]
pub use dpop::SoftwareDpopKey;
pub use id_token::IdTokenClaims;
