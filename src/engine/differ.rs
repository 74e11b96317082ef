//! The live diff of one attempt: a snapshot of the workspace into drover's own git state,
//! diffed against the base on the host (blocking pool), stored, announced; debounced
//! while an agent writes in bursts.
//!
//! A write schedules one diff `DEBOUNCE` later (writes in between join it) so the agent
//! never waits for git. Snapshots are serialised (they share the task's index), so the
//! final diff taken when the agent stops is never overtaken by an older one, and the
//! verification's snapshots go through here too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::bus::EventBus;
use crate::protocol::EventBody;
use crate::protocol::TaskId;
use crate::store::Store;
use crate::workspace::{self, SnapshotOptions, TaskGit, WorkspaceDiff};

const DEBOUNCE: Duration = Duration::from_millis(300);

/// What snapshots keep between them: the stat cache, and the ignored files last
/// measured (a live diff, which does not measure them, carries them on).
#[derive(Default)]
struct Kept {
    cache: Option<workspace::StatCache>,
    ignored: Vec<crate::protocol::Ignored>,
}

pub(super) struct Differ {
    pub task: TaskId,
    pub attempt: u32,
    pub bus: Arc<EventBus>,
    pub store: Arc<Store>,
    pub git: TaskGit,
    /// One snapshot at a time, and what they keep between them.
    lock: tokio::sync::Mutex<Kept>,
    scheduled: AtomicBool,
    closed: AtomicBool,
    /// What this attempt's snapshots added to drover's repository (the watchdog counts
    /// it against the disk limit).
    pub stored: Arc<std::sync::atomic::AtomicU64>,
}

impl Differ {
    pub(super) fn new(
        task: TaskId,
        attempt: u32,
        bus: Arc<EventBus>,
        store: Arc<Store>,
        git: TaskGit,
    ) -> Self {
        Differ {
            task,
            attempt,
            bus,
            store,
            git,
            lock: tokio::sync::Mutex::new(Kept::default()),
            scheduled: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            stored: Arc::default(),
        }
    }

    /// A diff scheduled from now on is not taken (the attempt ended).
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// A diff soon; calls while one is pending join it.
    pub(super) fn schedule(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DEBOUNCE).await;
            me.scheduled.store(false, Ordering::SeqCst);
            if !me.closed.load(Ordering::SeqCst) {
                me.refresh().await;
            }
        });
    }

    /// Diffs the workspace against the base now, stores the stat and emits it. A live
    /// diff taken while the agent works may meet a file mid-write or a repository the
    /// agent is rearranging: that is not said (the next write schedules another, and
    /// the thorough diffs verification takes say what is really wrong).
    pub(super) async fn refresh(&self) -> Option<WorkspaceDiff> {
        // The cache stays in memory; it is saved by the settling snapshots.
        let opts = SnapshotOptions::default();
        match self.take(opts).await {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::debug!(task = %self.task, "live diff skipped: {e}");
                None
            }
        }
    }

    /// The diff now with ignored files measured (after the tests).
    pub(super) async fn settled(&self) -> Option<WorkspaceDiff> {
        let opts = SnapshotOptions {
            persist: true,
            list_ignored: true,
            ..Default::default()
        };
        self.said(self.take(opts).await).ok()
    }

    /// The diff now, every file read again and ignored files measured (what verification
    /// and approval rely on); stored and emitted like any other. An error is said and
    /// returned.
    pub(super) async fn thorough(&self) -> Result<WorkspaceDiff, String> {
        let opts = SnapshotOptions {
            rehash: true,
            persist: true,
            list_ignored: true,
        };
        self.said(self.take(opts).await)
    }

    /// `r`, its error said to front ends too.
    fn said(&self, r: Result<WorkspaceDiff, String>) -> Result<WorkspaceDiff, String> {
        if let Err(message) = &r {
            let body = EventBody::Error {
                message: message.clone(),
            };
            self.bus.emit(Some(&self.task), self.attempt, body);
        }
        r
    }

    async fn take(&self, opts: SnapshotOptions) -> Result<WorkspaceDiff, String> {
        let mut kept = self.lock.lock().await;
        let git = self.git.clone();
        let emit = |body| self.bus.emit(Some(&self.task), self.attempt, body);
        // The cache lives here between snapshots: one read of it from disk per attempt.
        let mut cache = match kept.cache.take() {
            Some(c) => Some(c),
            None => {
                let path = git.index.clone();
                tokio::task::spawn_blocking(move || workspace::StatCache::load(&path))
                    .await
                    .ok()
                    .flatten()
            }
        };
        let taken = tokio::task::spawn_blocking(move || {
            let d = workspace::diff_with(&git, opts, &mut cache);
            (d, cache)
        })
        .await
        .map(|(d, cache)| {
            kept.cache = cache;
            d
        });
        match taken {
            Ok(Ok(mut d)) => {
                self.stored.fetch_add(d.written, Ordering::Relaxed);
                if opts.list_ignored {
                    kept.ignored = d.summary.ignored.clone();
                } else {
                    d.summary.ignored = kept.ignored.clone();
                }
                let summary = d.summary.clone();
                if let Err(e) = self
                    .store
                    .update_attempt(&self.task, self.attempt, |a| a.diff = Some(summary.clone()))
                {
                    tracing::error!(task = %self.task, "saving diff: {e}");
                }
                emit(EventBody::DiffUpdated {
                    diff: summary,
                    patch: crate::protocol::Page::of(&d.patch, 0),
                });
                Ok(d)
            }
            Ok(Err(e)) => Err(format!("diff: {e}")),
            Err(e) => Err(format!("diff task failed: {e}")),
        }
    }
}
