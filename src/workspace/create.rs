//! Making a workspace: a repository in a directory of drover's whose objects are the
//! user's (through `objects/info/alternates`), checked out at a task's base on its branch.
//!
//! `create` does it in one go. A warm-pool slot is made in two steps: `prepare` checks
//! the repository's HEAD out ahead of any task (detached), and `adopt` later turns it into
//! a task's workspace, checking out only what differs when the task's base is another
//! commit. Both keep the directory itself (its inode): a container has it mounted. Never
//! writes to the user's repository. Blocking: call from `spawn_blocking`.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, build::CheckoutBuilder};

use super::{Workspace, WorkspaceError, git, io, user_objects_dir};

/// Creates `dir` afresh: a repository sharing `user_repo`'s objects, on a new `branch` at
/// `base`, checked out. Anything at `dir` before is removed.
pub fn create(
    user_repo: &Path,
    dir: &Path,
    base: &str,
    branch: &str,
) -> Result<Workspace, WorkspaceError> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io(format!("removing old workspace {}", dir.display())))?;
    }
    crate::paths::create_private_dir(dir).map_err(io(format!("creating {}", dir.display())))?;
    prepare(user_repo, dir, base)?;
    adopt(user_repo, dir, base, branch)
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

/// Puts the workspace `dir` (made by `prepare`, untouched since) on a new `branch` at
/// `base`; files are checked out only where `base` differs from what is there.
pub fn adopt(
    user_repo: &Path,
    dir: &Path,
    base: &str,
    branch: &str,
) -> Result<Workspace, WorkspaceError> {
    let repo = Repository::open(dir).map_err(git(format!("opening {}", dir.display())))?;
    let oid = find_commit(&repo, user_repo, base)?;
    let at = repo.head().ok().and_then(|h| h.target());
    if at != Some(oid) {
        check_out(&repo, oid, at)?;
    }
    let commit = repo
        .find_commit(oid)
        .map_err(git(format!("reading commit {base}")))?;
    repo.branch(branch, &commit, true)
        .map_err(git(format!("creating branch {branch}")))?;
    repo.set_head(&format!("refs/heads/{branch}"))
        .map_err(git(format!("switching to {branch}")))?;
    let objects: PathBuf = user_objects_dir(user_repo)?;
    let meta = fs::metadata(dir).map_err(io(format!("reading {}", dir.display())))?;
    use std::os::unix::fs::MetadataExt;
    Ok(Workspace {
        dir: dir.to_path_buf(),
        objects,
        uid: meta.uid(),
        gid: meta.gid(),
    })
}

/// The commit a prepared workspace has checked out (its detached HEAD), if any.
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
/// only the files that differ are written).
fn check_out(repo: &Repository, oid: Oid, from: Option<Oid>) -> Result<(), WorkspaceError> {
    let commit = repo
        .find_commit(oid)
        .map_err(git(format!("reading commit {oid}")))?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force().remove_untracked(true);
    // Filters (eol conversion, ident) need an attribute lookup per file, a third of a
    // large checkout; without attributes or eol settings they would change nothing.
    if !needs_filters(repo, &commit) {
        checkout.disable_filters(true);
    }
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

#[cfg(test)]
mod tests {
    use super::super::{branch_exists, resolve_head, testrepo};
    use super::*;

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
        let new = resolve_head(&user).unwrap().commit;

        let slot = tmp.path().join("slot");
        fs::create_dir(&slot).unwrap();
        prepare(&user, &slot, &old).unwrap();
        assert!(slot.join("gone.txt").exists());
        assert_eq!(detached_at(&slot), Some(old.clone()));
        let ws = adopt(&user, &slot, &new, "drover/abc-later").unwrap();
        assert_eq!(ws.dir, slot);
        assert_eq!(detached_at(&slot), None, "on its branch now");
        assert!(!slot.join("gone.txt").exists(), "removed");
        assert_eq!(fs::read_to_string(slot.join("new.txt")).unwrap(), "new\n");
        assert_eq!(fs::read_to_string(slot.join("keep.txt")).unwrap(), "same\n");
        let r = Repository::open(&slot).unwrap();
        assert_eq!(r.head().unwrap().shorthand().ok(), Some("drover/abc-later"));
        assert_eq!(r.head().unwrap().target().unwrap().to_string(), new);
        let mut so = git2::StatusOptions::new();
        so.include_untracked(true);
        assert!(r.statuses(Some(&mut so)).unwrap().is_empty(), "clean");

        // At the same base, adopting only makes the branch.
        let same = tmp.path().join("same");
        fs::create_dir(&same).unwrap();
        prepare(&user, &same, &new).unwrap();
        adopt(&user, &same, &new, "drover/abc-same").unwrap();
        assert!(branch_exists(&same, "drover/abc-same"));
        assert!(
            Repository::open(&same)
                .unwrap()
                .statuses(Some(&mut so))
                .unwrap()
                .is_empty()
        );
    }
}
