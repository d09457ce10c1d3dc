//! The commands of the grants beyond a browser sign-in, end to end against a testkit:
//! `token --resource`, `call --resource`, `exchange`, `login --device` and a step-up
//! `login --max-age … --acr-values …`, with their exit statuses.

mod common;

use common::{
    DENY_ENV, Sandbox, browser_command, login_args, secret_leak, session_args, session_secrets,
    testkit,
};
use keyfob_testkit::{CRM_AUDIENCE, Faults, ORDERS_AUDIENCE, Options, Testkit};
use serde_json::{Value, json};

/// The browser of these tests (see `common`): GETs the URL it is given (for a device login,
/// the complete verification URI, which approves the device).
#[test]
#[ignore = "the browser of the grant tests, started by `keyfob login --browser`"]
fn browser_helper() {
    common::browser_helper_main();
}

/// The claims of a JWT, unverified.
fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let part = jwt.trim().split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Signs in through the browser, with `extra` login options.
async fn login(kit: &Testkit, sandbox: &Sandbox, extra: &[&str]) -> common::Run {
    let browser = browser_command();
    let args = [&login_args(kit, &browser)[..], extra].concat();
    sandbox.run(&args).await
}

/// GET `url` with a bearer token; the status.
async fn call(url: &str, token: &str) -> u16 {
    use keyfob::HttpTransport as _;
    let request = keyfob::HttpRequest {
        method: keyfob::HttpMethod::Get,
        url: url.to_owned(),
        headers: vec![("authorization".into(), format!("Bearer {}", token.trim()))],
        body: vec![],
        timeout: std::time::Duration::from_secs(10),
        max_response_bytes: 1 << 20,
    };
    let transport = keyfob::ReqwestTransport::new().unwrap();
    transport.send(request).await.unwrap().status
}

fn token_args<'a>(kit: &'a Testkit, resource: &'a str) -> Vec<&'a str> {
    [&session_args(kit, "token")[..], &["--resource", resource]].concat()
}

fn call_args<'a>(kit: &'a Testkit, resource: &'a str, target: &'a str) -> Vec<&'a str> {
    [
        &session_args(kit, "call")[..],
        &["--resource", resource, target],
    ]
    .concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_call_for_one_api() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("resource");
    // Not signed in: exit 3, nothing printed.
    let signed_out = sandbox.run(&token_args(&kit, CRM_AUDIENCE)).await;
    assert_eq!(signed_out.expect_code(3).expect_error_kind(), "NotSignedIn");
    assert_eq!(signed_out.stdout, "");

    login(&kit, &sandbox, &[]).await.expect_ok();
    let crm = sandbox.run(&token_args(&kit, CRM_AUDIENCE)).await;
    crm.expect_ok();
    assert_eq!(claims(&crm.stdout)["aud"], json!([CRM_AUDIENCE]));
    assert_eq!(crm.stdout.lines().count(), 1, "only the token");
    let customers = format!("{}/api/customers", kit.urls().crm);
    let orders = format!("{}/api/orders", kit.urls().orders);
    assert_eq!(call(&customers, &crm.stdout).await, 200);
    assert_eq!(call(&orders, &crm.stdout).await, 401);
    // Kept with the session: the same token again, with no request.
    let refreshes = kit.stats().refresh_token;
    assert_eq!(
        sandbox.run(&token_args(&kit, CRM_AUDIENCE)).await.stdout,
        crm.stdout
    );
    assert_eq!(kit.stats().refresh_token, refreshes);

    // call --resource: the API's own token.
    let ok = sandbox
        .run(&call_args(&kit, ORDERS_AUDIENCE, &orders))
        .await;
    ok.expect_ok();
    let body: Value = serde_json::from_str(&ok.stdout).unwrap();
    assert_eq!(body["server"], "orders");
    let refused = sandbox
        .run(&call_args(&kit, ORDERS_AUDIENCE, &customers))
        .await;
    assert_eq!(refused.expect_code(1).expect_error_kind(), "HttpStatus");

    // An API the provider issues no token for: invalid_target, exit 1; not a URI: usage, 2.
    let unknown = sandbox.run(&token_args(&kit, "https://evil.example")).await;
    assert_eq!(unknown.expect_code(1).expect_error_kind(), "Provider");
    assert!(
        unknown.stderr.contains("invalid_target"),
        "{}",
        unknown.stderr
    );
    sandbox.run(&token_args(&kit, "crm")).await.expect_code(2);
    let both = [
        &session_args(&kit, "token")[..],
        &["--resource", CRM_AUDIENCE, "--account", "user-123"],
    ]
    .concat();
    sandbox.run(&both).await.expect_code(2);

    let secrets = session_secrets(&sandbox.stored_record());
    assert!(secrets.len() >= 4, "the API tokens are among the secrets");
    let status = sandbox.run(&session_args(&kit, "status")).await;
    assert_eq!(secret_leak(&status.stdout, &secrets), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_prints_only_the_internal_token_and_exits_3_when_rejected() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("exchange");
    let internal = kit.urls().internal.clone();
    let exchange = |extra: &[&str]| {
        let mut args = vec![
            "exchange",
            "--issuer",
            kit.issuer(),
            "--from-client-id",
            kit.client_id(),
            "--to",
            &internal,
            "--client-id",
            kit.client_id(),
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| {
        let sandbox = &sandbox;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            sandbox.run(&args).await
        }
    };
    run(exchange(&[])).await.expect_code(3);

    login(&kit, &sandbox, &[]).await.expect_ok();
    let exchanged = run(exchange(&[])).await;
    exchanged.expect_ok();
    assert_eq!(exchanged.stdout.lines().count(), 1, "only the token");
    let token = exchanged.stdout.trim();
    assert_eq!(claims(token)["iss"], internal.as_str());
    assert_eq!(
        call(&format!("{}/api/customers", kit.urls().crm), token).await,
        200
    );
    assert_eq!(
        call(&format!("{}/api/orders", kit.urls().orders), token).await,
        200
    );

    // Narrowed: an audience and a scope, the access token as the subject.
    let narrow = run(exchange(&[
        "--audience",
        CRM_AUDIENCE,
        "--scope",
        "customers:read",
        "--access-token",
    ]))
    .await;
    narrow.expect_ok();
    let narrowed = claims(narrow.stdout.trim());
    assert_eq!(
        (narrowed["aud"].clone(), narrowed["scope"].clone()),
        (json!([CRM_AUDIENCE]), json!("customers:read"))
    );

    // An audience the server issues nothing for: 1; an unusable --to: 2.
    let target = run(exchange(&["--audience", "https://evil.example"])).await;
    assert_eq!(target.expect_code(1).expect_error_kind(), "Provider");
    let mut insecure = exchange(&[]);
    insecure[6] = "http://internal.example".into();
    run(insecure).await.expect_code(2);

    // The subject rejected (expired at the internal server's clock): exit 3.
    kit.advance_clock(301);
    let rejected = run(exchange(&[])).await;
    assert_eq!(rejected.expect_code(3).expect_error_kind(), "Provider");
    assert!(
        rejected.stderr.contains("invalid_grant"),
        "{}",
        rejected.stderr
    );
    assert_eq!(rejected.stdout, "");
    assert_eq!(kit.stats().token_exchange, 4);
}

/// `keyfob login --device` against `kit`, with `--browser` unless `browser` is false.
fn device_args<'a>(kit: &'a Testkit, browser: Option<&'a str>, timeout: &'a str) -> Vec<&'a str> {
    let mut args = vec![
        "login",
        "--device",
        "--issuer",
        kit.issuer(),
        "--client-id",
        kit.client_id(),
        "--scope",
        "offline_access",
        "--timeout",
        timeout,
    ];
    if let Some(browser) = browser {
        args.extend(["--browser", browser]);
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_device_shows_the_code_and_stores_the_session_once_approved() {
    let kit = testkit().await;
    kit.set_faults(Faults::device(1, 0));
    let sandbox = Sandbox::without_secrets_file("device");
    let browser = browser_command();
    let login = sandbox.run(&device_args(&kit, Some(&browser), "30")).await;
    login.expect_ok();
    assert!(
        login.stdout.starts_with("Signed in to "),
        "{}",
        login.stdout
    );
    let verification = format!("{}/device", kit.issuer());
    assert!(login.stderr.contains(&verification), "{}", login.stderr);
    let code = login
        .stderr
        .split("enter the code ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the user code on stderr");
    assert_eq!(code.len(), 9);
    assert!(login.stderr.contains(&format!("?user_code={code}")));
    let stats = kit.stats();
    assert_eq!((stats.device_authorization, stats.authorize), (1, 0));

    let status = sandbox
        .run(&[&session_args(&kit, "status")[..], &["--json"]].concat())
        .await;
    let json: Value = serde_json::from_str(&status.expect_ok().stdout).unwrap();
    assert_eq!(
        (json["signed_in"].clone(), json["sub"].clone()),
        (json!(true), json!("user-123"))
    );
    let secrets = session_secrets(&sandbox.stored_record());
    for run in [&login, &status] {
        assert_eq!(secret_leak(&run.stdout, &secrets), None);
        assert_eq!(secret_leak(&run.stderr, &secrets), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_device_fails_when_declined_expired_or_never_approved() {
    let kit = Testkit::start(Options {
        device_interval: 1,
        device_code_ttl: 3,
        ..Options::default()
    })
    .await
    .unwrap();
    let sandbox = Sandbox::without_secrets_file("device-denied");
    let browser = browser_command();
    let mut denied = sandbox.command(&device_args(&kit, Some(&browser), "30"));
    denied.env(DENY_ENV, "1");
    let denied = sandbox
        .run_command(denied, &device_args(&kit, Some(&browser), "30"))
        .await;
    assert_eq!(denied.expect_code(1).expect_error_kind(), "Provider");
    assert!(denied.stderr.contains("access_denied"), "{}", denied.stderr);

    // Nobody approves: the codes expire (3 s) before --timeout.
    let expired = sandbox.run(&device_args(&kit, None, "30")).await;
    assert_eq!(expired.expect_code(1).expect_error_kind(), "Provider");
    assert!(
        expired.stderr.contains("expired_token"),
        "{}",
        expired.stderr
    );
    // --timeout first.
    let timeout = sandbox.run(&device_args(&kit, None, "1")).await;
    assert_eq!(timeout.expect_code(1).expect_error_kind(), "Timeout");
    assert!(sandbox.tree().is_empty(), "a failed login leaves no file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_up_login_checks_auth_time_and_acr() {
    let kit = testkit().await;
    let sandbox = Sandbox::without_secrets_file("step-up");
    let stepped = login(
        &kit,
        &sandbox,
        &[
            "--max-age",
            "0",
            "--acr-values",
            "urn:keyfob:loa:2",
            "--require-acr",
        ],
    )
    .await;
    stepped.expect_ok();
    assert!(
        stepped.stderr.contains("with acr urn:keyfob:loa:2"),
        "{}",
        stepped.stderr
    );
    let status = sandbox
        .run(&[&session_args(&kit, "status")[..], &["--json"]].concat())
        .await;
    let json: Value = serde_json::from_str(&status.expect_ok().stdout).unwrap();
    assert_eq!(json["acr"], "urn:keyfob:loa:2");
    assert!(json["auth_time"].as_i64().is_some());

    // The provider answers with a weaker acr, or an old authentication: refused, exit 1, and
    // the session from before stays.
    let before = sandbox.stored_record();
    kit.set_faults(Faults::id_token_claims(json!({"acr": "urn:keyfob:loa:1"})));
    let weaker = login(
        &kit,
        &sandbox,
        &["--acr-values", "urn:keyfob:loa:2", "--require-acr"],
    )
    .await;
    weaker.expect_code(1);
    assert_eq!(weaker.id_token_check(), Some("Acr"));
    kit.set_faults(Faults::id_token_claims(json!({"auth_time": 1_000_000_000})));
    let stale = login(&kit, &sandbox, &["--max-age", "60"]).await;
    assert_eq!(stale.expect_code(1).id_token_check(), Some("AuthTime"));
    assert_eq!(sandbox.stored_record(), before);

    // Usage: step-up does not go with --device; --require-acr needs --acr-values.
    let browser = browser_command();
    let device_step_up = [&device_args(&kit, None, "5")[..], &["--max-age", "0"]].concat();
    sandbox.run(&device_step_up).await.expect_code(2);
    let bare = [&login_args(&kit, &browser)[..], &["--require-acr"]].concat();
    sandbox.run(&bare).await.expect_code(2);
}
