//! Targets for what the provider answers besides tokens and keys: the discovery document, the
//! UserInfo response, and the `Date` / `Retry-After` headers of the token endpoint.

use keyfob::{ErrorKind, SecureStorage, SessionState, is_loopback};
use serde_json::Value;

use super::{
    ACCESS_TOKEN, Answer, FIRST_REFRESH_TOKEN, ISSUER, NOW, World, assert_not_in_error, block_on,
    exchange_body, text,
};

/// The longest `Retry-After` Keyfob passes on: a day.
const MAX_RETRY_AFTER: u64 = 86_400;

/// An HTTP answer from fuzz input: the first byte picks the status from `statuses`; the rest is
/// header lines (`name: value`, one per line) up to the first NUL byte, then the body. Without
/// a NUL byte the rest is all body.
pub fn http_answer(data: &[u8], statuses: &[u16]) -> Option<Answer> {
    let (&pick, rest) = data.split_first()?;
    let status = statuses[usize::from(pick) % statuses.len()];
    let (head, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&[][..], rest),
    };
    Some(Answer {
        status,
        headers: header_lines(head),
        body: body.to_vec(),
    })
}

/// Header lines (`name: value`); lines without a colon are skipped.
fn header_lines(data: &[u8]) -> Vec<(String, String)> {
    text(data)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.trim_start().to_owned()))
        .collect()
}

/// Whether `url` may carry a request: HTTPS with a host, or plain HTTP to a loopback host.
fn secure(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => is_loopback(url),
        _ => false,
    }
}

/// The discovery document (status and headers as in [`http_answer`]). A refused document
/// leads to no other request and no pending login; an accepted one has the configured issuer
/// and only secure endpoints, and the login, userinfo and logout that follow use exactly them.
pub fn discovery(data: &[u8]) {
    let Some(answer) = http_answer(data, &[200, 200, 200, 200, 404, 500, 503]) else {
        return;
    };
    let world = World::new();
    world.provider.set_discovery(answer);
    let url = match block_on(world.client.begin_login()) {
        Ok(url) => url,
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Discovery
                        | ErrorKind::InsecureUrl
                        | ErrorKind::InvalidResponse
                        | ErrorKind::HttpStatus
                ),
                "{e:?}"
            );
            assert_eq!(
                world.provider.received("").len(),
                1,
                "requests after a refusal"
            );
            assert!(world.storage.load("pending").unwrap().is_none());
            assert_eq!(world.client.state(), SessionState::SignedOut);
            return;
        }
    };
    let metadata = block_on(world.client.provider_metadata()).expect("cached metadata");
    assert_eq!(metadata.issuer, ISSUER);
    let endpoints = [
        Some(&metadata.authorization_endpoint),
        Some(&metadata.token_endpoint),
        Some(&metadata.jwks_uri),
        metadata.userinfo_endpoint.as_ref(),
        metadata.revocation_endpoint.as_ref(),
        metadata.end_session_endpoint.as_ref(),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        assert!(secure(endpoint), "insecure endpoint {endpoint}");
    }
    let authorize = url::Url::parse(&url).expect("the authorization URL parses");
    assert_eq!(authorize.origin(), metadata.authorization_endpoint.origin());
    assert_eq!(authorize.path(), metadata.authorization_endpoint.path());

    // Complete the login: it works whenever the token endpoint and the keys are the provider's.
    let pending = world.stored_pending().expect("a pending login");
    world
        .provider
        .push_token(200, exchange_body(&pending.nonce));
    let signed_in = block_on(world.client.handle_redirect(&World::callback(&pending)));
    let own_endpoints = metadata.token_endpoint.as_str() == format!("{ISSUER}/token")
        && metadata.jwks_uri.as_str() == format!("{ISSUER}/jwks");
    match &signed_in {
        Ok(_) => assert_eq!(world.client.state(), SessionState::SignedIn),
        Err(e) => {
            assert!(!own_endpoints, "{e:?}");
            assert_not_in_error(e, &[&pending.verifier, &pending.nonce]);
            assert!(world.storage.load("session").unwrap().is_none());
        }
    }
    for request in world.provider.received("") {
        let url = url::Url::parse(&request.url).expect("requests go to URLs");
        assert!(secure(&url), "a request went to {url}");
    }
    if signed_in.is_err() {
        return;
    }
    match block_on(world.client.userinfo()) {
        Ok(claims) => assert!(metadata.userinfo_endpoint.is_some(), "{claims:?}"),
        Err(e) => assert_not_in_error(&e, &[ACCESS_TOKEN, FIRST_REFRESH_TOKEN]),
    }
    let logout = block_on(world.client.logout()).expect("logout with a memory store");
    assert!(world.storage.load("session").unwrap().is_none());
    assert_eq!(
        logout.end_session_url.is_some(),
        metadata.end_session_endpoint.is_some()
    );
    if let (Some(end_session), Some(endpoint)) =
        (&logout.end_session_url, &metadata.end_session_endpoint)
    {
        let end_session = url::Url::parse(end_session.expose()).expect("end-session URL");
        assert_eq!(end_session.origin(), endpoint.origin());
        assert_eq!(end_session.path(), endpoint.path());
        assert!(end_session.query_pairs().any(|(n, _)| n == "id_token_hint"));
    }
    if let Some(e) = &logout.revocation_error {
        assert_not_in_error(e, &[ACCESS_TOKEN, FIRST_REFRESH_TOKEN]);
    }
}

/// The UserInfo answer after a good sign-in (status and headers as in [`http_answer`]). Only
/// claims about the signed-in user are returned; whatever the answer, the session stays as it
/// was, and no token shows in an error.
pub fn userinfo(data: &[u8]) {
    let Some(answer) = http_answer(data, &[200, 200, 200, 400, 401, 403, 429, 500, 503, 302])
    else {
        return;
    };
    let world = World::new();
    world.login();
    let before = world.storage.load("session").unwrap();
    let status = answer.status;
    world.provider.set_userinfo(answer);
    match block_on(world.client.userinfo()) {
        Ok(claims) => {
            assert_eq!(status, 200);
            assert_eq!(claims.get("sub").and_then(Value::as_str), Some("user-1"));
        }
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::InvalidResponse | ErrorKind::HttpStatus | ErrorKind::Provider
                ),
                "{e:?}"
            );
            assert_not_in_error(&e, &[ACCESS_TOKEN, FIRST_REFRESH_TOKEN]);
            assert!(
                e.retry_after()
                    .is_none_or(|d| d.as_secs() <= MAX_RETRY_AFTER)
            );
        }
    }
    assert_eq!(world.storage.load("session").unwrap(), before);
    assert_eq!(world.client.state(), SessionState::SignedIn);
}

/// The `Date` and `Retry-After` headers of the token endpoint. The first byte chooses:
///
/// - `0`, `1`: an error answer (429, 503, 500 or 502, by the second byte) with the header
///   lines that follow, on code exchange (`0`) or refresh (`1`): a retryable `HttpStatus` error
///   whose `retry_after` is at most a day, only for 429 and 503, and the delta-seconds of an
///   all-digit `Retry-After`; the session is kept on refresh;
/// - `2`: a good token response with the header lines that follow: the login succeeds unless
///   the `Date` is a well-formed date (29 bytes) far enough off to fail the ID token's times;
/// - `3`: a good token response whose `Date` is `NOW` plus the next four bytes (big-endian
///   `i32`, seconds), formatted correctly: the login succeeds exactly when that clock offset
///   keeps the ID token (`iat` = `NOW`, `exp` = `NOW` + 300, 60 s of skew) valid, or is over a
///   day and ignored.
pub fn token_headers(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 | 1 => {
            let Some(answer) = http_answer(rest, &[429, 503, 500, 502]) else {
                return;
            };
            refused_with_headers(answer, mode % 4 == 1);
        }
        2 => {
            let headers = header_lines(rest);
            let date = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("date"))
                .map(|(_, v)| v.clone());
            let signed_in = sign_in_with_headers(headers);
            if date.is_none_or(|d| d.len() != 29) {
                assert!(signed_in, "a Date that cannot parse changed the outcome");
            }
        }
        _ => {
            let Some(offset) = rest.get(..4) else {
                return;
            };
            let offset = i64::from(i32::from_be_bytes(offset.try_into().unwrap()));
            // Dates before 1970 cannot be formatted; they are too far off to matter anyway.
            let Ok(secs) = u64::try_from(NOW + offset) else {
                return;
            };
            let date = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            let headers = vec![("Date".to_owned(), httpdate::fmt_http_date(date))];
            let valid = (-60..=360).contains(&offset) || offset.abs() > 86_400;
            assert_eq!(sign_in_with_headers(headers), valid, "offset {offset}");
        }
    }
}

/// A code exchange answered by a good token response with `headers`; whether it signed in.
fn sign_in_with_headers(headers: Vec<(String, String)>) -> bool {
    let world = World::new();
    let pending = world.begin();
    world.provider.push_token_answer(Answer {
        status: 200,
        headers,
        body: exchange_body(&pending.nonce),
    });
    match block_on(world.client.handle_redirect(&World::callback(&pending))) {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::IdToken, "{e:?}");
            assert_not_in_error(&e, &[&pending.verifier, &pending.nonce]);
            assert!(world.storage.load("session").unwrap().is_none());
            false
        }
    }
}

/// The token endpoint refuses with `answer` (an error status), on code exchange or refresh.
fn refused_with_headers(answer: Answer, refresh: bool) {
    let world = World::new();
    let expected = expected_retry_after(&answer);
    let status = answer.status;
    let (result, secrets, before) = if refresh {
        let nonce = world.login();
        let before = world.storage.load("session").unwrap();
        world.provider.push_token_answer(answer);
        let result = block_on(world.client.refresh()).map(|_| ());
        (result, vec![nonce], before)
    } else {
        let pending = world.begin();
        world.provider.push_token_answer(answer);
        let result = block_on(world.client.handle_redirect(&World::callback(&pending))).map(|_| ());
        (result, vec![pending.nonce, pending.verifier], None)
    };
    let e = result.expect_err("an error status never signs in");
    assert_eq!(e.kind(), ErrorKind::HttpStatus, "{e:?}");
    assert_eq!(e.http_status_code(), Some(status));
    assert!(e.is_retryable());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_not_in_error(
        &e,
        &[&secrets[..], &[ACCESS_TOKEN, FIRST_REFRESH_TOKEN]].concat(),
    );
    let retry_after = e.retry_after().map(|d| d.as_secs());
    assert!(
        retry_after.is_none_or(|s| s <= MAX_RETRY_AFTER),
        "{retry_after:?}"
    );
    if !matches!(status, 429 | 503) {
        assert_eq!(retry_after, None);
    }
    if let Some(expected) = expected {
        assert_eq!(retry_after, Some(expected));
    }
    // The session is kept as it was (a retryable error never signs out).
    assert_eq!(world.storage.load("session").unwrap(), before);
    let state = if refresh {
        SessionState::SignedIn
    } else {
        SessionState::SignedOut
    };
    assert_eq!(world.client.state(), state);
}

/// The wait an all-digit `Retry-After` of a 429 or 503 asks for, at most a day; `None` when the
/// answer has another status or another form of the header.
fn expected_retry_after(answer: &Answer) -> Option<u64> {
    if !matches!(answer.status, 429 | 503) {
        return None;
    }
    let value = answer
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("retry-after"))?
        .1
        .trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = value.trim_start_matches('0');
    Some(if digits.len() > 6 {
        MAX_RETRY_AFTER
    } else {
        digits.parse::<u64>().unwrap_or(0).min(MAX_RETRY_AFTER)
    })
}
