//! What following pull requests costs GitHub, against the local GitHub of the test
//! suite (`tests/integration/fake_github.rs`, which answers ETags with `304` as GitHub
//! does): 50 pushed tasks with open pull requests, polled again and again with nothing
//! changing; requests per poll, how many of them GitHub counts against the rate limit,
//! requests per hour at drover's default intervals; then one check run failing, and how
//! long one round of polls takes to see it.
//!
//! Run: `cargo bench --bench pr_poll`. No Docker. Not a test: nothing here passes or
//! fails on a number.

#![allow(unreachable_pub, clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "../tests/integration/fake_github.rs"]
mod fake_github;

use std::process::Command;
use std::time::Instant;

use drover::forge::follow::{Follower, PrRef};
use drover::forge::{GitHub, NewPullRequest};
use drover::protocol::CiVerdict;

const TASKS: usize = 50;
const ROUNDS: usize = 5;

fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (work, bare) = (dir.path().join("work"), dir.path().join("origin.git"));
    std::fs::create_dir(&work).unwrap();
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "origin.git"],
    );
    git(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("a.txt"), "a\n").unwrap();
    git(&work, &["add", "-A"]);
    git(
        &work,
        &[
            "-c",
            "user.name=a",
            "-c",
            "user.email=a@a",
            "commit",
            "-qm",
            "a",
        ],
    );
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    let mut refspecs = vec![
        "push".to_string(),
        "-q".into(),
        "origin".into(),
        "main".into(),
    ];
    refspecs.extend((0..TASKS).map(|i| format!("main:refs/heads/drover/t{i}")));
    let args: Vec<&str> = refspecs.iter().map(String::as_str).collect();
    git(&work, &args);

    let fake = fake_github::FakeGitHub::start(bare, "ana", "shop");
    let gh = GitHub::new(&fake.url, Some("ghp_bench".into())).unwrap();
    let mut prs = Vec::new();
    for i in 0..TASKS {
        let head = format!("drover/t{i}");
        let pr = gh
            .find_or_create(&NewPullRequest {
                owner: "ana",
                repo: "shop",
                head: &head,
                base: "main",
                title: "t",
                body: "b",
                draft: true,
            })
            .await
            .unwrap();
        prs.push(PrRef::from_url(&pr.url).unwrap());
    }
    let mut followers: Vec<Follower> = (0..TASKS).map(|_| Follower::default()).collect();
    let mut steady = Vec::new();
    let mut round_ms = Vec::new();
    for round in 0..ROUNDS {
        let before = fake.requests().len();
        let t = Instant::now();
        for (f, pr) in followers.iter_mut().zip(&prs) {
            f.poll(&gh, pr).await.unwrap();
        }
        round_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        let seen = &fake.requests()[before..];
        let counted = seen.iter().filter(|r| r.status != 304).count();
        if round > 0 {
            steady.push((seen.len(), counted));
        }
    }
    let (reqs, counted) = steady.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    let per_round = reqs as f64 / steady.len() as f64;
    let per_task = per_round / TASKS as f64;
    let counted_round = counted as f64 / steady.len() as f64;
    let hour = |secs: f64| per_round * 3600.0 / secs;

    // A check fails on one pull request: one round of polls sees it.
    let head = fake.rev("drover/t7");
    fake.check_run(
        &head,
        "lint",
        Some("failure"),
        "1 error",
        &[("a.txt", 1, "E1")],
    );
    let t = Instant::now();
    for (f, pr) in followers.iter_mut().zip(&prs) {
        let s = f.poll(&gh, pr).await.unwrap();
        if pr.number == prs[7].number {
            assert_eq!(s.checks.verdict(), Some(CiVerdict::Failing));
        }
    }
    let seen_in = t.elapsed().as_secs_f64() * 1000.0;

    println!("| figure | value |");
    println!("|---|---|");
    println!("| pull requests followed | {TASKS} |");
    println!(
        "| requests per task per poll, nothing changing | {per_task:.1} (pull request, check runs, commit status) |"
    );
    println!(
        "| of them counted against the rate limit (not 304) | {:.1} per round of {TASKS} |",
        counted_round
    );
    println!(
        "| requests per hour, {TASKS} tasks nobody looks at (poll_idle = 120 s) | {:.0} (all 304: none counted) |",
        hour(120.0)
    );
    println!(
        "| requests per hour for the task you look at (poll = 15 s) | {:.0} |",
        per_task * 3600.0 / 15.0
    );
    println!(
        "| requests per minute, {TASKS} idle tasks (GitHub's secondary limit: 900 points a minute) | {:.0} |",
        hour(120.0) / 60.0
    );
    println!(
        "| first round (cold, no ETags yet) | {:.0} ms |",
        round_ms[0]
    );
    println!(
        "| one round of {TASKS} polls, nothing changing | {:.0} ms |",
        round_ms[1..].iter().sum::<f64>() / (ROUNDS - 1) as f64
    );
    println!(
        "| a failing check seen, once its task is asked | one poll: {:.0} ms (a round of {TASKS}: {seen_in:.0} ms) |",
        seen_in / TASKS as f64
    );
}
