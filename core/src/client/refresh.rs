//! The refresh, read as one story. Which token a caller gets, and when it asks for a refresh,
//! is `access_token.rs`; the refresh that runs ahead of expiry, `background.rs`.
//!
//! Every refresh of an account goes through [`Client::refresh_shared`]. A refresh has a
//! *target*: the session's own access token, or the access token of one API (an RFC 8707
//! resource indicator, [`Client::access_token_for`]), which the refresh token obtains with
//! `resource=` — a refresh of the account like any other (the refresh token may rotate). One
//! refresh at a time per account in this process, and a caller that waited while another
//! refreshed the same target takes that outcome instead of refreshing again. The refresh
//! itself, step by step:
//!
//! 1. **Someone in this process already refreshed** (the account's revision moved on while this
//!    caller waited): if the caller's target got a new token, or that refresh failed but still
//!    changed the session, their outcome is this caller's. If it was another target's refresh,
//!    this caller goes on from the new revision (with the new refresh token).
//! 2. **No refresh token**, or — for a DPoP-bound session (`client::dpop`) — **its key is gone or
//!    was replaced**: the user must sign in again (a lost key also ends the account).
//! 3. **Claim the refresh across processes** (`session::live`): if a sibling process sharing
//!    the store already refreshed the target, its tokens are adopted with no request (another
//!    target's refresh: go on from it). If a sibling is refreshing right now, this caller waits
//!    for its outcome — or, when its target's access token still serves it (not expired, and
//!    lasting its `min_ttl`), uses that meanwhile. Otherwise this process takes the lease.
//! 4. **The grant** (`grant_type=refresh_token`, with `resource=` for an API, and a DPoP proof
//!    for a DPoP-bound session whatever the target), at the token endpoint of the provider's
//!    metadata as stored, with stale metadata revalidated beside it (`client::provider`). If it
//!    fails:
//!    - `invalid_grant`: the account is dead at the provider — unless a sibling's newer token
//!      replaced it meanwhile, which then stands. It is removed (memory, storage) and the
//!      caller is told to sign in again. (A refresh ahead of expiry leaves it: the token
//!      serves until it expires, and the refresh that follows then ends the account.)
//!    - an unusable `200` that still carries a new refresh token: the provider may already have
//!      rotated the old one out, so the new one is kept (memory, then storage) with the current
//!      access and ID tokens, and the bad answer is reported;
//!    - anything else (network, timeout, 5xx, other OAuth errors such as `invalid_target` for an
//!      API the grant does not cover): nothing changes and the lease is given back; the error
//!      says whether to retry.
//! 5. **The new tokens go into memory at once** (an API's token beside the session's own, which
//!    stays as it was): from here on the old refresh token is dead at
//!    the provider. If a logout or a new sign-in replaced the account while the request was in
//!    flight, this grant is orphaned: it is revoked, and the current session is the answer.
//! 6. **A refreshed ID token is validated** against the sign-in's (OpenID Connect Core §12.2).
//!    Valid: it replaces the previous one. Keys unreachable (retryable): the previous, validated
//!    ID token is kept with the new access and refresh tokens. Invalid: the response cannot be
//!    trusted; the account ends and its new refresh token is revoked.
//! 7. **Persisted, then returned.** A failed write is the caller's error; the new tokens stay in
//!    memory and the next call writes them again. A result that lost to a newer change of the
//!    account (a sibling took over a lapsed lease) is orphaned and revoked.
//!
//! Observers hear about the outcome after the refresh lock is released.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::Client;
use super::provider::GrantFuture;
use crate::error::{Error, ErrorKind, Result};
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::token::{self, RefreshFailure};
use crate::secret::SecretString;
use crate::session::live::{Claim, Ended, relogin_required};
use crate::session::{SessionEvent, Tokens};
use crate::sync::{lock, sleep};

/// How long this process waits between two looks at a sibling's lease.
const LEASE_POLL: Duration = Duration::from_millis(200);

/// Who asked for a refresh.
#[derive(Debug, Clone, Copy)]
pub(super) struct Caller<'a> {
    /// The caller named the account (rather than asking for the active one).
    pub named: bool,
    /// The caller needs a valid token, not a new one: while a sibling process refreshes, the
    /// current token serves if it lasts `min_ttl`.
    pub may_use_current: bool,
    /// How long, in seconds, the token the caller gets must stay valid (`0`: not expired).
    pub min_ttl: i64,
    /// A refresh ahead of expiry: its failure must change nothing.
    pub early: bool,
    /// The API whose access token is wanted (RFC 8707 resource); `None`: the session's own.
    pub resource: Option<&'a str>,
    /// The target's access token when the caller looked (`None`: it had none, or — refresh
    /// ahead — any change answers): a different one later means someone refreshed it meanwhile.
    pub seen: Option<&'a SecretString>,
}

impl Caller<'static> {
    /// A refresh ahead of expiry of the session's own token, run in the background or by the
    /// first caller that found the token due: any refresh of the account since answers it.
    const EARLY: Caller<'static> = Caller {
        named: true,
        may_use_current: true,
        min_ttl: 0,
        early: true,
        resource: None,
        seen: None,
    };
}

/// The outcome of claiming a refresh (step 3).
enum Claimed {
    /// This process holds the lease: refresh from these tokens and revision.
    Mine(Tokens, u64),
    /// A sibling's refresh answered, or the current token serves meanwhile.
    Answered(Tokens),
}

/// Whether `tokens` hold another token for the caller's target than the one it saw: someone
/// refreshed it meanwhile.
fn renewed(tokens: &Tokens, caller: Caller<'_>) -> bool {
    tokens.target(caller.resource).map(|target| target.token) != caller.seen
}

impl Client {
    /// A refresh ahead of expiry of `subject`'s token of `revision` (see `background.rs`): its
    /// failure changes nothing, the token serves until it expires.
    pub(super) async fn refresh_early(&self, subject: &str, revision: u64) {
        if let Err(e) = self.refresh_shared(subject, revision, Caller::EARLY).await {
            log::warn!("refreshing ahead of expiry failed; the token serves until it expires: {e}");
        }
    }

    /// Uses the active account's refresh token now, whatever the access token's expiry
    /// (callers that arrive while a refresh is in flight, here or in a sibling process, share
    /// its result).
    ///
    /// A new refresh token replaces the old one; when the provider sends none, the old one is
    /// kept. A refreshed ID token must name the same user (OpenID Connect Core §12.2); if it
    /// fails validation the session ends, since the response cannot be trusted.
    pub async fn refresh(&self) -> Result<Tokens> {
        self.refresh_of(None).await
    }

    /// [`Client::refresh`] for the account of user `subject`.
    pub async fn refresh_account(&self, subject: &str) -> Result<Tokens> {
        self.refresh_of(Some(subject)).await
    }

    pub(crate) async fn refresh_of(&self, subject: Option<&str>) -> Result<Tokens> {
        let current = self.store.account(subject);
        self.notify_absorbed();
        let (account, tokens, revision) = current?;
        let caller = Caller {
            named: subject.is_some(),
            may_use_current: false,
            min_ttl: 0,
            early: false,
            resource: None,
            seen: Some(&tokens.access_token),
        };
        self.refresh_shared(&account, revision, caller).await
    }

    /// How long a refresh may hold its lease: the token request and a key-set fetch, each
    /// within the HTTP timeout, and some slack.
    fn lease_secs(&self) -> i64 {
        i64::try_from(self.config.http_timeout.as_secs() * 2 + 5).unwrap_or(i64::MAX)
    }

    /// Refreshes `subject`'s account unless another refresh completed since `seen_revision`, in
    /// which case its result is returned. Observers are told after the refresh lock is
    /// released.
    pub(super) async fn refresh_shared(
        &self,
        subject: &str,
        seen_revision: u64,
        caller: Caller<'_>,
    ) -> Result<Tokens> {
        let in_flight = lock(&self.refresh_locks)
            .get_or_insert_with(subject, || Arc::new(futures_util::lock::Mutex::new(())))
            .clone();
        let mut events = Vec::new();
        let result = {
            let _in_flight = in_flight.lock().await;
            self.refresh_locked(subject, seen_revision, caller, &mut events)
                .await
        };
        self.notify_absorbed();
        for event in events {
            self.notify(event);
        }
        result
    }

    /// The story in the module documentation, steps 1 to 7.
    async fn refresh_locked(
        &self,
        subject: &str,
        seen_revision: u64,
        caller: Caller<'_>,
        events: &mut Vec<SessionEvent>,
    ) -> Result<Tokens> {
        let (_, current, revision) = self.store.account(Some(subject))?;
        if revision != seen_revision
            && let Some(outcome) =
                self.outcome_of_the_refresh_waited_for(subject, &current, revision, caller)
        {
            return outcome;
        }
        let no_refresh_token = || {
            Error::new(
                ErrorKind::ReLoginRequired,
                "the session has no refresh token; sign in again",
            )
        };
        if current.refresh_token.is_none() {
            return Err(no_refresh_token());
        }
        let dpop = self
            .session_key(&current)
            .map_err(|e| self.end_if_key_lost(subject, revision, e, events))?;
        let (current, revision) = match self
            .claim_refresh(subject, current, revision, caller)
            .await?
        {
            Claimed::Mine(current, revision) => (current, revision),
            Claimed::Answered(tokens) => return Ok(tokens),
        };
        let Some(refresh_token) = current.refresh_token.clone() else {
            self.store.release_refresh(subject, &self.lease_holder);
            return Err(no_refresh_token());
        };
        let provider = match self.metadata_for_grant().await {
            Ok(provider) => provider,
            Err(e) => {
                self.store.release_refresh(subject, &self.lease_holder);
                return Err(e);
            }
        };
        let (http, client_id) = (&self.http, self.config.client_id.as_str());
        let refresh_token = &refresh_token;
        let resource = caller.resource.map(|r| [("resource", r)]);
        let extra = resource.as_ref().map_or(&[][..], |r| &r[..]);
        // The proof is made for the endpoint the request goes to (its `htu`), also when the
        // token endpoint moved and the refresh is sent again.
        let grant = |endpoint: Url| -> GrantFuture<'_> {
            let proof = self.proof_now(dpop);
            Box::pin(async move {
                token::refresh_with(http, &endpoint, client_id, refresh_token, proof, extra).await
            })
        };
        let (provider, response) = self.grant_with_fresh_metadata(provider, &grant).await;
        let response = match response {
            Ok(response) => response,
            Err(failure) => {
                return self
                    .grant_failed(
                        &provider, subject, caller, current, revision, failure, events,
                    )
                    .await;
            }
        };
        self.learn_clock_offset(&response);
        let new_id_token = response.id_token.clone();
        let provisional = match caller.resource {
            None => self.tokens_from(
                response,
                current.id_token.clone(),
                current.claims.clone(),
                Some(&current),
            ),
            Some(resource) => self.with_resource_token(response, &current, resource),
        };
        let Some(new_revision) = self
            .store
            .stage_refresh(subject, revision, provisional.clone())
        else {
            // Logged out or signed in again while the request was in flight: this grant is
            // orphaned; revoke it rather than resurrect the old session.
            self.revoke_quietly(&provider, &provisional).await;
            return self.answer_after_orphan(subject, caller);
        };
        let tokens = match new_id_token {
            None => provisional,
            Some(id_token) => {
                self.adopt_refreshed_id_token(
                    &provider,
                    subject,
                    &current,
                    provisional,
                    id_token,
                    new_revision,
                    events,
                )
                .await?
            }
        };
        for orphan in self.store.persist()? {
            self.revoke_quietly(&provider, &orphan).await;
            if orphan == tokens {
                // A sibling took over the lapsed lease and refreshed first: its tokens stand.
                return self.answer_after_orphan(subject, caller);
            }
        }
        log::info!("tokens refreshed");
        events.push(SessionEvent::Refreshed);
        Ok(tokens)
    }

    /// The answer when this refresh's result was orphaned: the account's tokens now, or — when
    /// the caller asked for the active account and this one is gone — the active account's.
    fn answer_after_orphan(&self, subject: &str, caller: Caller<'_>) -> Result<Tokens> {
        match self.store.account(Some(subject)) {
            Err(e) if !caller.named && e.kind() == ErrorKind::NotSignedIn => {
                self.store.account(None).map(|(_, t, _)| t)
            }
            other => other.map(|(_, t, _)| t),
        }
    }

    /// Step 1: another caller's refresh ended while this one waited. `Some`: its outcome is
    /// this caller's; `None`: it refreshed another target, so this caller refreshes its own.
    fn outcome_of_the_refresh_waited_for(
        &self,
        subject: &str,
        current: &Tokens,
        revision: u64,
        caller: Caller<'_>,
    ) -> Option<Result<Tokens>> {
        if let Some((failed, resource, e)) = lock(&self.failed_refresh).get(subject)
            && *failed == revision
            && resource.as_deref() == caller.resource
        {
            return Some(Err(e.clone()));
        }
        renewed(current, caller).then(|| Ok(current.clone()))
    }

    /// Step 3: [`Claimed::Mine`] when this process holds the lease and must refresh (from the
    /// tokens and revision it holds then); [`Claimed::Answered`] when a sibling's refresh of
    /// the target answered (or the current token serves meanwhile).
    async fn claim_refresh(
        &self,
        subject: &str,
        mut current: Tokens,
        mut revision: u64,
        caller: Caller<'_>,
    ) -> Result<Claimed> {
        let lease = self.lease_secs();
        // Bounded in polls as well as in device time, so that a clock that stands still (or a
        // lease written with a wrong clock) cannot keep this process waiting forever.
        let max_polls = lease.saturating_mul(1000) / LEASE_POLL.as_millis() as i64 + 1;
        let mut polls = 0;
        loop {
            let now = self.clock.now();
            // After waiting a whole lease, a lease still there is stale: take it over.
            let claimed_at = if polls >= max_polls { i64::MAX } else { now };
            let claim = self.store.claim_refresh(
                subject,
                revision,
                &self.lease_holder,
                now.saturating_add(lease),
                claimed_at,
            );
            self.notify_absorbed();
            match claim? {
                Claim::Mine => return Ok(Claimed::Mine(current, revision)),
                Claim::Done(tokens, _) if renewed(&tokens, caller) => {
                    return Ok(Claimed::Answered(*tokens));
                }
                // A sibling refreshed another target: claim again from its tokens.
                Claim::Done(tokens, newer) => (current, revision) = (*tokens, newer),
                Claim::Busy => {
                    let serves = current
                        .target(caller.resource)
                        .is_some_and(|target| target.lasts(now, caller.min_ttl));
                    if caller.may_use_current && serves {
                        return Ok(Claimed::Answered(current));
                    }
                    log::debug!("a sibling process is refreshing; waiting for its outcome");
                    sleep(LEASE_POLL).await;
                    polls += 1;
                }
            }
        }
    }

    /// Step 4's failures: the caller's error, or — when `invalid_grant` arrives after a sibling
    /// refreshed, or after the account was replaced — the tokens that stand now.
    #[allow(clippy::too_many_arguments)]
    async fn grant_failed(
        &self,
        provider: &ProviderMetadata,
        subject: &str,
        caller: Caller<'_>,
        current: Tokens,
        revision: u64,
        failure: RefreshFailure,
        events: &mut Vec<SessionEvent>,
    ) -> Result<Tokens> {
        let RefreshFailure {
            error,
            rotated_refresh_token,
        } = failure;
        if error.provider_error() == Some("invalid_grant") && caller.early {
            // Ahead of expiry nothing changes: the token serves until it expires, and the
            // refresh that follows then ends the account (or finds a sibling's newer token).
            log::warn!("refresh token rejected ahead of expiry: {error}");
            self.store.release_refresh(subject, &self.lease_holder);
            return Err(error);
        }
        if error.provider_error() == Some("invalid_grant") {
            log::warn!("refresh token rejected: {error}");
            return match self.store.end_account(subject, revision)? {
                Ended::Newer(tokens) => Ok(*tokens),
                Ended::Gone => self.answer_after_orphan(subject, caller),
                Ended::Removed => {
                    events.push(SessionEvent::NeedsReLogin);
                    Err(relogin_required())
                }
            };
        }
        let Some(rotated) = rotated_refresh_token else {
            self.store.release_refresh(subject, &self.lease_holder);
            return Err(error);
        };
        log::warn!("unusable refresh response, keeping its new refresh token: {error}");
        let kept = Tokens {
            refresh_token: Some(rotated),
            ..current
        };
        match self.store.stage_refresh(subject, revision, kept.clone()) {
            Some(kept_revision) => {
                let target = caller.resource.map(str::to_string);
                lock(&self.failed_refresh)
                    .insert(subject.to_string(), (kept_revision, target, error.clone()));
                // A failed write is what the app must hear about: the new refresh token is only
                // in memory (the next call writes it again).
                for orphan in self.store.persist()? {
                    self.revoke_quietly(provider, &orphan).await;
                }
            }
            None => self.revoke_quietly(provider, &kept).await,
        }
        Err(error)
    }

    /// Step 6: the refreshed ID token, checked against the sign-in's claims.
    #[allow(clippy::too_many_arguments)]
    async fn adopt_refreshed_id_token(
        &self,
        provider: &ProviderMetadata,
        subject: &str,
        previous: &Tokens,
        provisional: Tokens,
        id_token: SecretString,
        revision: u64,
        events: &mut Vec<SessionEvent>,
    ) -> Result<Tokens> {
        match self
            .validate_id_token(provider, &id_token, None, Some(previous))
            .await
        {
            Ok(claims) => {
                let validated = Tokens {
                    id_token,
                    claims,
                    ..provisional
                };
                self.store.restage(subject, revision, validated.clone());
                Ok(validated)
            }
            Err(e) if e.is_retryable() => {
                // The keys could not be fetched: keep the new access and refresh tokens with the
                // previous, validated ID token; the new one is not used.
                log::warn!("refreshed ID token not validated now, keeping the previous one: {e}");
                Ok(provisional)
            }
            Err(e) => {
                log::warn!("refreshed ID token rejected, ending the session: {e}");
                if let Ok(Ended::Removed) = self.store.end_account(subject, revision) {
                    self.revoke_quietly(provider, &provisional).await;
                    events.push(SessionEvent::NeedsReLogin);
                }
                Err(e)
            }
        }
    }
}
