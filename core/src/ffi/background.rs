//! Refresh-ahead on the platform's executor: the core has no runtime of its own, so the Swift
//! layer runs Keyfob's background work in a `Task` and the Kotlin layer in its coroutine scope.

use std::sync::{Arc, Mutex};

use super::error::KeyfobError;
use crate::client::{BackgroundTask, Spawner};
use crate::sync::lock;

/// Runs Keyfob's background work (the refresh ahead of an access token's expiry) on the
/// platform's executor. Given to `KeyfobClient` at construction; without one, the first caller
/// that finds its token due for a refresh runs the refresh itself.
#[uniffi::export(foreign)]
pub trait KeyfobExecutor: Send + Sync {
    /// Starts `task.run()` concurrently (a Swift `Task`, a coroutine) and returns at once.
    /// A task that is never run costs only that refresh: the token is refreshed when it expires.
    fn spawn(&self, task: Arc<KeyfobBackgroundTask>) -> Result<(), KeyfobError>;
}

/// One piece of Keyfob's background work, for a [`KeyfobExecutor`] to run.
#[derive(uniffi::Object)]
pub struct KeyfobBackgroundTask {
    /// Taken by the first `run`.
    work: Mutex<Option<BackgroundTask>>,
}

#[uniffi::export]
impl KeyfobBackgroundTask {
    /// Does the work, to its end; it never fails (what goes wrong is Keyfob's to handle). A
    /// second call returns at once.
    pub async fn run(&self) {
        let work = lock(&self.work).take();
        if let Some(work) = work {
            work.await;
        }
    }
}

/// The core's [`Spawner`] over a platform executor.
pub(super) struct ForeignExecutor(pub Arc<dyn KeyfobExecutor>);

impl Spawner for ForeignExecutor {
    fn spawn(&self, task: BackgroundTask) {
        let task = Arc::new(KeyfobBackgroundTask {
            work: Mutex::new(Some(task)),
        });
        if let Err(e) = self.0.spawn(task) {
            log::warn!("the platform executor refused Keyfob's background task: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A platform executor that keeps the tasks it is given (or refuses them).
    #[derive(Default)]
    struct Kept {
        tasks: Mutex<Vec<Arc<KeyfobBackgroundTask>>>,
        refuse: bool,
    }

    impl KeyfobExecutor for Kept {
        fn spawn(&self, task: Arc<KeyfobBackgroundTask>) -> Result<(), KeyfobError> {
            if self.refuse {
                return Err(KeyfobError::Internal {
                    reason: "shut down".into(),
                });
            }
            lock(&self.tasks).push(task);
            Ok(())
        }
    }

    /// Work that counts how often it ran.
    fn counted(runs: &Arc<AtomicUsize>) -> BackgroundTask {
        let runs = runs.clone();
        BackgroundTask::new(async move {
            runs.fetch_add(1, Ordering::SeqCst);
        })
    }

    #[tokio::test]
    async fn the_platform_runs_the_work_once() {
        let executor = Arc::new(Kept::default());
        let runs = Arc::new(AtomicUsize::new(0));
        ForeignExecutor(executor.clone()).spawn(counted(&runs));
        let task = lock(&executor.tasks).pop().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 0, "spawning runs nothing");
        task.run().await;
        task.run().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_task_is_dropped_without_running() {
        let executor = Arc::new(Kept {
            refuse: true,
            ..Kept::default()
        });
        let runs = Arc::new(AtomicUsize::new(0));
        ForeignExecutor(executor.clone()).spawn(counted(&runs));
        assert!(lock(&executor.tasks).is_empty());
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        assert_eq!(Arc::strong_count(&runs), 1, "the work was dropped");
    }
}
