//! `-v`: Keyfob's own log records on stderr.
//!
//! Only records from Keyfob's crates (the core and the CLI, targets `keyfob…`) are shown: the
//! core's records name endpoints and statuses and never a secret, while those of the HTTP and
//! TLS libraries underneath are not written with that rule in mind.

use log::{LevelFilter, Log, Metadata, Record};

/// Writes Keyfob's records at or above a level to stderr.
struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level && is_keyfob_target(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "[{} {}] {}",
                record.level().as_str().to_ascii_lowercase(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Whether `target` belongs to Keyfob's crates (`keyfob`, `keyfob::…`, `keyfob_cli…`).
fn is_keyfob_target(target: &str) -> bool {
    target == "keyfob" || target.starts_with("keyfob::") || target.starts_with("keyfob_")
}

/// The level for `-v` repeated `count` times: none, info, debug, then trace.
pub fn level_for(count: u8) -> LevelFilter {
    match count {
        0 => LevelFilter::Warn,
        1 => LevelFilter::Info,
        2 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Installs the logger. Without `-v` only warnings are shown.
pub fn init(verbose: u8) {
    let level = level_for(verbose);
    // Installed once per process, for its whole life.
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// The level of a record as the logger shows it (for tests).
#[cfg(test)]
fn shown(level: log::Level, verbose: u8, target: &str) -> bool {
    StderrLogger {
        level: level_for(verbose),
    }
    .enabled(&Metadata::builder().level(level).target(target).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    #[test]
    fn only_keyfob_records_at_the_chosen_level() {
        assert!(shown(Level::Warn, 0, "keyfob::client"));
        assert!(!shown(Level::Info, 0, "keyfob::client"));
        assert!(shown(Level::Debug, 2, "keyfob::http"));
        assert!(shown(Level::Trace, 3, "keyfob"));
        assert!(!shown(Level::Warn, 3, "reqwest::connect"));
        assert!(!shown(Level::Warn, 3, "rustls::client"));
        assert!(!shown(Level::Warn, 3, "keyfobber"));
        assert!(shown(Level::Info, 1, "keyfob_cli"));
    }
}
