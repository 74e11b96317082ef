//! Which tests failed, by name, from what the runners print: the names a run shares
//! with the base commit's run are the failures that were already there.
//!
//! Runners covered: Python unittest (`FAIL:`/`ERROR:` blocks), pytest (its short test
//! summary), cargo test (`test … FAILED`), go test (`--- FAIL:`, named with their
//! package), jest (`●` headers, named with their file) and vitest (`FAIL … > …`). Mocha
//! and anything else give no names: a comparison then says nothing rather than guess.
//! Names are inert text of bounded length; the list is capped.

/// Names kept from one run (the count says how many failed in all).
pub const KEPT: usize = 200;
/// Characters of one name kept (a parametrised test's id can be long).
const NAME_CHARS: usize = 200;

/// The failing tests' names, in the order printed, each once.
pub fn names(output: &str) -> Vec<String> {
    let mut out = Names::default();
    let mut pytest_summary = false;
    // go: a package's failures print before its `FAIL\t<package>` line.
    let mut go_pending: Vec<String> = Vec::new();
    // jest: the file of the failures that follow.
    let mut jest_file: Option<&str> = None;
    for raw in output.lines() {
        let line = raw.trim();
        if line.starts_with('=') && line.contains("short test summary info") {
            pytest_summary = true;
            continue;
        }
        if pytest_summary {
            if let Some(rest) = line
                .strip_prefix("FAILED ")
                .or_else(|| line.strip_prefix("ERROR "))
            {
                // "FAILED tests/test_a.py::test_x - AssertionError: …"
                out.push(rest.split(" - ").next().unwrap_or(rest));
                continue;
            }
            if line.starts_with('=') || line.starts_with('!') {
                pytest_summary = false;
            }
            continue;
        }
        if let Some(name) = unittest(line) {
            out.push(&name);
        } else if let Some(name) = cargo(line) {
            out.push(name);
        } else if let Some(rest) = line.strip_prefix("--- FAIL: ") {
            let name = rest.rsplit_once(" (").map_or(rest, |(n, _)| n);
            go_pending.push(name.to_string());
        } else if let Some(rest) = line.strip_prefix("FAIL\t") {
            let package = rest.split('\t').next().unwrap_or(rest);
            for name in go_pending.drain(..) {
                out.push(&format!("{package}.{name}"));
            }
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            let rest = rest.trim();
            if rest.contains(" > ") {
                // vitest: " FAIL  src/a.test.ts > suite > test"
                out.push(rest);
            } else {
                jest_file = Some(rest);
            }
        } else if line.starts_with("PASS ") {
            jest_file = None;
        } else if let Some(rest) = line.strip_prefix("● ")
            && rest != "Console"
        {
            match jest_file {
                Some(file) => out.push(&format!("{file} › {rest}")),
                None => out.push(rest),
            }
        }
    }
    // A single package's `go test` whose package line was cut off.
    for name in go_pending {
        out.push(&name);
    }
    out.0
}

/// "FAIL: test_x (test_mod.TestCalc.test_x)" → "test_mod.TestCalc.test_x". Python before
/// 3.11 prints the class alone in the parentheses ("(test_mod.TestCalc)"); a subtest's
/// parameters follow ("(i=1)") and are kept.
fn unittest(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix("FAIL: ")
        .or_else(|| line.strip_prefix("ERROR: "))?;
    let (name, path) = rest.split_once(" (")?;
    let (path, params) = path.split_once(')')?;
    if name.contains(char::is_whitespace) || path.contains(char::is_whitespace) {
        return None;
    }
    let full = match path.strip_suffix(name) {
        Some(p) if p.ends_with('.') => path.to_string(),
        _ => format!("{path}.{name}"),
    };
    Some(match params.trim() {
        "" => full,
        p => format!("{full} {p}"),
    })
}

/// "test tests::adds ... FAILED" → "tests::adds"; a doc test loses its line number
/// ("src/lib.rs - add (line 3)"), which moves with any edit above it.
fn cargo(line: &str) -> Option<&str> {
    let name = line.strip_prefix("test ")?.strip_suffix(" ... FAILED")?;
    let name = name.strip_suffix(" - should panic").unwrap_or(name);
    Some(match name.rsplit_once(" (line ") {
        Some((n, _)) if name.ends_with(')') => n,
        _ => name,
    })
}

/// Names in order, each once, capped.
#[derive(Default)]
struct Names(Vec<String>);

impl Names {
    fn push(&mut self, name: &str) {
        if self.0.len() >= KEPT {
            return;
        }
        let name = crate::text::ellipsize(&crate::text::inert(name.trim()), NAME_CHARS);
        if !name.is_empty() && !self.0.contains(&name) {
            self.0.push(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::counts::{Counts, parse};
    use super::*;

    /// Real output of each runner (paths shortened), its counts and its failures.
    fn check(sample: &str, counts: (u64, u64, Option<u64>), failures: &[&str]) {
        let (passed, failed, skipped) = counts;
        assert_eq!(
            parse(sample),
            Counts {
                passed: Some(passed),
                failed: Some(failed),
                skipped
            }
        );
        assert_eq!(names(sample), failures);
    }

    #[test]
    fn python_unittest() {
        check(
            include_str!("samples/unittest_verbose.txt"),
            (2, 3, Some(1)),
            &[
                "unittest.loader._FailedTest.test_broken",
                "test_calc.TestCalc.test_boom",
                "test_calc.TestCalc.test_sub",
            ],
        );
        check(
            include_str!("samples/unittest_quiet.txt"),
            (2, 2, Some(1)),
            &[
                "test_calc.TestCalc.test_boom",
                "test_calc.TestCalc.test_sub",
            ],
        );
        // Before Python 3.11 the parentheses name the class; a subtest adds its params.
        assert_eq!(
            names("FAIL: test_sub (test_calc.TestCalc)\nFAIL: test_p (t.T.test_p) (i=2)\n"),
            ["test_calc.TestCalc.test_sub", "t.T.test_p (i=2)"]
        );
    }

    #[test]
    fn pytest() {
        check(
            include_str!("samples/pytest.txt"),
            (4, 4, Some(1)),
            &[
                "tests/test_shop.py::test_discount",
                "tests/test_shop.py::test_square[3-10]",
                "tests/test_shop.py::TestCart::test_add",
                "tests/test_shop.py::test_with_db",
            ],
        );
        check(
            include_str!("samples/pytest_collection_error.txt"),
            (0, 1, None),
            &["tests/test_broken.py"],
        );
    }

    #[test]
    fn cargo_test() {
        check(
            include_str!("samples/cargo.txt"),
            (3, 3, Some(1)),
            &["tests::subtracts", "api_breaks", "src/lib.rs - doc"],
        );
    }

    #[test]
    fn go_test() {
        assert_eq!(
            names(include_str!("samples/go.txt")),
            [
                "example.com/shop/money.TestParse",
                "example.com/shop/money.TestRound",
                "example.com/shop/money.TestRound/negative",
                "example.com/shop/csv.TestParse",
            ]
        );
        check(
            include_str!("samples/go_verbose.txt"),
            (2, 2, Some(1)),
            &[
                "example.com/shop/money.TestRound",
                "example.com/shop/money.TestRound/negative",
            ],
        );
    }

    #[test]
    fn jest_and_vitest() {
        check(
            include_str!("samples/jest.txt"),
            (5, 2, Some(1)),
            &[
                "src/money.test.js › money › rounds half away from zero",
                "src/money.test.js › formats cents",
            ],
        );
        check(
            include_str!("samples/vitest.txt"),
            (4, 2, Some(1)),
            &[
                "src/money.test.ts > money > rounds half away from zero",
                "src/money.test.ts > formats cents",
            ],
        );
    }

    #[test]
    fn names_are_capped_and_inert() {
        let many: String = (0..KEPT + 50)
            .map(|i| format!("test t{i} ... FAILED\n"))
            .collect();
        assert_eq!(names(&many).len(), KEPT);
        let long = format!("test {}\x1b[31m ... FAILED\n", "x".repeat(500));
        let got = names(&long);
        assert!(got[0].chars().count() <= NAME_CHARS, "{got:?}");
        assert!(!got[0].contains('\x1b'), "{got:?}");
        assert!(names("all good\n").is_empty());
    }
}
