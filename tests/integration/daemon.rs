//! The daemon: started in the background, reached over its socket
//! by several clients at once, refusing other protocol versions, other users' and a
//! second daemon; a reconnecting client gets exactly the events it missed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use drover::client::{ClientError, Connection as Client};
use drover::protocol::ServerMsg;
use drover::protocol::TaskState;
use drover::protocol::{AgentSpec, NewTask};
use drover::protocol::{Command, Event, EventBody};

use crate::common::*;

/// Stops the daemon when the test ends, however it ends.
struct Running<'a>(&'a Env);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self.0.drover(&["daemon", "stop"]);
    }
}

fn socket(env: &Env) -> PathBuf {
    env.data().join("daemon.sock")
}

/// Events from `c` until `done` says so; `Snapshot` gives its seq.
async fn events_until(
    c: &mut Client,
    what: &str,
    mut done: impl FnMut(&Event) -> bool,
) -> (Option<u64>, Vec<Event>) {
    let mut snapshot = None;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let msg = tokio::time::timeout_at(deadline, c.next())
            .await
            .unwrap_or_else(|_| panic!("waited 90s for {what}"))
            .unwrap();
        match msg {
            ServerMsg::Snapshot { seq, .. } => snapshot = Some(seq),
            ServerMsg::Event { event } => {
                let stop = done(&event);
                seen.push(event);
                if stop {
                    return (snapshot, seen);
                }
            }
            _ => {}
        }
    }
}

fn reached_review(ev: &Event) -> bool {
    matches!(
        ev.body,
        EventBody::StateChanged {
            to: TaskState::Review,
            ..
        }
    )
}

fn task(repo: &Path) -> NewTask {
    NewTask {
        repo: repo.to_path_buf(),
        title: "Through the daemon".into(),
        prompt: "mark".into(),
        agent: AgentSpec::Scripted {
            script: "[[step]]\nrun = \"echo via-daemon >> marks.txt\"\n".into(),
            source: "t.toml".into(),
        },
        origin: None,
        others: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_serves_several_clients_and_refuses_what_it_must() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    let out = env.drover(&["daemon", "start"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _running = Running(&env);
    let started = text(&out.stdout);
    assert!(started.contains("drover daemon started (pid"), "{started}");

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(socket(&env))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the socket is the user's alone");
    let status = env.drover(&["daemon", "status"]);
    assert_eq!(status.status.code(), Some(0));
    let mut probe = Client::connect(&socket(&env)).await.unwrap();
    assert!(text(&status.stdout).contains(&format!("(pid {})", probe.pid())));

    // Bug 8: with no model configured, a task for the built-in agent is refused when
    // queued, saying how to configure one (as `drover add` does), and nothing is queued.
    if std::env::var_os("ANTHROPIC_API_KEY").is_none()
        && std::env::var_os("OPENAI_API_KEY").is_none()
    {
        let mut builtin = task(&env.repo);
        builtin.agent = AgentSpec::Builtin { provider: None };
        let refused = probe
            .request(Command::Queue {
                task: Box::new(builtin),
            })
            .await
            .unwrap();
        let Err(e) = refused else {
            panic!("queued with no model: {refused:?}")
        };
        assert!(e.to_string().contains("no LLM agent configured"), "{e}");
        assert!(text(&env.drover(&["list"]).stderr).contains("no tasks"));
    }

    // A second daemon on the same data dir refuses, naming the first.
    let second = env.drover(&["daemon", "run"]);
    assert_eq!(second.status.code(), Some(2));
    assert!(
        text(&second.stderr).contains(&format!("another drover engine (pid {})", probe.pid())),
        "{}",
        text(&second.stderr)
    );

    // Another protocol version gets a reason naming both.
    match Client::connect_as(&socket(&env), 999).await {
        Err(ClientError::Version { theirs, reason, .. }) => {
            assert_eq!(theirs, drover::protocol::PROTOCOL);
            assert!(
                reason.contains(&format!("protocol {}", drover::protocol::PROTOCOL))
                    && reason.contains("protocol 999"),
                "{reason}"
            );
            assert!(reason.contains("drover daemon stop"), "{reason}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a client of another protocol was welcomed"),
    }

    // Two clients watch; one queues a task; both see the same events.
    let mut a = Client::connect(&socket(&env)).await.unwrap();
    let mut b = Client::connect(&socket(&env)).await.unwrap();
    a.subscribe(Some(&env.repo), None).unwrap();
    b.subscribe(Some(&env.repo), None).unwrap();
    let reply = probe
        .request(Command::Queue {
            task: Box::new(task(&env.repo)),
        })
        .await
        .unwrap();
    let Ok(drover::protocol::Reply::Queued { id, .. }) = reply else {
        panic!("{reply:?}")
    };
    let id = id.to_string();
    let (snap_a, seen_a) = events_until(&mut a, "review (a)", reached_review).await;
    let (snap_b, seen_b) = events_until(&mut b, "review (b)", reached_review).await;
    let after = snap_a.unwrap().max(snap_b.unwrap());
    let tail = |v: &[Event]| -> Vec<(u64, String)> {
        v.iter()
            .filter(|e| e.seq > after)
            .map(|e| (e.seq, serde_json::to_string(&e.body).unwrap()))
            .collect()
    };
    assert!(tail(&seen_a).len() > 5, "{seen_a:?}");
    assert_eq!(tail(&seen_a), tail(&seen_b), "identical streams");
    let marks = env.workspace_file(&id, "marks.txt");
    assert_eq!(marks, "via-daemon\n");

    // A client that left after some event gets exactly what followed, no snapshot.
    let cut = seen_a[seen_a.len() / 2].seq;
    let mut c = Client::connect(&socket(&env)).await.unwrap();
    c.subscribe(Some(&env.repo), Some(cut)).unwrap();
    let expected: Vec<u64> = seen_a.iter().map(|e| e.seq).filter(|s| *s > cut).collect();
    let (snap_c, seen_c) = events_until(&mut c, "the missed events", reached_review).await;
    assert_eq!(snap_c, None, "caught up from the backlog");
    assert_eq!(seen_c.iter().map(|e| e.seq).collect::<Vec<_>>(), expected);

    // A new client's snapshot has the task in review; another repository's scope has none.
    let mut d = Client::connect(&socket(&env)).await.unwrap();
    d.subscribe(Some(&env.repo), None).unwrap();
    match d.next().await.unwrap() {
        ServerMsg::Snapshot { tasks, .. } => {
            assert_eq!(tasks.len(), 1);
            assert_eq!(tasks[0].task.state, TaskState::Review);
        }
        other => panic!("{other:?}"),
    }
    let mut e = Client::connect(&socket(&env)).await.unwrap();
    e.subscribe(Some(Path::new("/elsewhere")), None).unwrap();
    match e.next().await.unwrap() {
        ServerMsg::Snapshot { tasks, .. } => assert!(tasks.is_empty()),
        other => panic!("{other:?}"),
    }

    let stopped = env.drover(&["daemon", "stop"]);
    assert!(stopped.status.success(), "{}", text(&stopped.stderr));
    assert!(!socket(&env).exists(), "the socket is removed");
    assert_eq!(env.drover(&["daemon", "status"]).status.code(), Some(3));
}

/// `drover add` starts the daemon on demand; `drover run` follows it. The daemon is
/// killed with -9 in the middle of a command: the following client starts a new daemon,
/// which reattaches the task, and the run ends in review as if nothing happened. The
/// command the dead daemon waited on is not run again.
#[test]
fn kill_9_of_the_daemon_mid_task_is_survived_by_the_client_following_it() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"python3 -m unittest -v\"\n");
    let script = env.home.path().join("slow.toml");
    std::fs::write(
        &script,
        "[[step]]\nrun = \"echo before >> marks.txt\"\n[[step]]\nrun = \"sleep 20; echo slept >> marks.txt\"\n[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n[[step]]\nrun = \"echo after >> marks.txt\"\n",
    )
    .unwrap();
    let _running = Running(&env);
    let out = env
        .daemon_command(&[
            "add",
            "--script",
            script.to_str().unwrap(),
            "--title",
            "Outlive the daemon",
            "fix add",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let first = env.daemon_pid().expect("a daemon runs");

    let follower = env
        .daemon_command(&["run"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(90, "the long command to run", || {
        running_in(&id, "sleep 20").then_some(())
    });
    std::process::Command::new("kill")
        .args(["-KILL", &first.to_string()])
        .status()
        .unwrap();

    let done = follower.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&done.stdout), text(&done.stderr));
    assert_eq!(done.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stderr.contains("lost the daemon"), "{stderr}");
    let second = env.daemon_pid().expect("a daemon runs");
    assert_ne!(second, first, "a new daemon");
    assert!(
        stderr.contains(&format!("following the daemon again (pid {second})")),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 task(s) ran, 1 reached review with passing tests"),
        "{stderr}"
    );
    assert_eq!(env.show(&id)["state"], "review");
    // Reattached, not started over: the first mark once, the cut-off command not again.
    assert_eq!(env.workspace_file(&id, "marks.txt"), "before\nafter\n");
    assert!(
        env.transcript(&id, 1)
            .contains("reattached to its running container"),
        "{}",
        env.transcript(&id, 1)
    );
}

/// The link's next update, within 20 s.
async fn next(link: &mut drover::client::Attachment) -> drover::client::Update {
    tokio::time::timeout(Duration::from_secs(20), link.recv())
        .await
        .expect("an update within 20 s")
        .expect("the link is up")
}

/// A daemon stopped on purpose is not started again by the clients attached to it: they
/// say so and wait; when someone starts one, they attach again and, as it is another run
/// of the daemon, get a fresh snapshot rather than sequence numbers of the old one.
#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_stopped_on_purpose_is_waited_for_not_restarted() {
    use drover::client::{Attachment, Update};
    let env = Env::python_bug();
    let _running = Running(&env);
    assert!(env.drover(&["daemon", "start"]).status.success());
    let data = drover::paths::DataDir::at(env.data()).unwrap();
    let client = Client::connect(&socket(&env)).await.unwrap();
    let first = client.pid();
    let mut link = Attachment::attach(client, None, Some(data));
    assert!(matches!(next(&mut link).await, Update::Snapshot(_)));

    let stopped = env.drover(&["daemon", "stop"]);
    assert!(stopped.status.success(), "{}", text(&stopped.stderr));
    loop {
        match next(&mut link).await {
            Update::Lost(why) => {
                assert!(why.contains("the daemon stopped"), "{why}");
                break;
            }
            Update::Event(_) => {}
            other => panic!("{other:?}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(link.try_recv().is_none(), "nothing happens meanwhile");
    assert_eq!(
        env.drover(&["daemon", "status"]).status.code(),
        Some(3),
        "not started again"
    );

    assert!(env.drover(&["daemon", "start"]).status.success());
    match next(&mut link).await {
        Update::Back(pid) => assert_ne!(pid, first),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(next(&mut link).await, Update::Snapshot(_)),
        "another run of the daemon: a snapshot"
    );
}

/// A 150 MB diff: every message stays bounded (the patch comes in pages of at most
/// `PAGE`, the rest on request), `drover run` following the daemon ends normally, and
/// the daemon's peak memory stays under 200 MiB.
#[tokio::test(flavor = "multi_thread")]
async fn a_150_mb_diff_travels_in_pages_and_the_daemon_stays_small() {
    use drover::protocol::{LongText, PAGE, Reply};
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    assert!(env.drover(&["daemon", "start"]).status.success());
    let _running = Running(&env);
    let pid = env.daemon_pid().expect("a daemon runs");
    let mut c = Client::connect(&socket(&env)).await.unwrap();
    c.subscribe(Some(&env.repo), None).unwrap();
    // 150 files of 1 MB of text each.
    let script = "[[step]]\nrun = \"python3 -c \\\"import os\\nos.makedirs('gen')\\nfor i in range(150):\\n    open(f'gen/f{i}.txt','w').write(''.join(f'line {j:>7} of file {i:>3} with padding to 48\\\\\\\\n' for j in range(21846)))\\\"\"\n";
    let mut big = task(&env.repo);
    big.title = "Write 150 MB".into();
    big.agent = AgentSpec::Scripted {
        script: script.into(),
        source: "big.toml".into(),
    };
    let queued = c
        .request(Command::Queue {
            task: Box::new(big),
        })
        .await
        .unwrap();
    let id = queued.expect("queued").task().expect("a task").clone();
    let run = env.drover(&["run"]);
    assert!(
        run.status.success(),
        "drover run ended: {}",
        text(&run.stderr)
    );

    let (_, seen) = events_until(&mut c, "review", reached_review).await;
    let diffs: Vec<_> = seen
        .iter()
        .filter_map(|e| match &e.body {
            EventBody::DiffUpdated { diff, patch } => Some((diff, patch)),
            _ => None,
        })
        .collect();
    let (summary, patch) = diffs.last().expect("the diff was announced");
    // Positive control: the whole diff was seen and counted.
    assert_eq!(summary.files_changed(), 150, "{summary:?}");
    assert_eq!(summary.insertions, 150 * 21846);
    for (_, p) in &diffs {
        assert!(p.text.len() <= PAGE, "a page of {} bytes", p.text.len());
    }
    assert!(
        patch.total > 2 * PAGE as u64,
        "the patch is longer than a page"
    );
    let from = patch.text.len() as u64;
    let Ok(Reply::Page { page, .. }) = c
        .request(Command::Page {
            id: id.clone(),
            text: LongText::Patch,
            from,
            attempt: None,
        })
        .await
        .unwrap()
    else {
        panic!("a page")
    };
    assert_eq!(page.from, from);
    assert_eq!(
        page.total, patch.total,
        "a page of the patch that was announced"
    );
    assert!(!page.text.is_empty() && page.text.len() <= PAGE);
    assert!(page.text.contains("+line"), "it continues the patch");

    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    assert!(
        peak_kib < 200 * 1024,
        "the daemon peaked at {} MiB",
        peak_kib / 1024
    );
}
