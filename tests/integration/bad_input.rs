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

    let out = env.drover(&["add", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("pass --script FILE"));
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
fn binary_and_huge_output_is_capped_and_marked() {
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
    let out = env.drover(&["doctor"]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{report}");
    for what in [
        "✓ git",
        "✓ repo",
        "✓ config",
        "✓ data",
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
