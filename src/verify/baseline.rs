//! The baseline: the project's tests run once on a base commit, before any agent changed
//! it, so a task's failures can be told apart from those that were already there.
//!
//! This module keys a baseline (base commit, test command, the image it runs in, the
//! network), stores and finds it under the data dir, and compares a run with it. It
//! never runs the tests (the engine does, as it runs the real ones) and never changes
//! a verdict: a comparison is only shown.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::protocol::{BaseTests, Baseline, TestReport, Verdict};

/// Bytes a stored baseline may have: its names are capped, so anything larger is not
/// one of drover's.
const MAX_BYTES: u64 = 1 << 20;

/// What a baseline depends on, hashed: the same tests on the same tree in the same
/// environment say the same, so a task with this key reuses the one run.
pub fn key(base_commit: &str, command: &str, image_id: &str, network: &str) -> String {
    let mut h = Sha256::new();
    // Each part with its length, so no two different keys run together the same.
    for part in ["drover-baseline-1", base_commit, command, image_id, network] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The stored baseline for `key` in `dir`, if there is a readable one.
pub fn load(dir: &Path, key: &str) -> Option<Baseline> {
    let path = dir.join(format!("{key}.json"));
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return None;
    }
    let text = std::fs::read(&path).ok()?;
    match serde_json::from_slice::<Baseline>(&text) {
        Ok(b) if b.key == key => Some(b),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!("ignoring the baseline {}: {e}", path.display());
            None
        }
    }
}

/// Stores `b` in `dir` (0700), whole or not at all.
pub fn save(dir: &Path, b: &Baseline) -> std::io::Result<()> {
    crate::paths::create_private_dir(dir)?;
    let json = serde_json::to_vec_pretty(b).map_err(std::io::Error::other)?;
    crate::paths::write_private(&dir.join(format!("{}.json", b.key)), &json)
}

/// Sets what `report` shows of the base commit's run: its counts, and which of the
/// failures are new when both runs name all their failures.
pub fn compare(report: &mut TestReport, base: &TestReport) {
    report.base = Some(BaseTests {
        verdict: base.verdict,
        passed: base.passed,
        failed: base.failed,
        skipped: base.skipped,
        note: base.note.clone(),
    });
    report.new_failures = (named(report) && named(base)).then(|| {
        report
            .failures
            .iter()
            .filter(|f| !base.failures.contains(f))
            .cloned()
            .collect()
    });
}

/// Whether a run's failures are all known by name: it ran to its end, and every
/// failure it counts (or, uncounted, its failing exit) has a name.
fn named(r: &TestReport) -> bool {
    let ran = matches!(
        r.verdict,
        Verdict::Passed | Verdict::Failed | Verdict::Stale
    );
    ran && !r.timed_out
        && match r.failed {
            Some(n) => r.failures.len() as u64 >= n,
            None => r.exit_code == Some(0) || !r.failures.is_empty(),
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITTEST: &str =
        "FAIL: test_a (t.T.test_a)\n\nRan 3 tests in 0s\n\nFAILED (failures=1)\n";
    const UNITTEST_2: &str = "FAIL: test_a (t.T.test_a)\nFAIL: test_b (t.T.test_b)\n\nRan 4 tests in 0s\n\nFAILED (failures=2)\n";

    #[test]
    fn key_depends_on_each_part() {
        let k = key("c0ffee", "python3 -m unittest", "sha256:1", "none");
        assert_eq!(k.len(), 64);
        assert_eq!(k, key("c0ffee", "python3 -m unittest", "sha256:1", "none"));
        for other in [
            key("c0ffef", "python3 -m unittest", "sha256:1", "none"),
            key("c0ffee", "python3 -m pytest", "sha256:1", "none"),
            key("c0ffee", "python3 -m unittest", "sha256:2", "none"),
            key("c0ffee", "python3 -m unittest", "sha256:1", "bridge"),
            // Parts do not run into each other.
            key("c0ffeep", "ython3 -m unittest", "sha256:1", "none"),
        ] {
            assert_ne!(k, other);
        }
    }

    #[test]
    fn new_failures_are_those_the_base_did_not_have() {
        let base = TestReport::judge("t", 1, false, UNITTEST, 10);
        let mut now = TestReport::judge("t", 1, false, UNITTEST_2, 10);
        compare(&mut now, &base);
        assert_eq!(now.new_failures, Some(vec!["t.T.test_b".to_string()]));
        assert_eq!(now.verdict, Verdict::Failed, "the verdict stays");
        assert_eq!(now.counts(), "2 failed (1 new), 2 passed");
        let b = now.base.as_ref().unwrap();
        assert_eq!(b.counted(), "failed (1 failed, 2 passed)");

        // The same failure as the base's: none new. Fixed: nothing new either.
        let mut same = TestReport::judge("t", 1, false, UNITTEST, 10);
        compare(&mut same, &base);
        assert_eq!(same.new_failures, Some(vec![]));
        assert_eq!(same.counts(), "1 failed (none new), 2 passed");
        let mut fixed = TestReport::judge("t", 0, false, "Ran 3 tests in 0s\n\nOK\n", 10);
        compare(&mut fixed, &base);
        assert_eq!(fixed.new_failures, Some(vec![]));
    }

    #[test]
    fn nothing_is_said_new_without_names_on_both_sides() {
        // A base that timed out, or whose failures have no names, compares nothing.
        let timed_out = TestReport::judge("t", 124, true, "", 10);
        let unnamed = TestReport::judge("t", 1, false, "3 failing\n", 10);
        for base in [timed_out, unnamed] {
            let mut now = TestReport::judge("t", 1, false, UNITTEST_2, 10);
            compare(&mut now, &base);
            assert_eq!(now.new_failures, None, "{base:?}");
            assert!(now.base.is_some());
        }
        let base = TestReport::judge("t", 0, false, "Ran 3 tests in 0s\n\nOK\n", 10);
        let mut unnamed_now = TestReport::judge("t", 1, false, "make: *** [test] Error 1\n", 10);
        compare(&mut unnamed_now, &base);
        assert_eq!(unnamed_now.new_failures, None);
    }

    #[test]
    fn stored_and_found_by_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("baselines");
        let k = key("c0ffee", "t", "sha256:1", "none");
        assert_eq!(load(&dir, &k), None);
        let b = Baseline {
            key: k.clone(),
            base_commit: "c0ffee".into(),
            command: "t".into(),
            image: "sha256:1".into(),
            network: "none".into(),
            ran_at: "2025-01-01T00:00:00Z".into(),
            report: TestReport::judge("t", 1, false, UNITTEST, 10),
        };
        save(&dir, &b).unwrap();
        assert_eq!(load(&dir, &k), Some(b.clone()));
        let mode = std::fs::metadata(dir.join(format!("{k}.json"))).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        // A file under another key's name is not that key's baseline.
        let other = key("c0ffee", "t", "sha256:2", "none");
        std::fs::copy(
            dir.join(format!("{k}.json")),
            dir.join(format!("{other}.json")),
        )
        .unwrap();
        assert_eq!(load(&dir, &other), None);
    }
}
