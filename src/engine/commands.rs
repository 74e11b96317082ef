//! One handler per command, each answering with a typed `CommandResult`.
//!
//! What only touches the store (queue, cancel, retry, resume) is answered on the loop, at
//! once. What takes seconds (approve, push, discard, import, loading a history, asking
//! which agent would run) runs beside it, so scheduling and other commands never wait
//! on git, Docker or the network; a task has at most one approve, push or discard under
//! way.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::core::{Engine, lock};
use super::{EngineCtx, Mail};
use crate::config::Config;
use crate::protocol::{
    AgentSpec, Command, CommandError, CommandResult, EventBody, LongText, NewTask, Reply, TaskId,
    TaskRecord, TaskState, Transition,
};

pub(super) async fn dispatch(
    engine: &mut Engine,
    cmd: Command,
    reply: oneshot::Sender<CommandResult>,
) {
    match cmd {
        // The built-in agent needs a model: refused now, with why, rather than a task
        // that fails as it starts (every front end gets the same answer).
        Command::Queue { task } => match builtin_providers(&task) {
            providers if !providers.is_empty() => {
                let (ctx, me) = (engine.ctx.clone(), engine.me.clone());
                tokio::spawn(async move {
                    let mut checked = Ok(());
                    for p in &providers {
                        checked = checked.and(
                            which_agent(ctx.data.root(), &task.repo, p.as_deref())
                                .await
                                .map(|_| ()),
                        );
                    }
                    let r = checked.and_then(|_| queue(&ctx, *task));
                    if r.is_ok()
                        && let Some(me) = me.upgrade()
                    {
                        let _ = me.send(Mail::Wake);
                    }
                    let _ = reply.send(r);
                });
            }
            _ => send(reply, queue(&engine.ctx, *task)),
        },
        Command::Edit {
            id,
            title,
            prompt,
            agent,
        } => send(reply, edit(&engine.ctx, &id, title, prompt, agent)),
        // Not while an approval or push of the task runs: it would move the task under it.
        Command::Cancel { id } => send(
            reply,
            idle(engine, &id).and_then(|id| cancel(engine, &id, false)),
        ),
        Command::Retry { id, feedback } => send(
            reply,
            idle(engine, &id).and_then(|id| retry(&engine.ctx, &id, feedback)),
        ),
        Command::Resume { id } => send(
            reply,
            idle(engine, &id).and_then(|id| resume(&engine.ctx, &id)),
        ),
        Command::Discard { id } => match idle(engine, &id)
            .and_then(|id| engine.ctx.find(id.as_str()))
        {
            Ok(t) if engine.running.contains_key(&t.id) => send(reply, cancel(engine, &t.id, true)),
            Ok(t) => exclusive(engine, t.id, reply, |ctx, id| async move {
                discard_now(&ctx, &id).await
            }),
            Err(e) => send(reply, Err(e)),
        },
        Command::Approve {
            id,
            force,
            branch,
            keep_others,
        } => match engine.ctx.find(id.as_str()) {
            Ok(t) => exclusive(engine, t.id, reply, move |ctx, id| async move {
                let r = super::approve::approve(&ctx, &id, force, branch).await;
                if r.is_ok() && !keep_others {
                    discard_others(&ctx, &id).await;
                }
                r
            }),
            Err(e) => send(reply, Err(e)),
        },
        Command::Push { id } => match engine.ctx.find(id.as_str()) {
            Ok(t) => exclusive(engine, t.id, reply, |ctx, id| async move {
                super::push::push(&ctx, &id).await
            }),
            Err(e) => send(reply, Err(e)),
        },
        Command::Import {
            repo,
            reference,
            notes,
            agent,
        } => {
            let (ctx, me) = (engine.ctx.clone(), engine.me.clone());
            tokio::spawn(async move {
                let r = import(&ctx, repo, reference, notes, agent).await;
                if r.is_ok()
                    && let Some(me) = me.upgrade()
                {
                    let _ = me.send(Mail::Wake);
                }
                let _ = reply.send(r);
            });
        }
        Command::Load { id, attempt } => {
            if let Ok(t) = engine.ctx.find(id.as_str()) {
                engine.ctx.look_at(&t.id);
            }
            let ctx = engine.ctx.clone();
            tokio::task::spawn_blocking(move || {
                let _ = reply.send(load(&ctx, &id, attempt));
            });
        }
        Command::Page {
            id,
            text,
            from,
            attempt,
        } => {
            let ctx = engine.ctx.clone();
            tokio::task::spawn_blocking(move || {
                let _ = reply.send(page(&ctx, &id, text, from, attempt));
            });
        }
        Command::Compare { id, from, to, with } => {
            let ctx = engine.ctx.clone();
            tokio::task::spawn_blocking(move || {
                let _ = reply.send(compare(&ctx, &id, from, to, with));
            });
        }
        Command::WhichAgent { repo, provider } => {
            let data = engine.ctx.data.root().to_path_buf();
            tokio::spawn(async move {
                let _ = reply.send(which_agent(&data, &repo, provider.as_deref()).await);
            });
        }
    }
}

/// A task held by a command that must not have it moved meanwhile (approve, push,
/// discard): let go however the work ends, a panic included.
pub(super) struct Held(Arc<Mutex<HashSet<TaskId>>>, TaskId);

impl Held {
    /// Holds `id`, unless something holds it already.
    pub(super) fn take(busy: &Arc<Mutex<HashSet<TaskId>>>, id: &TaskId) -> Option<Held> {
        lock(busy)
            .insert(id.clone())
            .then(|| Held(busy.clone(), id.clone()))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        lock(&self.0).remove(&self.1);
    }
}

/// The task `id` names, unless a command that holds it (approve, push, discard) runs.
fn idle(engine: &Engine, id: &TaskId) -> Result<TaskId, CommandError> {
    let id = engine.ctx.find(id.as_str())?.id;
    if lock(&engine.busy).contains(&id) {
        return Err(CommandError::Busy { id });
    }
    Ok(id)
}

fn send(reply: oneshot::Sender<CommandResult>, r: CommandResult) {
    let _ = reply.send(r);
}

/// Runs `work` beside the loop unless the task has another such command under way.
fn exclusive<F, Fut>(engine: &Engine, id: TaskId, reply: oneshot::Sender<CommandResult>, work: F)
where
    F: FnOnce(Arc<EngineCtx>, TaskId) -> Fut + Send + 'static,
    Fut: Future<Output = CommandResult> + Send + 'static,
{
    let Some(held) = Held::take(&engine.busy, &id) else {
        let _ = reply.send(Err(CommandError::Busy { id }));
        return;
    };
    let ctx = engine.ctx.clone();
    tokio::spawn(async move {
        let r = work(ctx, id).await;
        drop(held);
        let _ = reply.send(r);
    });
}

/// The built-in agents' providers a new task (and its best-of-N others) asks for.
fn builtin_providers(t: &NewTask) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for a in std::iter::once(&t.agent).chain(&t.others) {
        if let AgentSpec::Builtin { provider } = a
            && !out.contains(provider)
        {
            out.push(provider.clone());
        }
    }
    out
}

/// Most attempts of one task run side by side.
const BEST_OF_MAX: usize = 8;

fn queue(ctx: &EngineCtx, mut new: NewTask) -> CommandResult {
    let failed = |e: super::add::AddError| CommandError::failed(e.to_string());
    let others = std::mem::take(&mut new.others);
    if others.is_empty() {
        let (task, _) = super::add(&ctx.store, ctx.data.root(), new).map_err(failed)?;
        let id = task.id.clone();
        announce(ctx, task);
        return Ok(Reply::Queued {
            id,
            others: Vec::new(),
        });
    }
    let of = others.len() + 1;
    if of > BEST_OF_MAX {
        return Err(CommandError::failed(format!(
            "{of} attempts side by side: at most {BEST_OF_MAX}"
        )));
    }
    // One base commit for all of them, so that what they did compares.
    let head = crate::workspace::resolve_head(&new.repo)
        .map_err(|e| CommandError::failed(e.to_string()))?;
    let group = TaskId::random().to_string();
    let mut ids = Vec::new();
    for (i, agent) in std::iter::once(new.agent.clone()).chain(others).enumerate() {
        let one = NewTask {
            agent,
            ..new.clone()
        };
        let g = crate::protocol::Group {
            id: group.clone(),
            index: i as u32 + 1,
            of: of as u32,
        };
        let task =
            super::add::add_at(&ctx.store, ctx.data.root(), one, &head, Some(g)).map_err(failed)?;
        ids.push(task.id.clone());
        announce(ctx, task);
    }
    let id = ids.remove(0);
    Ok(Reply::Queued { id, others: ids })
}

/// Changes a queued task (the engine starts tasks on this same loop, so it cannot start
/// between the check and the change); front ends hear of it as the task again.
fn edit(
    ctx: &EngineCtx,
    id: &TaskId,
    title: String,
    prompt: String,
    agent: AgentSpec,
) -> CommandResult {
    let t = ctx.find(id.as_str())?;
    let (title, prompt, agent) = super::add::cleaned(&title, &prompt, &agent)
        .map_err(|e| CommandError::failed(e.to_string()))?;
    let task = ctx
        .store
        .edit_queued(&t.id, &title, prompt.trim(), &agent)
        .map_err(|e| match e {
            crate::store::StoreError::Conflict { .. } => CommandError::failed(format!(
                "task {} is {} now: only a queued task can be edited",
                t.id,
                ctx.find(t.id.as_str())
                    .map_or("gone".into(), |t| t.state.name().to_string())
            )),
            e => CommandError::failed(e.to_string()),
        })?;
    let id = task.id.clone();
    announce(ctx, task);
    Ok(Reply::Edited { id })
}

/// Tells front ends about a task just recorded.
fn announce(ctx: &EngineCtx, task: TaskRecord) {
    let (id, n) = (task.id.clone(), task.attempt);
    let attempt = ctx.store.attempt(&id, n).unwrap_or_default();
    let body = EventBody::TaskAdded {
        task: Box::new(task),
        attempt: Box::new(attempt),
    };
    ctx.bus.emit(Some(&id), n, body);
}

async fn import(
    ctx: &EngineCtx,
    repo: PathBuf,
    reference: String,
    notes: Option<String>,
    agent: AgentSpec,
) -> CommandResult {
    let (task, _) = super::import::import_issue(
        &ctx.store,
        ctx.data.root(),
        &repo,
        &reference,
        notes.as_deref(),
        agent,
    )
    .await
    .map_err(CommandError::failed)?;
    let (id, title) = (task.id.clone(), task.title.clone());
    let (reference, removed) = match &task.origin {
        Some(o) => (
            o.reference.to_string(),
            if o.removed.is_empty() {
                String::new()
            } else {
                o.removed.to_string()
            },
        ),
        None => (reference, String::new()),
    };
    announce(ctx, task);
    let reply = Reply::Imported {
        id: id.clone(),
        reference,
        title,
        removed,
    };
    ctx.notice(Some(&id), 1, reply.to_string());
    Ok(reply)
}

fn cancel(engine: &mut Engine, id: &TaskId, then_discard: bool) -> CommandResult {
    let mut t = engine.ctx.find(id.as_str())?;
    if let Some(r) = engine.running.get_mut(&t.id) {
        r.cancel.cancel();
        r.discard_after |= then_discard;
        // Stopping the container ends whatever runs in it right now; it can take
        // seconds, so the loop does not wait for it.
        if let Some(rt) = engine.ctx.runtime.get() {
            let name = crate::runtime::container_name(&t.id);
            tokio::spawn(async move {
                if let Err(e) = rt.stop(&name).await {
                    tracing::warn!("stopping {name}: {e}");
                }
            });
        }
        return Ok(Reply::Cancelling {
            id: t.id,
            then_discard,
        });
    }
    engine.ctx.transition(&mut t, Transition::Cancel)?;
    Ok(Reply::Cancelled { id: t.id })
}

pub(super) fn retry(ctx: &EngineCtx, id: &TaskId, feedback: Option<String>) -> CommandResult {
    if let Some(f) = &feedback {
        super::add::too_long("feedback", f, super::add::TEXT_MAX)
            .map_err(|e| CommandError::failed(e.to_string()))?;
    }
    let mut t = ctx.find(id.as_str())?;
    let mut feedback = feedback;
    // A pushed task's follow-up: it continues the branch in its workspace, keeps the
    // pull request, and is asked (unless told otherwise) what the pull request asks.
    let carried = match t.state {
        TaskState::Pushed => {
            let a = ctx.store.attempt(&t.id, t.attempt)?;
            if !t.git(&ctx.data).workspace.is_dir() {
                return Err(CommandError::failed(
                    "its workspace was removed (drover gc): a follow-up continues the pushed branch there, so there is nothing to continue",
                ));
            }
            if feedback.is_none() {
                let asked = a
                    .pr_status
                    .as_ref()
                    .map(|s| s.as_feedback())
                    .unwrap_or_default();
                if asked.trim().is_empty() {
                    return Err(CommandError::failed(
                        "nothing waits on the pull request (no open review comment, no failing check): say what the follow-up should do (r in the TUI, or --feedback)",
                    ));
                }
                feedback = Some(crate::text::ellipsize(&asked, super::add::TEXT_MAX));
            }
            Some(a)
        }
        _ => None,
    };
    let with_feedback = feedback.is_some();
    ctx.transition(&mut t, Transition::Retry { feedback })?;
    if let Some(a) = carried {
        ctx.update_attempt(&t.id, t.attempt, |n| {
            n.pr_number = a.pr_number;
            n.pr_url = a.pr_url;
            n.pr_status = a.pr_status;
        })?;
    }
    Ok(Reply::Retrying {
        id: t.id,
        attempt: t.attempt,
        with_feedback,
    })
}

fn resume(ctx: &EngineCtx, id: &TaskId) -> CommandResult {
    let mut t = ctx.find(id.as_str())?;
    ctx.transition(&mut t, Transition::Resume)?;
    Ok(Reply::Resuming {
        id: t.id,
        attempt: t.attempt,
    })
}

/// Removes a resting task's containers and workspace; its history stays.
/// Best-of-N: `id` was approved, so its task's other attempts that lost (in review,
/// failed, cancelled, interrupted) are discarded; the others are left alone, and said so.
async fn discard_others(ctx: &EngineCtx, id: &TaskId) {
    let Ok(t) = ctx.find(id.as_str()) else { return };
    let Some(g) = t.group.clone() else { return };
    let Ok(all) = ctx.store.tasks(Some(&t.repo)) else {
        return;
    };
    let (mut gone, mut left) = (Vec::new(), Vec::new());
    for o in all
        .iter()
        .filter(|o| o.id != t.id && o.group.as_ref().is_some_and(|og| og.id == g.id))
    {
        // Only what lost the comparison goes: a sibling approved, pushed or merged
        // meanwhile is someone's decision, and one not run yet is left to run.
        let lost = matches!(
            o.state,
            TaskState::Review
                | TaskState::Failed { .. }
                | TaskState::Cancelled
                | TaskState::Interrupted { .. }
        );
        if !lost {
            if o.state != TaskState::Discarded {
                left.push(format!("{} ({})", o.id, o.state.name()));
            }
            continue;
        }
        match discard_now(ctx, &o.id).await {
            Ok(_) => gone.push(o.id.to_string()),
            Err(e) => ctx.error(Some(&o.id), o.attempt, format!("discarding it: {e}")),
        }
    }
    let mut said = String::new();
    if !gone.is_empty() {
        said = format!("the other attempts were discarded: {}", gone.join(", "));
    }
    if !left.is_empty() {
        if !said.is_empty() {
            said.push_str("; ");
        }
        said.push_str(&format!("left alone: {}", left.join(", ")));
    }
    if !said.is_empty() {
        ctx.notice(Some(&t.id), t.attempt, said);
    }
}

pub(super) async fn discard_now(ctx: &EngineCtx, id: &TaskId) -> CommandResult {
    let mut t = ctx.find(id.as_str())?;
    // Refused now, before anything is removed, when the task is not one to discard.
    crate::protocol::state::next(&t.state, Transition::Discard)?;
    let Some(rt) = ctx.runtime.get() else {
        return Err(CommandError::DockerUnavailable {
            what: "cannot remove the task's container".into(),
        });
    };
    rt.remove_task_containers(t.id.as_str())
        .await
        .map_err(|e| CommandError::failed(e.to_string()))?;
    let dir = ctx.data.workspace(&t.id);
    if dir.exists() {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(d))
            .await
            .map_err(|e| CommandError::failed(e.to_string()))?
            .map_err(|e| CommandError::failed(format!("removing {}: {e}", dir.display())))?;
    }
    let layer = ctx.data.env_layer(&t.id);
    let l = layer.clone();
    tokio::task::spawn_blocking(move || crate::environment::layer::remove(&l))
        .await
        .map_err(|e| CommandError::failed(e.to_string()))?
        .map_err(|e| CommandError::failed(format!("removing {}: {e}", layer.display())))?;
    // Its egress proxy's socket directory (the proxy itself ended with the attempt).
    let _ = std::fs::remove_dir_all(ctx.data.proxy_dir(&t.id));
    let _ = std::fs::remove_dir_all(ctx.data.setup_proxy_dir(&t.id));
    ctx.transition(&mut t, Transition::Discard)?;
    Ok(Reply::Discarded { id: t.id })
}

/// The task as of its attempt `n` (the current one when `None`), or why there is none.
fn at_attempt(ctx: &EngineCtx, id: &TaskId, n: Option<u32>) -> Result<TaskRecord, CommandError> {
    let mut t = ctx.find(id.as_str())?;
    if let Some(n) = n {
        if n == 0 || n > t.attempt {
            return Err(CommandError::failed(format!(
                "task {} has no attempt {n} (it has 1 to {})",
                t.id, t.attempt
            )));
        }
        t.attempt = n;
    }
    Ok(t)
}

fn load(ctx: &EngineCtx, id: &TaskId, attempt: Option<u32>) -> CommandResult {
    let t = at_attempt(ctx, id, attempt)?;
    let history = Box::new(super::history::history(ctx, &t));
    Ok(Reply::History { id: t.id, history })
}

fn page(
    ctx: &EngineCtx,
    id: &TaskId,
    text: LongText,
    from: u64,
    attempt: Option<u32>,
) -> CommandResult {
    let t = at_attempt(ctx, id, attempt)?;
    let page = super::history::page(ctx, &t, text, from)?;
    Ok(Reply::Page {
        id: t.id,
        text,
        page,
    })
}

/// The patch between two attempts' recorded trees, its first page.
fn compare(
    ctx: &EngineCtx,
    id: &TaskId,
    from: u32,
    to: u32,
    with: Option<TaskId>,
) -> CommandResult {
    let a = at_attempt(ctx, id, Some(from))?;
    let b = at_attempt(ctx, with.as_ref().unwrap_or(id), Some(to))?;
    // Two tasks' trees compare in one repository's store: attempts of one task only.
    let same = |x: &TaskRecord, y: &TaskRecord| {
        x.group
            .as_ref()
            .zip(y.group.as_ref())
            .is_some_and(|(g, h)| g.id == h.id)
    };
    if a.id != b.id && !same(&a, &b) {
        return Err(CommandError::failed(format!(
            "{} and {} are not attempts of one task: nothing to compare",
            a.id, b.id
        )));
    }
    let patch = super::history::between(ctx, &a, &b).map_err(CommandError::failed)?;
    Ok(Reply::Page {
        id: a.id,
        text: LongText::Patch,
        page: crate::protocol::Page::of(&patch, 0),
    })
}

/// What would work on a new task of `repo`, as this engine's environment and config
/// (the repository's, trusted as this data dir records) decide.
async fn which_agent(
    data: &std::path::Path,
    repo: &std::path::Path,
    provider: Option<&str>,
) -> CommandResult {
    let root = crate::workspace::resolve_head(repo)
        .map_err(|e| CommandError::failed(e.to_string()))?
        .root;
    let config =
        Config::load_in(Some(&root), data).map_err(|e| CommandError::failed(e.to_string()))?;
    let label = crate::agent::resolve::describe(&config.agent, config.network, provider)
        .await
        .map_err(CommandError::failed)?;
    Ok(Reply::Agent { label })
}
