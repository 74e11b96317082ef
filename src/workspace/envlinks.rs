//! Restoring an environment snapshot into a new workspace by linking, not copying: each
//! ignored directory setup made (`.venv/`, `node_modules/`, `target/`) becomes a link
//! to `ENV_MOUNT/<path>`, where the task container sees the snapshot's copy through a
//! writable layer of the task's own (`runtime::EnvLayer`), so a restore costs a link per
//! directory instead of a copy per file. On the host the link points nowhere and is
//! never followed.
//!
//! Only directories drover's own rules ignore (the base commit's `.gitignore`s and
//! drover's defaults, the rules its snapshot reads, which then treat exactly such a
//! link as the ignored directory) and that the checkout does not have are linked;
//! everything else is left for the caller to copy. The list is setup's (untrusted): a
//! path is used only when plain and relative, and links are made beneath the workspace
//! without following any. Copies nothing itself.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::record::TaskGit;
use super::snapshot::{BaseInfo, base_info, git_reserved};
use super::{WorkspaceError, git, io};
use crate::beneath::{Beneath, Kind};
use crate::runtime::ENV_MOUNT;

/// Where the link at workspace path `rel` points.
pub fn link_target(rel: &[u8]) -> Vec<u8> {
    let mut t = ENV_MOUNT.as_bytes().to_vec();
    t.push(b'/');
    t.extend_from_slice(rel);
    t
}

/// What `link` did with a snapshot's entries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Linked {
    /// Linked directories (without the trailing `/`).
    pub links: Vec<String>,
    /// Entries still to copy from the snapshot, as listed.
    pub copies: Vec<String>,
}

/// Links the ignored directories among `entries` (setup's list: untracked directories
/// end in `/`) in `task`'s new workspace. Safe whatever the workspace holds meanwhile:
/// each link is made relative to a directory opened without following any link.
pub fn link(task: &TaskGit, entries: &[String]) -> Result<Linked, WorkspaceError> {
    let store = task.open_store()?;
    let tree = store
        .find_commit(task.base_oid()?)
        .and_then(|c| c.tree())
        .map_err(git("reading the base commit"))?;
    let info = base_info(&store, &tree).map_err(git("reading the base commit"))?;
    let ws = Beneath::open(&task.workspace)
        .map_err(io(format!("opening {}", task.workspace.display())))?;
    let mut out = Linked::default();
    for entry in entries {
        match linkable(&info, entry) {
            Some(rel) if make(&ws, rel) => out.links.push(rel.to_string()),
            _ => out.copies.push(entry.clone()),
        }
    }
    Ok(out)
}

/// The path to link for `entry`, when it is a plain relative directory drover ignores
/// and the base commit does not have.
fn linkable<'e>(info: &BaseInfo, entry: &'e str) -> Option<&'e str> {
    let rel = entry.strip_suffix('/')?;
    let plain = !rel.is_empty()
        && rel.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && git_reserved(c.as_bytes(), Kind::Dir).is_none()
        });
    let bytes = rel.as_bytes();
    // Never inside a submodule: its files are not drover's to record.
    let in_submodule = rel
        .match_indices('/')
        .any(|(at, _)| info.gitlinks.contains(&rel.as_bytes()[..at]));
    let ok = plain
        && !in_submodule
        && !info.files.contains(bytes)
        && !info.dirs.contains(bytes)
        && info.ignored(bytes, true);
    ok.then_some(rel)
}

/// Makes the link for `rel`: its parent must be a real directory of the workspace and
/// nothing else may be at `rel` (the same link is there already after a restore that
/// was cut short). Whether the link is there.
fn make(ws: &Beneath, rel: &str) -> bool {
    let path = Path::new(rel);
    let (parent, name) = match (path.parent(), path.file_name()) {
        (Some(p), Some(n)) => (p, n),
        _ => return false,
    };
    let Ok(dir) = ws.dir(parent) else {
        return false;
    };
    let target = link_target(rel.as_bytes());
    match rustix::fs::symlinkat(target.as_slice(), &dir, name.as_bytes()) {
        Ok(()) => true,
        Err(rustix::io::Errno::EXIST) => rustix::fs::readlinkat(&dir, name.as_bytes(), Vec::new())
            .is_ok_and(|t| t.as_bytes() == target.as_slice()),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{create, diff, testrepo};
    use super::*;
    use crate::workspace::SnapshotOptions;

    fn task_at(files: &[(&str, &str)]) -> (tempfile::TempDir, TaskGit) {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        std::fs::create_dir(&user).unwrap();
        testrepo::init(&user, files);
        let task = testrepo::task(tmp.path(), &user, "t");
        create(&task).unwrap();
        (tmp, task)
    }

    fn changed(task: &TaskGit) -> Vec<String> {
        let d = diff(task, SnapshotOptions::default()).unwrap();
        d.summary.files.iter().map(|f| f.path.clone()).collect()
    }

    #[test]
    fn links_only_ignored_new_directories_and_snapshot_ignores_them() {
        let (_tmp, task) = task_at(&[
            (".gitignore", ".venv/\nbuild/\n*.log\n"),
            ("src/app.py", "print(1)\n"),
        ]);
        let entries: Vec<String> = [
            ".venv/",      // ignored, new: linked
            "notignored/", // not ignored: copied
            "src/",        // tracked directory: copied
            "../escape/",  // not plain: copied (and the copy stays in the sandbox)
            ".git/",       // never
            "out.log",     // a file: copied
            "src/.venv/",  // ignored at any depth, parent real: linked
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = link(&task, &entries).unwrap();
        assert_eq!(got.links, vec![".venv", "src/.venv"]);
        assert_eq!(
            got.copies,
            vec!["notignored/", "src/", "../escape/", ".git/", "out.log"]
        );
        let target = std::fs::read_link(task.workspace.join(".venv")).unwrap();
        assert_eq!(target, Path::new("/drover-env/.venv"));
        assert!(!task.workspace.join("notignored").exists());

        // drover's own record sees no change: the links are the ignored directories.
        assert!(changed(&task).is_empty(), "{:?}", changed(&task));

        // A link drover did not make (another target, or under a name not ignored) is
        // the agent's change, like any other.
        std::fs::remove_file(task.workspace.join("src/.venv")).unwrap();
        std::os::unix::fs::symlink("/etc", task.workspace.join("src/.venv")).unwrap();
        std::os::unix::fs::symlink("/drover-env/x", task.workspace.join("x")).unwrap();
        assert_eq!(changed(&task), vec!["src/.venv", "x"]);
    }

    #[test]
    fn never_links_through_a_link_or_over_a_file() {
        let (_tmp, task) = task_at(&[(".gitignore", "cache/\n"), ("real/a.txt", "a\n")]);
        std::os::unix::fs::symlink("/tmp", task.workspace.join("hop")).unwrap();
        std::fs::write(task.workspace.join("cache"), "a file").unwrap();
        let entries = vec!["hop/cache/".to_string(), "cache/".to_string()];
        let got = link(&task, &entries).unwrap();
        assert!(got.links.is_empty(), "{got:?}");
        assert_eq!(got.copies, entries);
        assert!(std::fs::symlink_metadata("/tmp/cache").map_or(true, |m| !m.is_symlink()));
    }
}
