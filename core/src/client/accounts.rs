//! Several accounts of one client, and the session as other processes change it:
//! [`Client::accounts`], [`Client::switch_account`], [`Client::reload`].

use super::Client;
use crate::error::Result;
use crate::session::{AccountInfo, SessionEvent, SessionState};

impl Client {
    /// Every signed-in account (one unless [`crate::ConfigBuilder::multiple_accounts`] is set),
    /// with the one in use marked active. From memory (reads storage on first use).
    pub fn accounts(&self) -> Vec<AccountInfo> {
        self.store.accounts()
    }

    /// The tokens of the account of user `subject`, active or not, as memory has them (reads
    /// storage on first use); `None` when no such account is signed in.
    pub fn tokens_for_account(&self, subject: &str) -> Option<crate::session::Tokens> {
        self.store.account_tokens(subject)
    }

    /// Makes the account of user `subject` (the ID token's `sub`) the active one: what
    /// [`Client::access_token`], [`Client::refresh`], [`Client::logout`] and [`Client::claims`]
    /// use from now on, in every process sharing the store. `NotSignedIn` when no such account
    /// is signed in. Observers hear [`SessionEvent::AccountSwitched`].
    pub fn switch_account(&self, subject: &str) -> Result<()> {
        let before = self.store.tokens().map(|t| t.claims.subject);
        let result = self.store.switch(subject);
        self.notify_absorbed();
        result?;
        if before.as_deref() != Some(subject) {
            self.notify(SessionEvent::AccountSwitched);
        }
        Ok(())
    }

    /// Reads the stored session again now (no network) and returns the state: what other
    /// processes sharing the store changed (a refresh, a sign-out, another active account) is
    /// taken in, and observers hear about it. Call it when the app returns to the foreground;
    /// every call that changes the session reads storage anyway.
    pub fn reload(&self) -> Result<SessionState> {
        let result = self.store.reload();
        self.notify_absorbed();
        result?;
        Ok(self.state())
    }
}
