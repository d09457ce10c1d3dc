//! The testkit's own clock, shared by the provider and servers A and B.
//!
//! It is the system clock plus an adjustable offset, so tests can make codes and
//! tokens expire by moving time forward instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time in Unix seconds, shifted by [`Clock::advance`].
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// The current time in seconds since the Unix epoch, as the testkit sees it.
    pub(crate) fn now(&self) -> u64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let real = i64::try_from(real).unwrap_or(i64::MAX);
        let shifted = real.saturating_add(self.offset_secs.load(Ordering::Relaxed));
        u64::try_from(shifted).unwrap_or(0)
    }

    /// Moves the clock by `secs` (negative values move it back).
    pub(crate) fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::Relaxed);
    }
}

/// Middleware: sets the `Date` header from the testkit clock, as a real provider's `Date` and
/// token timestamps come from one clock (clients use it to learn their clock offset).
pub(crate) async fn stamp_date(
    axum::extract::State(shared): axum::extract::State<std::sync::Arc<crate::Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let now = UNIX_EPOCH + std::time::Duration::from_secs(shared.clock.now());
    if let Ok(value) = axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
        response
            .headers_mut()
            .insert(axum::http::header::DATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_now() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(3600);
        let after = clock.now();
        assert!(after >= before + 3600 && after <= before + 3602);
        clock.advance(-3600);
        assert!(clock.now() < before + 3);
    }
}
