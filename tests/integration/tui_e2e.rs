//! The real binary in a real terminal (tmux): `drover demo`, review, panes, approve,
//! a task added from another process, quit. Plus: no terminal, no TUI.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, docker_available, ensure_image, running_in, text, wait_for};
use crate::tmux::{Tmux, remove_containers_of, tmux_available, tui_in};

#[test]
fn demo_review_panes_approve_add_and_quit() {
    if !docker_available() || !tmux_available() {
        return;
    }
    ensure_image();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (data, config, demo) = (root.join("data"), root.join("config"), root.join("demo"));
    let bin = env!("CARGO_BIN_EXE_drover");
    let cmd = format!("{bin} demo --dir {}", demo.display());
    let t = Tmux::start(
        &cmd,
        &[("DROVER_HOME", &data), ("XDG_CONFIG_HOME", &config)],
    );
    let repo = demo.join("shop");
    // The demo runs through the daemon (the data dir is the user's): stopped at the end.
    struct Cleanup(PathBuf, PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new(env!("CARGO_BIN_EXE_drover"))
                .args(["daemon", "stop"])
                .env("DROVER_HOME", &self.1)
                .output();
            remove_containers_of(&self.0);
        }
    }
    let _cleanup = Cleanup(repo.clone(), data.clone());

    // All three scripted tasks reach review (the third with failing tests).
    let s = t.wait_for("3 review", 90);
    assert!(s.contains("drover") && s.contains("shop main@"), "{s}");
    assert!(
        s.contains("Fix add() so the test") && s.contains("Make slugify() fold"),
        "{s}"
    );
    assert!(
        s.contains("✔ add() now adds; the whole suite passes."),
        "the first task's transcript is shown:\n{s}"
    );

    // Second task: diff, then tests.
    t.keys(&["j", "2"]);
    let s = t.wait_for("def median(values):", 5);
    assert!(
        s.contains("A tests/test_median.py") && s.contains("M calc.py"),
        "{s}"
    );
    t.keys(&["3"]);
    let s = t.wait_for("passed (6 passed, 0 failed)", 5);
    assert!(s.contains("$ python3 -m unittest discover -v"), "{s}");
    t.keys(&["4"]);
    t.wait_for("network    none", 5);

    // Approve: the branch lands in the user's repository.
    t.keys(&["a"]);
    t.wait_for("approved: drover/", 10);
    t.wait_for("2 review", 5);

    // A task added from another terminal shows up within a second or so.
    let script = demo.join("scripts/your-task.toml");
    let added = Command::new(bin)
        .args([
            "add",
            "--repo",
            repo.to_str().unwrap(),
            "--script",
            script.to_str().unwrap(),
            "--title",
            "Added from elsewhere",
            "look around",
        ])
        .env("DROVER_HOME", &data)
        .env("XDG_CONFIG_HOME", &config)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added.stderr));
    // It arrives as an event pushed by the engine host (nothing polls the store).
    t.wait_for("Added from elsewhere", 10);
    t.wait_for("3 review", 60);

    // Hot reload: a bad keymap edit keeps the old keymap and says why; a good one applies.
    let keymap = config.join("drover/keymap.toml");
    std::fs::write(&keymap, "[list]\naprove = \"A\"\n").unwrap();
    t.wait_for("keymap not reloaded (the old one stays)", 5);
    std::fs::write(&keymap, "[list]\napprove = \"A\"\n").unwrap();
    t.wait_for("keymap reloaded", 5);
    // One write can notify twice; let the second reload pass before reading the status.
    std::thread::sleep(Duration::from_millis(800));
    t.keys(&["A"]);
    t.wait_for("cannot approve an approved task", 5);

    // A shell in the task's container: the TUI steps aside, then comes back.
    t.keys(&["s"]);
    t.wait_for("/workspace", 20);
    t.keys(&["echo SHELL-$((40+2)) in $(pwd)", "Enter"]);
    t.wait_for("SHELL-42 in /workspace", 10);
    t.keys(&["exit", "Enter"]);
    t.wait_for("Tasks (4)", 15);

    // Help overlay, then quit: the process ends and the terminal is given back.
    t.keys(&["?"]);
    t.wait_for("any other key closes this help", 5);
    t.keys(&["Escape"]);
    t.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while t.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!t.alive(), "drover did not quit:\n{}", t.screen());
    let status = Command::new(bin)
        .args(["daemon", "status"])
        .env("DROVER_HOME", &data)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "the daemon outlives the TUI");
}

#[test]
fn a_bad_keymap_stops_drover_from_starting() {
    let env = Env::python_bug();
    let dir = env.home.path().join("config/drover");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keymap.toml"), "[list]\nnew_task = \"a\"\n").unwrap();
    let out = env.command(&[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("keymap.toml:2:1: key `a` in [list] is bound to both `approve`"),
        "{err}"
    );
    assert!(
        err.contains("drover refuses to start with a bad keymap"),
        "{err}"
    );
}

#[test]
fn out_07_without_a_terminal_the_tui_refuses_with_exit_2() {
    let env = Env::python_bug();
    let out = env.command(&[]).stdout(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("requires an interactive terminal"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "nothing written to a non-terminal stdout"
    );
}

/// OUT-05: closing the terminal (SIGHUP to drover) quits like `q`: the running task is
/// interrupted with its transcript kept, its container stopped, nothing left running.
#[test]
fn out_05_closing_the_terminal_interrupts_running_tasks() {
    if !docker_available() || !tmux_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = env.add(
        "Wait a long time",
        "[[step]]\nrun = \"echo started-$((6*7)); sleep 300\"\n",
    );
    let cmd = tui_in(&env);
    let t = Tmux::in_env(&env, &cmd, false);
    t.wait_for("started-42", 60);
    assert_eq!(env.containers(&[]).len(), 1, "the task's container runs");

    // What closing a terminal window does: the pane's process gets SIGHUP.
    drop(t);
    let state = wait_for(30, "the task to be interrupted", || {
        let s = env.show(&id);
        (s["state"] != "running").then(|| s["state"].clone())
    });
    assert_eq!(state, "interrupted");
    wait_for(30, "the container to stop", || {
        env.containers(&[]).is_empty().then_some(())
    });
    let logs = env.drover(&["logs", &id]);
    assert!(text(&logs.stdout).contains("started-42"), "transcript kept");
}

/// DUR-02 in the TUI: quitting with a task running asks once what to do; "keep" leaves
/// its container running and the task active, and the next drover reattaches it and goes
/// on (the lost `sleep` is not run again). The answer is remembered: no second question.
#[test]
fn dur_02_quit_asks_once_keep_leaves_the_task_running_and_the_next_tui_reattaches() {
    if !docker_available() || !tmux_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = env.add(
        "Keep me going",
        "[[step]]\nrun = \"echo started-$((6*7))\"\n[[step]]\nrun = \"sleep 300\"\n[[step]]\nrun = \"echo resumed-$((6*7))\"\n",
    );
    let cmd = tui_in(&env);
    let t = Tmux::in_env(&env, &cmd, false);
    t.wait_for("sleep 300", 60);
    t.keys(&["q"]);
    t.wait_for("What should quitting do?", 10);
    t.keys(&["k"]);
    wait_for(20, "drover to exit", || (!t.alive()).then_some(()));
    assert_eq!(env.show(&id)["state"], "running", "left active");
    assert_eq!(env.containers(&[]).len(), 1, "its container keeps running");

    let t = Tmux::in_env(&env, &cmd, false);
    t.wait_for("resumed-42", 60);
    wait_for(60, "the task to reach review", || {
        (env.show(&id)["state"] == "review").then_some(())
    });
    t.keys(&["q"]);
    wait_for(20, "drover to exit without asking", || {
        (!t.alive()).then_some(())
    });
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(
        logs.contains("reattached to its running container"),
        "{logs}"
    );
    assert!(logs.contains("not run again"), "{logs}");
    assert!(env.containers(&[]).is_empty(), "review stopped it");
}

/// OUT-04: a panic in the TUI leaves the terminal usable: out of the alternate screen,
/// echo and canonical mode back, the message readable, and the store sound.
#[test]
fn out_04_a_panic_restores_the_terminal() {
    if !tmux_available() {
        return;
    }
    let env = Env::python_bug();
    let bin = env!("CARGO_BIN_EXE_drover");
    let stty = env.home.path().join("stty.txt");
    let cmd = format!(
        "cd '{}' && DROVER_CRASH_AT=tui_panic {bin}; stty -a > '{}'; echo exited-$((6*7)); sleep 60",
        env.repo.display(),
        stty.display()
    );
    let t = Tmux::in_env(&env, &cmd, false);
    t.wait_for("exited-42", 30);
    let history = Command::new("tmux")
        .args([
            "-L",
            &t.socket,
            "capture-pane",
            "-p",
            "-S",
            "-1000",
            "-t",
            &t.session,
        ])
        .output()
        .unwrap();
    let history = text(&history.stdout);
    assert!(history.contains("a deliberate panic"), "{history}");
    let alt = Command::new("tmux")
        .args([
            "-L",
            &t.socket,
            "display",
            "-p",
            "-t",
            &t.session,
            "#{alternate_on}",
        ])
        .output()
        .unwrap();
    assert_eq!(text(&alt.stdout).trim(), "0", "left the alternate screen");
    let modes = std::fs::read_to_string(&stty).unwrap();
    let words: Vec<&str> = modes.split_whitespace().collect();
    assert!(
        words.contains(&"echo") && words.contains(&"icanon"),
        "{modes}"
    );
    env.assert_store_sound();
}

/// Issue 8's promise: queue three tasks from the command line, watch them in the TUI,
/// quit it, open it again and close its terminal, and the work goes on in the daemon;
/// the next TUI finds every task in review with its whole transcript.
#[test]
fn queue_three_close_the_terminal_and_come_back_to_finished_work() {
    if !docker_available() || !tmux_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("max_parallel = 3\ntest = \"python3 -m unittest -v\"\n");
    let ids: Vec<String> = (1..=3)
        .map(|n| {
            let script = env.home.path().join(format!("t{n}.toml"));
            std::fs::write(
                &script,
                format!(
                    "[[step]]\nrun = \"echo begin-{n}-$((6*7))\"\n[[step]]\nrun = \"sleep 8\"\n[[step]]\nedit = {{ path = \"calc.py\", old = \"a - b\", new = \"a + b\" }}\n[[step]]\nrun = \"echo end-{n}-$((6*7))\"\n"
                ),
            )
            .unwrap();
            let out = env
                .daemon_command(&[
                    "add",
                    "--script",
                    script.to_str().unwrap(),
                    "--title",
                    &format!("Background task {n}"),
                    "fix add",
                ])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out.stderr));
            text(&out.stdout).trim().to_string()
        })
        .collect();
    let daemon = env.daemon_pid().expect("`drover add` started the daemon");

    let cmd = tui_in(&env);
    // Attach while they run; quitting asks nothing and leaves them to the daemon.
    let t = Tmux::in_env(&env, &cmd, true);
    t.wait_for("Background task 3", 30);
    t.wait_for("begin-1-42", 60);
    t.keys(&["q"]);
    wait_for(20, "the TUI to quit", || (!t.alive()).then_some(()));
    let running = ids
        .iter()
        .filter(|id| env.show(id)["state"] != "review")
        .count();
    assert!(
        running > 0,
        "the test is too slow to see tasks outlive the TUI"
    );

    // Attach again, then close its terminal: the TUI dies, the daemon does not.
    let t = Tmux::in_env(&env, &cmd, true);
    t.wait_for("Background task 1", 30);
    drop(t);
    wait_for(120, "all three in review", || {
        ids.iter()
            .all(|id| env.show(id)["state"] == "review")
            .then_some(())
    });
    assert_eq!(env.daemon_pid(), Some(daemon), "the same daemon did it all");

    // Come back: every task reviewable, each transcript whole.
    let t = Tmux::in_env(&env, &cmd, true);
    t.wait_for("3 review", 30);
    for n in 1..=3 {
        let s = t.wait_for(&format!("end-{n}-42"), 10);
        assert!(s.contains(&format!("begin-{n}-42")), "{s}");
        assert!(s.contains("$ sleep 8"), "{s}");
        t.keys(&["j"]);
    }
    t.keys(&["q"]);
    wait_for(20, "the TUI to quit", || (!t.alive()).then_some(()));
}

/// Upgrading drover: the daemon that answers speaks another protocol. The TUI says so,
/// waits while a task is in the middle of a tool call, then offers to restart the daemon;
/// the new daemon reattaches the task, which finishes without repeating anything.
#[test]
fn a_daemon_of_another_version_is_restarted_once_no_tool_call_is_cut_off() {
    if !docker_available() || !tmux_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"python3 -m unittest -v\"\n");
    // Queued before the old daemon starts (this drover cannot talk to it), which runs it.
    let id = env.add(
        "Mid-call",
        "[[step]]\nrun = \"sleep 8; echo slept >> marks.txt\"\n[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n[[step]]\nrun = \"echo after >> marks.txt\"\n",
    );
    let old = env
        .daemon_command(&["daemon", "start"])
        .env("DROVER_DAEMON_PROTOCOL", "0")
        .output()
        .unwrap();
    assert!(old.status.success(), "{}", text(&old.stderr));
    let old_pid = env.daemon_pid().expect("the old daemon runs");
    wait_for(90, "the long command to run", || {
        running_in(&id, "sleep 8").then_some(())
    });

    let cmd = tui_in(&env);
    let t = Tmux::in_env(&env, &cmd, true);
    let s = t.wait_for("to finish their tool call", 10);
    let joined = s.replace('\n', "");
    assert!(joined.contains("waiting for 1 task(s)"), "{s}");
    assert!(
        joined.contains("speaks protocol 0")
            && joined.contains(&format!("speaks protocol {}", drover::protocol::PROTOCOL)),
        "{s}"
    );
    assert!(!s.contains("[y/N]"), "asked while a call runs:\n{s}");
    t.wait_for("restart the daemon with this drover now? [y/N]", 30);
    t.keys(&["y", "Enter"]);
    t.wait_for("Tasks (1)", 20);
    let new_pid = env.daemon_pid().expect("a new daemon");
    assert_ne!(new_pid, old_pid);
    wait_for(90, "the task in review", || {
        (env.show(&id)["state"] == "review").then_some(())
    });
    assert_eq!(env.workspace_file(&id, "marks.txt"), "slept\nafter\n");
    t.keys(&["q"]);
    wait_for(20, "the TUI to quit", || (!t.alive()).then_some(()));
}

/// HTB-07 in the real terminal: a cloned repository's drover.toml that points the agent
/// elsewhere is held back with a warning naming the key and the way to trust it; `T`,
/// read, `y` trusts the file as it is, and the next start says nothing.
#[test]
fn htb_07_an_untrusted_config_is_named_and_trusted_from_the_tui() {
    if !tmux_available() {
        return;
    }
    let env = Env::python_bug();
    env.write_untrusted_config("[agent]\nbase_url = \"http://127.0.0.1:9/v1\"\n");
    let cmd = tui_in(&env);
    let t = Tmux::in_env(&env, &cmd, false);
    t.wait_for(
        "drover.toml sets agent.base_url: ignored until you trust",
        20,
    );
    assert!(
        !env.data().join("trusted.json").exists(),
        "nothing trusted yet"
    );

    t.keys(&["T"]);
    let s = t.wait_for("Trust this repository's drover.toml", 10);
    assert!(
        s.contains("agent.base_url"),
        "the question names the key:\n{s}"
    );
    assert!(s.contains("y yes"), "the answer keys show:\n{s}");
    t.keys(&["y"]);
    t.wait_for("as it is now: its keys apply", 10);
    t.keys(&["q"]);
    wait_for(20, "drover to exit", || (!t.alive()).then_some(()));

    let out = env.drover(&["trust"]);
    assert!(
        text(&out.stdout).contains("it sets nothing that needed trust"),
        "the TUI's trust holds: {}",
        text(&out.stdout)
    );
    let t = Tmux::in_env(&env, &cmd, false);
    let s = t.wait_for("Tasks", 20);
    std::thread::sleep(Duration::from_millis(500));
    let s = t.screen() + &s;
    assert!(!s.contains("ignored until you trust"), "{s}");
}
