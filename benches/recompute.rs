//! Recomputing a task's diff after one change, in a 10,000-file workspace, next to `git
//! diff --stat` in the same workspace: what an agent's every write costs the host now
//! that drover reads the files itself (beneath the root, never through the workspace's
//! `.git`) into its own git state. Also a snapshot that reads every file again (what
//! verification and approval take) and the first snapshot of a fresh workspace.
//!
//! Run: `cargo bench --bench recompute`. Measured alternately, each round after one
//! file changed; prints medians and spreads, nothing passes or fails on a number. Needs
//! the git CLI for the reference.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

use std::process::Command as Proc;
use std::time::{Duration, Instant};

use drover::workspace::{SnapshotOptions, TaskGit};

mod common;
use common::{commit_all, git, median_ratio, source_files, spread};

const FILES: usize = 10_000;
const ROUNDS: usize = 31;

fn main() {
    println!("| figure | median (spread) |\n|---|---|");
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    source_files(&repo, FILES);
    let base = commit_all(&repo);
    let task = TaskGit {
        user_repo: repo.clone(),
        store: tmp.path().join("data/git/repo.git"),
        index: tmp.path().join("data/tasks/t/index"),
        workspace: tmp.path().join("data/workspaces/t"),
        base,
        branch: "drover/t".into(),
    };
    drover::workspace::create(&task).expect("workspace");
    let live = SnapshotOptions::default();
    // As the engine does: the stat cache stays in memory between an attempt's diffs.
    let mut cache = drover::workspace::StatCache::load(&task.index);
    let t = Instant::now();
    drover::workspace::diff_with(&task, live, &mut cache).expect("first diff");
    let first = t.elapsed();

    // A file the agent edits, over and over: always a different content.
    let edited = task.workspace.join("pkg07/m7.rs");
    let (mut ours, mut theirs, mut full) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..ROUNDS {
        std::fs::write(&edited, format!("// edit {r}\npub fn f() {{}}\n")).expect("write");
        let t = Instant::now();
        let d = drover::workspace::diff_with(&task, live, &mut cache).expect("diff");
        ours.push(t.elapsed());
        assert_eq!(d.summary.files.len(), 1, "the one change");

        // git at its best: an index `git status` just refreshed (and wrote back).
        Proc::new("git")
            .args(["status", "--porcelain"])
            .current_dir(&task.workspace)
            .output()
            .expect("git status");
        let t = Instant::now();
        let out = Proc::new("git")
            .args(["diff", "--stat"])
            .current_dir(&task.workspace)
            .output()
            .expect("git diff");
        theirs.push(t.elapsed());
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 file changed"));
    }
    for _ in 0..5 {
        let opts = SnapshotOptions {
            rehash: true,
            list_ignored: true,
            ..Default::default()
        };
        let t = Instant::now();
        drover::workspace::diff(&task, opts).expect("full");
        full.push(t.elapsed());
    }
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    println!(
        "| first diff of a fresh workspace ({FILES} files) | {} |",
        ms(first)
    );
    println!(
        "| diff after one change: drover (walk, snapshot, tree diff) | {} |",
        spread(ours.clone())
    );
    println!(
        "| the same: `git diff --stat` in the workspace (index fresh from `git status`) | {} |",
        spread(theirs.clone())
    );
    println!("| ratio (medians) | {:.2}× |", median_ratio(&ours, &theirs));
    println!(
        "| a snapshot reading every file again (verification, approval) | {} |",
        spread(full)
    );
}
