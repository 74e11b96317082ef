//! Cross-task conflict radar: 30 tasks in review in one repository (5,000 files), every
//! task changing the same hot file (so every pair is merged) and two files of its own.
//! Measures the first scan, a scan after one task's diff changed (what the engine does
//! on each change) and a scan with nothing changed.
//!
//! Run: `cargo bench --bench radar`. Prints a table of medians and spreads; nothing
//! passes or fails on a number. Needs only git.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drover::workspace::overlap::{Radar, Side};
use drover::workspace::{SnapshotOptions, TaskGit, snapshot};

mod common;
use common::{commit_all, git};

const TASKS: usize = 30;
const FILES: usize = 5_000;
const HOT_LINES: usize = 400;

/// The hot file with `edits` lines changed by task `by`.
fn hot(edits: &[usize], by: usize) -> String {
    (0..HOT_LINES)
        .map(|i| {
            if edits.contains(&i) {
                format!("line {i} changed by task {by}\n")
            } else {
                format!("line {i}\n")
            }
        })
        .collect()
}

/// The tree of a task's workspace as the engine's differ records it.
fn snap(task: &TaskGit) -> String {
    let opts = SnapshotOptions {
        persist: true,
        ..Default::default()
    };
    snapshot(task, opts).expect("snapshot").tree.to_string()
}

fn setup(root: &Path) -> (PathBuf, PathBuf, Vec<(TaskGit, Side)>) {
    let repo = root.join("repo");
    std::fs::create_dir_all(repo.join("src")).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    for i in 0..FILES {
        let dir = repo.join("src").join(format!("m{:02}", i % 50));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join(format!("f{i}.py")),
            format!("def f{i}():\n    return {i}\n"),
        )
        .expect("write");
    }
    std::fs::write(repo.join("hot.py"), hot(&[], 0)).expect("write");
    let base = commit_all(&repo);
    let store = root.join("data/git/repo.git");
    let sides = (0..TASKS)
        .map(|t| {
            let task = TaskGit {
                user_repo: repo.clone(),
                store: store.clone(),
                index: root.join(format!("data/tasks/t{t}/index")),
                workspace: root.join(format!("ws{t}")),
                base: base.clone(),
                branch: format!("drover/t{t}"),
            };
            let dir = task.workspace.clone();
            drover::workspace::create(&task).expect("ws");
            // Tasks 0 and 1 edit the same hot line (a conflict); the rest their own lines.
            let line = if t == 1 { 0 } else { t * 10 };
            std::fs::write(dir.join("hot.py"), hot(&[line], t)).expect("write");
            let own = [t * 7, t * 7 + 1].map(|i| format!("src/m{:02}/f{i}.py", i % 50));
            for f in &own {
                std::fs::write(dir.join(f), "def changed():\n    pass\n").expect("write");
            }
            let side = Side {
                id: format!("t{t}"),
                title: format!("task {t}"),
                base: base.clone(),
                commit: None,
                tree: Some(snap(&task)),
                files: ["hot.py".to_string()].into_iter().chain(own).collect(),
                version: "0".into(),
            };
            (task, side)
        })
        .collect();
    (repo, store, sides)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = Instant::now();
    let (repo, store, mut tasks) = setup(tmp.path());
    let sides =
        |tasks: &[(TaskGit, Side)]| -> Vec<Side> { tasks.iter().map(|(_, s)| s.clone()).collect() };
    eprintln!(
        "setup: {TASKS} workspaces of {FILES} files in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let mut cold = Vec::new();
    for _ in 0..3 {
        let mut radar = Radar::default();
        let t = Instant::now();
        let out = radar.scan(&store, &repo, &sides(&tasks)).expect("scan");
        cold.push(t.elapsed());
        let conflicts = out["t0"].iter().filter(|o| !o.conflicts.is_empty()).count();
        assert_eq!((out["t0"].len(), conflicts), (TASKS - 1, 1));
    }

    let mut radar = Radar::default();
    radar.scan(&store, &repo, &sides(&tasks)).expect("scan");
    let mut change = Vec::new();
    let mut idle = Vec::new();
    for round in 0..9 {
        // One task writes again: its tree and its 29 pairs are new.
        let k = 2 + round % (TASKS - 2);
        std::fs::write(
            tasks[k].0.workspace.join("hot.py"),
            hot(&[k * 10, k * 10 + 1 + round], k),
        )
        .expect("write");
        // The engine's differ records the new tree; then the radar looks.
        let tree = snap(&tasks[k].0);
        tasks[k].1.tree = Some(tree);
        tasks[k].1.version = format!("{round}");
        let now = sides(&tasks);
        let t = Instant::now();
        radar.scan(&store, &repo, &now).expect("scan");
        change.push(t.elapsed());
        let t = Instant::now();
        radar.scan(&store, &repo, &now).expect("scan");
        idle.push(t.elapsed());
    }

    println!("\nconflict radar: {TASKS} tasks in review, {FILES} files, every pair shares hot.py");
    println!("| scan | min | median | max |");
    println!("|---|---:|---:|---:|");
    for (name, v) in [
        ("first scan (30 trees, 435 merges)", cold),
        ("after one task's diff changed (1 tree, 29 merges)", change),
        ("nothing changed (cache only)", idle),
    ] {
        let (lo, mid, hi) = stats(v);
        println!("| {name} | {} | {} | {} |", ms(lo), ms(mid), ms(hi));
    }
}
