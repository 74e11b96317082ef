//! Approval on the git side: commit the workspace on the task branch, then bring the
//! branch into the user's repository.
//!
//! All through libgit2 on the host: no hooks, pagers, fsmonitor or external filters the
//! agent may have planted in the workspace's `.git` can run. The user's working tree and
//! HEAD are never touched; only `refs/heads/<branch>` and the new objects arrive.

use std::path::Path;

use git2::{IndexAddOption, Repository, Signature};

use super::WorkspaceError;

fn git(context: &str) -> impl FnOnce(git2::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Git {
        context: context.to_string(),
        source,
    }
}

/// The user's identity from their git config (repository, then global), else drover's.
pub fn author(user_repo: &Path) -> Result<Signature<'static>, WorkspaceError> {
    let from_config = Repository::open(user_repo)
        .and_then(|r| r.signature())
        .map(|s| s.to_owned());
    from_config
        .or_else(|_| Signature::now("drover", "drover@localhost"))
        .map_err(git("making a commit signature"))
}

/// Commits every change in the workspace (new, modified, deleted files; .gitignore
/// honoured) on `branch`. Errors when there is nothing to commit, unless the branch's
/// head already is this very commit (same tree, same message): then that is returned.
pub fn commit_all(
    ws: &Path,
    branch: &str,
    message: &str,
    author: &Signature<'_>,
) -> Result<String, WorkspaceError> {
    let repo = Repository::open(ws).map_err(|e| WorkspaceError::Broken {
        path: ws.to_path_buf(),
        message: e.message().to_string(),
    })?;
    let refname = format!("refs/heads/{branch}");
    let parent = repo
        .find_reference(&refname)
        .and_then(|r| r.peel_to_commit())
        .map_err(|_| WorkspaceError::Broken {
            path: ws.to_path_buf(),
            message: format!("branch {branch} is gone from the workspace"),
        })?;
    let mut index = repo.index().map_err(git("reading the workspace index"))?;
    index
        .add_all(["*"], IndexAddOption::DEFAULT, None)
        .map_err(git("adding changes"))?;
    index
        .update_all(["*"], None)
        .map_err(git("recording deletions"))?;
    index.write().map_err(git("writing the index"))?;
    let tree_id = index.write_tree().map_err(git("writing the tree"))?;
    // The same approval made before drover could record it (a crash in between): that
    // commit is the answer, not "nothing to commit".
    if tree_id == parent.tree_id() && parent.message().ok() == Some(message) {
        return Ok(parent.id().to_string());
    }
    if tree_id == parent.tree_id() {
        return Err(WorkspaceError::Broken {
            path: ws.to_path_buf(),
            message: "no changes to commit: the task changed nothing".into(),
        });
    }
    let tree = repo.find_tree(tree_id).map_err(git("reading the tree"))?;
    let oid = repo
        .commit(Some(&refname), author, author, message, &tree, &[&parent])
        .map_err(git("committing"))?;
    Ok(oid.to_string())
}

/// Fetches `branch` from the workspace into the user's repository (objects and the ref),
/// leaving their working tree and HEAD alone.
pub fn publish(user_repo: &Path, ws: &Path, branch: &str) -> Result<(), WorkspaceError> {
    let repo = Repository::open(user_repo)
        .map_err(|_| WorkspaceError::NotARepo(user_repo.to_path_buf()))?;
    let url = ws.to_str().ok_or_else(|| WorkspaceError::Broken {
        path: ws.to_path_buf(),
        message: "path is not UTF-8".into(),
    })?;
    let mut remote = repo
        .remote_anonymous(url)
        .map_err(git("opening the workspace as a remote"))?;
    // Our own namespace: re-approving after a retry moves the branch.
    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    remote
        .fetch(&[refspec.as_str()], None, None)
        .map_err(git("fetching the task branch into your repository"))?;
    Ok(())
}

/// `title`, blank line, the agent's summary, then trailers naming drover and the task.
pub fn message(title: &str, summary: Option<&str>, task: &str, overridden: bool) -> String {
    let mut m = format!("{}\n", title.trim());
    if let Some(s) = summary.map(str::trim).filter(|s| !s.is_empty()) {
        m.push_str(&format!("\n{s}\n"));
    }
    m.push_str(&format!(
        "\nDrover-Task: {task}\nGenerated-By: drover {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    if overridden {
        m.push_str("Drover-Tests: failed (approved anyway)\n");
    }
    m
}
