//! Creating a task's workspace next to `git clone --shared` of the same repository: a
//! generated repository of 10,000 files (about 46 MiB checked out), measured
//! alternately, and the disk each adds. Nothing is deleted until the end: ext4 makes
//! whoever creates files right after a mass deletion pay for it (inode allocation skips
//! recently freed inodes), which would measure the order, not the tools.
//!
//! Run: `cargo bench --bench workspace`. Prints a table of medians and spreads; needs the
//! git CLI for the reference clone. Not a test.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command as Proc;
use std::time::{Duration, Instant};

mod common;
use common::{commit_all, git, median_ratio, source_files, spread};

const FILES: usize = 10_000;
const ROUNDS: usize = 9;

/// 10,000 source-like files in 100 directories, one commit.
fn make_repo(dir: &Path) -> String {
    git(dir, &["init", "-q", "-b", "main"]);
    source_files(dir, FILES);
    commit_all(dir)
}

/// Whose CPU time: this process's own, or its waited-for children's.
#[derive(Clone, Copy)]
enum Who {
    Me,
    Children,
}

/// CPU time (user + system) so far, from /proc/self/stat (clock ticks of 10 ms).
fn cpu(who: Who) -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime stime cutime cstime are fields 14..17, i.e. 11..14 after the name.
    let ticks = match who {
        Who::Me => f[11] + f[12],
        Who::Children => f[13] + f[14],
    };
    Duration::from_millis(ticks * 10)
}

fn sync() {
    let _ = Proc::new("sync").status();
}

fn main() {
    println!("| figure | median (spread) |\n|---|---|");
    // tmpfs: the tools' own work. The default temp dir (a disk): what a user's data dir
    // sees, with the file system's allocator in it.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        let tmp = tempfile::tempdir_in(shm).expect("tempdir");
        measure(tmp.path(), "tmpfs");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    measure(tmp.path(), "disk");
}

fn measure(tmp: &Path, on: &str) {
    let repo = tmp.join("repo");
    std::fs::create_dir(&repo).expect("mkdir");
    let head = make_repo(&repo);
    let (mut ours, mut clone) = (Vec::new(), Vec::new());
    let (mut ours_cpu, mut clone_cpu) = (Vec::new(), Vec::new());
    let (mut ours_disk, mut clone_disk) = (0, 0);
    for r in 0..ROUNDS {
        let ws = tmp.join(format!("ws{r}"));
        // Each side starts with the disk quiet: the other's writes are flushed first.
        sync();
        let (t, c) = (Instant::now(), cpu(Who::Me));
        let task = drover::workspace::TaskGit {
            user_repo: repo.clone(),
            store: tmp.join("data/git/repo.git"),
            index: tmp.join(format!("data/tasks/{r}/index")),
            workspace: ws.clone(),
            base: head.clone(),
            branch: format!("drover/bench-{r}"),
        };
        drover::workspace::create(&task).expect("workspace");
        ours.push(t.elapsed());
        ours_cpu.push(cpu(Who::Me) - c);
        ours_disk = drover::paths::disk_usage(&ws);

        let cl = tmp.join(format!("cl{r}"));
        sync();
        let (t, c) = (Instant::now(), cpu(Who::Children));
        let ok = Proc::new("git")
            .args(["clone", "-q", "--shared", "--no-hardlinks"])
            .arg(&repo)
            .arg(&cl)
            .status()
            .expect("git clone");
        assert!(ok.success());
        clone.push(t.elapsed());
        clone_cpu.push(cpu(Who::Children) - c);
        clone_disk = drover::paths::disk_usage(&cl);
    }
    let checkout: u64 = std::fs::read_dir(&repo)
        .expect("read_dir")
        .flatten()
        .filter(|e| e.file_name() != ".git")
        .map(|e| drover::paths::disk_usage(&e.path()))
        .sum();
    let ratio = median_ratio(&ours, &clone);
    println!(
        "| {on}: drover workspace, {FILES} files | {} |",
        spread(ours)
    );
    println!(
        "| {on}: `git clone --shared`, same repository | {} |",
        spread(clone)
    );
    println!("| {on}: ratio (medians) | {ratio:.2}× |");
    let cpu_ratio = median_ratio(&ours_cpu, &clone_cpu);
    println!(
        "| {on}: CPU time: workspace / clone (ratio) | {} / {} ({cpu_ratio:.2}×) |",
        spread(ours_cpu),
        spread(clone_cpu)
    );
    println!(
        "| {on}: disk per task: workspace / clone / the checkout itself | {} / {} / {} |",
        drover::paths::mib(ours_disk),
        drover::paths::mib(clone_disk),
        drover::paths::mib(checkout)
    );
}
