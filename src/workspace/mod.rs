//! Per-task git workspaces, on the host, with git2 only.
//!
//! A workspace is a self-contained repository whose object database borrows the user's
//! objects through `objects/info/alternates` (like `git clone --shared`): creating one
//! costs a checkout, not a copy of history. The container mounts the user's `objects/`
//! read-only at the same absolute path so the alternate resolves there too. The user's
//! repository is only ever read. libgit2 runs no hooks, pagers or filters, so nothing an
//! agent writes into the workspace's `.git` runs on the host.

mod commit;
mod diff;
pub mod overlap;
pub mod owner;
mod push;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use git2::{BranchType, Oid, Repository, build::CheckoutBuilder};

pub use commit::{author, commit_all, message as commit_message, publish};
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

/// Whether checking `commit` out can convert a file: a `.gitattributes` anywhere in its
/// tree, or eol settings or an attributes file in git's configuration.
fn needs_filters(repo: &Repository, commit: &git2::Commit<'_>) -> bool {
    let configured = repo.config().is_ok_and(|c| {
        ["core.autocrlf", "core.eol", "core.attributesfile"]
            .iter()
            .any(|k| c.get_entry(k).is_ok())
    });
    if configured {
        return true;
    }
    let Ok(tree) = commit.tree() else { return true };
    let mut found = false;
    let _ = tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        if entry.name_bytes() == b".gitattributes" {
            found = true;
            git2::TreeWalkResult::Abort
        } else {
            git2::TreeWalkResult::Ok
        }
    });
    found
}

/// Creates `dir` afresh: a repository sharing `user_repo`'s objects, on a new `branch` at
/// `base`, checked out. Anything at `dir` before is removed. Blocking: call from
/// `spawn_blocking`.
pub fn create(
    user_repo: &Path,
    dir: &Path,
    base: &str,
    branch: &str,
) -> Result<Workspace, WorkspaceError> {
    // Like git's checkout, objects are not re-hashed as they are read (libgit2 does by
    // default, a quarter of a large checkout): they are the user's own repository's.
    static FAST_READS: std::sync::Once = std::sync::Once::new();
    FAST_READS.call_once(|| git2::opts::strict_hash_verification(false));
    let objects = user_objects_dir(user_repo)?;
    let base_oid = Oid::from_str(base).map_err(git(format!("parsing base commit {base}")))?;
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io(format!("removing old workspace {}", dir.display())))?;
    }
    crate::paths::create_private_dir(dir).map_err(io(format!("creating {}", dir.display())))?;

    let repo =
        Repository::init(dir).map_err(git(format!("creating repository in {}", dir.display())))?;
    let info = repo.path().join("objects").join("info");
    fs::create_dir_all(&info).map_err(io(format!("creating {}", info.display())))?;
    fs::write(info.join("alternates"), format!("{}\n", objects.display()))
        .map_err(io("writing objects/info/alternates"))?;
    // A shallow user repository has commits whose parents are absent: say so to git.
    let user = Repository::open(user_repo)
        .map_err(|_| WorkspaceError::NotARepo(user_repo.to_path_buf()))?;
    let shallow = user.commondir().join("shallow");
    if shallow.is_file() {
        fs::copy(&shallow, repo.path().join("shallow")).map_err(io("copying shallow file"))?;
    }
    drop(repo);

    // Reopen so the object database sees the alternate.
    let repo = Repository::open(dir).map_err(git(format!("opening {}", dir.display())))?;
    let commit = repo
        .find_commit(base_oid)
        .map_err(|_| WorkspaceError::MissingBase {
            repo: user_repo.to_path_buf(),
            commit: base.to_string(),
        })?;
    repo.branch(branch, &commit, true)
        .map_err(git(format!("creating branch {branch}")))?;
    repo.set_head(&format!("refs/heads/{branch}"))
        .map_err(git(format!("switching to {branch}")))?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force();
    // Filters (eol conversion, ident) need an attribute lookup per file, a third of a
    // large checkout; without attributes or eol settings they would change nothing.
    if !needs_filters(&repo, &commit) {
        checkout.disable_filters(true);
    }
    repo.checkout_head(Some(&mut checkout))
        .map_err(git(format!("checking out {base}")))?;

    let meta = fs::metadata(dir).map_err(io(format!("reading {}", dir.display())))?;
    Ok(Workspace {
        dir: dir.to_path_buf(),
        objects,
        uid: meta.uid(),
        gid: meta.gid(),
    })
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

    /// A real repository made with the git CLI (the user's side; never a workspace).
    pub fn init(dir: &Path, files: &[(&str, &str)]) {
        let run = |args: &[&str]| {
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
        };
        run(&["init", "-q", "-b", "main"]);
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        run(&["add", "-A"]);
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "init",
        ]);
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

    #[test]
    fn eol_attributes_still_apply_on_checkout() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir(&user).unwrap();
        testrepo::init(
            &user,
            &[
                ("sub/.gitattributes", "*.bat eol=crlf\n"),
                ("sub/run.bat", "echo one\necho two\n"),
                ("plain.txt", "a\nb\n"),
            ],
        );
        let head = resolve_head(&user).unwrap();
        let ws_dir = tmp.path().join("ws");
        create(&user, &ws_dir, &head.commit, "drover/abc-eol").unwrap();
        assert_eq!(
            fs::read_to_string(ws_dir.join("sub/run.bat")).unwrap(),
            "echo one\r\necho two\r\n",
            "a nested .gitattributes keeps filters on"
        );
        assert_eq!(
            fs::read_to_string(ws_dir.join("plain.txt")).unwrap(),
            "a\nb\n"
        );
    }

    #[test]
    fn workspace_shares_objects_and_checks_out_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir(&user).unwrap();
        testrepo::init(&user, &[("src/a.py", "print(1)\n"), ("README", "hi\n")]);
        let head = resolve_head(&user).unwrap();
        let ws_dir = tmp.path().join("ws");
        let ws = create(&user, &ws_dir, &head.commit, "drover/abc-fix").unwrap();
        assert_eq!(
            fs::read_to_string(ws_dir.join("src/a.py")).unwrap(),
            "print(1)\n"
        );
        let alt = fs::read_to_string(ws_dir.join(".git/objects/info/alternates")).unwrap();
        assert_eq!(alt.trim(), ws.objects.to_str().unwrap());
        // No objects copied: only the alternate provides them.
        let own = fs::read_dir(ws_dir.join(".git/objects")).unwrap().count();
        assert!(own <= 3, "workspace has its own objects: {own} entries");
        assert!(branch_exists(&ws_dir, "drover/abc-fix"));
        let r = Repository::open(&ws_dir).unwrap();
        assert_eq!(r.head().unwrap().shorthand().ok(), Some("drover/abc-fix"));
        // Re-creating replaces the old content.
        fs::write(ws_dir.join("junk"), "x").unwrap();
        create(&user, &ws_dir, &head.commit, "drover/abc-fix").unwrap();
        assert!(!ws_dir.join("junk").exists());
    }
}
