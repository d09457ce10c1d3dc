//! Targets for what the app and its platform hand to Keyfob: the configuration, the pending
//! login a store returns after a restart, and the redirect URL as it arrives through the FFI.

use std::sync::Arc;

use keyfob::{Config, ErrorKind, SecureStorage, is_loopback};

use super::{
    CLIENT_ID, FakeProvider, ISSUER, REDIRECT_URI, World, assert_not_in_error, block_on,
    exchange_body, string_members, text,
};

/// The configuration: issuer, redirect URI, post-logout redirect URI and a host allowed over
/// plain HTTP, separated by NUL bytes (missing parts are left out). When the first byte is odd,
/// the non-ASCII labels of each part's host are written in punycode (`xn--…`), so that any
/// code point reaches the host checks as a well-formed punycode label.
///
/// A configuration is refused with `Config` or `InsecureUrl`, or accepted with the issuer kept
/// byte for byte, an issuer that is HTTPS (or HTTP to a loopback or allowed host), and a
/// redirect URI that can deliver a callback; a client built on it starts a login (against a
/// provider that only knows [`ISSUER`]) and logs out without a panic.
pub fn config(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let rest = text(rest);
    let mut parts = rest.split('\0').map(|part| {
        if mode % 2 == 1 {
            punycode_host(part)
        } else {
            part.to_owned()
        }
    });
    let issuer = parts.next().unwrap_or_default();
    let redirect_uri = parts.next().unwrap_or_else(|| REDIRECT_URI.to_owned());
    let mut builder = Config::builder(issuer.clone(), CLIENT_ID, redirect_uri);
    if let Some(uri) = parts.next() {
        builder = builder.post_logout_redirect_uri(uri);
    }
    let insecure_host = parts.next();
    if let Some(host) = &insecure_host {
        builder = builder.allow_insecure_http_host(host);
    }
    let config = match builder.build() {
        Ok(config) => config,
        Err(e) => {
            assert!(
                matches!(e.kind(), ErrorKind::Config | ErrorKind::InsecureUrl),
                "{e:?}"
            );
            return;
        }
    };
    assert_eq!(config.issuer(), issuer);
    let parsed = url::Url::parse(&issuer).expect("an accepted issuer parses");
    let allowed = |url: &url::Url| {
        url.host_str()
            .zip(insecure_host.as_deref())
            .is_some_and(|(h, a)| h.eq_ignore_ascii_case(a))
    };
    match parsed.scheme() {
        "https" => assert!(parsed.host().is_some()),
        "http" => assert!(is_loopback(&parsed) || allowed(&parsed), "{issuer}"),
        other => panic!("issuer scheme {other}"),
    }
    for uri in [
        Some(config.redirect_uri()),
        config.post_logout_redirect_uri(),
    ]
    .into_iter()
    .flatten()
    {
        let uri = url::Url::parse(uri).expect("an accepted redirect URI parses");
        assert!(
            !matches!(
                uri.scheme(),
                "javascript" | "data" | "file" | "about" | "blob"
            ),
            "{uri}"
        );
        assert!(uri.scheme() != "http" || is_loopback(&uri), "{uri}");
    }
    let provider = Arc::new(FakeProvider::new());
    let client = keyfob::Client::new(config, provider.clone())
        .with_clock(Arc::new(keyfob::ManualClock::new(super::NOW)));
    match block_on(client.begin_login()) {
        Ok(url) => {
            let url = url::Url::parse(&url).expect("the authorization URL parses");
            assert_eq!(url.origin(), url::Url::parse(ISSUER).unwrap().origin());
        }
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::Network | ErrorKind::Discovery | ErrorKind::InsecureUrl
            ),
            "{e:?}"
        ),
    }
    block_on(client.logout()).expect("logging out of no session");
}

/// `input` with the non-ASCII labels of its host (after `://`, up to `/`, `?`, `#` or `:`)
/// written in punycode.
fn punycode_host(input: &str) -> String {
    let Some(start) = input.find("://").map(|i| i + 3) else {
        return input.to_owned();
    };
    let end = input[start..]
        .find(['/', '?', '#', ':'])
        .map_or(input.len(), |i| start + i);
    let host: Vec<String> = input[start..end]
        .split('.')
        .map(|label| match idna::punycode::encode_str(label) {
            Some(encoded) if !label.is_ascii() => format!("xn--{encoded}"),
            _ => label.to_owned(),
        })
        .collect();
    format!("{}{}{}", &input[..start], host.join("."), &input[end..])
}

/// The pending login as the store returns it after a restart (the input after the first byte),
/// and a callback with its `state` (another `state` when the first byte is odd).
///
/// Whatever the record holds: a callback with another `state` leaves it untouched; nothing is
/// sent to the token endpoint unless the record is readable, current and matches; the code
/// exchange sends exactly the stored verifier and redirect URI; a matching record is used once;
/// errors are typed and show none of its secrets.
pub fn pending_login(data: &[u8]) {
    let Some((&mode, record)) = data.split_first() else {
        return;
    };
    let world = World::new();
    world.storage.save("pending", record).unwrap();
    let field = string_members(Some(record));
    let state = match field("state") {
        Some(state) if mode % 2 == 0 => state,
        _ => "another-state".to_owned(),
    };
    let nonce = field("nonce").unwrap_or_default();
    world.provider.push_token(200, exchange_body(&nonce));
    let callback = World::callback_for(&state);
    let result = block_on(world.client.handle_redirect(&callback));
    let exchanges = world.provider.received(&format!("{ISSUER}/token"));
    assert!(exchanges.len() <= 1);
    if let Some(exchange) = exchanges.first() {
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&exchange.body)
            .into_owned()
            .collect();
        let sent = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        assert_eq!(sent("code_verifier"), field("verifier"));
        assert_eq!(sent("redirect_uri"), field("redirect_uri"));
    }
    match &result {
        Ok(claims) => {
            assert_eq!(claims.subject, "user-1");
            assert_eq!(exchanges.len(), 1);
            assert!(world.storage.load("pending").unwrap().is_none());
            assert!(world.storage.load("session").unwrap().is_some());
            // Used once: the same callback again finds no pending login.
            let again = block_on(world.client.handle_redirect(&callback));
            assert_eq!(
                again.map(|_| ()).unwrap_err().kind(),
                ErrorKind::NoPendingLogin
            );
        }
        Err(e) => {
            let secrets: Vec<String> = [field("verifier"), field("nonce")]
                .into_iter()
                .flatten()
                .filter(|s| s.len() >= 16)
                .collect();
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            assert_not_in_error(e, &secrets);
            assert!(world.storage.load("session").unwrap().is_none());
            match e.kind() {
                ErrorKind::StateMismatch => {
                    assert_eq!(
                        world.storage.load("pending").unwrap().as_deref(),
                        Some(record)
                    );
                    assert!(exchanges.is_empty());
                }
                ErrorKind::Storage | ErrorKind::NoPendingLogin | ErrorKind::InvalidCallback => {
                    assert!(exchanges.is_empty(), "{e:?}");
                }
                ErrorKind::IdToken | ErrorKind::IssuerMismatch => {}
                _ => panic!("unexpected error {e:?}"),
            }
        }
    }
}

#[cfg(feature = "ffi")]
pub use ffi::ffi_callback;

#[cfg(feature = "ffi")]
mod ffi {
    use std::sync::Arc;
    use std::time::{SystemTime, UNIX_EPOCH};

    use keyfob::ffi::{
        HttpHeader, KeyfobClient, KeyfobConfig, KeyfobError, KeyfobHttpRequest, KeyfobHttpResponse,
        KeyfobHttpTransport, KeyfobStorage, StorageFailure, TransportFailure,
    };
    use keyfob::{MemoryStorage, SecureStorage, SessionState};

    use super::super::{
        CLIENT_ID, FIRST_REFRESH_TOKEN, FakeProvider, ISSUER, REDIRECT_URI, block_on,
        good_claims_at, sign_raw, standard_header, stored_pending, text, token_body,
    };

    /// The fake provider as the platform's transport.
    struct PlatformTransport(Arc<FakeProvider>);

    #[async_trait::async_trait]
    impl KeyfobHttpTransport for PlatformTransport {
        async fn send(
            &self,
            request: KeyfobHttpRequest,
        ) -> Result<KeyfobHttpResponse, TransportFailure> {
            let answer = self
                .0
                .answer(&request.url, &request.body, request.max_response_bytes)
                .map_err(|e| TransportFailure::Connect { reason: e.message })?;
            Ok(KeyfobHttpResponse {
                status: answer.status,
                headers: answer
                    .headers
                    .into_iter()
                    .map(|(name, value)| HttpHeader { name, value })
                    .collect(),
                body: answer.body,
            })
        }
    }

    /// A memory store as the platform's storage.
    struct PlatformStorage(Arc<MemoryStorage>);

    fn failed(e: keyfob::StorageError) -> StorageFailure {
        StorageFailure::Failed {
            reason: e.to_string(),
        }
    }

    impl KeyfobStorage for PlatformStorage {
        fn load(&self, key: String) -> Result<Option<Vec<u8>>, StorageFailure> {
            self.0.load(&key).map_err(failed)
        }

        fn save(&self, key: String, value: Vec<u8>) -> Result<(), StorageFailure> {
            self.0.save(&key, &value).map_err(failed)
        }

        fn delete(&self, key: String) -> Result<(), StorageFailure> {
            self.0.delete(&key).map_err(failed)
        }

        fn compare_and_swap(
            &self,
            key: String,
            expected: Option<Vec<u8>>,
            new: Option<Vec<u8>>,
        ) -> Result<bool, StorageFailure> {
            self.0
                .compare_and_swap(&key, expected.as_deref(), new.as_deref())
                .map_err(failed)
        }
    }

    /// The redirect URL handed to `KeyfobClient::handle_redirect` as a string from Swift or
    /// Kotlin (`STATE` → the pending login's `state`), on a client built through the FFI with a
    /// platform transport and storage (the system clock: the ID token is made for now).
    ///
    /// It signs in, or fails with one of the errors a callback can cause, none showing the
    /// verifier or nonce; a callback refused before its `state` matched leaves the stored
    /// pending login as it was; no failure stores a session or serves a token.
    pub fn ffi_callback(data: &[u8]) {
        let provider = Arc::new(FakeProvider::new());
        let storage = Arc::new(MemoryStorage::new());
        let config = KeyfobConfig {
            scopes: vec!["email".into(), "offline_access".into()],
            ..KeyfobConfig::new(ISSUER, CLIENT_ID, REDIRECT_URI)
        };
        let client = KeyfobClient::new(
            config,
            Arc::new(PlatformTransport(provider.clone())),
            Some(Arc::new(PlatformStorage(storage.clone()))),
            None,
            None,
        )
        .expect("a valid configuration");
        block_on(client.begin_login(None, None)).expect("begin_login");
        let pending = stored_pending(&storage).expect("a stored pending login");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let id_token = sign_raw(
            &standard_header(true),
            good_claims_at(now, Some(&pending.nonce))
                .to_string()
                .as_bytes(),
        );
        provider.push_token(200, token_body(Some(&id_token), Some(FIRST_REFRESH_TOKEN)));
        let before = storage.load("pending").unwrap();
        let callback = text(data).replace("STATE", &pending.state);
        match block_on(client.handle_redirect(callback)) {
            Ok(claims) => {
                assert_eq!(claims.subject, "user-1");
                assert_eq!(client.state().unwrap(), SessionState::SignedIn);
                assert!(client.cached_access_token().is_some());
                assert!(storage.load("pending").unwrap().is_none());
                assert!(storage.load("session").unwrap().is_some());
            }
            Err(e) => {
                let shown = format!("{e} {e:?}");
                for secret in [&pending.verifier, &pending.nonce] {
                    assert!(
                        !shown.contains(secret.as_str()),
                        "a secret shows in {shown}"
                    );
                }
                match e {
                    KeyfobError::StateMismatch { .. } => {
                        assert_eq!(storage.load("pending").unwrap(), before);
                        assert_eq!(client.state().unwrap(), SessionState::LoginPending);
                    }
                    KeyfobError::InvalidCallback { .. }
                    | KeyfobError::IssuerMismatch { .. }
                    | KeyfobError::Provider { .. } => {}
                    other => panic!("unexpected error for a callback: {other:?}"),
                }
                assert!(client.cached_access_token().is_none());
                assert!(storage.load("session").unwrap().is_none());
                assert_ne!(client.state().unwrap(), SessionState::SignedIn);
            }
        }
    }
}
