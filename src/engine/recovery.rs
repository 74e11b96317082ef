//! What an engine finds left behind when it starts, or when Docker comes back: active
//! tasks with no engine (resumed or interrupted, by whether their container is still
//! there), tasks Docker's absence interrupted, and containers whose task is gone.
//! Never starts an attempt itself: it moves tasks, and the scheduler does the rest.

use super::{Engine, EventBody, TaskState, Transition, supervisor};
use crate::protocol::{TaskId, TaskRecord};
use crate::runtime::container_name;

impl Engine {
    /// Containers of this store whose task is unknown or discarded (left by a crash
    /// between creating a container and recording it, or a discard that failed) are
    /// removed. Containers of other stores, other drover versions or anyone else are
    /// never touched.
    pub(super) async fn reap_orphans(&self) {
        let Some(rt) = self.ctx.runtime.get() else {
            return;
        };
        let Ok(list) = rt.list_managed(None).await else {
            return;
        };
        let ours = self.ctx.data.hash();
        for c in list
            .into_iter()
            .filter(|c| c.data.as_deref() == Some(&ours))
        {
            let task = c
                .task
                .as_deref()
                .and_then(TaskId::parse)
                .and_then(|id| self.ctx.store.task(&id).ok().flatten());
            if c.pool.is_some() && c.task.is_none() {
                continue; // waiting in the warm pool, which keeps it
            }
            let why = match &task {
                None => "its task is not in the store",
                Some(t) if t.state == TaskState::Discarded => "its task was discarded",
                Some(_) => continue,
            };
            let message = match rt.remove(&c.id).await {
                Ok(()) => format!("removed orphan container {} ({why})", c.name),
                Err(e) => format!(
                    "orphan container {} ({why}) could not be removed: {e}",
                    c.name
                ),
            };
            tracing::warn!("{message}");
            self.ctx.bus.emit(None, 0, EventBody::Notice { message });
        }
    }

    /// Active tasks in the store with no engine behind them: drover stopped mid-run (a
    /// crash, kill -9, or a quit that kept containers). A task whose container is still
    /// there goes back to the queue to resume where it stopped (before new tasks, as it
    /// is older); one whose container is gone is interrupted, saying so. Needs Docker to
    /// tell which: without it, this waits until Docker is back.
    pub(super) async fn recover(&mut self) {
        if self.recovered || !self.opts.run_queue {
            return;
        }
        let Some(rt) = self.ctx.runtime.get() else {
            return;
        };
        let Ok(tasks) = self.ctx.store.tasks(self.opts.repo.as_deref()) else {
            return;
        };
        self.recovered = true;
        for t in tasks
            .into_iter()
            .filter(|t| t.state.is_active() && !self.running.contains_key(&t.id))
        {
            let found = rt.find(&container_name(&t.id)).await;
            let ours = |f: &crate::runtime::Found| f.task.as_deref() == Some(t.id.as_str());
            let (transition, message) = match found {
                Ok(Some(f)) if ours(&f) => (
                    Transition::Resume,
                    format!(
                        "task {}: drover stopped while it was {}; its container is {}, so it resumes where it stopped",
                        t.id,
                        t.state.name(),
                        if f.running {
                            "still running"
                        } else {
                            "stopped"
                        }
                    ),
                ),
                Ok(_) => {
                    let why = "drover stopped while this task was running, and its container is gone: resume it (a new container over the same workspace) or retry it";
                    (
                        Transition::Interrupt(why.into()),
                        format!("task {}: {why}", t.id),
                    )
                }
                Err(e) => {
                    // Docker answered the ping but not this: try again when it is back.
                    tracing::warn!("checking the container of {}: {e}", t.id);
                    self.recovered = false;
                    continue;
                }
            };
            self.move_saying(t, transition, message);
        }
    }

    /// Tasks that Docker's absence interrupted go back to the queue to resume, once it is
    /// here (at start, or when it comes back).
    pub(super) fn resume_after_outage(&mut self) {
        if !self.opts.run_queue || self.ctx.runtime.get().is_none() {
            return;
        }
        let Ok(tasks) = self.ctx.store.tasks(self.opts.repo.as_deref()) else {
            return;
        };
        for t in tasks {
            let lost = matches!(&t.state, TaskState::Interrupted { reason } if reason.starts_with(supervisor::DOCKER_GONE));
            if !lost {
                continue;
            }
            let message = format!("task {}: Docker is back, resuming", t.id);
            self.move_saying(t, Transition::Resume, message);
        }
    }

    /// Moves a task the engine found left behind, and says why (or why it could not).
    fn move_saying(&self, t: TaskRecord, transition: Transition, message: String) {
        let id = t.id.clone();
        let mut m = supervisor::Mover::new(&self.ctx, t);
        match m.go(transition) {
            Ok(()) => {
                tracing::info!("{message}");
                let body = EventBody::Notice { message };
                self.ctx.bus.emit(Some(&id), m.task.attempt, body);
            }
            Err(message) => self
                .ctx
                .bus
                .emit(Some(&id), 0, EventBody::Error { message }),
        }
    }
}
