//! Verification: the project's own tests, run in the task's container after the agent.
//!
//! This module decides the command (config, else detected from the workspace), turns
//! the run into a `TestReport` with a verdict, counts and failing tests' names, and
//! compares it with the base commit's run (`baseline`). Running it is the engine's job,
//! through the runtime, so the output can stream as events.

pub mod baseline;
pub mod counts;
mod detect;
pub mod failures;

use crate::protocol::{TestReport, Verdict};

/// Paths a stale report lists (its note says how many changed in all).
const CHANGED_KEPT: usize = 200;

pub use detect::detect;

/// How a run of the tests is judged (the report itself is `crate::protocol`'s).
impl TestReport {
    pub fn no_tests() -> Self {
        TestReport {
            command: None,
            exit_code: None,
            passed: None,
            failed: None,
            verdict: Verdict::NoTests,
            duration_ms: 0,
            timed_out: false,
            note: Some("no test command configured or detected (set `test` in drover.toml)".into()),
            tree: None,
            changed: Vec::new(),
            skipped: None,
            failures: Vec::new(),
            new_failures: None,
            base: None,
        }
    }

    /// Judges a finished run of `command`.
    pub fn judge(
        command: &str,
        exit_code: i64,
        timed_out: bool,
        output: &str,
        duration_ms: u64,
    ) -> Self {
        let c = counts::parse(output);
        let (verdict, note) = if timed_out {
            (Verdict::Error, Some("timed out".to_string()))
        } else if exit_code == 127 || exit_code == 126 {
            (
                Verdict::Error,
                Some(format!("test command could not run (exit {exit_code})")),
            )
        } else if exit_code == 5 && output.contains("collected 0 items")
            || output.contains("NO TESTS RAN")
            || output.contains("Ran 0 tests")
        {
            (
                Verdict::NoTests,
                Some("the test runner found no tests".to_string()),
            )
        } else if exit_code == 0 {
            (Verdict::Passed, None)
        } else {
            (Verdict::Failed, None)
        };
        TestReport {
            command: Some(command.to_string()),
            exit_code: Some(exit_code),
            passed: c.passed,
            failed: c.failed,
            verdict,
            duration_ms,
            timed_out,
            note,
            tree: None,
            changed: Vec::new(),
            skipped: c.skipped,
            failures: failures::names(output),
            new_failures: None,
            base: None,
        }
    }

    /// The workspace changed while the tests ran: whatever they said, the verdict is
    /// stale, naming the files.
    pub fn stale(mut self, changed: Vec<String>) -> Self {
        let shown: Vec<&str> = changed.iter().take(10).map(String::as_str).collect();
        let more = changed.len().saturating_sub(shown.len());
        let mut note = format!(
            "changed while the tests ran: {}{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
        if let Some(was) = &self.note {
            note.push_str(&format!("; before that: {was}"));
        }
        self.verdict = Verdict::Stale;
        self.note = Some(note);
        // The note counts them all; the list travels with every snapshot, so it is cut.
        self.changed = changed.into_iter().take(CHANGED_KEPT).collect();
        self
    }

    /// `passed (3 passed, 0 failed)` and the like, with the note.
    pub fn summary(&self) -> String {
        let mut s = self.counted();
        if let Some(n) = &self.note {
            s.push_str(&format!(": {n}"));
        }
        s
    }

    /// `passed (3 passed, 0 failed)`, `failed (3 failed (1 new), 189 passed, 1
    /// skipped)`: the verdict and the counts, no note.
    pub fn counted(&self) -> String {
        let mut s = self.verdict.label().to_string();
        let counts = self.counts();
        if !counts.is_empty() {
            s.push_str(&format!(" ({counts})"));
        }
        s
    }

    /// `3 failed (1 new), 189 passed, 1 skipped`, or `6 passed, 0 failed`: failures
    /// first when there are any; empty when the runner said nothing countable.
    pub fn counts(&self) -> String {
        let new = self.new_failures.as_ref().map(Vec::len);
        counts_text(self.passed, self.failed, self.skipped, new)
    }
}

impl crate::protocol::BaseTests {
    /// `failed (2 failed, 3 passed)`: the base commit's verdict and counts.
    pub fn counted(&self) -> String {
        let mut s = self.verdict.label().to_string();
        let counts = counts_text(self.passed, self.failed, self.skipped, None);
        if !counts.is_empty() {
            s.push_str(&format!(" ({counts})"));
        }
        s
    }
}

/// The counts in words; `new` is how many failures the base commit did not have.
fn counts_text(
    passed: Option<u64>,
    failed: Option<u64>,
    skipped: Option<u64>,
    new: Option<usize>,
) -> String {
    let mut parts = Vec::new();
    let failing = failed.filter(|f| *f > 0);
    if let Some(f) = failing {
        parts.push(match new {
            Some(0) => format!("{f} failed (none new)"),
            Some(n) => format!("{f} failed ({n} new)"),
            None => format!("{f} failed"),
        });
    }
    if let Some(p) = passed {
        parts.push(format!("{p} passed"));
    }
    if failing.is_none()
        && let Some(f) = failed
    {
        parts.push(format!("{f} failed"));
    }
    if let Some(s) = skipped.filter(|s| *s > 0) {
        parts.push(format!("{s} skipped"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let ok = TestReport::judge("t", 0, false, "Ran 2 tests in 0s\n\nOK\n", 5);
        assert_eq!(
            (ok.verdict, ok.passed, ok.failed),
            (Verdict::Passed, Some(2), Some(0))
        );
        assert_eq!(ok.summary(), "passed (2 passed, 0 failed)");
        let skipping = TestReport::judge("t", 0, false, "Ran 3 tests in 0s\n\nOK (skipped=1)\n", 5);
        assert_eq!(skipping.counted(), "passed (2 passed, 0 failed, 1 skipped)");
        let out = "FAIL: test_a (t.T.test_a)\nERROR: test_b (t.T.test_b)\n\
                   Ran 9 tests in 0s\n\nFAILED (failures=1, errors=1, skipped=1)\n";
        let mut failing = TestReport::judge("t", 1, false, out, 5);
        assert_eq!(failing.failures, ["t.T.test_a", "t.T.test_b"]);
        assert_eq!(failing.counted(), "failed (2 failed, 6 passed, 1 skipped)");
        failing.new_failures = Some(vec!["t.T.test_b".into()]);
        assert_eq!(failing.counts(), "2 failed (1 new), 6 passed, 1 skipped");
        assert_eq!(
            TestReport::judge("t", 1, false, "", 5).verdict,
            Verdict::Failed
        );
        assert_eq!(
            TestReport::judge("t", 127, false, "", 5).verdict,
            Verdict::Error
        );
        assert_eq!(
            TestReport::judge("t", 124, true, "", 5).verdict,
            Verdict::Error
        );
        assert_eq!(
            TestReport::judge("t", 5, false, "collected 0 items\n", 5).verdict,
            Verdict::NoTests
        );
        assert_eq!(
            TestReport::judge("t", 0, false, "\nRan 0 tests in 0.000s\n\nOK\n", 5).verdict,
            Verdict::NoTests
        );
        assert_eq!(TestReport::no_tests().verdict, Verdict::NoTests);
    }
}
