//! `/end_session`: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::authorize::SESSION_COOKIE;
use super::{Params, Provider, cookie, with_query};

/// Ends the browser session, then redirects to `post_logout_redirect_uri` (with
/// `state`) or shows a "signed out" page.
///
/// A test provider's leniency: `id_token_hint` is accepted without verification
/// and any `post_logout_redirect_uri` is honoured; only a wrong `client_id` is refused.
pub(super) async fn end_session(
    State(provider): State<Arc<Provider>>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = if method == Method::POST {
        Params::parse(&body)
    } else {
        Params::parse(query.unwrap_or_default().as_bytes())
    };
    if params
        .get("client_id")
        .is_some_and(|client_id| client_id != provider.config.client_id)
    {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Logout request rejected: unknown client_id.\n",
        )
            .into_response();
    }
    if let Some(session) = cookie(&headers, SESSION_COOKIE) {
        provider.grants().close_session(session);
    }

    let mut response = match params.get("post_logout_redirect_uri") {
        Some(uri) => {
            let state = params
                .get("state")
                .map(|state| ("state".to_owned(), state.to_owned()));
            let location = with_query(uri, &Vec::from_iter(state));
            match HeaderValue::from_str(&location) {
                Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
                Err(_) => (
                    StatusCode::BAD_REQUEST,
                    "Invalid post_logout_redirect_uri.\n",
                )
                    .into_response(),
            }
        }
        None => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "You are signed out.\n",
        )
            .into_response(),
    };
    let clear_cookie = format!("{SESSION_COOKIE}=; Max-Age=0; HttpOnly; Path=/");
    if let Ok(value) = HeaderValue::from_str(&clear_cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
