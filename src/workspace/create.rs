//! Making a workspace: a repository in a directory of drover's whose objects are the
//! user's (through `objects/info/alternates`), checked out at a task's base on its branch,
//! for the agent to use; and the task's own git state beside it (`record`).
//!
//! `create` does it in one go. A warm-pool slot is made in two steps: `prepare` checks
//! the repository's HEAD out ahead of any task (detached), and `adopt` later turns it into
//! a task's workspace, checking out only what differs when the task's base is another
//! commit. Both keep the directory itself (its inode): a container has it mounted. Files
//! are written byte for byte as the commit has them (no eol conversion or other
//! filters), so what drover reads back is exactly what it wrote. These are the only
//! places drover opens a workspace's `.git`, before any container has run in it (a pool
//! slot's container runs nothing until its task claims it). Never writes to the user's
//! repository. Blocking: call from `spawn_blocking`.

use std::fs;
use std::path::Path;

use git2::{Oid, Repository, build::CheckoutBuilder};

use super::record::TaskGit;
use super::{Workspace, WorkspaceError, git, io, user_objects_dir};

/// Creates the task's workspace afresh: a repository sharing the user's objects, on the
/// task's branch at its base, checked out; and resets the task's git state to the base.
/// Anything at the workspace before is removed.
pub fn create(task: &TaskGit) -> Result<Workspace, WorkspaceError> {
    let dir = &task.workspace;
    if fs::symlink_metadata(dir).is_ok() {
        fs::remove_dir_all(dir).map_err(io(format!("removing old workspace {}", dir.display())))?;
    }
    crate::paths::create_private_dir(dir).map_err(io(format!("creating {}", dir.display())))?;
    prepare(&task.user_repo, dir, &task.base)?;
    adopt(task, dir)
}

/// Makes the existing empty directory `dir` a repository sharing `user_repo`'s objects,
/// with `commit` checked out on a detached HEAD.
pub fn prepare(user_repo: &Path, dir: &Path, commit: &str) -> Result<(), WorkspaceError> {
    // Like git's checkout, objects are not re-hashed as they are read (libgit2 does by
    // default, a quarter of a large checkout): they are the user's own repository's.
    static FAST_READS: std::sync::Once = std::sync::Once::new();
    FAST_READS.call_once(|| git2::opts::strict_hash_verification(false));
    let objects = user_objects_dir(user_repo)?;
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
    let oid = find_commit(&repo, user_repo, commit)?;
    check_out(&repo, oid, None)
}

/// Makes `dir` (made by `prepare`, untouched since) the workspace of `task`: on a new
/// branch at the base, files checked out only where the base differs from what is
/// there; then the task's own state starts from it (branch at the base in drover's
/// repository, the checkout's index as the stat cache).
pub fn adopt(task: &TaskGit, dir: &Path) -> Result<Workspace, WorkspaceError> {
    let repo = Repository::open(dir).map_err(git(format!("opening {}", dir.display())))?;
    let oid = find_commit(&repo, &task.user_repo, &task.base)?;
    let at = repo.head().ok().and_then(|h| h.target());
    if at != Some(oid) {
        check_out(&repo, oid, at)?;
    }
    let commit = repo
        .find_commit(oid)
        .map_err(git(format!("reading commit {}", task.base)))?;
    repo.branch(&task.branch, &commit, true)
        .map_err(git(format!("creating branch {}", task.branch)))?;
    repo.set_head(&task.refname())
        .map_err(git(format!("switching to {}", task.branch)))?;
    task.reset_branch()?;
    if task.seed_index(&repo.path().join("index")).is_err() {
        // No cache: the first snapshot reads every file instead.
        task.clear_index()?;
    }
    let objects = user_objects_dir(&task.user_repo)?;
    let meta = fs::metadata(dir).map_err(io(format!("reading {}", dir.display())))?;
    use std::os::unix::fs::MetadataExt;
    Ok(Workspace {
        dir: dir.to_path_buf(),
        objects,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// The commit a prepared pool slot has checked out (its detached HEAD), if any. Only for
/// slots: their containers run nothing, so their `.git` is still drover's own.
pub fn detached_at(dir: &Path) -> Option<String> {
    let repo = Repository::open(dir).ok()?;
    if !repo.head_detached().ok()? {
        return None;
    }
    Some(repo.head().ok()?.target()?.to_string())
}

fn find_commit(repo: &Repository, user_repo: &Path, commit: &str) -> Result<Oid, WorkspaceError> {
    let missing = || WorkspaceError::MissingBase {
        repo: user_repo.to_path_buf(),
        commit: commit.to_string(),
    };
    let oid = Oid::from_str(commit).map_err(|_| missing())?;
    repo.find_commit(oid).map(|c| c.id()).map_err(|_| missing())
}

/// Checks `oid` out on a detached HEAD, over `from` (what is checked out now, if any:
/// only the files that differ are written). Byte for byte: no filters.
fn check_out(repo: &Repository, oid: Oid, from: Option<Oid>) -> Result<(), WorkspaceError> {
    let commit = repo
        .find_commit(oid)
        .map_err(git(format!("reading commit {oid}")))?;
    let mut checkout = CheckoutBuilder::new();
    checkout
        .force()
        .remove_untracked(true)
        .disable_filters(true);
    if from.is_none() {
        repo.set_head_detached(oid)
            .map_err(git(format!("moving HEAD to {oid}")))?;
        return repo
            .checkout_head(Some(&mut checkout))
            .map_err(git(format!("checking out {oid}")));
    }
    repo.checkout_tree(commit.as_object(), Some(&mut checkout))
        .map_err(git(format!("checking out {oid}")))?;
    repo.set_head_detached(oid)
        .map_err(git(format!("moving HEAD to {oid}")))
}

#[cfg(test)]
mod tests {
    use super::super::{branch_exists, resolve_head, testrepo};
    use super::*;

    #[test]
    fn files_are_checked_out_byte_for_byte() {
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
        let task = testrepo::task(tmp.path(), &user, "eol");
        create(&task).unwrap();
        assert_eq!(
            fs::read_to_string(task.workspace.join("sub/run.bat")).unwrap(),
            "echo one\necho two\n",
            "what the commit has, so what drover reads back is what it wrote"
        );
    }

    #[test]
    fn workspace_shares_objects_and_checks_out_branch() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir(&user).unwrap();
        testrepo::init(&user, &[("src/a.py", "print(1)\n"), ("README", "hi\n")]);
        let task = testrepo::task(tmp.path(), &user, "fix");
        let ws_dir = task.workspace.clone();
        let ws = create(&task).unwrap();
        assert_eq!(
            fs::read_to_string(ws_dir.join("src/a.py")).unwrap(),
            "print(1)\n"
        );
        let alt = fs::read_to_string(ws_dir.join(".git/objects/info/alternates")).unwrap();
        assert_eq!(alt.trim(), ws.objects.to_str().unwrap());
        // No objects copied: only the alternate provides them.
        let own = fs::read_dir(ws_dir.join(".git/objects")).unwrap().count();
        assert!(own <= 3, "workspace has its own objects: {own} entries");
        let r = Repository::open(&ws_dir).unwrap();
        assert_eq!(r.head().unwrap().shorthand().ok(), Some("drover/fix"));
        // drover's own record: the branch at the base, the checkout's stat cache.
        assert!(branch_exists(&task.store, "drover/fix"));
        assert!(task.index.is_file());
        // Re-creating replaces the old content.
        fs::write(ws_dir.join("junk"), "x").unwrap();
        create(&task).unwrap();
        assert!(!ws_dir.join("junk").exists());
    }

    #[test]
    fn a_prepared_slot_is_adopted_at_another_base_writing_only_what_differs() {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir(&user).unwrap();
        testrepo::init(&user, &[("keep.txt", "same\n"), ("gone.txt", "old\n")]);
        let old = resolve_head(&user).unwrap().commit;
        fs::remove_file(user.join("gone.txt")).unwrap();
        fs::write(user.join("new.txt"), "new\n").unwrap();
        testrepo::commit(&user, "two");
        let task = testrepo::task(tmp.path(), &user, "later");

        let slot = tmp.path().join("slot");
        fs::create_dir(&slot).unwrap();
        prepare(&user, &slot, &old).unwrap();
        assert!(slot.join("gone.txt").exists());
        assert_eq!(detached_at(&slot), Some(old.clone()));
        let ws = adopt(&task, &slot).unwrap();
        assert_eq!(ws.dir, slot);
        assert_eq!(detached_at(&slot), None, "on its branch now");
        assert!(!slot.join("gone.txt").exists(), "removed");
        assert_eq!(fs::read_to_string(slot.join("new.txt")).unwrap(), "new\n");
        assert_eq!(fs::read_to_string(slot.join("keep.txt")).unwrap(), "same\n");
        let r = Repository::open(&slot).unwrap();
        assert_eq!(r.head().unwrap().shorthand().ok(), Some("drover/later"));
        assert_eq!(r.head().unwrap().target().unwrap().to_string(), task.base);
        let mut so = git2::StatusOptions::new();
        so.include_untracked(true);
        assert!(r.statuses(Some(&mut so)).unwrap().is_empty(), "clean");

        // At the same base, adopting only makes the branch.
        let same = tmp.path().join("same");
        fs::create_dir(&same).unwrap();
        prepare(&user, &same, &task.base).unwrap();
        let other = testrepo::task(tmp.path(), &user, "same");
        adopt(&other, &same).unwrap();
        assert!(branch_exists(&same, "drover/same"));
        assert!(
            Repository::open(&same)
                .unwrap()
                .statuses(Some(&mut so))
                .unwrap()
                .is_empty()
        );
    }
}
