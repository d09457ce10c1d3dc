//! `keyfob`: Keyfob's developer command line.
//!
//! - `keyfob demo` plays the seed scenario end to end on loopback with the real core and the
//!   testkit provider: sign in through an automated browser step with PKCE, call servers A and B,
//!   let the access token expire, refresh, call again, log out ([`demo`]).
//! - `keyfob testkit` runs the testkit provider and servers A and B in the foreground for the
//!   Swift/Kotlin tests and the example apps ([`testkit_cmd`]).
//!
//! Exit status: 0 success, 1 failure, 2 usage error (clap's own code for usage errors).

mod demo;
mod shape;
mod testkit_cmd;

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  failure (a demo step failed, the testkit could not start)
  2  usage error (unknown command or option, invalid value)";

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
    #[command(subcommand)]
    command: Command,
}

/// The commands. `login`, `status`, `token`, `refresh`, `logout` and `call` come next: they need
/// a persistent session, i.e. the session store being added to the core.
#[derive(Debug, Subcommand)]
enum Command {
    /// Play the seed scenario on loopback: sign in with PKCE, call servers A and B, expire,
    /// refresh, log out, printing each step (token shapes only, never a token).
    #[command(after_help = EXIT_STATUS)]
    Demo(DemoArgs),
    /// Run the test provider and servers A (crm) and B (orders) until Ctrl-C or SIGTERM,
    /// printing their URLs as one JSON line: {"issuer","crm","orders","client_id"}.
    #[command(after_help = EXIT_STATUS)]
    Testkit(TestkitArgs),
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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("keyfob: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Demo(args) => runtime.block_on(run_demo(args)),
        Command::Testkit(args) => runtime.block_on(testkit_cmd::run(args.options())),
    }
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
        let opts = args.options();
        assert_eq!(opts.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(opts.public_host.as_deref(), Some("10.0.2.2"));
        assert_eq!((opts.port, opts.access_token_ttl), (9000, 300));
    }

    #[test]
    fn usage_errors_exit_with_2() {
        for args in [
            &["keyfob", "demo", "--access-token-ttl", "1"][..],
            &["keyfob", "demo", "--nope"],
            &["keyfob", "login"],
            &["keyfob", "testkit", "--host", "not-an-ip"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
        let help = Cli::try_parse_from(["keyfob", "demo", "--help"]).unwrap_err();
        assert_eq!(help.exit_code(), 0);
        assert!(help.to_string().contains("2  usage error"));
    }
}
