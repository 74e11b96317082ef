//! The review cockpit in a real terminal (tmux): the header following the branch and
//! naming Docker, a transcript kept across a daemon crash, the shell of a task in review,
//! and the review loop (diff comment → feedback, attempts, the activity log).

use std::process::Command;
use std::time::Duration;

use crate::common::{Env, docker_available, ensure_image, running_in, text, wait_for};
use crate::tmux::{Tmux, remove_containers_of, tmux_available, tui_in};

/// A task run to review with `script`, then the TUI opened on it (engine in-process).
fn in_review(title: &str, script: &str) -> (Env, String, Tmux) {
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"python3 -m unittest\"\n");
    let id = env.add(title, script);
    let out = env.drover(&["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(env.show(&id)["state"], "review");
    let t = Tmux::in_env(&env, &tui_in(&env), false);
    t.wait_for(title, 20);
    (env, id, t)
}

/// Bug 6: a TUI that outlives a daemon crash (`kill -9`) starts a new daemon, which
/// reattaches the running task; the TUI then shows the task's whole transcript, its
/// start included, as a fresh TUI and `drover logs` do.
#[test]
fn bug06_a_tui_that_outlives_a_daemon_crash_keeps_the_whole_transcript() {
    if !docker_available() || !tmux_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    let script = env.home.path().join("long.toml");
    std::fs::write(
        &script,
        "[[step]]\nrun = \"echo first-step-$((6*7))\"\n[[step]]\nrun = \"sleep 6\"\n[[step]]\nrun = \"sleep 4\"\n[[step]]\nrun = \"echo last-step-$((6*7))\"\n",
    )
    .unwrap();
    let out = env
        .daemon_command(&[
            "add",
            "--script",
            script.to_str().unwrap(),
            "--title",
            "Long",
            "x",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let t = Tmux::in_env(&env, &tui_in(&env), true);
    t.wait_for("first-step-42", 90);
    wait_for(30, "the long command", || {
        running_in(&id, "sleep 6").then_some(())
    });
    let pid = env.daemon_pid().expect("a daemon");
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    t.wait_for("attached to the daemon again", 60);
    let s = t.wait_for("last-step-42", 90);
    assert!(s.contains("first-step-42"), "the start is gone:\n{s}");
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(
        logs.contains("first-step-42") && logs.contains("last-step-42"),
        "{logs}"
    );
    t.keys(&["q"]);
    wait_for(20, "the TUI to quit", || (!t.alive()).then_some(()));
    let _ = env.drover(&["daemon", "stop"]);
}

/// Bug 3: the header's commit follows the user's branch as it moves, and a checkout of
/// another branch.
#[test]
fn bug03_the_header_follows_the_users_branch() {
    if !tmux_available() {
        return;
    }
    let env = Env::python_bug();
    let first = crate::common::git_out(&env.repo, &["rev-parse", "--short=7", "HEAD"])
        .trim()
        .to_string();
    // Plain `drover`, which starts its daemon: bug 2, the header says what Docker is.
    let t = Tmux::in_env(&env, &tui_in(&env), true);
    t.wait_for(&format!("main@{first}"), 20);
    let docker_said =
        |s: &str| s.contains("docker unavailable") || s.contains(&format!("@{first} docker 2"));
    wait_for(20, "the header to name Docker", || {
        docker_said(&t.screen()).then_some(())
    });
    std::fs::write(env.repo.join("more.txt"), "more\n").unwrap();
    crate::common::commit_all(&env.repo, "more");
    let second = crate::common::git_out(&env.repo, &["rev-parse", "--short=7", "HEAD"])
        .trim()
        .to_string();
    assert_ne!(first, second);
    t.wait_for(&format!("main@{second}"), 10);
    crate::common::git(&env.repo, &["checkout", "-q", "-b", "topic"]);
    t.wait_for(&format!("topic@{second}"), 10);
    t.keys(&["q"]);
    wait_for(20, "the TUI to quit", || (!t.alive()).then_some(()));
    // Again, with the daemon already running.
    let t = Tmux::in_env(&env, &tui_in(&env), true);
    wait_for(20, "the header to name Docker", || {
        let s = t.screen();
        (s.contains("docker unavailable") || s.contains(&format!("@{second} docker 2")))
            .then_some(())
    });
    t.keys(&["q"]);
    wait_for(20, "the TUI to quit", || (!t.alive()).then_some(()));
    let _ = env.drover(&["daemon", "stop"]);
}

/// Bug 5: `s` on a task in review opens a shell that can enter the workspace (on a
/// root host it is handed back to root), and leaving it after a failed command returns
/// to the TUI, not into a second shell.
#[test]
fn bug05_the_shell_of_a_task_in_review_enters_its_workspace() {
    if !docker_available() || !tmux_available() {
        return;
    }
    let (env, _, t) = in_review(
        "Fix add",
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n[[step]]\nfinish = \"done\"\n",
    );
    t.keys(&["s"]);
    std::thread::sleep(Duration::from_secs(2));
    t.keys(&["grep -c 'a + b' calc.py && echo shell-in-$((6*7))", "Enter"]);
    t.wait_for("shell-in-42", 20);
    t.keys(&["false", "Enter"]);
    t.keys(&["exit", "Enter"]);
    // Back in the TUI (its footer), not in another shell.
    t.wait_for("Tasks (1)", 20);
    t.keys(&["q"]);
    wait_for(20, "the TUI to quit", || (!t.alive()).then_some(()));
    remove_containers_of(&env.repo);
}

/// The review loop in the real terminal: a comment on a diff line becomes the feedback
/// of a retry (file:line and the line quoted), the second attempt runs, `[` shows the
/// first attempt again, and the activity log holds what happened.
#[test]
fn review_comment_feedback_attempts_and_activity_in_tmux() {
    if !docker_available() || !tmux_available() {
        return;
    }
    let (env, id, t) = in_review(
        "Fix add",
        "[[step]]\nrun = \"echo run >> runs.txt; sed -i 's/a - b/a + b/' calc.py\"\n[[step]]\nfinish = \"fixed\"\n",
    );
    // The diff: the cursor to the added line of calc.py, a comment on it.
    t.keys(&["2", "Enter", "}", "j", "j", "j"]);
    t.keys(&["c"]);
    t.wait_for("Comment on calc.py:2", 10);
    t.keys(&["-l", "also handle floats"]);
    t.keys(&["C-s"]);
    t.wait_for("comment 1 on calc.py:2 kept", 10);
    // r: the feedback editor opens with it; send. (Esc alone: followed at once by a
    // key, a terminal reads it as alt-key.)
    t.keys(&["Escape"]);
    t.keys(&["r"]);
    let s = t.wait_for("Retry with feedback", 10);
    assert!(
        s.contains("calc.py:2") && s.contains("also handle floats"),
        "{s}"
    );
    t.keys(&["C-s"]);
    t.wait_for("attempt 2 of 2", 60);
    wait_for(90, "the second attempt in review", || {
        (env.show(&id)["state"] == "review" && env.show(&id)["attempt"] == 2).then_some(())
    });
    let feedback = env.show(&id)["feedback"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(feedback.starts_with("calc.py:2 (in @@"), "{feedback}");
    assert!(
        feedback.contains("> +    return a + b\nalso handle floats"),
        "{feedback}"
    );
    // The first attempt, as it was.
    t.keys(&["1", "["]);
    t.wait_for("attempt 1 of 2, an earlier one", 10);
    t.keys(&["]"]);
    t.wait_for("attempt 2 of 2", 10);
    // The two attempts compared: the second appended another line to runs.txt.
    t.keys(&["="]);
    let s = t.wait_for("attempt 1 → 2: what the later one did differently", 20);
    assert!(s.contains("+run"), "{s}");
    t.keys(&["="]);
    // The activity log.
    t.keys(&["L"]);
    let s = t.wait_for("Activity (", 10);
    assert!(s.contains("queued again (attempt 2, with feedback)"), "{s}");
    t.keys(&["q"]);
    t.keys(&["q"]);
    wait_for(20, "the TUI to quit", || (!t.alive()).then_some(()));
    remove_containers_of(&env.repo);
}
