//! List 2: a failing network. Error statuses, timeouts, connections reset mid-body, truncated,
//! HTML or huge bodies, redirects, and endpoints on plain `http`.

use keyfob::ErrorKind as K;
use keyfob_testkit::Faults;
use serde_json::json;

use crate::common::Env;
use crate::row::Step::{BeginLogin, Callback, Exchange, Refresh, Userinfo};
use crate::row::Stored::{Nothing, Unchanged};
use crate::row::{
    DISCOVERY, FAILED_LOGIN, JWKS, Row, TOKEN, USERINFO, fails, jwks, no_request_to, retryable,
    revoke, tokens, userinfo,
};
use keyfob::SessionState::{SignedIn, SignedOut};

const FIFTY_MB: u64 = 50 * 1024 * 1024;
/// The delay of the "slower than the timeout" rows, whose timeout is 1 s: thirty times that, so
/// that on any machine only the timeout can end the wait before the answer comes.
const SLOWER_THAN_THE_TIMEOUT_MS: u64 = 30_000;
const HTML: &str = "<html><body><h1>502 Bad Gateway</h1></body></html>";

/// List 2, in the order of the row ids.
pub(crate) fn rows() -> Vec<Row> {
    [
        status_and_timeout_rows(),
        broken_body_rows(),
        redirect_and_tls_rows(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Error statuses, `Retry-After` and answers slower than the timeout (2.01–2.10, 10 rows).
fn status_and_timeout_rows() -> Vec<Row> {
    vec![
        Row::new("2.01", "discovery: 503", BeginLogin)
            .faults(Faults::status(DISCOVERY, 503))
            .expect(retryable(K::HttpStatus), SignedOut, Nothing),
        Row::new("2.02", "token endpoint: 500 on code exchange", Exchange)
            .faults(Faults::status(TOKEN, 500))
            .expect(retryable(K::HttpStatus), FAILED_LOGIN, Nothing),
        Row::new("2.03", "token endpoint: 503 on refresh", Refresh)
            .faults(Faults::status(TOKEN, 503))
            .expect(retryable(K::HttpStatus), SignedIn, Unchanged),
        Row::new("2.04", "JWKS: 503 (prefetch and validation)", Callback)
            .faults(Faults::status(JWKS, 503))
            .expect(retryable(K::HttpStatus), FAILED_LOGIN, Nothing),
        Row::new(
            "2.05",
            "token endpoint: 429 + Retry-After on refresh (no retry by Keyfob)",
            Refresh,
        )
        .faults(Faults::retry_after(TOKEN, 429, 120))
        .expect(retryable(K::HttpStatus), SignedIn, Unchanged)
        .check("status 429", |ctx| {
            ctx.last_error()
                .filter(|e| e.http_status_code() == Some(429))
                .map(|_| ())
                .ok_or("no status 429 on the error".into())
        })
        .stat("token requests (login + 1)", tokens, 2),
        Row::new(
            "2.06",
            "token endpoint: 429 + Retry-After on code exchange",
            Exchange,
        )
        .faults(Faults::retry_after(TOKEN, 429, 120))
        .expect(retryable(K::HttpStatus), FAILED_LOGIN, Nothing)
        .stat("token requests", tokens, 1),
        Row::new("2.07", "discovery: 429 + Retry-After", BeginLogin)
            .faults(Faults::retry_after(DISCOVERY, 429, 5))
            .expect(retryable(K::HttpStatus), SignedOut, Nothing),
        Row::new("2.08", "discovery: slower than the timeout", BeginLogin)
            .faults(Faults::endpoint(DISCOVERY, |f| {
                f.delay_ms = Some(SLOWER_THAN_THE_TIMEOUT_MS)
            }))
            .timeout_secs(1)
            .expect(retryable(K::Timeout), SignedOut, Nothing),
        Row::new(
            "2.09",
            "token endpoint: slower than the timeout (exchange)",
            Exchange,
        )
        .faults(Faults::endpoint(TOKEN, |f| {
            f.delay_ms = Some(SLOWER_THAN_THE_TIMEOUT_MS)
        }))
        .timeout_secs(1)
        .expect(retryable(K::Timeout), FAILED_LOGIN, Nothing),
        Row::new(
            "2.10",
            "token endpoint: slower than the timeout (refresh)",
            Refresh,
        )
        .faults(Faults::endpoint(TOKEN, |f| {
            f.delay_ms = Some(SLOWER_THAN_THE_TIMEOUT_MS)
        }))
        .timeout_secs(1)
        .expect(retryable(K::Timeout), SignedIn, Unchanged),
    ]
}

/// Bodies cut off, truncated, in HTML or far too large (2.11–2.26, 16 rows).
fn broken_body_rows() -> Vec<Row> {
    vec![
        Row::new("2.11", "discovery: connection reset mid-body", BeginLogin)
            .faults(Faults::endpoint(DISCOVERY, |f| {
                f.body = Some(r#"{"issuer":"http://127.0.0.1","authorization_endpoint":"#.into());
                f.abort_after_bytes = Some(30);
            }))
            .expect(retryable(K::Network), SignedOut, Nothing),
        Row::new(
            "2.12",
            "token endpoint: connection reset mid-body (exchange)",
            Exchange,
        )
        .faults(Faults::endpoint(TOKEN, |f| {
            f.body =
                Some(r#"{"access_token":"cut-off-before-the-end","token_type":"Bearer"}"#.into());
            f.abort_after_bytes = Some(30);
        }))
        .expect(retryable(K::Network), FAILED_LOGIN, Nothing),
        Row::new(
            "2.13",
            "token endpoint: connection reset mid-body (refresh)",
            Refresh,
        )
        .faults(Faults::endpoint(TOKEN, |f| f.abort_after_bytes = Some(10)))
        .expect(retryable(K::Network), SignedIn, Unchanged),
        Row::new("2.14", "JWKS: connection reset mid-body", Callback)
            .faults(Faults::endpoint(JWKS, |f| f.abort_after_bytes = Some(10)))
            .expect(retryable(K::Network), FAILED_LOGIN, Nothing),
        Row::new("2.15", "discovery: truncated JSON", BeginLogin)
            .faults(Faults::endpoint(DISCOVERY, |f| {
                f.body = Some(r#"{"issuer":"http://127"#.into())
            }))
            .expect(fails(K::InvalidResponse), SignedOut, Nothing),
        Row::new(
            "2.16",
            "token endpoint: truncated JSON (exchange)",
            Exchange,
        )
        .faults(Faults::endpoint(TOKEN, |f| {
            f.body = Some(r#"{"access_token":"abc","token_type":"Bea"#.into())
        }))
        .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("2.17", "token endpoint: truncated JSON (refresh)", Refresh)
            .faults(Faults::endpoint(TOKEN, |f| {
                f.body = Some(r#"{"access_token":"#.into())
            }))
            .expect(fails(K::InvalidResponse), SignedIn, Unchanged),
        Row::new("2.18", "JWKS: truncated JSON", Callback)
            .faults(Faults::endpoint(JWKS, |f| {
                f.body = Some(r#"{"keys":[{"kty":"#.into())
            }))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("2.19", "discovery: HTML instead of JSON", BeginLogin)
            .faults(Faults::endpoint(DISCOVERY, |f| {
                f.body = Some(HTML.into());
                f.content_type = Some("text/html".into());
            }))
            .expect(fails(K::InvalidResponse), SignedOut, Nothing),
        Row::new("2.20", "token endpoint: HTML instead of JSON", Exchange)
            .faults(Faults::endpoint(TOKEN, |f| {
                f.body = Some(HTML.into());
                f.content_type = Some("text/html".into());
            }))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("2.21", "token endpoint: HTML 502 on refresh", Refresh)
            .faults(Faults::endpoint(TOKEN, |f| {
                f.status = Some(502);
                f.body = Some(HTML.into());
            }))
            .expect(retryable(K::HttpStatus), SignedIn, Unchanged),
        Row::new("2.22", "JWKS: HTML instead of JSON", Callback)
            .faults(Faults::endpoint(JWKS, |f| {
                f.body = Some(HTML.into());
                f.content_type = Some("text/html".into());
            }))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("2.23", "discovery: 50 MB body, cut off", BeginLogin)
            .faults(Faults::endpoint(DISCOVERY, |f| {
                f.body_bytes = Some(FIFTY_MB)
            }))
            .expect(fails(K::InvalidResponse), SignedOut, Nothing),
        Row::new("2.24", "token endpoint: 50 MB body, cut off", Exchange)
            .faults(Faults::endpoint(TOKEN, |f| f.body_bytes = Some(FIFTY_MB)))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("2.25", "JWKS: 50 MB body, cut off", Callback)
            .faults(Faults::endpoint(JWKS, |f| f.body_bytes = Some(FIFTY_MB)))
            .expect(fails(K::InvalidResponse), FAILED_LOGIN, Nothing),
        Row::new("2.26", "userinfo: 50 MB body, cut off", Userinfo)
            .faults(Faults::endpoint(USERINFO, |f| {
                f.body_bytes = Some(FIFTY_MB)
            }))
            .expect(fails(K::InvalidResponse), SignedIn, Unchanged),
    ]
}

/// Redirects the client must not follow, and endpoints on plain `http` (2.27–2.34, 8 rows).
fn redirect_and_tls_rows() -> Vec<Row> {
    vec![
        Row::new(
            "2.27",
            "token endpoint: 302 on code exchange, not followed",
            Exchange,
        )
        .setup(|env: &Env| {
            env.kit.set_faults(Faults::redirect(
                TOKEN,
                302,
                format!("{}/userinfo", env.kit.issuer()),
            ));
        })
        .expect(fails(K::HttpStatus), FAILED_LOGIN, Nothing)
        .stat("requests to the Location", userinfo, 0),
        Row::new(
            "2.28",
            "token endpoint: 307 on refresh, not followed",
            Refresh,
        )
        .setup(|env: &Env| {
            env.kit.set_faults(Faults::redirect(
                TOKEN,
                307,
                format!("{}/revoke", env.kit.issuer()),
            ));
        })
        .expect(fails(K::HttpStatus), SignedIn, Unchanged)
        .stat(
            "requests to the Location (the refresh token re-POSTed)",
            revoke,
            0,
        ),
        Row::new(
            "2.29",
            "discovery: 301 to another document, not followed",
            BeginLogin,
        )
        .setup(|env: &Env| {
            env.kit.set_faults(Faults::redirect(
                DISCOVERY,
                301,
                format!("{}/.well-known/jwks.json", env.kit.issuer()),
            ));
        })
        .expect(fails(K::HttpStatus), SignedOut, Nothing)
        .stat("requests to the Location", jwks, 0),
        Row::new(
            "2.30",
            "TLS: token endpoint on http://example.com",
            BeginLogin,
        )
        .faults(Faults::discovery(
            json!({"token_endpoint": "http://example.com/token"}),
        ))
        .expect(fails(K::InsecureUrl), SignedOut, Nothing)
        .check("no request to example.com", no_request_to("example.com")),
        Row::new("2.31", "TLS: jwks_uri on http://example.com", BeginLogin)
            .faults(Faults::discovery(
                json!({"jwks_uri": "http://example.com/jwks"}),
            ))
            .expect(fails(K::InsecureUrl), SignedOut, Nothing)
            .check("no request to example.com", no_request_to("example.com")),
        Row::new(
            "2.32",
            "TLS: authorization endpoint on http://example.com",
            BeginLogin,
        )
        .faults(Faults::discovery(
            json!({"authorization_endpoint": "http://example.com/authorize"}),
        ))
        .expect(fails(K::InsecureUrl), SignedOut, Nothing),
        Row::new(
            "2.33",
            "TLS: userinfo endpoint on http://example.com",
            BeginLogin,
        )
        .faults(Faults::discovery(
            json!({"userinfo_endpoint": "http://example.com/userinfo"}),
        ))
        .expect(fails(K::InsecureUrl), SignedOut, Nothing),
        Row::new(
            "2.34",
            "TLS: revocation endpoint on http://10.0.2.2",
            BeginLogin,
        )
        .faults(Faults::discovery(
            json!({"revocation_endpoint": "http://10.0.2.2/revoke"}),
        ))
        .expect(fails(K::InsecureUrl), SignedOut, Nothing),
    ]
}
