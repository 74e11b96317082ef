//! Best-of-N: the order of a task's side-by-side attempts once they rest, by what was
//! checked, never by what an agent claims: the test verdict (passed, no tests, failed,
//! error, not run), then fewer failures, then fewer new failures against the base
//! commit's run, then the smaller diff (an attempt that changed nothing last). Ties keep
//! the order they were queued in.

use super::{AttemptRecord, Verdict};

/// What an attempt is ranked by, smaller first.
fn key(a: &AttemptRecord) -> (u8, u64, u64, u64) {
    let (verdict, failed, new) = match &a.tests {
        Some(r) => {
            let v = match r.verdict {
                Verdict::Passed => 0,
                Verdict::NoTests => 1,
                Verdict::Failed => 2,
                // Not about the tree that would be committed: as good as no run.
                Verdict::Error | Verdict::Stale => 3,
            };
            let failed = r.failed.unwrap_or(u64::MAX);
            let new = r.new_failures.as_ref().map_or(failed, |n| n.len() as u64);
            (v, failed, new)
        }
        None => (4, u64::MAX, u64::MAX),
    };
    let size = match &a.diff {
        Some(d) if !d.files.is_empty() => d.insertions + d.deletions,
        _ => u64::MAX,
    };
    (verdict, failed, new, size)
}

/// The rank (from 1) of each of `attempts`, in their order; `None` for one that does
/// not rest yet (it is not ranked until it does).
pub fn ranks(attempts: &[Option<&AttemptRecord>]) -> Vec<Option<u32>> {
    let mut order: Vec<(usize, (u8, u64, u64, u64))> = attempts
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.map(|a| (i, key(a))))
        .collect();
    order.sort_by_key(|(i, k)| (*k, *i));
    let mut out = vec![None; attempts.len()];
    for (rank, (i, _)) in order.into_iter().enumerate() {
        out[i] = Some(rank as u32 + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DiffSummary, FileStat, TestReport};

    fn attempt(
        verdict: Option<Verdict>,
        failed: u64,
        new: Option<usize>,
        size: u64,
    ) -> AttemptRecord {
        AttemptRecord {
            tests: verdict.map(|verdict| TestReport {
                command: None,
                exit_code: None,
                passed: None,
                failed: Some(failed),
                verdict,
                duration_ms: 0,
                timed_out: false,
                note: None,
                tree: None,
                changed: Vec::new(),
                skipped: None,
                failures: Vec::new(),
                new_failures: new.map(|n| vec!["t".to_string(); n]),
                base: None,
            }),
            diff: Some(DiffSummary {
                files: (size > 0)
                    .then(|| FileStat {
                        path: "a".into(),
                        old_path: None,
                        status: "modified".into(),
                        insertions: size,
                        deletions: 0,
                        binary: false,
                        old_size: 0,
                        new_size: 0,
                    })
                    .into_iter()
                    .collect(),
                insertions: size,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn tests_first_then_failures_then_new_failures_then_size() {
        let failing_many = attempt(Some(Verdict::Failed), 3, Some(0), 5);
        let failing_new = attempt(Some(Verdict::Failed), 1, Some(1), 5);
        let failing_old = attempt(Some(Verdict::Failed), 1, Some(0), 50);
        let passing_big = attempt(Some(Verdict::Passed), 0, Some(0), 90);
        let passing_small = attempt(Some(Verdict::Passed), 0, Some(0), 9);
        let passing_empty = attempt(Some(Verdict::Passed), 0, Some(0), 0);
        let all = [
            Some(&failing_many),
            Some(&failing_new),
            Some(&failing_old),
            Some(&passing_big),
            None,
            Some(&passing_small),
            Some(&passing_empty),
        ];
        assert_eq!(
            ranks(&all),
            [Some(6), Some(5), Some(4), Some(2), None, Some(1), Some(3)]
        );
        let tie = attempt(Some(Verdict::Passed), 0, Some(0), 9);
        assert_eq!(
            ranks(&[Some(&tie), Some(&tie)]),
            [Some(1), Some(2)],
            "queued order"
        );
    }
}
