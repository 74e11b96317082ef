//! Host trust boundary, the user's repository (HTB-10): approval never moves a branch the
//! user has at another commit or has checked out in a worktree (it refuses, changing
//! nothing, and `--branch` gets around it); in shallow and partial clones and with
//! submodules it leaves `git fsck` clean and `git log` working.

use crate::common::*;

const FIX: &str = "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n";

fn reviewed(env: &Env, title: &str, script: &str) -> (String, String) {
    let id = env.add(title, script);
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();
    (id, branch)
}

fn rev(env: &Env, r: &str) -> String {
    git_out(&env.repo, &["rev-parse", r]).trim().to_string()
}

fn fsck_clean(env: &Env) {
    let out = std::process::Command::new("git")
        .args(["fsck", "--no-progress"])
        .current_dir(&env.repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git fsck: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn htb_10_approve_refuses_to_move_a_branch_the_user_has_elsewhere() {
    let Some(env) = docker_python("test = \"python3 -m unittest\"\n") else {
        return;
    };
    let (id, branch) = reviewed(&env, "Fix add", FIX);
    // The user makes a branch of that very name, with a commit of theirs on it.
    git(&env.repo, &["branch", &branch]);
    git(&env.repo, &["checkout", "-q", &branch]);
    std::fs::write(env.repo.join("mine.txt"), "mine\n").unwrap();
    commit_all(&env.repo, "my own work");
    git(&env.repo, &["checkout", "-q", "main"]);
    let theirs = rev(&env, &branch);
    let before = tree_hash(&env.repo);

    let out = env.drover(&["approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "a branch {branch} already exists in your repository at {theirs}"
        )) && err.contains("--branch NAME"),
        "{err}"
    );
    assert_eq!(rev(&env, &branch), theirs, "their commit stays");
    assert_eq!(tree_hash(&env.repo), before, "nothing changed");
    assert_eq!(env.show(&id)["state"], "review");

    let out = env.drover(&["approve", "--branch", "drover/fix-add-again", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(rev(&env, &branch), theirs, "still theirs");
    assert_eq!(env.show(&id)["branch"], "drover/fix-add-again");
    let log = git_out(&env.repo, &["log", "--format=%s", "drover/fix-add-again"]);
    assert!(log.starts_with("Fix add\n"), "{log}");
    fsck_clean(&env);
}

#[test]
fn htb_10_approve_refuses_a_branch_checked_out_in_a_worktree() {
    let Some(env) = docker_python("test = \"python3 -m unittest\"\n") else {
        return;
    };
    let (id, branch) = reviewed(&env, "Fix add", FIX);
    // The user has a branch of that name checked out in a worktree of theirs.
    let wt = env.home.path().join("wt");
    git(
        &env.repo,
        &["worktree", "add", "-q", "-b", &branch, wt.to_str().unwrap()],
    );
    let at = rev(&env, &branch);
    let out = env.drover(&["approve", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "branch {branch} is checked out in {}",
            wt.display()
        )),
        "{err}"
    );
    assert_eq!(rev(&env, &branch), at, "the branch did not move");
    assert_eq!(
        git_out(&wt, &["status", "--porcelain"]),
        "",
        "the worktree is clean"
    );
    assert_eq!(env.show(&id)["state"], "review");
}

#[test]
fn htb_10_a_shallow_clone_keeps_fsck_clean_and_log_working() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::cloned(&["--depth", "1"]);
    let shallow = std::fs::read(env.repo.join(".git/shallow")).expect("a shallow clone");
    env.write_config("test = \"python3 -m unittest\"\n");
    let (id, branch) = reviewed(&env, "Fix add", FIX);
    assert!(env.drover(&["approve", &id]).status.success());
    assert_eq!(
        std::fs::read(env.repo.join(".git/shallow")).unwrap(),
        shallow,
        "the shallow file is as it was"
    );
    let log = git_out(&env.repo, &["log", "--oneline", &branch]);
    assert_eq!(log.lines().count(), 3, "{log}");
    fsck_clean(&env);
}

#[test]
fn htb_10_a_partial_clone_keeps_fsck_clean() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::cloned(&["--filter=blob:none"]);
    env.write_config("test = \"python3 -m unittest\"\n");
    let (id, branch) = reviewed(&env, "Fix add", FIX);
    assert!(env.drover(&["approve", &id]).status.success());
    assert!(git_out(&env.repo, &["show", &format!("{branch}:calc.py")]).contains("a + b"));
    fsck_clean(&env);
}

#[test]
fn htb_10_writes_inside_a_submodule_are_reported_not_dropped_silently() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let lib = Env::python_bug();
    git(
        &env.repo,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            lib.repo.to_str().unwrap(),
            "lib",
        ],
    );
    commit_all(&env.repo, "add a submodule");
    env.write_config("test = \"true\"\n");
    let script = "[[step]]\nrun = \"echo control-$((6*7)); echo planted > lib/evil.py; echo '# top' >> calc.py\"\n";
    let (id, branch) = reviewed(&env, "Write in the submodule", script);
    let shown = env.show(&id);
    let unrecorded = shown["diff"]["unrecorded"].to_string();
    assert!(
        unrecorded.contains("\"lib\"") && unrecorded.contains("inside a submodule"),
        "{shown}"
    );
    let paths: Vec<&str> = shown["diff"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["path"].as_str())
        .collect();
    assert_eq!(paths, ["calc.py"]);
    assert!(env.drover(&["approve", "--force", &id]).status.success());
    let tree = git_out(&env.repo, &["ls-tree", &branch]);
    assert!(
        tree.lines().any(|l| l.starts_with("160000 commit")),
        "{tree}"
    );
    fsck_clean(&env);
}
