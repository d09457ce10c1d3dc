//! Steering the testkit: request counters, the `/__testkit/*` admin endpoints, fixed ports and
//! a public host name.

use keyfob_testkit::{Options, Stats, Testkit};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::{
    Pkce, call_api, code, discovery_document, exchange, get_json, http, jwks, post_form, refresh,
    sign_in, start,
};

#[tokio::test]
async fn stats_count_each_endpoint_and_grant() {
    let tk = start().await;
    let tokens = sign_in(&tk).await;
    refresh(&tk, tokens["refresh_token"].as_str().unwrap()).await;
    refresh(&tk, "unknown").await;
    jwks(&tk).await;
    http()
        .get(format!("{}/.well-known/openid-configuration", tk.issuer()))
        .send()
        .await
        .unwrap();
    http()
        .get(format!("{}/userinfo", tk.issuer()))
        .send()
        .await
        .unwrap();
    post_form(
        &tk,
        "/revoke",
        &[("token", "x"), ("client_id", tk.client_id())],
    )
    .await;
    http()
        .get(format!("{}/end_session", tk.issuer()))
        .send()
        .await
        .unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    call_api(&tk.urls().crm, "/api/customers", Some(access_token)).await;
    call_api(&tk.urls().orders, "/api/orders", None).await;

    assert_eq!(
        tk.stats(),
        Stats {
            discovery: 1,
            jwks: 1,
            authorize: 1,
            token: 3,
            userinfo: 1,
            revoke: 1,
            end_session: 1,
            authorization_code: 1,
            refresh_token: 2,
            // Server A fetched the JWKS to verify the token; B had no token to verify.
            jwks_from_resource_servers: 1,
            crm: 1,
            orders: 1,
            crm_rejected: 0,
            orders_rejected: 1,
            discovery_conditional: 0,
            discovery_not_modified: 0,
            jwks_conditional: 0,
            jwks_not_modified: 0,
            // No pushed request, no DPoP proof (testkit/tests/dpop.rs counts those).
            par: 0,
            dpop_proofs: 0,
            dpop_proofs_rejected: 0,
            dpop_nonce_challenges: 0,
        }
    );
    tk.reset_stats();
    assert_eq!(tk.stats(), Stats::default());
}

#[tokio::test]
async fn admin_endpoints_steer_the_testkit() {
    let tk = start().await;
    let admin = |path: &str| format!("{}/__testkit/{path}", tk.issuer());
    sign_in(&tk).await;

    let stats: Stats = get_json(&admin("stats")).await;
    assert_eq!(stats.authorize, 1);
    assert_eq!(stats.token, 1);
    let response = http().post(admin("reset-stats")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(tk.stats(), Stats::default());

    // Faults: set, observe, clear.
    let response = http()
        .post(admin("faults"))
        .json(&json!({"discovery": {"issuer": "https://evil.example"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc = discovery_document(&tk).await;
    assert_eq!(doc["issuer"], "https://evil.example");
    let response = http().delete(admin("faults")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc = discovery_document(&tk).await;
    assert_eq!(doc["issuer"], tk.issuer());
    let response = http()
        .post(admin("faults"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Key rotation: default keeps the old key; keep_old=false drops it.
    let response = http().post(admin("rotate-keys")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(jwks(&tk).await["keys"].as_array().unwrap().len(), 2);
    http()
        .post(admin("rotate-keys"))
        .json(&json!({"keep_old": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks(&tk).await["keys"].as_array().unwrap().len(), 1);

    // Clock: a fresh code expires once the clock moves past code_ttl.
    let pkce = Pkce::new();
    let code = code(&tk, &pkce).await;
    let response = http()
        .post(admin("advance-clock"))
        .json(&json!({"seconds": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, body) = exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(body["error"], "invalid_grant");

    // Admin calls are not counted.
    assert_eq!(tk.stats().discovery, 2);
    assert_eq!(tk.stats().jwks, 2);
}

#[tokio::test]
async fn fixed_ports_and_public_host() {
    // Find three free consecutive ports by asking for one and hoping the next
    // two are free; retry a few times.
    for _ in 0..10 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        if port > 65_000 {
            continue;
        }
        let Ok(tk) = Testkit::start(Options {
            port,
            public_host: Some("localhost".into()),
            ..Options::default()
        })
        .await
        else {
            continue;
        };
        assert_eq!(tk.issuer(), format!("http://localhost:{port}"));
        assert_eq!(tk.urls().crm, format!("http://localhost:{}", port + 1));
        assert_eq!(tk.urls().orders, format!("http://localhost:{}", port + 2));
        let response = http()
            .get(format!("http://127.0.0.1:{}/api/orders", port + 2))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        tk.shutdown().await;
        assert!(
            http()
                .get(format!("http://127.0.0.1:{port}/.well-known/jwks.json"))
                .send()
                .await
                .is_err(),
            "the provider stopped"
        );
        return;
    }
    panic!("no free port range found");
}
