//! TUI cost with 32 tasks streaming: engine events → App::update → render to a 200×50
//! TestBackend, drained in batches like the real loop. Then the real binary idling in tmux.
//!
//! Run: `cargo bench --bench ui` (the idle part needs Docker, tmux and the worker image;
//! it is skipped with a note otherwise). Prints a table; nothing passes or fails.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

use std::process::Command as Proc;
use std::time::{Duration, Instant};

use drover::protocol::EventBody;
use drover::protocol::ToolCall;
use drover::protocol::{Entry, EntryKind};
use drover::ui::app::{App, Msg};

mod common;
use common::{Screen, app, commit_all, ev, git, percentile};

const TASKS: usize = 32;

/// One round: every task gets a tool call whose output is `lines` lines, then its result.
fn round(app: &mut App, r: usize, lines: usize) -> usize {
    let mut n = 0;
    for t in 0..TASKS {
        let call = r as u32 + 1;
        let tool = ToolCall::Bash {
            command: format!("make step-{r}"),
            timeout_secs: None,
        };
        app.update(Msg::Engine(ev(
            t,
            EventBody::Transcript {
                entry: Entry {
                    at: String::new(),
                    kind: EntryKind::ToolCall { call, tool },
                },
                n: 2 * u64::from(call),
            },
        )));
        let chunk: String = (0..lines)
            .map(|l| format!("\x1b[32mcompiling\x1b[0m unit {r}.{l} of the build\n"))
            .collect();
        app.update(Msg::Engine(ev(
            t,
            EventBody::ToolOutput {
                call,
                chunk: chunk.clone(),
            },
        )));
        let result = EntryKind::ToolResult {
            call,
            ok: true,
            exit_code: Some(0),
            output: chunk,
            truncated: 0,
            duration_ms: 5,
            timed_out: false,
        };
        app.update(Msg::Engine(ev(
            t,
            EventBody::Transcript {
                entry: Entry {
                    at: String::new(),
                    kind: result,
                },
                n: 2 * u64::from(call) + 1,
            },
        )));
        n += lines;
    }
    n
}

fn streaming() {
    let mut app = app(TASKS);
    let mut term = Screen::new(200, 50);
    let (mut frames, mut ingest) = (Vec::new(), Duration::ZERO);
    let mut lines = 0;
    let started = Instant::now();
    for r in 0..200 {
        let t = Instant::now();
        lines += round(&mut app, r, 20);
        ingest += t.elapsed();
        let t = Instant::now();
        term.draw(&mut app);
        frames.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let total = started.elapsed();
    let transcript_len: usize = app.tasks.iter().map(|t| t.entries.len()).sum();
    println!("| lines ingested (32 tasks × 200 rounds × 20 lines) | {lines} |");
    println!(
        "| ingest rate, App::update only | {:.0} lines/s |",
        lines as f64 / ingest.as_secs_f64()
    );
    println!(
        "| ingest rate, update + one frame per batch | {:.0} lines/s |",
        lines as f64 / total.as_secs_f64()
    );
    println!(
        "| frame time p50 / p99 / max (selected task streaming) | {:.2} / {:.2} / {:.2} ms |",
        percentile(&mut frames, 0.5),
        percentile(&mut frames, 0.99),
        percentile(&mut frames, 1.0)
    );
    println!("| transcript entries held | {transcript_len} |");
}

/// CPU time of process `pid` so far, all threads, in nanoseconds (schedstat, not the
/// 10 ms ticks of /proc/PID/stat).
fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    // Threads may come and go while we read: skip the ones that are gone.
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let ns = std::fs::read_to_string(t.path().join("schedstat"))
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
            });
        total += ns.unwrap_or(0);
    }
    Some(total)
}

fn idle() {
    let have = |c: &str, a: &str| {
        Proc::new(c)
            .arg(a)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("tmux", "-V") || !have("docker", "version") {
        println!("| idle CPU | skipped: needs tmux and Docker |");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = env!("CARGO_BIN_EXE_drover");
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(
        repo.join("drover.toml"),
        "max_parallel = 32\ntest = \"true\"\n",
    )
    .expect("config");
    commit_all(&repo);
    let script = tmp.path().join("slow.toml");
    std::fs::write(
        &script,
        "[[step]]\nsay = \"thinking slowly\"\n[[step]]\nrun = \"sleep 120\"\n",
    )
    .expect("script");
    let envs = [
        ("DROVER_HOME", tmp.path().join("data")),
        ("XDG_CONFIG_HOME", tmp.path().join("cfg")),
    ];
    // The daemon's limit is the user's `max_parallel` (the repository's only caps its own).
    let user_config = tmp.path().join("cfg").join("drover");
    std::fs::create_dir_all(&user_config).expect("mkdir");
    std::fs::write(user_config.join("config.toml"), "max_parallel = 32\n").expect("config");
    for i in 0..TASKS {
        let out = Proc::new(bin)
            .args([
                "add",
                "--script",
                script.to_str().unwrap_or(""),
                "--title",
                &format!("slow {i}"),
                "wait",
            ])
            .current_dir(&repo)
            .envs(envs.clone())
            .output()
            .expect("add");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sock = format!("drover-bench-{}", std::process::id());
    let mut tm = Proc::new("tmux");
    tm.args([
        "-L",
        &sock,
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-x",
        "200",
        "-y",
        "50",
    ]);
    for (k, v) in &envs {
        tm.args(["-e", &format!("{k}={}", v.display())]);
    }
    tm.arg(format!("cd {} && exec {bin}", repo.display()));
    tm.status().expect("tmux");
    let capture = || {
        String::from_utf8_lossy(
            &Proc::new("tmux")
                .args(["-L", &sock, "capture-pane", "-p"])
                .output()
                .expect("capture")
                .stdout,
        )
        .into_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !capture().contains("32 running") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    let ready = capture().contains("32 running");
    let pid_of = |pattern: &str| {
        Proc::new("pgrep")
            .args(["-f", pattern])
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .last()
                    .and_then(|l| l.trim().parse::<u32>().ok())
            })
    };
    // The TUI, and the daemon it started, which runs the engine.
    let tui = pid_of(&format!("^{bin}$"));
    let daemon = pid_of(&format!("^{bin} daemon run"));
    match (ready, tui, daemon) {
        (true, Some(tui), Some(daemon)) => {
            // tokio's blocking threads (workspace creation) retire after 10 s idle, taking
            // their CPU time with them: measure after they are gone.
            std::thread::sleep(Duration::from_secs(12));
            let cpu = || cpu_ns(tui).unwrap_or(0) + cpu_ns(daemon).unwrap_or(0);
            let tui_cpu = || cpu_ns(tui).unwrap_or(0);
            let (a, ta, t0) = (cpu(), tui_cpu(), Instant::now());
            std::thread::sleep(Duration::from_secs(10));
            let (b, tb, secs) = (cpu(), tui_cpu(), t0.elapsed().as_secs_f64());
            let percent = |ns: u64| ns as f64 / 1e9 / secs * 100.0;
            println!(
                "| idle CPU, real binary, 32 tasks waiting on a slow agent, 10 s: TUI + daemon (TUI alone) | {:.2} % ({:.2} %) of one core |",
                percent(b.saturating_sub(a)),
                percent(tb.saturating_sub(ta)),
            );
        }
        _ => println!(
            "| idle CPU | could not reach 32 running tasks: {} |",
            capture().lines().next().unwrap_or("")
        ),
    }
    let _ = Proc::new("tmux")
        .args(["-L", &sock, "send-keys", "q"])
        .status();
    std::thread::sleep(Duration::from_secs(8));
    let _ = Proc::new("tmux")
        .args(["-L", &sock, "kill-server"])
        .stderr(std::process::Stdio::null())
        .status();
    let _ = Proc::new(bin)
        .args(["daemon", "stop"])
        .envs(envs.clone())
        .output();
    let label = format!(
        "label=drover.repo={}",
        drover::paths::repo_hash(&repo.canonicalize().unwrap_or(repo.clone()))
    );
    let ids = Proc::new("docker")
        .args(["ps", "-aq", "--filter", &label])
        .output()
        .expect("docker ps");
    let ids: Vec<String> = String::from_utf8_lossy(&ids.stdout)
        .lines()
        .map(String::from)
        .collect();
    if !ids.is_empty() {
        let _ = Proc::new("docker").args(["rm", "-f"]).args(&ids).output();
    }
}

fn main() {
    println!("| figure | value |\n|---|---|");
    streaming();
    idle();
}
