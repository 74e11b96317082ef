//! What the engine and its attempts share, and the one way each kind of change is made:
//! `transition` (the state machine decides, the store compares and sets, the bus
//! announces) and `update_attempt` (the store changes the record, the bus announces the
//! whole of it). Nothing else writes a task's state or attempt.

use std::sync::Arc;

use super::bus::EventBus;
use super::docker_watch::RuntimeSlot;
use super::pool;
use crate::paths::DataDir;
use crate::protocol::{
    AttemptRecord, CommandError, EventBody, TaskId, TaskRecord, Transition, state,
};
use crate::store::{Store, StoreError};

pub struct EngineCtx {
    pub store: Arc<Store>,
    pub bus: Arc<EventBus>,
    /// Empty while Docker is unreachable: tasks wait in the queue until it is back.
    pub runtime: RuntimeSlot,
    pub data: DataDir,
    /// Containers made ahead of their tasks (`warm_pool`).
    pub(crate) pool: pool::WarmPool,
    /// The patch last read in pages (a reader pages through one patch at a time):
    /// making it again for every page would cost a whole diff each.
    pub(super) paged: std::sync::Mutex<Option<super::history::Paged>>,
    /// One setup per snapshot key at a time: tasks that need the same environment wait
    /// for the first one's snapshot instead of each running setup.
    pub(super) setups: super::environ::SetupLocks,
    /// One baseline run per key at a time: tasks on the same base wait for the first
    /// one's run instead of each running the tests.
    pub(super) baselines: super::environ::SetupLocks,
    /// When a front end last looked at each task (asked for its history): their pull
    /// requests are followed more closely.
    pub(super) looked_at: std::sync::Mutex<std::collections::HashMap<TaskId, std::time::Instant>>,
}

impl EngineCtx {
    pub fn new(store: Arc<Store>, bus: Arc<EventBus>, runtime: RuntimeSlot, data: DataDir) -> Self {
        EngineCtx {
            store,
            bus,
            runtime,
            data,
            pool: pool::WarmPool::default(),
            paged: Default::default(),
            setups: Default::default(),
            baselines: Default::default(),
            looked_at: Default::default(),
        }
    }

    /// A front end looks at `id`: its pull request, if it has one, is asked about now.
    pub(super) fn look_at(&self, id: &TaskId) {
        if let Ok(mut l) = self.looked_at.lock() {
            l.insert(id.clone(), std::time::Instant::now());
        }
        self.bus.pulls.notify_one();
    }

    /// The task a user's prefix names.
    pub fn find(&self, prefix: &str) -> Result<TaskRecord, CommandError> {
        Ok(self.store.find(prefix)?)
    }

    /// Moves `task` by `t` and says so; `task` then holds the new state (and, for a
    /// retry, the new attempt's number). Refused by the state machine, or by the store
    /// when the task moved meanwhile: nothing changes.
    pub fn transition(&self, task: &mut TaskRecord, t: Transition) -> Result<(), CommandError> {
        let to = state::next(&task.state, t.clone())?;
        let mut n = task.attempt;
        match t {
            Transition::Retry { feedback } => {
                n += 1;
                let feedback = feedback.map(|f| crate::redact::redact(&f).into_owned());
                self.store
                    .begin_attempt(&task.id, n, &task.state, feedback)?;
            }
            _ => self.store.set_state(&task.id, n, &task.state, &to)?,
        }
        let from = std::mem::replace(&mut task.state, to.clone());
        task.attempt = n;
        self.bus
            .emit(Some(&task.id), n, EventBody::StateChanged { from, to });
        Ok(())
    }

    /// Changes attempt `n` of task `id` and announces the whole record.
    pub fn update_attempt(
        &self,
        id: &TaskId,
        n: u32,
        f: impl FnOnce(&mut AttemptRecord),
    ) -> Result<AttemptRecord, CommandError> {
        let rec = self.store.update_attempt(id, n, f)?;
        self.bus.emit(
            Some(id),
            n,
            EventBody::AttemptUpdated {
                attempt: Box::new(rec.clone()),
            },
        );
        Ok(rec)
    }

    /// Says something about a task (or about none) to every front end.
    pub fn notice(&self, id: Option<&TaskId>, attempt: u32, message: impl Into<String>) {
        let message = message.into();
        self.bus.emit(id, attempt, EventBody::Notice { message });
    }

    /// Says that something failed that no command waits for.
    pub fn error(&self, id: Option<&TaskId>, attempt: u32, message: impl Into<String>) {
        let message = message.into();
        self.bus.emit(id, attempt, EventBody::Error { message });
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(prefix) => CommandError::NoTask { prefix },
            StoreError::Ambiguous { prefix, ids } => CommandError::Ambiguous { prefix, ids },
            other => CommandError::failed(other.to_string()),
        }
    }
}
