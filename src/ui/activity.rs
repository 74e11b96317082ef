//! The activity log: what happened while drover was open, newest last and timestamped:
//! approvals, pushes and their pull requests, tasks reaching review or failing, the
//! engine's notices and errors, refusals of what was asked. The status line shows the
//! newest for a few seconds; the log keeps the last `KEEP`. Held in memory only: the
//! transcripts and the store keep what matters across runs.

use std::collections::VecDeque;

use time::OffsetDateTime;

/// Entries kept (the oldest go first).
pub const KEEP: usize = 500;

/// How long the status line shows a message before it clears itself.
pub const STATUS_SECS: i64 = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub at: OffsetDateTime,
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Default)]
pub struct Log {
    items: VecDeque<Activity>,
}

impl Log {
    pub fn push(&mut self, at: OffsetDateTime, text: String, error: bool) {
        // The same message again (a notice repeated by a reconnect) is said once.
        if self
            .items
            .back()
            .is_some_and(|last| last.text == text && last.error == error)
        {
            return;
        }
        self.items.push_back(Activity { at, text, error });
        while self.items.len() > KEEP {
            self.items.pop_front();
        }
    }

    pub fn items(&self) -> &VecDeque<Activity> {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_says_a_repeat_once() {
        let mut log = Log::default();
        let t = OffsetDateTime::UNIX_EPOCH;
        for i in 0..KEEP + 10 {
            log.push(t, format!("m{i}"), false);
        }
        assert_eq!(log.len(), KEEP);
        assert_eq!(log.items().front().unwrap().text, "m10");
        log.push(t, format!("m{}", KEEP + 9), false);
        assert_eq!(log.len(), KEEP, "a repeat is not logged twice");
    }
}
