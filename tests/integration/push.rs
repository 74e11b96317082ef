//! Pushing approved branches to a local bare repository whose reflog records every ref
//! update (libgit2 pushes to a path without running hooks, so the reflog is the
//! server-side record): exactly one push, never forced, nothing outside the prefix.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Env, bare_origin, docker_available, ensure_image, git, text};

struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    /// A bare repository that records every ref update in its reflog, as `origin` of `env`.
    fn attach(env: &Env) -> Remote {
        let dir = bare_origin(env);
        git(
            &dir.path().join("origin.git"),
            &["config", "core.logAllRefUpdates", "always"],
        );
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
fn git_04_push_sends_the_branch_once_never_forced() {
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
    assert!(
        text(&out.stdout).contains("(merges cleanly onto origin/main)"),
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
fn git_03_branches_outside_the_prefix_are_refused_before_any_network_call() {
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
    env.trust();
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

mod pull_requests {
    use super::*;
    use crate::fake_llm::{FakeLlm, Reply};

    fn reply(code: u16, body: &str) -> Reply {
        Reply::Status {
            code,
            headers: vec![],
            body: body.into(),
        }
    }

    async fn drover(env: &Env, args: &[&str]) -> std::process::Output {
        let mut cmd = env.command(args);
        cmd.env("GITHUB_TOKEN", "ghp_test_token_for_the_fake")
            .env_remove("GH_TOKEN");
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn git_06_push_opens_a_draft_pull_request_with_the_right_request() {
        if !docker_available() {
            return;
        }
        ensure_image();
        let env = Env::python_bug();
        let _remote = Remote::attach(&env);
        let (fake, url) = FakeLlm::start(vec![reply(
            201,
            r#"{"number": 7, "html_url": "https://github.test/ana/shop/pull/7"}"#,
        )])
        .await;
        let (id, branch) = approved_task(&env, "Fix add");
        std::fs::write(
            env.repo.join("drover.toml"),
            format!("[forge]\nrepo = \"ana/shop\"\napi_url = \"{url}\"\n"),
        )
        .unwrap();
        env.trust();
        let out = drover(&env, &["push", &id]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("draft pull request #7 https://github.test/ana/shop/pull/7"),
            "{}",
            text(&out.stdout)
        );
        let task = env.show(&id);
        assert_eq!(
            (task["state"].as_str(), task["pr"]["number"].as_u64()),
            (Some("pushed"), Some(7))
        );

        let reqs = fake.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.path, "/repos/ana/shop/pulls");
        assert_eq!(
            r.header("authorization"),
            Some("Bearer ghp_test_token_for_the_fake")
        );
        assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
        assert!(
            r.header("user-agent")
                .is_some_and(|u| u.starts_with("drover/"))
        );
        assert_eq!(r.body["draft"], true);
        assert_eq!(
            (
                r.body["head"].as_str(),
                r.body["base"].as_str(),
                r.body["title"].as_str()
            ),
            (Some(branch.as_str()), Some("main"), Some("Fix add"))
        );
        let body = r.body["body"].as_str().unwrap();
        assert!(
            body.contains("| `calc.py` | 1 | 1 |") && body.contains("passed (1 passed, 0 failed)"),
            "{body}"
        );
        assert!(
            !fake
                .requests()
                .iter()
                .any(|r| r.path.contains("/merge") || r.path.contains("/reviews")),
            "never merges or approves"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_existing_pull_request_is_found_not_duplicated() {
        if !docker_available() {
            return;
        }
        ensure_image();
        let env = Env::python_bug();
        let _remote = Remote::attach(&env);
        let (fake, url) = FakeLlm::start(vec![
            // Rate limited first: the retry waits for retry-after.
            Reply::Status { code: 403, headers: vec![("retry-after".into(), "1".into())], body: r#"{"message":"secondary rate limit"}"#.into() },
            reply(422, r#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists for ana:drover/x."}]}"#),
            reply(200, r#"[{"number": 5, "html_url": "https://github.test/ana/shop/pull/5"}]"#),
        ])
        .await;
        let (id, branch) = approved_task(&env, "Fix add");
        std::fs::write(
            env.repo.join("drover.toml"),
            format!("[forge]\nrepo = \"ana/shop\"\napi_url = \"{url}\"\n"),
        )
        .unwrap();
        env.trust();
        let out = drover(&env, &["push", &id]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(env.show(&id)["pr"]["number"], 5);
        let reqs = fake.requests();
        assert_eq!(reqs.len(), 3);
        assert!(
            reqs[1].at.duration_since(reqs[0].at) >= std::time::Duration::from_secs(1),
            "retry-after honoured"
        );
        assert_eq!(
            reqs[2].path,
            format!("/repos/ana/shop/pulls?head=ana:{branch}&state=open")
        );
    }

    /// DUR-04 / GIT-05: drover dies right after the push, then right after the pull
    /// request POST (before recording it); pushing again each time ends with one branch
    /// update and the one pull request, and a sound database.
    #[tokio::test(flavor = "multi_thread")]
    async fn dur_04_crashes_after_push_and_after_pr_post_never_duplicate() {
        if !docker_available() {
            return;
        }
        ensure_image();
        let env = Env::python_bug();
        let remote = Remote::attach(&env);
        let (fake, url) = FakeLlm::start(vec![
            reply(201, r#"{"number": 9, "html_url": "https://github.test/ana/shop/pull/9"}"#),
            reply(422, r#"{"message":"Validation Failed","errors":[{"message":"A pull request already exists for ana:drover/x."}]}"#),
            reply(200, r#"[{"number": 9, "html_url": "https://github.test/ana/shop/pull/9"}]"#),
        ])
        .await;
        let (id, branch) = approved_task(&env, "Fix add");
        std::fs::write(
            env.repo.join("drover.toml"),
            format!("[forge]\nrepo = \"ana/shop\"\napi_url = \"{url}\"\n"),
        )
        .unwrap();
        env.trust();
        let crash_at = |point: &'static str| {
            let mut cmd = env.command(&["push", &id]);
            cmd.env("GITHUB_TOKEN", "ghp_test_token_for_the_fake")
                .env("DROVER_CRASH_AT", point);
            tokio::task::spawn_blocking(move || cmd.output().unwrap())
        };
        use std::os::unix::process::ExitStatusExt;

        let out = crash_at("after_push").await.unwrap();
        assert_eq!(
            out.status.signal(),
            Some(6),
            "aborted: {}",
            text(&out.stderr)
        );
        assert_eq!(remote.updates(&branch).len(), 1, "the branch got out");
        assert!(fake.requests().is_empty(), "no pull request yet");
        assert_eq!(env.show(&id)["state"], "approved");

        let out = crash_at("after_pr_post").await.unwrap();
        assert_eq!(
            out.status.signal(),
            Some(6),
            "aborted: {}",
            text(&out.stderr)
        );
        assert_eq!(fake.requests().len(), 1, "the POST was made");
        assert!(env.show(&id)["pr"].is_null(), "but not recorded");

        let out = drover(&env, &["push", &id]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let task = env.show(&id);
        assert_eq!(
            (task["state"].as_str(), task["pr"]["number"].as_u64()),
            (Some("pushed"), Some(9))
        );
        assert_eq!(remote.updates(&branch).len(), 1, "one branch update in all");
        let posts = fake
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/pulls"))
            .count();
        assert_eq!(
            posts, 2,
            "the second POST found the first pull request (422), no new one"
        );

        env.assert_store_sound();
    }
}

#[test]
fn git_07_a_secret_in_the_change_blocks_the_push() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let remote = Remote::attach(&env);
    // The token is assembled in the container so the script itself holds no secret.
    let script = "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n[[step]]\nrun = \"printf 'Deploy with %s%s\\\\n' ghp_ $(printf 'x%.0s' $(seq 36)) > DEPLOY.md\"\n";
    let id = env.add("Fix add", script);
    assert_eq!(env.drover(&["run"]).status.code(), Some(0));
    assert!(env.drover(&["approve", &id]).status.success());
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();
    let out = env.drover(&["push", &id]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "secret detected in DEPLOY.md:1 (github-token, value not shown); nothing was pushed"
        ),
        "{err}"
    );
    assert!(!err.contains("ghp_xxxx"), "the value is masked: {err}");
    assert_eq!(env.show(&id)["state"], "blocked");
    assert!(
        remote.updates(&branch).is_empty(),
        "nothing left the machine"
    );
}

#[test]
fn push_says_when_the_branch_no_longer_merges_onto_the_base() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let remote = Remote::attach(&env);
    let (id, _branch) = approved_task(&env, "Fix add");
    // Meanwhile, main moves on the remote with a different change to the same line.
    let other = tempfile::tempdir().unwrap();
    assert!(
        Command::new("git")
            .args(["clone", "-q"])
            .arg(remote.bare())
            .arg(other.path())
            .output()
            .unwrap()
            .status
            .success()
    );
    std::fs::write(
        other.path().join("calc.py"),
        "def add(a, b):\n    return sum([a, b])\n",
    )
    .unwrap();
    git(
        other.path(),
        &[
            "-c",
            "user.name=o",
            "-c",
            "user.email=o@o",
            "commit",
            "-qam",
            "another fix",
        ],
    );
    git(other.path(), &["push", "-q", "origin", "main"]);

    let out = env.drover(&["push", &id]);
    assert!(
        out.status.success(),
        "a conflict is reported, not fatal: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("(conflicts in calc.py onto origin/main)"),
        "{}",
        text(&out.stdout)
    );
    let work = std::fs::read_to_string(env.repo.join("calc.py")).unwrap();
    assert!(
        work.contains("a - b") && !work.contains("<<<<<<<"),
        "the user's files are untouched"
    );
}
