//! drover's own git state for a task, kept where no container can write.
//!
//! Per user repository, one bare repository under the data dir (`git/<repo-hash>.git`)
//! borrows the user's objects through alternates and holds what drover makes: the blobs
//! it hashed from workspaces, the trees of their snapshots, each task's branch and its
//! approved commits. Per task, an index file (`tasks/<id>/index`) caches which file, by
//! its stat, has which blob, so a snapshot re-reads only what changed. No container
//! mounts either, and drover never opens a workspace's own `.git` after making it: that
//! one is the agent's to use and to break.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::{WorkspaceError, git, io};

/// Where a task's git state lives, and the workspace it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskGit {
    /// The user's repository (work tree root).
    pub user_repo: PathBuf,
    /// drover's bare repository for `user_repo`.
    pub store: PathBuf,
    /// The task's stat cache (a git index file).
    pub index: PathBuf,
    /// The directory the agent works in (untrusted).
    pub workspace: PathBuf,
    /// The commit the task started from.
    pub base: String,
    pub branch: String,
}

impl crate::protocol::TaskRecord {
    /// Where drover keeps this task's git state, and its workspace.
    pub fn git(&self, data: &crate::paths::DataDir) -> TaskGit {
        TaskGit {
            user_repo: self.repo.clone(),
            store: data.git_store(&self.repo_hash),
            index: data.task_index(&self.id),
            workspace: data.workspace(&self.id),
            base: self.base_commit.clone(),
            branch: self.branch.clone(),
        }
    }
}

impl TaskGit {
    /// drover's repository, made on first use. Its alternates name the user's objects
    /// (refreshed on every open: the user may have moved or repacked nothing, or cloned
    /// anew), and a shallow user repository's boundary is copied so history walks stop
    /// where the user's do.
    pub fn open_store(&self) -> Result<Repository, WorkspaceError> {
        open_store(&self.store, &self.user_repo)
    }

    pub fn refname(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    pub fn base_oid(&self) -> Result<Oid, WorkspaceError> {
        Oid::from_str(&self.base).map_err(|_| WorkspaceError::MissingBase {
            repo: self.user_repo.clone(),
            commit: self.base.clone(),
        })
    }

    /// Puts the task's branch in drover's repository at the base: a new workspace
    /// starts there, and approval commits on top of it.
    pub fn reset_branch(&self) -> Result<(), WorkspaceError> {
        let store = self.open_store()?;
        let base = self.base_oid()?;
        store
            .find_commit(base)
            .map_err(|_| WorkspaceError::MissingBase {
                repo: self.user_repo.clone(),
                commit: self.base.clone(),
            })?;
        store
            .reference(&self.refname(), base, true, "drover: new workspace")
            .map_err(git(format!(
                "creating branch {} in drover's store",
                self.branch
            )))?;
        Ok(())
    }

    /// The commit the task branch is at in drover's repository (its base until approved).
    pub fn branch_tip(&self, store: &Repository) -> Result<Oid, WorkspaceError> {
        match store.refname_to_id(&self.refname()) {
            Ok(oid) => Ok(oid),
            Err(e) if e.code() == git2::ErrorCode::NotFound => self.base_oid(),
            Err(e) => Err(git(format!("reading branch {}", self.branch))(e)),
        }
    }

    /// Seeds the task's stat cache from the index a checkout just wrote in the workspace,
    /// while drover is its only writer (no container has run in it yet): its entries
    /// describe files drover wrote itself. Without it, the first snapshot reads every file.
    pub fn seed_index(&self, checkout_index: &Path) -> Result<(), WorkspaceError> {
        let store = self.open_store()?;
        let tree = store
            .find_commit(self.base_oid()?)
            .map(|c| c.tree_id())
            .map_err(git("reading the base commit"))?;
        let cache = super::StatCache::from_checkout(checkout_index, tree)
            .map_err(git(format!("reading {}", checkout_index.display())))?;
        cache
            .save(&self.index)
            .map_err(io(format!("writing {}", self.index.display())))
    }

    /// Forgets the stat cache (a workspace made anew).
    pub fn clear_index(&self) -> Result<(), WorkspaceError> {
        match fs::remove_file(&self.index) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io(format!("removing {}", self.index.display()))(e))
            }
            _ => Ok(()),
        }
    }
}

/// Opens (making it if needed) drover's bare repository at `store` for `user_repo`.
pub fn open_store(store: &Path, user_repo: &Path) -> Result<Repository, WorkspaceError> {
    // Tasks of one repository start together: one of them makes or updates it at a time
    // (another process doing the same only rewrites the same content).
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let (common, objects) = super::user_git_dirs(user_repo)?;
    let info = store.join("objects").join("info");
    let alternates = info.join("alternates");
    let want = format!("{}\n", objects.display());
    let ready = store.join("HEAD").is_file()
        && fs::read_to_string(&alternates).ok().as_deref() == Some(want.as_str());
    if !ready {
        let _one = MAKING.lock().unwrap_or_else(|p| p.into_inner());
        if !store.join("HEAD").is_file() {
            if let Some(parent) = store.parent() {
                crate::paths::create_private_dir(parent)
                    .map_err(io(format!("creating {}", parent.display())))?;
            }
            match Repository::init_bare(store) {
                // Another drover process made it meanwhile.
                Err(e) if e.code() == git2::ErrorCode::Locked => {}
                r => {
                    r.map_err(git(format!(
                        "creating drover's repository {}",
                        store.display()
                    )))?;
                }
            }
        }
        if fs::read_to_string(&alternates).ok().as_deref() != Some(want.as_str()) {
            fs::create_dir_all(&info).map_err(io(format!("creating {}", info.display())))?;
            crate::paths::write_private(&alternates, want.as_bytes())
                .map_err(io("writing objects/info/alternates"))?;
        }
    }
    sync_shallow(store, &common)?;
    Repository::open_bare(store).map_err(git(format!("opening {}", store.display())))
}

/// Copies the user's `shallow` file (or removes ours when theirs is gone); `common` is
/// the user's common git directory.
fn sync_shallow(store: &Path, common: &Path) -> Result<(), WorkspaceError> {
    let theirs = fs::read(common.join("shallow")).ok();
    let ours_path = store.join("shallow");
    let ours = fs::read(&ours_path).ok();
    match (theirs, ours) {
        (Some(t), o) if o.as_deref() != Some(t.as_slice()) => {
            crate::paths::write_private(&ours_path, &t).map_err(io("copying the shallow file"))
        }
        (None, Some(_)) => fs::remove_file(&ours_path).map_err(io("removing the shallow file")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{resolve_head, testrepo};
    use super::*;

    #[test]
    fn the_store_borrows_the_users_objects_and_holds_the_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir(&user).unwrap();
        testrepo::init(&user, &[("a.txt", "a\n")]);
        let head = resolve_head(&user).unwrap();
        let g = TaskGit {
            user_repo: user.clone(),
            store: tmp.path().join("data/git/x.git"),
            index: tmp.path().join("data/tasks/t/index"),
            workspace: tmp.path().join("ws"),
            base: head.commit.clone(),
            branch: "drover/t-x".into(),
        };
        g.reset_branch().unwrap();
        let store = g.open_store().unwrap();
        assert!(store.is_bare());
        assert_eq!(g.branch_tip(&store).unwrap().to_string(), head.commit);
        let own = fs::read_dir(g.store.join("objects")).unwrap().count();
        assert!(own <= 3, "no objects copied: {own}");
    }
}
