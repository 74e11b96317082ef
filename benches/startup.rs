//! Task start latency: queue → first tool call in the container, next to a raw
//! `docker run --rm IMAGE true` on the same image, measured alternately.
//!
//! Run: `cargo bench --bench startup` (needs Docker and the worker image:
//! `drover image build`). Prints a table of medians and spreads. Not a test: nothing
//! here passes or fails on a number.

use std::path::Path;
use std::process::Command as Proc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover::config::Config;
use drover::engine::bus::EventBus;
use drover::engine::protocol::{Command, EventBody};
use drover::engine::task::{AgentSpec, NewTask};
use drover::engine::transcript::EntryKind;
use drover::engine::{self, EngineCtx, EngineOptions};
use drover::paths::DataDir;
use drover::runtime::{Runtime, image};
use drover::store::Store;

mod common;
use common::{commit_all, git};

const ROUNDS: usize = 7;

fn make_repo(dir: &Path) {
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "bench\n").expect("write");
    commit_all(dir);
}

/// `n` concurrent `docker run --rm IMAGE true`; wall time of each.
fn raw_docker(image: &str, n: usize) -> Vec<Duration> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let image = image.to_string();
            std::thread::spawn(move || {
                let t = Instant::now();
                let ok = Proc::new("docker")
                    .args(["run", "--rm", "--network", "none", &image, "true"])
                    .output();
                assert!(
                    ok.map(|o| o.status.success()).unwrap_or(false),
                    "docker run failed"
                );
                t.elapsed()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect()
}

/// `n` tasks queued at once; per task, time from queue to the first tool call's result
/// (the exec of `true` has run and returned).
async fn drover_tasks(rt: &Runtime, n: usize) -> Vec<Duration> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    make_repo(&repo);
    let data = DataDir::at(tmp.path().join("data")).expect("data");
    let store = Store::open(&data.db()).expect("store");
    let bus = Arc::new(EventBus::default());
    let mut rx = bus.subscribe();
    let ctx = EngineCtx {
        store: Arc::new(store),
        bus,
        runtime: Some(rt.clone()).into(),
        data,
    };
    let opts = EngineOptions {
        max_parallel: n,
        repo: None,
        run_queue: true,
        poll: Duration::from_millis(50),
    };
    let handle = engine::start(ctx, opts);
    let script = "[[step]]\nrun = \"true\"\n".to_string();
    let start = Instant::now();
    for i in 0..n {
        handle.send(Command::Queue {
            task: NewTask {
                repo: repo.clone(),
                title: format!("bench {i}"),
                prompt: "bench".into(),
                agent: AgentSpec::Scripted {
                    script: script.clone(),
                    source: "bench.toml".into(),
                },
                origin: None,
            },
        });
    }
    let mut times = Vec::new();
    while times.len() < n {
        let Some(ev) = rx.recv().await else { break };
        if let EventBody::Transcript { entry } = &ev.body
            && matches!(entry.kind, EntryKind::ToolResult { .. })
        {
            times.push(start.elapsed());
        }
    }
    handle.shutdown().await;
    let _ = rt_cleanup(rt, &repo).await;
    times
}

async fn rt_cleanup(rt: &Runtime, repo: &Path) -> Result<(), drover::runtime::RuntimeError> {
    let hash = drover::workspace::repo_hash(&repo.canonicalize().unwrap_or(repo.to_path_buf()));
    for c in rt.list_managed(None).await? {
        let info = rt.docker().inspect_container(&c.id, None).await;
        let ours = info
            .ok()
            .and_then(|i| i.config)
            .and_then(|c| c.labels)
            .is_some_and(|l| l.get("drover.repo") == Some(&hash));
        if ours {
            rt.remove(&c.id).await?;
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async {
        let docker = Runtime::connect()
            .await
            .expect("docker (is the daemon running?)");
        let img = image::task_image(&Config::default(), None).expect("image tag");
        docker
            .require_image(&img)
            .await
            .expect("worker image (run `drover image build`)");
        println!(
            "docker {}, image {img}, {ROUNDS} rounds, alternating\n",
            docker.version()
        );
        println!("| figure | median ms | min–max ms |");
        println!("|---|---|---|");
        for n in [1usize, 8] {
            let (mut raw, mut ours) = (Vec::new(), Vec::new());
            // Warm both paths once, then alternate so drift hits both equally.
            raw_docker(&img, n);
            drover_tasks(&docker, n).await;
            for _ in 0..ROUNDS {
                raw.extend(raw_docker(&img, n).into_iter().map(ms));
                ours.extend(drover_tasks(&docker, n).await.into_iter().map(ms));
            }
            let (rm, rlo, rhi) = stats(&mut raw);
            let (om, olo, ohi) = stats(&mut ours);
            println!(
                "| raw `docker run --rm IMAGE true`, {n} concurrent | {rm:.0} | {rlo:.0}–{rhi:.0} |"
            );
            println!(
                "| drover queue → first tool result, {n} concurrent | {om:.0} | {olo:.0}–{ohi:.0} |"
            );
            println!("| ratio (medians), {n} concurrent | {:.2}× | |", om / rm);
        }
    });
}
