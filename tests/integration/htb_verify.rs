//! Host trust boundary, verification (HTB-05, HTB-06): the verdict is about the tree
//! drover commits. Processes the agent left are gone before the tests run; a tree that
//! changes while they run gives `stale`; a command's timeout ends everything it started,
//! in its process group or not, and the next call works even after a fork bomb.

use crate::common::*;

const FIX: &str = "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n";

#[test]
fn htb_05_what_the_agent_left_running_is_stopped_before_the_tests() {
    let Some(env) = docker_python("test = \"sleep 3; python3 -m unittest\"\n") else {
        return;
    };
    let script = format!(
        "{FIX}[[step]]\nrun = \"echo control-$((6*7)); setsid sh -c 'sleep 1; echo LATE-WRITE >> calc.py' > /dev/null 2>&1 < /dev/null & sleep 0.2; echo waiting-$(ps -eo args | grep -c '[s]leep 1$')\"\n"
    );
    let id = env.add("Leave a writer behind", &script);
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "{logs}");
    assert!(logs.contains("waiting-1"), "the writer was there: {logs}");
    assert!(
        logs.contains("before the tests: stopped"),
        "it was stopped: {logs}"
    );
    let shown = env.show(&id);
    assert_eq!(shown["tests"]["verdict"], "passed", "{shown}");
    assert!(!env.workspace_file(&id, "calc.py").contains("LATE-WRITE"));
    assert!(!text(&env.drover(&["diff", &id]).stdout).contains("LATE-WRITE"));
}

#[test]
fn htb_05_a_tree_that_changes_while_the_tests_run_is_stale() {
    let Some(env) = docker_python(
        "test = \"python3 -m unittest && (sleep 0.5; echo '# after' >> calc.py) & python3 -m unittest; wait\"\n",
    ) else {
        return;
    };
    let script = format!("{FIX}[[step]]\nrun = \"echo control-$((6*7))\"\n");
    let id = env.add("Tests that write", &script);
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "{logs}");
    let shown = env.show(&id);
    assert_eq!(shown["tests"]["verdict"], "stale", "{shown}");
    assert_eq!(shown["tests"]["changed"][0], "calc.py", "{shown}");
    assert!(
        shown["tests"]["note"]
            .as_str()
            .unwrap_or_default()
            .contains("changed while the tests ran: calc.py"),
        "{shown}"
    );
    // A stale verdict is no pass: approving needs --force.
    let out = env.drover(&["approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("stale"), "{}", text(&out.stderr));
    assert!(env.drover(&["approve", "--force", &id]).status.success());
}

#[test]
fn htb_05_a_workspace_changed_after_the_tests_passed_is_not_approved_as_passed() {
    let Some(env) = docker_python("test = \"python3 -m unittest\"\n") else {
        return;
    };
    let id = env.add("Fix add", FIX);
    env.drover(&["run"]);
    assert_eq!(env.show(&id)["tests"]["verdict"], "passed");
    // Positive control: the workspace really changes after the verdict.
    let ws = env.data().join("workspaces").join(&id);
    std::fs::write(ws.join("extra.py"), "print('after')\n").unwrap();
    // What the user saw is what is committed: the new diff is shown first.
    let out = env.drover(&["approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("changed since its diff was taken (extra.py)"),
        "{err}"
    );
    assert!(text(&env.drover(&["diff", "--stat", &id]).stdout).contains("extra.py"));
    // Seen now, but the pass was for other files.
    let out = env.drover(&["approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("the workspace changed after the tests passed (extra.py)"),
        "{err}"
    );
    assert_eq!(env.show(&id)["state"], "review", "nothing approved");
}

#[test]
fn htb_05_a_process_with_a_crafted_name_is_stopped_too() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    // The tests pass only if nothing the agent started still runs.
    env.write_config("test = \"test $(ps -eo args= | grep -c ' 1005$') = 0\"\n");
    // A program named "x) Z<newline>q": its /proc stat line reads like a zombie's.
    let script = r#"[[step]]
run = "echo control-$((6*7)); p=$(printf '/tmp/x) Z\\nq'); cp /bin/sleep \"$p\"; setsid \"$p\" 1005 > /dev/null 2>&1 < /dev/null & sleep 0.3; echo before-$(ps -eo args= | grep -c ' 1005$')"
"#;
    let id = env.add("Hide a process", script);
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("before-1"), "it ran: {logs}");
    assert_eq!(env.show(&id)["tests"]["verdict"], "passed", "{logs}");
}

#[test]
fn htb_06_a_timeout_ends_everything_the_command_started() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let script = r#"[[step]]
run = "echo control-$((6*7)); setsid sleep 1001 > /dev/null 2>&1 < /dev/null & (sleep 1002 > /dev/null 2>&1 &); sleep 0.3; echo before-$(ps -eo args= | grep -c '^sleep 100')"
[[step]]
run = "setsid sh -c 'sleep 1003' > /dev/null 2>&1 < /dev/null & sleep 1004"
timeout = 3
[[step]]
run = "echo after-$(ps -eo args= | grep -c '^sleep 100')"
"#;
    let id = env.add("Outlive the timeout", script);
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("before-2"), "they ran: {logs}");
    assert!(logs.contains("timed out"), "{logs}");
    assert!(
        logs.contains("after-0"),
        "none outlived the timeout: {logs}"
    );
}

#[test]
fn htb_06_after_a_fork_bomb_the_next_call_works() {
    let Some(env) = docker_python("test = \"true\"\n[limits]\npids = 64\n") else {
        return;
    };
    let script = r#"[[step]]
run = "echo control-$((6*7)); bomb() { bomb | bomb & }; bomb; sleep 100"
timeout = 3
[[step]]
run = "echo next-call-$((6*7)); ps -e | wc -l"
"#;
    let id = env.add("Fork bomb", script);
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "{logs}");
    assert!(logs.contains("next-call-42"), "the next call ran: {logs}");
    assert_eq!(env.show(&id)["state"], "review", "{logs}");
}
