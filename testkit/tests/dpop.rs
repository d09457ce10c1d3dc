//! DPoP (RFC 9449) and pushed authorization requests (RFC 9126) as the testkit serves them:
//! bound tokens, the proof checks at `/token`, `/userinfo` and servers A and B, nonces, the
//! `require_dpop` and `require_par` policies, and the stats. Proofs are made here with `ring`,
//! independently of the testkit's own checks.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{REDIRECT_URI, authorize_url, decode, http, location_params, param, post_form, start};
use keyfob_testkit::{Faults, Policy, Testkit};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, WWW_AUTHENTICATE};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// A client's DPoP key, and the proofs it makes.
struct Key {
    pair: EcdsaKeyPair,
}

/// How a test bends a proof.
#[derive(Default, Clone)]
struct Bend {
    htm: Option<&'static str>,
    htu: Option<String>,
    iat_offset: i64,
    ath: Option<String>,
    nonce: Option<String>,
    jti: Option<String>,
}

impl Key {
    fn new() -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Key {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
        }
    }

    fn coordinates(&self) -> (String, String) {
        let point = self.pair.public_key().as_ref();
        (
            URL_SAFE_NO_PAD.encode(&point[1..33]),
            URL_SAFE_NO_PAD.encode(&point[33..65]),
        )
    }

    /// RFC 7638, computed here from the canonical JSON.
    fn thumbprint(&self) -> String {
        let (x, y) = self.coordinates();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    fn proof(&self, method: &'static str, url: &str, token: Option<&str>, bend: &Bend) -> String {
        let (x, y) = self.coordinates();
        let header = json!({"typ": "dpop+jwt", "alg": "ES256",
                            "jwk": {"kty": "EC", "crv": "P-256", "x": x, "y": y}});
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut claims = json!({
            "jti": bend.jti.clone().unwrap_or_else(random),
            "htm": bend.htm.unwrap_or(method),
            "htu": bend.htu.clone().unwrap_or_else(|| url.to_owned()),
            "iat": now + bend.iat_offset,
        });
        if let Some(token) = token {
            claims["ath"] = json!(bend.ath.clone().unwrap_or_else(|| URL_SAFE_NO_PAD.encode(
                ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
            )));
        }
        if let Some(nonce) = &bend.nonce {
            claims["nonce"] = json!(nonce);
        }
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

fn random() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// POSTs a form to the provider with an optional `DPoP` header.
async fn post_with_proof(
    tk: &Testkit,
    path: &str,
    form: &[(&str, &str)],
    proof: Option<String>,
) -> reqwest::Response {
    let mut request = http().post(format!("{}{path}", tk.issuer())).form(form);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

/// Signs in through `/authorize` (with `extra` parameters) and exchanges the code with a
/// proof of `key` (or none); returns the status and body of the token response.
async fn sign_in_with(
    tk: &Testkit,
    key: Option<&Key>,
    extra: &[(&str, &str)],
    bend: &Bend,
) -> (StatusCode, Value) {
    let (code, verifier) = authorized_code(tk, extra).await;
    let token_url = format!("{}/token", tk.issuer());
    let proof = key.map(|k| k.proof("POST", &token_url, None, bend));
    let response = exchange_with(tk, &code, &verifier, proof).await;
    (response.status(), response.json().await.unwrap())
}

/// Runs `/authorize` with `extra` parameters; returns the code and the PKCE verifier.
async fn authorized_code(tk: &Testkit, extra: &[(&str, &str)]) -> (String, String) {
    let pkce = common::Pkce::new();
    let response = http()
        .get(authorize_url(tk, &pkce, extra))
        .send()
        .await
        .unwrap();
    let params = location_params(response.headers());
    let code = param(&params, "code").expect("a code").to_owned();
    (code, pkce.verifier)
}

/// Exchanges `code` at the token endpoint with an optional `DPoP` proof.
async fn exchange_with(
    tk: &Testkit,
    code: &str,
    verifier: &str,
    proof: Option<String>,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", tk.client_id()),
        ("code_verifier", verifier),
    ];
    post_with_proof(tk, "/token", &form, proof).await
}

/// GETs `url` with `Authorization: <scheme> <token>` and an optional `DPoP` proof.
async fn get_with(
    url: &str,
    scheme: &str,
    token: &str,
    proof: Option<String>,
) -> reqwest::Response {
    let mut request = http()
        .get(url)
        .header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

/// GETs server A's API with `Authorization: <scheme> <token>` and an optional proof.
async fn call_crm(
    tk: &Testkit,
    scheme: &str,
    token: &str,
    proof: Option<String>,
) -> reqwest::Response {
    get_with(&crm_url(tk), scheme, token, proof).await
}

fn crm_url(tk: &Testkit) -> String {
    format!("{}/api/customers", tk.urls().crm)
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()[WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_proof_at_the_token_endpoint_binds_the_tokens_to_its_key() {
    let tk = start().await;
    let key = Key::new();
    let (status, body) = sign_in_with(&tk, Some(&key), &[], &Bend::default()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let access_token = body["access_token"].as_str().unwrap();
    let (_, claims) = decode(access_token);
    assert_eq!(claims["cnf"]["jkt"], key.thumbprint());

    // Without a proof: Bearer, as before.
    let (_, body) = sign_in_with(&tk, None, &[], &Bend::default()).await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(
        decode(body["access_token"].as_str().unwrap())
            .1
            .get("cnf")
            .is_none()
    );
    let stats = tk.stats();
    assert_eq!((stats.dpop_proofs, stats.dpop_proofs_rejected), (1, 0));
}

#[tokio::test]
async fn a_bound_refresh_token_needs_a_proof_of_its_key() {
    let tk = start().await;
    let key = Key::new();
    let (_, body) = sign_in_with(&tk, Some(&key), &[], &Bend::default()).await;
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let token_url = format!("{}/token", tk.issuer());
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
        ("client_id", tk.client_id()),
    ];
    let other = Key::new();
    for proof in [
        None,
        Some(other.proof("POST", &token_url, None, &Bend::default())),
    ] {
        let response = post_with_proof(&tk, "/token", &form, proof).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
    }
    // Refused attempts did not spend it: its holder still refreshes, still bound.
    let proof = key.proof("POST", &token_url, None, &Bend::default());
    let response = post_with_proof(&tk, "/token", &form, Some(proof)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(
        decode(body["access_token"].as_str().unwrap()).1["cnf"]["jkt"],
        key.thumbprint()
    );
}

#[tokio::test]
async fn bad_proofs_at_the_token_endpoint_are_refused() {
    let tk = start().await;
    let key = Key::new();
    let stale = Bend {
        iat_offset: -300,
        ..Bend::default()
    };
    let wrong_method = Bend {
        htm: Some("GET"),
        ..Bend::default()
    };
    let wrong_url = Bend {
        htu: Some(format!("{}/other", tk.issuer())),
        ..Bend::default()
    };
    for bend in [stale, wrong_method, wrong_url] {
        let (status, body) = sign_in_with(&tk, Some(&key), &[], &bend).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    }
    // A malformed proof.
    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", tk.client_id()),
    ];
    let response = post_with_proof(&tk, "/token", &form, Some("x.y.z".into())).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_dpop_proof"
    );
    assert_eq!(tk.stats().dpop_proofs_rejected, 4);
}

#[tokio::test]
async fn servers_a_and_b_and_userinfo_check_the_proof_of_a_bound_token() {
    let tk = start().await;
    let key = Key::new();
    let (_, body) = sign_in_with(&tk, Some(&key), &[], &Bend::default()).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let url = crm_url(&tk);
    let good = || key.proof("GET", &url, Some(&token), &Bend::default());

    let response = call_crm(&tk, "DPoP", &token, Some(good())).await;
    assert_eq!(response.status(), StatusCode::OK);
    for url in [
        format!("{}/api/orders", tk.urls().orders),
        format!("{}/userinfo", tk.issuer()),
    ] {
        let proof = key.proof("GET", &url, Some(&token), &Bend::default());
        let response = get_with(&url, "DPoP", &token, Some(proof)).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
    }

    // As Bearer: refused, with or without a proof.
    let response = call_crm(&tk, "Bearer", &token, None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&response).contains("invalid_token"),
        "{}",
        challenge(&response)
    );
    let response = call_crm(&tk, "Bearer", &token, Some(good())).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The proof replayed, for another method, URL or token, too old, by another key, missing.
    let replayed = good();
    assert_eq!(
        call_crm(&tk, "DPoP", &token, Some(replayed.clone()))
            .await
            .status(),
        200
    );
    let other = Key::new();
    let bent = |bend: Bend| key.proof("GET", &url, Some(&token), &bend);
    for (what, proof) in [
        ("replayed jti", Some(replayed)),
        (
            "wrong htm",
            Some(bent(Bend {
                htm: Some("POST"),
                ..Bend::default()
            })),
        ),
        (
            "wrong htu",
            Some(bent(Bend {
                htu: Some(format!("{}/api/orders", tk.urls().crm)),
                ..Bend::default()
            })),
        ),
        (
            "stale iat",
            Some(bent(Bend {
                iat_offset: -120,
                ..Bend::default()
            })),
        ),
        (
            "future iat",
            Some(bent(Bend {
                iat_offset: 120,
                ..Bend::default()
            })),
        ),
        (
            "wrong ath",
            Some(bent(Bend {
                ath: Some("AAAA".into()),
                ..Bend::default()
            })),
        ),
        (
            "another key",
            Some(other.proof("GET", &url, Some(&token), &Bend::default())),
        ),
        ("no proof", None),
    ] {
        let response = call_crm(&tk, "DPoP", &token, proof).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        let challenge = challenge(&response);
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains("invalid_dpop_proof"),
            "{what}: {challenge}"
        );
    }
    // A Bearer token sent with the DPoP scheme.
    let (_, bearer) = sign_in_with(&tk, None, &[], &Bend::default()).await;
    let bearer_token = bearer["access_token"].as_str().unwrap();
    let proof = key.proof("GET", &url, Some(bearer_token), &Bend::default());
    assert_eq!(
        call_crm(&tk, "DPoP", bearer_token, Some(proof))
            .await
            .status(),
        401
    );
    assert_eq!(
        call_crm(&tk, "Bearer", bearer_token, None).await.status(),
        200
    );
    let stats = tk.stats();
    assert_eq!(stats.dpop_proofs_rejected, 8);
    assert_eq!(stats.crm_rejected, 11);
}

#[tokio::test]
async fn servers_demand_their_nonces_when_told_to() {
    let tk = start().await;
    tk.set_policy(Policy {
        dpop_nonce: true,
        ..Policy::default()
    });
    let key = Key::new();
    // The token endpoint: 400 use_dpop_nonce with the nonce, then the proof with it passes.
    let (status, body) = sign_in_with(&tk, Some(&key), &[], &Bend::default()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("use_dpop_nonce"))
    );
    let (code, verifier) = authorized_code(&tk, &[]).await;
    let token_url = format!("{}/token", tk.issuer());
    let proof = |bend: &Bend| Some(key.proof("POST", &token_url, None, bend));
    let response = exchange_with(&tk, &code, &verifier, proof(&Bend::default())).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    let with_nonce = Bend {
        nonce: Some(nonce.clone()),
        ..Bend::default()
    };
    let response = exchange_with(&tk, &code, &verifier, proof(&with_nonce)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("dpop-nonce"));
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();

    // Server A has a nonce of its own.
    let url = crm_url(&tk);
    let crm_with = |bend: &Bend| {
        let proof = key.proof("GET", &url, Some(&token), bend);
        call_crm(&tk, "DPoP", &token, Some(proof))
    };
    let response = crm_with(&with_nonce).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&response).contains(r#"error="use_dpop_nonce""#));
    let crm_nonce = response.headers()["dpop-nonce"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(crm_nonce, nonce);
    let crm_bend = Bend {
        nonce: Some(crm_nonce),
        ..Bend::default()
    };
    assert_eq!(crm_with(&crm_bend).await.status(), StatusCode::OK);
    // Rotated: the old nonce is refused again.
    tk.rotate_dpop_nonces();
    assert_eq!(crm_with(&crm_bend).await.status(), StatusCode::UNAUTHORIZED);
    assert!(tk.stats().dpop_nonce_challenges >= 4);
}

#[tokio::test]
async fn require_dpop_refuses_token_requests_without_a_proof() {
    let tk = start().await;
    tk.set_policy(Policy {
        require_dpop: true,
        ..Policy::default()
    });
    let (status, body) = sign_in_with(&tk, None, &[], &Bend::default()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof"))
    );
    let (status, _) = sign_in_with(&tk, Some(&Key::new()), &[], &Bend::default()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_code_bound_with_dpop_jkt_is_redeemed_only_with_that_key() {
    let tk = start().await;
    let key = Key::new();
    let jkt = key.thumbprint();
    let (status, body) = sign_in_with(
        &tk,
        Some(&Key::new()),
        &[("dpop_jkt", &jkt)],
        &Bend::default(),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = sign_in_with(&tk, None, &[("dpop_jkt", &jkt)], &Bend::default()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) =
        sign_in_with(&tk, Some(&key), &[("dpop_jkt", &jkt)], &Bend::default()).await;
    assert_eq!(
        (status, body["token_type"].as_str()),
        (StatusCode::OK, Some("DPoP"))
    );
}

/// The standard authorization parameters as a form, for `/par`.
fn pushed_form<'a>(tk: &'a Testkit, challenge: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", tk.client_id()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid email"),
        ("state", "st-par"),
        ("nonce", "n-par"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

async fn open_pushed(tk: &Testkit, request_uri: &str) -> reqwest::Response {
    let mut url = url::Url::parse(&format!("{}/authorize", tk.issuer())).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", tk.client_id())
        .append_pair("request_uri", request_uri);
    http().get(url.as_str()).send().await.unwrap()
}

#[tokio::test]
async fn a_pushed_request_is_used_once_before_it_expires() {
    let tk = start().await;
    let pkce = common::Pkce::new();
    let response = post_form(&tk, "/par", &pushed_form(&tk, &pkce.challenge)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let request_uri = body["request_uri"].as_str().unwrap().to_owned();
    assert_eq!(body["expires_in"], 60);

    let response = open_pushed(&tk, &request_uri).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let params = location_params(response.headers());
    assert_eq!(param(&params, "state"), Some("st-par"));
    let code = param(&params, "code").unwrap().to_owned();
    let (status, tokens) = common::exchange(&tk, &code, &pkce.verifier).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        decode(tokens["id_token"].as_str().unwrap()).1["nonce"],
        "n-par"
    );
    // Single use.
    assert_eq!(
        open_pushed(&tk, &request_uri).await.status(),
        StatusCode::BAD_REQUEST
    );
    // Expiring.
    let response = post_form(&tk, "/par", &pushed_form(&tk, &pkce.challenge)).await;
    let request_uri = response.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    tk.advance_clock(61);
    assert_eq!(
        open_pushed(&tk, &request_uri).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(tk.stats().par, 2);
}

#[tokio::test]
async fn pushed_requests_are_checked_like_authorization_requests() {
    let tk = start().await;
    let pkce = common::Pkce::new();
    let mut form = pushed_form(&tk, &pkce.challenge);
    form.retain(|(name, _)| *name != "code_challenge");
    let response = post_form(&tk, "/par", &form).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let mut form = pushed_form(&tk, &pkce.challenge);
    form.push(("request_uri", "urn:x"));
    assert_eq!(
        post_form(&tk, "/par", &form).await.status(),
        StatusCode::BAD_REQUEST
    );
    let mut form = pushed_form(&tk, &pkce.challenge);
    form[1].1 = "someone-else";
    assert_eq!(
        post_form(&tk, "/par", &form).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The fault switchboard reaches the endpoint too.
    tk.set_faults(Faults::oauth_error(
        "/par",
        json!({"error": "invalid_request"}),
    ));
    assert_eq!(
        post_form(&tk, "/par", &pushed_form(&tk, &pkce.challenge))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn require_par_is_advertised_and_refuses_front_channel_requests() {
    let tk = start().await;
    let discovery = common::discovery_document(&tk).await;
    assert_eq!(discovery["require_pushed_authorization_requests"], false);
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        format!("{}/par", tk.issuer())
    );
    assert_eq!(
        discovery["dpop_signing_alg_values_supported"],
        json!(["ES256"])
    );
    tk.set_policy(Policy {
        require_par: true,
        ..Policy::default()
    });
    let discovery = common::discovery_document(&tk).await;
    assert_eq!(discovery["require_pushed_authorization_requests"], true);
    let pkce = common::Pkce::new();
    let response = http()
        .get(authorize_url(&tk, &pkce, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert!(
        response.headers()[LOCATION]
            .to_str()
            .unwrap()
            .contains("error=invalid_request")
    );
    let response = post_form(&tk, "/par", &pushed_form(&tk, &pkce.challenge)).await;
    let request_uri = response.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = open_pushed(&tk, &request_uri).await;
    assert!(param(&location_params(response.headers()), "code").is_some());
}

#[tokio::test]
async fn the_policy_is_switched_over_http() {
    let tk = start().await;
    let admin = |path: &str| format!("{}/__testkit/{path}", tk.issuer());
    let response = http()
        .post(admin("policy"))
        .body(r#"{"require_dpop": true, "dpop_nonce": true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        tk.policy(),
        Policy {
            require_dpop: true,
            require_par: false,
            dpop_nonce: true
        }
    );
    let policy: Value = common::get_json(&admin("policy")).await;
    assert_eq!(policy["dpop_nonce"], true);
    let response = http()
        .post(admin("policy"))
        .body(r#"{"nope": 1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = http()
        .post(admin("rotate-dpop-nonces"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
