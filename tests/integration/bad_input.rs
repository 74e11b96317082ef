//! Bad input: a clear message and the right exit code, never a panic or a broken store.

use crate::common::{Env, docker_available, ensure_image, text};

#[test]
fn not_a_repo_and_no_commits_exit_2() {
    let env = Env::python_bug();
    let empty = tempfile::tempdir().unwrap();
    let out = env
        .command(&["run"])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a git repository"),
        "{}",
        text(&out.stderr)
    );

    crate::common::git(empty.path(), &["init", "-q"]);
    let script = env.home.path().join("s.toml");
    std::fs::write(&script, "[[step]]\nsay = \"hi\"\n").unwrap();
    let out = env
        .command(&["add", "--script", script.to_str().unwrap(), "x"])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no commits yet"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn malformed_config_and_script_name_file_line_col() {
    let env = Env::python_bug();
    std::fs::write(
        env.repo.join("drover.toml"),
        "test = \"ok\"\nmax_parallel = \"many\"\n",
    )
    .unwrap();
    let script = env.home.path().join("s.toml");
    std::fs::write(&script, "[[step]]\nsay = \"hi\"\n").unwrap();
    let out = env.drover(&["add", "--script", script.to_str().unwrap(), "x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("drover.toml:2:16: invalid type: string \"many\""),
        "{err}"
    );

    std::fs::remove_file(env.repo.join("drover.toml")).unwrap();
    std::fs::write(&script, "[[step]]\nsay = \"hi\"\n\n[[step]]\nrun = \"a\"\nedit = { path = \"x\", old = \"a\", new = \"b\" }\n").unwrap();
    let out = env.drover(&["add", "--script", script.to_str().unwrap(), "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("s.toml:4:1: a step must do exactly one thing"),
        "{}",
        text(&out.stderr)
    );

    // Without a script the built-in agent is used: with no model configured, say how.
    let out = env
        .command(&["add", "x"])
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no LLM agent configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY"),
        "{err}"
    );
    assert!(err.contains("drover add --script FILE"), "{err}");
}

/// A script too big to travel with its task (every snapshot carries it) is refused by
/// name, and nothing is queued; one just under the limit is taken (positive control).
#[test]
fn a_task_too_big_to_carry_is_refused_by_name() {
    let env = Env::python_bug();
    let script = env.home.path().join("s.toml");
    let padded = |bytes: usize| {
        let mut s = "[[step]]\nsay = \"hi\"\n".to_string();
        while s.len() + 64 < bytes {
            s.push_str(&format!("# {}\n", "p".repeat(60)));
        }
        s
    };
    std::fs::write(&script, padded(1 << 20)).unwrap();
    let out = env.drover(&["add", "--script", script.to_str().unwrap(), "fits"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(&script, padded(2 << 20)).unwrap();
    let out = env.drover(&["add", "--script", script.to_str().unwrap(), "too big"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("the script is") && err.contains("more than the 1048576 a task may carry"),
        "{err}"
    );
    let list = text(&env.drover(&["list"]).stdout);
    assert!(list.contains("fits") && !list.contains("too big"), "{list}");
    assert!(
        list.starts_with("ID          STATE"),
        "no repository column in one: {list}"
    );
    // Bug 20: `--all` (and outside a repository) names each task's repository.
    let all = text(&env.drover(&["list", "--all"]).stdout);
    let repo = env.repo.file_name().unwrap().to_string_lossy().to_string();
    assert!(all.starts_with("ID          REPO"), "{all}");
    let row = all.lines().find(|l| l.contains("fits")).unwrap();
    assert!(row.contains(&format!("  {repo}  ")), "{all}");
}

#[test]
fn docker_down_is_a_clear_error_and_the_task_stays_queued() {
    let env = Env::python_bug();
    let id = env.add("Wait for docker", "[[step]]\nsay = \"hi\"\n");
    let out = env
        .command(&["run"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "cannot connect to Docker at unix:///nonexistent/docker.sock: is the daemon running?"
        ),
        "{err}"
    );
    assert_eq!(env.show(&id)["state"], "queued");
}

#[test]
fn missing_image_names_the_command_that_builds_it() {
    if !docker_available() {
        return;
    }
    let env = Env::python_bug();
    env.write_config("image = \"drover-test-missing:nope\"\n");
    let id = env.add("No image", "[[step]]\nsay = \"hi\"\n");
    let out = env.drover(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "image drover-test-missing:nope not found: build it with `drover image build`"
        ),
        "{err}"
    );
    assert_eq!(env.show(&id)["state"], "queued");
}

#[test]
fn out_02_binary_and_huge_output_is_capped_and_marked() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    let script = r#"
[[step]]
run = "printf '\\xff\\xfe\\x00abc\\r\\n'; head -c 3000000 /dev/zero | tr '\\0' x; printf '\\e[2Jend'"
[[step]]
finish = "flooded"
"#;
    let id = env.add("Flood", script);
    let out = env.drover(&["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let logs = env.drover(&["logs", &id, "--json"]);
    assert!(
        logs.stdout.len() < 200_000,
        "transcript is {} bytes",
        logs.stdout.len()
    );
    let result: serde_json::Value = text(&logs.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["kind"] == "tool_result")
        .unwrap();
    let output = result["output"].as_str().unwrap();
    assert!(
        output.starts_with("\u{fffd}\u{fffd}\u{2400}abc\r\n"),
        "{:?}",
        &output[..20]
    );
    assert!(output.contains("bytes truncated…"));
    assert!(
        output.ends_with("\u{1b}[2Jend"),
        "stored raw; made inert only when shown"
    );
    assert!(result["truncated"].as_u64().unwrap() > 2_900_000);
    // Shown in a terminal, the escape sequence is inert.
    let human = text(&env.drover(&["logs", &id]).stdout);
    assert!(
        !human.contains('\u{1b}') && human.contains("␛[2Jend"),
        "escape reached the terminal"
    );
}

#[test]
fn doctor_reports_what_works_and_what_does_not() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let out = env
        .command(&["doctor"])
        .env_remove("OPENAI_API_KEY")
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .output()
        .unwrap();
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    for what in [
        "✓ git",
        "✓ repo",
        "✓ config",
        "✓ agent    anthropic claude-sonnet-4-5",
        "✓ data",
        "✓ daemon   not running (the TUI and commands start it when needed)",
        "✓ docker",
        "✓ image",
    ] {
        assert!(report.contains(what), "{what} missing from:\n{report}");
    }
    let out = env
        .command(&["doctor"])
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout)
            .contains("✗ docker   cannot connect to Docker at unix:///nonexistent.sock"),
        "{}",
        text(&out.stdout)
    );

    std::fs::write(env.repo.join("drover.toml"), "netwrk = \"none\"\n").unwrap();
    let report = text(&env.drover(&["doctor"]).stdout);
    assert!(
        report.contains("✗ config   ")
            && report.contains("drover.toml:1:1: unknown field `netwrk`"),
        "{report}"
    );
}

#[test]
fn docker_socket_permission_denied_says_why() {
    // Needs a user without access to the socket: as root, drop to `nobody`.
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| text(&o.stdout).trim() == "0");
    let runuser = std::path::Path::new("/usr/sbin/runuser").exists()
        || std::path::Path::new("/sbin/runuser").exists();
    if !(root.unwrap_or(false) && runuser && std::path::Path::new("/var/run/docker.sock").exists())
    {
        eprintln!("SKIPPED: needs root and runuser to test as an unprivileged user");
        return;
    }
    let can_run = std::process::Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            env!("CARGO_BIN_EXE_drover"),
            "--version",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !can_run {
        eprintln!("SKIPPED: user nobody cannot execute the test binary from this checkout");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    std::process::Command::new("chown")
        .args(["nobody", home.path().to_str().unwrap()])
        .status()
        .unwrap();
    let out = std::process::Command::new("runuser")
        .args(["-u", "nobody", "--", "env"])
        .arg(format!("HOME={}", home.path().display()))
        .arg(format!("DROVER_HOME={}/data", home.path().display()))
        .arg("DOCKER_HOST=unix:///var/run/docker.sock")
        .arg(env!("CARGO_BIN_EXE_drover"))
        .arg("doctor")
        .current_dir(home.path())
        .output()
        .unwrap();
    let report = text(&out.stdout);
    assert!(
        report.contains("✗ docker   permission denied on the Docker socket unix:///var/run/docker.sock: add your user to the `docker` group (membership is root-equivalent)"),
        "{report}{}",
        text(&out.stderr)
    );
}

#[test]
fn sec_04_secrets_printed_by_an_agent_never_reach_the_store() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let canary = format!("sk-CANARY{}x{}", std::process::id(), "Q".repeat(24));
    let gh = format!("ghp_{}", "a1B2".repeat(9));
    // The secrets come only from files the agent reads, as a real leak would.
    let env = Env::with_files(&[
        (".env", &format!("OPENAI_API_KEY={canary}\n")),
        ("notes.txt", &format!("token {gh}\n")),
    ]);
    env.write_config("test = \"cat .env notes.txt\"\n");
    let script = "[[step]]\nrun = \"cat .env notes.txt\"\n[[step]]\nread = \"notes.txt\"\n[[step]]\nfinish = \"printed the secrets\"\n";
    let id = env.add("Leak", script);
    let out = env
        .command(&["run"])
        .env("OPENAI_API_KEY", &canary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains(&canary),
        "printed by drover run"
    );
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(
        logs.contains("OPENAI_API_KEY=[REDACTED:env:OPENAI_API_KEY]"),
        "{logs}"
    );
    assert!(logs.contains("token [REDACTED:github-token]"), "{logs}");
    // Nothing under the data dir holds the canary or the token: transcripts, the
    // database and its WAL, test logs, logs.
    let mut hits = Vec::new();
    let mut stack = vec![env.data()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                // The workspace is the agent's copy of the repository, .env included.
                if !p.ends_with(&id) || !p.parent().is_some_and(|d| d.ends_with("workspaces")) {
                    stack.push(p);
                }
            } else if let Ok(bytes) = std::fs::read(&p) {
                let s = String::from_utf8_lossy(&bytes);
                if s.contains(&canary) || s.contains(&gh) {
                    hits.push(p);
                }
            }
        }
    }
    assert!(hits.is_empty(), "secrets stored in {hits:?}");
}

/// Catalogue, agent output: commands that would wait for a person (an editor for the
/// commit message, a read from stdin, an ssh host-key prompt) end at once, because stdin
/// is closed and editors and prompts are switched off.
#[test]
fn interactive_prompts_never_hang_a_task() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n[limits]\ncommand_timeout = \"60s\"\n");
    let id = env.add(
        "Prompts",
        "[[step]]\nrun = \"echo control-$((6*7)); echo x >> calc.py; git add -A; git -c user.name=a -c user.email=b commit; echo commit-$?\"\n[[step]]\nrun = \"read -r answer; echo read-$?\"\n[[step]]\nrun = \"python3 -c 'input()' 2>&1 | tail -n 1\"\n[[step]]\nrun = \"ssh -o ConnectTimeout=2 git@github.com true; echo ssh-$?\"\n",
    );
    let started = std::time::Instant::now();
    let out = env.drover(&["run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(40),
        "nothing waited for a person ({:?})",
        started.elapsed()
    );
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "{logs}");
    assert!(
        logs.contains("commit-0") || logs.contains("commit-1"),
        "{logs}"
    );
    assert!(logs.contains("read-1"), "stdin is closed: {logs}");
    assert!(logs.contains("EOFError"), "{logs}");
    assert!(logs.contains("ssh-"), "{logs}");
}

/// Catalogue, Docker: a container that already has the task's name but is not drover's
/// is left alone; the task fails naming it and its id.
#[test]
fn a_foreign_container_with_the_tasks_name_is_never_removed() {
    if !docker_available() {
        return;
    }
    let image = ensure_image();
    let env = Env::python_bug();
    let id = env.add("Squatted", "[[step]]\nrun = \"true\"\n");
    let name = format!("drover-{id}");
    let created = std::process::Command::new("docker")
        .args(["create", "--name", &name, &image, "true"])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created.stderr));
    let decoy = text(&created.stdout).trim().to_string();
    env.drover(&["run"]);
    let shown = env.show(&id);
    let still = std::process::Command::new("docker")
        .args(["inspect", "--format", "{{.Id}}", &name])
        .output()
        .unwrap();
    let _ = std::process::Command::new("docker")
        .args(["rm", "-f", &decoy])
        .output();
    assert_eq!(text(&still.stdout).trim(), decoy, "the decoy is untouched");
    assert_eq!(shown["state"], "failed", "{shown}");
    let reason = shown["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("is not drover's") && reason.contains(&decoy[..12]),
        "{reason}"
    );
}
