//! Pushing approved branches to a local bare repository whose reflog records every ref
//! update (libgit2 pushes to a path without running hooks, so the reflog is the
//! server-side record): exactly one push, never forced, nothing outside the prefix.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Env, docker_available, ensure_image, git, text};

struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    /// A bare repository that records every ref update in its reflog, as `origin` of `env`.
    fn attach(env: &Env) -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("origin.git");
        let out = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&bare)
            .output()
            .unwrap();
        assert!(out.status.success());
        let out = Command::new("git")
            .args(["config", "core.logAllRefUpdates", "always"])
            .current_dir(&bare)
            .output()
            .unwrap();
        assert!(out.status.success());
        git(
            &env.repo,
            &["remote", "add", "origin", bare.to_str().unwrap()],
        );
        git(&env.repo, &["push", "-q", "origin", "main"]);
        Remote { dir }
    }

    fn bare(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }

    /// Every recorded update of `branch` on the remote, newest first ("old new").
    fn updates(&self, branch: &str) -> Vec<String> {
        let log = self.bare().join("logs/refs/heads").join(branch);
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
            .collect()
    }

    fn rev(&self, r: &str) -> String {
        text(
            &Command::new("git")
                .args(["rev-parse", r])
                .current_dir(self.bare())
                .output()
                .unwrap()
                .stdout,
        )
        .trim()
        .to_string()
    }
}

fn approved_task(env: &Env, title: &str) -> (String, String) {
    let id = env.add(
        title,
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n",
    );
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    let out = env.drover(&["approve", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();
    (id, branch)
}

fn local_rev(repo: &Path, r: &str) -> String {
    text(
        &Command::new("git")
            .args(["rev-parse", r])
            .current_dir(repo)
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .to_string()
}

#[test]
fn push_sends_the_branch_once_never_forced() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let remote = Remote::attach(&env);
    let (id, branch) = approved_task(&env, "Fix add");
    let out = env.drover(&["push", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("{branch} pushed on origin")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(env.show(&id)["state"], "pushed");
    let commit = local_rev(&env.repo, &branch);
    assert_eq!(remote.rev(&format!("refs/heads/{branch}")), commit);
    assert_eq!(
        remote.updates(&branch),
        vec![format!("{} {commit}", "0".repeat(40))],
        "exactly one update, a creation"
    );
    let again = env.drover(&["push", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(remote.updates(&branch).len(), 1, "no second push");
}

#[test]
fn remote_moved_blocks_and_pushes_nothing() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let remote = Remote::attach(&env);
    let (id, branch) = approved_task(&env, "Fix add");
    // Someone else pushes another commit to the same branch first.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(remote.bare())
        .arg(other.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(other.path().join("OTHER.md"), "not yours\n").unwrap();
    git(other.path(), &["add", "-A"]);
    git(
        other.path(),
        &[
            "-c",
            "user.name=o",
            "-c",
            "user.email=o@o",
            "commit",
            "-qm",
            "other",
        ],
    );
    git(
        other.path(),
        &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
    );
    let theirs = remote.rev(&format!("refs/heads/{branch}"));
    let before = remote.updates(&branch).len();

    let out = env.drover(&["push", &id]);
    assert_eq!(out.status.code(), Some(1));
    let ours = local_rev(&env.repo, &branch);
    let err = text(&out.stderr);
    assert!(err.contains(&format!("remote moved: {branch} is at {theirs} on the remote, expected {ours}; nothing was pushed")), "{err}");
    let task = env.show(&id);
    assert_eq!(task["state"], "blocked");
    assert_eq!(
        remote.rev(&format!("refs/heads/{branch}")),
        theirs,
        "the remote branch is untouched"
    );
    assert_eq!(
        remote.updates(&branch).len(),
        before,
        "drover sent no update"
    );
}

#[test]
fn branches_outside_the_prefix_are_refused_before_any_network_call() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let remote = Remote::attach(&env);
    let (id, branch) = approved_task(&env, "Fix add");
    std::fs::write(
        env.repo.join("drover.toml"),
        "branch_prefix = \"agents/\"\n",
    )
    .unwrap();
    let out = env.drover(&["push", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!(
            "refusing to push {branch}: only branches under agents/ are pushed"
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(remote.updates(&branch).is_empty());
    assert_eq!(env.show(&id)["state"], "approved");
}
