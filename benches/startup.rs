//! Task start latency: queue → first tool call in the container, next to a raw
//! `docker run --rm IMAGE true` on the same image, measured alternately; and the same
//! with a warm pool (`warm_pool = n`) whose containers are ready before the tasks come,
//! next to a raw `docker exec` (a warm start's floor). Then both for a repository of
//! 10,000 files, where the pool's ready checkout counts too.
//!
//! Run: `cargo bench --bench startup` (needs Docker and the worker image:
//! `drover image build`). Prints a table of medians and spreads. Not a test: nothing
//! here passes or fails on a number.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command as Proc;
use std::time::{Duration, Instant};

use drover::client::Connection;
use drover::config::{Config, OnQuit};
use drover::host::{Host, HostOptions};
use drover::paths::DataDir;
use drover::protocol::{
    AgentSpec, Command, EntryKind, EventBody, HostKind, NewTask, PROTOCOL, ServerMsg,
};
use drover::runtime::{Runtime, image};

mod common;
use common::{commit_all, git, ms, source_files, stats};

const ROUNDS: usize = 7;
/// Files in the large repository.
const BIG: usize = 10_000;

/// A repository of one file, or of `files` generated ones.
fn make_repo(dir: &Path, files: usize) {
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "bench\n").expect("write");
    source_files(dir, files);
    commit_all(dir);
}

/// Waits until `n` pool containers of data dir `data` run (and a moment more, for the
/// engine to hear so).
async fn pool_ready(rt: &Runtime, data: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let up = rt
            .list_managed(None)
            .await
            .expect("docker")
            .into_iter()
            .filter(|c| {
                c.data.as_deref() == Some(data)
                    && c.pool.is_some()
                    && c.task.is_none()
                    && c.state == "running"
            })
            .count();
        if up >= n {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return;
        }
        assert!(Instant::now() < deadline, "the warm pool did not fill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

/// `n` concurrent `docker exec C true`, each into its own running container (started
/// beforehand, untimed): the floor of a warm start, whose first tool call is an exec.
fn raw_exec(image: &str, n: usize) -> Vec<Duration> {
    let ids: Vec<String> = (0..n)
        .map(|_| {
            let out = Proc::new("docker")
                .args([
                    "run",
                    "-d",
                    "--init",
                    "--network",
                    "none",
                    image,
                    "sleep",
                    "infinity",
                ])
                .output()
                .expect("docker run");
            assert!(out.status.success(), "docker run -d failed");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    let handles: Vec<_> = ids
        .iter()
        .map(|id| {
            let id = id.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let ok = Proc::new("docker").args(["exec", &id, "true"]).output();
                assert!(
                    ok.map(|o| o.status.success()).unwrap_or(false),
                    "docker exec failed"
                );
                t.elapsed()
            })
        })
        .collect();
    let times = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let _ = Proc::new("docker").args(["rm", "-f"]).args(&ids).output();
    times
}

/// `n` tasks queued at once; per task, time from queue to the first tool call's result
/// (the exec of `true` has run and returned). With `warm`, a pool of `n` is ready first.
/// The repository's config lets `n` run at once (the default is the core count). The
/// data dir goes into `kept`: deleting thousands of files makes ext4 slow to create the
/// next ones, which would measure the order of the runs, not drover.
async fn drover_tasks(
    rt: &Runtime,
    repo: &Path,
    n: usize,
    warm: bool,
    extra: &str,
    kept: &mut Vec<tempfile::TempDir>,
) -> Vec<Duration> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "max_parallel = {n}\nwarm_pool = {}\n{extra}",
        if warm { n } else { 0 }
    );
    std::fs::write(repo.join("drover.toml"), config).expect("write");
    let repo = repo.canonicalize().expect("canonical");
    let data = DataDir::at(tmp.path().join("data")).expect("data");
    // A repository's own config may only lower `warm_pool` until the user trusts it.
    drover::config::repo::trust(&drover::config::repo::trust_file(data.root()), &repo)
        .expect("trust the bench's config");
    let data_hash = data.hash();
    let mut host = Host::start(HostOptions {
        data,
        kind: HostKind::InProcess,
        scope: Some(repo.clone()),
        run_queue: true,
        max_parallel: n,
        runtime: Some(Some(rt.clone()).into()),
    })
    .await
    .expect("host");
    let mut conn = Connection::over(host.pipe(), PROTOCOL)
        .await
        .expect("connect");
    conn.subscribe(Some(&repo), None).expect("subscribe");
    if warm {
        pool_ready(rt, &data_hash, n).await;
    }
    let script = "[[step]]\nrun = \"true\"\n".to_string();
    let start = Instant::now();
    for i in 0..n {
        conn.command(Command::Queue {
            task: Box::new(NewTask {
                repo: repo.clone(),
                title: format!("bench {i}"),
                prompt: "bench".into(),
                agent: AgentSpec::Scripted {
                    script: script.clone(),
                    source: "bench.toml".into(),
                },
                origin: None,
                others: Vec::new(),
            }),
        })
        .expect("queue");
    }
    let mut times = Vec::new();
    while times.len() < n {
        let Ok(msg) = conn.next().await else { break };
        let ServerMsg::Event { event: ev } = msg else {
            continue;
        };
        if let EventBody::Transcript { entry, .. } = &ev.body
            && matches!(entry.kind, EntryKind::ToolResult { .. })
        {
            times.push(start.elapsed());
        }
    }
    drop(conn);
    host.quit(OnQuit::Stop).await;
    let _ = rt_cleanup(rt, &data_hash).await;
    kept.push(tmp);
    times
}

/// Removes the containers of data dir `data` (the tasks' own; the pool's are gone).
async fn rt_cleanup(rt: &Runtime, data: &str) -> Result<(), drover::runtime::RuntimeError> {
    for c in rt.list_managed(None).await? {
        if c.data.as_deref() == Some(data) {
            rt.remove(&c.id).await?;
        }
    }
    Ok(())
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
        let mut kept = Vec::new();
        let small = tempfile::tempdir().expect("tempdir");
        make_repo(small.path(), 0);
        // Behind the egress proxy against no network at all, alternated.
        let allowlist = "network = \"allowlist\"\nallow = [\"127.0.0.1\"]\n";
        let (mut none, mut proxied) = (Vec::new(), Vec::new());
        drover_tasks(&docker, small.path(), 1, false, allowlist, &mut kept).await;
        for _ in 0..ROUNDS {
            none.extend(drover_tasks(&docker, small.path(), 1, false, "", &mut kept).await.into_iter().map(ms));
            proxied.extend(drover_tasks(&docker, small.path(), 1, false, allowlist, &mut kept).await.into_iter().map(ms));
        }
        let (nm, nlo, nhi) = stats(&mut none);
        let (pm, plo, phi) = stats(&mut proxied);
        println!("| drover queue → first tool result, network none, 1 task | {nm:.0} | {nlo:.0}–{nhi:.0} |");
        println!("| the same, network allowlist (proxy, forwarder, self-test) | {pm:.0} | {plo:.0}–{phi:.0} |");
        println!("| ratio allowlist ÷ none (medians) | {:.2}× | |", pm / nm);
        if std::env::var("STARTUP_ONLY").as_deref() == Ok("network") {
            return;
        }
        for n in [1usize, 8] {
            let (mut raw, mut ours) = (Vec::new(), Vec::new());
            // Warm both paths once, then alternate so drift hits both equally.
            raw_docker(&img, n);
            drover_tasks(&docker, small.path(), n, false, "", &mut kept).await;
            let (mut warm, mut exec) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                raw.extend(raw_docker(&img, n).into_iter().map(ms));
                ours.extend(drover_tasks(&docker, small.path(), n, false, "", &mut kept).await.into_iter().map(ms));
                exec.extend(raw_exec(&img, n).into_iter().map(ms));
                warm.extend(drover_tasks(&docker, small.path(), n, true, "", &mut kept).await.into_iter().map(ms));
            }
            let (rm, rlo, rhi) = stats(&mut raw);
            let (om, olo, ohi) = stats(&mut ours);
            let (em, elo, ehi) = stats(&mut exec);
            let (wm, wlo, whi) = stats(&mut warm);
            println!(
                "| raw `docker run --rm IMAGE true`, {n} concurrent | {rm:.0} | {rlo:.0}–{rhi:.0} |"
            );
            println!(
                "| drover queue → first tool result, {n} concurrent | {om:.0} | {olo:.0}–{ohi:.0} |"
            );
            println!("| ratio (medians), {n} concurrent | {:.2}× | |", om / rm);
            println!(
                "| raw `docker exec C true` into running containers, {n} concurrent | {em:.0} | {elo:.0}–{ehi:.0} |"
            );
            println!(
                "| drover queue → first tool result, warm pool of {n}, {n} concurrent | {wm:.0} | {wlo:.0}–{whi:.0} |"
            );
        }
        let big = tempfile::tempdir().expect("tempdir");
        make_repo(big.path(), BIG);
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            cold.extend(drover_tasks(&docker, big.path(), 1, false, "", &mut kept).await.into_iter().map(ms));
            warm.extend(drover_tasks(&docker, big.path(), 1, true, "", &mut kept).await.into_iter().map(ms));
        }
        let (cm, clo, chi) = stats(&mut cold);
        let (wm, wlo, whi) = stats(&mut warm);
        println!(
            "| {BIG}-file repository: drover queue → first tool result, 1 task | {cm:.0} | {clo:.0}–{chi:.0} |"
        );
        println!(
            "| the same, warm pool of 1 | {wm:.0} | {wlo:.0}–{whi:.0} |"
        );
    });
}
