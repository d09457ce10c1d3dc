//! `keyfob-testkit`: runs the test provider and resource servers A and B for
//! tests and demos in other languages.
//!
//! On start it prints one JSON line, `{"issuer":…,"crm":…,"orders":…,"client_id":…}`,
//! then serves until SIGINT or SIGTERM, or until stdin reaches end of file when
//! `--exit-on-stdin-eof` is given. Tests steer it through the `/__testkit/*`
//! endpoints of the provider.

use std::io::Write as _;
use std::process::ExitCode;

use keyfob_testkit::{Faults, Options, Testkit};

const USAGE: &str = "\
Usage: keyfob-testkit [OPTIONS]

Runs a test OpenID provider and two resource servers (crm, orders) on loopback.
Prints one JSON line {\"issuer\",\"crm\",\"orders\",\"client_id\"} when ready, then
serves until SIGINT/SIGTERM.

Options:
  --host IP                 address to bind [default: 127.0.0.1]
  --port N                  provider port; crm and orders use N+1 and N+2
                            [default: 0 = ephemeral ports for all three]
  --public-host HOST        host name used in the issuer and URLs (e.g. 10.0.2.2)
                            [default: the bound address]
  --client-id ID            the registered client [default: keyfob-demo]
  --redirect-uri URI        a registered redirect URI; repeat for more; replaces
                            the defaults (myapp://callback, com.example.app:/callback,
                            http://127.0.0.1/callback)
  --access-token-ttl S      access token lifetime in seconds [default: 300]
  --id-token-ttl S          ID token lifetime in seconds [default: 300]
  --refresh-token-ttl S     refresh token lifetime in seconds [default: 86400]
  --code-ttl S              authorization code lifetime in seconds [default: 60]
  --id-token-alg ALG        RS256, ES256 or PS256 [default: RS256]
  --faults JSON|@FILE       start with these faults (a Faults object, as POSTed to
                            /__testkit/faults), e.g. '{\"id_token_signing\":\"alg_none\"}',
                            '{\"callback\":{\"iss\":\"https://evil.example\"}}',
                            '{\"endpoints\":[{\"path\":\"/token\",\"status\":429,
                            \"headers\":[[\"Retry-After\",\"30\"]]}]}'
  --require-dpop            /token refuses requests without a DPoP proof (RFC 9449)
  --require-par             only pushed authorization requests are accepted (RFC 9126)
  --dpop-nonce              the provider and servers A and B demand DPoP nonces
  --exit-on-stdin-eof       also exit when stdin reaches end of file
  -h, --help                print this help
  -V, --version             print the version

Control endpoints on the provider (JSON):
  GET /__testkit/stats, POST /__testkit/reset-stats,
  POST|DELETE /__testkit/faults, POST /__testkit/rotate-keys {\"keep_old\":bool},
  POST /__testkit/advance-clock {\"seconds\":N},
  GET|POST /__testkit/policy {\"require_dpop\",\"require_par\",\"dpop_nonce\"},
  POST /__testkit/rotate-dpop-nonces
";

/// What the command line asks for.
enum Command {
    Run {
        opts: Box<Options>,
        faults: Box<Faults>,
        exit_on_stdin_eof: bool,
    },
    Help,
    Version,
}

#[tokio::main]
async fn main() -> ExitCode {
    let (opts, faults, exit_on_stdin_eof) = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run {
            opts,
            faults,
            exit_on_stdin_eof,
        }) => (*opts, *faults, exit_on_stdin_eof),
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("keyfob-testkit {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("keyfob-testkit: {message}\nTry 'keyfob-testkit --help'.");
            return ExitCode::from(2);
        }
    };
    let testkit = match Testkit::start(opts).await {
        Ok(testkit) => testkit,
        Err(error) => {
            eprintln!("keyfob-testkit: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    testkit.set_faults(faults);
    let line = testkit.ready_line();
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);

    wait_for_exit(exit_on_stdin_eof).await;
    testkit.shutdown().await;
    ExitCode::SUCCESS
}

/// Parses the arguments after the program name.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut opts = Options::default();
    let mut faults = Faults::default();
    let mut exit_on_stdin_eof = false;
    let mut custom_redirects = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--name value` and `--name=value`.
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--host" => opts.host = parse(&name, &value()?)?,
            "--port" => opts.port = parse(&name, &value()?)?,
            "--public-host" => opts.public_host = Some(value()?),
            "--client-id" => opts.client_id = value()?,
            "--redirect-uri" => {
                if !custom_redirects {
                    opts.redirect_uris.clear();
                    custom_redirects = true;
                }
                opts.redirect_uris.push(value()?);
            }
            "--access-token-ttl" => opts.access_token_ttl = parse(&name, &value()?)?,
            "--id-token-ttl" => opts.id_token_ttl = parse(&name, &value()?)?,
            "--refresh-token-ttl" => opts.refresh_token_ttl = parse(&name, &value()?)?,
            "--code-ttl" => opts.code_ttl = parse(&name, &value()?)?,
            "--id-token-alg" => opts.id_token_alg = value()?.parse()?,
            "--faults" => faults = Faults::from_arg(&value()?)?,
            "--require-dpop" => opts.policy.require_dpop = true,
            "--require-par" => opts.policy.require_par = true,
            "--dpop-nonce" => opts.policy.dpop_nonce = true,
            "--exit-on-stdin-eof" => exit_on_stdin_eof = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Run {
        opts: Box::new(opts),
        faults: Box::new(faults),
        exit_on_stdin_eof,
    })
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("invalid value {value:?} for {name}"))
}

/// Waits for SIGINT, SIGTERM or (if asked) the end of stdin.
async fn wait_for_exit(exit_on_stdin_eof: bool) {
    if !exit_on_stdin_eof {
        return keyfob_testkit::interrupted_or_terminated().await;
    }
    tokio::select! {
        () = keyfob_testkit::interrupted_or_terminated() => {}
        () = drain_stdin() => {}
    }
}

/// Reads stdin until end of file (or a read error).
async fn drain_stdin() {
    use tokio::io::AsyncReadExt as _;
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0u8; 1024];
    while matches!(stdin.read(&mut buffer).await, Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (Options, bool) {
        let (opts, _, eof) = run_with_faults(args);
        (opts, eof)
    }

    fn run_with_faults(args: &[&str]) -> (Options, Faults, bool) {
        match parse_args(args.iter().map(|arg| arg.to_string())) {
            Ok(Command::Run {
                opts,
                faults,
                exit_on_stdin_eof,
            }) => (*opts, *faults, exit_on_stdin_eof),
            _ => panic!("expected a run command"),
        }
    }

    #[test]
    fn parses_faults() {
        let (_, faults, _) = run_with_faults(&[
            "--faults",
            r#"{"id_token_signing":"alg_none","callback_append":[["state","x"]]}"#,
        ]);
        assert_eq!(
            faults.id_token_signing,
            Some(keyfob_testkit::Signing::AlgNone)
        );
        assert_eq!(faults.callback_append, vec![("state".into(), "x".into())]);
        let (_, faults, _) = run_with_faults(&[]);
        assert_eq!(faults, Faults::default());
        assert!(parse_args(["--faults".to_owned(), "{nope".to_owned()]).is_err());
        assert!(parse_args(["--faults=@/nonexistent/faults.json".to_owned()]).is_err());
    }

    #[test]
    fn parses_options() {
        let (opts, eof) = run(&[
            "--port=9000",
            "--public-host",
            "10.0.2.2",
            "--redirect-uri",
            "a://b",
            "--redirect-uri",
            "c://d",
            "--id-token-alg",
            "es256",
            "--exit-on-stdin-eof",
            "--require-par",
            "--dpop-nonce",
        ]);
        assert_eq!(opts.port, 9000);
        assert!(opts.policy.require_par && opts.policy.dpop_nonce && !opts.policy.require_dpop);
        assert_eq!(opts.public_host.as_deref(), Some("10.0.2.2"));
        assert_eq!(opts.redirect_uris, vec!["a://b", "c://d"]);
        assert_eq!(opts.id_token_alg, keyfob_testkit::SigningAlg::Es256);
        assert!(eof);
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse_args(["--port".to_owned()]).is_err());
        assert!(parse_args(["--port".to_owned(), "x".to_owned()]).is_err());
        assert!(parse_args(["--nope".to_owned()]).is_err());
        assert!(matches!(
            parse_args(["--help".to_owned()]),
            Ok(Command::Help)
        ));
    }
}
