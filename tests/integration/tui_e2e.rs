//! The real binary in a real terminal (tmux): `drover demo`, review, panes, approve,
//! a task added from another process, quit. Plus: no terminal, no TUI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, docker_available, ensure_image, running_in, text, wait_for};

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    /// `cmd` on `env`'s data and config, through its daemon or with the engine in-process.
    fn in_env(env: &Env, cmd: &str, daemon: bool) -> Tmux {
        let (data, config) = (env.data(), env.home.path().join("config"));
        let mut vars = vec![
            ("DROVER_HOME", data.as_path()),
            ("XDG_CONFIG_HOME", config.as_path()),
        ];
        if !daemon {
            vars.push(("DROVER_NO_DAEMON", Path::new("1")));
        }
        Tmux::start(cmd, &vars)
    }

    fn start(cmd: &str, env: &[(&str, &Path)]) -> Tmux {
        let t = Tmux {
            // One server per test: tests run in parallel in one process.
            socket: format!(
                "drover-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ),
            session: "e2e".into(),
        };
        let mut c = Command::new("tmux");
        c.args([
            "-L",
            &t.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &t.session,
            "-x",
            "160",
            "-y",
            "45",
        ]);
        for (k, v) in env {
            c.args(["-e", &format!("{k}={}", v.display())]);
        }
        c.arg(cmd);
        let out = c.output().expect("tmux");
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
        t
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-t",
                &self.session,
            ])
            .output()
            .expect("capture");
        text(&out.stdout)
    }

    fn keys(&self, keys: &[&str]) {
        Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("send-keys");
        std::thread::sleep(Duration::from_millis(300));
    }

    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.socket, "has-session", "-t", &self.session])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits until the screen contains `what`; panics with the screen otherwise.
    fn wait_for(&self, what: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs}s for {what:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err_and(|_| true)
                || std::env::var("CI").as_deref() != Ok("true"),
            "tmux is required on CI"
        );
        eprintln!("SKIPPED: tmux is not installed");
    }
    ok
}

/// The shell command that opens the TUI in the environment's repository.
fn tui_in(env: &Env) -> String {
    format!(
        "cd '{}' && exec {}",
        env.repo.display(),
        env!("CARGO_BIN_EXE_drover")
    )
}

fn remove_containers_of(repo: &Path) {
    let label = format!("label=drover.repo={}", drover::paths::repo_hash(repo));
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &label])
        .output()
        .expect("docker ps");
    let ids: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&ids)
            .output();
    }
}

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
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"python3 -m unittest\"\n");
    let id = env.add(
        "Fix add",
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n[[step]]\nfinish = \"done\"\n",
    );
    let out = env.drover(&["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(env.show(&id)["state"], "review");
    let t = Tmux::in_env(&env, &tui_in(&env), false);
    t.wait_for("Fix add", 20);
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
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"python3 -m unittest\"\n");
    let id = env.add(
        "Fix add",
        "[[step]]\nrun = \"echo run >> runs.txt; sed -i 's/a - b/a + b/' calc.py\"\n[[step]]\nfinish = \"fixed\"\n",
    );
    let out = env.drover(&["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let t = Tmux::in_env(&env, &tui_in(&env), false);
    t.wait_for("Fix add", 20);
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
