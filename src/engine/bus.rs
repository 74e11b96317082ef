//! Fan-out of events to every subscriber, numbered in one sequence, with a backlog of
//! the most recent ones for subscribers that come back.
//!
//! Subscribing takes the backlog and registers the subscriber under the same lock that
//! numbers events, so a subscriber misses nothing and sees nothing twice. Unbounded per
//! subscriber: producers never block on a slow front end, and every event is bounded
//! upstream (tool output, patches and texts are capped before they become events).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use crate::protocol::clock::now_rfc3339;
use crate::protocol::{Event, EventBody, TaskId};

/// Events kept for subscribers that come back, at most (and at most `BACKLOG_BYTES`).
const BACKLOG: usize = 20_000;
const BACKLOG_BYTES: usize = 32 << 20;

#[derive(Debug, Default)]
pub struct EventBus {
    seq: AtomicU64,
    inner: Mutex<Inner>,
    /// Woken when a task is added or changes state (the conflict radar waits on it, so it
    /// need not receive every transcript line).
    pub states: tokio::sync::Notify,
    /// Woken likewise for the pull request watcher, and when a front end looks at a
    /// task (`engine::pr_watch`).
    pub pulls: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Inner {
    subscribers: Vec<mpsc::UnboundedSender<Event>>,
    backlog: VecDeque<Event>,
    backlog_bytes: usize,
    /// The last word on Docker, however long ago it was said.
    docker: Option<Event>,
}

/// A new subscriber's start: the number of the last event before its stream, what it
/// missed since the number it asked from (`None` when the backlog no longer holds all
/// of it), and the live stream.
pub struct Subscription {
    pub now: u64,
    pub missed: Option<Vec<Event>>,
    pub events: mpsc::UnboundedReceiver<Event>,
}

impl EventBus {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Live events from now on.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        self.subscribe_since(None).events
    }

    /// Live events from now on, and the ones after `since` that the backlog still holds
    /// (all of them, or `missed` is `None`). A number past the newest was counted by
    /// another run and gets `None` too.
    pub fn subscribe_since(&self, since: Option<u64>) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        let now = self.seq();
        let missed = since.filter(|s| *s <= now).and_then(|since| {
            let oldest = inner.backlog.front().map_or(now + 1, |e| e.seq);
            (oldest <= since + 1).then(|| {
                inner
                    .backlog
                    .iter()
                    .filter(|e| e.seq > since)
                    .cloned()
                    .collect()
            })
        });
        inner.subscribers.push(tx);
        Subscription {
            now,
            missed,
            events: rx,
        }
    }

    /// The last event about Docker.
    pub fn last_docker(&self) -> Option<Event> {
        self.lock().docker.clone()
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
            self.pulls.notify_one();
        }
        let mut inner = self.lock();
        // Numbered under the lock so every subscriber sees seq in order.
        let event = Event {
            seq: self.seq.fetch_add(1, Ordering::SeqCst) + 1,
            task: task.cloned(),
            attempt,
            at: now_rfc3339(),
            body,
        };
        inner.subscribers.retain(|s| s.send(event.clone()).is_ok());
        if matches!(event.body, EventBody::Docker { .. }) {
            inner.docker = Some(event.clone());
        }
        inner.backlog_bytes += event.body.weight();
        inner.backlog.push_back(event);
        while inner.backlog.len() > BACKLOG || inner.backlog_bytes > BACKLOG_BYTES {
            let Some(old) = inner.backlog.pop_front() else {
                break;
            };
            inner.backlog_bytes = inner.backlog_bytes.saturating_sub(old.body.weight());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(bus: &EventBus, m: &str) {
        bus.emit(None, 0, EventBody::Notice { message: m.into() });
    }

    #[test]
    fn a_subscriber_from_a_number_gets_what_it_missed_then_the_live_stream() {
        let bus = EventBus::default();
        note(&bus, "a");
        note(&bus, "b");
        let mut sub = bus.subscribe_since(Some(1));
        assert_eq!(sub.now, 2);
        let missed = sub.missed.take().unwrap();
        assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
        note(&bus, "c");
        assert_eq!(sub.events.try_recv().unwrap().seq, 3);
        assert!(sub.events.try_recv().is_err());
    }

    #[test]
    fn a_number_the_backlog_no_longer_holds_or_never_saw_gets_nothing() {
        let bus = EventBus::default();
        for i in 0..BACKLOG + 5 {
            note(&bus, &i.to_string());
        }
        assert!(bus.subscribe_since(Some(1)).missed.is_none(), "evicted");
        assert!(
            bus.subscribe_since(Some(u64::MAX)).missed.is_none(),
            "future"
        );
        let recent = bus.subscribe_since(Some(bus.seq() - 3)).missed.unwrap();
        assert_eq!(recent.len(), 3);
    }

    #[test]
    fn the_backlog_is_bounded_in_bytes_too() {
        let bus = EventBus::default();
        let big = "x".repeat(1 << 20);
        for _ in 0..100 {
            bus.emit(
                None,
                0,
                EventBody::Notice {
                    message: big.clone(),
                },
            );
        }
        let held: usize = bus.lock().backlog.iter().map(|e| e.body.weight()).sum();
        assert!(held <= BACKLOG_BYTES, "{held}");
        assert!(bus.lock().backlog.len() < 100);
    }
}
