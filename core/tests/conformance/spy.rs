//! The spying transport: the reqwest transport, plus a record of every secret that crosses it
//! (codes, verifiers, tokens; the claims and signature parts of JWTs) and of every URL asked for,
//! for the leak check and for rows that must see no request to a host.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use keyfob::{HttpRequest, HttpResponse, HttpTransport, TransportError};
use serde_json::Value;

use crate::common;

/// What the spy (and the store's save hook) saw.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) secrets: Mutex<BTreeSet<String>>,
    pub(crate) urls: Mutex<Vec<String>>,
}

impl Seen {
    /// A secret, and the claims and signature parts when it is a JWT.
    pub(crate) fn add(&self, secret: &str) {
        let mut secrets = self.secrets.lock().unwrap();
        secrets.insert(secret.to_string());
        // The parts of a JWT other than its (shared, public) header.
        let parts: Vec<&str> = secret.split('.').collect();
        if parts.len() == 3 {
            for part in &parts[1..] {
                secrets.insert(part.to_string());
            }
        }
    }

    /// Secret members of a JSON object (token responses, stored records).
    pub(crate) fn add_json(&self, bytes: &[u8]) {
        if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) {
            for name in [
                "access_token",
                "refresh_token",
                "id_token",
                "state",
                "nonce",
                "verifier",
                "login_nonce",
            ] {
                if let Some(Value::String(s)) = map.get(name) {
                    self.add(s);
                }
            }
        }
    }

    /// The secret query parameters `names` of `url`.
    pub(crate) fn add_url_params(&self, url: &str, names: &[&str]) {
        for name in names {
            if let Some(v) = common::param(url, name) {
                self.add(&v);
            }
        }
    }
}

/// A transport that remembers every secret that crosses it, and every URL it was asked for.
pub(crate) struct Spy {
    pub(crate) inner: Arc<keyfob::ReqwestTransport>,
    pub(crate) seen: Arc<Seen>,
}

#[async_trait::async_trait]
impl HttpTransport for Spy {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.seen.urls.lock().unwrap().push(request.url.clone());
        for (name, value) in url::form_urlencoded::parse(&request.body) {
            if matches!(
                name.as_ref(),
                "code" | "code_verifier" | "refresh_token" | "token"
            ) {
                self.seen.add(&value);
            }
        }
        for (name, value) in &request.headers {
            if let Some(token) = value.strip_prefix("Bearer ")
                && name == "authorization"
            {
                self.seen.add(token);
            }
        }
        let response = self.inner.send(request).await;
        if let Ok(r) = &response {
            self.seen.add_json(&r.body);
        }
        response
    }
}
