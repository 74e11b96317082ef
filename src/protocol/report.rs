//! What verifying a task found: the test command's verdict and counts, and the tree
//! it ran on. Judging a run is `crate::verify`'s.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    /// No test command configured or found: not a pass.
    NoTests,
    /// The test command could not run (not found, timed out…).
    Error,
    /// The tests ran, but the workspace changed while they did: the verdict would not be
    /// about the tree drover commits.
    Stale,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NoTests => "no tests",
            Verdict::Error => "error",
            Verdict::Stale => "stale",
        }
    }

    /// What the tests did, to follow "the tests": "failed", "found no tests"…
    pub fn outcome(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NoTests => "found no tests",
            Verdict::Error => "could not run",
            Verdict::Stale => "are stale: they ran on an earlier diff",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReport {
    pub command: Option<String>,
    pub exit_code: Option<i64>,
    pub passed: Option<u64>,
    pub failed: Option<u64>,
    pub verdict: Verdict,
    pub duration_ms: u64,
    pub timed_out: bool,
    /// Why the verdict is what it is, in words.
    pub note: Option<String>,
    /// The snapshot tree the tests ran on (in drover's repository): approval counts the
    /// verdict only for this very tree.
    #[serde(default)]
    pub tree: Option<String>,
    /// Files that changed while the tests ran (a `Stale` verdict names them).
    #[serde(default)]
    pub changed: Vec<String>,
}
