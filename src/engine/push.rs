//! Publishing an approved task: its branch pushed to the configured remote (never
//! forced), then its pull request found or opened (`pull_request`).
//!
//! Nothing leaves with a secret in it: every blob and path the push would publish is
//! scanned first. A secret, or a remote branch that moved, blocks the task with the
//! reason and pushes nothing. The git side is `workspace::push`.

use super::EngineCtx;
use crate::config::Config;
use crate::protocol::{
    CommandError, CommandResult, PullRequestRef, Reply, TaskId, TaskRecord, TaskState, Transition,
};
use crate::workspace;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::failed(e.to_string()))
}

pub(super) async fn push(ctx: &EngineCtx, id: &TaskId) -> CommandResult {
    let mut task = ctx.find(id.as_str())?;
    let config =
        Config::load_in(Some(&task.repo), ctx.data.root()).map_err(CommandError::failed)?;
    // Pushed, but its pull request could not be opened then: just the pull request now.
    if task.state == TaskState::Pushed {
        return pull_request_only(ctx, &task, &config).await;
    }
    // Refused now, before anything leaves, when the task is not one to push.
    crate::protocol::state::next(&task.state, Transition::Push)?;
    // A follow-up attempt updates the pull request its task already has.
    let earlier_pr = ctx.store.attempt(&task.id, task.attempt)?.pr_number;
    // One lookup for the push and the pull request (it may ask the gh CLI).
    let token_env = config.forge.token_env.clone();
    let token = blocking(move || crate::forge::token(token_env.as_deref())).await?;

    let (r, b, base) = (
        task.repo.clone(),
        task.branch.clone(),
        task.base_commit.clone(),
    );
    let hit = blocking(move || {
        workspace::scan_outgoing(&r, &base, &b, crate::redact::Redactor::global())
    })
    .await?
    .map_err(CommandError::failed)?;
    if let Some(hit) = hit {
        let reason = format!(
            "secret detected in {} ({}, value not shown); nothing was pushed",
            hit.place, hit.kind
        );
        ctx.transition(&mut task, Transition::Block(reason.clone()))?;
        return Err(CommandError::Blocked {
            id: task.id,
            reason,
        });
    }

    // Whether it still merges onto the base as the remote has it now: said, not blocking.
    let merge = match task.base_ref.clone() {
        Some(base) => {
            let (r, b, remote, tok) = (
                task.repo.clone(),
                task.branch.clone(),
                config.remote.clone(),
                token.clone(),
            );
            blocking(move || workspace::merge_check(&r, &remote, &base, &b, tok.as_deref())).await?
        }
        None => workspace::MergeCheck::Unknown("the task started from a detached HEAD".into()),
    };
    let base = format!(
        "{}/{}",
        config.remote,
        task.base_ref.as_deref().unwrap_or("HEAD")
    );
    let (r, b, prefix, remote, tok) = (
        task.repo.clone(),
        task.branch.clone(),
        config.branch_prefix.clone(),
        config.remote.clone(),
        token.clone(),
    );
    let pushed =
        blocking(move || workspace::push(&r, &remote, &b, &prefix, tok.as_deref())).await?;
    let p = match pushed {
        Ok(p) => p,
        Err(e @ workspace::PushError::RemoteMoved { .. }) => {
            let reason = e.to_string();
            ctx.transition(&mut task, Transition::Block(reason.clone()))?;
            return Err(CommandError::Blocked {
                id: task.id,
                reason,
            });
        }
        Err(e) => return Err(CommandError::failed(e)),
    };
    crate::crash::point("after_push");
    let mut reply = Reply::Pushed {
        id: task.id.clone(),
        branch: task.branch.clone(),
        remote: config.remote.clone(),
        commit: p.commit.clone(),
        already: p.already,
        merge: merge.to_string(),
        base,
        pull_request: None,
    };
    match super::pull_request::open(ctx, &task, &config, &p.remote_url, token.clone()).await {
        Ok(Some(pr)) => {
            if earlier_pr == Some(pr.number) && !p.already {
                let said = super::pull_request::updated(ctx, &task, &config, &pr, token).await;
                ctx.notice(Some(&task.id), task.attempt, said);
            }
            ctx.update_attempt(&task.id, task.attempt, |a| {
                a.pr_number = Some(pr.number);
                a.pr_url = Some(pr.url.clone());
                a.pr_note = None;
            })?;
            if let Reply::Pushed { pull_request, .. } = &mut reply {
                *pull_request = Some(PullRequestRef {
                    number: pr.number,
                    url: pr.url,
                    draft: config.forge.draft,
                });
            }
        }
        Ok(None) => {}
        // The branch is out; pushing again tries the pull request again.
        Err(e) => {
            let why = format!("the pull request failed: {e} (p tries it again)");
            ctx.update_attempt(&task.id, task.attempt, |a| a.pr_note = Some(why))?;
            return Err(CommandError::failed(format!(
                "{reply}, but the pull request failed: {e}"
            )));
        }
    }
    ctx.transition(&mut task, Transition::Push)?;
    ctx.notice(Some(&task.id), task.attempt, reply.to_string());
    Ok(reply)
}

/// `p` on a pushed task whose pull request could not be opened (no token then, say):
/// the pull request alone, the branch being out already.
async fn pull_request_only(ctx: &EngineCtx, task: &TaskRecord, config: &Config) -> CommandResult {
    let attempt = ctx.store.attempt(&task.id, task.attempt)?;
    if let Some(n) = attempt.pr_number {
        return Err(CommandError::failed(format!(
            "already pushed, with pull request #{n}: a follow-up (r) makes something new to push"
        )));
    }
    let token_env = config.forge.token_env.clone();
    let token = blocking(move || crate::forge::token(token_env.as_deref())).await?;
    let (r, remote) = (task.repo.clone(), config.remote.clone());
    let url = blocking(move || workspace::push_url(&r, &remote))
        .await?
        .map_err(CommandError::failed)?;
    match super::pull_request::open(ctx, task, config, &url, token).await {
        Ok(Some(pr)) => {
            ctx.update_attempt(&task.id, task.attempt, |a| {
                a.pr_number = Some(pr.number);
                a.pr_url = Some(pr.url.clone());
                a.pr_note = None;
            })?;
            let reply = Reply::Pushed {
                id: task.id.clone(),
                branch: task.branch.clone(),
                remote: config.remote.clone(),
                commit: attempt.approved_commit.clone().unwrap_or_default(),
                already: true,
                merge: "pushed earlier".into(),
                base: format!(
                    "{}/{}",
                    config.remote,
                    task.base_ref.as_deref().unwrap_or("HEAD")
                ),
                pull_request: Some(PullRequestRef {
                    number: pr.number,
                    url: pr.url,
                    draft: config.forge.draft,
                }),
            };
            ctx.notice(Some(&task.id), task.attempt, reply.to_string());
            Ok(reply)
        }
        // Why not is said as a notice and kept on the attempt.
        Ok(None) => Err(CommandError::failed(
            ctx.store
                .attempt(&task.id, task.attempt)?
                .pr_note
                .unwrap_or_else(|| "no pull request could be opened".into()),
        )),
        Err(e) => {
            let why = format!("the pull request failed: {e} (p tries it again)");
            ctx.update_attempt(&task.id, task.attempt, |a| a.pr_note = Some(why.clone()))?;
            Err(CommandError::failed(why))
        }
    }
}
