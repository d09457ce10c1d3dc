//! Time, injectable so expiry can be tested without sleeping.

#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in whole seconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> i64;
}

/// The device's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            // A clock set before 1970 is broken; report the epoch rather than panic.
            Err(_) => 0,
        }
    }
}

/// A clock that only moves when told to: for tests, fuzzing and benchmarks (feature `testing`).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock stopped at `now` (seconds since the epoch).
    pub fn new(now: i64) -> Self {
        ManualClock(AtomicI64::new(now))
    }

    /// A clock stopped at the current system time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now())
    }

    /// Moves the clock forward (or backward, with a negative value).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
