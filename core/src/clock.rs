//! Time, injectable so expiry can be tested without sleeping.

use std::future::Future;
use std::pin::Pin;
#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The future of [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A source of the current time in whole seconds since the Unix epoch, and of waits.
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> i64;

    /// Waits `duration`: the device grant's polling interval (RFC 8628 §3.5). The default waits
    /// that long on any executor (a timer thread wakes the task); a clock for tests may move
    /// itself forward instead and return at once.
    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(crate::sync::sleep(duration))
    }
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

    /// Moves the clock forward by `duration` (whole seconds, rounded up) and returns at once.
    fn sleep(&self, duration: Duration) -> Sleep {
        let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
        self.advance(i64::try_from(secs).unwrap_or(i64::MAX));
        Box::pin(std::future::ready(()))
    }
}
