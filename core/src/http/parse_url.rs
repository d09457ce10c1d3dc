//! The one way the core parses a URL: [`parse_url`], used for the callback, the issuer, the
//! redirect URIs and every endpoint of the discovery document.
//!
//! The `url` crate hands the host of an `http`, `https`, `ws`, `wss`, `ftp` or `file` URL to the
//! `idna` crate. Keyfob pins `idna_adapter` 1.0.0, idna's backend without Unicode tables (136 KB
//! less in the mobile library): it turns non-ASCII into an error and leaves labels already in
//! punycode (`xn--…`) unchecked. Two kinds of host get past it into `debug_assert!`s of `idna`
//! that the tables would have kept them from, so every debug build (a Rust app in development,
//! the CLI from `cargo run`, the fuzzers) panicked on them, while release builds answered an
//! error or accepted the host:
//!
//! - a non-ASCII host, raw or percent-encoded, with an upper-case ASCII letter right before a
//!   label's first non-ASCII character (`idna` expects the tables to have lower-cased it);
//! - an `xn--` label that decodes to U+200F RIGHT-TO-LEFT MARK (the tables would have refused it
//!   before the bidi check, which asserts it never sees one).
//!
//! [`parse_url`] refuses such hosts before `url` sees them, with the error `url` gives an
//! invalid international domain name ([`ParseError::IdnaError`]), so that each caller keeps its
//! own error kind. Non-ASCII hosts were an error before in every build; punycode hosts keep
//! working unless a label is malformed, longer than DNS allows, or decodes to an invisible
//! formatting character, none of which a provider's host name can contain.

use url::{ParseError, Url};

/// Parses `input` as an absolute URL, as [`Url::parse`] does, except that a host whose IDNA
/// processing could panic is refused with [`ParseError::IdnaError`]. Never panics.
pub(crate) fn parse_url(input: &str) -> Result<Url, ParseError> {
    if special_host(input).is_some_and(|host| !idna_safe(&host)) {
        return Err(ParseError::IdnaError);
    }
    Url::parse(input)
}

/// The schemes whose hosts `url` hands to IDNA (WHATWG URL's special schemes). The hosts of
/// other schemes are opaque: percent-encoded, never mapped.
const SPECIAL_SCHEMES: [&str; 6] = ["http", "https", "ws", "wss", "ftp", "file"];

/// The part of `input` in which `url` finds the host, when the scheme is special: after the
/// scheme, its slashes and any user info, up to the port, path, query or fragment. It may be
/// more than the host (`file:///x` has an empty host), never less.
fn special_host(input: &str) -> Option<String> {
    // `url` reads its input without leading and trailing C0 controls and spaces, and skips
    // every tab and newline wherever it is.
    let input: String = input
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let (scheme, rest) = input.split_once(':')?;
    if !SPECIAL_SCHEMES
        .iter()
        .any(|s| scheme.eq_ignore_ascii_case(s))
    {
        return None;
    }
    let rest = rest.trim_start_matches(['/', '\\']);
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    if scheme.eq_ignore_ascii_case("file") {
        // A `file` host has no user info and no port: all of it goes to IDNA.
        return Some(authority.to_owned());
    }
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let mut in_brackets = false;
    let end = host
        .find(|c| {
            match c {
                '[' => in_brackets = true,
                ']' => in_brackets = false,
                _ => {}
            }
            c == ':' && !in_brackets
        })
        .unwrap_or(host.len());
    Some(host[..end].to_owned())
}

/// Whether IDNA may see `host` (as written in the URL): ASCII once percent-decoded, and every
/// `xn--` label well-formed punycode of at most 63 bytes that decodes to visible characters.
fn idna_safe(host: &str) -> bool {
    let host = percent_decode(host.as_bytes());
    host.is_ascii() && host.split(|&b| b == b'.').all(punycode_label_safe)
}

/// `url`'s percent-decoding of a host: `%` and two hex digits is a byte, any other `%` stays.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match (b, hex(input.get(i + 1)), hex(input.get(i + 2))) {
            (b'%', Some(high), Some(low)) => {
                // Two hex digits: at most 0xff.
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// An ASCII label is safe unless it is an `xn--` label that is too long, not punycode, or
/// decodes to an invisible character.
fn punycode_label_safe(label: &[u8]) -> bool {
    if !label
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
    {
        return true;
    }
    // A DNS label has at most 63 bytes; longer ones are not worth decoding (punycode decoding
    // is quadratic in the label's length).
    label.len() <= 63
        && std::str::from_utf8(&label[4..])
            .ok()
            .and_then(idna::punycode::decode)
            .is_some_and(|chars| !chars.iter().any(|&c| invisible(c)))
}

/// Characters that IDNA never allows in a host name and that the backend without tables cannot
/// tell from letters: C1 controls, the soft hyphen, zero-width and directional marks, line and
/// paragraph separators, embeddings and overrides, invisible operators and isolates, the byte
/// order mark and the specials block (U+FFFD among them).
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9f}'
        | '\u{ad}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff0}'..='\u{ffff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input from issue 23 that `callback_url` found (debug builds panicked in
    /// `idna_adapter`'s `map_normalize`).
    const ISSUE_23: &[u8] = b"http://tate=ST\xcfATE&&stoken_typetate=STATj\x00\x00\x00zEEEEEEEEEE\xb4zEEEEss=ht\x00\x00\x00A\x00:tpsverifi%|||2Fop.example";

    fn refused(input: &str) -> bool {
        parse_url(input) == Err(ParseError::IdnaError)
    }

    #[test]
    fn non_ascii_hosts_with_upper_case_letters_are_refused_without_a_panic() {
        let lossy = String::from_utf8_lossy(ISSUE_23);
        assert!(refused(&lossy));
        // Each of these panicked in debug builds before.
        for input in [
            "https://X\u{e9}.example/",
            "https://aB\u{e9}c/",
            "HTTPS://A\u{e9}B/",
            // Percent-encoded: `url` decodes the host before IDNA.
            "https://X%C3%A9.example/",
            "https://a%42%c3%a9/",
            // Tabs and newlines are skipped, also in the scheme; C0 controls are trimmed.
            "\u{1} ht\ttp\n://X\u{e9}/ ",
            "wss://X\u{e9}/",
            "ftp://X\u{e9}/",
            "file://X\u{e9}/",
            // After user info, before the port.
            "https://user:pass@X\u{e9}:443/",
            "https:\\\\X\u{e9}\\path",
        ] {
            assert!(refused(input), "{input:?}");
        }
    }

    #[test]
    fn punycode_labels_of_invisible_characters_are_refused_without_a_panic() {
        // "xn--3ug" is U+200F, which debug builds of `idna` assert against: each of the first
        // seven panicked in debug builds before.
        for input in [
            "https://xn--3ug/",
            "https://XN--3UG/",
            "https://a.xn--3ug.example/",
            "https://%78n--3ug/",
            "https://xn--3ug:8443/",
            "https://xn--ab-s1t/",
            "file://a.xn--3ug/",
            // Other invisible characters: U+200B, U+FEFF.
            "https://xn--zug/",
            "https://xn--qg7c/",
            // Not punycode, or longer than a DNS label.
            "https://xn--a-/",
            "https://xn--!/",
            &format!("https://xn--{}/", "a".repeat(60)),
        ] {
            assert!(refused(input), "{input:?}");
        }
    }

    #[test]
    fn ordinary_and_punycode_hosts_parse_as_before() {
        for input in [
            "https://op.example/authorize",
            "https://OP.Example:8443/a/b?x=1#f",
            "https://xn--bcher-kva.example/token",
            "https://XN--BCHER-KVA.example/token",
            "http://127.0.0.1:8080/cb",
            "http://[::1]:8080/cb",
            "https://ab--cd.example/",
            // Non-ASCII outside the host is percent-encoded, as before.
            "https://us\u{e9}r@op.example/p\u{e4}th?q=\u{e9}",
            // Private-use schemes have opaque hosts: no IDNA.
            "myapp://callback?code=1&state=2",
            "myapp://\u{e9}X/cb",
            "com.example.app:/callback",
        ] {
            assert_eq!(parse_url(input), Url::parse(input), "{input:?}");
            assert!(parse_url(input).is_ok(), "{input:?}");
        }
    }

    #[test]
    fn other_errors_are_the_url_crates() {
        for input in [
            "",
            "no scheme",
            "https://",
            "https://[::1/",
            "https://a:99999/",
        ] {
            assert_eq!(parse_url(input), Url::parse(input), "{input:?}");
            assert!(parse_url(input).is_err(), "{input:?}");
        }
    }
}
