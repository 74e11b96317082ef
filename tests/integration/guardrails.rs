//! Checklist items about what an agent can reach and what drover reports: SEC-01 (no
//! secret of the host reaches the container), GIT-01 (the user's checkout survives
//! anything the agent does), GIT-11 (status from facts, not from the agent's claims).
//! Each negative test has a positive control in the same container run.

use std::process::Command;

use crate::common::*;

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// SEC-01: canaries in drover's own environment (tokens, keys, a plain variable) appear
/// nowhere the agent can look: not in any process environment in the container, git
/// config, credential files, the container's files, `docker inspect` or `docker diff`.
#[test]
fn sec_01_no_canary_from_the_host_reaches_the_container() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    let values = [
        ("GITHUB_TOKEN", format!("ghp_{}", canary("gh"))),
        ("ANTHROPIC_API_KEY", format!("sk-ant-{}", canary("an"))),
        ("OPENAI_API_KEY", format!("sk-{}", canary("oa"))),
        ("AWS_SECRET_ACCESS_KEY", canary("aws")),
        ("DROVER_TEST_CANARY", canary("plain")),
    ];
    // The pattern finds any canary without the script containing one.
    let id = env.add(
        "Look for secrets",
        r#"[[step]]
run = "echo control-$((6*7)); ls /workspace/calc.py"
[[step]]
run = "env; cat /proc/1/environ; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'"
[[step]]
run = "git config -l --show-origin"
[[step]]
run = "cat ~/.git-credentials ~/.config/gh/hosts.yml ~/.docker/config.json ~/.netrc 2>&1"
[[step]]
run = "printf 'cnry%s' 0123456789abcdef0123 > /tmp/control; grep -rlE 'cnry[0-9a-f]{20}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev 2>/dev/null | tr '\\n' ' '; echo"
"#,
    );
    let mut cmd = env.command(&["run"]);
    for (k, v) in &values {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "positive control: {logs}");
    assert!(logs.contains("calc.py"), "positive control: {logs}");
    let found: Vec<&str> = logs
        .lines()
        .find(|l| l.trim_start().starts_with('│') && l.contains("/tmp/control"))
        .map(|l| {
            l.trim_start_matches([' ', '│'])
                .split_whitespace()
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        found,
        ["/tmp/control"],
        "grep over the container's files finds its control and nothing else: {logs}"
    );
    let container = format!("drover-{id}");
    let inspect = docker(&["inspect", "--format", "{{json .Config.Env}}", &container]);
    let diff = docker(&["diff", &container]);
    for (name, v) in &values {
        for (what, hay) in [
            ("transcript", &logs),
            ("docker inspect", &inspect),
            ("docker diff", &diff),
        ] {
            assert!(!hay.contains(v.as_str()), "{name} reached the {what}");
        }
        assert!(!inspect.contains(name), "{name} is in the container's env");
    }
    assert!(
        !logs.contains("REDACTED"),
        "nothing had to be hidden: no secret ever got there: {logs}"
    );
}

/// GIT-01: whatever the agent does to its workspace (delete everything, reset, clean,
/// drop stashes), the user's checkout (tracked and untracked files, .git/config, hooks,
/// refs, the stash) stays byte-identical.
#[test]
fn git_01_the_users_checkout_is_untouched_by_a_destructive_agent() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    for i in 0..5 {
        std::fs::write(env.repo.join(format!("f{i}.txt")), format!("{i}\n")).unwrap();
        git(&env.repo, &["add", "-A"]);
        git(
            &env.repo,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "commit",
                "-qm",
                &format!("c{i}"),
            ],
        );
    }
    std::fs::write(env.repo.join("f0.txt"), "stashed\n").unwrap();
    git(
        &env.repo,
        &["-c", "user.name=t", "-c", "user.email=t@t", "stash", "-q"],
    );
    std::fs::write(env.repo.join("untracked.txt"), "mine\n").unwrap();
    std::fs::write(env.repo.join("calc.py"), "# my uncommitted work\n").unwrap();
    std::fs::write(
        env.repo.join(".git/hooks/pre-commit"),
        "#!/bin/sh\nexit 0\n",
    )
    .unwrap();
    let before = tree_hash(&env.repo);

    let id = env.add(
        "Destroy everything",
        r#"[[step]]
run = "echo control-$((6*7)); git log --oneline | wc -l"
[[step]]
run = "git reset --hard HEAD~5; git clean -fdx; git stash drop; git stash clear; git branch -D main; true"
[[step]]
run = "rm -rf /workspace/* /workspace/.[!.]*; ls -A /workspace | wc -l"
"#,
    );
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "positive control: {logs}");
    assert!(
        logs.contains("HEAD is now at"),
        "the reset ran in the workspace: {logs}"
    );
    assert_eq!(tree_hash(&env.repo), before, "the user's checkout changed");
    let stash = Command::new("git")
        .args(["stash", "list"])
        .current_dir(&env.repo)
        .output()
        .unwrap();
    assert_eq!(text(&stash.stdout).lines().count(), 1, "the stash is kept");
    let shown = env.show(&id);
    assert_eq!(shown["state"], "failed", "{shown}");
    assert!(
        shown["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("worktree empty"),
        "{shown}"
    );
    // Retry from scratch re-creates the workspace from the base.
    assert!(env.drover(&["retry", &id]).status.success());
    env.drover(&["run"]);
    let second = env.transcript(&id, 2);
    assert!(
        second.contains("HEAD is now at"),
        "the second attempt had a whole repository again: {second}"
    );
    assert_eq!(tree_hash(&env.repo), before, "still untouched");
}

/// GIT-11: an agent that says "all tests pass, pushed" without doing anything: drover
/// reports what git and the tests say (no changes, tests failed, not pushed), and keeps
/// the claim labelled as the agent's.
#[test]
fn git_11_status_comes_from_facts_not_from_the_agents_claims() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = env.add(
        "Claim success",
        "[[step]]\nsay = \"All tests pass and I pushed the branch.\"\n[[step]]\nfinish = \"All tests pass, pushed to origin.\"\n",
    );
    env.drover(&["run"]);
    let shown = env.show(&id);
    assert_eq!(shown["state"], "review", "{shown}");
    assert_eq!(shown["diff"]["files"], 0, "no changes: {shown}");
    assert_eq!(shown["tests"]["verdict"], "failed", "{shown}");
    assert!(shown["pr"].is_null(), "not pushed: {shown}");
    assert_eq!(shown["summary"], "All tests pass, pushed to origin.");
    let branch = shown["branch"].as_str().unwrap();
    let remote = Command::new("git")
        .args(["ls-remote", "--heads", "origin", branch])
        .current_dir(&env.repo)
        .output()
        .unwrap();
    assert!(
        !remote.status.success(),
        "there is no remote to have pushed to"
    );
    let text_show = text(&env.drover(&["show", &id]).stdout);
    assert!(text_show.contains("tests     failed"), "{text_show}");
    assert!(text_show.contains("pushed    no"), "{text_show}");
    assert!(
        text_show.contains("agent says All tests pass"),
        "{text_show}"
    );
}
