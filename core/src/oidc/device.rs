//! The device authorization grant (RFC 8628), for devices without a browser: a TV app, a CLI
//! over SSH. The device asks for a code, shows it, and polls the token endpoint while the user
//! approves on another device.

use std::fmt;

use serde_json::{Map, Value};
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::http::url_policy::endpoint_url;
use crate::http::{Http, parse_json_object};
use crate::oidc::token::{self, TokenResponse};
use crate::secret::SecretString;

/// `grant_type` of the device's token requests (RFC 8628 §3.4).
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// The polling interval when the provider names none (RFC 8628 §3.2).
const DEFAULT_INTERVAL: u64 = 5;
/// How much `slow_down` adds to the interval (RFC 8628 §3.5).
pub(crate) const SLOW_DOWN_SECS: u64 = 5;

/// A device login under way: what to show the user, and how to poll.
///
/// `Debug` shows the user code and URIs (they are shown to the user anyway), never the device
/// code, which stands for the grant until it is redeemed.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    pub(crate) device_code: SecretString,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_at: i64,
    interval: u64,
}

impl DeviceAuthorization {
    /// The code the user types at [`DeviceAuthorization::verification_uri`].
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// Where the user goes, on a phone or computer, to approve.
    pub fn verification_uri(&self) -> &str {
        &self.verification_uri
    }

    /// The same page with the user code in it, when the provider offers one: the URL to put in
    /// a QR code, or to open directly.
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.verification_uri_complete.as_deref()
    }

    /// When the codes expire (device clock, seconds since the epoch).
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }

    /// Seconds to wait between two polls (grows by 5 with each `slow_down`).
    pub fn interval(&self) -> u64 {
        self.interval
    }
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("verification_uri_complete", &self.verification_uri_complete)
            .field("expires_at", &self.expires_at)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Asks `endpoint` for a device code (RFC 8628 §3.1) and checks the answer (§3.2): status 200,
/// a JSON object, non-empty `device_code` and `user_code`, `verification_uri` (and
/// `verification_uri_complete`, when given) an HTTPS or loopback URL, `expires_in` a positive
/// integer, `interval` a positive integer when given (5 otherwise). `now` is the device's time.
pub(crate) async fn start(
    http: &Http,
    endpoint: &Url,
    params: &[(&str, &str)],
    insecure_hosts: &[String],
    now: i64,
) -> Result<DeviceAuthorization> {
    const WHAT: &str = "device authorization endpoint";
    let response = http.post_form(endpoint, params, WHAT).await?;
    if response.status != 200 {
        return Err(token::error_response(&response, WHAT));
    }
    let body = parse_json_object(&response.body, WHAT)?;
    let text = |name: &str| -> Result<Option<String>> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&format!("`{name}` must be a non-empty string"))),
        }
    };
    let required = |name: &str| text(name)?.ok_or_else(|| invalid(&format!("`{name}` is missing")));
    let page = |name: &str, value: String| -> Result<String> {
        match endpoint_url(&value, name, insecure_hosts) {
            Ok(_) => Ok(value),
            Err(e) if e.kind() == ErrorKind::InsecureUrl => Err(e),
            Err(_) => Err(invalid(&format!("`{name}` is not a URL"))),
        }
    };
    let device_code = required("device_code")?;
    let user_code = required("user_code")?;
    let verification_uri = page("verification_uri", required("verification_uri")?)?;
    let verification_uri_complete = text("verification_uri_complete")?
        .map(|v| page("verification_uri_complete", v))
        .transpose()?;
    let expires_in =
        positive(&body, "expires_in")?.ok_or_else(|| invalid("`expires_in` is missing"))?;
    let interval = positive(&body, "interval")?.unwrap_or(DEFAULT_INTERVAL);
    Ok(DeviceAuthorization {
        device_code: SecretString::new(device_code),
        user_code,
        verification_uri,
        verification_uri_complete,
        expires_at: now.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
        interval,
    })
}

fn invalid(message: &str) -> Error {
    Error::invalid_response(format!("device authorization endpoint: {message}"))
}

/// A positive integer member, when present.
fn positive(body: &Map<String, Value>, name: &str) -> Result<Option<u64>> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v > 0) => Ok(n.as_u64()),
        Some(_) => Err(invalid(&format!("`{name}` must be a positive integer"))),
    }
}

/// The outcome of one poll.
pub(crate) enum Poll {
    /// The user approved: the tokens (with an ID token).
    Tokens(Box<TokenResponse>),
    /// `authorization_pending`: ask again after the interval.
    Pending,
    /// `slow_down`: ask again, 5 seconds more apart from now on.
    SlowDown,
}

/// Asks the token endpoint whether the user approved (RFC 8628 §3.4, §3.5). `access_denied`,
/// `expired_token` and every other error are `Provider` errors with their code; a success must
/// be a token response with an ID token, like a code exchange's.
pub(crate) async fn poll(
    http: &Http,
    token_endpoint: &Url,
    client_id: &str,
    device_code: &SecretString,
) -> Result<Poll> {
    let params = [
        ("grant_type", GRANT_TYPE),
        ("device_code", device_code.expose()),
        ("client_id", client_id),
    ];
    let response = http
        .post_form(token_endpoint, &params, "token endpoint")
        .await?;
    if response.status == 200 {
        return Ok(Poll::Tokens(Box::new(token::sign_in_response(&response)?)));
    }
    let error = token::error_response(&response, "token endpoint");
    match error.provider_error() {
        Some("authorization_pending") => Ok(Poll::Pending),
        Some("slow_down") => Ok(Poll::SlowDown),
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use async_trait::async_trait;
    use serde_json::json;

    use super::*;
    use crate::http::{HttpRequest, HttpResponse, HttpTransport, TransportError};

    struct Answer(u16, Value);

    #[async_trait]
    impl HttpTransport for Answer {
        async fn send(&self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
            Ok(HttpResponse {
                status: self.0,
                headers: vec![],
                body: self.1.to_string().into_bytes(),
            })
        }
    }

    fn http(status: u16, body: Value) -> Http {
        Http::new(
            Arc::new(Answer(status, body)),
            Duration::from_secs(5),
            1 << 20,
        )
    }

    fn good() -> Value {
        json!({"device_code": "DC", "user_code": "WDJB-MJHT",
               "verification_uri": "https://op.example/device",
               "verification_uri_complete": "https://op.example/device?user_code=WDJB-MJHT",
               "expires_in": 600, "interval": 2})
    }

    async fn started(body: Value) -> Result<DeviceAuthorization> {
        let endpoint = Url::parse("https://op.example/device_authorization").unwrap();
        start(&http(200, body), &endpoint, &[], &[], 1000).await
    }

    #[tokio::test]
    async fn a_good_answer_is_read_and_the_device_code_never_shown() {
        let device = started(good()).await.unwrap();
        assert_eq!(device.user_code(), "WDJB-MJHT");
        assert_eq!(device.verification_uri(), "https://op.example/device");
        assert!(
            device
                .verification_uri_complete()
                .unwrap()
                .ends_with("WDJB-MJHT")
        );
        assert_eq!((device.expires_at(), device.interval()), (1600, 2));
        assert_eq!(device.device_code.expose(), "DC");
        assert!(!format!("{device:?}").contains("DC\""));
        let mut no_interval = good();
        no_interval.as_object_mut().unwrap().remove("interval");
        no_interval
            .as_object_mut()
            .unwrap()
            .remove("verification_uri_complete");
        let device = started(no_interval).await.unwrap();
        assert_eq!(
            (device.interval(), device.verification_uri_complete()),
            (5, None)
        );
    }

    #[tokio::test]
    async fn unusable_answers_are_refused() {
        for (field, value) in [
            ("device_code", Value::Null),
            ("device_code", json!("")),
            ("user_code", json!(7)),
            ("verification_uri", Value::Null),
            ("verification_uri", json!("http://op.example/device")),
            ("verification_uri", json!("not a url")),
            ("verification_uri_complete", json!("javascript:alert(1)")),
            ("expires_in", Value::Null),
            ("expires_in", json!(0)),
            ("expires_in", json!("600")),
            ("interval", json!(-1)),
            ("interval", json!(0)),
        ] {
            let mut body = good();
            if value.is_null() {
                body.as_object_mut().unwrap().remove(field);
            } else {
                body[field] = value.clone();
            }
            let e = started(body).await.unwrap_err();
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::InvalidResponse | ErrorKind::InsecureUrl
                ),
                "{field}={value}: {e:?}"
            );
        }
        let endpoint = Url::parse("https://op.example/device_authorization").unwrap();
        let refused = http(400, json!({"error": "invalid_client"}));
        let e = start(&refused, &endpoint, &[], &[], 0).await.unwrap_err();
        assert_eq!(e.provider_error(), Some("invalid_client"));
    }

    #[tokio::test]
    async fn polls_answer_pending_slow_down_tokens_or_an_error() {
        let endpoint = Url::parse("https://op.example/token").unwrap();
        let code = SecretString::new("DC");
        let poll_with = |status, body| {
            let http = http(status, body);
            let (endpoint, code) = (endpoint.clone(), code.clone());
            async move { poll(&http, &endpoint, "app", &code).await }
        };
        let pending = poll_with(400, json!({"error": "authorization_pending"}));
        assert!(matches!(pending.await, Ok(Poll::Pending)));
        let slow = poll_with(400, json!({"error": "slow_down"}));
        assert!(matches!(slow.await, Ok(Poll::SlowDown)));
        for code in ["access_denied", "expired_token", "invalid_grant"] {
            let e = poll_with(400, json!({"error": code})).await.err().unwrap();
            assert_eq!(e.provider_error(), Some(code));
        }
        let tokens = json!({"access_token": "AT", "token_type": "Bearer", "id_token": "x.y.z"});
        assert!(matches!(poll_with(200, tokens).await, Ok(Poll::Tokens(_))));
        let without_id_token = json!({"access_token": "AT", "token_type": "Bearer"});
        let e = poll_with(200, without_id_token).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::InvalidResponse);
    }
}
