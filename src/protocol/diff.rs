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
    /// Entries left out of the lists above to keep the summary small.
    #[serde(default)]
    pub omitted: Omitted,
}

/// How many entries `DiffSummary` leaves out of each list (the stats count them all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Omitted {
    pub files: u64,
    pub ignored: u64,
    pub unrecorded: u64,
}

/// The most files a summary lists (the stats count all of them).
pub const LISTED_FILES: usize = 10_000;
/// The most ignored or unrecorded entries a summary lists.
pub const LISTED_OTHERS: usize = 1_000;

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
    /// Files changed, listed or not.
    pub fn files_changed(&self) -> u64 {
        self.files.len() as u64 + self.omitted.files
    }

    /// Keeps each list within its limit, counting what it leaves out.
    pub fn cap(&mut self) {
        self.cap_to(LISTED_FILES, LISTED_OTHERS);
    }

    /// Keeps at most `files` files and `others` entries of the other lists.
    pub fn cap_to(&mut self, files: usize, others: usize) {
        fn cut<T>(v: &mut Vec<T>, max: usize, out: &mut u64) {
            if v.len() > max {
                *out += (v.len() - max) as u64;
                v.truncate(max);
            }
        }
        cut(&mut self.files, files, &mut self.omitted.files);
        cut(&mut self.ignored, others, &mut self.omitted.ignored);
        cut(&mut self.unrecorded, others, &mut self.omitted.unrecorded);
    }

    /// `3 files changed, 10 insertions(+), 2 deletions(-)`
    pub fn stat_line(&self) -> String {
        let n = self.files_changed();
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
    /// Files both change (at most `LISTED_OTHERS`; `omitted_files` more).
    pub files: Vec<String>,
    #[serde(default)]
    pub omitted_files: u64,
    /// Files that conflict when both are merged (empty: they merge cleanly).
    pub conflicts: Vec<String>,
    /// Why the merge could not be tried, if it could not.
    #[serde(default)]
    pub error: Option<String>,
}
