//! An issuer's signing keys fetched from its JWKS over HTTP, the way a resource server (or an
//! authorization server that trusts another one) gets them: fetched once, and again once when
//! an unknown `kid` shows up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::header;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use jsonwebtoken::DecodingKey;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::jwt::Rejection;
use crate::resource::RESOURCE_SERVER_USER_AGENT;

/// Where issuers publish their keys.
const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Limit for one JWKS fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The verification keys of the issuer listening on `addr`, by `kid`.
pub(crate) struct RemoteKeys {
    /// Where the issuer listens (its bound address, which its public URL may not reach, e.g.
    /// `10.0.2.2` for an Android emulator).
    addr: SocketAddr,
    keys: Mutex<HashMap<String, DecodingKey>>,
}

impl RemoteKeys {
    /// The keys of the issuer listening on `addr`, fetched on first use.
    pub(crate) fn new(addr: SocketAddr) -> RemoteKeys {
        RemoteKeys {
            addr,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The key for `kid`, refetching the JWKS once if it is not known yet.
    pub(crate) async fn key(&self, kid: &str) -> Result<DecodingKey, Rejection> {
        let mut keys = self.keys.lock().await;
        if let Some(key) = keys.get(kid) {
            return Ok(key.clone());
        }
        *keys = self.fetch().await?;
        keys.get(kid).cloned().ok_or("unknown signing key")
    }

    /// The issuer's signature keys (RSA and P-256), fetched over HTTP.
    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, Rejection> {
        const UNAVAILABLE: Rejection = "signing keys unavailable";
        let body = tokio::time::timeout(FETCH_TIMEOUT, http_get(self.addr, JWKS_PATH))
            .await
            .map_err(|_| UNAVAILABLE)?
            .map_err(|_| UNAVAILABLE)?;
        let jwks: Value = serde_json::from_slice(&body).map_err(|_| UNAVAILABLE)?;
        let keys = jwks["keys"].as_array().ok_or(UNAVAILABLE)?;
        Ok(keys.iter().filter_map(signature_key).collect())
    }
}

/// `GET path` from `addr` over HTTP/1.1; the body of a 2xx answer.
///
/// A plain hyper connection rather than an HTTP client library: the issuers are on loopback,
/// and this keeps the servers independent of any TLS setup.
async fn http_get(addr: SocketAddr, path: &str) -> Result<Bytes, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let user_agent = format!("{RESOURCE_SERVER_USER_AGENT}/{}", env!("CARGO_PKG_VERSION"));
    let request = Request::get(path)
        .header(header::HOST, addr.to_string())
        .header(header::USER_AGENT, user_agent)
        .body(Body::empty())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        return Err(format!("JWKS answered {}", response.status()).into());
    }
    Ok(axum::body::to_bytes(Body::new(response.into_body()), MAX_JWKS_BYTES).await?)
}

/// A JWK usable for signatures (RSA, or EC P-256), as (`kid`, key).
fn signature_key(jwk: &Value) -> Option<(String, DecodingKey)> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("use").is_some_and(|usage| usage != "sig") {
        return None;
    }
    let key = match field("kty")? {
        "RSA" => DecodingKey::from_rsa_components(field("n")?, field("e")?).ok()?,
        "EC" if field("crv") == Some("P-256") => {
            DecodingKey::from_ec_components(field("x")?, field("y")?).ok()?
        }
        _ => return None,
    };
    Some((field("kid")?.to_owned(), key))
}
