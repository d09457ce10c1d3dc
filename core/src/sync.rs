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
        let spawned = spawn_detached(Box::new(move || {
            std::thread::sleep(duration);
            let waker = {
                let mut state = lock(&timer);
                state.done = true;
                state.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }));
        if !spawned {
            // No thread to wait with: do not wait (the caller polls storage again at once).
            return Poll::Ready(());
        }
        self.shared = Some(shared);
        Poll::Pending
    }
}

/// Runs `job` on a new thread of its own, not waited for; `false` when no thread could start.
///
/// On Unix through `pthread_create` directly: `std::thread::spawn` brings 29 KB of thread
/// bookkeeping into the mobile library (names, spawn hooks, stack-overflow guard info, result
/// packets), which a sleeping timer needs none of (issue 9).
#[cfg(unix)]
fn spawn_detached(job: Box<dyn FnOnce() + Send>) -> bool {
    extern "C" fn run(job: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `job` is the `Box` leaked by `spawn_detached` for this thread, taken once.
        let job = unsafe { Box::from_raw(job.cast::<Box<dyn FnOnce() + Send>>()) };
        // A panic must not unwind out of this `extern "C"` function.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        std::ptr::null_mut()
    }
    let job = Box::into_raw(Box::new(job));
    let mut thread = std::mem::MaybeUninit::<libc::pthread_t>::uninit();
    // SAFETY: `thread` is written by a successful `pthread_create`; `run` takes ownership of
    // `job` only if the thread starts, else it is reclaimed here.
    unsafe {
        if libc::pthread_create(thread.as_mut_ptr(), std::ptr::null(), run, job.cast()) != 0 {
            drop(Box::from_raw(job));
            return false;
        }
        libc::pthread_detach(thread.assume_init());
    }
    true
}

/// Runs `job` on a new thread of its own, not waited for; `false` when no thread could start.
#[cfg(not(unix))]
fn spawn_detached(job: Box<dyn FnOnce() + Send>) -> bool {
    std::thread::Builder::new().spawn(job).is_ok()
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
