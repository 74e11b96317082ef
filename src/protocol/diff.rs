//! What a task changed, as a front end shows it: the file list with stats, what the
//! snapshot ignored or could not record, and other tasks touching the same files.
//! Computing any of it is `crate::workspace`'s.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffSummary {
    pub files: Vec<FileStat>,
    pub insertions: u64,
    pub deletions: u64,
    /// The snapshot's tree in drover's repository (what approval would commit).
    #[serde(default)]
    pub tree: Option<String>,
    /// Ignored files the workspace has beyond the base (measured when verifying).
    #[serde(default)]
    pub ignored: Vec<Ignored>,
    /// What the snapshot could not record, and why.
    #[serde(default)]
    pub unrecorded: Vec<Unrecorded>,
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

/// An ignored file or directory the workspace has that the base commit does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    pub path: String,
    pub bytes: u64,
    /// 1 for a file; the files inside for a directory.
    pub files: u64,
    pub dir: bool,
}

/// Something in the workspace the snapshot does not record, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrecorded {
    pub path: String,
    pub why: String,
}

/// Another task touching the same files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlap {
    pub id: String,
    pub title: String,
    /// Files both change.
    pub files: Vec<String>,
    /// Files that conflict when both are merged (empty: they merge cleanly).
    pub conflicts: Vec<String>,
    /// Why the merge could not be tried, if it could not.
    #[serde(default)]
    pub error: Option<String>,
}
