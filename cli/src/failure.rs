//! Why a command failed, and the exit status that says so.
//!
//! Every failure is printed as one line on stderr, `error: <Kind>: <message>`, where `<Kind>` is
//! the core's stable [`keyfob::ErrorKind`] name (`StateMismatch`, `Network`, …) or one of the
//! CLI's own kinds (`Browser`, `Timeout`, `Store`, `Output`). Messages never contain a token:
//! the core's messages never do, and the CLI's name what was wrong, never a secret.

use std::fmt;
use std::process::ExitCode;

use keyfob::ErrorKind;

/// Exit status of a failure (network, provider, sign-in, storage, HTTP status of `call`).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status of a usage error (clap's own code, also used for an invalid issuer or URL).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when there is no session, or the provider rejected it: run `keyfob login`.
pub const EXIT_NOT_SIGNED_IN: u8 = 3;

/// A failed command: what kind of failure, a message for the developer, and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The stable kind, e.g. `StateMismatch` or `Browser`.
    pub kind: String,
    /// What went wrong, without secrets.
    pub message: String,
    /// The process exit status.
    pub exit: u8,
}

impl Failure {
    /// A failure of the CLI's own `kind` with exit status 1.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Failure {
            kind: kind.to_owned(),
            message: message.into(),
            exit: EXIT_FAILURE,
        }
    }

    /// A core error met while validating the command line (e.g. an `http://` issuer that is not
    /// loopback): exit status 2.
    pub fn usage(error: keyfob::Error) -> Self {
        Failure {
            exit: EXIT_USAGE,
            ..Failure::from(error)
        }
    }

    /// A usage error of the CLI's own `kind`: exit status 2.
    pub fn usage_kind(kind: &str, message: impl Into<String>) -> Self {
        Failure {
            exit: EXIT_USAGE,
            ..Failure::new(kind, message)
        }
    }

    /// "Not signed in" for a store that holds no session.
    pub fn not_signed_in(issuer: &str, client_id: &str) -> Self {
        Failure {
            kind: format!("{:?}", ErrorKind::NotSignedIn),
            message: format!("not signed in to {issuer} as client {client_id}; run `keyfob login`"),
            exit: EXIT_NOT_SIGNED_IN,
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit)
    }
}

impl From<keyfob::Error> for Failure {
    fn from(e: keyfob::Error) -> Self {
        let exit = match e.kind() {
            ErrorKind::NotSignedIn | ErrorKind::ReLoginRequired => EXIT_NOT_SIGNED_IN,
            _ => EXIT_FAILURE,
        };
        let mut message = e.message().to_owned();
        if let Some(check) = e.id_token_check() {
            message.push_str(&format!(" (ID token check: {check:?})"));
        }
        if e.kind() == ErrorKind::NotSignedIn {
            message.push_str("; run `keyfob login`");
        } else if e.kind() == ErrorKind::ReLoginRequired {
            message.push_str("; run `keyfob login` again");
        }
        Failure {
            kind: format!("{:?}", e.kind()),
            message,
            exit,
        }
    }
}

impl From<keyfob::StorageError> for Failure {
    fn from(e: keyfob::StorageError) -> Self {
        Failure::from(keyfob::Error::from(e))
    }
}

impl fmt::Display for Failure {
    /// `<Kind>: <message>` (the caller prefixes `error: `).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyfob::Config;

    #[test]
    fn core_errors_keep_their_kind_and_choose_the_exit_status() {
        let insecure = Config::builder("http://auth.example.com", "app", "myapp://cb")
            .build()
            .unwrap_err();
        let failure = Failure::usage(insecure);
        assert_eq!((failure.kind.as_str(), failure.exit), ("InsecureUrl", 2));
        assert!(
            failure
                .to_string()
                .starts_with("InsecureUrl: issuer must use https")
        );

        let signed_out = Failure::not_signed_in("https://a.example", "app");
        assert_eq!(
            (signed_out.kind.as_str(), signed_out.exit),
            ("NotSignedIn", 3)
        );
        assert_eq!(Failure::new("Browser", "x").exit, 1);
    }
}
