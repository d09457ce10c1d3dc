//! What a row is made of: the step at which the misbehaviour strikes, the outcome and session
//! state it must lead to, what the store must hold, and the extra checks and follow-ups.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use keyfob::{ErrorKind, IdTokenCheck, SessionState, StorageErrorKind};
use keyfob_testkit::{Faults, Stats};

use crate::common::Env;
use crate::world::Ctx;

/// A boxed future, for the custom steps and follow-ups rows name by function.
pub(crate) type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The provider's endpoints, as the faults name them.
pub(crate) const DISCOVERY: &str = "/.well-known/openid-configuration";
pub(crate) const JWKS: &str = "/.well-known/jwks.json";
pub(crate) const TOKEN: &str = "/token";
pub(crate) const USERINFO: &str = "/userinfo";

/// Where a failed sign-in leaves the session: the callback used the pending login up.
pub(crate) const FAILED_LOGIN: SessionState = SessionState::SignedOut;

/// When the misbehaviour strikes, i.e. which call of the app's must fail.
pub(crate) enum Step {
    /// Faults on, then `begin_login` (discovery).
    BeginLogin,
    /// Faults on, then `begin_login`, the browser, `handle_redirect` of the callback (optionally
    /// rewritten by the row, as an attacker or a broken OS would).
    Callback,
    /// `begin_login` and the browser first, then faults on, then `handle_redirect`.
    Exchange,
    /// A sign-in first, then faults on, then `refresh`.
    Refresh,
    /// A sign-in first, then faults on, then `userinfo`.
    Userinfo,
    /// A sign-in, then the stored session is replaced by `f(session)`, the app restarts and
    /// calls `restore`.
    RestoreSession(fn(&[u8]) -> Vec<u8>),
    /// A login started and its callback received, then the stored pending login is replaced by
    /// `f(pending)`, the app restarts and calls `handle_redirect`.
    RestorePending(fn(&[u8]) -> Vec<u8>),
    /// Anything else: the function runs the whole scenario and returns the call under test.
    Custom(for<'a> fn(&'a Ctx) -> BoxFut<'a, keyfob::Result<()>>),
}

/// What the step under test must return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Err {
        kind: ErrorKind,
        check: Option<IdTokenCheck>,
        retryable: bool,
        storage: Option<StorageErrorKind>,
    },
}

/// An error of `kind` that a retry will not cure.
pub(crate) fn fails(kind: ErrorKind) -> Outcome {
    Outcome::Err {
        kind,
        check: None,
        retryable: false,
        storage: None,
    }
}

/// An error of `kind` that a retry may cure.
pub(crate) fn retryable(kind: ErrorKind) -> Outcome {
    Outcome::Err {
        kind,
        check: None,
        retryable: true,
        storage: None,
    }
}

/// An ID token refused by `check`.
pub(crate) fn id_token(check: IdTokenCheck) -> Outcome {
    Outcome::Err {
        kind: ErrorKind::IdToken,
        check: Some(check),
        retryable: false,
        storage: None,
    }
}

/// A store error of `kind` (retryable only when the store is unavailable).
pub(crate) fn storage(kind: StorageErrorKind) -> Outcome {
    Outcome::Err {
        kind: ErrorKind::Storage,
        check: None,
        retryable: kind == StorageErrorKind::Unavailable,
        storage: Some(kind),
    }
}

/// What the store holds after the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Neither a session nor a pending login.
    Nothing,
    /// A pending login only.
    PendingOnly,
    /// A session, no pending login.
    Session,
    /// Exactly what it held when the step began.
    Unchanged,
}

/// An extra check on the world after the step.
pub(crate) type Check = Box<dyn Fn(&Ctx) -> Result<(), String> + Send + Sync>;
/// Switches the misbehaviour on (faults, key rotation, …).
pub(crate) type Setup = Box<dyn Fn(&Env) + Send + Sync>;
/// A follow-up scenario, run once the step has failed as expected.
pub(crate) type Then = for<'a> fn(&'a Ctx) -> BoxFut<'a, Result<(), String>>;

/// One misbehaviour and what it must lead to, built with the methods below.
pub(crate) struct Row {
    pub(crate) id: &'static str,
    pub(crate) case: &'static str,
    pub(crate) step: Step,
    pub(crate) setup: Option<Setup>,
    pub(crate) rewrite: Option<fn(&str) -> String>,
    pub(crate) timeout: Duration,
    pub(crate) outcome: Outcome,
    pub(crate) state: SessionState,
    pub(crate) stored: Stored,
    pub(crate) checks: Vec<(&'static str, Check)>,
    pub(crate) then: Option<Then>,
    pub(crate) known_bug: Option<&'static str>,
}

impl Row {
    pub(crate) fn new(id: &'static str, case: &'static str, step: Step) -> Row {
        Row {
            id,
            case,
            step,
            setup: None,
            rewrite: None,
            timeout: Duration::from_secs(10),
            outcome: Outcome::Ok,
            state: SessionState::SignedIn,
            stored: Stored::Session,
            checks: Vec::new(),
            then: None,
            known_bug: None,
        }
    }

    pub(crate) fn faults(self, faults: Faults) -> Row {
        self.setup(move |env: &Env| env.kit.set_faults(faults.clone()))
    }

    pub(crate) fn setup(mut self, f: impl Fn(&Env) + Send + Sync + 'static) -> Row {
        self.setup = Some(Box::new(f));
        self
    }

    pub(crate) fn rewrite(mut self, f: fn(&str) -> String) -> Row {
        self.rewrite = Some(f);
        self
    }

    pub(crate) fn timeout_secs(mut self, secs: u64) -> Row {
        self.timeout = Duration::from_secs(secs);
        self
    }

    pub(crate) fn expect(mut self, outcome: Outcome, state: SessionState, stored: Stored) -> Row {
        self.outcome = outcome;
        self.state = state;
        self.stored = stored;
        self
    }

    pub(crate) fn check(
        mut self,
        what: &'static str,
        f: impl Fn(&Ctx) -> Result<(), String> + Send + Sync + 'static,
    ) -> Row {
        self.checks.push((what, Box::new(f)));
        self
    }

    /// A stats counter of the testkit must have this value after the step.
    pub(crate) fn stat(self, what: &'static str, get: fn(&Stats) -> u64, want: u64) -> Row {
        self.check(what, move |ctx| {
            let got = get(&ctx.env.kit.stats());
            (got == want)
                .then_some(())
                .ok_or(format!("{what}: {got}, expected {want}"))
        })
    }

    pub(crate) fn then(mut self, f: Then) -> Row {
        self.then = Some(f);
        self
    }

    /// Marks a row as documenting a known defect (none open now; kept for the next one found).
    #[allow(dead_code)]
    pub(crate) fn known_bug(mut self, why: &'static str) -> Row {
        self.known_bug = Some(why);
        self
    }
}

/// A check that no request went to `host`.
pub(crate) fn no_request_to(
    host: &'static str,
) -> impl Fn(&Ctx) -> Result<(), String> + Send + Sync {
    move |ctx| {
        let urls = ctx.seen.urls.lock().unwrap();
        match urls.iter().find(|u| u.contains(host)) {
            Some(u) => Err(format!("a request went to {u}")),
            None => Ok(()),
        }
    }
}

// The testkit's counters, for [`Row::stat`].

/// Requests to the token endpoint (all grants).
pub(crate) fn tokens(s: &Stats) -> u64 {
    s.token
}

/// Fetches of the JWKS.
pub(crate) fn jwks(s: &Stats) -> u64 {
    s.jwks
}

/// Requests to the revocation endpoint.
pub(crate) fn revoke(s: &Stats) -> u64 {
    s.revoke
}

/// Requests to the userinfo endpoint.
pub(crate) fn userinfo(s: &Stats) -> u64 {
    s.userinfo
}
