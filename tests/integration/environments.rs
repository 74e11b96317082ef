//! Environments: setup runs once, in a phase of its own with network and `setup_env`,
//! and is kept as a snapshot the next tasks start from; a lock file change makes a new
//! one. The project is real: its dependency comes from a package index served by a
//! test container on Docker's bridge (no public network).

use std::process::Command;

use crate::common::{Env, canary, commit_all, docker_available, ensure_image, text};

/// A package index in a container of the worker image: one wheel (`drovertestdep 1.0`,
/// whose `VALUE` is 41) under `simple/`, served by Python's HTTP server. Returns the
/// container id and the index URL.
fn package_index(env: &Env) -> (String, String) {
    let image = ensure_image();
    let script = r#"
import os, zipfile, base64, hashlib
root = "/tmp/idx/simple/drovertestdep"
os.makedirs(root, exist_ok=True)
files = {
    "drovertestdep/__init__.py": "VALUE = 41\n",
    "drovertestdep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: drovertestdep\nVersion: 1.0\n",
    "drovertestdep-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: drover-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for name, content in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(content.encode()).digest()).rstrip(b"=").decode()
    record.append(f"{name},sha256={digest},{len(content)}")
record.append("drovertestdep-1.0.dist-info/RECORD,,")
files["drovertestdep-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(f"{root}/drovertestdep-1.0-py3-none-any.whl", "w") as z:
    for name, content in files.items():
        z.writestr(name, content)
os.execvp("python3", ["python3", "-m", "http.server", "8000", "--directory", "/tmp/idx"])
"#;
    let label = env.repo_label();
    let out = Command::new("docker")
        .args([
            "run",
            "-d",
            "--rm",
            "--label",
            "drover.managed=true",
            "--label",
            &label,
            "--entrypoint",
            "python3",
            &image,
            "-c",
            script,
        ])
        .output()
        .expect("docker run");
    assert!(out.status.success(), "index: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let ip = text(
        &Command::new("docker")
            .args(["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &id])
            .output()
            .expect("inspect")
            .stdout,
    )
    .trim()
    .to_string();
    assert!(!ip.is_empty(), "the index container has no bridge address");
    // Serving once the wheel is there.
    let probe = format!(
        "import urllib.request as u; u.urlopen('http://{ip}:8000/simple/drovertestdep/', timeout=2).read()"
    );
    crate::common::wait_for(30, "the package index to answer", || {
        Command::new("docker")
            .args(["exec", &id, "python3", "-c", &probe])
            .status()
            .ok()
            .filter(|s| s.success())
    });
    (id, format!("http://{ip}:8000/simple/"))
}

/// The snapshot images of `env`'s data dir.
fn snapshots(env: &Env) -> Vec<String> {
    let data = drover::paths::DataDir::at(env.data()).expect("data dir");
    let out = Command::new("docker")
        .args([
            "images",
            "-q",
            "--filter",
            "label=drover.env",
            "--filter",
            &format!("label=drover.data={}", data.hash()),
        ])
        .output()
        .expect("docker images");
    let mut ids: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    ids.sort();
    ids.dedup();
    ids
}

const AGENT: &str = r#"
[[step]]
run = "env | cut -d= -f1 | sort | tr '\n' ' '"
[[step]]
run = "if [ -e .venv/agent-was-here ]; then echo kept-from-$((40+2)); fi; touch .venv/agent-was-here && echo venv-writable"
[[step]]
write = { path = "note.txt", content = "done\n" }
[[step]]
finish = "Wrote a note"
"#;

fn project(token: &str) -> Env {
    let env = Env::with_files(&[
        ("requirements.txt", "drovertestdep==1.0\n"),
        (".gitignore", ".venv/\n.pytest_cache/\n"),
        (
            "test_app.py",
            "import drovertestdep\n\ndef test_value():\n    assert drovertestdep.VALUE == 41\n",
        ),
    ]);
    env.write_config(&format!(
        r#"test = ".venv/bin/python -m pytest -q -p no:cacheprovider"
setup = [
  "python3 -m venv --system-site-packages .venv",
  ".venv/bin/pip install --no-cache-dir --disable-pip-version-check -r requirements.txt",
  "test -n \"$PIP_INDEX_URL\" && echo setup sees the index; echo token {token}-$DROVER_CANARY_TOKEN",
]
setup_env = ["PIP_INDEX_URL", "PIP_TRUSTED_HOST", "DROVER_CANARY_TOKEN"]
"#
    ));
    env
}

fn run_task(env: &Env, title: &str, vars: &[(&str, &str)]) -> (String, String) {
    let path = env.home.path().join("agent.toml");
    std::fs::write(&path, AGENT).expect("script");
    let out = env
        .command(&[
            "add",
            "--script",
            path.to_str().expect("utf8"),
            "--title",
            title,
            "go",
        ])
        .output()
        .expect("add");
    assert!(out.status.success(), "add: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let mut run = env.command(&["run"]);
    for (k, v) in vars {
        run.env(k, v);
    }
    let out = run.output().expect("run");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "run: {}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let logs = text(&env.drover(&["logs", &id]).stdout);
    (id, logs)
}

#[test]
fn env_01_setup_runs_once_with_network_and_the_snapshot_serves_the_next_task() {
    if !docker_available() {
        return;
    }
    let token = canary("setup-env");
    let env = project(&token);
    let (_index, url) = package_index(&env);
    let host = url
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    let vars = [
        ("PIP_INDEX_URL", url.as_str()),
        ("PIP_TRUSTED_HOST", host.as_str()),
        ("DROVER_CANARY_TOKEN", token.as_str()),
    ];

    // First task: setup runs with the bridge network and setup_env, in its own section.
    let (first, logs) = run_task(&env, "First", &vars);
    let task = env.show(&first);
    assert_eq!(task["state"], "review", "{task}\n{logs}");
    assert_eq!(task["tests"]["verdict"], "passed", "{logs}");
    assert!(
        logs.contains("── setup ──") && logs.contains("── agent ──"),
        "{logs}"
    );
    assert!(logs.contains("$ .venv/bin/pip install"), "{logs}");
    // Positive control: setup had the variables; their values never reach the log.
    assert!(logs.contains("setup sees the index"), "{logs}");
    assert!(
        logs.contains("[REDACTED:env:DROVER_CANARY_TOKEN]"),
        "{logs}"
    );
    let raw = env.transcript(&first, 1);
    assert!(!raw.contains(&token), "the setup_env value was stored");
    // The agent phase has none of them.
    for name in ["PIP_INDEX_URL", "PIP_TRUSTED_HOST", "DROVER_CANARY_TOKEN"] {
        let agent_part = logs.split("── agent ──").nth(1).unwrap_or("");
        assert!(
            !agent_part.contains(name),
            "{name} reached the agent: {agent_part}"
        );
    }
    assert!(agent_env_listed(&logs), "{logs}");
    let environment = task["environment"].as_str().unwrap_or_default().to_string();
    assert!(environment.contains("setup ran"), "{task}");
    assert_eq!(snapshots(&env).len(), 1);

    // Second task: from the snapshot, no setup, tests pass with the restored .venv.
    let (second, logs) = run_task(&env, "Second", &vars);
    let task = env.show(&second);
    assert_eq!(task["tests"]["verdict"], "passed", "{logs}");
    assert!(logs.contains("from snapshot"), "{logs}");
    assert!(
        !logs.contains("$ python3 -m venv"),
        "setup ran again: {logs}"
    );
    // The .venv is linked to a layer of the task's own over the snapshot (no copy), is
    // the agent's to change (the change lands in that layer), and is no change of the
    // task's: its diff holds the agent's note alone.
    assert!(
        logs.contains("1 ignored directory linked to a layer of the task's own"),
        "{logs}"
    );
    assert!(logs.contains("venv-writable"), "{logs}");
    let layer = env.data().join("envrw").join(&second);
    assert!(
        layer.join("upper/.venv/agent-was-here").exists(),
        "the agent's change is not in its layer"
    );
    assert!(!env.repo.join(".venv").exists());
    assert!(!logs.contains("kept-from-42"), "{logs}");
    // A retry with feedback goes on in the same workspace: on the same layer, with what
    // the agent changed in it.
    let retry = env.drover(&["retry", &second, "--feedback", "again"]);
    assert!(retry.status.success(), "{}", text(&retry.stderr));
    let run = env.command(&["run"]).output().expect("run");
    assert!(run.status.code().is_some_and(|c| c <= 1));
    let logs = text(&env.drover(&["logs", &second]).stdout);
    assert!(logs.contains("kept-from-42"), "{logs}");
    assert_eq!(env.show(&second)["tests"]["verdict"], "passed", "{logs}");
    let changes: Vec<String> = task["diff"]["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["path"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(changes, vec!["note.txt"], "{task}");
    assert_eq!(snapshots(&env).len(), 1);

    // A lock file change: a new snapshot.
    std::fs::write(
        env.repo.join("requirements.txt"),
        "drovertestdep==1.0\n# pinned\n",
    )
    .expect("write");
    commit_all(&env.repo, "touch requirements");
    let (third, logs) = run_task(&env, "Third", &vars);
    assert_eq!(env.show(&third)["tests"]["verdict"], "passed", "{logs}");
    assert!(logs.contains("$ python3 -m venv"), "{logs}");
    assert_eq!(snapshots(&env).len(), 2);

    // They are listed and counted; one a task's container uses is never removed.
    let list = text(&env.drover(&["env", "list"]).stdout);
    assert!(list.contains("2 snapshot(s)"), "{list}");
    let doctor = text(&env.drover(&["doctor"]).stdout);
    assert!(doctor.contains("2 environment snapshot(s)"), "{doctor}");
    let rebuild = env.drover(&["env", "rebuild"]);
    assert_eq!(rebuild.status.code(), Some(1), "{}", text(&rebuild.stdout));
    assert!(
        text(&rebuild.stderr).contains("stays"),
        "{}",
        text(&rebuild.stderr)
    );
    assert_eq!(snapshots(&env).len(), 2);
    for id in [&first, &second, &third] {
        assert!(env.drover(&["discard", id]).status.success());
    }
    assert!(!layer.exists(), "discard leaves the task's layer behind");
    let rebuild = env.drover(&["env", "rebuild"]);
    assert!(rebuild.status.success(), "{}", text(&rebuild.stderr));
    assert!(snapshots(&env).is_empty());
}

/// The agent's first step listed its environment's names.
fn agent_env_listed(logs: &str) -> bool {
    logs.split("── agent ──")
        .nth(1)
        .is_some_and(|a| a.contains("HOME"))
}

#[test]
fn env_02_a_setup_env_value_written_to_a_file_is_never_snapshotted() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let token = canary("leak");
    let env = Env::with_files(&[("README.md", "hi\n")]);
    env.write_config(
        r#"test = "true"
setup = ["echo wrote; printf '//registry/:_authToken=%s\n' \"$DROVER_CANARY_TOKEN\" > .npmrc"]
setup_env = ["DROVER_CANARY_TOKEN"]
"#,
    );
    let (id, logs) = run_task(&env, "Leaky", &[("DROVER_CANARY_TOKEN", token.as_str())]);
    let task = env.show(&id);
    // Positive control: the hostile step ran.
    assert!(logs.contains("wrote"), "{logs}");
    assert_eq!(task["state"], "failed", "{task}");
    let reason = task["reason"].to_string();
    assert!(
        reason.contains("DROVER_CANARY_TOKEN") && reason.contains(".npmrc"),
        "{task}"
    );
    assert!(snapshots(&env).is_empty(), "a leaking setup was kept");
    assert!(!env.transcript(&id, 1).contains(&token));
    assert!(!logs.contains("── agent ──"), "the agent ran: {logs}");
}

const DEV_AGENT: &str = r#"
[[step]]
run = "cat /etc/greeting; echo mode=$APP_MODE; cat created.txt; echo uid=$(id -u)"
[[step]]
finish = "Looked around"
"#;

/// A repository described by a devcontainer file (and a drover.toml with only `test`).
fn devcontainer_repo(json: &str, extra: &[(&str, &str)]) -> Env {
    let mut files = vec![
        (".devcontainer/devcontainer.json", json),
        ("README.md", "hi\n"),
    ];
    files.extend_from_slice(extra);
    let env = Env::with_files(&files);
    env.write_config("test = \"true\"\n");
    env
}

fn run_dev(env: &Env) -> (serde_json::Value, String) {
    let built = env.drover(&["image", "build"]);
    assert!(
        built.status.success(),
        "image build: {}\n{}",
        text(&built.stdout),
        text(&built.stderr)
    );
    let path = env.home.path().join("dev.toml");
    std::fs::write(&path, DEV_AGENT).expect("script");
    let out = env
        .command(&[
            "add",
            "--script",
            path.to_str().expect("utf8"),
            "--title",
            "Dev",
            "go",
        ])
        .output()
        .expect("add");
    assert!(out.status.success(), "add: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let run = env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(
        run.status.success(),
        "run: {}\n{}\n{logs}",
        text(&run.stdout),
        text(&run.stderr)
    );
    (env.show(&id), logs)
}

#[test]
fn env_03_devcontainer_build_and_image_forms_with_env_and_create_commands() {
    if !docker_available() {
        return;
    }
    let worker = ensure_image();
    // Build form: a Dockerfile on the worker, a build arg, containerEnv, and a create
    // command in the argument-list form; keys drover does not honour are named.
    // `remoteUser` names a user the image makes.
    let dockerfile = format!(
        "FROM {worker}\nUSER root\nARG GREETING\nRUN echo \"$GREETING\" > /etc/greeting && useradd -u 1234 devuser\n"
    );
    let json = r#"{
  // comments and trailing commas are fine
  "name": "shop",
  "build": { "dockerfile": "Dockerfile", "args": { "GREETING": "hello from the build" }, },
  "containerEnv": { "APP_MODE": "devtest" },
  "postCreateCommand": ["sh", "-c", "echo created by postCreate > created.txt"],
  "remoteUser": "devuser",
  "runArgs": ["--privileged"],
  "mounts": ["source=/,target=/host,type=bind"],
}"#;
    let env = devcontainer_repo(json, &[(".devcontainer/Dockerfile", &dockerfile)]);
    let (task, logs) = run_dev(&env);
    assert_eq!(task["state"], "review", "{task}\n{logs}");
    assert!(logs.contains("hello from the build"), "{logs}");
    assert!(logs.contains("mode=devtest"), "{logs}");
    assert!(logs.contains("created by postCreate"), "{logs}");
    let environment = task["environment"].as_str().unwrap_or_default();
    assert!(
        environment.contains(".devcontainer/devcontainer.json"),
        "{task}"
    );
    assert!(environment.contains("setup ran on drover-dev-"), "{task}");
    // The agent (and setup before it) ran as devuser where drover can hand the workspace
    // over (it runs as root here, as in CI); elsewhere the notice says why not.
    if host_uid() == 0 {
        assert!(logs.contains("running as devuser (uid 1234)"), "{logs}");
        assert!(logs.contains("uid=1234"), "{logs}");
    } else {
        assert!(logs.contains("names user devuser, not honoured"), "{logs}");
        assert!(logs.contains(&format!("uid={}", host_uid())), "{logs}");
    }
    // The hardening held: not privileged, nothing of the host mounted.
    let doctor = text(&env.drover(&["doctor"]).stdout);
    assert!(
        doctor.contains("does not honour mounts, runArgs"),
        "{doctor}"
    );

    // Image form: the image as it is, with its create command.
    let json = format!(
        "{{ \"image\": \"{worker}\", \"containerEnv\": {{ \"APP_MODE\": \"plain\" }}, \"onCreateCommand\": \"echo from onCreate > created.txt; echo img > /tmp/x\" }}"
    );
    let env = devcontainer_repo(&json, &[]);
    let (task, logs) = run_dev(&env);
    assert_eq!(task["state"], "review", "{task}\n{logs}");
    assert!(
        logs.contains("mode=plain") && logs.contains("from onCreate"),
        "{logs}"
    );
    let environment = task["environment"].as_str().unwrap_or_default();
    assert!(
        environment.contains(&format!("setup ran on {worker}")),
        "{task}"
    );

    // A remoteUser that is root, or that the image lacks, is never used.
    for (user, said) in [
        ("root", "names user root, not honoured: it is root"),
        ("ghost", "names user ghost, which"),
    ] {
        let json = format!("{{ \"image\": \"{worker}\", \"remoteUser\": \"{user}\" }}");
        let env = devcontainer_repo(&json, &[("created.txt", "x\n")]);
        let (task, logs) = run_dev(&env);
        assert_eq!(task["state"], "review", "{task}\n{logs}");
        assert!(logs.contains(said), "{logs}");
        assert!(!logs.contains("uid=0"), "{logs}");
    }
}

fn host_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().expect("id");
    text(&out.stdout).trim().parse().expect("a uid")
}

/// HTB-02 (the snapshot's layer): setup tries to make the snapshot's file directory a
/// link to a host directory, which the Docker daemon would follow on the host when it
/// mounts the task's layer. Positive control: setup ran, the next task's workspace is
/// restored through its layer and reads what setup left; the host's canary never shows.
#[test]
fn htb_02_setup_cannot_point_the_snapshot_layer_at_the_host() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let token = canary("layer");
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::write(host.path().join("secret.txt"), &token).expect("canary");
    let host_dir = host.path().display().to_string();
    let env = Env::with_files(&[(".gitignore", ".venv/\n"), ("README.md", "hi\n")]);
    let attack = format!(
        "echo setup-ran-$((6*7)); rm -rf /drover-snapshot/workspace; mv /drover-snapshot/workspace /drover-snapshot/gone; mkdir -p {host_dir}; ln -s {host_dir} /drover-snapshot/workspace; ls -la /drover-snapshot/; mkdir -p .venv && echo kept-by-setup > .venv/ok"
    );
    env.write_config(&format!(
        "setup = [{}]\ntest = \"true\"\n",
        toml_string(&attack)
    ));
    let first = env.add("First", "[[step]]\nrun = \"true\"\n");
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &first]).stdout);
    assert!(logs.contains("setup-ran-42"), "{logs}");
    assert!(logs.contains("snapshot"), "{logs}");

    let second = env.add(
        "Second",
        "[[step]]\nrun = \"cat .venv/ok; ls -la /drover-env/ 2>&1; cat /drover-env/secret.txt 2>&1; cat /drover-env/*/secret.txt 2>&1\"\n",
    );
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &second]).stdout);
    assert!(
        logs.contains("linked to a layer of the task's own"),
        "{logs}"
    );
    assert!(!logs.contains(&token), "the host's file was read: {logs}");
    assert!(logs.contains("kept-by-setup"), "{logs}");
    for id in [&first, &second] {
        assert!(env.drover(&["discard", id]).status.success());
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
