//! The one way the core takes its `std` mutexes.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering from poisoning: the data behind the core's locks is consistent between
/// statements, and a panic elsewhere must not make the client unusable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Waits `duration` on any executor: the first poll starts a thread that sleeps and then wakes
/// the task. The core has no runtime of its own; this serves the rare waits (a sibling process
/// holding a refresh lease), where a thread per wait costs nothing that matters.
pub(crate) fn sleep(duration: std::time::Duration) -> Sleep {
    Sleep {
        duration,
        shared: None,
    }
}

/// The future of [`sleep`].
pub(crate) struct Sleep {
    duration: std::time::Duration,
    /// Shared with the timer thread; `None` until the first poll.
    shared: Option<std::sync::Arc<Mutex<Timer>>>,
}

/// Whether the time is up, and whom to wake then.
struct Timer {
    done: bool,
    waker: Option<std::task::Waker>,
}

impl std::future::Future for Sleep {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        use std::task::Poll;
        if let Some(shared) = &self.shared {
            let mut state = lock(shared);
            if state.done {
                return Poll::Ready(());
            }
            state.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let shared = std::sync::Arc::new(Mutex::new(Timer {
            done: false,
            waker: Some(cx.waker().clone()),
        }));
        let timer = shared.clone();
        let duration = self.duration;
        let spawned = std::thread::Builder::new()
            .name("keyfob-sleep".into())
            .spawn(move || {
                std::thread::sleep(duration);
                let waker = {
                    let mut state = lock(&timer);
                    state.done = true;
                    state.waker.take()
                };
                if let Some(w) = waker {
                    w.wake();
                }
            });
        if spawned.is_err() {
            // No thread to wait with: do not wait (the caller polls storage again at once).
            return Poll::Ready(());
        }
        self.shared = Some(shared);
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn sleep_wakes_a_single_threaded_executor() {
        // A counted wait, not a timed assertion: the task completes at all only if the timer
        // thread wakes it (a current-thread runtime has nothing else to poll it).
        for _ in 0..3 {
            sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}
