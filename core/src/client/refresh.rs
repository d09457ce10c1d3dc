//! Access tokens and the refresh, read as one story.
//!
//! [`Client::access_token`] answers from memory while the token has more than the refresh
//! margin left; otherwise it refreshes. Every refresh goes through [`Client::refresh_shared`]:
//! one at a time, and a caller that waited while another refreshed takes that outcome instead
//! of refreshing again. The refresh itself, step by step:
//!
//! 1. **Someone else already refreshed** (the session's generation moved on while this caller
//!    waited): their outcome is this caller's — their tokens, or the error of a refresh that
//!    failed but still changed the session.
//! 2. **No refresh token**: the user must sign in again.
//! 3. **The grant** (`grant_type=refresh_token`). If it fails:
//!    - `invalid_grant`: the session is dead at the provider; it is cleared (memory, storage)
//!      and the caller is told to sign in again — unless the session changed meanwhile, in
//!      which case that newer session is the answer;
//!    - an unusable `200` that still carries a new refresh token: the provider may already have
//!      rotated the old one out, so the new one is kept (memory, then storage) with the current
//!      access and ID tokens, and the bad answer is reported;
//!    - anything else (network, timeout, 5xx, other OAuth errors): nothing changes; the error
//!      says whether to retry.
//! 4. **The new tokens go into memory at once**: from here on the old refresh token is dead at
//!    the provider. If a logout or a new sign-in replaced the session while the request was in
//!    flight, this grant is orphaned: it is revoked, and the current session is the answer.
//! 5. **A refreshed ID token is validated** against the sign-in's (OpenID Connect Core §12.2).
//!    Valid: it replaces the previous one. Keys unreachable (retryable): the previous, validated
//!    ID token is kept with the new access and refresh tokens. Invalid: the response cannot be
//!    trusted; the session ends and its new refresh token is revoked.
//! 6. **Persisted, then returned.** A failed write is the caller's error; the new tokens stay in
//!    memory and the next call writes them again.
//!
//! Observers hear about the outcome after the refresh lock is released.

use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::token::{self, RefreshFailure};
use crate::secret::SecretString;
use crate::session::live::relogin_required;
use crate::session::{SessionEvent, Tokens};
use crate::sync::lock;

impl Client {
    /// A valid access token: the current one while it has more than [`Config::refresh_margin`]
    /// left, otherwise a refreshed one. Concurrent callers share a single refresh.
    ///
    /// [`Config::refresh_margin`]: crate::Config::refresh_margin
    pub async fn access_token(&self) -> Result<SecretString> {
        if let Some(token) = self.cached_access_token() {
            return Ok(token);
        }
        let (tokens, generation) = self.store.current()?;
        if tokens.is_fresh(self.clock.now(), self.refresh_margin()) {
            return Ok(tokens.access_token);
        }
        Ok(self.refresh_shared(generation).await?.access_token)
    }

    /// The access token from memory if it is persisted and valid for at least the refresh
    /// margin, without any I/O or waiting (for hot paths). `None` means: call
    /// [`Client::access_token`].
    pub fn cached_access_token(&self) -> Option<SecretString> {
        self.store
            .fresh_access_token(self.clock.now(), self.refresh_margin())
    }

    /// Uses the refresh token now, whatever the access token's expiry (callers that arrive while
    /// a refresh is in flight share its result).
    ///
    /// A new refresh token replaces the old one; when the provider sends none, the old one is
    /// kept. A refreshed ID token must name the same user (OpenID Connect Core §12.2); if it
    /// fails validation the session ends, since the response cannot be trusted.
    pub async fn refresh(&self) -> Result<Tokens> {
        let (_, generation) = self.store.current()?;
        self.refresh_shared(generation).await
    }

    fn refresh_margin(&self) -> i64 {
        i64::try_from(self.config.refresh_margin.as_secs()).unwrap_or(i64::MAX)
    }

    /// Refreshes unless another refresh completed since `seen_generation`, in which case its
    /// result is returned. Observers are told after the refresh lock is released.
    async fn refresh_shared(&self, seen_generation: u64) -> Result<Tokens> {
        let mut events = Vec::new();
        let result = {
            let _in_flight = self.refresh_lock.lock().await;
            self.refresh_locked(seen_generation, &mut events).await
        };
        for event in events {
            self.notify(event);
        }
        result
    }

    /// The story in the module documentation, steps 1 to 6.
    async fn refresh_locked(
        &self,
        seen_generation: u64,
        events: &mut Vec<SessionEvent>,
    ) -> Result<Tokens> {
        let (current, generation) = self.store.current()?;
        if generation != seen_generation {
            return self.outcome_of_the_refresh_waited_for(current, generation);
        }
        let refresh_token = current.refresh_token.clone().ok_or_else(|| {
            Error::new(
                ErrorKind::ReLoginRequired,
                "the session has no refresh token; sign in again",
            )
        })?;
        let provider = self.provider_metadata().await?;
        let response = match token::refresh(
            &self.http,
            &provider.token_endpoint,
            &self.config.client_id,
            &refresh_token,
        )
        .await
        {
            Ok(response) => response,
            Err(failure) => {
                return self
                    .grant_failed(&provider, current, generation, failure, events)
                    .await;
            }
        };
        self.learn_clock_offset(&response);
        let new_id_token = response.id_token.clone();
        let provisional = self.tokens_from(
            response,
            current.id_token.clone(),
            current.claims.clone(),
            Some(&current),
        );
        let Some(generation) = self.store.replace(Some(generation), provisional.clone()) else {
            self.revoke_quietly(&provider, &provisional).await;
            return self.store.current().map(|(t, _)| t);
        };
        let tokens = match new_id_token {
            None => provisional,
            Some(id_token) => {
                self.adopt_refreshed_id_token(
                    &provider,
                    &current,
                    provisional,
                    id_token,
                    generation,
                    events,
                )
                .await?
            }
        };
        self.store.persist()?;
        log::info!("tokens refreshed");
        events.push(SessionEvent::Refreshed);
        Ok(tokens)
    }

    /// Step 1: another caller's refresh ended while this one waited.
    fn outcome_of_the_refresh_waited_for(
        &self,
        current: Tokens,
        generation: u64,
    ) -> Result<Tokens> {
        match &*lock(&self.failed_refresh) {
            Some((failed, e)) if *failed == generation => Err(e.clone()),
            _ => Ok(current),
        }
    }

    /// Step 3's failures: the caller's error, or — when `invalid_grant` arrives after a logout or
    /// a new sign-in replaced the session — that newer session's tokens.
    async fn grant_failed(
        &self,
        provider: &ProviderMetadata,
        current: Tokens,
        generation: u64,
        failure: RefreshFailure,
        events: &mut Vec<SessionEvent>,
    ) -> Result<Tokens> {
        let RefreshFailure {
            error,
            rotated_refresh_token,
        } = failure;
        if error.provider_error() == Some("invalid_grant") {
            log::warn!("refresh token rejected: {error}");
            let (dropped, deleted) = self.store.clear(Some(generation), true);
            if dropped.is_none() {
                // The session changed meanwhile (logout, new sign-in): report that one.
                return self.store.current().map(|(t, _)| t);
            }
            if let Err(e) = deleted {
                log::warn!("could not delete the rejected session: {e}");
            }
            events.push(SessionEvent::NeedsReLogin);
            return Err(relogin_required());
        }
        let Some(rotated) = rotated_refresh_token else {
            return Err(error);
        };
        log::warn!("unusable refresh response, keeping its new refresh token: {error}");
        let kept = Tokens {
            refresh_token: Some(rotated),
            ..current
        };
        match self.store.replace(Some(generation), kept.clone()) {
            Some(kept_generation) => {
                *lock(&self.failed_refresh) = Some((kept_generation, error.clone()));
                // A failed write is what the app must hear about: the new refresh token is only
                // in memory (the next call writes it again).
                self.store.persist()?;
            }
            None => self.revoke_quietly(provider, &kept).await,
        }
        Err(error)
    }

    /// Step 5: the refreshed ID token, checked against the sign-in's claims.
    async fn adopt_refreshed_id_token(
        &self,
        provider: &ProviderMetadata,
        previous: &Tokens,
        provisional: Tokens,
        id_token: SecretString,
        generation: u64,
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
                self.store.replace(Some(generation), validated.clone());
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
                if self.store.clear(Some(generation), true).0.is_some() {
                    self.revoke_quietly(provider, &provisional).await;
                    events.push(SessionEvent::NeedsReLogin);
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::http::TransportErrorKind;
    use crate::session::SessionState;
    use crate::test_support::{
        Answer, RecordingObserver, ScriptedProvider, client_with_session, session_tokens,
        stored_tokens,
    };

    /// A signed-in client of a scripted provider, with an observer.
    fn signed_in() -> (
        Arc<ScriptedProvider>,
        Arc<Client>,
        Arc<crate::storage::MemoryStorage>,
        Arc<RecordingObserver>,
    ) {
        let provider = ScriptedProvider::new();
        let tokens = session_tokens(&provider, "u1");
        let (client, storage) = client_with_session(&provider, Some(&tokens));
        let observer = Arc::new(RecordingObserver::default());
        client.add_observer(observer.clone());
        (provider, client, storage, observer)
    }

    fn refresh_token(tokens: &Tokens) -> Option<&str> {
        tokens.refresh_token().map(SecretString::expose)
    }

    #[tokio::test]
    async fn a_rotated_refresh_token_is_saved_before_it_is_returned() {
        let (provider, client, storage, observer) = signed_in();
        provider.answer_tokens(json!({"refresh_token": "rt-2"}));
        let tokens = client.refresh().await.unwrap();
        assert_eq!(tokens.access_token().expose(), "at-2");
        assert_eq!(refresh_token(&tokens), Some("rt-2"));
        let stored = stored_tokens(&storage).unwrap();
        assert_eq!(refresh_token(&stored), Some("rt-2"));
        assert_eq!(stored.access_token().expose(), "at-2");
        assert_eq!(observer.events(), vec![SessionEvent::Refreshed]);
        assert_eq!(provider.count("POST /token refresh_token"), 1);
    }

    #[tokio::test]
    async fn without_rotation_the_old_refresh_token_is_kept() {
        let (provider, client, storage, _) = signed_in();
        provider.answer_tokens(json!({}));
        let tokens = client.refresh().await.unwrap();
        assert_eq!(refresh_token(&tokens), Some("rt-1"));
        assert_eq!(
            refresh_token(&stored_tokens(&storage).unwrap()),
            Some("rt-1")
        );
    }

    #[tokio::test]
    async fn no_refresh_token_means_sign_in_again_without_a_request() {
        let provider = ScriptedProvider::new();
        let mut tokens = session_tokens(&provider, "u1");
        tokens.refresh_token = None;
        let (client, _) = client_with_session(&provider, Some(&tokens));
        let e = client.refresh().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
        assert_eq!(provider.count("POST /token"), 0);
    }

    #[tokio::test]
    async fn invalid_grant_ends_the_session() {
        let (provider, client, storage, observer) = signed_in();
        provider.answer(Answer::Json(400, json!({"error": "invalid_grant"})));
        let e = client.refresh().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
        assert!(e.requires_sign_in());
        assert_eq!(client.state(), SessionState::NeedsReLogin);
        assert!(stored_tokens(&storage).is_none());
        assert_eq!(observer.events(), vec![SessionEvent::NeedsReLogin]);
    }

    #[tokio::test]
    async fn server_errors_and_timeouts_keep_the_session() {
        let (provider, client, storage, observer) = signed_in();
        let before = stored_tokens(&storage).unwrap();
        provider.answer(Answer::Json(
            503,
            json!({"error": "temporarily_unavailable"}),
        ));
        provider.answer(Answer::Fail(TransportErrorKind::Timeout));
        provider.answer(Answer::Json(400, json!({"error": "invalid_request"})));
        let expected = [
            ErrorKind::HttpStatus,
            ErrorKind::Timeout,
            ErrorKind::Provider,
        ];
        for kind in expected {
            let e = client.refresh().await.unwrap_err();
            assert_eq!(e.kind(), kind);
            assert_eq!(e.is_retryable(), kind != ErrorKind::Provider, "{e:?}");
            assert!(!e.requires_sign_in());
            assert_eq!(client.state(), SessionState::SignedIn);
            assert_eq!(stored_tokens(&storage).unwrap(), before);
        }
        assert!(observer.events().is_empty());
    }

    #[tokio::test]
    async fn an_unusable_answer_keeps_its_rotated_refresh_token() {
        let (provider, client, storage, _) = signed_in();
        provider.answer_tokens(json!({"token_type": "mac", "refresh_token": "rt-2"}));
        let e = client.refresh().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse);
        let stored = stored_tokens(&storage).unwrap();
        assert_eq!(refresh_token(&stored), Some("rt-2"));
        // The access token the provider did not replace usably stays the current one.
        assert_eq!(stored.access_token().expose(), "at-1");
        // The next refresh uses the kept token.
        provider.answer_tokens(json!({"refresh_token": "rt-3"}));
        client.refresh().await.unwrap();
        assert_eq!(
            refresh_token(&stored_tokens(&storage).unwrap()),
            Some("rt-3")
        );
    }

    #[tokio::test]
    async fn callers_that_waited_share_the_refresh_and_its_failure() {
        let (provider, client, _, _) = signed_in();
        provider.answer_tokens(json!({"refresh_token": "rt-2"}));
        let (a, b) = tokio::join!(client.refresh(), client.refresh());
        assert_eq!(a.unwrap().access_token().expose(), "at-2");
        assert_eq!(b.unwrap().access_token().expose(), "at-2");
        assert_eq!(provider.count("POST /token"), 1);

        // A refresh that fails but changes the session (it kept a rotated token): the waiter
        // gets the same error, not a second request.
        provider.answer_tokens(json!({"access_token": null, "refresh_token": "rt-3"}));
        let (a, b) = tokio::join!(client.refresh(), client.refresh());
        assert_eq!(a.unwrap_err().kind(), ErrorKind::InvalidResponse);
        assert_eq!(b.unwrap_err().kind(), ErrorKind::InvalidResponse);
        assert_eq!(provider.count("POST /token"), 2);
    }

    #[tokio::test]
    async fn a_valid_refreshed_id_token_replaces_the_claims() {
        let (provider, client, storage, _) = signed_in();
        let id_token = provider.id_token("u1", json!({"email": "new@example.com"}));
        provider.answer_tokens(json!({"id_token": id_token}));
        let tokens = client.refresh().await.unwrap();
        assert_eq!(tokens.id_token().expose(), id_token);
        assert_eq!(tokens.claims().email.as_deref(), Some("new@example.com"));
        assert_eq!(
            stored_tokens(&storage).unwrap().id_token().expose(),
            id_token
        );
    }

    #[tokio::test]
    async fn an_invalid_refreshed_id_token_ends_the_session_and_revokes_its_grant() {
        let (provider, client, storage, observer) = signed_in();
        let other_user = provider.id_token("u2", json!({}));
        provider.answer_tokens(json!({"id_token": other_user, "refresh_token": "rt-2"}));
        let e = client.refresh().await.unwrap_err();
        assert_eq!(
            e.id_token_check(),
            Some(crate::IdTokenCheck::SubjectChanged)
        );
        assert_eq!(client.state(), SessionState::NeedsReLogin);
        assert!(stored_tokens(&storage).is_none());
        assert_eq!(provider.count("POST /revoke rt-2"), 1);
        assert_eq!(observer.events(), vec![SessionEvent::NeedsReLogin]);
    }

    #[tokio::test]
    async fn unreachable_keys_keep_the_previous_id_token_with_the_new_tokens() {
        let (provider, client, storage, _) = signed_in();
        let before = stored_tokens(&storage).unwrap();
        provider.make_jwks_unreachable();
        let new_kid = provider
            .signer
            .sign(json!({"kid": "rotated"}), &json!({"sub": "u1"}));
        provider.answer_tokens(json!({"id_token": new_kid, "refresh_token": "rt-2"}));
        let tokens = client.refresh().await.unwrap();
        assert_eq!(tokens.id_token(), before.id_token());
        assert_eq!(refresh_token(&tokens), Some("rt-2"));
        assert_eq!(stored_tokens(&storage).unwrap(), tokens);
    }

    #[tokio::test]
    async fn a_refresh_that_races_a_logout_revokes_its_grant() {
        let (provider, client, storage, _) = signed_in();
        let racing = Arc::downgrade(&client);
        provider.on_token_request(move || {
            let client = racing.upgrade().unwrap();
            let (ended, deleted) = client.store.clear(None, false);
            assert!(ended.is_some() && deleted.is_ok());
        });
        provider.answer_tokens(json!({"refresh_token": "rt-2"}));
        let e = client.refresh().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotSignedIn);
        assert_eq!(provider.count("POST /revoke rt-2"), 1);
        assert!(stored_tokens(&storage).is_none());
        assert_eq!(client.state(), SessionState::SignedOut);
    }

    #[tokio::test]
    async fn a_refresh_that_races_a_new_sign_in_answers_with_the_new_session() {
        let (provider, client, storage, _) = signed_in();
        let newer = session_tokens(&provider, "u2");
        let racing = Arc::downgrade(&client);
        let signed_in_meanwhile = newer.clone();
        provider.on_token_request(move || {
            let client = racing.upgrade().unwrap();
            client.store.replace(None, signed_in_meanwhile);
            client.store.persist().unwrap();
        });
        provider.answer_tokens(json!({"refresh_token": "rt-2"}));
        let tokens = client.refresh().await.unwrap();
        assert_eq!(tokens, newer);
        assert_eq!(provider.count("POST /revoke rt-2"), 1);
        assert_eq!(stored_tokens(&storage).unwrap(), newer);

        // invalid_grant for the old session after a new sign-in: the new session stands.
        let racing = Arc::downgrade(&client);
        let newest = session_tokens(&provider, "u3");
        let replacement = newest.clone();
        provider.on_token_request(move || {
            let client = racing.upgrade().unwrap();
            client.store.replace(None, replacement);
            client.store.persist().unwrap();
        });
        provider.answer(Answer::Json(400, json!({"error": "invalid_grant"})));
        assert_eq!(client.refresh().await.unwrap(), newest);
        assert_eq!(client.state(), SessionState::SignedIn);
        assert_eq!(stored_tokens(&storage).unwrap(), newest);
    }

    #[tokio::test]
    async fn a_fresh_token_is_served_from_memory_and_an_expiring_one_is_refreshed() {
        let (provider, client, _, _) = signed_in();
        // `at-1` expires at NOW + 60, beyond the 30 s margin: no request.
        assert_eq!(client.access_token().await.unwrap().expose(), "at-1");
        assert_eq!(client.cached_access_token().unwrap().expose(), "at-1");
        assert_eq!(provider.count("POST /token"), 0);
        // Within the margin, the refresh runs.
        let clock = crate::clock::ManualClock::new(crate::test_support::NOW + 31);
        let client = Arc::try_unwrap(client)
            .ok()
            .unwrap()
            .with_clock(Arc::new(clock));
        assert!(client.cached_access_token().is_none());
        provider.answer_tokens(json!({}));
        assert_eq!(client.access_token().await.unwrap().expose(), "at-2");
        assert_eq!(provider.count("POST /token"), 1);
    }
}
