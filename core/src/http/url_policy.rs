//! Which URLs Keyfob talks to: HTTPS everywhere, plain HTTP only for loopback hosts (and hosts
//! an app allowed for development).

use url::Url;

use crate::error::{Error, ErrorKind, Result};

/// Whether `url` points at the loopback interface (127.0.0.0/8, ::1 or `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Accepts `https` URLs, and `http` only for loopback hosts or a host the app explicitly
/// allowed for development ([`crate::ConfigBuilder::allow_insecure_http_host`]).
pub(crate) fn require_secure_url(url: &Url, what: &str, insecure_hosts: &[String]) -> Result<()> {
    let allowed = |u: &Url| {
        u.host_str()
            .is_some_and(|h| insecure_hosts.iter().any(|a| a.eq_ignore_ascii_case(h)))
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback(url) || allowed(url) => Ok(()),
        _ => Err(Error::new(
            ErrorKind::InsecureUrl,
            format!("{what} must use https (plain http is only allowed for loopback hosts)"),
        )),
    }
}

/// Parses `raw` as an endpoint URL and applies [`require_secure_url`].
pub(crate) fn endpoint_url(raw: &str, what: &str, insecure_hosts: &[String]) -> Result<Url> {
    let url = super::parse_url(raw).map_err(|e| {
        Error::new(
            ErrorKind::Discovery,
            format!("{what} is not a valid URL: {e}"),
        )
    })?;
    require_secure_url(&url, what, insecure_hosts)?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for (u, expect) in [
            ("http://127.0.0.1:80/x", true),
            ("http://127.1.2.3/x", true),
            ("http://[::1]:9/x", true),
            ("http://LOCALHOST/x", true),
            ("http://localhost.evil.com/x", false),
            ("http://10.0.2.2/x", false),
            ("http://example.com/x", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(u).unwrap()), expect, "{u}");
        }
    }

    #[test]
    fn only_https_or_loopback_http() {
        let ok = |u: &str| require_secure_url(&Url::parse(u).unwrap(), "x", &[]).is_ok();
        assert!(ok("https://auth.company.com/token"));
        assert!(ok("http://127.0.0.1:5000/token"));
        assert!(!ok("http://auth.company.com/token"));
        assert!(!ok("ftp://auth.company.com/token"));
        assert!(!ok("http://10.0.2.2:9400/token"));
        let dev = ["10.0.2.2".to_string()];
        assert!(
            require_secure_url(
                &Url::parse("http://10.0.2.2:9400/token").unwrap(),
                "x",
                &dev
            )
            .is_ok()
        );
        assert!(
            require_secure_url(&Url::parse("http://10.0.2.3/token").unwrap(), "x", &dev).is_err()
        );
    }
}
