//! Per-task git workspaces, on the host, with git2 only.
//!
//! A workspace is a self-contained repository whose object database borrows the user's
//! objects through `objects/info/alternates` (like `git clone --shared`): creating one
//! costs a checkout, not a copy of history. The container mounts the user's `objects/`
//! read-only at the same absolute path so the alternate resolves there too.
//!
//! Once a container has run in it, everything in a workspace is the agent's and
//! untrusted: drover reads its files through `crate::beneath` (no link followed, nothing outside
//! it read) into its own git state (`record`, `snapshot`), and never opens the
//! workspace's `.git` again. The user's repository is only read, except that approval
//! adds objects and one branch ref to it (`commit`).

mod commit;
mod create;
mod diff;
pub mod envlinks;
pub mod manifests;
pub mod overlap;
pub mod owner;
mod push;
pub mod record;
pub mod snapshot;
pub mod statcache;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::{BranchType, Repository};

pub use commit::{
    PublishError, author, check_publish, commit_tree, message as commit_message, publish,
};
pub use create::{adopt, create, detached_at, prepare};
pub use diff::{WorkspaceDiff, changed_paths, diff, diff_trees, diff_with};
pub use push::{
    MergeCheck, PushError, Pushed, SecretHit, base_holds, merge_check, push, push_url,
    scan_outgoing,
};
pub use record::TaskGit;
pub use snapshot::{Snapshot, SnapshotOptions, snapshot, snapshot_with};
pub use statcache::StatCache;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("not a git repository: {0}")]
    NotARepo(PathBuf),
    #[error("{0} is a bare repository: drover needs a work tree")]
    Bare(PathBuf),
    #[error("repository {0} has no commits yet: commit something first (tasks start from HEAD)")]
    NoCommits(PathBuf),
    #[error("base commit {commit} is not in {repo}")]
    MissingBase { repo: PathBuf, commit: String },
    #[error("workspace {path}: {message}")]
    Broken { path: PathBuf, message: String },
    #[error("the workspace {0} was removed from outside drover")]
    Gone(PathBuf),
    #[error("{context}: {source}")]
    Git {
        context: String,
        #[source]
        source: git2::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> WorkspaceError {
    let context = context.into();
    move |source| WorkspaceError::Git { context, source }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> WorkspaceError {
    let context = context.into();
    move |source| WorkspaceError::Io { context, source }
}

/// The user's repository as drover sees it when a task is queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoHead {
    /// Work tree root (canonical).
    pub root: PathBuf,
    pub commit: String,
    /// Branch name HEAD points to, `None` when detached.
    pub branch: Option<String>,
    /// The user's uncommitted changes are not part of a task's base: worth saying.
    pub dirty: bool,
}

/// Finds the repository containing `path` and its HEAD.
pub fn resolve_head(path: &Path) -> Result<RepoHead, WorkspaceError> {
    let repo = Repository::discover(path).map_err(|_| {
        // Name the directory the user can recognise, not ".".
        let shown = std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf());
        WorkspaceError::NotARepo(shown.components().collect())
    })?;
    let root = repo
        .workdir()
        .ok_or_else(|| WorkspaceError::Bare(repo.path().to_path_buf()))?;
    let root = root
        .canonicalize()
        .map_err(io(format!("resolving {}", root.display())))?;
    let head = match repo.head() {
        Ok(h) => h,
        Err(e)
            if e.code() == git2::ErrorCode::UnbornBranch
                || e.code() == git2::ErrorCode::NotFound =>
        {
            return Err(WorkspaceError::NoCommits(root));
        }
        Err(e) => return Err(git(format!("reading HEAD of {}", root.display()))(e)),
    };
    let commit = head
        .peel_to_commit()
        .map_err(git(format!("reading HEAD commit of {}", root.display())))?;
    let branch = head
        .is_branch()
        .then(|| head.shorthand().ok().map(String::from))
        .flatten();
    let mut so = git2::StatusOptions::new();
    so.include_untracked(false).include_ignored(false);
    let dirty = repo
        .statuses(Some(&mut so))
        .map(|s| !s.is_empty())
        .unwrap_or(false);
    Ok(RepoHead {
        root,
        commit: commit.id().to_string(),
        branch,
        dirty,
    })
}

/// The commit `user_repo`'s HEAD is at (cheaper than `resolve_head`: no status).
pub fn head_commit(user_repo: &Path) -> Result<String, WorkspaceError> {
    let repo = Repository::open(user_repo)
        .map_err(|_| WorkspaceError::NotARepo(user_repo.to_path_buf()))?;
    let commit = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|_| WorkspaceError::NoCommits(user_repo.to_path_buf()))?;
    Ok(commit.id().to_string())
}

/// The user's object directory (shared by worktrees), canonical.
pub fn user_objects_dir(user_repo: &Path) -> Result<PathBuf, WorkspaceError> {
    Ok(user_git_dirs(user_repo)?.1)
}

/// The user's common git directory and objects directory (canonical). Remembered per
/// repository path: a snapshot asks for them each time, and opening the repository
/// (its config files and all) costs more than the rest of a small snapshot.
pub fn user_git_dirs(user_repo: &Path) -> Result<(PathBuf, PathBuf), WorkspaceError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static KNOWN: OnceLock<Mutex<HashMap<PathBuf, (PathBuf, PathBuf)>>> = OnceLock::new();
    let known = KNOWN.get_or_init(Default::default);
    if let Some(d) = known
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(user_repo)
        .filter(|(_, objects)| objects.is_dir())
    {
        return Ok(d.clone());
    }
    let repo = Repository::open(user_repo)
        .map_err(|_| WorkspaceError::NotARepo(user_repo.to_path_buf()))?;
    let common = repo.commondir().to_path_buf();
    let objects = common.join("objects");
    let objects = objects
        .canonicalize()
        .map_err(io(format!("resolving {}", objects.display())))?;
    let dirs = (common, objects);
    known
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(user_repo.to_path_buf(), dirs.clone());
    Ok(dirs)
}

/// A created workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub dir: PathBuf,
    /// The user's objects dir the workspace borrows from (mount it read-only).
    pub objects: PathBuf,
    pub uid: u32,
    pub gid: u32,
}

impl Workspace {
    /// An existing workspace (a retry that continues in place, a resumed attempt): its
    /// directory and owner only; nothing in it is opened.
    pub fn existing(dir: &Path, user_repo: &Path) -> Result<Workspace, WorkspaceError> {
        let meta = match fs::symlink_metadata(dir) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => return Err(WorkspaceError::Gone(dir.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(WorkspaceError::Gone(dir.to_path_buf()));
            }
            Err(e) => return Err(io(format!("reading {}", dir.display()))(e)),
        };
        Ok(Workspace {
            dir: dir.to_path_buf(),
            objects: user_objects_dir(user_repo)?,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }
}

/// Whether `branch` exists in the repository at `repo` (the user's or drover's own: a
/// fact, not the agent's claim).
pub fn branch_exists(repo: &Path, branch: &str) -> bool {
    Repository::open(repo)
        .and_then(|r| r.find_branch(branch, BranchType::Local).map(|_| ()))
        .is_ok()
}

#[cfg(test)]
pub(crate) mod testrepo {
    use std::path::Path;
    use std::process::Command;

    fn run(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A real repository made with the git CLI (the user's side; never a workspace).
    pub(crate) fn init(dir: &Path, files: &[(&str, &str)]) {
        run(dir, &["init", "-q", "-b", "main"]);
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        commit(dir, "init");
    }

    /// A task of the repository at `user` (based on its HEAD), with drover's state and
    /// its workspace under `tmp`.
    pub(crate) fn task(tmp: &Path, user: &Path, id: &str) -> super::TaskGit {
        let base = super::resolve_head(user).unwrap().commit;
        super::TaskGit {
            user_repo: user.to_path_buf(),
            store: tmp.join("data/git/repo.git"),
            index: tmp.join(format!("data/tasks/{id}/index")),
            workspace: tmp.join(format!("data/workspaces/{id}")),
            base,
            branch: format!("drover/{id}"),
        }
    }

    /// Commits everything in the work tree, deletions included.
    pub(crate) fn commit(dir: &Path, message: &str) {
        run(dir, &["add", "-A"]);
        let who = ["-c", "user.name=t", "-c", "user.email=t@t"];
        run(dir, &[&who[..], &["commit", "-qm", message]].concat());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_head_reports_branch_commit_and_dirt() {
        let tmp = tempfile::tempdir().unwrap();
        testrepo::init(tmp.path(), &[("a.txt", "a\n")]);
        let head = resolve_head(&tmp.path().join(".")).unwrap();
        assert_eq!(head.branch.as_deref(), Some("main"));
        assert_eq!(head.commit.len(), 40);
        assert!(!head.dirty);
        fs::write(tmp.path().join("a.txt"), "changed\n").unwrap();
        assert!(resolve_head(tmp.path()).unwrap().dirty);
    }

    #[test]
    fn not_a_repo_and_no_commits_are_clear_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let e = resolve_head(tmp.path()).unwrap_err().to_string();
        assert!(e.starts_with("not a git repository: "), "{e}");
        Repository::init(tmp.path()).unwrap();
        let e = resolve_head(tmp.path()).unwrap_err().to_string();
        assert!(e.contains("has no commits yet"), "{e}");
    }
}
