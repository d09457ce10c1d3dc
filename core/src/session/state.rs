//! Where the session stands ([`SessionState`]), what just happened to it ([`SessionEvent`]),
//! and who is told ([`SessionObserver`]).

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum SessionState {
    /// No session and no login under way.
    SignedOut,
    /// A login was started and waits for its callback.
    LoginPending,
    /// Signed in: [`crate::Client::access_token`] returns a token (refreshing when needed).
    SignedIn,
    /// The provider rejected the refresh token (expired or revoked): the user must sign in again.
    NeedsReLogin,
    /// The stored session cannot be read right now (device locked); it is not gone.
    StorageUnavailable,
}

/// What just happened to the session, as told to a [`SessionObserver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum SessionEvent {
    /// A login was started ([`crate::Client::begin_login`]).
    LoginStarted,
    /// The user signed in ([`crate::Client::handle_redirect`] succeeded).
    SignedIn,
    /// New tokens were obtained with the refresh token.
    Refreshed,
    /// The session ended ([`crate::Client::logout`]).
    SignedOut,
    /// The refresh token was rejected; the tokens were cleared.
    NeedsReLogin,
    /// The pending login was given up ([`crate::Client::cancel_login`]): the user closed the
    /// browser, or the app abandoned the flow.
    LoginCancelled,
}

/// Receives session events, in order, on the thread that caused them. Keep it quick: it runs
/// while the client waits (hand the event to your UI's queue).
pub trait SessionObserver: Send + Sync {
    /// Called after the change is in effect (and persisted, where there is something to persist).
    fn on_session_event(&self, event: SessionEvent);
}
