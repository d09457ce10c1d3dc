//! `GET /authorize`: the authorization endpoint. There is no login form: the
//! configured user is signed in and consents at once.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::grants::{AuthCode, normalize_scope};
use super::{Params, Provider, cookie, with_query};
use crate::TestUser;
use crate::faults::merge_params;

/// The browser session cookie.
pub(super) const SESSION_COOKIE: &str = "SSO_SESSION";

/// Handles an authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2), or one
/// that was pushed before (RFC 9126: `client_id` and `request_uri` only).
///
/// Problems with the client or the redirect URI get a 400 page, never a redirect
/// (RFC 6749 §4.1.2.1); other problems are sent to the client's redirect URI.
pub(super) async fn authorize(
    State(provider): State<Arc<Provider>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let query = Params::parse(query.unwrap_or_default().as_bytes());
    // A pushed request's parameters replace the query's (RFC 9126 §4).
    let (params, pushed) = match query.get("request_uri") {
        Some(request_uri) => {
            if query.get("client_id") != Some(provider.config.client_id.as_str()) {
                return error_page("client_id must name the client that pushed the request");
            }
            match provider.grants().take_pushed(request_uri, provider.now()) {
                Some(pushed) => (pushed, true),
                None => return error_page("request_uri is unknown, used or expired"),
            }
        }
        None => (query, false),
    };
    let checked = match provider.check_request(&params) {
        Ok(checked) => checked,
        Err(Refusal::Page(message)) => return error_page(message),
        Err(refusal) => return provider.refused(&refusal),
    };
    if !pushed && provider.shared.dpop.policy().require_par {
        let refusal = checked.refusal(
            "invalid_request",
            "this provider requires pushed authorization requests",
        );
        return provider.refused(&refusal);
    }
    provider.issue_code(checked, &params, &headers)
}

/// An authorization request that passed the checks.
pub(super) struct Checked {
    redirect_uri: String,
    state: Option<String>,
    scope: String,
    code_challenge: String,
}

impl Checked {
    /// The refusal that sends `error` back to the client's redirect URI.
    fn refusal(&self, error: &'static str, description: &str) -> Refusal {
        Refusal::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description: description.to_owned(),
        }
    }
}

/// Why an authorization request is refused.
pub(super) enum Refusal {
    /// The client or the redirect URI is wrong: shown to the user, never redirected.
    Page(&'static str),
    /// Anything else: sent to the (registered) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl Provider {
    /// The checks of an authorization request, shared by `/authorize` and `/par`.
    pub(super) fn check_request(&self, params: &Params) -> Result<Checked, Refusal> {
        let config = &self.config;
        let repeated = params.repeated();
        if matches!(repeated, Some("client_id" | "redirect_uri")) {
            return Err(Refusal::Page(
                "client_id and redirect_uri must appear only once",
            ));
        }
        match params.get("client_id") {
            None => return Err(Refusal::Page("client_id is required")),
            Some(client_id) if client_id != config.client_id => {
                return Err(Refusal::Page("unknown client_id"));
            }
            Some(_) => {}
        }
        let Some(redirect_uri) = params.get("redirect_uri") else {
            return Err(Refusal::Page("redirect_uri is required"));
        };
        if !self.is_registered_redirect(redirect_uri) {
            return Err(Refusal::Page(
                "redirect_uri is not registered for this client",
            ));
        }
        let mut checked = Checked {
            redirect_uri: redirect_uri.to_owned(),
            state: params.get("state").map(str::to_owned),
            scope: String::new(),
            code_challenge: String::new(),
        };
        let fail =
            |checked: &Checked, error, description: &str| Err(checked.refusal(error, description));
        if let Some(name) = repeated {
            return fail(
                &checked,
                "invalid_request",
                &format!("parameter {name} is repeated"),
            );
        }
        match params.get("response_type") {
            None => return fail(&checked, "invalid_request", "response_type is required"),
            Some("code") => {}
            Some(_) => {
                return fail(
                    &checked,
                    "unsupported_response_type",
                    "only response_type=code is supported",
                );
            }
        }
        let scope = normalize_scope(params.get("scope").unwrap_or_default());
        if !scope.split(' ').any(|item| item == "openid") {
            return fail(&checked, "invalid_request", "scope must include openid");
        }
        let Some(code_challenge) = params.get("code_challenge") else {
            return fail(
                &checked,
                "invalid_request",
                "code_challenge is required (PKCE)",
            );
        };
        if params.get("code_challenge_method") != Some("S256") {
            return fail(
                &checked,
                "invalid_request",
                "code_challenge_method must be S256",
            );
        }
        if !is_pkce_value(code_challenge) {
            return fail(&checked, "invalid_request", "code_challenge is malformed");
        }
        checked.scope = scope;
        checked.code_challenge = code_challenge.to_owned();
        Ok(checked)
    }

    /// The redirect that carries a refusal to the client.
    fn refused(&self, refusal: &Refusal) -> Response {
        let Refusal::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } = refusal
        else {
            return error_page("the request was refused");
        };
        let mut answer = vec![
            ("error".to_owned(), (*error).to_owned()),
            ("error_description".to_owned(), description.clone()),
        ];
        answer.extend(
            state
                .iter()
                .map(|state| ("state".to_owned(), state.clone())),
        );
        answer.push(("iss".to_owned(), self.config.issuer.clone()));
        found(&with_query(redirect_uri, &answer), None)
    }

    /// Signs the user in (or finds their browser session), issues the code and redirects.
    fn issue_code(&self, checked: Checked, params: &Params, headers: &HeaderMap) -> Response {
        let config = &self.config;
        let now = self.now();
        let existing_session =
            cookie(headers, SESSION_COOKIE).and_then(|id| self.grants().session_auth_time(id));
        let (auth_time, new_session) = match existing_session {
            Some(auth_time) => (auth_time, None),
            None => (now, Some(self.grants().open_session(now))),
        };
        let code = self.grants().issue_code(AuthCode {
            client_id: config.client_id.clone(),
            redirect_uri: checked.redirect_uri.clone(),
            code_challenge: checked.code_challenge,
            nonce: params.get("nonce").map(str::to_owned),
            scope: checked.scope,
            auth_time,
            expires_at: now + config.code_ttl,
            user: params
                .get("login_hint")
                .map_or_else(|| config.user.clone(), TestUser::named),
            dpop_jkt: params.get("dpop_jkt").map(str::to_owned),
        });

        let mut answer = vec![("code".to_owned(), code)];
        answer.extend(checked.state.map(|state| ("state".to_owned(), state)));
        answer.push(("iss".to_owned(), config.issuer.clone()));
        let faults = self.shared.faults.current();
        merge_params(&mut answer, faults.callback.as_ref());
        answer.extend(faults.callback_append.iter().cloned());
        let session_cookie =
            new_session.map(|id| format!("{SESSION_COOKIE}={id}; HttpOnly; Path=/"));
        let location = if faults.callback_in_fragment {
            // The parameters go after `#`: `with_query` on an empty base gives `?…`.
            let query = with_query("", &answer);
            format!("{}#{}", checked.redirect_uri, query.trim_start_matches('?'))
        } else {
            with_query(&checked.redirect_uri, &answer)
        };
        found(&location, session_cookie)
    }
}

/// Whether `value` is a valid PKCE verifier or challenge: 43–128 characters of
/// `[A-Za-z0-9-._~]` (RFC 7636 §4.1, §4.2).
pub(super) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// A `302 Found` to `location`, optionally setting a cookie.
fn found(location: &str, set_cookie: Option<String>) -> Response {
    let Ok(location) = HeaderValue::from_str(location) else {
        return error_page("redirect URI cannot be used in a Location header");
    };
    let mut response = (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = set_cookie.and_then(|cookie| HeaderValue::from_str(&cookie).ok()) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The page shown in the browser when the request cannot be sent back to the client.
fn error_page(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("Sign-in request rejected: {message}.\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::is_pkce_value;

    #[test]
    fn pkce_values() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(is_pkce_value(&"A-._~9".repeat(20)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }
}
