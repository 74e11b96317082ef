//! The live diff of one attempt: computed on the host (git2, blocking pool), stored,
//! announced; debounced while an agent writes in bursts.
//!
//! A write schedules one diff `DEBOUNCE` later (writes in between join it) so the agent
//! never waits for git. Computations are serialised, so the final diff taken when the
//! agent stops is never overtaken by an older one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::bus::EventBus;
use super::ids::TaskId;
use super::protocol::EventBody;
use crate::store::Store;
use crate::workspace::{self, WorkspaceDiff};

const DEBOUNCE: Duration = Duration::from_millis(300);

pub struct Differ {
    pub task: TaskId,
    pub attempt: u32,
    pub bus: Arc<EventBus>,
    pub store: Arc<Store>,
    pub workspace: PathBuf,
    pub base_commit: String,
    lock: tokio::sync::Mutex<()>,
    scheduled: AtomicBool,
}

impl Differ {
    pub fn new(
        task: TaskId,
        attempt: u32,
        bus: Arc<EventBus>,
        store: Arc<Store>,
        workspace: PathBuf,
        base_commit: String,
    ) -> Self {
        Differ {
            task,
            attempt,
            bus,
            store,
            workspace,
            base_commit,
            lock: tokio::sync::Mutex::new(()),
            scheduled: AtomicBool::new(false),
        }
    }

    /// A diff soon; calls while one is pending join it.
    pub fn schedule(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DEBOUNCE).await;
            me.scheduled.store(false, Ordering::SeqCst);
            me.refresh().await;
        });
    }

    /// Diffs the workspace against the base now, stores the stat and emits it.
    pub async fn refresh(&self) -> Option<WorkspaceDiff> {
        let _one_at_a_time = self.lock.lock().await;
        let dir = self.workspace.clone();
        let base = self.base_commit.clone();
        let emit = |body| self.bus.emit(Some(&self.task), self.attempt, body);
        match tokio::task::spawn_blocking(move || workspace::diff(&dir, &base)).await {
            Ok(Ok(d)) => {
                let summary = d.summary.clone();
                if let Err(e) = self
                    .store
                    .update_attempt(&self.task, self.attempt, |a| a.diff = Some(summary.clone()))
                {
                    tracing::error!(task = %self.task, "saving diff: {e}");
                }
                emit(EventBody::DiffUpdated {
                    diff: summary,
                    patch: d.patch.clone(),
                });
                Some(d)
            }
            Ok(Err(e)) => {
                emit(EventBody::Error {
                    message: format!("diff: {e}"),
                });
                None
            }
            Err(e) => {
                emit(EventBody::Error {
                    message: format!("diff task failed: {e}"),
                });
                None
            }
        }
    }
}
