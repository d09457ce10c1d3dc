//! `keyfob testkit`: the test provider and servers A and B in the foreground.
//!
//! For the Swift and Kotlin tests and the example apps: once the servers listen, one JSON line
//! `{"issuer":…,"crm":…,"orders":…,"client_id":…}` goes to stdout; the servers then run until
//! Ctrl-C (SIGINT) or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

use keyfob_testkit::{Faults, Options, Testkit};

/// Starts the testkit with `opts` and `faults` switched on, prints its URLs, and serves until
/// told to stop.
pub async fn run(opts: Options, faults: Faults) -> ExitCode {
    let kit = match Testkit::start(opts).await {
        Ok(kit) => kit,
        Err(e) => {
            eprintln!("keyfob testkit: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    kit.set_faults(faults);
    let line = kit.ready_line();
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("keyfob testkit: cannot write to stdout");
        return ExitCode::FAILURE;
    }
    drop(stdout);

    keyfob_testkit::interrupted_or_terminated().await;
    kit.shutdown().await;
    ExitCode::SUCCESS
}
