//! After the pull request, end to end against a local GitHub (`fake_github`): the
//! daemon follows the pull request; a failing check and a review comment show on the
//! task; a follow-up attempt is asked what they say, runs in the same workspace, and its
//! push updates the same pull request (fast-forward, one pull request, a comment, the
//! reviewer asked again); the pull request is merged and the task says `merged`.
//! Polling is conditional (304s), and a rate limit is waited out.

use std::process::Output;
use std::time::Duration;

use crate::common::*;
use crate::fake_github::FakeGitHub;

const TOKEN: &str = "ghp_fake_token_for_the_local_github";

/// Stops the daemon when the test ends, however it ends.
struct Daemon<'a>(&'a Env);

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = self.0.drover(&["daemon", "stop"]);
    }
}

/// drover through the daemon, with the token.
fn via_daemon(env: &Env, args: &[&str]) -> Output {
    env.daemon_command(args)
        .env("GITHUB_TOKEN", TOKEN)
        .env_remove("GH_TOKEN")
        .output()
        .unwrap()
}

fn pr_status(env: &Env, id: &str) -> serde_json::Value {
    env.show(id)["pr"]["status"].clone()
}

/// A task pushed through the daemon with a pull request on `gh` (the user's config
/// also says `extra`); its id and branch. The daemon runs until `Daemon` drops.
fn pushed_task<'a>(env: &'a Env, gh: &FakeGitHub, extra: &str) -> (String, String, Daemon<'a>) {
    // How often to ask is the user's to say.
    user_config(
        env,
        format!(
            "{extra}[forge]\nrepo = \"ana/shop\"\napi_url = \"{}\"\npoll = \"1s\"\npoll_idle = \"1s\"\n",
            gh.url
        ),
    );
    let id = env.add(
        "Fix add",
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n[[step]]\nfinish = \"add() adds\"\n\
         [[retry_step]]\nedit = { path = \"calc.py\", old = \"def add(a, b):\\n\", new = \"def add(a, b):\\n    \\\"\\\"\\\"The sum.\\\"\\\"\\\"\\n\" }\n[[retry_step]]\nfinish = \"documented add()\"\n",
    );
    let out = env
        .daemon_command(&["daemon", "start"])
        .env("GITHUB_TOKEN", TOKEN)
        .env_remove("GH_TOKEN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let daemon = Daemon(env);
    wait_for(120, "the task in review", || {
        (env.show(&id)["state"] == "review").then_some(())
    });
    let out = via_daemon(env, &["approve", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = via_daemon(env, &["push", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(gh.pulls().len(), 1);
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();
    (id, branch, daemon)
}

/// Writes the user's config file (`~/.config/drover/config.toml` of `env`).
fn user_config(env: &Env, text: impl AsRef<str>) {
    let dir = env.home.path().join("config/drover");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text.as_ref()).unwrap();
}

/// A local GitHub over `env`'s new bare origin; the bare repository's path.
fn github(env: &Env) -> (tempfile::TempDir, std::path::PathBuf, FakeGitHub) {
    let origin = bare_origin(env);
    let bare = origin.path().join("origin.git");
    git(&bare, &["config", "core.logAllRefUpdates", "always"]);
    let gh = FakeGitHub::start(bare.clone(), "ana", "shop");
    (origin, bare, gh)
}

#[test]
fn a_pull_request_is_followed_fed_back_updated_and_merged() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let (_origin, bare, gh) = github(&env);
    let (id, branch, _daemon) = pushed_task(&env, &gh, "");
    let first = gh.rev(&branch);

    // CI fails, a reviewer asks for changes on a line.
    gh.check_run(
        &first,
        "lint",
        Some("failure"),
        "1 error",
        &[("calc.py", 1, "D103 missing docstring")],
    );
    gh.check_run(&first, "test", Some("success"), "ok", &[]);
    gh.status(&first, "ci/legacy", "success", "the old CI passes");
    gh.review(1, "bob", "CHANGES_REQUESTED", "almost");
    let comment = gh.review_comment(
        1,
        "bob",
        "calc.py",
        1,
        "please document add()",
        "@@ -1,2 +1,2 @@\n def add(a, b):",
    );
    let seen = wait_for(30, "the failing check and the comment on the task", || {
        let s = pr_status(&env, &id);
        (s["checks"]["failed"] == 1 && s["comments"].as_array().is_some_and(|c| c.len() == 1))
            .then_some(s)
    });
    assert_eq!(seen["review"], "changes_requested", "{seen}");
    assert_eq!(
        seen["checks"]["passed"], 2,
        "a check run and a commit status: {seen}"
    );
    assert_eq!(seen["changes_requested_by"][0], "bob");
    assert_eq!(
        seen["checks"]["failures"][0]["annotations"][0]["message"],
        "D103 missing docstring"
    );
    assert_eq!(seen["comments"][0]["resolved"], false);
    assert_eq!(env.show(&id)["state"], "pushed");
    // Asked again and again, nothing changes: GitHub answers 304 (free).
    wait_for(20, "conditional requests answered 304", || {
        (gh.requests().iter().filter(|r| r.status == 304).count() >= 5).then_some(())
    });

    // A rate limit: waited out (retry-after: 2 s), not hammered.
    gh.limit_next(1);
    let reqs = wait_for(20, "the rate limit met, and GitHub asked again", || {
        let reqs = gh.requests();
        let at = reqs.iter().position(|r| r.status == 403)?;
        (reqs.len() > at + 1).then_some(reqs)
    });
    let at = reqs.iter().position(|r| r.status == 403).unwrap();
    let waited = reqs[at + 1].at.duration_since(reqs[at].at);
    assert!(
        waited >= Duration::from_millis(1900),
        "asked again {waited:?} after the limit"
    );

    // The follow-up: asked what the pull request says, in the same workspace.
    let out = via_daemon(&env, &["followup", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("the follow-up is asked:") && said.contains("please document add()"),
        "{said}"
    );
    let task = wait_for(120, "the follow-up in review", || {
        let t = env.show(&id);
        (t["state"] == "review" && t["attempt"] == 2).then_some(t)
    });
    let feedback = task["feedback"].as_str().unwrap();
    assert!(
        feedback.contains("calc.py:1, from bob:") && feedback.contains("please document add()"),
        "{feedback}"
    );
    assert!(
        feedback.contains("lint (failure)")
            && feedback.contains("calc.py:1 failure: D103 missing docstring"),
        "{feedback}"
    );
    assert!(
        feedback.contains("Changes requested:\n\nbob: almost"),
        "the review's own words: {feedback}"
    );
    assert_eq!(
        task["pr"]["number"], 1,
        "the follow-up keeps the pull request"
    );
    let out = via_daemon(&env, &["approve", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = via_daemon(&env, &["push", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("pull request #1"),
        "{}",
        text(&out.stdout)
    );
    let second = gh.rev(&branch);
    assert_ne!(first, second);
    assert_eq!(gh.pulls().len(), 1, "one pull request, whatever happens");
    // Fast-forward: the new head sits on the old one.
    let ff = std::process::Command::new("git")
        .args(["merge-base", "--is-ancestor", &first, &second])
        .current_dir(&bare)
        .status()
        .unwrap();
    assert!(ff.success(), "the update is a fast-forward");
    let comments = gh.issue_comments(1);
    assert_eq!(comments.len(), 1, "{comments:?}");
    let said = comments[0]["body"].as_str().unwrap();
    assert!(
        said.contains("Addressed review in attempt 2")
            && said.contains("- `calc.py:1` (bob)")
            && said.contains("- lint (failure)"),
        "{said}"
    );
    assert!(said.contains("passed"), "the test verdict: {said}");
    assert_eq!(gh.requested_reviewers(1), ["bob"], "asked again");

    // CI passes on the new head, the thread is resolved, the pull request is merged.
    gh.check_run(&second, "lint", Some("success"), "clean", &[]);
    gh.resolve(comment);
    gh.review(1, "bob", "APPROVED", "thanks");
    gh.merge(1);
    let t = wait_for(30, "the task merged", || {
        let t = env.show(&id);
        (t["state"] == "merged").then_some(t)
    });
    let s = &t["pr"]["status"];
    assert_eq!(
        (s["state"].as_str(), s["review"].as_str()),
        (Some("merged"), Some("approved")),
        "{s}"
    );
    assert_eq!(s["comments"][0]["resolved"], true, "{s}");

    let reqs = gh.requests();
    let asked = reqs
        .iter()
        .find(|r| r.path.ends_with("/requested_reviewers"))
        .unwrap();
    assert_eq!(asked.body["reviewers"], serde_json::json!(["bob"]));
    assert!(
        !reqs
            .iter()
            .any(|r| r.path.ends_with("/merge")
                || (r.method == "POST" && r.path.ends_with("/reviews"))),
        "drover never merges or reviews"
    );
}

/// The CI babysitter (`auto_followup = "ci"`): failing checks start a follow-up by
/// themselves, asked about the checks alone; at most `agent.max_iterations` in a row.
#[test]
fn the_ci_babysitter_follows_up_on_failing_checks_within_its_bound() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let (_origin, _bare, gh) = github(&env);
    let (id, branch, _daemon) = pushed_task(
        &env,
        &gh,
        "auto_followup = \"ci\"\n[agent]\nmax_iterations = 1\n",
    );
    let first = gh.rev(&branch);
    // A comment alone starts nothing.
    gh.review_comment(1, "bob", "calc.py", 1, "nit: naming", "@@ -1 +1 @@");
    wait_for(30, "the comment seen", || {
        (pr_status(&env, &id)["comments"]
            .as_array()
            .is_some_and(|c| c.len() == 1))
        .then_some(())
    });
    assert_eq!(env.show(&id)["attempt"], 1);
    gh.check_run(
        &first,
        "lint",
        Some("failure"),
        "1 error",
        &[("calc.py", 1, "D103 missing docstring")],
    );
    let t = wait_for(120, "the babysitter's follow-up in review", || {
        let t = env.show(&id);
        (t["state"] == "review" && t["attempt"] == 2).then_some(t)
    });
    let feedback = t["feedback"].as_str().unwrap();
    assert!(
        feedback.contains("CI babysitter") && feedback.contains("D103 missing docstring"),
        "{feedback}"
    );
    assert!(
        !feedback.contains("nit: naming"),
        "the checks alone: {feedback}"
    );
    let logs = env.drover(&["logs", &id]);
    assert!(
        text(&logs.stdout).contains("CI babysitter"),
        "said in the transcript: {}",
        text(&logs.stdout)
    );
    // Approving and pushing stay the user's; the checks fail again on the new head.
    for step in ["approve", "push"] {
        let out = via_daemon(&env, &[step, &id]);
        assert!(out.status.success(), "{step}: {}", text(&out.stderr));
    }
    let second = gh.rev(&branch);
    gh.check_run(&second, "lint", Some("failure"), "still 1 error", &[]);
    wait_for(30, "the new head's failure seen", || {
        let s = pr_status(&env, &id);
        (s["head"] == second.as_str() && s["checks"]["failed"] == 1).then_some(())
    });
    let t = env.show(&id);
    assert_eq!(
        (t["state"].as_str(), t["attempt"].as_u64()),
        (Some("pushed"), Some(2)),
        "bounded: no third attempt"
    );
}

/// `p` on a pushed task whose pull request could not be opened (no token then) opens
/// just the pull request; GitHub's `422` for a second one of the same head finds the
/// first. No daemon: each command's own engine.
#[test]
fn p_on_a_pushed_task_without_a_pull_request_opens_just_that() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let (_origin, bare, gh) = github(&env);
    user_config(
        &env,
        format!("[forge]\nrepo = \"ana/shop\"\napi_url = \"{}\"\n", gh.url),
    );
    let id = env.add(
        "Fix add",
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n",
    );
    env.drover(&["run"]);
    assert!(env.drover(&["approve", &id]).status.success());
    let no_token = |args: &[&str]| {
        env.command(args)
            .env_remove("GITHUB_TOKEN")
            .env_remove("GH_TOKEN")
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap()
    };
    let out = no_token(&["push", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(env.show(&id)["state"], "pushed");
    assert!(gh.pulls().is_empty(), "no token, no pull request");
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();
    let pushed = gh.rev(&branch);
    // Someone opened one for the branch meanwhile: GitHub says 422, drover finds it.
    let other = drover::forge::GitHub::new(&gh.url, Some(TOKEN.into())).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let first = rt
        .block_on(other.find_or_create(&drover::forge::NewPullRequest {
            owner: "ana",
            repo: "shop",
            head: &branch,
            base: "main",
            title: "by hand",
            body: "",
            draft: false,
        }))
        .unwrap();
    let out = env
        .command(&["push", &id])
        .env("GITHUB_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("pull request #{}", first.number)),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(gh.pulls().len(), 1, "one pull request");
    assert!(
        gh.requests().iter().any(|r| r.status == 422),
        "GitHub said it exists"
    );
    assert_eq!(env.show(&id)["pr"]["number"], first.number);
    assert_eq!(gh.rev(&branch), pushed, "nothing pushed again");
    let reflog = std::fs::read_to_string(bare.join("logs/refs/heads").join(&branch)).unwrap();
    assert_eq!(
        reflog.lines().count(),
        1,
        "one update of the branch: {reflog}"
    );
    let again = env
        .command(&["push", &id])
        .env("GITHUB_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        !again.status.success() && text(&again.stderr).contains("already pushed"),
        "{}",
        text(&again.stderr)
    );
}

/// A pushed task with no pull request to follow (no token) becomes `merged` once the
/// remote's base branch holds its commits.
#[test]
fn a_branch_merged_on_the_remote_without_a_pull_request_is_merged() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let origin = bare_origin(&env);
    let bare = origin.path().join("origin.git");
    user_config(&env, "[forge]\npoll = \"1s\"\npoll_idle = \"1s\"\n");
    let id = env.add(
        "Fix add",
        "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n",
    );
    env.drover(&["run"]);
    assert!(env.drover(&["approve", &id]).status.success());
    let out = env
        .daemon_command(&["daemon", "start"])
        .env_remove("GITHUB_TOKEN")
        .env_remove("GH_TOKEN")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _daemon = Daemon(&env);
    let out = env.daemon_command(&["push", &id]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let branch = env.show(&id)["branch"].as_str().unwrap().to_string();
    assert_eq!(
        env.show(&id)["state"],
        "pushed",
        "the remote's main does not hold it yet"
    );
    // Merged on the remote (a fast-forward of main).
    git(
        &bare,
        &[
            "update-ref",
            "refs/heads/main",
            &format!("refs/heads/{branch}"),
        ],
    );
    wait_for(30, "the task merged", || {
        (env.show(&id)["state"] == "merged").then_some(())
    });
}

/// The loop in a real terminal: the TUI (on the daemon that follows the pull request)
/// shows the badges as CI fails and a reviewer comments, Info the details, and `r`
/// opens the follow-up's editor with what the pull request asks.
#[test]
fn the_tui_shows_the_pull_request_and_r_follows_up() {
    use crate::tmux::{Tmux, tmux_available, tui_in};
    if !docker_available() || !tmux_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let (_origin, _bare, gh) = github(&env);
    let (_id, branch, _daemon) = pushed_task(&env, &gh, "");
    let t = Tmux::in_env(&env, &tui_in(&env), true);
    t.wait_for("Fix add", 20);
    gh.check_run(
        &gh.rev(&branch),
        "lint",
        Some("failure"),
        "1 error",
        &[("calc.py", 1, "D103 missing docstring")],
    );
    gh.review(1, "bob", "CHANGES_REQUESTED", "almost");
    gh.review_comment(
        1,
        "bob",
        "calc.py",
        1,
        "please document add()",
        "@@ -1,2 +1,2 @@",
    );
    t.wait_for("CI✗ changes ✎1", 30);
    t.keys(&["4"]);
    let s = t.wait_for("changes requested by bob", 10);
    assert!(
        s.contains("lint (failure)") && s.contains("calc.py:1 bob: please document add()"),
        "{s}"
    );
    t.keys(&["r"]);
    let s = t.wait_for("Follow up (same workspace, same pull request): Fix add", 10);
    assert!(
        s.contains("please document add()") && s.contains("Failing checks:"),
        "the follow-up's editor:\n{s}"
    );
    t.keys(&["Escape"]);
    t.keys(&["y"]);
    t.keys(&["q"]);
}
