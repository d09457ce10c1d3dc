//! ID token validation against a misbehaving provider: every check has a negative test.

mod common;

use common::{start, start_with};
use keyfob::{ErrorKind, IdTokenCheck};
use keyfob_testkit::{Faults, Options, Signing, SigningAlg};
use serde_json::{Value, json};

async fn login_with(faults: Faults) -> (keyfob::Error, keyfob_testkit::Stats) {
    let env = start().await;
    env.kit.set_faults(faults);
    let e = env.login(&env.client()).await.expect_err("login must fail");
    (e, env.kit.stats())
}

async fn assert_check(faults: Faults, check: IdTokenCheck) {
    let label = format!("{faults:?}");
    let (e, _) = login_with(faults).await;
    assert_eq!(e.kind(), ErrorKind::IdToken, "{label}: {e}");
    assert_eq!(e.id_token_check(), Some(check), "{label}: {e}");
}

/// Against a provider signing ID tokens with `alg`: a login succeeds without faults (so the
/// algorithm is accepted), then fails with `check` once `faults` are on.
async fn assert_check_for(alg: SigningAlg, faults: Faults, check: IdTokenCheck) {
    let label = format!("{alg:?}, {faults:?}");
    let env = start_with(Options {
        id_token_alg: alg,
        ..Options::default()
    })
    .await;
    env.login(&env.client())
        .await
        .unwrap_or_else(|e| panic!("{label}: a login without faults failed: {e}"));
    env.kit.set_faults(faults);
    let e = env
        .login(&env.client())
        .await
        .expect_err(&format!("{label}: login must fail"));
    assert_eq!(e.kind(), ErrorKind::IdToken, "{label}: {e}");
    assert_eq!(e.id_token_check(), Some(check), "{label}: {e}");
}

#[tokio::test]
async fn tampered_signature_for_every_accepted_algorithm() {
    for alg in [SigningAlg::Rs256, SigningAlg::Ps256, SigningAlg::Es256] {
        let faults = Faults::id_token_signing(Signing::BadSignature);
        assert_check_for(alg, faults, IdTokenCheck::Signature).await;
    }
}

#[tokio::test]
async fn rsa_keys_under_2048_bits_are_refused() {
    // The testkit publishes the 1024-bit key and signs validly with it (testkit/tests/faults.rs).
    for alg in [SigningAlg::Rs256, SigningAlg::Ps256] {
        let faults = Faults::id_token_signing(Signing::ShortRsaKey);
        assert_check_for(alg, faults, IdTokenCheck::Signature).await;
    }
}

#[tokio::test]
async fn other_token_types_are_not_id_tokens() {
    for typ in [
        "at+jwt",
        "logout+jwt",
        "secevent+jwt",
        "application/secevent+jwt",
    ] {
        let faults = Faults::id_token_header(json!({ "typ": typ }));
        assert_check(faults, IdTokenCheck::Malformed).await;
    }
}

#[tokio::test]
async fn id_token_typ_may_be_jwt_in_any_case_or_absent() {
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("application/jwt"),
        Value::Null,
    ] {
        let env = start().await;
        env.kit
            .set_faults(Faults::id_token_header(json!({ "typ": typ })));
        let claims = env.login(&env.client()).await;
        assert!(claims.is_ok(), "typ {typ}: {:?}", claims.err());
    }
}

#[tokio::test]
async fn alg_none() {
    assert_check(
        Faults::id_token_signing(Signing::AlgNone),
        IdTokenCheck::Algorithm,
    )
    .await;
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key() {
    assert_check(
        Faults::id_token_signing(Signing::Hs256WithPublicKey),
        IdTokenCheck::Algorithm,
    )
    .await;
}

#[tokio::test]
async fn unknown_kid_refetches_the_jwks_once_then_fails() {
    let (e, stats) = login_with(Faults::id_token_signing(Signing::UnpublishedKey)).await;
    assert_eq!(e.id_token_check(), Some(IdTokenCheck::UnknownKey));
    assert_eq!(stats.jwks, 2, "prefetch + exactly one refetch");
}

#[tokio::test]
async fn unknown_kid_header_refetches_once_then_fails() {
    let faults = Faults::id_token_header(json!({"kid": "not-published"}));
    let (e, stats) = login_with(faults).await;
    assert_eq!(e.id_token_check(), Some(IdTokenCheck::UnknownKey));
    assert_eq!(stats.jwks, 2);
}

#[tokio::test]
async fn wrong_issuer() {
    assert_check(
        Faults::id_token_claims(json!({"iss": "https://evil.example"})),
        IdTokenCheck::Issuer,
    )
    .await;
}

#[tokio::test]
async fn wrong_audience() {
    assert_check(
        Faults::id_token_claims(json!({"aud": "someone-else", "azp": null})),
        IdTokenCheck::Audience,
    )
    .await;
}

#[tokio::test]
async fn several_audiences_need_azp_naming_the_client() {
    assert_check(
        Faults::id_token_claims(json!({"aud": ["keyfob-demo", "other"], "azp": null})),
        IdTokenCheck::Audience,
    )
    .await;
    assert_check(
        Faults::id_token_claims(json!({"aud": ["keyfob-demo", "other"], "azp": "other"})),
        IdTokenCheck::AuthorizedParty,
    )
    .await;
}

#[tokio::test]
async fn wrong_or_missing_nonce() {
    assert_check(
        Faults::id_token_claims(json!({"nonce": "replayed-nonce"})),
        IdTokenCheck::Nonce,
    )
    .await;
    assert_check(
        Faults::id_token_claims(json!({"nonce": null})),
        IdTokenCheck::Nonce,
    )
    .await;
}

#[tokio::test]
async fn expired() {
    assert_check(
        Faults::id_token_claims(json!({"exp": 1_000_000_000})),
        IdTokenCheck::Expired,
    )
    .await;
}

#[tokio::test]
async fn issued_in_the_future() {
    assert_check(
        Faults::id_token_claims(json!({"iat": 9_999_999_999i64})),
        IdTokenCheck::IssuedInFuture,
    )
    .await;
}

#[tokio::test]
async fn string_exp_is_a_type_error_not_a_missing_claim() {
    assert_check(
        Faults::id_token_claims(json!({"exp": "9999999999"})),
        IdTokenCheck::ClaimType,
    )
    .await;
}

#[tokio::test]
async fn missing_sub() {
    assert_check(
        Faults::id_token_claims(json!({"sub": null})),
        IdTokenCheck::MissingClaim,
    )
    .await;
}

#[tokio::test]
async fn refreshed_id_token_for_another_user_ends_the_session() {
    let env = start().await;
    let client = env.client();
    env.login(&client).await.unwrap();
    env.kit
        .set_faults(Faults::id_token_claims(json!({"sub": "someone-else"})));
    let e = client.refresh().await.unwrap_err();
    assert_eq!(e.id_token_check(), Some(IdTokenCheck::SubjectChanged));
    // The response cannot be trusted: the session ends and its new refresh token is revoked.
    assert_eq!(client.state(), keyfob::SessionState::NeedsReLogin);
    assert!(client.tokens().is_none());
    assert_eq!(env.kit.stats().revoke, 1);
}
