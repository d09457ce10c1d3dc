//! The seed scenario end to end: the app signs in through the browser with PKCE, calls Server A
//! and Server B with the access token, refreshes when it expires, and signs out.

mod common;

use common::{Server, param, start, start_with};
use keyfob::ErrorKind;
use keyfob_testkit::{Options, SigningAlg};

#[tokio::test]
async fn seed_scenario_login_call_refresh_logout() {
    let env = start().await;
    let client = env.client();

    // 1-2: the app builds the authorization URL (PKCE S256, state, nonce).
    let url = client.begin_login().await.unwrap();
    assert_eq!(
        param(&url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(
        param(&url, "code_challenge").is_some()
            && param(&url, "state").is_some()
            && param(&url, "nonce").is_some()
    );
    let before = env.kit.stats();
    assert_eq!(
        (before.discovery, before.jwks),
        (1, 1),
        "discovery and JWKS are fetched while the browser is open"
    );

    // 3: the browser signs in and is redirected to the app's deep link.
    let callback = env.browse(&url).await;
    assert!(callback.starts_with("myapp://callback?"), "{callback}");

    // 4: code exchange and ID token validation: exactly one request after the callback.
    let claims = client.handle_redirect(&callback).await.unwrap();
    assert_eq!(claims.subject, "user-123");
    assert_eq!(claims.issuer, env.kit.issuer());
    assert_eq!(claims.email.as_deref(), Some("ada@company.com"));
    let after = env.kit.stats();
    assert_eq!(after.token, before.token + 1);
    assert_eq!((after.discovery, after.jwks), (1, 1));

    // 5: Server A and Server B accept the access token.
    let token = client.access_token().await.unwrap();
    let (status, body) = env.call_api(Server::Crm, token.expose()).await;
    assert_eq!((status, body["server"].as_str()), (200, Some("crm")));
    assert_eq!(body["sub"], "user-123");
    let (status, body) = env.call_api(Server::Orders, token.expose()).await;
    assert_eq!((status, body["server"].as_str()), (200, Some("orders")));

    // 6: the access token expires; the servers reject it; the next access_token() refreshes.
    env.expire();
    assert_eq!(env.call_api(Server::Crm, token.expose()).await.0, 401);
    let old_refresh = client.tokens().unwrap().refresh_token().unwrap().clone();
    let fresh = client.access_token().await.unwrap();
    assert_ne!(fresh.expose(), token.expose());
    assert_ne!(
        client.tokens().unwrap().refresh_token().unwrap(),
        &old_refresh,
        "refresh token rotated"
    );
    assert_eq!(env.kit.stats().refresh_token, 1);
    assert_eq!(env.call_api(Server::Crm, fresh.expose()).await.0, 200);
    assert_eq!(env.call_api(Server::Orders, fresh.expose()).await.0, 200);
    // Still fresh: no further refresh.
    assert_eq!(client.access_token().await.unwrap(), fresh);
    assert_eq!(env.kit.stats().refresh_token, 1);

    // 7: logout revokes the refresh token and forgets the session.
    let logout = client.logout().await.unwrap();
    assert!(logout.revocation_error.is_none());
    let end_session = logout.end_session_url.expect("testkit offers end_session");
    assert!(
        end_session
            .expose()
            .starts_with(&format!("{}/end_session?", env.kit.issuer()))
    );
    assert_eq!(env.kit.stats().revoke, 1);
    assert!(client.tokens().is_none());
    assert_eq!(
        client.access_token().await.unwrap_err().kind(),
        ErrorKind::NotSignedIn
    );
}

#[tokio::test]
async fn es256_and_ps256_id_tokens_are_accepted() {
    for alg in [SigningAlg::Es256, SigningAlg::Ps256] {
        let env = start_with(Options {
            id_token_alg: alg,
            ..Options::default()
        })
        .await;
        let client = env.client();
        let claims = env
            .login(&client)
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(claims.subject, "user-123");
    }
}

#[tokio::test]
async fn refresh_validates_the_new_id_token_and_keeps_the_user() {
    let env = start().await;
    let client = env.client();
    let first = env.login(&client).await.unwrap();
    env.clock.advance(5);
    let tokens = client.refresh().await.unwrap();
    assert_eq!(tokens.claims().subject, first.subject);
    assert!(tokens.claims().issued_at >= first.issued_at);
}

#[tokio::test]
async fn key_rotation_is_picked_up_with_one_jwks_refetch() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    assert_eq!(env.kit.stats().jwks, 1);
    env.kit.rotate_keys(false);
    env.login(&client)
        .await
        .expect("new key found after one refetch");
    assert_eq!(env.kit.stats().jwks, 2);
}
