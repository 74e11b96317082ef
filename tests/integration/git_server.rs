//! Pushing to a real git server: `git daemon` serving a bare repository over git://, so
//! the server runs its hooks (a path remote would not). The pre-receive hook records
//! every ref update, or refuses like GitHub's branch protection does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, docker_available, ensure_image, git, text};

struct Daemon {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Serves a bare `origin.git` (with `main` from `env` already pushed) as `origin` of
    /// `env`, then installs `hook` as its pre-receive hook.
    fn start(env: &Env, hook: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("origin.git");
        let ok = Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&bare)
            .status()
            .unwrap();
        assert!(ok.success());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--enable=receive-pack",
                "--reuseaddr",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", dir.path().display()),
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let url = format!("git://127.0.0.1:{port}/origin.git");
        git(&env.repo, &["remote", "add", "origin", &url]);
        git(&env.repo, &["push", "-q", "origin", "main"]);
        let hook_path = bare.join("hooks/pre-receive");
        std::fs::write(&hook_path, hook).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook_path, std::fs::Permissions::from_mode(0o755)).unwrap();
        daemon
    }

    fn bare(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }
}

fn approved_task(env: &Env) -> (String, String) {
    let id = env.add(
        "Fix add",
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n",
    );
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    let out = env.drover(&["approve", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();
    (id, branch)
}

fn rev(repo: &Path, r: &str) -> String {
    let out = Command::new("git")
        .args(["rev-parse", r])
        .current_dir(repo)
        .output()
        .unwrap();
    text(&out.stdout).trim().to_string()
}

#[test]
fn the_server_hook_sees_one_unforced_update_under_the_prefix() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let log = env.data().with_file_name("updates.log");
    let daemon = Daemon::start(&env, &format!("#!/bin/sh\ncat >> '{}'\n", log.display()));
    let (id, branch) = approved_task(&env);
    let out = env.drover(&["push", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again = env.drover(&["push", &id]);
    assert_eq!(again.status.code(), Some(1), "already pushed: refused");

    let commit = rev(&env.repo, &branch);
    let updates = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        updates,
        format!("{} {commit} refs/heads/{branch}\n", "0".repeat(40)),
        "exactly one update: the creation of the task branch"
    );
    assert_eq!(rev(&daemon.bare(), &format!("refs/heads/{branch}")), commit);
}

#[test]
fn a_protected_branch_refusal_says_what_to_do() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let daemon = Daemon::start(
        &env,
        "#!/bin/sh\nwhile read old new ref; do\n  echo \"error: GH006: Protected branch update failed for $ref.\" >&2\n  echo 'error: Changes must be made through a pull request.' >&2\ndone\nexit 1\n",
    );
    let (id, branch) = approved_task(&env);
    let out = env.drover(&["push", &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: GH006: Protected branch update failed for refs/heads/{branch}."
        )) && err.contains("a branch protection rule covers this branch"),
        "{err}"
    );
    assert_eq!(env.show(&id)["state"], "approved", "can be pushed again");
    let there = Command::new("git")
        .args([
            "show-ref",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
        .current_dir(daemon.bare())
        .status()
        .unwrap();
    assert!(!there.success(), "the refused branch is not on the server");
}
