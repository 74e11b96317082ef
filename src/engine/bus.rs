//! Fan-out of events to every subscriber, numbered in one sequence.
//!
//! Unbounded per subscriber: producers never block on a slow front end, and event volume
//! is bounded upstream (tool output is capped before it becomes an event).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::protocol::TaskId;
use crate::protocol::clock::now_rfc3339;
use crate::protocol::{Event, EventBody};

#[derive(Debug, Default)]
pub struct EventBus {
    seq: AtomicU64,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Event>>>,
    /// Woken when a task is added or changes state (the conflict radar waits on it, so it
    /// need not receive every transcript line).
    pub states: tokio::sync::Notify,
}

impl EventBus {
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.subscribers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        rx
    }

    /// The number of the last event emitted.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    pub fn emit(&self, task: Option<&TaskId>, attempt: u32, body: EventBody) {
        if matches!(
            body,
            EventBody::StateChanged { .. } | EventBody::TaskAdded { .. }
        ) {
            self.states.notify_one();
        }
        let mut subs = self.subscribers.lock().unwrap_or_else(|p| p.into_inner());
        // Numbered under the lock so every subscriber sees seq in order.
        let event = Event {
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            task: task.cloned(),
            attempt,
            at: now_rfc3339(),
            body,
        };
        subs.retain(|s| s.send(event.clone()).is_ok());
    }
}
