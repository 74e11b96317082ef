//! Environment snapshots: queue → first tool call of a task whose setup (a Python
//! virtual environment, `python3 -m venv .venv`) is kept as a snapshot, against the
//! same task running setup each time and against a raw `docker run --rm SNAPSHOT true`;
//! and the disk a snapshot costs.
//!
//! Run: `cargo bench --bench environment` (needs Docker and the worker image). Each
//! round uses a fresh data dir: its first task runs setup and makes the snapshot, its
//! second starts from it. Not a test: nothing here passes or fails on a number.

#![allow(unreachable_pub, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command as Proc;
use std::time::{Duration, Instant};

use drover::client::Connection;
use drover::config::OnQuit;
use drover::host::{Host, HostOptions};
use drover::paths::DataDir;
use drover::protocol::{
    AgentSpec, Command, EntryKind, EventBody, HostKind, NewTask, PROTOCOL, ServerMsg,
};
use drover::runtime::Runtime;

mod common;
use common::{commit_all, git, ms, stats};

const ROUNDS: usize = 5;
const SETUP: &str = "setup = [\"python3 -m venv .venv\"]\ntest = \"true\"\n";

/// Queues one task on the engine of `conn`; time to its first tool result.
async fn first_call(conn: &mut Connection, repo: &Path, i: usize) -> Duration {
    let start = Instant::now();
    conn.command(Command::Queue {
        task: Box::new(NewTask {
            repo: repo.to_path_buf(),
            title: format!("bench {i}"),
            prompt: "bench".into(),
            agent: AgentSpec::Scripted {
                script: "[[step]]\nrun = \"true\"\n".into(),
                source: "bench.toml".into(),
            },
            origin: None,
            others: Vec::new(),
        }),
    })
    .expect("queue");
    loop {
        let msg = conn.next().await.expect("engine");
        let ServerMsg::Event { event: ev } = msg else {
            continue;
        };
        if let EventBody::Transcript { entry, .. } = &ev.body
            && matches!(entry.kind, EntryKind::ToolResult { .. })
        {
            return start.elapsed();
        }
    }
}

/// One round: (setup each time, from the snapshot, raw run of the snapshot, its bytes).
async fn round(rt: &Runtime, repo: &Path) -> (Duration, Duration, Duration, u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = DataDir::at(tmp.path().join("data")).expect("data");
    drover::config::repo::trust(&drover::config::repo::trust_file(data.root()), repo)
        .expect("trust the bench's config");
    let data_hash = data.hash();
    let mut host = Host::start(HostOptions {
        data,
        kind: HostKind::InProcess,
        scope: Some(repo.to_path_buf()),
        run_queue: true,
        max_parallel: 1,
        runtime: Some(Some(rt.clone()).into()),
    })
    .await
    .expect("host");
    let mut conn = Connection::over(host.pipe(), PROTOCOL)
        .await
        .expect("connect");
    conn.subscribe(Some(repo), None).expect("subscribe");
    let with_setup = first_call(&mut conn, repo, 0).await;
    // The first task rests before the second starts (one at a time).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let from_snapshot = first_call(&mut conn, repo, 1).await;
    drop(conn);
    host.quit(OnQuit::Stop).await;
    let images = rt.env_images(&data_hash).await.expect("snapshots");
    let snap = images.first().expect("a snapshot was made");
    let t = Instant::now();
    let ok = Proc::new("docker")
        .args(["run", "--rm", "--network", "none", &snap.tag, "true"])
        .output()
        .expect("docker run");
    assert!(ok.status.success(), "docker run of the snapshot failed");
    let raw = t.elapsed();
    let bytes = snap.own_bytes;
    for c in rt.list_managed(None).await.expect("docker") {
        if c.data.as_deref() == Some(&data_hash) {
            let _ = rt.remove(&c.id).await;
        }
    }
    for i in &images {
        let _ = rt.remove_image(&i.tag).await;
    }
    (with_setup, from_snapshot, raw, bytes)
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        let docker = Runtime::connect().await.expect("docker");
        let repo_dir = tempfile::tempdir().expect("tempdir");
        let repo = repo_dir.path().canonicalize().expect("canonical");
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("drover.toml"), SETUP).expect("config");
        std::fs::write(repo.join(".gitignore"), ".venv/\n").expect("ignore");
        std::fs::write(repo.join("requirements.txt"), "\n").expect("requirements");
        commit_all(&repo);
        let (mut setup, mut snap, mut raw, mut bytes) = (vec![], vec![], vec![], vec![]);
        round(&docker, &repo).await; // warm-up
        for _ in 0..ROUNDS {
            let (a, b, c, d) = round(&docker, &repo).await;
            setup.push(ms(a));
            snap.push(ms(b));
            raw.push(ms(c));
            bytes.push(d as f64);
        }
        let (sm, slo, shi) = stats(&mut setup);
        let (nm, nlo, nhi) = stats(&mut snap);
        let (rm, rlo, rhi) = stats(&mut raw);
        let (bm, _, _) = stats(&mut bytes);
        println!("docker {}, {ROUNDS} rounds\n", docker.version());
        println!("| figure | median ms | min–max ms |");
        println!("|---|---|---|");
        println!("| queue → first tool result, setup each time (`python3 -m venv .venv`) | {sm:.0} | {slo:.0}–{shi:.0} |");
        println!("| queue → first tool result, from the snapshot | {nm:.0} | {nlo:.0}–{nhi:.0} |");
        println!("| raw `docker run --rm SNAPSHOT true` | {rm:.0} | {rlo:.0}–{rhi:.0} |");
        println!("| ratio from snapshot ÷ raw (medians) | {:.2}× | |", nm / rm);
        println!("| disk of one snapshot (its own layer) | {:.1} MiB | |", bm / (1 << 20) as f64);
    });
}
