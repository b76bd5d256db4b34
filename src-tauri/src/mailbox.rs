//! How the core's events reach the UI: the UI takes them, they are not pushed into the page.
//!
//! Why: whatever the shell pushes into a web view is a script that WebKit compiles (the payload
//! is part of its source) and keeps in its code cache. A board reset carrying 10 000 tickets was
//! a 7 MB script. Taken through a command instead, the events come as a response body, parsed,
//! never compiled: measured here, 11 MB less in the web process idle at 10 000 tickets.
//!
//! Rules:
//! - The shell [`put`](Mailbox::put)s each batch of events. When the mailbox goes from empty to
//!   holding something, the UI is told (`deskbell://events-waiting`, always the same tiny
//!   script); it then [`take`](Mailbox::take)s everything waiting (`take_desk_events`).
//! - Order is kept: batches are taken in the order they were put, and the UI handles what it
//!   takes and the shell's other messages one after the other, in the order they came
//!   (`ui/src/lib/ipc.ts`). A message may therefore find the board already ahead of it, never
//!   behind.
//! - Nothing is lost while the UI is busy: a signal is sent again only once everything was
//!   taken, and whatever came meanwhile waits for that take.

use std::sync::Mutex;

/// The events waiting for the UI (see the module doc).
pub struct Mailbox<T> {
    waiting: Mutex<Vec<T>>,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            waiting: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Mailbox<T> {
    /// Adds `items` after what is waiting. True when the mailbox was empty and now is not: the
    /// UI must be told.
    pub fn put(&self, items: impl IntoIterator<Item = T>) -> bool {
        let mut waiting = self.lock();
        let was_empty = waiting.is_empty();
        waiting.extend(items);
        was_empty && !waiting.is_empty()
    }

    /// Everything waiting, oldest first; the mailbox is empty afterwards.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<T>> {
        // A panic elsewhere while holding the lock leaves a valid Vec: keep going with it.
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_once_per_fill_and_keeps_order() {
        let mailbox = Mailbox::default();
        assert!(mailbox.put([1, 2]), "empty → something: tell the UI");
        assert!(!mailbox.put([3]), "already told, not taken yet");
        assert!(!mailbox.put(Vec::<i32>::new()), "nothing added");
        assert_eq!(mailbox.take(), vec![1, 2, 3]);
        assert_eq!(mailbox.take(), Vec::<i32>::new(), "taken once");
        assert!(mailbox.put([4]), "empty again: tell the UI again");
        assert_eq!(mailbox.take(), vec![4]);
    }

    #[test]
    fn an_empty_batch_into_an_empty_mailbox_tells_nobody() {
        let mailbox: Mailbox<i32> = Mailbox::default();
        assert!(!mailbox.put([]));
        assert!(mailbox.put([1]));
    }

    #[test]
    fn concurrent_puts_lose_nothing_and_signal_once() {
        let mailbox = std::sync::Arc::new(Mailbox::default());
        let signals: usize = (0..4)
            .map(|t| {
                let mailbox = mailbox.clone();
                std::thread::spawn(move || {
                    (0..1000).filter(|i| mailbox.put([t * 1000 + i])).count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(signals, 1);
        let mut all = mailbox.take();
        assert_eq!(all.len(), 4000);
        all.sort();
        assert_eq!(all, (0..4000).collect::<Vec<_>>());
    }
}
