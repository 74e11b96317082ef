//! Approval on the git side: commit a snapshot's tree on the task branch in drover's
//! repository, then bring that commit into the user's repository.
//!
//! The commit is made from drover's own state (`record`, `snapshot`), never from the
//! workspace's `.git`: the agent's commits, index and refs do not count, only its files.
//! Bringing it to the user copies the new objects and moves one ref, compare-and-swap:
//! no fetch (which would rewrite `.git/shallow` and `FETCH_HEAD`), never the user's
//! working tree, index or HEAD. A branch of that name the user has at a commit drover did
//! not make, or checked out in any worktree, is refused before anything is written.

use std::path::Path;

use git2::{ObjectType, Oid, Repository, Signature};

use super::WorkspaceError;
use super::record::TaskGit;

fn git(context: &str) -> impl FnOnce(git2::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Git {
        context: context.to_string(),
        source,
    }
}

/// Why the user's repository cannot take the task branch as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error(
        "a branch {branch} already exists in your repository at {at}, a commit drover did not make for this task; nothing was changed: approve with --branch NAME to use another name"
    )]
    Taken { branch: String, at: String },
    #[error(
        "branch {branch} is checked out in {worktree}; moving it would leave that checkout behind; nothing was changed: switch that worktree to another branch, or approve with --branch NAME"
    )]
    CheckedOut { branch: String, worktree: String },
    #[error("{0}")]
    Git(String),
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

/// Commits `tree` on the task branch in drover's repository. Errors when it changes
/// nothing, unless the branch's head already is this very commit (same tree, same
/// message: the same approval made before a crash): then that is returned.
pub fn commit_tree(
    task: &TaskGit,
    tree: Oid,
    message: &str,
    author: &Signature<'_>,
) -> Result<String, WorkspaceError> {
    let store = task.open_store()?;
    let tip = task.branch_tip(&store)?;
    let parent = store
        .find_commit(tip)
        .map_err(git("reading the task branch"))?;
    if tree == parent.tree_id() && parent.message() == Ok(message) {
        return Ok(parent.id().to_string());
    }
    if tree == parent.tree_id() {
        return Err(WorkspaceError::Broken {
            path: task.workspace.clone(),
            message: "no changes to commit: the task changed nothing".into(),
        });
    }
    let tree = store.find_tree(tree).map_err(git("reading the tree"))?;
    let oid = store
        .commit(
            Some(&task.refname()),
            author,
            author,
            message,
            &tree,
            &[&parent],
        )
        .map_err(git("committing"))?;
    Ok(oid.to_string())
}

/// Checks that the user's repository can take `branch` at a new commit: it is absent, or
/// at one of `ours` (commits drover made for this task), and checked out (or being
/// rebased or bisected) nowhere. Returns where it is now (`None`: absent).
pub fn check_publish(
    user_repo: &Path,
    branch: &str,
    ours: &[String],
) -> Result<Option<Oid>, PublishError> {
    let g = |e: git2::Error| PublishError::Git(e.message().to_string());
    let repo = Repository::open(user_repo).map_err(g)?;
    let refname = format!("refs/heads/{branch}");
    if let Some(worktree) = checked_out_in(&repo, &refname) {
        return Err(PublishError::CheckedOut {
            branch: branch.into(),
            worktree,
        });
    }
    match repo.refname_to_id(&refname) {
        Ok(at) if !ours.iter().any(|c| *c == at.to_string()) => Err(PublishError::Taken {
            branch: branch.into(),
            at: at.to_string(),
        }),
        Ok(at) => Ok(Some(at)),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(g(e)),
    }
}

/// The worktree (main or linked) whose HEAD is on `refname`, or that is rebasing or
/// bisecting it (git itself will not move such a branch), read from the git directories
/// of the user's repository (theirs, so trusted).
fn checked_out_in(repo: &Repository, refname: &str) -> Option<String> {
    let short = refname.strip_prefix("refs/heads/").unwrap_or(refname);
    let on = |gitdir: &Path| {
        let read = |f: &str| std::fs::read_to_string(gitdir.join(f)).ok();
        read("HEAD").is_some_and(|s| s.trim().strip_prefix("ref: ") == Some(refname))
            || ["rebase-merge/head-name", "rebase-apply/head-name"]
                .iter()
                .any(|f| read(f).is_some_and(|s| s.trim() == refname))
            || read("BISECT_START").is_some_and(|s| s.trim() == short)
    };
    let common = repo.commondir();
    if on(common) {
        let main = common
            .parent()
            .filter(|_| !repo.is_bare())
            .map_or_else(|| common.display().to_string(), |p| p.display().to_string());
        return Some(main);
    }
    let linked = std::fs::read_dir(common.join("worktrees")).ok()?;
    for wt in linked.flatten() {
        if on(&wt.path()) {
            let at = std::fs::read_to_string(wt.path().join("gitdir"))
                .ok()
                .and_then(|g| {
                    Path::new(g.trim())
                        .parent()
                        .map(|p| p.display().to_string())
                })
                .unwrap_or_else(|| wt.file_name().to_string_lossy().into_owned());
            return Some(at);
        }
    }
    None
}

/// Brings `commit` (made by `commit_tree`) into the user's repository as `branch`: the
/// objects it has that the user lacks, then the ref, only if it is still where
/// `check_publish` saw it. Returns how many objects were copied.
pub fn publish(
    task: &TaskGit,
    branch: &str,
    commit: &str,
    ours: &[String],
) -> Result<usize, PublishError> {
    let g = |e: git2::Error| PublishError::Git(e.message().to_string());
    check_publish(&task.user_repo, branch, ours)?;
    let store = task
        .open_store()
        .map_err(|e| PublishError::Git(e.to_string()))?;
    let user = Repository::open(&task.user_repo).map_err(g)?;
    let oid = Oid::from_str(commit).map_err(g)?;
    let copied = copy_objects(&store, &user, oid).map_err(g)?;
    // Copying took time: the user may have moved or checked out the branch meanwhile.
    // Look again, and move it only from where it was seen now (compare and swap).
    let seen = check_publish(&task.user_repo, branch, ours)?;
    let refname = format!("refs/heads/{branch}");
    let log = format!("drover: approve task branch {branch}");
    match seen {
        Some(at) if at == oid => {}
        Some(at) => {
            user.reference_matching(&refname, oid, true, at, &log)
                .map_err(g)?;
        }
        None => {
            user.reference(&refname, oid, false, &log).map_err(g)?;
        }
    }
    Ok(copied)
}

/// Copies the objects reachable from `tip` that `to` lacks, from `from` (whose own object
/// store holds them; the rest it borrows from `to`). Children before parents, so `to`
/// never holds a tree whose entries it lacks.
fn copy_objects(from: &Repository, to: &Repository, tip: Oid) -> Result<usize, git2::Error> {
    let (src, dst) = (from.odb()?, to.odb()?);
    let mut copied = 0;
    let mut commits = vec![tip];
    while let Some(c) = commits.pop() {
        if dst.exists(c) {
            continue;
        }
        let commit = from.find_commit(c)?;
        copy_tree(from, &src, &dst, commit.tree_id(), &mut copied)?;
        commits.extend(commit.parent_ids());
        let obj = src.read(c)?;
        dst.write(ObjectType::Commit, obj.data())?;
        copied += 1;
    }
    Ok(copied)
}

fn copy_tree(
    repo: &Repository,
    src: &git2::Odb<'_>,
    dst: &git2::Odb<'_>,
    tree: Oid,
    copied: &mut usize,
) -> Result<(), git2::Error> {
    if dst.exists(tree) {
        return Ok(());
    }
    for e in repo.find_tree(tree)?.iter() {
        match e.kind() {
            Some(ObjectType::Tree) => copy_tree(repo, src, dst, e.id(), copied)?,
            Some(ObjectType::Blob) if !dst.exists(e.id()) => {
                let obj = src.read(e.id())?;
                dst.write(ObjectType::Blob, obj.data())?;
                *copied += 1;
            }
            // Blobs it has; submodule commits live in the submodule.
            _ => {}
        }
    }
    let obj = src.read(tree)?;
    dst.write(ObjectType::Tree, obj.data())?;
    *copied += 1;
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
