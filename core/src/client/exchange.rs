//! Token exchange (RFC 8693): an identity proven at the provider traded for the access token of
//! another authorization server — [`Client::exchange`] and [`Client::exchanged_access_token`].
//!
//! The seed's third situation: the user proves who they are at an external identity server;
//! the app hands that proof (the session's ID token, or its access token) to its own
//! authorization server, which checks it with the identity server, looks the user's permissions
//! up and issues the app's access token.
//!
//! The second server is given by its issuer and discovered and validated like the first (its
//! discovery document must name exactly that issuer, every endpoint is HTTPS or loopback). Its
//! tokens are a token set of their own: they live beside the session in the same store, under
//! keys of their own (one namespace per server, client and request), in a session record bound
//! to that server's issuer and client id, one account per user of the first session. So they
//! are kept, shared between processes and refreshed (with the refresh token that server issued,
//! at its token endpoint) under the same rules as the session itself, by a client of that
//! issuer that this one keeps. Nothing of the first session is touched by an exchange, except
//! that an expired ID token is refreshed first. Signing out of an account also signs it out of
//! the servers it exchanged tokens with (their refresh tokens revoked where they offer it).

use std::sync::Arc;

use ring::digest;
use serde_json::{Value, json};

use super::Client;
use crate::config::{Config, check_resource};
use crate::error::{Error, ErrorKind, Result};
use crate::http::json_text;
use crate::oidc::exchange::{self, ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE};
use crate::secret::SecretString;
use crate::session::Tokens;
use crate::storage::ScopedStorage;
use crate::sync::lock;

/// Storage key of the list of servers this client exchanged tokens with, so that a sign-out
/// after a restart still reaches them (removed with the last account).
const EXCHANGES_KEY: &str = "exchanges";

/// What a token exchange sends as its subject: who the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// The signed-in session's ID token (`urn:ietf:params:oauth:token-type:id_token`): who
    /// the user is, as the provider vouches. Refreshed first when it has expired.
    IdToken,
    /// The session's access token (`urn:ietf:params:oauth:token-type:access_token`), refreshed
    /// first when needed.
    AccessToken,
    /// A token the app holds from elsewhere, with its RFC 8693 token type URI.
    Token {
        /// The token.
        token: SecretString,
        /// Its type, e.g. `urn:ietf:params:oauth:token-type:jwt`.
        token_type: String,
    },
}

/// A token exchange (RFC 8693) with a second authorization server, for the active account.
/// Build it with [`TokenExchange::new`] and set what the server needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenExchange {
    /// The second server's issuer, exactly as its discovery document names it.
    pub issuer: String,
    /// This app's client id at that server (a public client).
    pub client_id: String,
    /// What proves who the user is (default: the session's ID token).
    pub subject: Subject,
    /// The token of a party acting for the user, and its type URI (delegation), if any.
    pub actor: Option<(SecretString, String)>,
    /// `audience`: the logical names of the services the token is for.
    pub audience: Vec<String>,
    /// `resource`: the APIs the token is for (absolute URIs).
    pub resource: Vec<String>,
    /// `scope`: the permissions asked for (the server grants at most the user's).
    pub scope: Vec<String>,
    /// `requested_token_type`; `None` leaves the choice to the server. The answer's
    /// `issued_token_type` must be this one when it is set.
    pub requested_token_type: Option<String>,
}

impl TokenExchange {
    /// An exchange of the session's ID token with the server `issuer`, where this app is the
    /// public client `client_id`.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        TokenExchange {
            issuer: issuer.into(),
            client_id: client_id.into(),
            subject: Subject::IdToken,
            actor: None,
            audience: Vec::new(),
            resource: Vec::new(),
            scope: Vec::new(),
            requested_token_type: None,
        }
    }

    /// `Config` unless every `resource` is a resource indicator (RFC 8707 §2) and every token
    /// type (the subject's, the actor's, the requested one) a URI (RFC 8693 §3), before any
    /// request.
    fn check(&self) -> Result<()> {
        for resource in &self.resource {
            check_resource(resource)?;
        }
        let types = [
            match &self.subject {
                Subject::Token { token_type, .. } => Some(token_type),
                _ => None,
            },
            self.actor.as_ref().map(|(_, token_type)| token_type),
            self.requested_token_type.as_ref(),
        ];
        for token_type in types.into_iter().flatten() {
            if url::Url::parse(token_type).is_err() {
                return Err(Error::config(
                    "a token type must be a URI, e.g. urn:ietf:params:oauth:token-type:jwt",
                ));
            }
        }
        Ok(())
    }

    /// The namespace of this exchange's tokens in the store: a key prefix naming the server,
    /// the client and what was asked, so that different requests keep different tokens.
    fn namespace(&self) -> String {
        let subject_type = match &self.subject {
            Subject::IdToken => ID_TOKEN_TYPE,
            Subject::AccessToken => ACCESS_TOKEN_TYPE,
            Subject::Token { token_type, .. } => token_type,
        };
        let mut parts = vec![self.issuer.as_str(), self.client_id.as_str(), subject_type];
        for list in [&self.audience, &self.resource, &self.scope] {
            parts.push("\u{1}");
            parts.extend(list.iter().map(String::as_str));
        }
        parts.push(self.requested_token_type.as_deref().unwrap_or(""));
        let hash = digest::digest(&digest::SHA256, parts.join("\0").as_bytes());
        let hex: String = hash.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("x{hex}-")
    }
}

/// The outcome of [`Client::exchange`]. `Debug` shows no token.
#[derive(Clone, PartialEq)]
pub struct ExchangedToken {
    access_token: SecretString,
    issued_token_type: String,
    expires_at: Option<i64>,
    scopes: Vec<String>,
    has_refresh_token: bool,
}

impl ExchangedToken {
    /// The issued token (an access token for `Authorization: Bearer` unless another type was
    /// requested).
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// Its type URI (`issued_token_type`), e.g. `urn:ietf:params:oauth:token-type:access_token`.
    pub fn issued_token_type(&self) -> &str {
        &self.issued_token_type
    }

    /// When it expires (seconds since the epoch), if the server said.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }

    /// The granted scopes: the server's list, or the requested ones when it did not say.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether the server issued a refresh token, with which the token is refreshed there.
    pub fn has_refresh_token(&self) -> bool {
        self.has_refresh_token
    }
}

impl std::fmt::Debug for ExchangedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangedToken")
            .field("issued_token_type", &self.issued_token_type)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("has_refresh_token", &self.has_refresh_token)
            .finish_non_exhaustive()
    }
}

/// A second authorization server this client exchanged tokens with: a client of its issuer
/// whose session lives in a namespace of this client's store.
pub(super) struct ExchangeTarget {
    client: Client,
    /// Held while an exchange is made, so that concurrent callers share one.
    exchanging: futures_util::lock::Mutex<()>,
}

/// One entry of the stored list of servers ([`EXCHANGES_KEY`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Known {
    namespace: String,
    issuer: String,
    client_id: String,
}

impl Known {
    /// The stored list (a JSON array of objects); an unreadable one, or entry, is skipped:
    /// the list only says where to sign out, and each target is validated again when used.
    /// Read through `serde_json::Value` rather than serde derive (mobile library size).
    fn decode(bytes: &[u8]) -> Vec<Known> {
        let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(bytes) else {
            return Vec::new();
        };
        let field = |e: &Value, name: &str| e.get(name)?.as_str().map(str::to_string);
        entries
            .iter()
            .filter_map(|e| {
                Some(Known {
                    namespace: field(e, "namespace")?,
                    issuer: field(e, "issuer")?,
                    client_id: field(e, "client_id")?,
                })
            })
            .collect()
    }

    /// The stored form of `known`.
    fn encode(known: &[Known]) -> Vec<u8> {
        let entries = known
            .iter()
            .map(
                |k| json!({"namespace": k.namespace, "issuer": k.issuer, "client_id": k.client_id}),
            )
            .collect();
        json_text(&Value::Array(entries)).into_bytes()
    }
}

impl Client {
    /// Exchanges the active account's identity for a token of the authorization server
    /// `request.issuer` (RFC 8693), now, and keeps the result under that issuer (replacing
    /// the previous one of the same request).
    ///
    /// Errors: `NotSignedIn`; `Config`/`InsecureUrl` for an unusable issuer; `Discovery` when
    /// its discovery document is unusable; `Provider` with the server's code — `invalid_grant`
    /// when it rejects the subject (forged, expired, another issuer's), `invalid_target` for an
    /// audience or resource it does not serve; `InvalidResponse` for an unusable answer. The
    /// session is not changed by a failure.
    pub async fn exchange(&self, request: &TokenExchange) -> Result<super::ExchangedToken> {
        let target = self.exchange_target(request)?;
        let _one = target.exchanging.lock().await;
        self.exchange_with(&target, request).await
    }

    /// A valid token of the exchange `request` for the active account: the one kept from the
    /// last exchange while it has more than the refresh margin left, else refreshed at that
    /// server with the refresh token it issued, else (no refresh token, or it was rejected) a
    /// new exchange. Concurrent callers share one request.
    pub async fn exchanged_access_token(&self, request: &TokenExchange) -> Result<SecretString> {
        let target = self.exchange_target(request)?;
        let (subject, _, _) = self.store.account(None)?;
        let _one = target.exchanging.lock().await;
        match target.client.access_token_for_account(&subject).await {
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NotSignedIn | ErrorKind::ReLoginRequired
                ) =>
            {
                Ok(self.exchange_with(&target, request).await?.access_token)
            }
            other => other,
        }
    }

    async fn exchange_with(
        &self,
        target: &ExchangeTarget,
        request: &TokenExchange,
    ) -> Result<ExchangedToken> {
        let (_, mut session, _) = self.store.account(None)?;
        let server = target.client.provider_metadata().await?;
        if request.subject == Subject::IdToken && session.claims.expires_at <= self.provider_now() {
            session = self.refresh().await?;
        }
        let subject = match &request.subject {
            Subject::IdToken => (session.id_token.clone(), ID_TOKEN_TYPE),
            Subject::AccessToken => (self.access_token().await?, ACCESS_TOKEN_TYPE),
            Subject::Token { token, token_type } => (token.clone(), token_type.as_str()),
        };
        let exchanged = exchange::exchange(
            &self.http,
            &server.token_endpoint,
            &exchange::Request {
                client_id: &request.client_id,
                subject: (&subject.0, subject.1),
                actor: request.actor.as_ref().map(|(t, ty)| (t, ty.as_str())),
                audience: &request.audience,
                resource: &request.resource,
                scope: &request.scope,
                requested_token_type: request.requested_token_type.as_deref(),
            },
        )
        .await?;
        let response = exchanged.tokens;
        let tokens = Tokens {
            expires_at: self.expires_at(&response),
            lifetime: super::lifetime(&response),
            access_token: response.access_token,
            refresh_token: response.refresh_token,
            // A token set of another server, for the same user: no ID token of its own.
            id_token: SecretString::new(""),
            scopes: response.scope.unwrap_or_else(|| request.scope.clone()),
            claims: session.claims,
            login_nonce: None,
            // Requested without a DPoP proof: Bearer tokens.
            dpop_jkt: None,
            resources: request.resource.clone(),
            resource_tokens: Default::default(),
        };
        let outcome = ExchangedToken {
            access_token: tokens.access_token.clone(),
            issued_token_type: exchanged.issued_token_type,
            expires_at: tokens.expires_at,
            scopes: tokens.scopes.clone(),
            has_refresh_token: tokens.refresh_token.is_some(),
        };
        target.client.store.sign_in(tokens, true)?;
        self.remember_exchange(request)?;
        Ok(outcome)
    }

    /// The client of `request`'s server and namespace (made on first use).
    fn exchange_target(&self, request: &TokenExchange) -> Result<Arc<ExchangeTarget>> {
        request.check()?;
        self.target(&request.namespace(), &request.issuer, &request.client_id)
    }

    fn target(
        &self,
        namespace: &str,
        issuer: &str,
        client_id: &str,
    ) -> Result<Arc<ExchangeTarget>> {
        if let Some(target) = lock(&self.exchanges).get(namespace) {
            return Ok(target.clone());
        }
        let mut config = Config::builder(issuer, client_id, self.config.redirect_uri.as_str())
            .http_timeout(self.config.http_timeout)
            .clock_skew(self.config.clock_skew)
            .max_response_bytes(self.config.max_response_bytes)
            .refresh_margin(self.config.refresh_margin)
            .metadata_max_age(self.config.metadata_max_age)
            .metadata_min_age(self.config.metadata_min_age)
            .multiple_accounts(true);
        for host in &self.config.insecure_http_hosts {
            config = config.allow_insecure_http_host(host.clone());
        }
        let storage = ScopedStorage::new(self.store.storage(), namespace);
        let client = Client::with_http(config.build()?, self.http.clone())
            .with_storage(Arc::new(storage))
            .with_clock(self.clock.clone());
        let target = Arc::new(ExchangeTarget {
            client,
            exchanging: futures_util::lock::Mutex::new(()),
        });
        let mut targets = lock(&self.exchanges);
        Ok(targets
            .entry(namespace.to_string())
            .or_insert(target)
            .clone())
    }

    /// The servers listed in the store.
    fn known_exchanges(&self) -> Vec<Known> {
        match self.store.storage().load(EXCHANGES_KEY) {
            Ok(Some(bytes)) => Known::decode(&bytes),
            _ => Vec::new(),
        }
    }

    /// Adds `request`'s server to the stored list (a compare-and-swap, like every shared write).
    fn remember_exchange(&self, request: &TokenExchange) -> Result<()> {
        let entry = Known {
            namespace: request.namespace(),
            issuer: request.issuer.clone(),
            client_id: request.client_id.clone(),
        };
        let storage = self.store.storage();
        for _ in 0..16 {
            let stored = storage.load(EXCHANGES_KEY)?;
            let mut known = stored.as_deref().map(Known::decode).unwrap_or_default();
            if known.contains(&entry) {
                return Ok(());
            }
            known.push(entry.clone());
            let bytes = Known::encode(&known);
            if storage.compare_and_swap(EXCHANGES_KEY, stored.as_deref(), Some(&bytes))? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Signs `subject` out of every server this client exchanged tokens with (best effort: the
    /// refresh token each issued is revoked where it offers revocation; a failure is logged).
    pub(super) async fn forget_exchanged(&self, subject: &str) {
        for known in self.known_exchanges() {
            let Ok(target) = self.target(&known.namespace, &known.issuer, &known.client_id) else {
                continue;
            };
            let (tokens, deleted) = target.client.store.sign_out(Some(subject));
            if let Err(e) = deleted {
                log::warn!("could not remove an exchanged token set: {e}");
            }
            if let Some(tokens) = tokens
                && let Ok(server) = target.client.provider_metadata().await
            {
                target.client.revoke_quietly(&server, &tokens).await;
            }
        }
        // The last account gone: nothing is left to sign out of later.
        if self.store.accounts().is_empty()
            && let Err(e) = self.store.storage().delete(EXCHANGES_KEY)
        {
            log::warn!("could not remove the list of exchanged token sets: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_list_of_servers_round_trips_and_skips_what_it_cannot_read() {
        let known = vec![
            Known {
                namespace: "n1".into(),
                issuer: "https://a.example".into(),
                client_id: "c1".into(),
            },
            Known {
                namespace: "n2".into(),
                issuer: "https://b.example".into(),
                client_id: "c2".into(),
            },
        ];
        assert_eq!(Known::decode(&Known::encode(&known)), known);
        assert_eq!(Known::decode(b"not json"), []);
        assert_eq!(Known::decode(br#"{"namespace":"n1"}"#), []);
        let mixed = br#"[{"namespace":"n1","issuer":"https://a.example","client_id":"c1","x":1},
                        {"namespace":"n2","issuer":7,"client_id":"c2"}, "junk"]"#;
        assert_eq!(Known::decode(mixed), known[..1]);
    }

    #[test]
    fn different_requests_have_different_namespaces() {
        let base = TokenExchange::new("https://internal.example", "app");
        let mut audience = base.clone();
        audience.audience = vec!["crm".into()];
        let mut resource = base.clone();
        resource.resource = vec!["crm".into()];
        let mut by_access_token = base.clone();
        by_access_token.subject = Subject::AccessToken;
        let names: Vec<String> = [&base, &audience, &resource, &by_access_token]
            .iter()
            .map(|r| r.namespace())
            .collect();
        for (i, a) in names.iter().enumerate() {
            assert!(
                crate::storage::check_key(&format!("{a}session")).is_ok(),
                "{a}"
            );
            assert!(names[i + 1..].iter().all(|b| a != b), "{names:?}");
        }
        assert_eq!(base.namespace(), base.clone().namespace());
    }

    #[test]
    fn resources_and_token_types_are_checked_before_any_request() {
        let base = TokenExchange::new("https://internal.example", "app");
        assert!(base.check().is_ok());
        let mut fragment = base.clone();
        fragment.resource = vec!["https://crm.example/#x".into()];
        let mut relative = base.clone();
        relative.resource = vec!["crm".into()];
        let mut actor = base.clone();
        actor.actor = Some((SecretString::new("actor"), String::new()));
        let mut subject = base.clone();
        subject.subject = Subject::Token {
            token: SecretString::new("t"),
            token_type: "jwt".into(),
        };
        let mut requested = base.clone();
        requested.requested_token_type = Some("access token".into());
        for bad in [fragment, relative, actor, subject, requested] {
            let kind = bad.check().map(|_| ()).unwrap_err().kind();
            assert_eq!(kind, ErrorKind::Config, "{bad:?}");
        }
    }

    #[test]
    fn debug_shows_no_token() {
        let t = ExchangedToken {
            access_token: SecretString::new("secret-at"),
            issued_token_type: ACCESS_TOKEN_TYPE.into(),
            expires_at: Some(1),
            scopes: vec![],
            has_refresh_token: true,
        };
        assert!(!format!("{t:?}").contains("secret"));
        let mut request = TokenExchange::new("https://i.example", "app");
        request.subject = Subject::Token {
            token: SecretString::new("secret-subject"),
            token_type: ID_TOKEN_TYPE.into(),
        };
        assert!(!format!("{request:?}").contains("secret"));
    }
}
