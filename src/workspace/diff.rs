//! Base commit → workspace diff, untracked files included, with per-file stats.
//!
//! Computed on the host with libgit2 (no external diff drivers or filters run). Compares
//! the base tree with the work tree directly, so an agent's index games do not hide
//! changes. Renames are detected; binary files are summarised with their sizes, never
//! rendered. Blocking: call from `spawn_blocking`.

use std::path::Path;

use git2::{Delta, DiffFindOptions, DiffFormat, DiffOptions, Oid, Repository};
use serde::{Deserialize, Serialize};

use super::WorkspaceError;

/// Files larger than this are treated as binary (not read line by line).
const MAX_TEXT_BYTES: i64 = 8 << 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSummary {
    pub files: Vec<FileStat>,
    pub insertions: u64,
    pub deletions: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStat {
    pub path: String,
    /// Set for renames and copies.
    pub old_path: Option<String>,
    /// added, modified, deleted, renamed, copied, typechange
    pub status: String,
    pub insertions: u64,
    pub deletions: u64,
    pub binary: bool,
    pub old_size: u64,
    pub new_size: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspaceDiff {
    pub summary: DiffSummary,
    /// Unified diff text (`git diff` format; binary files as one summary line).
    pub patch: String,
}

impl DiffSummary {
    /// `3 files changed, 10 insertions(+), 2 deletions(-)`
    pub fn stat_line(&self) -> String {
        let n = self.files.len();
        format!(
            "{n} file{} changed, {} insertion{}(+), {} deletion{}(-)",
            if n == 1 { "" } else { "s" },
            self.insertions,
            if self.insertions == 1 { "" } else { "s" },
            self.deletions,
            if self.deletions == 1 { "" } else { "s" },
        )
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

pub fn diff(workspace: &Path, base: &str) -> Result<WorkspaceDiff, WorkspaceError> {
    let broken = |message: String| WorkspaceError::Broken {
        path: workspace.to_path_buf(),
        message,
    };
    let repo = Repository::open(workspace)
        .map_err(|e| broken(format!("not a git repository any more ({})", e.message())))?;
    let oid = Oid::from_str(base).map_err(|e| broken(e.message().to_string()))?;
    let tree = repo
        .find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(|e| broken(format!("base commit {base} unreadable ({})", e.message())))?;

    let mut opts = DiffOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .include_typechange(true)
        .max_size(MAX_TEXT_BYTES);
    let mut diff = repo
        .diff_tree_to_workdir(Some(&tree), Some(&mut opts))
        .map_err(|e| broken(format!("computing diff: {}", e.message())))?;
    let mut find = DiffFindOptions::new();
    find.renames(true).for_untracked(true);
    diff.find_similar(Some(&mut find))
        .map_err(|e| broken(format!("finding renames: {}", e.message())))?;

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
        let patch = git2::Patch::from_diff(&diff, idx)
            .map_err(|e| broken(format!("diffing {path}: {}", e.message())))?;
        let binary = delta.flags().is_binary() || patch.is_none();
        let (insertions, deletions) = match (&patch, binary) {
            (Some(p), false) => {
                let (_, a, d) = p
                    .line_stats()
                    .map_err(|e| broken(e.message().to_string()))?;
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
    diff.print(DiffFormat::Patch, |_, _, line| {
        let content = String::from_utf8_lossy(line.content());
        match line.origin() {
            '+' | '-' | ' ' => patch.push(line.origin()),
            // "\ No newline at end of file" and friends come with their own text.
            _ => {}
        }
        patch.push_str(&content);
        true
    })
    .map_err(|e| broken(format!("rendering diff: {}", e.message())))?;
    Ok(WorkspaceDiff { summary, patch })
}

#[cfg(test)]
mod tests {
    use super::super::{create, resolve_head, testrepo};
    use super::*;
    use std::fs;

    fn setup() -> (tempfile::TempDir, std::path::PathBuf, String) {
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
        let head = resolve_head(&user).unwrap();
        let ws = tmp.path().join("ws");
        create(&user, &ws, &head.commit, "drover/x-y").unwrap();
        (tmp, ws, head.commit)
    }

    #[test]
    fn clean_workspace_has_empty_diff() {
        let (_t, ws, base) = setup();
        let d = diff(&ws, &base).unwrap();
        assert!(d.summary.files.is_empty());
        assert_eq!(d.patch, "");
        assert_eq!(
            d.summary.stat_line(),
            "0 files changed, 0 insertions(+), 0 deletions(-)"
        );
    }

    #[test]
    fn edits_untracked_renames_deletes_and_binaries() {
        let (_t, ws, base) = setup();
        fs::write(ws.join("calc.py"), "def add(a, b):\n    return a + b\n").unwrap();
        fs::create_dir_all(ws.join("notes/deep")).unwrap();
        fs::write(ws.join("notes/deep/NEW.md"), "hello\n").unwrap();
        fs::rename(ws.join("old_name.txt"), ws.join("new_name.txt")).unwrap();
        fs::remove_file(ws.join("gone.txt")).unwrap();
        fs::write(ws.join("logo.png"), b"\x89PNG\r\n\x1a\n\x00\x00\x00binary").unwrap();

        let d = diff(&ws, &base).unwrap();
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
    fn deleted_dot_git_is_a_clear_error() {
        let (_t, ws, base) = setup();
        fs::remove_dir_all(ws.join(".git")).unwrap();
        let e = diff(&ws, &base).unwrap_err().to_string();
        assert!(e.contains("not a git repository any more"), "{e}");
    }
}
