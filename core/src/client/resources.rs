//! Access tokens for single APIs (RFC 8707 resource indicators): [`Client::access_token_for`].
//!
//! One access token that every API accepts also works at every API it leaks from. With
//! resource indicators the app holds a narrower token per API: the first call for an API uses
//! the refresh token with `resource=` (RFC 8707 §2.2), without a new login, and keeps the
//! answer with the session, with its own expiry. After that the token comes from memory until
//! it is about to expire, then it is refreshed the same way. These refreshes are refreshes of
//! the account like any other (the refresh token may rotate), so they follow the story in
//! `refresh.rs`: one at a time per account, shared by the callers waiting for the same API, and
//! coordinated with sibling processes through the store.

use super::Client;
use crate::error::Result;
use crate::oidc::token::TokenResponse;
use crate::secret::SecretString;
use crate::session::{ResourceToken, Tokens};

impl Client {
    /// A valid access token of the active account for the API `resource` (its RFC 8707
    /// resource indicator, e.g. `https://crm.company.com`): from memory while it has more than
    /// the refresh margin left (at most half its lifetime, as for [`Client::access_token`]),
    /// otherwise obtained with the refresh token and `resource=` (with a DPoP proof for a
    /// DPoP-bound session). Unlike the session's own token it is not refreshed ahead: a due
    /// one is refreshed while the caller waits.
    /// Concurrent callers for the same API share one request. [`Client::access_token`] is not
    /// affected.
    ///
    /// The provider decides which APIs the grant covers: one it does not answers with the
    /// `Provider` error `invalid_target`, and the session stays as it was. Without a refresh
    /// token, `ReLoginRequired`.
    pub async fn access_token_for(&self, resource: &str) -> Result<SecretString> {
        self.access_token_of(None, Some(resource), 0).await
    }

    /// The active account's access token for the API `resource` from memory if it is persisted
    /// and needs no refresh yet (see [`Client::access_token_for`]), without any I/O or waiting. `None` means:
    /// call [`Client::access_token_for`].
    pub fn cached_access_token_for(&self, resource: &str) -> Option<SecretString> {
        self.store
            .fresh_access_token(Some(resource), self.clock.now(), self.refresh_margin())
    }

    /// The account's tokens with `response` as the access token for `resource`: the session's
    /// own access token, ID token and scopes stay; a rotated refresh token replaces the old one.
    pub(super) fn with_resource_token(
        &self,
        response: TokenResponse,
        current: &Tokens,
        resource: &str,
    ) -> Tokens {
        let token = ResourceToken {
            expires_at: self.expires_at(&response),
            lifetime: super::lifetime(&response),
            access_token: response.access_token,
            scopes: response.scope,
        };
        let mut tokens = current.clone();
        if let Some(rotated) = response.refresh_token {
            tokens.refresh_token = Some(rotated);
        }
        tokens.resource_tokens.insert(resource.to_string(), token);
        tokens
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use crate::clock::ManualClock;
    use crate::error::ErrorKind;
    use crate::test_support::{
        Answer, NOW, ScriptedProvider, client_with_session, session_tokens, stored_tokens,
    };

    const CRM: &str = "https://crm.example";

    /// `at-crm` is the CRM token, from memory and from `access_token_for`.
    async fn assert_serves_crm_from_memory(client: &crate::Client) {
        assert_eq!(
            client.cached_access_token_for(CRM).unwrap().expose(),
            "at-crm"
        );
        assert_eq!(
            client.access_token_for(CRM).await.unwrap().expose(),
            "at-crm"
        );
    }

    /// A signed-in client that got the CRM token `at-crm` (living `expires_in` seconds) at
    /// [`NOW`], then moved to `at` on a manual clock.
    async fn with_crm_token(
        provider: &Arc<ScriptedProvider>,
        expires_in: u64,
        at: i64,
    ) -> (crate::Client, Arc<ManualClock>) {
        let (client, _) = client_with_session(provider, Some(&session_tokens(provider, "u1")));
        provider.answer_tokens(json!({"access_token": "at-crm", "expires_in": expires_in}));
        client.access_token_for(CRM).await.unwrap();
        let clock = Arc::new(ManualClock::new(at));
        let client = Arc::try_unwrap(client).ok().unwrap();
        (client.with_clock(clock.clone()), clock)
    }

    #[tokio::test]
    async fn the_first_call_refreshes_with_the_resource_and_later_ones_come_from_memory() {
        let provider = ScriptedProvider::new();
        let (client, storage) =
            client_with_session(&provider, Some(&session_tokens(&provider, "u1")));
        provider.answer_tokens(json!({"access_token": "at-crm", "refresh_token": "rt-2"}));
        let token = client.access_token_for(CRM).await.unwrap();
        assert_eq!(token.expose(), "at-crm");
        assert_eq!(provider.count("POST /token refresh_token"), 1);
        // Persisted with the session: the session's own token stays, the refresh token rotated.
        let stored = stored_tokens(&storage).unwrap();
        assert_eq!(stored.access_token().expose(), "at-1");
        assert_eq!(stored.refresh_token().unwrap().expose(), "rt-2");
        assert_eq!(
            stored.resource_token(CRM).unwrap().access_token().expose(),
            "at-crm"
        );
        assert_serves_crm_from_memory(&client).await;
        assert_eq!(client.access_token().await.unwrap().expose(), "at-1");
        assert_eq!(provider.count("POST /token"), 1);
    }

    #[tokio::test]
    async fn an_expiring_resource_token_is_refreshed_on_its_own() {
        let provider = ScriptedProvider::new();
        // 71 s later: inside the 30 s margin of the CRM token (NOW + 100), while the session's
        // own token (NOW + 60) has expired too; only the CRM token is asked for.
        let (client, _) = with_crm_token(&provider, 100, NOW + 71).await;
        assert!(client.cached_access_token_for(CRM).is_none());
        provider.answer_tokens(json!({"access_token": "at-crm-2"}));
        assert_eq!(
            client.access_token_for(CRM).await.unwrap().expose(),
            "at-crm-2"
        );
        assert_eq!(client.tokens().unwrap().access_token().expose(), "at-1");
        assert_eq!(provider.count("POST /token refresh_token"), 2);
    }

    #[tokio::test]
    async fn a_short_lived_resource_token_serves_for_half_its_lifetime() {
        // The session's rule (a margin of at most half the lifetime) holds for an API's token:
        // a 10 s token with the 30 s margin serves from memory for 5 s, then is refreshed.
        let provider = ScriptedProvider::new();
        let (client, clock) = with_crm_token(&provider, 10, NOW + 4).await;
        assert_serves_crm_from_memory(&client).await;
        assert_eq!(provider.count("POST /token refresh_token"), 1);
        clock.set(NOW + 5);
        assert!(client.cached_access_token_for(CRM).is_none());
        provider.answer_tokens(json!({"access_token": "at-crm-2", "expires_in": 10}));
        assert_eq!(
            client.access_token_for(CRM).await.unwrap().expose(),
            "at-crm-2"
        );
        assert_eq!(provider.count("POST /token refresh_token"), 2);
    }

    #[tokio::test]
    async fn callers_for_one_resource_share_a_refresh_and_callers_for_two_do_not() {
        let provider = ScriptedProvider::new();
        let (client, _) = client_with_session(&provider, Some(&session_tokens(&provider, "u1")));
        provider.answer_tokens(json!({"access_token": "at-crm", "refresh_token": "rt-2"}));
        let (a, b) = tokio::join!(client.access_token_for(CRM), client.access_token_for(CRM));
        assert_eq!(
            (a.unwrap().expose(), b.unwrap().expose()),
            ("at-crm", "at-crm")
        );
        assert_eq!(provider.count("POST /token"), 1);

        // Two APIs: one refresh each, one after the other (the refresh token rotates).
        provider.answer_tokens(json!({"access_token": "at-a", "refresh_token": "rt-3"}));
        provider.answer_tokens(json!({"access_token": "at-b", "refresh_token": "rt-4"}));
        let (a, b) = tokio::join!(
            client.access_token_for("https://a.example"),
            client.access_token_for("https://b.example")
        );
        assert_eq!((a.unwrap().expose(), b.unwrap().expose()), ("at-a", "at-b"));
        assert_eq!(provider.count("POST /token"), 3);
        let tokens = client.tokens().unwrap();
        assert_eq!(tokens.refresh_token().unwrap().expose(), "rt-4");
        assert_eq!(
            client.cached_access_token_for(CRM).unwrap().expose(),
            "at-crm"
        );
    }

    #[tokio::test]
    async fn invalid_target_keeps_the_session_and_invalid_grant_ends_it() {
        let provider = ScriptedProvider::new();
        let tokens = session_tokens(&provider, "u1");
        let (client, storage) = client_with_session(&provider, Some(&tokens));
        provider.answer(Answer::Json(400, json!({"error": "invalid_target"})));
        let e = client.access_token_for(CRM).await.unwrap_err();
        assert_eq!(
            (e.kind(), e.provider_error()),
            (ErrorKind::Provider, Some("invalid_target"))
        );
        assert!(!e.requires_sign_in());
        assert_eq!(stored_tokens(&storage).unwrap(), tokens);
        assert!(client.cached_access_token_for(CRM).is_none());

        provider.answer(Answer::Json(400, json!({"error": "invalid_grant"})));
        let e = client.access_token_for(CRM).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ReLoginRequired);
        assert!(stored_tokens(&storage).is_none());
    }

    #[tokio::test]
    async fn a_resource_must_be_an_absolute_uri() {
        let provider = ScriptedProvider::new();
        let (client, _) = client_with_session(&provider, Some(&session_tokens(&provider, "u1")));
        let e = client.access_token_for("crm").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(provider.count("POST /token"), 0);
    }
}
