//! Approval: the workspace's files as they are now become a commit on the task branch,
//! which is brought into the user's repository.
//!
//! In order, so that a refusal changes nothing: the user's repository is checked first
//! (a branch of that name drover did not make, or one checked out in a worktree, is
//! refused); the workspace is read whole (a snapshot that cannot be made blocks, it
//! never commits "no changes"); the test verdict counts only for the very tree it was
//! given on; then drover commits in its own repository and publishes. The git side is
//! `workspace::commit`; this module decides and records.

use super::EngineCtx;
use crate::protocol::{
    CommandError, CommandResult, EventBody, Page, Reply, TaskId, Transition, Verdict,
};
use crate::workspace::{self, SnapshotOptions};

/// Approves a task in review. Failing (or not applicable) tests need `force`, which is
/// recorded in the commit. `branch` renames the task branch first.
pub(super) async fn approve(
    ctx: &EngineCtx,
    id: &TaskId,
    force: bool,
    branch: Option<String>,
) -> CommandResult {
    let mut task = ctx.find(id.as_str())?;
    // Refused now, before any git work, when the task is not in review.
    crate::protocol::state::next(&task.state, Transition::Approve)?;
    let n = task.attempt;
    let attempt = ctx.store.attempt(&task.id, n)?;
    let old_branch = task.branch.clone();
    if let (Some(_), Some(n)) = (
        branch.as_ref().filter(|b| **b != task.branch),
        attempt.pr_number,
    ) {
        return Err(CommandError::failed(format!(
            "--branch: this follow-up updates pull request #{n}, whose branch is {}; it keeps that name",
            task.branch
        )));
    }
    if let Some(name) = branch.filter(|b| *b != task.branch) {
        if !git2::Reference::is_valid_name(&format!("refs/heads/{name}")) {
            return Err(CommandError::failed(format!(
                "--branch {name}: not a valid branch name"
            )));
        }
        task.branch = name;
    }
    // Commits drover made for this task: the branch may be moved from one of those.
    let ours: Vec<String> = (1..=n)
        .filter_map(|k| ctx.store.attempt(&task.id, k).ok()?.approved_commit)
        .collect();
    let git = task.git(&ctx.data);

    let (g, o) = (git.clone(), ours.clone());
    blocking(move || workspace::check_publish(&g.user_repo, &g.branch, &o))
        .await?
        .map_err(CommandError::failed)?;

    let g = git.clone();
    let opts = SnapshotOptions {
        rehash: true,
        persist: true,
        list_ignored: false,
    };
    let snap = blocking(move || workspace::snapshot(&g, opts))
        .await?
        .map_err(|e| CommandError::failed(format!("cannot approve: {e}; nothing was committed")))?;

    // What is committed is what the user saw: if the files changed since the diff was
    // taken, the new diff is shown instead and nothing is approved.
    let seen = attempt.diff.as_ref().and_then(|d| d.tree.clone());
    if let Some(seen) = seen.filter(|t| *t != snap.tree.to_string()) {
        let changed = changed_since(&git, &seen, snap.tree).await;
        show_new_diff(ctx, &task, &git, snap).await;
        return Err(CommandError::ChangedSinceDiff {
            id: task.id,
            changed,
        });
    }
    let verdict = attempt.tests.as_ref().map(|t| t.verdict);
    let tested = attempt.tests.as_ref().and_then(|t| t.tree.clone());
    let same_tree = tested.as_deref() == Some(snap.tree.to_string().as_str());
    let passed = verdict == Some(Verdict::Passed) && same_tree;
    if !passed && !force {
        let why = if verdict == Some(Verdict::Passed) {
            let changed = match tested {
                Some(t) => changed_since(&git, &t, snap.tree).await,
                None => "unknown files".into(),
            };
            format!("the workspace changed after the tests passed ({changed})")
        } else {
            format!(
                "the tests {}",
                verdict.map_or("were not run", Verdict::outcome)
            )
        };
        return Err(CommandError::TestsNotPassed {
            id: task.id,
            verdict,
            why,
        });
    }

    let msg = workspace::commit_message(
        &task.title,
        attempt.summary.as_deref(),
        task.id.as_str(),
        !passed,
    );
    if task.branch != old_branch {
        let (g, old) = (git.clone(), old_branch.clone());
        blocking(move || rename_in_store(&g, &old))
            .await?
            .map_err(CommandError::failed)?;
        ctx.store.set_branch(&task.id, &task.branch)?;
    }
    let g = git.clone();
    let commit = blocking(move || -> Result<String, String> {
        let author = workspace::author(&g.user_repo).map_err(|e| e.to_string())?;
        let oid =
            workspace::commit_tree(&g, snap.tree, &msg, &author).map_err(|e| e.to_string())?;
        crate::crash::point("after_commit");
        workspace::publish(&g, &g.branch, &oid, &ours).map_err(|e| e.to_string())?;
        Ok(oid)
    })
    .await?
    .map_err(CommandError::failed)?;
    ctx.update_attempt(&task.id, n, |a| {
        a.approved_commit = Some(commit.clone());
        a.tests_overridden = !passed;
    })?;
    ctx.transition(&mut task, Transition::Approve)?;
    let reply = Reply::Approved {
        id: task.id.clone(),
        branch: task.branch.clone(),
        commit,
    };
    ctx.notice(Some(&task.id), n, reply.to_string());
    Ok(reply)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(CommandError::failed)
}

/// The files that differ between the tested tree and `now`, for the refusal.
async fn changed_since(git: &workspace::TaskGit, tested: &str, now: git2::Oid) -> String {
    let (g, t) = (git.clone(), tested.to_string());
    let files = blocking(move || -> Result<Vec<String>, String> {
        let store = g.open_store().map_err(|e| e.to_string())?;
        let t = git2::Oid::from_str(&t).map_err(|e| e.to_string())?;
        workspace::changed_paths(&store, t, now).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    match files {
        Ok(f) if !f.is_empty() => crate::text::inert(&f.join(", ")),
        Ok(_) => "no file".into(),
        Err(e) => e,
    }
}

/// Records and announces the diff of `snap` (approval found the files changed).
async fn show_new_diff(
    ctx: &EngineCtx,
    task: &crate::protocol::TaskRecord,
    git: &workspace::TaskGit,
    snap: workspace::Snapshot,
) {
    let g = git.clone();
    let d = blocking(move || -> Result<workspace::WorkspaceDiff, String> {
        let store = g.open_store().map_err(|e| e.to_string())?;
        let base = store
            .find_commit(g.base_oid().map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?
            .tree_id();
        let mut d = workspace::diff_trees(&store, base, snap.tree).map_err(|e| e.to_string())?;
        d.take(snap);
        Ok(d)
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    let Ok(d) = d else { return };
    let n = task.attempt;
    let summary = d.summary.clone();
    if ctx
        .update_attempt(&task.id, n, |a| a.diff = Some(summary))
        .is_ok()
    {
        let event = EventBody::DiffUpdated {
            diff: d.summary,
            patch: Page::of(&d.patch, 0),
        };
        ctx.bus.emit(Some(&task.id), n, event);
    }
}

/// Moves the task branch in drover's repository to its new name.
fn rename_in_store(git: &workspace::TaskGit, old: &str) -> Result<(), String> {
    let store = git.open_store().map_err(|e| e.to_string())?;
    match store.find_reference(&format!("refs/heads/{old}")) {
        Ok(mut r) => r
            .rename(&git.refname(), false, "drover: approve under another name")
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "renaming the task branch to {}: {}",
                    git.branch,
                    e.message()
                )
            }),
        Err(_) => git.reset_branch().map_err(|e| e.to_string()),
    }
}
