//! What the benches share: git repositories to measure on, a task App fed like the
//! engine feeds it, and how a series of timings is summed up.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use drover::keymap::Keymap;
use drover::protocol::TaskId;
use drover::protocol::TaskState;
use drover::protocol::{AgentSpec, AttemptRecord, TaskRecord};
use drover::protocol::{Event, EventBody};
use drover::ui::app::{App, Header, Msg};

pub fn id(i: usize) -> TaskId {
    TaskId::parse(&format!("t{i:03}")).expect("id")
}

pub fn ev(task: usize, body: EventBody) -> Event {
    Event {
        seq: 0,
        task: Some(id(task)),
        attempt: 1,
        at: "2026-11-22T10:00:00Z".into(),
        body,
    }
}

pub fn app(tasks: usize) -> App {
    let header = Header {
        repo: "/bench".into(),
        branch: Some("main".into()),
        commit: "0".repeat(40),
        docker: Some(Ok("bench".into())),
        agent: "scripted".into(),
        all: false,
    };
    let mut app = App::new(header, Keymap::builtin());
    for i in 0..tasks {
        let task = TaskRecord {
            id: id(i),
            repo: "/bench".into(),
            repo_hash: "b".into(),
            title: format!("Streaming task number {i}"),
            prompt: "bench".into(),
            agent: AgentSpec::Scripted {
                script: String::new(),
                source: "bench".into(),
            },
            base_commit: "0".repeat(40),
            base_ref: Some("main".into()),
            branch: format!("drover/t{i:03}-bench"),
            state: TaskState::Running,
            attempt: 1,
            created_at: "2026-11-22T10:00:00Z".into(),
            updated_at: "2026-11-22T10:00:00Z".into(),
            origin: None,
            group: None,
        };
        let attempt = AttemptRecord {
            n: 1,
            started_at: Some("2026-11-22T10:00:00Z".into()),
            ..Default::default()
        };
        app.update(Msg::Engine(ev(
            i,
            EventBody::TaskAdded {
                task: Box::new(task),
                attempt: Box::new(attempt),
            },
        )));
    }
    app
}

pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

pub fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .map(|o| o.status.success());
    assert_eq!(ok.ok(), Some(true), "git {args:?}");
}

/// Writes `n` source-like files (100 lines each) in 100 directories under `dir`.
pub fn source_files(dir: &Path, n: usize) {
    for i in 0..n {
        let sub = dir.join(format!("pkg{:02}", i % 100));
        std::fs::create_dir_all(&sub).expect("mkdir");
        let body: String = (0..100)
            .map(|l| format!("pub fn f{i}_{l}(x: u64) -> u64 {{ x * {l} + {i} }}\n"))
            .collect();
        std::fs::write(sub.join(format!("m{i}.rs")), body).expect("write");
    }
}

/// Commits everything in `dir` (an initialised repository); the new HEAD.
pub fn commit_all(dir: &Path) -> String {
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@b",
            "commit",
            "-qm",
            "init",
        ],
    );
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(dir)
        .output()
        .expect("git rev-parse");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Median with the spread: "12.3 ms (min 10.1, max 15.0, n=9)".
pub fn spread(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{:.1} ms (min {:.1}, max {:.1}, n={})",
        ms(v[v.len() / 2]),
        ms(v[0]),
        ms(v[v.len() - 1]),
        v.len()
    )
}

/// The ratio of two series' medians.
pub fn median_ratio(a: &[Duration], b: &[Duration]) -> f64 {
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    median(a) / median(b)
}

/// A terminal the size of a real one, with what drawing keeps between frames; each
/// frame's layout goes back to the app, as the real loop does.
pub struct Screen {
    term: ratatui::Terminal<ratatui::backend::TestBackend>,
    cache: drover::ui::render::Cache,
}

impl Screen {
    pub fn new(w: u16, h: u16) -> Screen {
        Screen {
            term: ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h))
                .expect("terminal"),
            cache: drover::ui::render::Cache::default(),
        }
    }

    pub fn draw(&mut self, app: &mut App) {
        let mut layout = drover::ui::render::Layout::default();
        let cache = &mut self.cache;
        self.term
            .draw(|f| layout = drover::ui::render::draw(app, cache, f))
            .expect("draw");
        app.drawn(layout);
    }
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median, minimum and maximum (sorts `v`).
pub fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}
