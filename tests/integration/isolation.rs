//! What a task container is allowed: inspected from outside, probed from inside; cancel
//! and discard.

use std::process::Stdio;

use crate::common::{Env, docker_available, ensure_image, text, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn iso_01_iso_03_net_01_container_is_hardened_and_offline_then_cancel_and_discard() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = env.add("Wait", "[[step]]\nrun = \"sleep 60\"\n");
    let mut run = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let container = wait_for(60, "a running container", || {
        let t = env.show(&id);
        (t["state"] == "running")
            .then(|| t["container"].as_str().map(String::from))
            .flatten()
    });
    let rt = drover::runtime::Runtime::connect().await.unwrap();
    let info = rt
        .docker()
        .inspect_container(&container, None)
        .await
        .unwrap();
    let cfg = info.config.clone().unwrap();
    let host = info.host_config.clone().unwrap();
    let labels = cfg.labels.clone().unwrap();
    assert_eq!(labels["drover.managed"], "true");
    assert_eq!(labels["drover.task"], id);
    assert_eq!(
        format!("drover.repo={}", labels["drover.repo"]),
        env.repo_label()
    );
    let ws = std::fs::metadata(env.data().join("workspaces").join(&id)).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        cfg.user.as_deref(),
        Some(format!("{}:{}", ws.uid(), ws.gid()).as_str())
    );
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert!(host.cap_add.unwrap_or_default().is_empty());
    assert_eq!(host.privileged, Some(false));
    assert!(
        host.security_opt
            .unwrap_or_default()
            .contains(&"no-new-privileges:true".to_string())
    );
    assert_eq!(host.init, Some(true));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert!(
        host.memory.unwrap_or(0) > 0
            && host.nano_cpus.unwrap_or(0) > 0
            && host.pids_limit.unwrap_or(0) > 0
    );
    let mounts = info.mounts.unwrap_or_default();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    for m in &mounts {
        let src = m.source.clone().unwrap_or_default();
        assert!(!src.contains("docker.sock"), "{src}");
        if m.destination.as_deref() == Some("/workspace") {
            assert_eq!(m.rw, Some(true));
        } else {
            assert_eq!(
                m.destination.as_deref(),
                Some(src.as_str()),
                "objects mounted at their own path"
            );
            assert!(src.ends_with(".git/objects"), "{src}");
            assert_eq!(m.rw, Some(false), "the user's objects are read-only");
        }
    }

    // From inside: the positive control runs, the network does not.
    let nonce = format!("SANDBOX-RAN-{}", std::process::id());
    let probe = format!(
        "echo {nonce}; python3 -c \"import socket; socket.create_connection(('1.1.1.1', 443), 2)\" 2>&1; echo py=$?; \
         (echo > /dev/tcp/127.0.0.1/53) 2>&1; echo tcp=$?; touch /usr/x 2>&1; echo ro=$?; \
         touch /tmp/ok /workspace/.probe && echo writable; rm -f /workspace/.probe; \
         git log --format=git-sees:%s -1; git status --short calc.py; echo git=$?"
    );
    let spec = drover::runtime::ExecSpec::shell(&probe, std::time::Duration::from_secs(20));
    let r = rt.exec(&container, &spec, &mut |_| {}).await.unwrap();
    let out = r.stdout.render();
    assert!(out.contains(&nonce), "positive control missing: {out}");
    assert!(
        out.contains("Network is unreachable") && out.contains("py=1"),
        "{out}"
    );
    assert!(!out.contains("tcp=0"), "{out}");
    assert!(
        out.contains("Read-only file system") && out.contains("ro=1"),
        "{out}"
    );
    assert!(out.contains("writable"), "{out}");
    // git works inside: the alternate resolves through the read-only objects mount.
    assert!(
        out.contains("git-sees:init") && out.contains("git=0"),
        "{out}"
    );

    // Cancel goes through the running engine (the inbox): the container stops.
    let out = env.drover(&["cancel", &id]);
    assert!(out.status.success(), "cancel: {}", text(&out.stderr));
    wait_for(30, "cancelled state", || {
        (env.show(&id)["state"] == "cancelled").then_some(())
    });
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(1), "a cancelled task is not a success");
    let state = rt
        .docker()
        .inspect_container(&container, None)
        .await
        .unwrap()
        .state
        .unwrap();
    assert_eq!(state.running, Some(false), "cancel stops the container");

    // Discard removes the container and the workspace (no engine running: in-process).
    let out = env.drover(&["discard", &id]);
    assert!(out.status.success(), "discard: {}", text(&out.stderr));
    assert!(
        env.containers(&["-a"]).is_empty(),
        "container left after discard"
    );
    assert!(
        !env.data().join("workspaces").join(&id).exists(),
        "workspace left after discard"
    );
    assert_eq!(env.show(&id)["state"], "discarded");
}

#[test]
fn bud_01_per_command_timeout_kills_the_command() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n[limits]\ncommand_timeout = \"2s\"\n");
    let id = env.add(
        "Hang",
        "[[step]]\nrun = \"sleep 1000 & sleep 1000\"\n[[step]]\nfinish = \"done\"\n",
    );
    let started = std::time::Instant::now();
    env.drover(&["run"]);
    assert!(
        started.elapsed().as_secs() < 30,
        "took {:?}",
        started.elapsed()
    );
    let logs = text(&env.drover(&["logs", &id, "--json"]).stdout);
    let result: serde_json::Value = logs
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["kind"] == "tool_result")
        .unwrap();
    assert_eq!(result["timed_out"], true, "{result}");
    let ms = result["duration_ms"].as_u64().unwrap();
    assert!((2000..9000).contains(&ms), "timed out after {ms} ms");
}

/// ISO-04 and ISO-08: inside the container the agent is not root (even when drover runs
/// as root, as on CI: then it runs as an unprivileged uid), has no capabilities, cannot
/// gain privileges and cannot write the image; afterwards every file in the workspace,
/// those the agent created included, belongs to the user running drover.
#[test]
fn iso_04_iso_08_the_agent_is_unprivileged_and_its_files_are_the_users() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let id = env.add(
        "Who am I",
        "[[step]]\nrun = \"echo control-$((6*7)); echo uid=$(id -u); grep -E 'NoNewPrivs|CapEff' /proc/self/status; touch /usr/x; sudo true; mkdir -p made/deep; echo x > made/deep/file; echo written-$?\"\n",
    );
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "positive control: {logs}");
    assert!(
        logs.contains("written-0"),
        "the workspace is writable: {logs}"
    );
    let uid = logs
        .lines()
        .find_map(|l| l.split("uid=").nth(1))
        .map(|u| u.trim().to_string())
        .expect("uid printed");
    assert_ne!(uid, "0", "root inside the container: {logs}");
    assert!(logs.contains("NoNewPrivs:\t1"), "{logs}");
    assert!(logs.contains("CapEff:\t0000000000000000"), "{logs}");
    assert!(logs.contains("Read-only file system"), "{logs}");
    assert!(
        logs.contains("sudo: command not found") || logs.contains("sudo: "),
        "{logs}"
    );

    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata(env.data()).unwrap().uid();
    let ws = env.data().join("workspaces").join(&id);
    assert!(ws.join("made/deep/file").exists());
    let mut stack = vec![ws];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        assert_eq!(meta.uid(), me, "{} is not the user's", p.display());
        if meta.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
}

/// ISO-07: filling the container's /tmp stops at its size with ENOSPC inside the
/// container; the host's disk does not pay for it.
#[test]
fn iso_07_filling_tmp_stops_at_its_size_inside_the_container() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n[limits]\ntmp_size = \"32m\"\n");
    let free = || {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1", "/"])
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<i64>().ok())
            .unwrap()
    };
    let before = free();
    let id = env.add(
        "Fill tmp",
        "[[step]]\nrun = \"echo control-$((6*7)); dd if=/dev/zero of=/tmp/f bs=1M 2>&1; du -m /tmp/f\"\n",
    );
    env.drover(&["run"]);
    let after = free();
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "{logs}");
    assert!(logs.contains("No space left on device"), "{logs}");
    assert!(logs.contains("32\t/tmp/f"), "stopped at the size: {logs}");
    // Unbounded, dd would have filled the host's disk; tests running beside this one
    // (snapshot commits, image builds) write tens of MiB meanwhile.
    assert!(
        before - after < 256 << 20,
        "the host lost {} bytes",
        before - after
    );
}

/// NET-02 (default policy): host and infrastructure addresses are out of reach. A
/// listener on every host address records no connection; the container's own loopback
/// works (positive control), the host's does not.
#[test]
fn net_02_host_gateway_and_metadata_addresses_are_unreachable() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    let probe = |host: &str, port: u16| {
        format!(
            "timeout 3 bash -c 'echo > /dev/tcp/{host}/{port}' 2>/dev/null && echo reached-{host}-{port} || echo blocked-{host}-{port}"
        )
    };
    let mut steps = vec![
        // Positive control: a listener inside the container is reachable on its loopback.
        "[[step]]\nrun = \"python3 -m http.server 8123 --bind 127.0.0.1 >/dev/null 2>&1 & sleep 1; timeout 3 bash -c 'echo > /dev/tcp/127.0.0.1/8123' && echo control-ok; kill %1\"\n".to_string(),
    ];
    for (host, p) in [
        ("172.17.0.1", port),
        ("169.254.169.254", 80),
        ("127.0.0.1", port),
        ("host.docker.internal", port),
        ("metadata.google.internal", 80),
        ("172.17.0.1", 2375),
        ("172.17.0.1", 2376),
    ] {
        steps.push(format!(
            "[[step]]\nrun = \"{}\"\n",
            probe(host, p).replace('"', "\\\"")
        ));
    }
    let id = env.add("Probe the host", &steps.concat());
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    // What the commands printed (not the commands themselves).
    let printed: Vec<&str> = logs
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("│ "))
        .collect();
    assert!(printed.contains(&"control-ok"), "positive control: {logs}");
    assert!(!printed.iter().any(|l| l.starts_with("reached-")), "{logs}");
    assert_eq!(
        printed.iter().filter(|l| l.starts_with("blocked-")).count(),
        7,
        "{logs}"
    );
    assert!(
        listener.accept().is_err(),
        "the host listener saw a connection"
    );
}
