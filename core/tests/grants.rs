//! The grants beyond a browser sign-in, against the testkit over real HTTP: access tokens for
//! single APIs (RFC 8707), an external identity exchanged for an internal token (RFC 8693,
//! seed 003), sign-in on a device without a browser (RFC 8628), and step-up (`max_age`,
//! `prompt=login`, `acr`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Server, param, start};
use keyfob::{
    Client, Clock, Config, ErrorKind, IdTokenCheck, LoginOptions, ManualClock, MemoryStorage,
    SecureStorage, Sleep, Subject, TokenExchange,
};
use keyfob_testkit::{CRM_AUDIENCE, Faults, ORDERS_AUDIENCE, Options, Testkit};
use serde_json::json;

/// The claims of a JWT access token (unverified: servers A and B verify them).
fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let claims = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn audience(token: &str) -> serde_json::Value {
    claims(token)["aud"].clone()
}

// --- Access tokens for single APIs (RFC 8707) ---

#[tokio::test]
async fn each_api_gets_a_token_for_it_alone() {
    let env = start().await;
    let client = env.client_with(
        env.config()
            .resource(CRM_AUDIENCE)
            .resource(ORDERS_AUDIENCE),
    );
    let url = client.begin_login().await.unwrap();
    let sent: Vec<String> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .filter(|(n, _)| n == "resource")
        .map(|(_, v)| v.into_owned())
        .collect();
    assert_eq!(sent, [CRM_AUDIENCE, ORDERS_AUDIENCE]);
    client
        .handle_redirect(&env.browse(&url).await)
        .await
        .unwrap();
    assert_eq!(
        client.tokens().unwrap().resources(),
        [CRM_AUDIENCE, ORDERS_AUDIENCE]
    );

    // The default token is unchanged: both servers accept it.
    let both = client.access_token().await.unwrap();
    assert_eq!(
        audience(both.expose()),
        json!([CRM_AUDIENCE, ORDERS_AUDIENCE])
    );

    let crm = client.access_token_for(CRM_AUDIENCE).await.unwrap();
    let orders = client.access_token_for(ORDERS_AUDIENCE).await.unwrap();
    assert_eq!(audience(crm.expose()), json!([CRM_AUDIENCE]));
    assert_eq!(audience(orders.expose()), json!([ORDERS_AUDIENCE]));
    assert_eq!(env.call_api(Server::Crm, crm.expose()).await.0, 200);
    assert_eq!(env.call_api(Server::Orders, crm.expose()).await.0, 401);
    assert_eq!(env.call_api(Server::Orders, orders.expose()).await.0, 200);
    assert_eq!(env.call_api(Server::Crm, orders.expose()).await.0, 401);
    assert_eq!(env.kit.stats().refresh_token, 2);

    // From memory afterwards, as fast as the default token.
    assert_eq!(
        client.cached_access_token_for(CRM_AUDIENCE),
        Some(crm.clone())
    );
    assert_eq!(client.access_token_for(CRM_AUDIENCE).await.unwrap(), crm);
    assert_eq!(client.access_token().await.unwrap(), both);
    assert_eq!(env.kit.stats().refresh_token, 2);
}

#[tokio::test]
async fn callers_share_one_refresh_per_api_and_each_token_expires_on_its_own() {
    let env = start().await;
    let client = Arc::new(env.client());
    env.login(&client).await.unwrap();
    let callers: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            let resource = if i % 2 == 0 {
                CRM_AUDIENCE
            } else {
                ORDERS_AUDIENCE
            };
            tokio::spawn(async move { client.access_token_for(resource).await })
        })
        .collect();
    let mut tokens = Vec::new();
    for caller in callers {
        tokens.push(caller.await.unwrap().unwrap());
    }
    assert_eq!(env.kit.stats().refresh_token, 2, "one refresh per API");
    assert!(tokens.iter().step_by(2).all(|t| *t == tokens[0]));
    assert!(tokens.iter().skip(1).step_by(2).all(|t| *t == tokens[1]));

    // Expired: the next call for one API refreshes that one, and only that one.
    env.expire();
    let crm = client.access_token_for(CRM_AUDIENCE).await.unwrap();
    assert_ne!(crm, tokens[0]);
    assert_eq!(env.call_api(Server::Crm, crm.expose()).await.0, 200);
    assert_eq!(env.kit.stats().refresh_token, 3);
    assert!(client.cached_access_token_for(ORDERS_AUDIENCE).is_none());
    assert!(client.cached_access_token().is_none());
}

#[tokio::test]
async fn an_api_outside_the_grant_is_invalid_target_and_the_session_stays() {
    let env = start().await;
    let client = env.client_with(env.config().resource(CRM_AUDIENCE));
    env.login(&client).await.unwrap();
    let before = client.tokens().unwrap();
    for outside in [ORDERS_AUDIENCE, "https://evil.example"] {
        let e = client.access_token_for(outside).await.unwrap_err();
        assert_eq!(
            (e.kind(), e.provider_error()),
            (ErrorKind::Provider, Some("invalid_target")),
            "{outside}"
        );
        assert!(!e.requires_sign_in());
    }
    assert_eq!(client.tokens().unwrap(), before);
    assert!(client.access_token_for(CRM_AUDIENCE).await.is_ok());
}

// --- Token exchange (RFC 8693, seed 003) ---

fn to_internal(env: &common::Env) -> TokenExchange {
    TokenExchange::new(env.kit.urls().internal.clone(), env.kit.client_id())
}

#[tokio::test]
async fn the_identity_is_exchanged_for_an_internal_token_that_a_and_b_accept() {
    let env = start().await;
    let storage = Arc::new(MemoryStorage::new());
    let client = env.client().with_storage(storage.clone());
    env.login(&client).await.unwrap();
    let session = client.tokens().unwrap();

    let request = to_internal(&env);
    let exchanged = client.exchange(&request).await.unwrap();
    assert_eq!(
        exchanged.issued_token_type(),
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(exchanged.scopes(), ["customers:read", "orders:read"]);
    assert!(exchanged.has_refresh_token());
    let token = exchanged.access_token().expose();
    assert_eq!(env.call_api(Server::Crm, token).await.0, 200);
    assert_eq!(env.call_api(Server::Orders, token).await.0, 200);
    assert_eq!(
        client.tokens().unwrap(),
        session,
        "the first session is untouched"
    );

    // Kept under the internal issuer: served again without a request, also after a restart.
    assert_eq!(
        client.exchanged_access_token(&request).await.unwrap(),
        *exchanged.access_token()
    );
    let restarted = env.client().with_storage(storage.clone());
    assert_eq!(
        restarted.exchanged_access_token(&request).await.unwrap(),
        *exchanged.access_token()
    );
    assert_eq!(env.kit.stats().token_exchange, 1);

    // Expired: refreshed at the internal server with its own refresh token, not exchanged again.
    env.expire();
    let renewed = client.exchanged_access_token(&request).await.unwrap();
    assert_ne!(renewed, *exchanged.access_token());
    assert_eq!(env.call_api(Server::Crm, renewed.expose()).await.0, 200);
    assert_eq!(env.kit.stats().token_exchange, 1);

    // Signing out of the first session signs out of the internal server too.
    client.logout().await.unwrap();
    let e = client.exchanged_access_token(&request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSignedIn);
    for key in ["session", "exchanges"] {
        assert_eq!(storage.load(key).unwrap(), None, "{key} is left");
    }
}

#[tokio::test]
async fn an_audience_narrows_the_exchanged_token_and_an_actor_is_named_in_it() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    let mut request = to_internal(&env);
    request.subject = Subject::AccessToken;
    request.audience = vec![CRM_AUDIENCE.into()];
    request.scope = vec!["customers:read".into()];
    let actor = client.access_token().await.unwrap();
    let access_token_type = "urn:ietf:params:oauth:token-type:access_token";
    request.actor = Some((actor, access_token_type.into()));
    let exchanged = client.exchange(&request).await.unwrap();
    let token = exchanged.access_token().expose();
    assert_eq!(audience(token), json!([CRM_AUDIENCE]));
    assert_eq!(claims(token)["act"]["sub"], "user-123");
    assert_eq!(exchanged.scopes(), ["customers:read"]);
    assert_eq!(env.call_api(Server::Crm, token).await.0, 200);
    assert_eq!(env.call_api(Server::Orders, token).await.0, 401);
}

#[tokio::test]
async fn forged_expired_or_foreign_subjects_are_typed_errors_and_nothing_is_touched() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    let session = client.tokens().unwrap();
    let rejected = |e: keyfob::Error| (e.kind(), e.provider_error().map(str::to_owned));
    let invalid_grant = (ErrorKind::Provider, Some("invalid_grant".to_owned()));

    // Forged: the ID token with its signature altered.
    let mut forged = session.id_token().expose().to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let mut request = to_internal(&env);
    request.subject = Subject::Token {
        token: keyfob::SecretString::new(forged),
        token_type: "urn:ietf:params:oauth:token-type:id_token".into(),
    };
    assert_eq!(
        rejected(client.exchange(&request).await.unwrap_err()),
        invalid_grant
    );

    // Another issuer's: an access token whose `iss` is not the provider's.
    env.kit.set_faults(Faults::access_token_claims(
        json!({"iss": "https://evil.example"}),
    ));
    let other = env.client();
    env.login(&other).await.unwrap();
    env.kit.clear_faults();
    let mut request = to_internal(&env);
    request.subject = Subject::AccessToken;
    assert_eq!(
        rejected(other.exchange(&request).await.unwrap_err()),
        invalid_grant
    );

    // An audience the internal server issues nothing for.
    let mut request = to_internal(&env);
    request.audience = vec!["https://evil.example".into()];
    let e = client.exchange(&request).await.unwrap_err();
    assert_eq!(e.provider_error(), Some("invalid_target"));

    // Expired at the internal server's clock (the device clock thinks it is still valid).
    env.kit.advance_clock(301);
    let e = client.exchange(&to_internal(&env)).await.unwrap_err();
    assert_eq!(rejected(e), invalid_grant);
    assert_eq!(
        client.tokens().unwrap(),
        session,
        "the first session is untouched"
    );
    assert_eq!(env.kit.stats().token_exchange_rejected, 4);
}

#[tokio::test]
async fn the_second_server_is_discovered_and_validated_like_the_first() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    let mut request = to_internal(&env);
    request.issuer.push('/');
    let e = client.exchange(&request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Discovery);
    let insecure = TokenExchange::new("http://internal.example", env.kit.client_id());
    assert_eq!(
        client.exchange(&insecure).await.unwrap_err().kind(),
        ErrorKind::InsecureUrl
    );
    let signed_out = env.client();
    let e = signed_out.exchange(&to_internal(&env)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotSignedIn);
}

// --- The device authorization grant (RFC 8628) ---

/// The client's clock and the testkit's, moved together by each wait of the device login
/// (no real waiting); the waits are recorded.
struct DeviceClock {
    client: ManualClock,
    kit: Arc<Testkit>,
    waits: Mutex<Vec<u64>>,
}

impl Clock for DeviceClock {
    fn now(&self) -> i64 {
        self.client.now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let secs = duration.as_secs();
        self.waits.lock().unwrap().push(secs);
        self.kit.advance_clock(secs as i64);
        self.client.sleep(duration)
    }
}

struct Device {
    kit: Arc<Testkit>,
    clock: Arc<DeviceClock>,
    client: Client,
    transport: Arc<keyfob::ReqwestTransport>,
}

async fn device() -> Device {
    let kit = Arc::new(Testkit::start(Options::default()).await.unwrap());
    let transport = Arc::new(keyfob::ReqwestTransport::new().unwrap());
    let clock = Arc::new(DeviceClock {
        client: ManualClock::starting_now(),
        kit: kit.clone(),
        waits: Mutex::new(Vec::new()),
    });
    let config = Config::builder(kit.issuer(), kit.client_id(), common::REDIRECT)
        .scopes(["email", "offline_access"])
        .build()
        .unwrap();
    let client = Client::new(config, transport.clone()).with_clock(clock.clone());
    Device {
        kit,
        clock,
        client,
        transport,
    }
}

impl Device {
    /// What the user does on their phone: opens the complete URI (with `action=deny` to say no)
    /// once the device has polled `after_polls` times.
    async fn user(&self, uri: String, after_polls: u64) {
        while self.kit.stats().device_code < after_polls {
            tokio::task::yield_now().await;
        }
        let request = keyfob::HttpRequest {
            method: keyfob::HttpMethod::Get,
            url: uri,
            headers: vec![],
            body: vec![],
            timeout: Duration::from_secs(10),
            max_response_bytes: 1 << 16,
        };
        use keyfob::HttpTransport as _;
        let response = self.transport.send(request).await.unwrap();
        assert_eq!(response.status, 200);
    }

    fn waits(&self) -> Vec<u64> {
        self.clock.waits.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_device_polls_until_the_user_approves_then_is_signed_in() {
    let d = device().await;
    let started = d.client.begin_device_login().await.unwrap();
    assert_eq!(started.interval(), 5);
    assert_eq!(started.user_code().len(), 9);
    let complete = started.verification_uri_complete().unwrap().to_owned();
    assert!(complete.starts_with(started.verification_uri()));
    assert_eq!(
        param(&complete, "user_code").as_deref(),
        Some(started.user_code())
    );

    let (claims, ()) = tokio::join!(d.client.complete_device_login(), d.user(complete, 2));
    let claims = claims.unwrap();
    assert_eq!(claims.subject, "user-123");
    assert_eq!(d.client.state(), keyfob::SessionState::SignedIn);
    assert!(d.client.tokens().unwrap().refresh_token().is_some());
    let stats = d.kit.stats();
    assert!(stats.device_code >= 3, "pending twice, then approved");
    assert_eq!(stats.device_slow_down, 0);
    assert!(d.waits().iter().all(|w| *w == 5));
    // The device login is over.
    let e = d.client.complete_device_login().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoPendingLogin);
}

#[tokio::test]
async fn slow_down_adds_five_seconds_to_every_later_wait() {
    let d = device().await;
    d.kit.set_faults(Faults::device(5, 1));
    let started = d.client.begin_device_login().await.unwrap();
    let complete = started.verification_uri_complete().unwrap().to_owned();
    let (claims, ()) = tokio::join!(d.client.complete_device_login(), d.user(complete, 2));
    claims.unwrap();
    let waits = d.waits();
    assert_eq!(waits[..2], [5, 10], "{waits:?}");
    assert!(waits[1..].iter().all(|w| *w == 10), "{waits:?}");
    // Had a poll come sooner than 10 s, the testkit would have slowed it down again.
    assert_eq!(d.kit.stats().device_slow_down, 1);
}

#[tokio::test]
async fn a_denied_an_expired_or_a_cancelled_device_login_ends_typed() {
    let d = device().await;
    let started = d.client.begin_device_login().await.unwrap();
    let deny = format!(
        "{}&action=deny",
        started.verification_uri_complete().unwrap()
    );
    let (denied, ()) = tokio::join!(d.client.complete_device_login(), d.user(deny, 1));
    let e = denied.unwrap_err();
    assert_eq!(e.provider_error(), Some("access_denied"));
    assert_eq!(d.client.state(), keyfob::SessionState::SignedOut);

    // Expired at the provider: the first poll says so.
    d.client.begin_device_login().await.unwrap();
    d.kit.advance_clock(601);
    let e = d.client.complete_device_login().await.unwrap_err();
    assert_eq!(e.provider_error(), Some("expired_token"));
    // Expired on the device's clock: no poll at all.
    d.client.begin_device_login().await.unwrap();
    d.clock.client.advance(601);
    let polls = d.kit.stats().device_code;
    let e = d.client.complete_device_login().await.unwrap_err();
    assert_eq!(e.provider_error(), Some("expired_token"));
    assert_eq!(d.kit.stats().device_code, polls);

    // Cancelled while it waits.
    d.client.begin_device_login().await.unwrap();
    let cancel = async {
        while d.kit.stats().device_code < polls + 1 {
            tokio::task::yield_now().await;
        }
        assert!(d.client.cancel_device_login());
    };
    let (cancelled, ()) = tokio::join!(d.client.complete_device_login(), cancel);
    assert_eq!(cancelled.unwrap_err().kind(), ErrorKind::NoPendingLogin);
}

#[tokio::test]
async fn a_provider_without_a_device_endpoint_is_a_discovery_error() {
    let env = start().await;
    env.kit.set_faults(Faults::discovery(
        json!({"device_authorization_endpoint": null}),
    ));
    let e = env.client().begin_device_login().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Discovery);
}

// --- Step-up (max_age, prompt=login, acr) ---

/// Signs in with `options` (the testkit signs in afresh: the "browser" keeps no cookie).
async fn step_up(
    env: &common::Env,
    client: &Client,
    options: LoginOptions,
) -> keyfob::Result<keyfob::IdTokenClaims> {
    let url = client.begin_login_with(&options).await?;
    client.handle_redirect(&env.browse(&url).await).await
}

fn failed_check(result: keyfob::Result<keyfob::IdTokenClaims>) -> Option<IdTokenCheck> {
    result.err().and_then(|e| e.id_token_check())
}

#[tokio::test]
async fn a_fresh_authentication_with_the_asked_acr_is_accepted() {
    let env = start().await;
    let client = env.client();
    let options = LoginOptions {
        max_age: Some(0),
        acr_values: vec!["urn:keyfob:loa:2".into()],
        require_acr: true,
        ..LoginOptions::default()
    };
    let url = client.begin_login_with(&options).await.unwrap();
    assert_eq!(param(&url, "max_age").as_deref(), Some("0"));
    assert_eq!(
        param(&url, "acr_values").as_deref(),
        Some("urn:keyfob:loa:2")
    );
    assert!(param(&url, "claims").unwrap().contains("essential"));
    let claims = client
        .handle_redirect(&env.browse(&url).await)
        .await
        .unwrap();
    assert!(claims.auth_time.is_some());
    assert_eq!(claims.acr.as_deref(), Some("urn:keyfob:loa:2"));
    assert_eq!(
        client.claims().unwrap().acr.as_deref(),
        Some("urn:keyfob:loa:2")
    );
    let prompt_login = LoginOptions {
        prompt: Some("login".into()),
        ..LoginOptions::default()
    };
    assert!(step_up(&env, &client, prompt_login).await.is_ok());
}

#[tokio::test]
async fn a_stale_or_missing_auth_time_or_another_acr_is_refused_and_the_session_stays() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    let session = client.tokens().unwrap();
    let now = keyfob::SystemClock.now();
    let max_age = || LoginOptions {
        max_age: Some(300),
        ..LoginOptions::default()
    };

    env.kit
        .set_faults(Faults::id_token_claims(json!({"auth_time": now - 3600})));
    let stale = step_up(&env, &client, max_age()).await;
    assert_eq!(failed_check(stale), Some(IdTokenCheck::AuthTime));
    let prompt_login = LoginOptions {
        prompt: Some("login".into()),
        ..LoginOptions::default()
    };
    let reused = step_up(&env, &client, prompt_login).await;
    assert_eq!(failed_check(reused), Some(IdTokenCheck::AuthTime));

    env.kit
        .set_faults(Faults::id_token_claims(json!({"auth_time": null})));
    let missing = step_up(&env, &client, max_age()).await;
    assert_eq!(failed_check(missing), Some(IdTokenCheck::AuthTime));

    env.kit
        .set_faults(Faults::id_token_claims(json!({"acr": "urn:keyfob:loa:1"})));
    let required = LoginOptions {
        acr_values: vec!["urn:keyfob:loa:2".into()],
        require_acr: true,
        ..LoginOptions::default()
    };
    let weaker = step_up(&env, &client, required).await;
    assert_eq!(failed_check(weaker), Some(IdTokenCheck::Acr));

    assert_eq!(
        client.tokens().unwrap(),
        session,
        "the session before the step-up stays"
    );
    // The grants of the refused sign-ins were revoked, not left behind.
    assert_eq!(env.kit.stats().revoke, 4);
}
