//! What an engine finds left behind when it starts, or when Docker comes back: active
//! tasks with no engine (reattached or interrupted, by whether their container is still
//! there), tasks Docker's absence interrupted, and containers whose task is gone.
//!
//! Never starts an attempt itself: it moves tasks (in the list the loop is looking at,
//! so the scheduler sees them moved) and the scheduler does the rest.

use std::collections::HashSet;

use super::EngineCtx;
use crate::protocol::{Cause, TaskId, TaskRecord, TaskState, Transition};
use crate::runtime::{Runtime, container_name};

/// Containers of this store whose task is unknown or discarded (left by a crash between
/// creating a container and recording it, or a discard that failed) are removed.
/// Containers of other stores, other drover versions or anyone else are never touched.
pub(super) async fn reap_orphans(ctx: &EngineCtx, rt: &Runtime) {
    let Ok(list) = rt.list_managed(None).await else {
        return;
    };
    let ours = ctx.data.hash();
    for c in list
        .into_iter()
        .filter(|c| c.data.as_deref() == Some(&ours))
    {
        if c.pool.is_some() && c.task.is_none() {
            continue; // waiting in the warm pool, which keeps it
        }
        if c.setup.is_some() && c.task.is_none() && c.pool.is_none() {
            // A setup no engine finishes any more: its attempt runs it again.
            let message = match rt.remove(&c.id).await {
                Ok(()) => format!(
                    "removed setup container {} left by an unfinished setup",
                    c.name
                ),
                Err(e) => format!("setup container {} could not be removed: {e}", c.name),
            };
            tracing::warn!("{message}");
            continue;
        }
        let task = c
            .task
            .as_deref()
            .and_then(TaskId::parse)
            .and_then(|id| ctx.store.task(&id).ok().flatten());
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
        ctx.notice(None, 0, message);
    }
}

/// Active tasks with no engine behind them: drover stopped mid-run (a crash, kill -9, or
/// a quit that kept containers). A task whose container is still there goes back to the
/// queue to carry on in it (before new tasks, as it is older); one whose container is
/// gone is interrupted, saying so. Whether it could tell for every task (Docker may
/// answer a ping but not a lookup: then it is tried again later).
pub(super) async fn recover(
    ctx: &EngineCtx,
    rt: &Runtime,
    tasks: &mut [TaskRecord],
    running: &HashSet<&TaskId>,
) -> bool {
    let mut done = true;
    for t in tasks
        .iter_mut()
        .filter(|t| t.state.is_active() && !running.contains(&t.id))
    {
        let (transition, message) = match rt.find(&container_name(&t.id)).await {
            Ok(Some(f)) if f.task.as_deref() == Some(t.id.as_str()) => (
                Transition::Reattach,
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
                    Transition::Interrupt(why.into(), Cause::Other),
                    format!("task {}: {why}", t.id),
                )
            }
            Err(e) => {
                tracing::warn!("checking the container of {}: {e}", t.id);
                done = false;
                continue;
            }
        };
        move_saying(ctx, t, transition, message);
    }
    done
}

/// Tasks that Docker's absence interrupted go back to the queue to resume, once it is
/// here (the caller checked).
pub(super) fn resume_after_outage(ctx: &EngineCtx, tasks: &mut [TaskRecord]) {
    for t in tasks.iter_mut().filter(|t| {
        matches!(
            t.state,
            TaskState::Interrupted {
                cause: Cause::DockerLost,
                ..
            }
        )
    }) {
        let message = format!("task {}: Docker is back, resuming", t.id);
        move_saying(ctx, t, Transition::Resume, message);
    }
}

/// Moves a task the engine found left behind, and says why (or why it could not).
fn move_saying(ctx: &EngineCtx, t: &mut TaskRecord, transition: Transition, message: String) {
    match ctx.transition(t, transition) {
        Ok(()) => {
            tracing::info!("{message}");
            ctx.notice(Some(&t.id), t.attempt, message);
        }
        Err(e) => ctx.error(Some(&t.id), 0, e.to_string()),
    }
}
