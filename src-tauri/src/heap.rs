//! Gives the memory that bulk work freed back to the system, once the work is over.
//!
//! Why: glibc's allocator keeps what is freed in its arenas (one per thread that allocated) for
//! reuse. Loading a board (10 000 tickets parsed from the server, then serialised for the UI) or
//! a burst of events leaves megabytes there that nothing uses again while the app sits idle in
//! the tray all day: measured here, 8.5 MB of the main process's 22 MB over its login screen at
//! 10 000 tickets. `malloc_trim(0)` returns those pages.
//!
//! Rules:
//! - Trimming happens once things are quiet: [`QUIET`] after the last [`Trimmer::poke`], never
//!   in the middle of a burst (it would only be refilled) and at most once per quiet spell.
//! - Anything that did bulk work pokes: the event forwarder per batch (a board load or a burst
//!   of events reaches it). The UI's board views are small (only the cards on screen): no poke.
//! - Only where the allocator is glibc's; elsewhere trimming is a no-op.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How long nothing bulk must have happened before the heap is trimmed.
pub const QUIET: Duration = Duration::from_secs(2);

/// Trims the heap once it is quiet after bulk work (see the module doc).
#[derive(Clone)]
pub struct Trimmer {
    poked: Arc<Notify>,
}

impl Trimmer {
    /// The trimmer, and the task that trims (to be spawned on the app's runtime); `trim` is
    /// what trimming does ([`release_free_memory`] in the app).
    pub fn new(
        trim: impl Fn() + Send + 'static,
    ) -> (
        Trimmer,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let poked = Arc::new(Notify::new());
        let waiting = poked.clone();
        let task = async move {
            loop {
                waiting.notified().await;
                // Quiet means no poke for QUIET: each poke restarts the wait.
                while tokio::time::timeout(QUIET, waiting.notified())
                    .await
                    .is_ok()
                {}
                trim();
            }
        };
        (Trimmer { poked }, task)
    }

    /// Bulk work was just done: trim once it is quiet.
    pub fn poke(&self) {
        // notify_one keeps a permit when the task is not waiting yet, so no poke is lost.
        self.poked.notify_one();
    }
}

/// Returns the allocator's free pages to the system (glibc's `malloc_trim`).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks the allocator's own free lists; it has no
        // preconditions and is thread-safe.
        let released = unsafe { libc::malloc_trim(0) };
        tracing::debug!(released = released != 0, "heap trimmed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Lets the trimming task run up to its next await.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn trims_once_when_quiet_after_work_and_never_during_it() {
        let trims = Arc::new(AtomicUsize::new(0));
        let counted = trims.clone();
        let (trimmer, task) = Trimmer::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        tokio::spawn(task);
        settle().await;

        // Nothing done: nothing trimmed, however long it stays idle.
        tokio::time::advance(QUIET * 5).await;
        settle().await;
        assert_eq!(trims.load(Ordering::SeqCst), 0);

        // A burst: pokes closer together than QUIET keep it from trimming.
        for _ in 0..5 {
            trimmer.poke();
            settle().await;
            tokio::time::advance(QUIET / 2).await;
            settle().await;
        }
        assert_eq!(
            trims.load(Ordering::SeqCst),
            0,
            "trimmed in the middle of a burst"
        );

        // Quiet: one trim, and no more while it stays quiet.
        tokio::time::advance(QUIET).await;
        settle().await;
        assert_eq!(trims.load(Ordering::SeqCst), 1);
        tokio::time::advance(QUIET * 5).await;
        settle().await;
        assert_eq!(trims.load(Ordering::SeqCst), 1);

        // The next work is trimmed after in turn.
        trimmer.poke();
        settle().await;
        tokio::time::advance(QUIET + Duration::from_millis(1)).await;
        settle().await;
        assert_eq!(trims.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn releasing_free_memory_is_safe_to_call_any_time() {
        let v: Vec<Vec<u8>> = (0..1000).map(|_| vec![0u8; 4096]).collect();
        drop(v);
        release_free_memory();
        release_free_memory();
    }
}
