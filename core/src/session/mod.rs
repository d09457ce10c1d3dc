//! The session: what the app is signed in with, where it stands, and how it is kept.
//!
//! - [`tokens`]: the token set of a signed-in session ([`Tokens`]).
//! - [`accounts`]: every signed-in account of a client, the active one, refresh leases.
//! - [`state`]: the public states and events ([`SessionState`], [`SessionEvent`]) and the
//!   observer trait.
//! - [`sorted_map`]: a small map on a sorted vector (accounts, per-API tokens).
//! - [`record`]: the stored form of a session and of a pending login (versioned JSON).
//! - [`live`]: the live session in memory, its generations, and its mirror in storage.

pub(crate) mod accounts;
pub(crate) mod live;
pub(crate) mod record;
pub(crate) mod sorted_map;
pub(crate) mod state;
pub(crate) mod tokens;

pub use accounts::AccountInfo;
pub use state::{SessionEvent, SessionObserver, SessionState};
pub use tokens::{ResourceToken, Tokens};
