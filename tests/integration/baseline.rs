//! The test baseline: the tests run once on the base commit before the agent, failures
//! that were already there told apart from new ones, and the run reused by the next task
//! on the same base.

use crate::common::{Env, docker_available, ensure_image, text};

/// One test that fails on the base, one that passes.
const BASE_TEST: &str = "import unittest\n\nclass T(unittest.TestCase):\n    def test_old(self):\n        self.assertEqual(1, 2)\n\n    def test_fine(self):\n        pass\n";

/// Fixes nothing and adds a failing test.
const BREAK: &str = r#"
[[step]]
write = { path = "test_more.py", content = "import unittest\n\nclass M(unittest.TestCase):\n    def test_new(self):\n        self.fail('new')\n" }
[[step]]
finish = "Added a test"
"#;

/// Every run of the tests leaves a line in `runs.log` (ignored, so out of the diff).
const CONFIG: &str = "test = \"echo run >> runs.log && python3 -m unittest discover -v\"\n";

#[test]
fn baseline_tells_new_failures_and_runs_once_per_base() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::with_files(&[("test_base.py", BASE_TEST), (".gitignore", "runs.log\n")]);
    env.write_config(CONFIG);
    let first = env.add("Add a test", BREAK);
    let second = env.add("Add another test", BREAK);
    let out = env.drover(&["run"]);
    // 1: the tasks reached review, with failing tests.
    assert_eq!(out.status.code(), Some(1), "run: {}", text(&out.stderr));

    for id in [&first, &second] {
        let task = env.show(id);
        let tests = &task["tests"];
        assert_eq!(tests["verdict"], "failed", "the verdict stays: {tests}");
        assert_eq!(tests["failed"], 2, "{tests}");
        assert_eq!(tests["passed"], 1, "{tests}");
        assert_eq!(
            tests["failures"],
            serde_json::json!(["test_base.T.test_old", "test_more.M.test_new"]),
            "{tests}"
        );
        assert_eq!(
            tests["new_failures"],
            serde_json::json!(["test_more.M.test_new"]),
            "{tests}"
        );
        assert_eq!(tests["base"]["verdict"], "failed", "{tests}");
        assert_eq!(tests["base"]["failed"], 1, "{tests}");
        assert_eq!(tests["base"]["passed"], 1, "{tests}");
    }
    // One task ran the tests on the base, then after its agent; the other (they may
    // start together: it waits for the first's run) only after its agent.
    let ran = |id: &str| {
        let t = env.transcript(id, 1);
        let ran = t.contains("baseline: running `echo run");
        let reused = t.contains("(stored ") && t.contains("not run again");
        (ran, reused, env.workspace_file(id, "runs.log"))
    };
    let mut both = [ran(&first), ran(&second)];
    both.sort();
    assert_eq!(
        both,
        [
            (false, true, "run\n".to_string()),
            (true, false, "run\nrun\n".to_string())
        ],
        "{}\n{}",
        env.transcript(&first, 1),
        env.transcript(&second, 1)
    );
    let stored: Vec<_> = std::fs::read_dir(env.data().join("baselines"))
        .expect("baselines")
        .collect();
    assert_eq!(stored.len(), 1, "one baseline for the one key");

    let shown = text(&env.drover(&["show", &second]).stdout);
    assert!(
        shown.contains("failed (2 failed (1 new), 1 passed)"),
        "{shown}"
    );
    assert!(
        shown.contains("base      failed (1 failed, 1 passed)"),
        "{shown}"
    );
    assert!(shown.contains("new       test_more.M.test_new"), "{shown}");
}
