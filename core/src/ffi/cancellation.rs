//! Cancelling an exported call from the foreign side.
//!
//! uniffi's Swift bindings keep polling a Rust future until it completes, whatever happens to
//! the Swift task awaiting it: Swift's task cancellation never reaches Rust. A
//! [`KeyfobCancellation`] is the channel for it: the Swift layer creates one per call, passes
//! it, and calls [`KeyfobCancellation::cancel`] from its cancellation handler. The call is then
//! dropped at its next poll, and with it every request in flight (uniffi cancels the foreign
//! transport's task when its future is dropped).
//!
//! Only calls that are safe to drop at any await point take one: `begin_login` (nothing is
//! stored until its last, synchronous step) and `userinfo` (reads only). Calls that may obtain
//! tokens run to completion, so that a cancelled caller never loses a rotated refresh token.

use std::sync::{Arc, Mutex};

use futures_util::future::{AbortHandle, AbortRegistration, Abortable};

use super::error::KeyfobError;
use crate::sync::lock;

/// Cancels one call: pass it to the call, then call [`KeyfobCancellation::cancel`] to stop it.
/// A call that is cancelled fails with `Internal` (reason "cancelled"), which the caller, who
/// cancelled it, reports as its platform's cancellation. One token serves one call.
#[derive(uniffi::Object)]
pub struct KeyfobCancellation {
    handle: AbortHandle,
    /// Taken by the call the token is passed to.
    registration: Mutex<Option<AbortRegistration>>,
}

// The exports return `Result` only so that the generated Swift calls them with `try`, never
// `try!`: nothing here fails.
#[uniffi::export]
impl KeyfobCancellation {
    /// A token that is not cancelled yet.
    #[uniffi::constructor]
    pub fn new() -> Result<Arc<Self>, KeyfobError> {
        let (handle, registration) = AbortHandle::new_pair();
        Ok(Arc::new(KeyfobCancellation {
            handle,
            registration: Mutex::new(Some(registration)),
        }))
    }

    /// Cancels the call: it stops at its next poll (at once if it has not started). Calling it
    /// again, or after the call finished, does nothing.
    pub fn cancel(&self) -> Result<(), KeyfobError> {
        self.handle.abort();
        Ok(())
    }
}

impl KeyfobCancellation {
    /// Whether [`KeyfobCancellation::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.handle.is_aborted()
    }
}

/// The error of a cancelled call.
pub(super) fn cancelled() -> KeyfobError {
    KeyfobError::Internal {
        reason: "cancelled".to_string(),
    }
}

/// Runs `call`, unless `cancellation` is cancelled first; without a token it just runs `call`.
/// A token that was already used for another call is refused (it could not cancel this one).
pub(super) async fn cancellable<T>(
    cancellation: Option<Arc<KeyfobCancellation>>,
    call: impl Future<Output = Result<T, KeyfobError>>,
) -> Result<T, KeyfobError> {
    let Some(cancellation) = cancellation else {
        return call.await;
    };
    let Some(registration) = lock(&cancellation.registration).take() else {
        return Err(KeyfobError::Internal {
            reason: "a cancellation token serves one call; create one per call".to_string(),
        });
    };
    Abortable::new(call, registration)
        .await
        .unwrap_or_else(|_aborted| Err(cancelled()))
}

#[cfg(test)]
mod tests {
    use std::pin::pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll, Waker};

    use super::*;

    /// Sets its flag when dropped: tells whether the call was dropped.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A call that never finishes and records being dropped.
    async fn forever(flag: Arc<AtomicBool>) -> Result<u8, KeyfobError> {
        let _guard = DropFlag(flag);
        std::future::pending::<()>().await;
        Ok(1)
    }

    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn cancelling_stops_a_running_call_and_drops_it() {
        let dropped = Arc::new(AtomicBool::new(false));
        let token = KeyfobCancellation::new().unwrap();
        let mut call = pin!(cancellable(Some(token.clone()), forever(dropped.clone())));
        assert!(poll_once(call.as_mut()).is_pending());
        assert!(!token.is_cancelled());

        token.cancel().unwrap();
        assert!(token.is_cancelled());
        assert_eq!(poll_once(call.as_mut()), Poll::Ready(Err(cancelled())));
        assert!(
            dropped.load(Ordering::SeqCst),
            "the call's future is dropped"
        );
    }

    #[test]
    fn a_token_cancelled_before_the_call_stops_it_before_it_starts() {
        let started = Arc::new(AtomicBool::new(false));
        let token = KeyfobCancellation::new().unwrap();
        token.cancel().unwrap();
        let flag = started.clone();
        let call = cancellable(Some(token), async move {
            flag.store(true, Ordering::SeqCst);
            Ok(1)
        });
        assert_eq!(poll_once(pin!(call)), Poll::Ready(Err(cancelled())));
        assert!(!started.load(Ordering::SeqCst));
    }

    #[test]
    fn without_a_token_or_cancel_the_call_completes() {
        assert_eq!(
            poll_once(pin!(cancellable(None, async { Ok(7) }))),
            Poll::Ready(Ok(7))
        );
        let token = KeyfobCancellation::new().unwrap();
        let call = cancellable(Some(token.clone()), async { Ok(8) });
        assert_eq!(poll_once(pin!(call)), Poll::Ready(Ok(8)));
        // Cancelling after completion changes nothing.
        token.cancel().unwrap();
    }

    #[test]
    fn a_token_serves_one_call() {
        let token = KeyfobCancellation::new().unwrap();
        assert_eq!(
            poll_once(pin!(cancellable(Some(token.clone()), async { Ok(1) }))),
            Poll::Ready(Ok(1))
        );
        let second = poll_once(pin!(cancellable(Some(token), async { Ok(2) })));
        assert!(matches!(
            second,
            Poll::Ready(Err(KeyfobError::Internal { .. }))
        ));
    }
}
