//! `keyfob`: Keyfob's developer command line.
//!
//! - `keyfob login` signs a developer in from a terminal the way RFC 8252 says a native app
//!   should: system browser (or `--browser CMD`), PKCE, loopback redirect on 127.0.0.1 with an
//!   ephemeral port ([`login`], [`loopback`], [`browser`]).
//! - `keyfob status`, `token`, `refresh`, `logout` and `call` use the stored session
//!   ([`commands`], [`store`]).
//! - `keyfob demo` plays the seed scenario end to end on loopback with the real core and the
//!   testkit provider: sign in through an automated browser step with PKCE, call servers A and B,
//!   let the access token expire, refresh, call again, log out ([`demo`]).
//! - `keyfob testkit` runs the testkit provider and servers A and B in the foreground for the
//!   Swift/Kotlin tests and the example apps ([`testkit_cmd`]).
//!
//! Exit status: 0 success, 1 failure, 2 usage error (clap's own code for usage errors), 3 not
//! signed in (or the session needs a new login). Errors are one line on stderr,
//! `error: <Kind>: <message>`. No command prints a token except `keyfob token` (and
//! `keyfob logout --end-session-url`, whose URL carries the ID token as a hint), at any `-v`.

mod browser;
mod commands;
mod demo;
mod dpop_key;
mod failure;
mod logger;
mod login;
mod loopback;
mod shape;
mod store;
mod testkit_cmd;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::browser::BrowserCommand;
use crate::commands::SessionRef;
use crate::failure::Failure;

const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  failure (sign-in failed or timed out, network or provider error, `call` got a
     non-2xx status, a demo step failed, the testkit could not start)
  2  usage error (unknown command or option, invalid value, an http:// issuer or
     URL that is not loopback)
  3  not signed in, or the provider rejected the session: run `keyfob login`";

const SESSION_HELP: &str = "\
Sessions are kept under --store, else $KEYFOB_STORE, else $XDG_STATE_HOME/keyfob,
else ~/.local/state/keyfob (one private directory per issuer and client id, files
mode 0600), never in the current directory.

Exit status:
  0  success
  1  failure (sign-in failed or timed out, network or provider error, `call` got a
     non-2xx status)
  2  usage error (unknown command or option, invalid value, an http:// issuer or
     URL that is not loopback)
  3  not signed in, or the provider rejected the session: run `keyfob login`";

/// Keyfob developer CLI: OpenID Connect sign-in for native apps, from a terminal.
#[derive(Debug, Parser)]
#[command(
    name = "keyfob",
    version,
    after_help = EXIT_STATUS,
    subcommand_required = true,
    arg_required_else_help = true
)]
struct Cli {
    /// Show Keyfob's log on stderr (-v info, -vv debug, -vvv trace); never a token.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in through the browser (RFC 8252: PKCE, loopback redirect on 127.0.0.1) and store
    /// the session; prints who signed in.
    #[command(after_help = SESSION_HELP)]
    Login(LoginArgs),
    /// Show whether a session is stored and whose (no network; exits 0 either way).
    #[command(after_help = SESSION_HELP)]
    Status(StatusArgs),
    /// Print a valid access token and a newline on stdout, refreshing it when needed.
    #[command(after_help = SESSION_HELP)]
    Token(AccountArgs),
    /// Refresh the tokens now with the refresh token (prints no token).
    #[command(after_help = SESSION_HELP)]
    Refresh(AccountArgs),
    /// Revoke the refresh token and remove the stored session (exits 0 even if revocation
    /// failed, with a warning).
    #[command(after_help = SESSION_HELP)]
    Logout(LogoutArgs),
    /// GET a URL with the access token (`Authorization: Bearer`, or `DPoP` with a proof for a
    /// DPoP-bound session) and print the response body.
    #[command(after_help = SESSION_HELP)]
    Call(CallArgs),
    /// List the signed-in accounts; `*` marks the active one (no network; exits 0 either way).
    #[command(after_help = SESSION_HELP)]
    Accounts(AccountsArgs),
    /// Make the account of user SUB (the ID token's `sub`) the active one.
    #[command(after_help = SESSION_HELP)]
    Use(UseArgs),
    /// Play the seed scenario on loopback: sign in with PKCE, call servers A and B, expire,
    /// refresh, log out, printing each step (token shapes only, never a token).
    #[command(after_help = EXIT_STATUS)]
    Demo(DemoArgs),
    /// Run the test provider and servers A (crm) and B (orders) until Ctrl-C or SIGTERM,
    /// printing their URLs as one JSON line: {"issuer","crm","orders","client_id"}.
    #[command(after_help = EXIT_STATUS)]
    Testkit(TestkitArgs),
}

/// Which session: issuer, client id and store.
#[derive(Debug, Args)]
struct SessionArgs {
    /// The provider's issuer, exactly as its discovery document spells it (https; plain http
    /// only on 127.0.0.1, [::1] and localhost).
    #[arg(long, env = "KEYFOB_ISSUER", value_name = "URL")]
    issuer: String,
    /// The client id registered with the provider (a public client, no secret).
    #[arg(long, env = "KEYFOB_CLIENT_ID", value_name = "ID")]
    client_id: String,
    /// Where sessions are kept [default: $XDG_STATE_HOME/keyfob, else ~/.local/state/keyfob].
    #[arg(long, env = "KEYFOB_STORE", value_name = "DIR")]
    store: Option<PathBuf>,
    /// The timeout of each request to the provider, in seconds. A refresh holds its lease
    /// (other processes wait for it) at most twice this long plus 5 s.
    #[arg(long, value_name = "SECS", default_value_t = commands::NETWORK_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=120))]
    http_timeout: u64,
    /// The provider's metadata (discovery and keys) is kept beside the session and used for at
    /// most this many seconds before it is asked for again; less when its caching headers say
    /// so [default: 86400, a day; at most 604800].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    metadata_max_age: Option<u64>,
    /// ... and for at least this many seconds, whatever its caching headers say (max-age=0,
    /// no-cache, no-store) [default: 60].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    metadata_min_age: Option<u64>,
}

impl SessionArgs {
    fn session(&self) -> SessionRef {
        SessionRef {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            store: self.store.clone(),
            http_timeout: Duration::from_secs(self.http_timeout),
            metadata_ages: self.metadata_ages(),
        }
    }

    fn metadata_ages(&self) -> commands::MetadataAges {
        commands::MetadataAges {
            max: self.metadata_max_age.map(Duration::from_secs),
            min: self.metadata_min_age.map(Duration::from_secs),
        }
    }
}

/// A session command that works on one account: the active one unless `--account` names
/// another.
#[derive(Debug, Args)]
struct AccountArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// The account of user SUB (the ID token's `sub`; see `keyfob accounts`) instead of the
    /// active one.
    #[arg(long, value_name = "SUB")]
    account: Option<String>,
}

#[derive(Debug, Args)]
struct AccountsArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Print a JSON array, one object per account: {"sub", "email", "name", "active"}.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct UseArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// The user's `sub`, as `keyfob accounts` lists it.
    #[arg(value_name = "SUB")]
    subject: String,
}

#[derive(Debug, Args)]
struct LoginArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// A scope to request besides `openid` (repeat the option, or separate scopes with
    /// spaces), e.g. `--scope email --scope offline_access`.
    #[arg(long = "scope", value_name = "S")]
    scopes: Vec<String>,
    /// The command that opens the authorization URL instead of the system browser (xdg-open,
    /// open). Split into words like a shell would, without expansions; the URL is appended as
    /// one more argument and the command is started directly (no shell), without waiting.
    #[arg(long, value_name = "CMD", value_parser = BrowserCommand::parse)]
    browser: Option<BrowserCommand>,
    /// How long to wait for the browser to come back to the loopback redirect, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
    /// Keep only this user's session: the other accounts are signed out (their refresh tokens
    /// revoked). By default the user who signs in is added (or their session replaced) and made
    /// the active account, and the others stay.
    #[arg(long)]
    single_account: bool,
    /// Who is signing in (`login_hint`): prefills the provider's login page.
    #[arg(long, value_name = "USER")]
    login_hint: Option<String>,
    /// Bind the session to a DPoP key (RFC 9449) when the provider supports DPoP: a software
    /// P-256 key kept in the store, made at the first such login. Tokens then work only with
    /// proofs made with that key (`keyfob call` sends them).
    #[arg(long)]
    dpop: bool,
    /// Push the authorization request (RFC 9126) when the provider offers it (always done when
    /// the provider requires it).
    #[arg(long)]
    par: bool,
}

#[derive(Debug, Args)]
struct StatusArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Print one JSON object: {"signed_in", "issuer", "client_id"} and, when signed in,
    /// "sub", "email", "name", "expires_at" (Unix seconds), "expires_in", "scopes",
    /// "refresh_token" (bool), "token_type" ("Bearer" or "DPoP"), "store".
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct LogoutArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Sign out of the account of user SUB instead of the active one.
    #[arg(long, value_name = "SUB")]
    account: Option<String>,
    /// Print the provider's end-session URL (RP-initiated logout) on stdout, to open in the
    /// browser. It carries the ID token as `id_token_hint`.
    #[arg(long)]
    end_session_url: bool,
}

#[derive(Debug, Args)]
struct CallArgs {
    #[command(flatten)]
    session: SessionArgs,
    /// Call as the account of user SUB instead of the active one.
    #[arg(long, value_name = "SUB")]
    account: Option<String>,
    /// The URL to GET (https; plain http only on 127.0.0.1, [::1] and localhost).
    #[arg(value_name = "URL")]
    url: String,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Lifetime of the access tokens the testkit issues, in seconds; the demo waits this long
    /// (at most) for the token to expire.
    #[arg(long, value_name = "SECS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(2..=300))]
    access_token_ttl: u64,
    /// Print one JSON object per step instead of text:
    /// {"step":N,"name":…,"ok":true,"ms":…,"details":{…}}.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TestkitArgs {
    /// Address to bind (0.0.0.0 to serve an Android emulator or another machine).
    #[arg(long, value_name = "IP", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Provider port; servers A and B listen on PORT+1 and PORT+2. 0 picks ephemeral ports.
    #[arg(long, value_name = "N", default_value_t = 0)]
    port: u16,
    /// Host name or address put in the issuer and URLs (default: the bound address); the
    /// Android emulator reaches the host as 10.0.2.2: `--host 0.0.0.0 --public-host 10.0.2.2`.
    #[arg(long, value_name = "H")]
    public_host: Option<String>,
    /// Lifetime of the access tokens, in seconds.
    #[arg(long, value_name = "S", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    access_token_ttl: u64,
    /// Start with these misbehaviours switched on: a JSON Faults object (as POSTed to
    /// /__testkit/faults) or @FILE, e.g. '{"id_token_signing":"alg_none"}' or
    /// '{"endpoints":[{"path":"/token","status":429,"headers":[["Retry-After","30"]]}]}'.
    #[arg(long, value_name = "JSON|@FILE", value_parser = keyfob_testkit::Faults::from_arg)]
    faults: Option<keyfob_testkit::Faults>,
}

impl TestkitArgs {
    fn options(self) -> keyfob_testkit::Options {
        keyfob_testkit::Options {
            host: self.host,
            port: self.port,
            public_host: self.public_host,
            access_token_ttl: self.access_token_ttl,
            ..Default::default()
        }
    }
}

fn main() -> ExitCode {
    // Usage errors exit with 2; --help and --version with 0.
    let cli = Cli::parse();
    logger::init(cli.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("keyfob: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = match cli.command {
        Command::Demo(args) => return runtime.block_on(run_demo(args)),
        Command::Testkit(args) => {
            let faults = args.faults.clone().unwrap_or_default();
            return runtime.block_on(testkit_cmd::run(args.options(), faults));
        }
        Command::Login(args) => runtime.block_on(run_login(args)),
        Command::Status(args) => commands::status(&args.session.session(), args.json),
        Command::Token(args) => runtime.block_on(commands::token(
            &args.session.session(),
            args.account.as_deref(),
        )),
        Command::Refresh(args) => runtime.block_on(commands::refresh(
            &args.session.session(),
            args.account.as_deref(),
        )),
        Command::Logout(args) => runtime.block_on(commands::logout(
            &args.session.session(),
            args.account.as_deref(),
            args.end_session_url,
        )),
        Command::Call(args) => runtime.block_on(commands::call(
            &args.session.session(),
            &args.url,
            args.account.as_deref(),
        )),
        Command::Accounts(args) => commands::accounts(&args.session.session(), args.json),
        Command::Use(args) => commands::use_account(&args.session.session(), &args.subject),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

/// Signs in and prints who did.
async fn run_login(args: LoginArgs) -> Result<(), Failure> {
    let store_root = store::root_from_env(args.session.store.as_deref())?;
    let metadata_ages = args.session.metadata_ages();
    let opts = login::LoginOptions {
        issuer: args.session.issuer,
        client_id: args.session.client_id,
        scopes: split_scopes(&args.scopes),
        browser: args.browser.unwrap_or_else(BrowserCommand::system),
        store_root,
        timeout: Duration::from_secs(args.timeout),
        single_account: args.single_account,
        login_hint: args.login_hint,
        http_timeout: Duration::from_secs(args.session.http_timeout),
        metadata_ages,
        dpop: args.dpop,
        par: args.par,
    };
    let signed_in = login::run(&opts).await?;
    eprintln!("Session stored in {}", signed_in.store_dir.display());
    if signed_in.dpop_jkt.is_some() {
        eprintln!("The tokens are bound to the store's DPoP key.");
    } else if opts.dpop {
        eprintln!(
            "warning: the provider does not support DPoP with ES256; the tokens are Bearer tokens"
        );
    }
    for subject in &signed_in.replaced {
        eprintln!(
            "The previous user (sub {subject}) was signed out and its refresh token revoked."
        );
    }
    commands::print_stdout(&format!(
        "Signed in to {} as {}\n",
        opts.issuer,
        login::display_user(&signed_in.claims)
    ))
}

/// The scopes of `--scope S`, each value possibly holding several separated by spaces.
fn split_scopes(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(str::to_owned)
        .collect()
}

/// Runs the demo, printing each step as it ends; exit status 0 only if every step passed.
async fn run_demo(args: DemoArgs) -> ExitCode {
    let opts = demo::DemoOptions {
        access_token_ttl: args.access_token_ttl,
    };
    let report = demo::run(&opts, |step| {
        if args.json {
            println!("{}", step.json_line());
        } else if step.ok {
            println!("{}", step.human_line());
        }
    })
    .await;
    if let Some(failed) = report.failure() {
        eprintln!(
            "step {} failed: {}",
            failed.step,
            failed.error.as_deref().unwrap_or("unknown reason")
        );
        return ExitCode::FAILURE;
    }
    if !report.ok() {
        eprintln!("the demo stopped before its last step");
        return ExitCode::FAILURE;
    }
    if !args.json {
        println!(
            "demo ok: {} steps in {} ms",
            demo::LAST_STEP,
            report.total_ms()
        );
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_demo_and_testkit() {
        let cli =
            Cli::try_parse_from(["keyfob", "demo", "--json", "--access-token-ttl", "3"]).unwrap();
        let Command::Demo(args) = cli.command else {
            panic!("demo expected")
        };
        assert!(args.json);
        assert_eq!(args.access_token_ttl, 3);

        let cli = Cli::try_parse_from([
            "keyfob",
            "testkit",
            "--host",
            "0.0.0.0",
            "--public-host",
            "10.0.2.2",
            "--port",
            "9000",
        ])
        .unwrap();
        let Command::Testkit(args) = cli.command else {
            panic!("testkit expected")
        };
        assert!(args.faults.is_none());
        let opts = args.options();
        assert_eq!(opts.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(opts.public_host.as_deref(), Some("10.0.2.2"));
        assert_eq!((opts.port, opts.access_token_ttl), (9000, 300));
    }

    #[test]
    fn testkit_takes_faults() {
        let cli = Cli::try_parse_from([
            "keyfob",
            "testkit",
            "--faults",
            r#"{"id_token_signing":"alg_none","callback_in_fragment":true}"#,
        ])
        .unwrap();
        let Command::Testkit(args) = cli.command else {
            panic!("testkit expected")
        };
        let faults = args.faults.unwrap();
        assert_eq!(
            faults.id_token_signing,
            Some(keyfob_testkit::Signing::AlgNone)
        );
        assert!(faults.callback_in_fragment);
        let e = Cli::try_parse_from(["keyfob", "testkit", "--faults", "{nope"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
    }

    #[test]
    fn parses_login_and_the_session_commands() {
        let cli = Cli::try_parse_from([
            "keyfob",
            "-vv",
            "login",
            "--issuer",
            "https://auth.company.com",
            "--client-id",
            "app",
            "--scope",
            "email",
            "--scope",
            "offline_access profile",
            "--browser",
            "'/opt/My Browser/run' --new-window",
            "--store",
            "/tmp/sessions",
        ])
        .unwrap();
        assert_eq!(cli.verbose, 2);
        let Command::Login(args) = cli.command else {
            panic!("login expected")
        };
        assert_eq!(args.session.issuer, "https://auth.company.com");
        assert_eq!(args.session.client_id, "app");
        assert_eq!(
            args.session.store.as_deref(),
            Some(std::path::Path::new("/tmp/sessions"))
        );
        assert_eq!(
            split_scopes(&args.scopes),
            ["email", "offline_access", "profile"]
        );
        let browser = args.browser.unwrap();
        assert_eq!(
            browser.argv_for("URL"),
            ["/opt/My Browser/run", "--new-window", "URL"]
        );
        assert_eq!(args.timeout, 300);

        let cli = Cli::try_parse_from([
            "keyfob",
            "logout",
            "--issuer",
            "https://a",
            "--client-id",
            "c",
            "--end-session-url",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Logout(LogoutArgs {
                end_session_url: true,
                ..
            })
        ));
        let cli = Cli::try_parse_from([
            "keyfob",
            "call",
            "--issuer",
            "https://a",
            "--client-id",
            "c",
            "https://api/x",
        ])
        .unwrap();
        assert!(
            matches!(cli.command, Command::Call(CallArgs { ref url, .. }) if url == "https://api/x")
        );
        let cli = Cli::try_parse_from([
            "keyfob",
            "status",
            "--json",
            "--issuer",
            "https://a",
            "--client-id",
            "c",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Command::Status(StatusArgs { json: true, .. })
        ));
    }

    #[test]
    fn usage_errors_exit_with_2() {
        for args in [
            &["keyfob", "demo", "--access-token-ttl", "1"][..],
            &["keyfob", "demo", "--nope"],
            &["keyfob", "login"],
            &["keyfob", "testkit", "--host", "not-an-ip"],
            &[
                "keyfob",
                "login",
                "--issuer",
                "https://a",
                "--client-id",
                "c",
                "--browser",
                "open $URL",
            ],
            &[
                "keyfob",
                "login",
                "--issuer",
                "https://a",
                "--client-id",
                "c",
                "--browser",
                "'unterminated",
            ],
            &[
                "keyfob",
                "login",
                "--issuer",
                "https://a",
                "--client-id",
                "c",
                "--timeout",
                "0",
            ],
            &[
                "keyfob",
                "call",
                "--issuer",
                "https://a",
                "--client-id",
                "c",
            ],
            &[
                "keyfob",
                "token",
                "--issuer",
                "https://a",
                "--client-id",
                "c",
                "extra",
            ],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
        let help = Cli::try_parse_from(["keyfob", "demo", "--help"]).unwrap_err();
        assert_eq!(help.exit_code(), 0);
        assert!(help.to_string().contains("2  usage error"));
    }
}
