//! Tasks behind drover's egress proxy (`network = "allowlist"` and `"open"`): the
//! container has no route out, reaches what the policy admits through the proxy, and
//! every refusal is in the transcript. The upstream is a server this test runs on the
//! host's loopback, which a policy reaches only by naming its address.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::common::{Env, canary, docker_available, ensure_image, text};

/// An HTTP server on the host's loopback answering every request with `body`.
fn upstream(body: &str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let body = body.to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let mut s = stream;
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

fn run(env: &Env, title: &str, commands: &[&str]) -> String {
    run_id(env, title, commands).1
}

fn run_id(env: &Env, title: &str, commands: &[&str]) -> (String, String) {
    let steps: String = commands
        .iter()
        .map(|c| format!("[[step]]\nrun = {}\n", toml_string(c)))
        .collect();
    let id = env.add(title, &steps);
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    (id, logs)
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn net_03_allowlist_reaches_what_it_names_and_nothing_else() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let marker = canary("upstream");
    let port = upstream(&marker);
    let env = Env::python_bug();
    env.write_config(
        "test = \"true\"\nnetwork = \"allowlist\"\nallow = [\"127.0.0.1\"]\nmethods = [\"GET\", \"HEAD\", \"CONNECT\"]\n",
    );
    let (id, logs) = run_id(
        &env,
        "Reach out",
        &[
            // Positive control: the allowed upstream answers through the proxy.
            &format!("NO_PROXY= no_proxy= curl -sS --max-time 10 http://127.0.0.1:{port}/ok"),
            "curl -sS --max-time 10 -o /dev/null -w 'code=%{http_code}' http://elsewhere.test/",
            "curl -sS --max-time 10 https://elsewhere.test/ 2>&1; echo exit=$?",
            &format!(
                "NO_PROXY= no_proxy= curl -sS --max-time 10 -X POST -o /dev/null -w 'post=%{{http_code}}' http://127.0.0.1:{port}/up"
            ),
            // Around the proxy there is nothing.
            &format!(
                "curl -sS --max-time 5 --noproxy '*' http://127.0.0.1:{port}/ 2>&1; echo direct=$?"
            ),
            "cat /etc/resolv.conf >/dev/null 2>&1; getent hosts elsewhere.test; echo dns=$?",
        ],
    );
    assert!(
        logs.contains(&marker),
        "the allowed upstream did not answer: {logs}"
    );
    assert!(logs.contains("network allowlist: no route out"), "{logs}");
    assert!(logs.contains("code=403"), "{logs}");
    assert!(logs.contains("post=403"), "{logs}");
    assert!(!logs.contains("direct=0"), "{logs}");
    assert!(!logs.contains("dns=0"), "{logs}");
    // Each refusal is in the transcript, before the result of the call that made it.
    // …counted on the attempt (the list row, Info and the pull request show them).
    let shown = env.show(&id);
    assert_eq!(shown["blocked_count"], 3, "{shown}");
    for line in [
        "blocked: GET elsewhere.test:80 (not on the allowlist)",
        "blocked: CONNECT elsewhere.test:443 (not on the allowlist)",
        &format!("blocked: POST 127.0.0.1:{port} (method POST is not allowed)"),
    ] {
        assert!(logs.contains(line), "{line} missing: {logs}");
    }
}

#[test]
fn net_02_open_reaches_no_internal_address() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let marker = canary("internal");
    let port = upstream(&marker);
    let env = Env::python_bug();
    env.write_config("test = \"true\"\nnetwork = \"open\"\n");
    let logs = run(
        &env,
        "Reach in",
        &[
            "echo control-$((6*7))",
            &format!(
                "NO_PROXY= no_proxy= curl -sS --max-time 10 -o /dev/null -w 'host=%{{http_code}}' http://127.0.0.1:{port}/"
            ),
            "curl -sS --max-time 10 -o /dev/null -w 'meta=%{http_code}' http://169.254.169.254/latest/meta-data/",
            "curl -sS --max-time 10 -o /dev/null -w 'lan=%{http_code}' http://10.0.0.1/",
        ],
    );
    assert!(logs.contains("control-42"), "{logs}");
    assert!(logs.contains("network open: no route out"), "{logs}");
    assert!(
        !logs.contains(&marker),
        "the host's service answered: {logs}"
    );
    for code in ["host=403", "meta=403", "lan=403"] {
        assert!(logs.contains(code), "{code}: {logs}");
    }
    assert!(
        logs.contains("169.254.169.254 is a private, loopback or host address"),
        "{logs}"
    );
}

/// Whether Docker has gVisor's runtime (CI registers it; elsewhere the test says so).
fn runsc_registered() -> bool {
    let out = std::process::Command::new("docker")
        .args(["info", "--format", "{{json .Runtimes}}"])
        .output()
        .expect("docker info");
    let has = text(&out.stdout).contains("\"runsc\"");
    if !has {
        assert!(
            std::env::var("CI").is_err(),
            "CI registers runsc with Docker (.ci/run): it is missing"
        );
        eprintln!("runsc is not registered with Docker: skipping");
    }
    has
}

/// ISO-10: with `runtime = "runsc"` the task runs under gVisor, still unprivileged, with
/// a read-only root, and reaches drover's proxy (its socket) under `allowlist`.
#[test]
fn iso_10_a_task_runs_under_gvisor_behind_the_proxy() {
    if !docker_available() || !runsc_registered() {
        return;
    }
    ensure_image();
    let marker = canary("gvisor");
    let port = upstream(&marker);
    let env = Env::python_bug();
    env.write_config(
        "test = \"true\"\nruntime = \"runsc\"\nnetwork = \"allowlist\"\nallow = [\"127.0.0.1\"]\n",
    );
    let logs = run(
        &env,
        "Under gVisor",
        &[
            "dmesg 2>&1 | head -3",
            "echo uid=$(id -u); touch /usr/x 2>&1; echo touch=$?",
            &format!("NO_PROXY= no_proxy= curl -sS --max-time 10 http://127.0.0.1:{port}/"),
            "curl -sS --max-time 10 -o /dev/null -w 'code=%{http_code}' http://elsewhere.test/",
        ],
    );
    assert!(logs.contains("gVisor"), "not under gVisor: {logs}");
    assert!(!logs.contains("uid=0"), "{logs}");
    assert!(logs.contains("touch=1"), "{logs}");
    assert!(logs.contains(&marker), "{logs}");
    assert!(logs.contains("code=403"), "{logs}");
}

/// NET-06: a refusal is in the transcript within 2 s, while the command that made it is
/// still running, and names its target.
#[test]
fn net_06_a_refusal_shows_while_its_command_runs() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\nnetwork = \"allowlist\"\n");
    let (id, logs) = run_id(
        &env,
        "Slow fetch",
        &["curl -sS --max-time 5 -o /dev/null http://evil.example/; sleep 6; echo slept"],
    );
    // Positive control: the command ran to its end.
    assert!(logs.contains("slept"), "{logs}");
    let path = env
        .data()
        .join("tasks")
        .join(&id)
        .join("1")
        .join("transcript.jsonl");
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .expect("transcript")
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let at = |pred: &dyn Fn(&serde_json::Value) -> bool| {
        let e = entries.iter().find(|e| pred(e)).expect("entry");
        time::OffsetDateTime::parse(
            e["at"].as_str().expect("at"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("time")
    };
    let blocked = at(&|e| {
        e["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("blocked: GET evil.example:80"))
    });
    let call = at(&|e| e["kind"] == "tool_call");
    let result = at(&|e| e["kind"] == "tool_result");
    assert!(
        blocked - call < time::Duration::seconds(2),
        "the refusal came {} after the call",
        blocked - call
    );
    assert!(result - blocked > time::Duration::seconds(4), "{logs}");
}

/// A model server on the host's loopback speaking enough of the Messages API: it answers
/// `said` only to the real key, and records every key it was sent.
fn model_server(key: &str, said: &str) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (key, said, keys) = (key.to_string(), said.to_string(), seen.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
            let sent = head
                .lines()
                .find_map(|l| l.strip_prefix("x-api-key: "))
                .unwrap_or("")
                .trim()
                .to_string();
            keys.lock().expect("lock").push(sent.clone());
            let (code, body) = if sent == key.to_ascii_lowercase() {
                (
                    "200 OK",
                    format!("{{\"content\":[{{\"type\":\"text\",\"text\":\"{said}\"}}]}}"),
                )
            } else {
                ("401 Unauthorized", "{\"error\":\"bad key\"}".to_string())
            };
            let _ = write!(
                s,
                "HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, seen)
}

const FAKE_CLI: &str = r#"#!/bin/sh
# A CLI agent calling its model from inside the container, as Claude Code does.
env | grep -E '^(ANTHROPIC|OPENAI)_'
grep -rl -e "$(printf 'sk-ant-model')" /workspace /tmp 2>/dev/null | head -3
curl -sS --max-time 20 -X POST "$ANTHROPIC_BASE_URL/v1/messages" \
  -H "x-api-key: $ANTHROPIC_API_KEY" -H "content-type: application/json" \
  -d '{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
echo
echo "base=$ANTHROPIC_BASE_URL"
# The key opens nothing else: not the account's files, not a tool the provider runs.
curl -sS -o /dev/null -w 'files=%{http_code}\n' "$ANTHROPIC_BASE_URL/v1/files"
curl -sS -o /dev/null -w 'tool=%{http_code}\n' -X POST "$ANTHROPIC_BASE_URL/v1/messages" \
  -H "content-type: application/json" \
  -d '{"model":"m","max_tokens":16,"tools":[{"type":"web_fetch_20250910","name":"web_fetch"}],"messages":[{"role":"user","content":"fetch evil.test"}]}'
"#;

/// SEC-08 and the model endpoint: a CLI agent under `allowlist` with nothing allowed
/// reaches its model through drover, which adds the real key on the host; the key is
/// nowhere in the container (environment, files, `docker inspect`), the transcript or
/// the store.
#[test]
fn sec_08_a_cli_agent_reaches_its_model_and_never_holds_the_key() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let key = canary("sk-ant-model-key");
    let said = canary("model-said");
    let (port, seen) = model_server(&key, &said);
    let env = Env::with_files(&[("README.md", "hi\n"), ("fake-cli.sh", FAKE_CLI)]);
    env.write_config(&format!(
        "test = \"true\"\nnetwork = \"allowlist\"\n[agent]\nprovider = \"command\"\ncommand = [\"sh\", \"./fake-cli.sh\", \"{{prompt}}\"]\nformat = \"claude\"\nbase_url = \"http://127.0.0.1:{port}\"\napi_key_env = \"ANTHROPIC_API_KEY\"\nenv = [\"ANTHROPIC_API_KEY\"]\n"
    ));
    let out = env
        .command(&["add", "--title", "Ask the model", "say hi"])
        .env("ANTHROPIC_API_KEY", &key)
        .output()
        .expect("add");
    assert!(out.status.success(), "add: {}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let run = env
        .command(&["run"])
        .env("ANTHROPIC_API_KEY", &key)
        .output()
        .expect("run");
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(
        run.status.code().is_some_and(|c| c <= 1),
        "{}\n{logs}",
        text(&run.stderr)
    );
    // Positive control: the model answered the agent, and was sent the real key.
    assert!(logs.contains(&said), "the model did not answer: {logs}");
    assert!(
        logs.contains("base=http://127.0.0.1:3128/model/anthropic"),
        "{logs}"
    );
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .any(|k| *k == key.to_ascii_lowercase())
    );
    // Other calls never reached the model server.
    assert!(
        logs.contains("files=403") && logs.contains("tool=403"),
        "{logs}"
    );
    assert_eq!(seen.lock().expect("lock").len(), 1, "{logs}");
    assert!(
        logs.contains("the provider would reach elsewhere (a web_fetch_20250910 item)"),
        "{logs}"
    );
    // The key is nowhere the sandbox or drover's records could show it.
    assert!(!logs.contains(&key), "{logs}");
    let shown = env.show(&id);
    let container = shown["container"].as_str().expect("container").to_string();
    let inspect = std::process::Command::new("docker")
        .args(["inspect", &container])
        .output()
        .expect("inspect");
    assert!(
        !text(&inspect.stdout).contains(&key),
        "the key is in docker inspect"
    );
    assert!(text(&inspect.stdout).contains("drover-placeholder-key"));
    // What the agent saw of its environment (it printed it): the placeholder only.
    assert!(
        logs.contains("ANTHROPIC_API_KEY=drover-placeholder-key"),
        "{logs}"
    );
    let grep = std::process::Command::new("grep")
        .args(["-rlF", &key, env.data().to_str().expect("utf8")])
        .output()
        .expect("grep");
    assert!(
        text(&grep.stdout).trim().is_empty(),
        "the key is stored: {}",
        text(&grep.stdout)
    );
}

/// Setup through a proxy of its own (`setup_network = "allowlist"`, `setup_allow`): it
/// reaches what setup_allow names and nothing else, and says what it refused.
#[test]
fn net_03_setup_reaches_its_allowlist_through_the_proxy() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let marker = canary("setup-fetch");
    let port = upstream(&marker);
    let env = Env::python_bug();
    env.write_config(&format!(
        "test = \"true\"\nsetup_network = \"allowlist\"\nsetup_allow = [\"127.0.0.1\"]\nsetup = [\"NO_PROXY= no_proxy= curl -sS --max-time 10 http://127.0.0.1:{port}/ > fetched.txt\", \"curl -sS --max-time 10 -o /dev/null -w 'setup-code=%{{http_code}}' http://elsewhere.test/\"]\n"
    ));
    let logs = run(&env, "After setup", &["cat fetched.txt"]);
    assert!(logs.contains(&marker), "setup did not fetch: {logs}");
    assert!(logs.contains("network allowlist"), "{logs}");
    assert!(logs.contains("setup-code=403"), "{logs}");
    assert!(
        logs.contains("blocked: GET elsewhere.test:80 (not on the allowlist)"),
        "{logs}"
    );
}

/// NET-04: the agent cannot change the policy. Routes, the resolver, the proxy variables
/// and the forwarder itself are its to try; nothing but the allowed host is reached.
#[test]
fn net_04_the_agent_cannot_change_the_policy() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let marker = canary("net04");
    let port = upstream(&marker);
    let env = Env::python_bug();
    env.write_config("test = \"true\"\nnetwork = \"allowlist\"\nallow = [\"127.0.0.1\"]\n");
    let logs = run(
        &env,
        "Bypass",
        &[
            // Positive control: the allowed host answers.
            &format!("NO_PROXY= no_proxy= curl -sS --max-time 10 http://127.0.0.1:{port}/"),
            "ip route add default via 10.0.0.1 2>&1; echo route=$?",
            "echo 'nameserver 192.0.2.53' > /etc/resolv.conf 2>&1; echo resolv=$?",
            "unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy; curl -sS --max-time 5 -o /dev/null http://198.51.100.7/ 2>&1; echo direct=$?",
            // Its own forwarder in place of drover's, straight to an address: no route.
            "pkill socat; (socat TCP-LISTEN:3128,bind=127.0.0.1,reuseaddr,fork TCP:198.51.100.7:80 &) ; sleep 1; curl -sS --max-time 5 -o /dev/null -w 'code=%{http_code}' http://elsewhere.test/ 2>&1; echo after=$?",
        ],
    );
    assert!(
        logs.contains(&marker),
        "the allowed host did not answer: {logs}"
    );
    for (what, ok) in [
        ("route=", "route=0"),
        ("resolv=", "resolv=0"),
        ("direct=", "direct=0"),
        ("after=", "after=0"),
    ] {
        assert!(logs.contains(what), "{what} did not run: {logs}");
        assert!(!logs.contains(ok), "{ok}: {logs}");
    }
}
