//! Passed/failed/skipped counts from the summary lines test runners print. Which
//! tests failed, by name, is `failures`'s.
//!
//! Runners covered: Python unittest, pytest, cargo test, go test, jest/vitest, mocha.
//! When nothing matches, counts stay unknown; the verdict then rests on the exit code.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: Option<u64>,
    pub failed: Option<u64>,
    /// Skipped, ignored or pending: not run, so neither passed nor failed.
    pub skipped: Option<u64>,
}

/// The number right before `word` in `line` ("3 passed" → 3).
fn number_before(line: &str, word: &str) -> Option<u64> {
    let idx = line.find(word)?;
    line[..idx]
        .trim_end()
        .rsplit(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
}

/// The number right after `key` ("failures=2" → 2).
fn number_after(line: &str, key: &str) -> Option<u64> {
    let idx = line.find(key)? + key.len();
    let digits: String = line[idx..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

pub fn parse(output: &str) -> Counts {
    let mut c = Counts::default();
    let add = |slot: &mut Option<u64>, n: u64| *slot = Some(slot.unwrap_or(0) + n);
    let mut unittest_ran = None;
    for line in output.lines() {
        let line = line.trim();
        // Python unittest: "Ran 4 tests in 0.01s" then "OK" or "FAILED (failures=1, errors=1)".
        if let Some(rest) = line.strip_prefix("Ran ")
            && rest.contains(" test")
        {
            unittest_ran = number_before(rest, " test");
            continue;
        }
        if let Some(ran) = unittest_ran {
            if line == "OK" || line.starts_with("OK (") {
                let skipped = number_after(line, "skipped=");
                c = Counts {
                    passed: Some(ran - skipped.unwrap_or(0).min(ran)),
                    failed: Some(0),
                    skipped,
                };
                unittest_ran = None;
            } else if line.starts_with("FAILED (") {
                let bad = number_after(line, "failures=").unwrap_or(0)
                    + number_after(line, "errors=").unwrap_or(0);
                let skipped = number_after(line, "skipped=");
                c = Counts {
                    passed: Some(ran.saturating_sub(bad + skipped.unwrap_or(0))),
                    failed: Some(bad),
                    skipped,
                };
                unittest_ran = None;
            }
            continue;
        }
        // cargo: "test result: ok. 3 passed; 0 failed; ..." (one per test binary: sum).
        if line.starts_with("test result:") {
            if let Some(n) = number_before(line, " passed") {
                add(&mut c.passed, n);
            }
            if let Some(n) = number_before(line, " failed") {
                add(&mut c.failed, n);
            }
            if let Some(n) = number_before(line, " ignored") {
                add(&mut c.skipped, n);
            }
            continue;
        }
        // jest/vitest: "Tests:       1 failed, 3 passed, 4 total" / "Tests  3 passed (3)"
        if line.starts_with("Tests:") || line.starts_with("Tests ") {
            c.passed = number_before(line, " passed").or(c.passed);
            c.failed = number_before(line, " failed").or(Some(c.failed.unwrap_or(0)));
            c.skipped = number_before(line, " skipped").or(c.skipped);
            continue;
        }
        // pytest: "==== 2 failed, 5 passed in 0.12s ====" or "5 passed in 0.1s"
        if (line.starts_with('=') || line.contains(" passed in ") || line.contains(" failed in "))
            && (line.contains(" passed") || line.contains(" failed") || line.contains(" error"))
            && line.contains(" in ")
        {
            let failed = number_before(line, " failed").unwrap_or(0)
                + number_before(line, " error").unwrap_or(0);
            c.passed = Some(number_before(line, " passed").unwrap_or(0));
            c.failed = Some(failed);
            c.skipped = number_before(line, " skipped");
            continue;
        }
        // mocha: "  5 passing (10ms)" / "  1 failing"
        if line.ends_with(" passing") || line.contains(" passing (") {
            c.passed = number_before(line, " passing");
            c.failed.get_or_insert(0);
            continue;
        }
        if line.ends_with(" failing") {
            c.failed = number_before(line, " failing");
            continue;
        }
        if line.ends_with(" pending") {
            c.skipped = number_before(line, " pending");
            continue;
        }
        // go: "--- PASS: TestX" / "--- FAIL: TestY"
        if line.starts_with("--- PASS:") {
            add(&mut c.passed, 1);
        } else if line.starts_with("--- FAIL:") {
            add(&mut c.failed, 1);
        } else if line.starts_with("--- SKIP:") {
            add(&mut c.skipped, 1);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(p: u64, f: u64) -> Counts {
        Counts {
            passed: Some(p),
            failed: Some(f),
            skipped: None,
        }
    }

    fn skipping(c: Counts, s: u64) -> Counts {
        Counts {
            skipped: Some(s),
            ..c
        }
    }

    #[test]
    fn python_unittest() {
        assert_eq!(
            parse("...\n----\nRan 3 tests in 0.001s\n\nOK\n"),
            counts(3, 0)
        );
        assert_eq!(
            parse("Ran 4 tests in 0.01s\n\nFAILED (failures=1, errors=1)\n"),
            counts(2, 2)
        );
        assert_eq!(
            parse("Ran 4 tests in 0.01s\n\nOK (skipped=1)\n"),
            skipping(counts(3, 0), 1)
        );
        assert_eq!(
            parse("Ran 1 test in 0.01s\nFAILED (failures=1)"),
            counts(0, 1)
        );
    }

    #[test]
    fn pytest() {
        assert_eq!(
            parse("===== 2 failed, 5 passed in 0.12s =====\n"),
            counts(5, 2)
        );
        assert_eq!(parse("5 passed in 0.10s\n"), counts(5, 0));
        assert_eq!(
            parse("==== 1 failed, 1 passed, 1 error in 0.3s ====\n"),
            counts(1, 2)
        );
    }

    #[test]
    fn cargo_sums_binaries() {
        let out = "test result: ok. 3 passed; 0 failed; 0 ignored\n\
                   test result: FAILED. 1 passed; 2 failed; 0 ignored\n";
        assert_eq!(parse(out), skipping(counts(4, 2), 0));
    }

    #[test]
    fn jest_go_mocha() {
        assert_eq!(
            parse("Tests:       1 failed, 3 passed, 4 total\n"),
            counts(3, 1)
        );
        assert_eq!(
            parse("--- PASS: TestA (0.00s)\n--- FAIL: TestB (0.00s)\n--- PASS: TestC\n"),
            counts(2, 1)
        );
        assert_eq!(parse("  5 passing (10ms)\n  1 failing\n"), counts(5, 1));
    }

    #[test]
    fn unknown_output_has_no_counts() {
        assert_eq!(parse("all good\n"), Counts::default());
    }
}
