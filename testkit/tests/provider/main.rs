//! The provider's endpoints over real HTTP, one module per endpoint group: discovery and
//! keys, authorize, token (code exchange and refresh), userinfo and logout, the grants beyond
//! the code flow (resource indicators, step-up, device), the internal server's token exchange,
//! and the admin side (stats, admin endpoints, key rotation, clock, ports).

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod authorize;
mod discovery_and_keys;
mod exchange;
mod grants;
mod token;
mod userinfo_and_logout;
