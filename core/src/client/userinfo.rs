//! The UserInfo endpoint (OpenID Connect Core §5.3).

use serde_json::{Map, Value};

use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::http::parse_json_object;
use crate::oidc::token;

impl Client {
    /// Fetches the UserInfo claims with the current access token. The response's `sub` must be
    /// the signed-in user's (OpenID Connect Core §5.3.2).
    /// A DPoP-bound session sends `Authorization: DPoP` with a proof (RFC 9449 §7).
    pub async fn userinfo(&self) -> Result<Map<String, Value>> {
        let provider = self.provider_metadata().await?;
        let endpoint = provider.userinfo_endpoint.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Discovery,
                "the provider has no userinfo endpoint",
            )
        })?;
        let headers = vec![("accept".to_string(), "application/json".to_string())];
        let response = self.send_authorized(endpoint, headers, "userinfo").await?;
        if response.status != 200 {
            return Err(token::error_response(&response, "userinfo"));
        }
        let claims = parse_json_object(&response.body, "userinfo")?;
        let subject = self.claims().map(|c| c.subject);
        match claims.get("sub") {
            Some(Value::String(sub)) if Some(sub) == subject.as_ref() => Ok(claims),
            _ => Err(Error::invalid_response(
                "userinfo: `sub` is not the signed-in user",
            )),
        }
    }
}
