//! The authorization request (the URL the browser opens) and the callback the app receives.

use std::fmt;

use url::Url;

use crate::config::{Config, RESERVED_AUTH_PARAMS};
use crate::error::{Error, ErrorKind, Result};
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::pkce::{Pkce, random_token};
use crate::oidc::step_up::StepUp;
use crate::secret::SecretString;
use crate::secret::constant_time_eq;

/// How long a started login may wait for its callback.
pub const PENDING_LOGIN_LIFETIME_SECS: i64 = 600;

/// Per-login options on top of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginOptions {
    /// `prompt` (`login`, `consent`, `select_account`, `none`). When `offline_access` is requested
    /// and no prompt is set, Keyfob sends `prompt=consent` (OpenID Connect Core §11).
    pub prompt: Option<String>,
    /// `login_hint`: the user's e-mail or username, to prefill the login page.
    pub login_hint: Option<String>,
    /// Further parameters (e.g. `ui_locales`); they may not replace the ones Keyfob sets.
    pub extra_params: Vec<(String, String)>,
    /// Step-up: `max_age`, the longest time in seconds since the user last authenticated
    /// (`Some(0)`: authenticate now). The ID token must then carry an `auth_time` within it
    /// (plus the clock skew), else the login fails with [`crate::IdTokenCheck::AuthTime`].
    pub max_age: Option<u64>,
    /// Step-up: `acr_values`, the authentication context classes asked for, in order of
    /// preference (e.g. a provider's multi-factor class). Voluntary unless
    /// [`LoginOptions::require_acr`]; the `acr` obtained is in [`crate::IdTokenClaims::acr`].
    pub acr_values: Vec<String>,
    /// Step-up: the `acr` is essential (sent as a `claims` request): the ID token must carry one
    /// of [`LoginOptions::acr_values`], else the login fails with [`crate::IdTokenCheck::Acr`].
    pub require_acr: bool,
}

/// A login that was started and waits for its callback. Single use.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PendingAuthorization {
    pub state: SecretString,
    pub nonce: SecretString,
    pub verifier: SecretString,
    pub redirect_uri: String,
    pub created_at: i64,
    /// What the login asked of the authentication, for the checks of its ID token.
    pub step_up: StepUp,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("redirect_uri", &self.redirect_uri)
            .field("created_at", &self.created_at)
            .field("step_up", &self.step_up)
            .finish_non_exhaustive()
    }
}

impl PendingAuthorization {
    /// Whether the login is too old to be completed (or dated more than a minute ahead).
    /// `created_at` comes from storage, so any value must answer, not overflow.
    pub fn is_expired(&self, now: i64) -> bool {
        now.saturating_sub(self.created_at) > PENDING_LOGIN_LIFETIME_SECS
            || now < self.created_at.saturating_sub(60)
    }
}

/// Builds the authorization URL and the pending request that its callback must match.
#[cfg(test)]
pub(crate) fn build_request(
    config: &Config,
    provider: &ProviderMetadata,
    options: &LoginOptions,
    now: i64,
) -> Result<(Url, PendingAuthorization)> {
    let (params, pending) = request_params(config, options, None, now)?;
    Ok((
        with_params(&provider.authorization_endpoint, &params),
        pending,
    ))
}

/// The parameters of an authorization request, in the order they are sent, and the pending
/// login its callback must match. `dpop_jkt` binds the code to a DPoP key (RFC 9449 §10).
pub(crate) fn request_params(
    config: &Config,
    options: &LoginOptions,
    dpop_jkt: Option<&str>,
    now: i64,
) -> Result<(Vec<(String, String)>, PendingAuthorization)> {
    // `prompt` and `login_hint` have their own fields in `LoginOptions`.
    let reserved =
        |n: &str| RESERVED_AUTH_PARAMS.contains(&n) || n == "prompt" || n == "login_hint";
    if let Some((name, _)) = options.extra_params.iter().find(|(n, _)| reserved(n)) {
        return Err(Error::config(format!(
            "login option `{name}` cannot be passed as an extra parameter"
        )));
    }
    let pkce = Pkce::generate()?;
    let state = random_token(32)?;
    let nonce = random_token(32)?;
    let scope = config.scopes.join(" ");
    let prompt = options.prompt.clone().or_else(|| {
        let from_config = config
            .extra_params
            .iter()
            .find(|(n, _)| n == "prompt")
            .map(|(_, v)| v.clone());
        from_config.or_else(|| {
            config
                .scopes
                .iter()
                .any(|s| s == "offline_access")
                .then(|| "consent".to_string())
        })
    });

    let step_up = StepUp {
        max_age: options.max_age,
        acr_values: options.acr_values.clone(),
        require_acr: options.require_acr,
        fresh_login: prompt.as_deref() == Some("login"),
    };
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    let mut q = vec![
        pair("response_type", "code"),
        pair("client_id", &config.client_id),
        pair("redirect_uri", config.redirect_uri.as_str()),
        pair("scope", &scope),
        pair("state", &state),
        pair("nonce", &nonce),
        pair("code_challenge", &pkce.challenge),
        pair("code_challenge_method", "S256"),
    ];
    if let Some(jkt) = dpop_jkt {
        q.push(pair("dpop_jkt", jkt));
    }
    if let Some(prompt) = &prompt {
        q.push(pair("prompt", prompt));
    }
    if let Some(hint) = &options.login_hint {
        q.push(pair("login_hint", hint));
    }
    // Per-login options win over the configuration's parameters of the same name.
    let set_per_login = |n: &str| {
        n == "prompt"
            || (n == "login_hint" && options.login_hint.is_some())
            || options.extra_params.iter().any(|(o, _)| o == n)
    };
    q.extend(
        config
            .extra_params
            .iter()
            .filter(|(n, _)| !set_per_login(n))
            .cloned(),
    );
    q.extend(options.extra_params.iter().cloned());
    step_up.append_to(&mut q)?;
    q.extend(config.resources.iter().map(|r| pair("resource", r)));
    let pending = PendingAuthorization {
        state: SecretString::new(state),
        nonce: SecretString::new(nonce),
        verifier: pkce.verifier,
        redirect_uri: config.redirect_uri.to_string(),
        created_at: now,
        step_up,
    };
    Ok((q, pending))
}

/// `endpoint` with `params` added to its query (after any query of its own).
pub(crate) fn with_params(endpoint: &Url, params: &[(String, String)]) -> Url {
    let mut url = endpoint.clone();
    url.query_pairs_mut().extend_pairs(params);
    url
}

/// The parameters of a callback whose URL matched the redirect URI.
#[derive(Default)]
pub(crate) struct CallbackParams {
    pub code: Option<SecretString>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Parses the URL the OS delivered: it must be the configured redirect URI exactly (scheme,
/// host, port, path), carry its parameters in the query only, and name each at most once.
pub(crate) fn parse_callback(redirect_uri: &Url, callback: &str) -> Result<CallbackParams> {
    let url = crate::http::parse_url(callback)
        .map_err(|_| Error::invalid_callback("the callback is not a valid URL"))?;
    let same = url.scheme() == redirect_uri.scheme()
        && url.host() == redirect_uri.host()
        && url.port_or_known_default() == redirect_uri.port_or_known_default()
        && url.path() == redirect_uri.path()
        && url.username() == redirect_uri.username()
        && url.password() == redirect_uri.password();
    if !same {
        return Err(Error::invalid_callback(
            "the callback URL does not match the configured redirect URI",
        ));
    }
    if url.fragment().is_some_and(|f| !f.is_empty()) {
        return Err(Error::invalid_callback(
            "the callback carries a fragment; authorization responses must come in the query",
        ));
    }
    let mut params = CallbackParams::default();
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in url.query_pairs() {
        if seen.iter().any(|s| *s == name) {
            return Err(Error::invalid_callback(format!(
                "the callback has the parameter `{}` more than once",
                name.chars().take(32).collect::<String>()
            )));
        }
        seen.push(name.to_string());
        let value = value.into_owned();
        match name.as_ref() {
            "code" => params.code = Some(SecretString::new(value)),
            "state" => params.state = Some(value),
            "iss" => params.iss = Some(value),
            "error" => params.error = Some(value),
            "error_description" => params.error_description = Some(value),
            _ => {}
        }
    }
    Ok(params)
}

/// Whether the callback's `state` is the pending login's. Checked first, so that a forged
/// callback can neither report an error nor consume the pending login.
pub(crate) fn check_state(params: &CallbackParams, pending: &PendingAuthorization) -> Result<()> {
    match &params.state {
        Some(s) if constant_time_eq(s, pending.state.expose()) => Ok(()),
        Some(_) => Err(Error::new(
            ErrorKind::StateMismatch,
            "the callback's state does not match the pending login",
        )),
        None => Err(Error::new(
            ErrorKind::StateMismatch,
            "the callback has no state parameter",
        )),
    }
}

/// Checks a callback whose `state` matched: RFC 9207 `iss` first, then the provider's `error`,
/// and returns the authorization code.
pub(crate) fn check_callback(
    params: CallbackParams,
    provider: &ProviderMetadata,
) -> Result<SecretString> {
    match (
        &params.iss,
        provider.authorization_response_iss_parameter_supported,
    ) {
        (Some(iss), _) if iss != &provider.issuer => {
            return Err(Error::new(
                ErrorKind::IssuerMismatch,
                "the callback's iss names another issuer (RFC 9207)",
            ));
        }
        (None, true) => {
            return Err(Error::new(
                ErrorKind::IssuerMismatch,
                "the callback has no iss although the provider advertises it (RFC 9207)",
            ));
        }
        _ => {}
    }
    if let Some(error) = &params.error {
        return Err(Error::provider(
            error,
            params.error_description.as_deref(),
            None,
        ));
    }
    params
        .code
        .filter(|c| !c.expose().is_empty())
        .ok_or_else(|| Error::invalid_callback("the callback has neither code nor error"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(iss_supported: bool) -> ProviderMetadata {
        let u = |p: &str| Url::parse(&format!("https://auth.company.com{p}")).unwrap();
        ProviderMetadata {
            issuer: "https://auth.company.com".into(),
            authorization_endpoint: u("/authorize?tenant=x"),
            token_endpoint: u("/token"),
            jwks_uri: u("/jwks"),
            userinfo_endpoint: None,
            revocation_endpoint: None,
            end_session_endpoint: None,
            authorization_response_iss_parameter_supported: iss_supported,
            pushed_authorization_request_endpoint: None,
            require_pushed_authorization_requests: false,
            dpop_signing_alg_values_supported: Vec::new(),
            device_authorization_endpoint: None,
        }
    }

    fn config(scopes: &[&str]) -> Config {
        Config::builder("https://auth.company.com", "app", "myapp://callback")
            .scopes(scopes.iter().copied())
            .extra_param("audience", "https://crm.company.com")
            .build()
            .unwrap()
    }

    fn query(url: &Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(a, b)| (a.into(), b.into()))
            .collect()
    }

    fn get<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
        q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn url_carries_pkce_state_nonce_and_keeps_endpoint_query() {
        let (url, pending) = build_request(
            &config(&["email"]),
            &provider(true),
            &LoginOptions::default(),
            100,
        )
        .unwrap();
        let q = query(&url);
        assert_eq!(get(&q, "tenant"), Some("x"));
        assert_eq!(get(&q, "response_type"), Some("code"));
        assert_eq!(get(&q, "client_id"), Some("app"));
        assert_eq!(get(&q, "redirect_uri"), Some("myapp://callback"));
        assert_eq!(get(&q, "scope"), Some("openid email"));
        assert_eq!(get(&q, "code_challenge_method"), Some("S256"));
        assert_eq!(get(&q, "audience"), Some("https://crm.company.com"));
        assert_eq!(get(&q, "state"), Some(pending.state.expose()));
        assert_eq!(get(&q, "nonce"), Some(pending.nonce.expose()));
        assert_eq!(
            get(&q, "code_challenge"),
            Some(crate::oidc::pkce::s256_challenge(pending.verifier.expose()).as_str())
        );
        assert_eq!(get(&q, "prompt"), None);
        let (_, again) =
            build_request(&config(&[]), &provider(true), &LoginOptions::default(), 100).unwrap();
        assert_ne!(again.state, pending.state);
        assert_ne!(again.nonce, pending.nonce);
        let debug = format!("{pending:?}");
        assert!(!debug.contains(pending.state.expose()));
        assert!(debug.contains("myapp://callback"), "{debug}");
    }

    #[test]
    fn per_login_options_replace_the_configuration_s_parameters_of_the_same_name() {
        let config = Config::builder("https://auth.company.com", "app", "myapp://callback")
            .extra_param("audience", "https://crm.company.com")
            .extra_param("prompt", "select_account")
            .extra_param("login_hint", "from-config")
            .extra_param("ui_locales", "de")
            .build()
            .unwrap();
        let sent = |options: &LoginOptions| {
            let (url, _) = build_request(&config, &provider(true), options, 0).unwrap();
            query(&url)
        };
        let all = |q: &[(String, String)], k: &str| {
            q.iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        let q = sent(&LoginOptions::default());
        assert_eq!(all(&q, "prompt"), ["select_account"]);
        assert_eq!(all(&q, "login_hint"), ["from-config"]);
        assert_eq!(all(&q, "ui_locales"), ["de"]);
        assert_eq!(all(&q, "audience"), ["https://crm.company.com"]);
        let q = sent(&LoginOptions {
            prompt: Some("login".into()),
            login_hint: Some("ada".into()),
            extra_params: vec![("ui_locales".into(), "fr".into())],
            ..Default::default()
        });
        assert_eq!(all(&q, "prompt"), ["login"]);
        assert_eq!(all(&q, "login_hint"), ["ada"]);
        assert_eq!(all(&q, "ui_locales"), ["fr"]);
        assert_eq!(all(&q, "audience"), ["https://crm.company.com"]);
        // `prompt` and `login_hint` have their own options, not extra parameters.
        for name in ["prompt", "login_hint"] {
            let bad = LoginOptions {
                extra_params: vec![(name.into(), "x".into())],
                ..Default::default()
            };
            let e = build_request(&config, &provider(true), &bad, 0).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{name}");
        }
    }

    #[test]
    fn offline_access_asks_for_consent_unless_the_app_chose_a_prompt() {
        let (url, _) = build_request(
            &config(&["offline_access"]),
            &provider(true),
            &LoginOptions::default(),
            0,
        )
        .unwrap();
        assert_eq!(get(&query(&url), "prompt"), Some("consent"));
        let opts = LoginOptions {
            prompt: Some("login".into()),
            login_hint: Some("ada".into()),
            ..Default::default()
        };
        let (url, _) =
            build_request(&config(&["offline_access"]), &provider(true), &opts, 0).unwrap();
        assert_eq!(get(&query(&url), "prompt"), Some("login"));
        assert_eq!(get(&query(&url), "login_hint"), Some("ada"));
        let bad = LoginOptions {
            extra_params: vec![("state".into(), "x".into())],
            ..Default::default()
        };
        assert_eq!(
            build_request(&config(&[]), &provider(true), &bad, 0)
                .unwrap_err()
                .kind(),
            ErrorKind::Config
        );
    }

    #[test]
    fn step_up_and_resources_go_into_the_url_and_the_pending_login() {
        let config = Config::builder("https://auth.company.com", "app", "myapp://callback")
            .resource("https://crm.company.com")
            .resource("https://orders.company.com")
            .build()
            .unwrap();
        let opts = LoginOptions {
            prompt: Some("login".into()),
            max_age: Some(0),
            acr_values: vec!["urn:mfa".into()],
            require_acr: true,
            ..Default::default()
        };
        let (url, pending) = build_request(&config, &provider(true), &opts, 7).unwrap();
        let q = query(&url);
        assert_eq!(get(&q, "max_age"), Some("0"));
        assert_eq!(get(&q, "acr_values"), Some("urn:mfa"));
        assert!(get(&q, "claims").is_some_and(|c| c.contains("essential")));
        let resources: Vec<&str> = q
            .iter()
            .filter(|(n, _)| n == "resource")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            resources,
            ["https://crm.company.com", "https://orders.company.com"]
        );
        assert_eq!(
            pending.step_up,
            StepUp {
                max_age: Some(0),
                acr_values: vec!["urn:mfa".into()],
                require_acr: true,
                fresh_login: true,
            }
        );
        // max_age, acr_values, claims and resource have their own options.
        for name in ["max_age", "acr_values", "claims", "resource"] {
            let bad = LoginOptions {
                extra_params: vec![(name.into(), "x".into())],
                ..Default::default()
            };
            let e = build_request(&config, &provider(true), &bad, 0).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{name}");
        }
    }

    #[test]
    fn callback_must_match_the_redirect_uri_exactly() {
        let r = Url::parse("myapp://callback").unwrap();
        assert!(parse_callback(&r, "myapp://callback?code=c&state=s").is_ok());
        for bad in [
            "otherapp://callback?code=c&state=s",
            "myapp://callbackx?code=c&state=s",
            "myapp://callback/extra?code=c&state=s",
            "myapp://callback#code=c&state=s",
            "myapp://callback?code=c&state=s#x",
            "myapp://callback?code=c&code=d&state=s",
            "myapp://callback?code=c&state=s&state=t",
            "not a url",
        ] {
            let e = parse_callback(&r, bad)
                .err()
                .unwrap_or_else(|| panic!("{bad}"));
            assert_eq!(e.kind(), ErrorKind::InvalidCallback, "{bad}");
        }
        let lo = Url::parse("http://127.0.0.1:8080/cb").unwrap();
        assert!(parse_callback(&lo, "http://127.0.0.1:8080/cb?code=c").is_ok());
        assert!(parse_callback(&lo, "http://127.0.0.1:8081/cb?code=c").is_err());
        assert!(parse_callback(&lo, "http://localhost:8080/cb?code=c").is_err());
    }

    fn pending(state: &str) -> PendingAuthorization {
        PendingAuthorization {
            state: SecretString::new(state),
            nonce: SecretString::new("n"),
            verifier: SecretString::new("v"),
            redirect_uri: "myapp://callback".into(),
            created_at: 0,
            step_up: StepUp::default(),
        }
    }

    fn check(cb: &str, iss_supported: bool) -> Result<SecretString> {
        let params = parse_callback(&Url::parse("myapp://callback").unwrap(), cb).unwrap();
        check_state(&params, &pending("s1"))?;
        check_callback(params, &provider(iss_supported))
    }

    #[test]
    fn callback_checks_state_then_iss_then_error() {
        let iss = "iss=https%3A%2F%2Fauth.company.com";
        assert_eq!(
            check(&format!("myapp://callback?code=c&state=s1&{iss}"), true)
                .unwrap()
                .expose(),
            "c"
        );
        assert_eq!(
            check("myapp://callback?code=c&state=s1", false)
                .unwrap()
                .expose(),
            "c"
        );
        let kind = |cb: &str, sup| check(cb, sup).unwrap_err().kind();
        assert_eq!(
            kind(&format!("myapp://callback?code=c&state=s2&{iss}"), true),
            ErrorKind::StateMismatch
        );
        assert_eq!(
            kind(&format!("myapp://callback?code=c&{iss}"), true),
            ErrorKind::StateMismatch
        );
        assert_eq!(
            kind("myapp://callback?error=access_denied&state=s2", true),
            ErrorKind::StateMismatch
        );
        assert_eq!(
            kind("myapp://callback?code=c&state=s1", true),
            ErrorKind::IssuerMismatch
        );
        assert_eq!(
            kind(
                "myapp://callback?code=c&state=s1&iss=https%3A%2F%2Fevil.example",
                false
            ),
            ErrorKind::IssuerMismatch
        );
        let e = check(
            &format!("myapp://callback?error=access_denied&error_description=no&state=s1&{iss}"),
            true,
        )
        .unwrap_err();
        assert_eq!(
            (e.kind(), e.provider_error()),
            (ErrorKind::Provider, Some("access_denied"))
        );
        assert_eq!(
            kind(&format!("myapp://callback?state=s1&{iss}"), true),
            ErrorKind::InvalidCallback
        );
        assert_eq!(
            kind(&format!("myapp://callback?code=&state=s1&{iss}"), true),
            ErrorKind::InvalidCallback
        );
    }

    #[test]
    fn pending_logins_expire() {
        let p = pending("s");
        assert!(!p.is_expired(PENDING_LOGIN_LIFETIME_SECS));
        assert!(p.is_expired(PENDING_LOGIN_LIFETIME_SECS + 1));
        // Dated ahead: up to a minute is clock difference, more is expired.
        assert!(!p.is_expired(-60));
        assert!(p.is_expired(-61));
        // A stored record can hold any time: the extremes are expired, without an overflow.
        for created_at in [i64::MIN, i64::MAX] {
            let p = PendingAuthorization {
                created_at,
                ..pending("s")
            };
            assert!(p.is_expired(1_800_000_000));
        }
    }
}
