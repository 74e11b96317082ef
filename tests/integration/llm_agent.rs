//! The built-in agent end to end: real Docker, real git, a fake model that streams like
//! the real APIs. The model's tool calls run in the container; their results come back
//! in the next request.

use serde_json::{Value, json};

use crate::common::{Env, docker_available, ensure_image, text};
use crate::fake_llm::{FakeLlm, anthropic_turn, openai_turn, sse};

async fn run(env: &Env, args: &[&str], extra_env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = env.command(args);
    cmd.env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn add(env: &Env, extra_env: &[(&str, &str)]) -> String {
    let out = run(
        env,
        &[
            "add",
            "--title",
            "Fix add",
            "add(2, 3) returns -1; make the tests pass",
        ],
        extra_env,
    )
    .await;
    assert!(out.status.success(), "add: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// Tool results the model received in request `i`, as text.
fn tool_results(body: &Value) -> String {
    body.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_agent_reads_edits_tests_and_finishes() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let (fake, url) = FakeLlm::start(vec![
        sse(openai_turn(
            "Let me read the code first.",
            &[("read_file", json!({"path": "calc.py"}))],
            4,
        )),
        sse(openai_turn(
            "",
            &[(
                "edit_file",
                json!({"path": "calc.py", "old": "a - b", "new": "a + b"}),
            )],
            3,
        )),
        sse(openai_turn(
            "",
            &[(
                "bash",
                json!({"command": "python3 -m unittest -q 2>&1 | tail -n 2"}),
            )],
            1,
        )),
        sse(openai_turn(
            "",
            &[(
                "finish",
                json!({"summary": "add() subtracted; it adds now."}),
            )],
            1,
        )),
    ])
    .await;
    env.write_config(&format!("[agent]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"test-model\"\nprice_input = 3.0\nprice_output = 15.0\n"));
    let id = add(&env, &[]).await;
    let out = run(&env, &["run"], &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let task = env.show(&id);
    assert_eq!(task["state"], "review");
    assert_eq!(task["tests"]["verdict"], "passed");
    assert_eq!(task["summary"], "add() subtracted; it adds now.");
    assert_eq!(task["agent"], "built-in");

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4, "one request per turn");
    assert_eq!(reqs[0].body["model"], "test-model");
    let system = reqs[0].body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("# Task")
            && system.contains("calc.py")
            && system.contains("python3 -m unittest discover"),
        "{system}"
    );
    // The file content read in the container reached the model, as did the test output.
    assert!(
        tool_results(&reqs[1].body).contains("return a - b"),
        "{}",
        reqs[1].body
    );
    assert!(
        tool_results(&reqs[3].body).contains("OK"),
        "{}",
        reqs[3].body
    );
    assert!(
        reqs.iter().all(|r| r.header("authorization").is_none()),
        "no key was configured, none sent"
    );

    // Usage and cost recorded on the attempt (4 turns × 1000 in + 50 out).
    let db = env.data().join("drover.db");
    let conn = rusqlite::Connection::open(db).unwrap();
    let data: String = conn
        .query_row("SELECT data FROM attempts WHERE task_id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    let attempt: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(attempt["usage"]["input_tokens"], 4000);
    assert_eq!(attempt["usage"]["output_tokens"], 200);
    assert_eq!(attempt["usage"]["turns"], 4);
    let cost = attempt["usage"]["cost_usd"].as_f64().unwrap();
    assert!((cost - 0.015).abs() < 1e-9, "{cost}");
    let logs = text(&run(&env, &["logs", &id], &[]).await.stdout);
    assert!(logs.contains("› Let me read the code first."), "{logs}");
    assert!(
        logs.contains("read calc.py")
            && logs.contains("edit calc.py")
            && logs.contains("finish: add() subtracted"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sec_02_anthropic_agent_with_a_key_that_never_enters_the_container() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let canary = format!("sk-ant-CANARY-{}", std::process::id());
    let (fake, url) = FakeLlm::start(vec![
        sse(anthropic_turn(
            "Fixing the operator.",
            &[(
                "edit_file",
                json!({"path": "calc.py", "old": "a - b", "new": "a + b"}),
            )],
            3,
        )),
        sse(anthropic_turn(
            "",
            &[(
                "bash",
                json!({"command": "env; cat /proc/1/environ | tr '\\\\0' '\\\\n'"}),
            )],
            1,
        )),
        sse(anthropic_turn(
            "Done.",
            &[("finish", json!({"summary": "Fixed."}))],
            1,
        )),
    ])
    .await;
    env.write_config(&format!(
        "[agent]\nprovider = \"anthropic\"\nbase_url = \"{url}\"\n"
    ));
    let key = [("ANTHROPIC_API_KEY", canary.as_str())];
    let id = add(&env, &key).await;
    let out = run(&env, &["run"], &key).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(env.show(&id)["tests"]["verdict"], "passed");
    let reqs = fake.requests();
    assert_eq!(
        reqs[0].header("x-api-key"),
        Some(canary.as_str()),
        "the host sends the key"
    );
    // The environment dump ran in the container (positive control) and holds no key.
    let dump = reqs[2].body.to_string();
    assert!(dump.contains("HOME=/tmp"), "the env dump came back: {dump}");
    assert!(!dump.contains(&canary), "the key reached the container");
    let inspect = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{json .Config.Env}}",
            &format!("drover-{id}"),
        ])
        .output()
        .unwrap();
    assert!(
        !text(&inspect.stdout).contains("CANARY"),
        "{}",
        text(&inspect.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tool_calls_go_back_and_failing_tests_bring_another_iteration() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let bad_json = vec![
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\": \"}}]}}]}\n\n".to_string(),
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c2\",\"type\":\"function\",\"function\":{\"name\":\"delete_everything\",\"arguments\":\"{}\"}}]}}]}\n\n".to_string(),
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n".to_string(),
        "data: [DONE]\n\n".to_string(),
    ];
    let (fake, url) = FakeLlm::start(vec![
        sse(bad_json),
        sse(openai_turn(
            "",
            &[("finish", json!({"summary": "I think it is fine."}))],
            1,
        )),
        sse(openai_turn(
            "The tests failed; fixing add().",
            &[(
                "edit_file",
                json!({"path": "calc.py", "old": "a - b", "new": "a + b"}),
            )],
            2,
        )),
        sse(openai_turn(
            "",
            &[(
                "finish",
                json!({"summary": "Fixed add() after the test failure."}),
            )],
            1,
        )),
    ])
    .await;
    env.write_config(&format!(
        "[agent]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmax_iterations = 2\n"
    ));
    let id = add(&env, &[]).await;
    let out = run(&env, &["run"], &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    let second = reqs[1].body.to_string();
    assert!(
        second.contains("not a JSON object"),
        "invalid arguments went back: {second}"
    );
    assert!(
        second.contains("there is no tool `delete_everything`"),
        "unknown tool went back: {second}"
    );
    let third = reqs[2].body.to_string();
    assert!(
        third.contains("The project's tests failed after your changes")
            && third.contains("FAILED (failures=1)"),
        "{third}"
    );
    let task = env.show(&id);
    assert_eq!(
        (task["state"].as_str(), task["tests"]["verdict"].as_str()),
        (Some("review"), Some("passed"))
    );
    assert_eq!(task["summary"], "Fixed add() after the test failure.");
}

#[tokio::test(flavor = "multi_thread")]
async fn bud_04_max_turns_stops_before_the_next_call() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let turn = || sse(openai_turn("", &[("bash", json!({"command": "true"}))], 1));
    let (fake, url) = FakeLlm::start(vec![turn(), turn(), turn(), turn()]).await;
    env.write_config(&format!(
        "[agent]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmax_turns = 2\n"
    ));
    let id = add(&env, &[]).await;
    let out = run(&env, &["run"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let task = env.show(&id);
    assert_eq!(task["state"], "failed");
    assert_eq!(task["reason"], "stopped: max turns (used 2 of 2)");
    assert_eq!(fake.requests().len(), 2, "the third call is never made");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_key_fails_the_task_at_once_with_a_clear_reason() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let body =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let (fake, url) = FakeLlm::start(vec![crate::fake_llm::Reply::Status {
        code: 401,
        headers: vec![],
        body: body.into(),
    }])
    .await;
    env.write_config(&format!(
        "[agent]\nprovider = \"anthropic\"\nbase_url = \"{url}\"\n"
    ));
    let key = [("ANTHROPIC_API_KEY", "sk-ant-wrong")];
    let id = add(&env, &key).await;
    run(&env, &["run"], &key).await;
    let task = env.show(&id);
    assert_eq!(task["state"], "failed");
    assert_eq!(
        task["reason"],
        "invalid API key for anthropic (HTTP 401): invalid x-api-key"
    );
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_with_feedback_continues_the_same_conversation() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let (fake, url) = FakeLlm::start(vec![
        sse(openai_turn(
            "",
            &[(
                "edit_file",
                json!({"path": "calc.py", "old": "a - b", "new": "a + b"}),
            )],
            1,
        )),
        sse(openai_turn(
            "",
            &[("finish", json!({"summary": "Fixed add()."}))],
            1,
        )),
        sse(openai_turn(
            "",
            &[(
                "write_file",
                json!({"path": "CHANGES.md", "content": "add() adds\n"}),
            )],
            1,
        )),
        sse(openai_turn(
            "",
            &[("finish", json!({"summary": "Noted the change."}))],
            1,
        )),
    ])
    .await;
    env.write_config(&format!(
        "[agent]\nprovider = \"openai\"\nbase_url = \"{url}\"\n"
    ));
    let id = add(&env, &[]).await;
    assert_eq!(run(&env, &["run"], &[]).await.status.code(), Some(0));
    let out = run(
        &env,
        &[
            "retry",
            &id,
            "--feedback",
            "please note the change in CHANGES.md",
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(run(&env, &["run"], &[]).await.status.code(), Some(0));

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 4);
    // Attempt 2's first request carries attempt 1's whole conversation, then the feedback.
    let msgs = reqs[2].body["messages"].as_array().unwrap();
    let all = reqs[2].body.to_string();
    assert!(
        all.contains("a - b") && all.contains("Fixed add()."),
        "the earlier turns are there: {all}"
    );
    assert!(
        msgs.last().unwrap()["content"]
            .as_str()
            .unwrap()
            .contains("please note the change in CHANGES.md")
    );
    let task = env.show(&id);
    assert_eq!(
        (task["attempt"].as_u64(), task["diff"]["files"].as_u64()),
        (Some(2), Some(2)),
        "same workspace: both changes"
    );
}

const FAKE_CLAUDE: &str = r#"#!/bin/sh
# Stands in for `claude -p PROMPT --output-format stream-json`: recorded events, and the
# edit the real agent would make.
echo '{"type":"system","subtype":"init","session_id":"s1"}'
sleep 0.4
echo '{"type":"assistant","message":{"content":[{"type":"text","text":"I will fix add()."},{"type":"tool_use","name":"Edit","input":{"file_path":"calc.py"}}]}}'
sed -i 's/a - b/a + b/' calc.py
echo '{"type":"user","message":{"content":[{"type":"tool_result","content":"edited calc.py","is_error":false}]}}'
sleep 0.4
echo "listed: ${FAKE_AGENT_TOKEN:-none}; unlisted: ${UNLISTED_SECRET_TOKEN:-absent}; prompt: $1"
echo '{"type":"result","subtype":"success","total_cost_usd":0.0421,"usage":{"input_tokens":1234,"output_tokens":56},"result":"add() fixed."}'
"#;

#[tokio::test(flavor = "multi_thread")]
async fn external_cli_agent_in_the_container_is_followed_and_parsed() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::with_files(&[
        ("calc.py", "def add(a, b):\n    return a - b\n"),
        (
            "test_calc.py",
            "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
        ),
        ("fake-claude.sh", FAKE_CLAUDE),
    ]);
    env.write_config(
        "network = \"bridge\"\n[agent]\nprovider = \"command\"\ncommand = [\"sh\", \"./fake-claude.sh\", \"{prompt}\"]\nformat = \"claude\"\nenv = [\"FAKE_AGENT_TOKEN\"]\n",
    );
    let secrets = [
        ("FAKE_AGENT_TOKEN", "listed-token-value-123"),
        ("UNLISTED_SECRET_TOKEN", "unlisted-value-456"),
    ];
    let id = add(&env, &secrets).await;
    let out = run(&env, &["run"], &secrets).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let task = env.show(&id);
    assert_eq!(
        (task["state"].as_str(), task["tests"]["verdict"].as_str()),
        (Some("review"), Some("passed"))
    );
    assert_eq!(task["summary"], "add() fixed.");
    let logs = text(&run(&env, &["logs", &id], &[]).await.stdout);
    for want in [
        "› I will fix add().",
        "▶ Edit file_path=calc.py",
        "│ edited calc.py",
        "listed: [REDACTED:env:FAKE_AGENT_TOKEN]; unlisted: absent; prompt: Fix add",
    ] {
        assert!(logs.contains(want), "missing {want:?} in:\n{logs}");
    }
    let conn = rusqlite::Connection::open(env.data().join("drover.db")).unwrap();
    let data: String = conn
        .query_row("SELECT data FROM attempts WHERE task_id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    let attempt: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(attempt["usage"]["input_tokens"], 1234);
    assert_eq!(attempt["usage"]["cost_usd"], 0.0421);
    assert_eq!(attempt["model"], "command sh");
}

#[tokio::test(flavor = "multi_thread")]
async fn external_agents_without_network_are_refused_with_the_reason() {
    let env = Env::python_bug();
    env.write_config("[agent]\nprovider = \"command\"\npreset = \"claude\"\n");
    let out = run(&env, &["add", "fix it"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("the external agent `claude` calls its model from inside the container, which has no network: set network = \"allowlist\""), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bud_03_token_budget_stops_at_the_first_turn_boundary_past_it() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let turn = || sse(openai_turn("", &[("bash", json!({"command": "true"}))], 1));
    let (fake, url) = FakeLlm::start(vec![turn(), turn(), turn(), turn()]).await;
    // Each fake turn reports 1000 + 50 tokens.
    env.write_config(&format!(
        "[agent]\nprovider = \"openai\"\nbase_url = \"{url}\"\ntoken_budget = 1500\n"
    ));
    let id = add(&env, &[]).await;
    run(&env, &["run"], &[]).await;
    let task = env.show(&id);
    assert_eq!(task["reason"], "stopped: token budget (used 2100 of 1500)");
    assert_eq!(fake.requests().len(), 2, "overshoots by at most one turn");
}

#[tokio::test(flavor = "multi_thread")]
async fn bud_02_wall_clock_budget_stops_a_long_task() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let (_fake, url) = FakeLlm::start(vec![sse(openai_turn(
        "",
        &[("bash", json!({"command": "sleep 60"}))],
        1,
    ))])
    .await;
    env.write_config(&format!(
        "[agent]\nprovider = \"openai\"\nbase_url = \"{url}\"\nwall_clock = \"2s\"\n"
    ));
    let id = add(&env, &[]).await;
    let started = std::time::Instant::now();
    run(&env, &["run"], &[]).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let task = env.show(&id);
    assert_eq!(
        (task["state"].as_str(), task["reason"].as_str()),
        (Some("failed"), Some("stopped: time budget (used 2s of 2s)"))
    );
    // The transcript and workspace are kept.
    assert_eq!(task["branch_exists"], true);
    assert!(text(&run(&env, &["logs", &id], &[]).await.stdout).contains("$ sleep 60"));
}

/// DUR-01/DUR-04 for the built-in agent: killed right after the first of two tool results
/// of a turn was written, the next drover restores the conversation, answers that call
/// from the transcript (it is not run again), runs the second, and asks the model once
/// more with both results: no turn is repeated and usage counts on.
#[tokio::test(flavor = "multi_thread")]
async fn dur_04_the_built_in_agent_resumes_from_its_last_completed_tool_call() {
    use std::os::unix::process::ExitStatusExt;
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let (fake, url) = FakeLlm::start(vec![
        sse(openai_turn(
            "Two marks.",
            &[
                ("bash", json!({"command": "echo one >> marks.txt"})),
                ("bash", json!({"command": "echo two >> marks.txt"})),
            ],
            2,
        )),
        sse(openai_turn(
            "",
            &[("finish", json!({"summary": "marked"}))],
            1,
        )),
    ])
    .await;
    env.write_config(&format!(
        "test = \"true\"\n[agent]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"m\"\n"
    ));
    let id = add(&env, &[]).await;
    let out = run(
        &env,
        &["run"],
        &[("DROVER_CRASH_AT", "after_tool_result_persist")],
    )
    .await;
    assert_eq!(out.status.signal(), Some(6), "{}", text(&out.stderr));
    assert_eq!(env.show(&id)["state"], "running");

    let out = run(&env, &["run"], &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let task = env.show(&id);
    assert_eq!(task["state"], "review");
    assert_eq!(task["summary"], "marked");
    let marks = env.workspace_file(&id, "marks.txt");
    assert_eq!(marks, "one\ntwo\n", "each call ran exactly once");

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2, "the first turn was not asked again");
    let second = reqs[1].body.to_string();
    assert_eq!(
        second.matches("\"tool_call_id\"").count(),
        2,
        "both results go back: {second}"
    );
    let conn = rusqlite::Connection::open(env.data().join("drover.db")).unwrap();
    let data: String = conn
        .query_row("SELECT data FROM attempts WHERE task_id = ?1", [&id], |r| {
            r.get(0)
        })
        .unwrap();
    let attempt: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(attempt["usage"]["turns"], 2, "usage counted on: {attempt}");
    let logs = text(&run(&env, &["logs", &id], &[]).await.stdout);
    assert_eq!(logs.matches("echo one >> marks.txt").count(), 1, "{logs}");
    assert_eq!(logs.matches("Two marks.").count(), 1, "{logs}");
}
