//! Per-task git workspaces, on the host, with git2 only.
//!
//! A workspace is a self-contained repository whose object database borrows the user's
//! objects through `objects/info/alternates` (like `git clone --shared`): creating one
//! costs a checkout, not a copy of history. The container mounts the user's `objects/`
//! read-only at the same absolute path so the alternate resolves there too. The user's
//! repository is only ever read. libgit2 runs no hooks, pagers or filters, so nothing an
//! agent writes into the workspace's `.git` runs on the host.

mod commit;
mod create;
mod diff;
pub mod overlap;
pub mod owner;
mod push;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::{BranchType, Repository};

pub use commit::{author, commit_all, message as commit_message, publish};
pub use create::{adopt, create, detached_at, prepare};
pub use diff::{DiffSummary, FileStat, WorkspaceDiff, diff};
pub use push::{MergeCheck, PushError, Pushed, merge_check, outgoing_lines, push};

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

/// Short stable hash of a repository path (the `drover.repo` label).
pub fn repo_hash(root: &Path) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..6])
}

/// The user's object directory (shared by worktrees), canonical.
pub fn user_objects_dir(user_repo: &Path) -> Result<PathBuf, WorkspaceError> {
    let repo = Repository::open(user_repo)
        .map_err(|_| WorkspaceError::NotARepo(user_repo.to_path_buf()))?;
    let objects = repo.commondir().join("objects");
    objects
        .canonicalize()
        .map_err(io(format!("resolving {}", objects.display())))
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
    /// An existing workspace (for a retry that continues in place).
    pub fn open(dir: &Path, user_repo: &Path) -> Result<Workspace, WorkspaceError> {
        Repository::open(dir).map_err(|e| WorkspaceError::Broken {
            path: dir.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let meta = fs::metadata(dir).map_err(io(format!("reading {}", dir.display())))?;
        Ok(Workspace {
            dir: dir.to_path_buf(),
            objects: user_objects_dir(user_repo)?,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }
}

/// Whether `branch` exists in the workspace at `dir` (a fact, not the agent's claim).
pub fn branch_exists(dir: &Path, branch: &str) -> bool {
    Repository::open(dir)
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
    pub fn init(dir: &Path, files: &[(&str, &str)]) {
        run(dir, &["init", "-q", "-b", "main"]);
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        commit(dir, "init");
    }

    /// Commits everything in the work tree, deletions included.
    pub fn commit(dir: &Path, message: &str) {
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
