//! The provider's endpoints over real HTTP, one module per endpoint group: discovery and
//! keys, authorize, token (code exchange and refresh), userinfo and logout, and the admin side
//! (stats, admin endpoints, key rotation, clock, ports).

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod authorize;
mod discovery_and_keys;
mod token;
mod userinfo_and_logout;
