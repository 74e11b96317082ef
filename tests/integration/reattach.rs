//! DUR-01 and DUR-02: drover dies (kill -9) or quits while tasks run, and the next drover
//! takes them back: running containers reattached, the work resumed from the last
//! completed tool call (never running one twice), gone containers reported.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::common::*;

/// Five steps: two marks around a long command, which is what drover is killed in.
const SLOW: &str = "[[step]]\nsay = \"marking\"\n[[step]]\nrun = \"echo one >> marks.txt\"\n[[step]]\nrun = \"sleep 30; echo slept >> marks.txt\"\n[[step]]\nrun = \"echo two >> marks.txt\"\n[[step]]\nfinish = \"marked\"\n";

/// DUR-01: `kill -9` while 5 tasks run. The next drover shows every task with its
/// transcript, reattaches the 5 running containers, stops the command the dead process
/// was waiting on (so it cannot go on changing the workspace), answers it "interrupted"
/// without running it again, and finishes each task from there.
#[test]
fn dur_01_kill_9_with_five_running_tasks_reattaches_all_and_reruns_nothing() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("max_parallel = 5\ntest = \"true\"\n");
    let ids: Vec<String> = (0..5)
        .map(|i| env.add(&format!("Slow {i}"), SLOW))
        .collect();

    let mut first = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Recorded first, then started: wait until each container really runs it.
    wait_for(120, "all five in their long command", || {
        ids.iter()
            .all(|id| running_in(id, "sleep 30"))
            .then_some(())
    });
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert_eq!(
        env.containers(&[]).len(),
        5,
        "left running by the dead process"
    );
    for id in &ids {
        assert_eq!(env.show(id)["state"], "running");
    }

    // The next drover: time until every task is reattached is the recovery figure.
    let started = Instant::now();
    let mut second = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reattached = wait_for(60, "all five reattached", || {
        ids.iter()
            .all(|id| {
                env.transcript(id, 1)
                    .contains("reattached to its running container")
            })
            .then(|| started.elapsed())
    });
    eprintln!(
        "DUR-01 recovery: 5 running tasks reattached {:.2}s after restart",
        reattached.as_secs_f64()
    );
    let status = second.wait().unwrap();
    let finished = started.elapsed();
    assert!(status.success(), "the resumed tasks pass");
    assert!(
        finished < Duration::from_secs(25),
        "the 30 s command was not run again ({finished:?})"
    );
    for id in &ids {
        let shown = env.show(id);
        assert_eq!(shown["state"], "review", "{id}: {shown}");
        assert_eq!(
            env.workspace_file(id, "marks.txt"),
            "one\ntwo\n",
            "{id}: the first mark ran once, the lost command never finished, the rest ran"
        );
        let t = env.transcript(id, 1);
        assert_eq!(t.matches("echo one >> marks.txt").count(), 1, "{t}");
        assert_eq!(t.matches("\"marking\"").count(), 1, "said once: {t}");
        assert!(
            t.contains("drover stopped while this was running"),
            "the lost call is answered: {t}"
        );
        assert!(
            t.contains("stopped 1 command(s) left running"),
            "the lost command was stopped: {t}"
        );
        let logs = text(&env.drover(&["logs", id]).stdout);
        assert!(logs.contains("marking"), "{logs}");
    }
    // Each task went back to the queue once (resume) and then on: never two engines.
    let store = drover::store::Store::open(&env.data().join("drover.db")).unwrap();
    for id in &ids {
        let id = drover::protocol::TaskId::parse(id).unwrap();
        let moves: Vec<String> = store
            .transitions(&id)
            .unwrap()
            .iter()
            .map(|t| format!("{}>{}", t.from.name(), t.to.name()))
            .collect();
        assert_eq!(
            moves.iter().filter(|m| *m == "running>queued").count(),
            1,
            "{moves:?}"
        );
    }
    assert!(
        env.containers(&[]).is_empty(),
        "review stops the containers"
    );
    env.assert_store_sound();
}

/// DUR-01, second half: a task whose container disappeared while drover was down is
/// interrupted, saying so; `drover resume` then goes on with it in a new container over
/// the same workspace, still without running a finished call again.
#[test]
fn dur_01_a_gone_container_is_interrupted_with_the_reason_and_resumes_on_request() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    let id = env.add("Slow", SLOW);
    let mut first = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(60, "the long command", || {
        env.transcript(&id, 1).contains("sleep 30").then_some(())
    });
    first.kill().unwrap();
    first.wait().unwrap();
    let gone = Command::new("docker")
        .args(["rm", "-f", &format!("drover-{id}")])
        .output()
        .unwrap();
    assert!(gone.status.success(), "{}", text(&gone.stderr));

    let out = env.drover(&["run"]);
    let err = text(&out.stderr);
    let shown = env.show(&id);
    assert_eq!(shown["state"], "interrupted", "{err}");
    assert!(
        shown["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("container is gone"),
        "{shown}"
    );

    let out = env.drover(&["resume", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(env.drover(&["run"]).status.success());
    assert_eq!(env.show(&id)["state"], "review");
    assert_eq!(env.workspace_file(&id, "marks.txt"), "one\ntwo\n");
    let t = env.transcript(&id, 1);
    assert!(t.contains("its container was gone: new container"), "{t}");
    assert_eq!(t.matches("echo one >> marks.txt").count(), 1);

    // Resuming is for interrupted tasks only.
    let out = env.drover(&["resume", &id]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("only an interrupted task can resume"),
        "{}",
        text(&out.stderr)
    );
    env.assert_store_sound();
}

/// DUR-02: with on_quit = "keep", a signal leaves exactly the running tasks' containers
/// up and the tasks active; the next start reattaches all of them. With "stop" (the
/// default), nothing labelled keeps running.
#[test]
fn dur_02_quit_policy_keep_leaves_running_containers_and_stop_leaves_none() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("max_parallel = 2\ntest = \"true\"\non_quit = \"keep\"\n");
    let ids: Vec<String> = (0..2)
        .map(|i| env.add(&format!("Kept {i}"), SLOW))
        .collect();
    let run = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(90, "both in their long command", || {
        ids.iter()
            .all(|id| env.transcript(id, 1).contains("sleep 30"))
            .then_some(())
    });
    let pid = run.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    assert!(
        text(&out.stderr).contains("the next `drover run` resumes them"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(env.containers(&[]).len(), 2, "exactly the running tasks");
    for id in &ids {
        assert_eq!(env.show(id)["state"], "running");
    }
    assert!(env.drover(&["run"]).status.success());
    for id in &ids {
        assert_eq!(env.show(id)["state"], "review");
        assert!(
            env.transcript(id, 1)
                .contains("reattached to its running container")
        );
        assert_eq!(env.workspace_file(id, "marks.txt"), "one\ntwo\n");
    }

    // Stop: the signal interrupts, nothing labelled runs afterwards, and resume goes on.
    env.write_config("test = \"true\"\non_quit = \"stop\"\n");
    let id = env.add("Stopped", SLOW);
    let mut run = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(60, "the long command", || {
        env.transcript(&id, 1).contains("sleep 30").then_some(())
    });
    Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    run.wait().unwrap();
    assert!(env.containers(&[]).is_empty(), "stop on quit leaves none");
    assert_eq!(env.show(&id)["state"], "interrupted");
    assert!(env.drover(&["resume", &id]).status.success());
    assert!(env.drover(&["run"]).status.success());
    assert_eq!(env.show(&id)["state"], "review");
    assert_eq!(env.workspace_file(&id, "marks.txt"), "one\ntwo\n");
    env.assert_store_sound();
}
