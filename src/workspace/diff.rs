//! Base commit → workspace diff, with per-file stats.
//!
//! The workspace side is a snapshot (`snapshot`): a tree in drover's own repository made
//! from the files beneath the workspace root. The diff is tree to tree in that
//! repository, so nothing the agent wrote into the workspace's `.git` (config, attributes,
//! excludes, a moved work tree) takes part. Renames are detected; binary files are
//! summarised with their sizes, never rendered. Blocking: call from `spawn_blocking`.

use git2::{Delta, DiffFindOptions, DiffFormat, DiffOptions, Oid, Repository};

use super::WorkspaceError;
use super::record::TaskGit;
use super::snapshot::{self, SnapshotOptions};
use super::statcache::StatCache;
use crate::protocol::{DiffSummary, FileStat};

/// Files larger than this are treated as binary (not read line by line).
const MAX_TEXT_BYTES: i64 = 8 << 20;
/// The patch text kept for showing; the file list and stats are always whole.
const MAX_PATCH_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceDiff {
    pub summary: DiffSummary,
    /// Unified diff text (`git diff` format; binary files as one summary line).
    pub patch: String,
    /// Bytes of file content the snapshot added to drover's repository.
    pub written: u64,
}

impl WorkspaceDiff {
    /// Takes what the snapshot says beside the diff: its tree, and what it ignored or
    /// could not record (the lists capped).
    pub fn take(&mut self, snap: super::Snapshot) {
        self.summary.tree = Some(snap.tree.to_string());
        self.summary.ignored = snap.ignored;
        self.summary.unrecorded = snap.unrecorded;
        self.summary.cap();
    }
}

fn status_name(d: Delta) -> &'static str {
    match d {
        Delta::Added | Delta::Untracked => "added",
        Delta::Deleted => "deleted",
        Delta::Renamed => "renamed",
        Delta::Copied => "copied",
        Delta::Typechange => "typechange",
        _ => "modified",
    }
}

/// Snapshots the task's workspace and diffs it against the base, with the stat cache
/// saved on disk (saved again after when `opts.persist`).
pub fn diff(git: &TaskGit, opts: SnapshotOptions) -> Result<WorkspaceDiff, WorkspaceError> {
    let mut cache = StatCache::load(&git.index);
    diff_with(git, opts, &mut cache)
}

/// `diff` with a stat cache the caller keeps between snapshots.
pub fn diff_with(
    git: &TaskGit,
    opts: SnapshotOptions,
    cache: &mut Option<StatCache>,
) -> Result<WorkspaceDiff, WorkspaceError> {
    let store = git.open_store()?;
    let snap = snapshot::snapshot_in(&store, git, opts, cache)?;
    if opts.persist
        && let Some(c) = cache
    {
        c.save(&git.index)
            .map_err(super::io(format!("saving {}", git.index.display())))?;
    }
    let base = store
        .find_commit(git.base_oid()?)
        .map(|c| c.tree_id())
        .map_err(super::git("reading the base commit"))?;
    let mut d = diff_trees(&store, base, snap.tree).map_err(|e| WorkspaceError::Broken {
        path: git.workspace.clone(),
        message: format!("computing diff: {}", e.message()),
    })?;
    d.written = snap.written;
    d.take(snap);
    Ok(d)
}

/// The paths that differ between two trees of `store` (both sides of a rename).
pub fn changed_paths(store: &Repository, old: Oid, new: Oid) -> Result<Vec<String>, git2::Error> {
    let (a, b) = (store.find_tree(old)?, store.find_tree(new)?);
    let diff = store.diff_tree_to_tree(Some(&a), Some(&b), None)?;
    let mut out: Vec<String> = diff
        .deltas()
        .flat_map(|d| [d.old_file().path(), d.new_file().path()])
        .flatten()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The diff between two trees of `store`: summary and patch.
pub fn diff_trees(store: &Repository, old: Oid, new: Oid) -> Result<WorkspaceDiff, git2::Error> {
    let (old, new) = (store.find_tree(old)?, store.find_tree(new)?);
    let mut opts = DiffOptions::new();
    opts.include_typechange(true).max_size(MAX_TEXT_BYTES);
    let mut diff = store.diff_tree_to_tree(Some(&old), Some(&new), Some(&mut opts))?;
    let mut find = DiffFindOptions::new();
    find.renames(true);
    diff.find_similar(Some(&mut find))?;

    let mut summary = DiffSummary::default();
    for (idx, delta) in diff.deltas().enumerate() {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let old_path = matches!(delta.status(), Delta::Renamed | Delta::Copied)
            .then(|| {
                delta
                    .old_file()
                    .path()
                    .map(|p| p.to_string_lossy().into_owned())
            })
            .flatten();
        let patch = git2::Patch::from_diff(&diff, idx)?;
        let binary = delta.flags().is_binary() || patch.is_none();
        let (insertions, deletions) = match (&patch, binary) {
            (Some(p), false) => {
                let (_, a, d) = p.line_stats()?;
                (a as u64, d as u64)
            }
            _ => (0, 0),
        };
        summary.insertions += insertions;
        summary.deletions += deletions;
        summary.files.push(FileStat {
            path,
            old_path,
            status: status_name(delta.status()).into(),
            insertions,
            deletions,
            binary,
            old_size: delta.old_file().size(),
            new_size: delta.new_file().size(),
        });
    }

    let mut patch = String::new();
    let mut cut = 0usize;
    diff.print(DiffFormat::Patch, |_, _, line| {
        if patch.len() >= MAX_PATCH_BYTES {
            cut += line.content().len();
            return true;
        }
        let content = String::from_utf8_lossy(line.content());
        match line.origin() {
            '+' | '-' | ' ' => patch.push(line.origin()),
            // "\ No newline at end of file" and friends come with their own text.
            _ => {}
        }
        patch.push_str(&content);
        true
    })?;
    if cut > 0 {
        patch.push_str(&format!(
            "\n…{cut} more bytes of patch not shown (the counts above cover every file)…\n"
        ));
    }
    summary.cap();
    Ok(WorkspaceDiff {
        summary,
        patch,
        written: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{create, testrepo};
    use super::*;
    use std::fs;

    fn setup() -> (tempfile::TempDir, std::path::PathBuf, TaskGit) {
        let tmp = tempfile::tempdir().unwrap();
        let user = tmp.path().join("user");
        fs::create_dir(&user).unwrap();
        testrepo::init(
            &user,
            &[
                ("calc.py", "def add(a, b):\n    return a - b\n"),
                ("old_name.txt", "same content here\nline 2\nline 3\n"),
                ("gone.txt", "bye\n"),
            ],
        );
        let task = testrepo::task(tmp.path(), &user, "x");
        create(&task).unwrap();
        (tmp, task.workspace.clone(), task)
    }

    #[test]
    fn clean_workspace_has_empty_diff() {
        let (_t, _ws, task) = setup();
        let d = diff(&task, SnapshotOptions::default()).unwrap();
        assert!(d.summary.files.is_empty());
        assert_eq!(d.patch, "");
        assert_eq!(
            d.summary.stat_line(),
            "0 files changed, 0 insertions(+), 0 deletions(-)"
        );
    }

    #[test]
    fn edits_untracked_renames_deletes_and_binaries() {
        let (_t, ws, task) = setup();
        fs::write(ws.join("calc.py"), "def add(a, b):\n    return a + b\n").unwrap();
        fs::create_dir_all(ws.join("notes/deep")).unwrap();
        fs::write(ws.join("notes/deep/NEW.md"), "hello\n").unwrap();
        fs::rename(ws.join("old_name.txt"), ws.join("new_name.txt")).unwrap();
        fs::remove_file(ws.join("gone.txt")).unwrap();
        fs::write(ws.join("logo.png"), b"\x89PNG\r\n\x1a\n\x00\x00\x00binary").unwrap();

        let d = diff(&task, SnapshotOptions::default()).unwrap();
        let by_path = |p: &str| {
            d.summary
                .files
                .iter()
                .find(|f| f.path == p)
                .unwrap()
                .clone()
        };
        let calc = by_path("calc.py");
        assert_eq!(
            (calc.status.as_str(), calc.insertions, calc.deletions),
            ("modified", 1, 1)
        );
        let new = by_path("notes/deep/NEW.md");
        assert_eq!((new.status.as_str(), new.insertions), ("added", 1));
        let renamed = by_path("new_name.txt");
        assert_eq!(renamed.status, "renamed");
        assert_eq!(renamed.old_path.as_deref(), Some("old_name.txt"));
        assert_eq!(by_path("gone.txt").status, "deleted");
        let png = by_path("logo.png");
        assert!(png.binary);
        assert_eq!(png.new_size, 17);
        assert_eq!(d.summary.files.len(), 5);
        assert_eq!((d.summary.insertions, d.summary.deletions), (2, 2));
        assert!(
            d.patch.contains("-    return a - b\n+    return a + b\n"),
            "{}",
            d.patch
        );
        assert!(d.patch.contains("+hello\n"));
        assert!(d.patch.contains("Binary files"), "{}", d.patch);
    }

    #[test]
    fn the_agents_own_git_directory_plays_no_part() {
        let (_t, ws, task) = setup();
        fs::write(ws.join("calc.py"), "changed\n").unwrap();
        fs::remove_dir_all(ws.join(".git")).unwrap();
        let d = diff(&task, SnapshotOptions::default()).unwrap();
        assert_eq!(d.summary.files.len(), 1, "{:?}", d.summary.files);
        assert_eq!(d.summary.files[0].path, "calc.py");
    }

    #[test]
    fn a_workspace_removed_from_outside_is_named() {
        let (_t, ws, task) = setup();
        fs::remove_dir_all(&ws).unwrap();
        let e = diff(&task, SnapshotOptions::default()).unwrap_err();
        assert!(matches!(e, WorkspaceError::Gone(_)), "{e}");
        assert!(e.to_string().contains("removed from outside drover"), "{e}");
    }
}
