//! `keyfob testkit`: the test provider and servers A and B in the foreground.
//!
//! For the Swift and Kotlin tests and the example apps: once the servers listen, one JSON line
//! `{"issuer":…,"crm":…,"orders":…,"client_id":…}` goes to stdout; the servers then run until
//! Ctrl-C (SIGINT) or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

use keyfob_testkit::{Faults, Options, Testkit, Urls};
use serde::Serialize;

/// The line printed once the servers listen.
#[derive(Serialize)]
struct Ready<'a> {
    #[serde(flatten)]
    urls: &'a Urls,
    client_id: &'a str,
}

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
    let ready = Ready {
        urls: kit.urls(),
        client_id: kit.client_id(),
    };
    let line = serde_json::to_string(&ready).expect("URLs serialise");
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("keyfob testkit: cannot write to stdout");
        return ExitCode::FAILURE;
    }
    drop(stdout);

    wait_for_signal().await;
    kit.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn wait_for_signal() {
    let terminate = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut sigterm) = signal(SignalKind::terminate()) {
                sigterm.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
