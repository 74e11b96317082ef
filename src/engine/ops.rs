//! Task operations that need no running attempt: add, retry, discard.
//!
//! Used by the engine loop and by `drover add` directly (adding a task is a store write;
//! the engine that owns the data dir picks it up).

use super::EngineCtx;
use crate::config::Config;
use crate::protocol::EventBody;
use crate::protocol::TaskId;
use crate::protocol::clock::now_rfc3339;
use crate::protocol::{AgentSpec, NewTask, TaskRecord};
use crate::protocol::{TaskState, Transition};
use crate::store::{Store, StoreError};
use crate::workspace::{self, RepoHead};

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Repo(#[from] workspace::WorkspaceError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// Records a new task based on the current HEAD of its repository.
/// `data` is the data dir's root (whose trust records count for the branch prefix).
pub fn add(
    store: &Store,
    data: &std::path::Path,
    new: NewTask,
) -> Result<(TaskRecord, RepoHead), AddError> {
    let head = workspace::resolve_head(&new.repo)?;
    let config = Config::load_in(Some(&head.root), data)?;
    // A secret pasted into a task never reaches the store (nor the branch name).
    let redact = |s: &str| crate::redact::redact(s).into_owned();
    let title = redact(new.title.trim());
    let title = title.as_str();
    let prompt = redact(&new.prompt);
    let agent = match &new.agent {
        AgentSpec::Scripted { script, source } => AgentSpec::Scripted {
            script: redact(script),
            source: redact(source),
        },
        other => other.clone(),
    };
    if title.is_empty() {
        return Err(AddError::Invalid("a task needs a title".into()));
    }
    let mut last_err = None;
    // Ids are random: on the (unlikely) collision, draw again.
    for _ in 0..3 {
        let id = TaskId::random();
        let branch = format!("{}{}-{}", config.branch_prefix, id, slug(title));
        if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(AddError::Invalid(format!("invalid branch name {branch}")));
        }
        let now = now_rfc3339();
        let record = TaskRecord {
            id,
            repo_hash: crate::paths::repo_hash(&head.root),
            repo: head.root.clone(),
            title: title.to_string(),
            prompt: prompt.clone(),
            agent: agent.clone(),
            base_commit: head.commit.clone(),
            base_ref: head.branch.clone(),
            branch,
            state: TaskState::Queued,
            attempt: 1,
            created_at: now.clone(),
            updated_at: now,
            origin: new.origin.clone(),
        };
        match store.insert_task(&record) {
            Ok(()) => {
                crate::crash::point("after_db_enqueue");
                return Ok((record, head));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err
        .map(AddError::Store)
        .unwrap_or_else(|| AddError::Invalid("cannot record the task".into())))
}

/// Re-queues a resting task as a new attempt.
pub fn retry(ctx: &EngineCtx, id: &TaskId, feedback: Option<String>) -> Result<String, String> {
    let task = ctx.store.find(id.as_str()).map_err(|e| e.to_string())?;
    crate::protocol::state::next(&task.state, Transition::Retry).map_err(|e| e.to_string())?;
    let n = task.attempt + 1;
    let kind = if feedback.is_some() {
        "with feedback"
    } else {
        "from scratch"
    };
    let feedback = feedback.map(|f| crate::redact::redact(&f).into_owned());
    ctx.store
        .begin_attempt(&task.id, n, &task.state, feedback)
        .map_err(|e| e.to_string())?;
    ctx.bus.emit(
        Some(&task.id),
        n,
        EventBody::StateChanged {
            from: task.state,
            to: TaskState::Queued,
        },
    );
    Ok(format!(
        "task {} queued again (attempt {n}, {kind})",
        task.id
    ))
}

/// Puts an interrupted task back in the queue to go on where it stopped.
pub fn resume(ctx: &EngineCtx, id: &TaskId) -> Result<String, String> {
    let task = ctx.store.find(id.as_str()).map_err(|e| e.to_string())?;
    if !matches!(task.state, TaskState::Interrupted { .. }) {
        return Err(format!(
            "task {} is {}: only an interrupted task can resume (retry starts a new attempt)",
            task.id,
            task.state.name()
        ));
    }
    let mut m = super::supervisor::Mover::new(ctx, task);
    m.go(Transition::Resume)?;
    Ok(format!(
        "task {} queued to resume attempt {}",
        m.task.id, m.task.attempt
    ))
}

/// Removes a resting task's containers and workspace; its history stays.
pub async fn discard(ctx: &EngineCtx, id: &TaskId) -> Result<String, String> {
    let task = ctx.store.find(id.as_str()).map_err(|e| e.to_string())?;
    let to = crate::protocol::state::next(&task.state, Transition::Discard)
        .map_err(|e| e.to_string())?;
    match &ctx.runtime.get() {
        Some(rt) => {
            rt.remove_task_containers(task.id.as_str())
                .await
                .map_err(|e| e.to_string())?;
        }
        None => return Err("docker unavailable: cannot remove the task's container".into()),
    }
    let dir = ctx.data.workspace(&task.id);
    if dir.exists() {
        let d = dir.clone();
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(d))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    ctx.store
        .set_state(&task.id, task.attempt, &task.state, &to)
        .map_err(|e| e.to_string())?;
    ctx.bus.emit(
        Some(&task.id),
        task.attempt,
        EventBody::StateChanged {
            from: task.state,
            to,
        },
    );
    Ok(format!(
        "task {} discarded (container and workspace removed)",
        task.id
    ))
}

/// The stored history of a task's current attempt (blocking: file and git reads). The
/// patch is the one of the attempt's latest snapshot, from drover's own repository (no
/// workspace is read here).
pub fn history(ctx: &EngineCtx, task: &TaskRecord) -> EventBody {
    let n = task.attempt;
    let dir = ctx.data.attempt_dir(&task.id, n);
    let attempt = ctx.store.attempt(&task.id, n).unwrap_or_default();
    let (entries, mut warnings) =
        match crate::store::read_transcript(&ctx.data.transcript(&task.id, n)) {
            Ok(r) => r,
            Err(e) => (Vec::new(), vec![format!("transcript: {e}")]),
        };
    let test_output = std::fs::read_to_string(dir.join("test.log")).unwrap_or_default();
    let tree = attempt.diff.as_ref().and_then(|d| d.tree.clone());
    let patch = match tree {
        Some(tree) => match recorded_patch(ctx, task, &tree) {
            Ok(p) => p,
            Err(e) => {
                warnings.push(format!("diff: {e}"));
                String::new()
            }
        },
        None => std::fs::read_to_string(dir.join("diff.patch")).unwrap_or_default(),
    };
    EventBody::History {
        attempt: Box::new(attempt),
        entries,
        test_output,
        patch,
        warnings,
    }
}

/// The patch from the task's base to a snapshot tree it recorded.
fn recorded_patch(ctx: &EngineCtx, task: &TaskRecord, tree: &str) -> Result<String, String> {
    let git = task.git(&ctx.data);
    let store = git.open_store().map_err(|e| e.to_string())?;
    let err = |e: git2::Error| e.message().to_string();
    let base = store
        .find_commit(git.base_oid().map_err(|e| e.to_string())?)
        .map_err(err)?
        .tree_id();
    let tree = git2::Oid::from_str(tree).map_err(err)?;
    workspace::diff_trees(&store, base, tree)
        .map(|d| d.patch)
        .map_err(err)
}

/// Pushes an approved task's branch to the configured remote. If the remote branch moved,
/// the task is blocked (both commits shown) and nothing is pushed.
pub async fn push(ctx: &EngineCtx, id: &TaskId) -> Result<String, String> {
    let task = ctx.store.find(id.as_str()).map_err(|e| e.to_string())?;
    let n = task.attempt;
    let to =
        crate::protocol::state::next(&task.state, Transition::Push).map_err(|e| e.to_string())?;
    let config = Config::load_in(Some(&task.repo), ctx.data.root()).map_err(|e| e.to_string())?;
    // One lookup for the push and the pull request (it may ask the gh CLI: off the loop).
    let token_env = config.forge.token_env.clone();
    let token = tokio::task::spawn_blocking(move || crate::forge::token(token_env.as_deref()))
        .await
        .map_err(|e| e.to_string())?;
    let (repo, branch, prefix, remote) = (
        task.repo.clone(),
        task.branch.clone(),
        config.branch_prefix.clone(),
        config.remote.clone(),
    );
    // Nothing leaves with a secret in it: scan what the push would publish first.
    let (r2, b2, base) = (
        task.repo.clone(),
        task.branch.clone(),
        task.base_commit.clone(),
    );
    let hit = tokio::task::spawn_blocking(move || {
        workspace::scan_outgoing(&r2, &base, &b2, crate::redact::Redactor::global())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if let Some(hit) = hit {
        let reason = format!(
            "secret detected in {} ({}, value not shown); nothing was pushed",
            hit.place, hit.kind
        );
        let blocked = crate::protocol::state::next(&task.state, Transition::Block(reason.clone()))
            .map_err(|e| e.to_string())?;
        ctx.store
            .set_state(&task.id, n, &task.state, &blocked)
            .map_err(|e| e.to_string())?;
        ctx.bus.emit(
            Some(&task.id),
            n,
            EventBody::StateChanged {
                from: task.state.clone(),
                to: blocked,
            },
        );
        return Err(reason);
    }
    // Whether it still merges onto the base as the remote has it now: said, not blocking.
    let merge = match task.base_ref.clone() {
        Some(base) => {
            let (r3, b3, rem, tok) = (
                task.repo.clone(),
                task.branch.clone(),
                config.remote.clone(),
                token.clone(),
            );
            tokio::task::spawn_blocking(move || {
                workspace::merge_check(&r3, &rem, &base, &b3, tok.as_deref())
            })
            .await
            .map_err(|e| e.to_string())?
        }
        None => workspace::MergeCheck::Unknown("the task started from a detached HEAD".into()),
    };
    let base_name = format!(
        "{}/{}",
        config.remote,
        task.base_ref.as_deref().unwrap_or("HEAD")
    );
    let pr_token = token.clone();
    let result = tokio::task::spawn_blocking(move || {
        workspace::push(&repo, &remote, &branch, &prefix, token.as_deref())
    })
    .await
    .map_err(|e| e.to_string())?;
    let emit = |body| ctx.bus.emit(Some(&task.id), n, body);
    match result {
        Ok(p) => {
            crate::crash::point("after_push");
            let pushed = if p.already { "was already" } else { "pushed" };
            let mut done = format!(
                "{} {pushed} on {} at {} ({merge} onto {base_name})",
                task.branch,
                config.remote,
                &p.commit[..12]
            );
            match super::pull_request::open(ctx, &task, &config, &p.remote_url, pr_token).await {
                Ok(Some(pr)) => {
                    let kind = if config.forge.draft {
                        "draft pull request"
                    } else {
                        "pull request"
                    };
                    done.push_str(&format!("; {kind} #{} {}", pr.number, pr.url));
                    let rec = ctx
                        .store
                        .update_attempt(&task.id, n, |a| {
                            a.pr_number = Some(pr.number);
                            a.pr_url = Some(pr.url.clone());
                        })
                        .map_err(|e| e.to_string())?;
                    emit(EventBody::AttemptUpdated {
                        attempt: Box::new(rec),
                    });
                }
                Ok(None) => {}
                // The branch is out; the PR can be tried again with another push.
                Err(e) => return Err(format!("{done}, but the pull request failed: {e}")),
            }
            ctx.store
                .set_state(&task.id, n, &task.state, &to)
                .map_err(|e| e.to_string())?;
            emit(EventBody::StateChanged {
                from: task.state.clone(),
                to,
            });
            emit(EventBody::Notice {
                message: done.clone(),
            });
            Ok(done)
        }
        Err(e @ workspace::PushError::RemoteMoved { .. }) => {
            let reason = e.to_string();
            let blocked =
                crate::protocol::state::next(&task.state, Transition::Block(reason.clone()))
                    .map_err(|e| e.to_string())?;
            ctx.store
                .set_state(&task.id, n, &task.state, &blocked)
                .map_err(|e| e.to_string())?;
            emit(EventBody::StateChanged {
                from: task.state.clone(),
                to: blocked,
            });
            Err(reason)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A branch-safe slug of a title: lowercase ascii words joined by '-', at most 40 chars.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for word in title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        if out.len() + word.len() + 1 > 40 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word);
    }
    if out.is_empty() { "task".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_branch_safe() {
        assert_eq!(slug("Fix add() in calc.py!"), "fix-add-in-calc-py");
        assert_eq!(slug("   "), "task");
        assert_eq!(slug("Ünïcode only ✓"), "n-code-only");
        let long = slug(&"word ".repeat(30));
        assert!(long.len() <= 40, "{long}");
    }
}
