//! `keyfob exchange`: the signed-in user's identity traded for an access token of another
//! authorization server (RFC 8693 token exchange, seed 003). Only the new access token goes to
//! stdout; the core keeps it (and the refresh token that server issued) beside the session.

use keyfob::{ErrorKind, Subject, TokenExchange};

use crate::commands::{self, SessionRef};
use crate::failure::{EXIT_NOT_SIGNED_IN, EXIT_USAGE, Failure};

/// What to exchange, and with whom.
#[derive(Debug, Clone)]
pub struct ExchangeOptions {
    /// The other server's issuer.
    pub to: String,
    /// This app's client id there.
    pub client_id: String,
    /// `audience` values.
    pub audience: Vec<String>,
    /// `resource` values.
    pub resource: Vec<String>,
    /// `scope` values.
    pub scope: Vec<String>,
    /// Send the access token instead of the ID token.
    pub access_token_subject: bool,
    /// `requested_token_type`.
    pub requested_token_type: Option<String>,
}

/// `keyfob exchange --to ISSUER --client-id ID …`: exchanges the active account's ID token (or
/// access token) and prints the new access token. Exit status 3 when the server rejects the
/// subject (`invalid_grant`) or nobody is signed in; 2 for an unusable `--to`.
pub async fn run(session: &SessionRef, opts: &ExchangeOptions) -> Result<(), Failure> {
    let s = commands::open_signed_in(session)?;
    let mut request = TokenExchange::new(&opts.to, &opts.client_id);
    if opts.access_token_subject {
        request.subject = Subject::AccessToken;
    }
    request.audience = opts.audience.clone();
    request.resource = opts.resource.clone();
    request.scope = opts.scope.clone();
    request.requested_token_type = opts.requested_token_type.clone();
    let exchanged = s.client.exchange(&request).await.map_err(failure)?;
    commands::print_stdout(&format!("{}\n", exchanged.access_token().expose()))
}

/// The failure of an exchange: a rejected subject means "sign in again" (exit 3), an unusable
/// `--to` a usage error (exit 2).
fn failure(e: keyfob::Error) -> Failure {
    let rejected = e.provider_error() == Some("invalid_grant");
    let usage = matches!(e.kind(), ErrorKind::Config | ErrorKind::InsecureUrl);
    let mut failure = Failure::from(e);
    if rejected {
        failure.exit = EXIT_NOT_SIGNED_IN;
        failure.message.push_str(
            "; the server did not accept the session's identity: run `keyfob login` again",
        );
    } else if usage {
        failure.exit = EXIT_USAGE;
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_issuer_is_a_usage_error() {
        let rejected = keyfob::Config::builder("http://evil.example", "c", "myapp://cb")
            .build()
            .unwrap_err();
        assert_eq!(failure(rejected).exit, EXIT_USAGE);
    }
}
