//! Attaching to a store of many tasks: the TUI's way in, from nothing to the first frame.
//!
//! - daemon: connect to a running daemon (the real binary), say hello, subscribe, receive
//!   the snapshot, fold it into the real `App` and render it to a 200×50 TestBackend;
//! - in-process (`--no-daemon`): start an engine host on the store, connect to it over
//!   channels, receive its snapshot, fold and render the same way;
//! - the process: `drover --version`, what starting the binary costs on top.
//!
//! Run: `cargo bench --bench attach`. Prints a table of medians and spreads. Needs no
//! Docker (the tasks rest in review; the daemon runs without it). Not a test.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command as Proc;
use std::time::{Duration, Instant};

use drover::client::Connection;
use drover::config::OnQuit;
use drover::host::{Host, HostOptions, socket_path};
use drover::keymap::Keymap;
use drover::paths::DataDir;
use drover::protocol::{
    AgentSpec, HostKind, NewTask, PROTOCOL, ServerMsg, TaskSnapshot, TaskState,
};
use drover::store::Store;
use drover::ui::app::{App, Header, Msg};

mod common;
use common::{commit_all, git, spread};

const ROUNDS: usize = 15;

/// A repository and a data dir holding `n` tasks resting in review.
fn fixture(n: usize) -> (tempfile::TempDir, std::path::PathBuf, DataDir) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "bench\n").expect("write");
    commit_all(&repo);
    let data = DataDir::at(tmp.path().join("data")).expect("data dir");
    let store = Store::open(&data.db()).expect("store");
    for i in 0..n {
        let new = NewTask {
            repo: repo.clone(),
            title: format!("Task number {i}: fix the thing in module {}", i % 17),
            prompt: "bench".into(),
            agent: AgentSpec::Scripted {
                script: String::new(),
                source: "bench.toml".into(),
            },
            origin: None,
            others: Vec::new(),
        };
        let (t, _) = drover::engine::add(&store, data.root(), new).expect("add");
        store
            .set_state(&t.id, 1, &TaskState::Queued, &TaskState::Review)
            .expect("state");
        store
            .update_attempt(&t.id, 1, |a| {
                a.started_at = Some("2026-11-22T10:00:00Z".into());
                a.finished_at = Some("2026-11-22T10:02:00Z".into());
                a.summary = Some("Fixed it and added a test.".into());
            })
            .expect("attempt");
    }
    (tmp, repo.canonicalize().expect("canonical"), data)
}

fn app(repo: &Path) -> App {
    let header = Header {
        repo: repo.to_path_buf(),
        branch: Some("main".into()),
        commit: "0".repeat(40),
        docker: None,
        agent: "scripted".into(),
        all: false,
    };
    App::new(header, Keymap::builtin())
}

fn first_frame(app: &mut App) {
    common::Screen::new(200, 50).draw(app);
}

/// Subscribes `c` to `repo` and folds its whole snapshot into a new `App`, drawn once.
async fn snapshot_to_frame(mut c: Connection, repo: &Path, n: usize) {
    c.subscribe(Some(repo), None).expect("subscribe");
    let mut tasks: Vec<TaskSnapshot> = Vec::new();
    loop {
        if let ServerMsg::Snapshot {
            tasks: part, more, ..
        } = c.next().await.expect("next")
        {
            tasks.extend(part);
            if !more {
                break;
            }
        }
    }
    assert_eq!(tasks.len(), n);
    let mut a = app(repo);
    a.update(Msg::Snapshot(tasks));
    first_frame(&mut a);
}

async fn via_daemon(data: &DataDir, repo: &Path, n: usize) -> Duration {
    let socket = socket_path(data);
    let start = Instant::now();
    let c = Connection::connect(&socket).await.expect("connect");
    snapshot_to_frame(c, repo, n).await;
    start.elapsed()
}

async fn in_process(data: &DataDir, repo: &Path, n: usize) -> Duration {
    let start = Instant::now();
    let mut host = Host::start(HostOptions {
        data: data.clone(),
        kind: HostKind::InProcess,
        scope: Some(repo.to_path_buf()),
        run_queue: true,
        max_parallel: 4,
        runtime: Some(None.into()),
    })
    .await
    .expect("host");
    let c = Connection::over(host.pipe(), PROTOCOL)
        .await
        .expect("connect");
    snapshot_to_frame(c, repo, n).await;
    let took = start.elapsed();
    host.quit(OnQuit::Stop).await;
    took
}

#[tokio::main]
async fn main() {
    let bin = env!("CARGO_BIN_EXE_drover");
    println!("| figure | median (spread) |\n|---|---|");
    let version: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            let ok = Proc::new(bin).arg("--version").output().expect("drover");
            assert!(ok.status.success());
            t.elapsed()
        })
        .collect();
    println!(
        "| process start (`drover --version`) | {} |",
        spread(version)
    );
    for n in [100, 1000] {
        let (_tmp, repo, data) = fixture(n);
        let mut daemon = Proc::new(bin)
            .args(["daemon", "run"])
            .env("DROVER_HOME", data.root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("daemon");
        let socket = socket_path(&data);
        drover::client::connection::wait_until_up(&socket, Duration::from_secs(20))
            .await
            .expect("the daemon answers");
        let mut attach = Vec::new();
        let mut local = Vec::new();
        for _ in 0..ROUNDS {
            attach.push(via_daemon(&data, &repo, n).await);
        }
        if let Ok(c) = Connection::connect(&socket).await {
            let _ = c.stop();
        }
        let _ = daemon.wait();
        for _ in 0..ROUNDS {
            local.push(in_process(&data, &repo, n).await);
        }
        println!(
            "| attach to the daemon → first frame, {n} tasks | {} |",
            spread(attach)
        );
        println!(
            "| in-process engine start → first frame, {n} tasks | {} |",
            spread(local)
        );
    }
}
