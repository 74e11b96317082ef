//! What verifying a task found: the test command's verdict, counts and failing tests,
//! the tree it ran on, and how that compares with the same tests on the base commit
//! (the baseline, stored once per base, command and environment). Judging a run and
//! comparing it are `crate::verify`'s.

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
    /// Tests skipped, ignored or pending, when the runner says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    /// The failing tests by name, when the runner's output names them: at most
    /// `verify::failures::KEPT` (`failed` counts them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The failures that did not fail on the base commit. `None` when there is nothing
    /// to compare with: no baseline, a baseline that could not run, or a side whose
    /// failures have no names. Only shown: the verdict never depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_failures: Option<Vec<String>>,
    /// What the same command did on the base commit in the same environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseTests>,
}

/// The base commit's run of the tests, in short, as a report compared with it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseTests {
    pub verdict: Verdict,
    pub passed: Option<u64>,
    pub failed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    /// Why it says what it says ("timed out").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A baseline as stored (`baselines/<key>.json` in the data dir): the tests run once on
/// a base commit before any agent changed it, for every later task with the same key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// sha256 of what it depends on (`verify::baseline::key`).
    pub key: String,
    pub base_commit: String,
    pub command: String,
    /// The image the tests ran in (its Docker id) and the task's network.
    pub image: String,
    pub network: String,
    pub ran_at: String,
    /// The run, judged as any other (its tree and changed files left out).
    pub report: TestReport,
}
