//! Items of the reliability checklist (`../shared/reliability-checklist.md`), one test per
//! ID where the item is about drover as a whole process. Items proven elsewhere name
//! their test in the closing notes.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A task that prints a marker and then sleeps; returns its id.
fn sleeper(env: &Env) -> String {
    env.add(
        "Sleep",
        "[[step]]\nrun = \"echo awake-$((6*7)); sleep 300\"\n",
    )
}

/// `drover run` in the background, stdout piped.
fn spawn_run(env: &Env) -> std::process::Child {
    env.command(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("drover run")
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn out_05_sigterm_stops_drover_run_and_interrupts_its_tasks() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = sleeper(&env);
    let child = spawn_run(&env);
    wait_for(60, "the command to start", || {
        let logs = env.drover(&["logs", &id]);
        text(&logs.stdout).contains("sleep 300").then_some(())
    });
    // The echo before the sleep has run by now.
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("SIGTERM: interrupting running tasks"));
    assert_eq!(env.show(&id)["state"], "interrupted");
    assert!(env.containers(&[]).is_empty(), "its container was stopped");
    let logs = env.drover(&["logs", &id]);
    assert!(
        text(&logs.stdout).contains("awake-42"),
        "the cut-short call keeps its output: {}",
        text(&logs.stdout)
    );
}

/// DUR-06: one engine per data dir. A second front end started without the daemon does
/// not start a second engine: it follows the one that holds the data dir, naming its
/// pid, and sees what that one's quitting does to the tasks.
#[test]
fn dur_06_a_second_front_end_follows_the_engine_that_holds_the_data_dir() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = sleeper(&env);
    let first = spawn_run(&env);
    wait_for(60, "the task to run", || {
        (env.show(&id)["state"] == "running").then_some(())
    });
    let pid = first.id();
    let mut second = spawn_run(&env);
    let mut stdout = second.stdout.take().expect("stdout");
    let seen = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut all);
        all
    });
    // Its stderr line by line: once it says whom it follows, the first one quits.
    let (tx, lines) = std::sync::mpsc::channel();
    let stderr = second.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let following = lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the second says whom it follows");
    assert_eq!(
        following,
        format!("following the drover of pid {pid} (--no-daemon)")
    );
    signal(&first, "-INT");
    let out = first.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let code = second.wait().unwrap().code();
    let err: Vec<String> = lines.try_iter().collect();
    let err = err.join("\n");
    assert_eq!(code, Some(1), "{err}");
    // It followed to the end: the task rests (interrupted by the first one's quit).
    assert!(
        err.contains("1 task(s) ran, 0 reached review with passing tests"),
        "{err}"
    );
    let seen = seen.join().unwrap();
    assert!(
        seen.contains("interrupted"),
        "it saw the task's end: {seen}"
    );
    env.assert_store_sound();
}

#[test]
fn sec_05_data_stays_private_under_umask_000() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let script = env.data().with_file_name("fix.toml");
    std::fs::write(
        &script,
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_drover");
    // A shell with umask 000 that then becomes drover.
    let run_sh = |args: &str| {
        let out = Command::new("sh")
            .args(["-c", &format!("umask 000; exec '{bin}' {args}")])
            .current_dir(&env.repo)
            .env("DROVER_HOME", env.data())
            .env("XDG_CONFIG_HOME", env.home.path().join("config"))
            .env("DROVER_NO_DAEMON", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, stdout, stderr) = run_sh(&format!("add --script '{}' 'Fix add'", script.display()));
    assert_eq!(code, Some(0), "{stderr}");
    let id = stdout.trim().to_string();
    let (code, _, stderr) = run_sh("run");
    assert_eq!(code, Some(0), "{stderr}");

    let data = env.data();
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("drover.db")), 0o600, "database");
    assert_eq!(mode(&data.join("logs")), 0o700);
    assert_eq!(mode(&data.join("logs/drover.log")), 0o600);
    let task_dir = data.join("tasks").join(&id);
    assert_eq!(mode(&task_dir), 0o700);
    let mut files = 0;
    for entry in walk(&task_dir) {
        let m = mode(&entry);
        if entry.is_dir() {
            assert_eq!(m, 0o700, "{}", entry.display());
        } else {
            assert_eq!(m, 0o600, "{}", entry.display());
            files += 1;
        }
    }
    assert!(files > 0, "the transcript was written");
    assert_eq!(mode(&data.join("workspaces").join(&id)), 0o700, "workspace");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn sec_07_a_literal_token_in_a_config_file_is_named_not_shown() {
    let env = Env::python_bug();
    // Built at run time so no token-shaped literal sits in this source file.
    let token = format!("ghp_{}", "Z9".repeat(18));
    std::fs::write(
        env.repo.join("drover.toml"),
        format!("max_parallel = 2\n[forge]\n# token = \"{token}\"\ndraft = true\n"),
    )
    .unwrap();
    let out = env.drover(&["doctor"]);
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("drover.toml:3: a literal secret (github-token, value not shown)"),
        "{all}"
    );
    assert!(!all.contains(&token), "the value is never printed: {all}");
    assert_eq!(out.status.code(), Some(1), "doctor counts it as a problem");
}

/// ISO-06: a command that outgrows the memory limit is killed inside the container, and
/// the transcript says it was the memory limit (Docker itself only says so once the
/// whole container has exited). The positive control runs first, in the same container.
#[test]
fn iso_06_out_of_memory_is_named() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("[limits]\nmemory = \"96m\"\n");
    let id = env.add(
        "Eat memory",
        "[[step]]\nrun = \"python3 -c 'b = bytearray(16 << 20); print(\\\"small-ok\\\")'\"\n[[step]]\nrun = \"python3 -c 'b = bytearray(1 << 30)'\"\n",
    );
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    let control = logs.find("small-ok").expect("the positive control ran");
    let killed = logs
        .find("[killed: out of memory")
        .unwrap_or_else(|| panic!("no OOM note:\n{logs}"));
    assert!(control < killed, "{logs}");
    assert_eq!(
        logs.matches("[killed: out of memory").count(),
        1,
        "only the call that was killed says so:\n{logs}"
    );
}

/// DUR-03: at start the engine removes containers of its own store whose task is unknown
/// or discarded; a container without drover's label, one of another store and one of a
/// live task are left alone.
#[tokio::test(flavor = "multi_thread")]
async fn dur_03_orphans_of_this_store_are_reaped_and_nothing_else() {
    if !docker_available() {
        return;
    }
    let image = ensure_image();
    let env = Env::python_bug();
    let data = drover::paths::DataDir::at(env.data()).unwrap();
    let ours = data.hash();
    let repo_label = env.repo_label();
    let nonce = std::process::id();
    let run = |name: &str, labels: &[String]| {
        let mut c = Command::new("docker");
        c.args(["run", "-d", "--name", name]);
        for l in labels {
            c.args(["--label", l]);
        }
        let out = c.args([&image, "sleep", "300"]).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    };
    let managed = |task: &str, data: &str| {
        vec![
            "drover.managed=true".to_string(),
            format!("drover.task={task}"),
            format!("drover.data={data}"),
            repo_label.clone(),
        ]
    };
    let (orphan, other_store, decoy) = (
        format!("drover-orphan-{nonce}"),
        format!("drover-other-store-{nonce}"),
        format!("not-drover-{nonce}"),
    );
    run(&orphan, &managed("zzzzzzzzzz", &ours));
    run(&other_store, &managed("zzzzzzzzzz", "another-store"));
    // The decoy carries only the repo label (so this test's cleanup finds it), not
    // drover.managed.
    run(&decoy, std::slice::from_ref(&repo_label));

    let (handle, mut rx) = env
        .start_engine(
            Some(drover::runtime::Runtime::connect().await.unwrap()).into(),
            1,
        )
        .await;
    let said = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let ev = rx.recv().await.unwrap();
            if let drover::protocol::EventBody::Notice { message } = ev.body
                && message.contains("orphan")
            {
                return message;
            }
        }
    })
    .await
    .expect("a notice about the orphan");
    handle.shutdown().await;
    assert_eq!(
        said,
        format!("removed orphan container {orphan} (its task is not in the store)")
    );
    let exists = |name: &str| {
        Command::new("docker")
            .args(["inspect", name])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!exists(&orphan));
    assert!(
        exists(&other_store),
        "another store's container is not ours"
    );
    assert!(exists(&decoy), "an unlabelled container is never touched");
    let _ = Command::new("docker")
        .args(["rm", "-f", &other_store, &decoy])
        .output();
}

/// Peak resident memory of a running process, sampled until it exits (KiB).
fn peak_rss_while_running(child: &mut std::process::Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status) {
            // VmHWM: the kernel's own high-water mark, so short spikes are not missed.
            if let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if child.try_wait().unwrap().is_some() {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// OUT-01: 1 GiB of output and a 50 MB line without a newline: drover's memory stays
/// bounded, the transcript keeps head and tail with a truncation marker.
#[test]
fn out_01_an_output_flood_keeps_memory_bounded() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = env.add(
        "Flood",
        "[[step]]\nrun = \"yes | head -c 1G; echo; head -c 50000000 /dev/zero | tr '\\\\0' x; echo END\"\n",
    );
    let mut child = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let peak_kib = peak_rss_while_running(&mut child);
    eprintln!("OUT-01: drover run peak RSS {} MiB", peak_kib / 1024);
    assert!(peak_kib > 0, "sampled");
    assert!(
        peak_kib < 200 * 1024,
        "peak RSS {} MiB under the flood",
        peak_kib / 1024
    );
    let logs = text(&env.drover(&["logs", &id]).stdout);
    // "… N bytes truncated" (the result's footer).
    let dropped: u64 = logs
        .split(" bytes truncated")
        .filter_map(|before| before.rsplit([' ', '…']).next()?.parse().ok())
        .max()
        .unwrap_or_else(|| panic!("no truncation marker:\n{}", &logs[..logs.len().min(2000)]));
    assert!(
        dropped > 1_000_000_000,
        "the whole flood went through: {dropped} bytes dropped"
    );
    assert!(logs.contains("END"), "the tail is kept");
    assert!(
        logs.len() < 1 << 20,
        "the stored transcript is capped: {}",
        logs.len()
    );
}

/// `drover gc`: a pushed task's workspace goes once old enough; a task in review and its
/// workspace stay; a directory no task owns goes; transcripts stay.
#[test]
fn gc_frees_workspaces_of_finished_tasks_only() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let fix = "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n";
    let done = env.add("Done", fix);
    let review = env.add("Review", fix);
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    let ws = |id: &str| env.data().join("workspaces").join(id);
    assert!(ws(&done).is_dir() && ws(&review).is_dir());
    // "Done" was pushed long ago (what gc looks at is the store, so say it there).
    let db = rusqlite::Connection::open(env.data().join("drover.db")).unwrap();
    db.execute(
        "UPDATE tasks SET state = '{\"state\":\"pushed\"}', updated_at = '2020-01-01T00:00:00Z' WHERE id = ?1",
        [&done],
    )
    .unwrap();
    drop(db);
    let stray = env.data().join("workspaces").join("not-a-task");
    std::fs::create_dir_all(stray.join("sub")).unwrap();
    std::fs::write(stray.join("sub/f"), "x".repeat(4096)).unwrap();

    let doctor = text(&env.drover(&["doctor"]).stdout);
    assert!(doctor.contains("workspaces"), "{doctor}");
    let dry = env.drover(&["gc", "--dry-run"]);
    assert!(
        text(&dry.stdout).contains("would remove"),
        "{}{}",
        text(&dry.stdout),
        text(&dry.stderr)
    );
    assert!(
        ws(&done).is_dir() && stray.is_dir(),
        "a dry run removes nothing"
    );

    let out = env.drover(&["gc"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("task {done} pushed")), "{said}");
    assert!(said.contains("no task owns it"), "{said}");
    assert!(!ws(&done).exists() && !stray.exists());
    assert!(ws(&review).is_dir(), "a task in review keeps its workspace");
    let logs = env.drover(&["logs", &done]);
    assert!(
        text(&logs.stdout).contains("calc.py"),
        "the transcript stays"
    );
}

/// DUR-04: drover aborts (like kill -9) right after recording a task, right after a tool
/// result is persisted, and right after the approval commit. After each: no task lost,
/// none running twice, no persisted tool call run again, the database sound, and the
/// interrupted step can be finished by asking again.
#[test]
fn dur_04_crashes_while_queueing_running_and_approving_lose_nothing() {
    use std::os::unix::process::ExitStatusExt;
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let script = env.data().with_file_name("steps.toml");
    std::fs::write(
        &script,
        "[[step]]\nrun = \"echo one >> marks.txt\"\n[[step]]\nrun = \"echo two >> marks.txt\"\n[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n",
    )
    .unwrap();
    let crashing = |point: &str, args: &[&str]| {
        let out = env
            .command(args)
            .env("DROVER_CRASH_AT", point)
            .output()
            .unwrap();
        assert_eq!(
            out.status.signal(),
            Some(6),
            "{point}: {}",
            text(&out.stderr)
        );
    };

    // Recorded, then the process died before saying the id: the task is there, queued.
    crashing(
        "after_db_enqueue",
        &["add", "--script", script.to_str().unwrap(), "Mark twice"],
    );
    let list = text(&env.drover(&["list", "--json"]).stdout);
    let task: serde_json::Value = serde_json::from_str(list.trim()).expect("one task");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(task["state"], "queued");

    // The first command's result is on disk, then the process dies mid-task.
    crashing("after_tool_result_persist", &["run"]);
    assert_eq!(
        env.show(&id)["state"],
        "running",
        "what the dead process left"
    );
    // The next engine takes over: the container it left is reattached and the task goes
    // on from the persisted call, which is not run a second time.
    assert!(env.drover(&["run"]).status.success());
    assert_eq!(env.show(&id)["state"], "review");
    assert!(
        env.containers(&[]).is_empty(),
        "its container was stopped at review, not left running"
    );
    let marks = env.workspace_file(&id, "marks.txt");
    assert_eq!(
        marks, "one\ntwo\n",
        "the persisted call ran once; the rest ran after the restart"
    );
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert_eq!(logs.matches("echo one").count(), 1, "{logs}");
    assert!(
        logs.contains("reattached to its running container"),
        "{logs}"
    );
    env.assert_store_sound();

    // Approval dies after its commit, and asking again finishes it with that same
    // commit.
    crashing("after_commit", &["approve", "--force", &id]);
    assert_eq!(env.show(&id)["state"], "review");
    let out = env.drover(&["approve", "--force", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = env.show(&id);
    assert_eq!(shown["state"], "approved");
    let branch = shown["branch"].as_str().unwrap();
    let count = Command::new("git")
        .args(["rev-list", "--count", &format!("main..{branch}")])
        .current_dir(&env.repo)
        .output()
        .unwrap();
    assert_eq!(
        text(&count.stdout).trim(),
        "1",
        "one approval commit, not two"
    );
    env.assert_store_sound();

    // A container started but not yet recorded, nothing run in it: the next engine finds
    // it (by its name), replaces it and runs the task.
    let second = env.add("Second", "[[step]]\nrun = \"true\"\n");
    crashing("after_container_start", &["run"]);
    assert_eq!(
        env.containers(&[]).len(),
        1,
        "left running by the dead process"
    );
    env.drover(&["run"]);
    assert_eq!(env.show(&second)["state"], "review");
    assert!(env.containers(&[]).is_empty());
    env.assert_store_sound();
}

/// ISO-05: a fork bomb stays inside the container's pids limit: the command is stopped
/// by its timeout, the transcript names the limit, drover keeps answering meanwhile and
/// the task ends.
#[test]
fn iso_05_a_fork_bomb_is_contained_by_the_pids_limit() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    // Small limits so the bomb cannot slow the other tests sharing this machine; a
    // timeout long enough that "drover answered while the bomb ran" is decided by
    // Docker's word that the container still runs, not by a clock on a loaded machine.
    env.write_config("[limits]\npids = 64\ncpus = 0.5\ncommand_timeout = \"12s\"\n");
    let id = env.add(
        "Fork bomb",
        // The shell then waits without a fork, so only the timeout ends the call.
        "[[step]]\nrun = \"echo bomb-$((6*7)); b() { b | b & }; b; exec sleep 60\"\n",
    );
    let mut child = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let processes = |container: &str| {
        let top = Command::new("docker")
            .args(["top", container, "-o", "pid"])
            .output()
            .unwrap();
        text(&top.stdout).lines().count().saturating_sub(1)
    };
    // Positive control: the bomb went off (it fills the pids limit).
    let container = wait_for(60, "the bomb to go off", || {
        let c = env.containers(&[]).pop()?;
        (processes(&c) >= 32).then_some(c)
    });
    let list = env.drover(&["list"]);
    assert!(list.status.success());
    assert_eq!(
        env.containers(&["--filter", "status=running"]),
        std::slice::from_ref(&container),
        "drover answered while the bomb ran"
    );
    let count = processes(&container);
    assert!(count <= 64, "{count} processes, over the limit of 64");
    assert!(child.wait().unwrap().code().is_some(), "drover run ended");
    assert_ne!(env.show(&id)["state"], "running", "the task ended");
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(
        logs.contains("bomb-42"),
        "positive control: the command ran"
    );
    assert!(
        logs.contains("timed out"),
        "the timeout ended it: {logs:.3000}"
    );
    assert!(
        logs.contains("[process limit reached")
            || logs.contains("Resource temporarily unavailable"),
        "{}",
        &logs[..logs.len().min(3000)]
    );
}
