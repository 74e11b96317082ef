//! The main path: queue → container → agent → tests → review, and the queue's limits.

use std::process::Command;
use std::time::Duration;

use crate::common::{Env, docker_available, ensure_image, text, tree_hash};

const FIX: &str = r#"
[[step]]
say = "Looking at the failing test"
[[step]]
run = "python3 -m unittest -q"
[[step]]
edit = { path = "calc.py", old = "a - b", new = "a + b" }
[[step]]
write = { path = "notes/NEW.md", content = "hello\n" }
[[step]]
finish = "Fixed add()"
"#;

#[test]
fn failing_test_fixed_by_script_reaches_review() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let before = tree_hash(&env.repo);
    let id = env.add("Fix add", FIX);

    let out = env.drover(&["run"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "run: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let task = env.show(&id);
    assert_eq!(task["state"], "review");
    assert_eq!(task["tests"]["verdict"], "passed");
    assert_eq!(task["tests"]["passed"], 1);
    assert_eq!(task["tests"]["failed"], 0);
    assert_eq!(task["tests"]["exit_code"], 0);
    assert_eq!(task["branch_exists"], true);
    assert!(
        task["branch"]
            .as_str()
            .unwrap()
            .starts_with(&format!("drover/{id}-fix-add"))
    );
    assert_eq!(task["summary"], "Fixed add()");
    assert_eq!(task["diff"]["files"], 2);
    assert_eq!(task["diff"]["insertions"], 2);
    assert_eq!(task["diff"]["deletions"], 1);

    // The run step before the fix saw the tests fail; the verifier after it saw them pass.
    let logs = env.drover(&["logs", &id, "--json"]);
    let entries: Vec<serde_json::Value> = text(&logs.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first_result = entries
        .iter()
        .find(|e| e["kind"] == "tool_result")
        .expect("a tool result");
    assert_eq!(first_result["exit_code"], 1, "{first_result}");
    assert!(
        first_result["output"]
            .as_str()
            .unwrap()
            .contains("FAILED (failures=1)")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "assistant" && e["text"] == "Looking at the failing test")
    );

    // `drover diff` shows exactly the change.
    let diff = text(&env.drover(&["diff", &id]).stdout);
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(
        changed,
        ["-    return a - b", "+    return a + b", "+hello"],
        "{diff}"
    );
    assert!(diff.contains("b/notes/NEW.md"));

    // The user's checkout, .git included, is byte-identical.
    assert_eq!(
        tree_hash(&env.repo),
        before,
        "the user's repository changed"
    );
    // Resting tasks leave no running container behind.
    assert!(
        env.containers(&[]).is_empty(),
        "container still running after review"
    );
}

#[test]
fn bud_05_max_parallel_bounds_running_containers() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("max_parallel = 2\ntest = \"true\"\n");
    let script = "[[step]]\nrun = \"sleep 2\"\n[[step]]\nfinish = \"slept\"\n";
    let ids: Vec<String> = (0..4)
        .map(|i| env.add(&format!("Sleep {i}"), script))
        .collect();

    // Docker's event log is exact: every start and death of the repository's containers
    // in order, replayed below, where sampling `docker ps` could miss a short overlap.
    let since = Command::new("docker")
        .args(["system", "info", "--format", "{{.SystemTime}}"])
        .output()
        .unwrap();
    let since = text(&since.stdout).trim().to_string();
    let run = env.command(&["run"]).output().unwrap();
    assert!(run.status.success(), "run failed: {}", text(&run.stderr));
    let until = Command::new("docker")
        .args(["system", "info", "--format", "{{.SystemTime}}"])
        .output()
        .unwrap();
    let events = Command::new("docker")
        .args([
            "events",
            "--since",
            &since,
            "--until",
            text(&until.stdout).trim(),
            "--filter",
            "type=container",
            "--filter",
            &format!("label={}", env.repo_label()),
            "--filter",
            "event=start",
            "--filter",
            "event=die",
            "--format",
            "{{.Action}}",
        ])
        .output()
        .unwrap();
    let (mut running, mut max_seen, mut starts) = (0i32, 0, 0);
    for action in text(&events.stdout).lines() {
        match action {
            "start" => {
                running += 1;
                starts += 1;
            }
            "die" => running -= 1,
            other => panic!("unexpected event {other}"),
        }
        max_seen = max_seen.max(running);
    }
    assert!(
        starts >= 4,
        "positive control: every task started a container"
    );
    assert!(
        max_seen <= 2,
        "{max_seen} containers ran at once with max_parallel = 2"
    );
    assert_eq!(max_seen, 2, "tasks should run two at a time");
    for id in &ids {
        assert_eq!(env.show(id)["state"], "review");
    }
}

#[test]
fn failed_edit_fails_the_attempt_with_the_reason() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = env.add(
        "Bad edit",
        "[[step]]\nedit = { path = \"calc.py\", old = \"no such text\", new = \"x\" }\n",
    );
    let out = env.drover(&["run"]);
    assert_eq!(out.status.code(), Some(1));
    let task = env.show(&id);
    assert_eq!(task["state"], "failed");
    assert_eq!(
        task["reason"],
        "edit_file failed: edit_file: the `old` text was not found in calc.py"
    );

    let id = env.add(
        "Escape",
        "[[step]]\nwrite = { path = \"../../etc/x\", content = \"x\" }\n",
    );
    env.drover(&["run"]);
    let task = env.show(&id);
    assert_eq!(task["state"], "failed");
    assert!(
        task["reason"]
            .as_str()
            .unwrap()
            .contains("outside /workspace"),
        "{task}"
    );
}

#[test]
fn retry_with_feedback_continues_in_the_same_workspace() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let script = r#"
[[step]]
write = { path = "progress.txt", content = "first attempt\n" }
[[retry_step]]
run = "cat progress.txt"
[[retry_step]]
edit = { path = "calc.py", old = "a - b", new = "a + b" }
"#;
    let id = env.add("Two tries", script);
    assert_eq!(
        env.drover(&["run"]).status.code(),
        Some(1),
        "first attempt fails its tests"
    );
    assert_eq!(env.show(&id)["tests"]["verdict"], "failed");

    let out = env.drover(&["retry", &id, "--feedback", "the tests still fail"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("attempt 2, with feedback"));
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    let task = env.show(&id);
    assert_eq!(
        (task["attempt"].as_u64(), task["tests"]["verdict"].as_str()),
        (Some(2), Some("passed"))
    );
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(
        logs.contains("feedback from review: the tests still fail"),
        "{logs}"
    );
    assert!(
        logs.contains("│ first attempt"),
        "the workspace carried over: {logs}"
    );
    // Attempt 1's transcript is kept.
    let first = text(&env.drover(&["logs", &id, "--attempt", "1"]).stdout);
    assert!(first.contains("write progress.txt"), "{first}");
}

#[test]
fn repo_dockerfile_and_setup_commands() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::with_files(&[(
        ".drover/Dockerfile",
        "ARG DROVER_BASE\nFROM ${DROVER_BASE}\nRUN echo from-repo-image > /etc/drover-custom\n",
    )]);
    env.write_config("test = \"true\"\nsetup = [\"echo setup-ran > setup-marker\"]\n");
    let out = env.drover(&["image", "build"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let image = text(&out.stdout);
    assert!(image.starts_with("drover-repo-"), "{image}");

    let id = env.add(
        "Custom image",
        "[[step]]\nrun = \"cat /etc/drover-custom setup-marker\"\n",
    );
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("• $ echo setup-ran"), "{logs}");
    assert!(
        logs.contains("│ from-repo-image\n") && logs.contains("│ setup-ran\n"),
        "{logs}"
    );
    // Setup ran on the repository's image; the task runs the snapshot of its result.
    let environment = env.show(&id)["environment"].to_string();
    assert!(
        environment.contains(&format!(
            "setup ran on {}",
            image.split_whitespace().next().unwrap()
        )),
        "{environment}"
    );

    env.write_config("test = \"true\"\nsetup = [\"exit 3\"]\n");
    let id = env.add("Bad setup", "[[step]]\nsay = \"never\"\n");
    assert_eq!(env.drover(&["run"]).status.code(), Some(1));
    let task = env.show(&id);
    assert_eq!(task["state"], "failed");
    assert_eq!(task["reason"], "setup command failed (exit 3): exit 3");
    // The image tag follows the recipe: built once, reused.
    let again = text(&env.drover(&["image", "build"]).stdout);
    assert!(again.contains("is up to date"), "{again}");
    let _ = Command::new("docker")
        .args(["rmi", "-f", image.split_whitespace().next().unwrap()])
        .output();
}

#[test]
fn git_02_approve_commits_on_the_branch_and_brings_it_into_the_user_repo() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let marker = format!("/tmp/PWNED-{}", std::process::id());
    // The agent fixes the bug, and also plants hooks and config that would run on the
    // host if anything executed git there.
    let script = format!(
        r#"
[[step]]
edit = {{ path = "calc.py", old = "a - b", new = "a + b" }}
[[step]]
run = "printf '#!/bin/sh\ntouch {marker}\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && git config core.hooksPath .git/hooks && git config core.fsmonitor 'touch {marker}' && git config core.pager 'touch {marker}'"
[[step]]
finish = "Fixed add()."
"#
    );
    let id = env.add("Fix add", &script);
    let head_before = text(
        &Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(&env.repo)
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();

    let out = env.drover(&["approve", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("approved: {branch} is at ")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(env.show(&id)["state"], "approved");
    assert!(
        !std::path::Path::new(&marker).exists(),
        "an agent-planted hook or config ran on the host"
    );

    let git = |args: &[&str]| {
        text(
            &Command::new("git")
                .args(args)
                .current_dir(&env.repo)
                .output()
                .unwrap()
                .stdout,
        )
    };
    assert!(
        git(&["show", &format!("{branch}:calc.py")]).contains("return a + b"),
        "the branch has the fix"
    );
    let msg = git(&["log", "-1", "--format=%B", &branch]);
    assert!(
        msg.starts_with("Fix add\n\nFixed add().\n\nDrover-Task: "),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("Drover-Task: {id}")) && msg.contains("Generated-By: drover"),
        "{msg}"
    );
    assert_eq!(
        git(&["rev-parse", &format!("{branch}~1")]),
        head_before,
        "branched from the base commit"
    );
    // The user's checkout is as it was: same HEAD, same files, nothing staged.
    assert_eq!(git(&["rev-parse", "HEAD"]), head_before);
    assert!(
        std::fs::read_to_string(env.repo.join("calc.py"))
            .unwrap()
            .contains("a - b")
    );
    assert_eq!(git(&["status", "--porcelain"]), "");
    // Approving twice is refused by the state machine.
    let again = env.drover(&["approve", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("cannot approve an approved task"));
}

#[test]
fn approving_failing_tests_needs_force_and_is_recorded() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = env.add(
        "Half a fix",
        "[[step]]\nwrite = { path = \"NOTES.md\", content = \"todo\\n\" }\n",
    );
    assert_eq!(env.drover(&["run"]).status.code(), Some(1));
    let out = env.drover(&["approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("the tests failed: to approve anyway, confirm in the TUI or run `drover approve --force {id}`")), "{}", text(&out.stderr));
    assert_eq!(env.show(&id)["state"], "review");
    let out = env.drover(&["approve", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();
    let msg = text(
        &Command::new("git")
            .args(["log", "-1", "--format=%B", &branch])
            .current_dir(&env.repo)
            .output()
            .unwrap()
            .stdout,
    );
    assert!(
        msg.contains("Drover-Tests: failed (approved anyway)"),
        "{msg}"
    );
}

/// While an approval of a task runs, nothing moves the task under it: a retry sent right
/// behind the approve is refused as busy (not as an illegal move: the approval has not
/// changed the state yet), and the approval completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_being_approved_is_not_moved_under_it() {
    use drover::protocol::{
        AgentSpec, Command, CommandError, EventBody, NewTask, Reply, TaskState,
    };
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    let (mut engine, mut rx) = env
        .start_engine(
            Some(drover::runtime::Runtime::connect().await.unwrap()).into(),
            1,
        )
        .await;
    let id = engine
        .queue(NewTask {
            repo: env.repo.clone(),
            title: "Held".into(),
            prompt: "held".into(),
            agent: AgentSpec::Scripted {
                script: "[[step]]\nrun = \"echo held >> calc.py\"\n".into(),
                source: "t.toml".into(),
            },
            origin: None,
            others: Vec::new(),
        })
        .await;
    tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let ev = rx.recv().await.expect("events");
            if ev.task.as_ref() == Some(&id)
                && matches!(
                    ev.body,
                    EventBody::StateChanged {
                        to: TaskState::Review,
                        ..
                    }
                )
            {
                return;
            }
        }
    })
    .await
    .expect("the task reaches review");
    let answers = engine
        .requests(vec![
            Command::Approve {
                id: id.clone(),
                force: false,
                branch: None,
                keep_others: false,
            },
            Command::Retry {
                id: id.clone(),
                feedback: Some("again".into()),
            },
        ])
        .await;
    assert!(
        matches!(&answers[0], Ok(Reply::Approved { .. })),
        "positive control: the approval went through: {:?}",
        answers[0]
    );
    assert_eq!(answers[1], Err(CommandError::Busy { id: id.clone() }));
    engine.shutdown().await;
    assert_eq!(env.show(id.as_str())["state"], "approved");
}

/// Bug 21: a test command that prints a character at a time streams a line at a time:
/// `drover run --json` emits a handful of test_output events, not one per character,
/// and together they hold the whole output.
#[test]
fn bug21_test_output_streams_by_line_not_by_character() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::with_files(&[
        (
            "drover.toml",
            "test = \"for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do printf .; sleep 0.002; done; echo; echo done\"\n",
        ),
        ("README", "x\n"),
    ]);
    env.add("Nothing", "[[step]]\nfinish = \"nothing to do\"\n");
    let out = env.drover(&["run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let chunks: Vec<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "test_output")
        .filter_map(|v| v["chunk"].as_str().map(String::from))
        .collect();
    assert_eq!(
        chunks.concat(),
        format!("{}\ndone\n", ".".repeat(20)),
        "{chunks:?}"
    );
    assert!(chunks.len() <= 5, "one event per character: {chunks:?}");
}

/// Bug 12: a test run the kernel kills for memory says so, not only `exit 137`; a run
/// within the limit (the positive control: the same container, a small allocation)
/// says nothing of memory.
#[test]
fn bug12_tests_killed_for_memory_say_so() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::with_files(&[
        (
            "drover.toml",
            "test = \"python3 -c 'x = bytearray(8 << 20)' && python3 -c 'x = bytearray(1 << 30); print(len(x))'\"\n[limits]\nmemory = \"128m\"\n",
        ),
        ("README", "x\n"),
    ]);
    let id = env.add(
        "Nothing",
        "[[step]]\nrun = \"python3 -c 'x = bytearray(8 << 20)'\"\n[[step]]\nfinish = \"done\"\n",
    );
    let out = env.drover(&["run"]);
    assert!(out.status.code().is_some(), "{}", text(&out.stderr));
    let task = env.show(&id);
    assert_eq!(task["tests"]["exit_code"], 137, "{task}");
    let note = task["tests"]["note"].as_str().unwrap_or_default();
    assert!(
        note.starts_with("killed: out of memory (the container's limit is 128.0 MiB"),
        "{task}"
    );
}

/// Bug 7: live diffs taken while the agent rewrites files meet them mid-write; that is
/// not reported (no "diff: …" error reaches front ends), and the diff at the end is
/// right. The churn is real: a background loop rewrites a 4 MiB file while the agent
/// edits, so live diffs run into it.
#[test]
fn bug07_live_diffs_racing_the_agent_leave_no_spurious_errors() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::with_files(&[("drover.toml", "test = \"true\"\n"), ("a.txt", "a\n")]);
    let mut script = String::from(
        "[[step]]\nrun = \"(end=$(( $(date +%s) + 4 )); while [ $(date +%s) -lt $end ]; do head -c 4194304 /dev/urandom > big.bin; done) >/dev/null 2>&1 &\"\n",
    );
    for i in 0..12 {
        script.push_str(&format!(
            "[[step]]\nwrite = {{ path = \"f{i}.txt\", content = \"{i}\\n\" }}\n[[step]]\nrun = \"sleep 0.3\"\n"
        ));
    }
    script.push_str("[[step]]\nrun = \"sleep 1; rm -f big.bin\"\n[[step]]\nfinish = \"done\"\n");
    let id = env.add("Churn", &script);
    let out = env.drover(&["run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let diffs = events
        .iter()
        .filter(|e| e["event"] == "diff_updated")
        .count();
    assert!(diffs >= 5, "live diffs ran while the churn did: {diffs}");
    let spurious: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| {
            e["event"] == "error" && e["message"].as_str().is_some_and(|m| m.starts_with("diff"))
        })
        .collect();
    assert!(spurious.is_empty(), "{spurious:?}");
    let task = env.show(&id);
    assert_eq!(task["diff"]["files"], 12, "{task}");
}
