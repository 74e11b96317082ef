//! Golden JSON of the protocol: one value of every variant of every message and stored
//! type, as this build writes it. `golden/v{PROTOCOL}.json` is the record of a version:
//! a change of shape fails here until `PROTOCOL` is bumped and the new version's file is
//! written (`DROVER_BLESS=1`, which never overwrites a version's file). Every value must
//! also read back as it was written, and every variant serde knows must have a value.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;

fn id(s: &str) -> TaskId {
    TaskId::parse(s).expect("id")
}

fn diff() -> DiffSummary {
    DiffSummary {
        files: vec![FileStat {
            path: "calc.py".into(),
            old_path: Some("old.py".into()),
            status: "renamed".into(),
            insertions: 3,
            deletions: 1,
            binary: false,
            old_size: 10,
            new_size: 12,
        }],
        insertions: 3,
        deletions: 1,
        tree: Some("ab".repeat(20)),
        ignored: vec![Ignored {
            path: "build".into(),
            bytes: 100,
            files: 2,
            dir: true,
        }],
        unrecorded: vec![Unrecorded {
            path: "pipe".into(),
            why: "a FIFO".into(),
        }],
        omitted: Omitted {
            files: 1,
            ignored: 2,
            unrecorded: 3,
        },
    }
}

fn report() -> TestReport {
    TestReport {
        command: Some("make test".into()),
        exit_code: Some(1),
        passed: Some(4),
        failed: Some(1),
        verdict: Verdict::Stale,
        duration_ms: 1200,
        timed_out: false,
        note: Some("changed while the tests ran: calc.py".into()),
        tree: Some("cd".repeat(20)),
        changed: vec!["calc.py".into()],
        // Left out when empty, so v5's records read and write as they were.
        skipped: Some(1),
        failures: vec!["test_calc.T.test_add".into()],
        new_failures: Some(vec!["test_calc.T.test_add".into()]),
        base: Some(BaseTests {
            verdict: Verdict::Passed,
            passed: Some(5),
            failed: Some(0),
            skipped: Some(1),
            note: None,
        }),
    }
}

fn task() -> TaskRecord {
    TaskRecord {
        id: id("k3j9x2ab1c"),
        repo: "/home/ana/shop".into(),
        repo_hash: "0123456789ab".into(),
        title: "Fix add()".into(),
        prompt: "add() subtracts".into(),
        agent: AgentSpec::Builtin {
            provider: Some("anthropic".into()),
        },
        base_commit: "ef".repeat(20),
        base_ref: Some("main".into()),
        branch: "drover/k3j9x2ab1c-fix-add".into(),
        state: TaskState::Review,
        attempt: 2,
        created_at: "2026-12-01T10:00:00Z".into(),
        updated_at: "2026-12-01T10:05:00Z".into(),
        origin: Some(IssueOrigin {
            reference: IssueRef {
                owner: "ana".into(),
                repo: "shop".into(),
                number: 12,
            },
            url: "https://github.com/ana/shop/issues/12".into(),
            removed: Removed {
                comments: 1,
                invisible: 2,
            },
        }),
        group: None,
    }
}

fn attempt() -> AttemptRecord {
    AttemptRecord {
        n: 2,
        workspace: Some("/data/workspaces/k3j9x2ab1c".into()),
        container: Some("drover-k3j9x2ab1c".into()),
        image: Some("drover-worker:1".into()),
        started_at: Some("2026-12-01T10:01:00Z".into()),
        finished_at: Some("2026-12-01T10:04:00Z".into()),
        diff: Some(diff()),
        tests: Some(report()),
        summary: Some("Fixed add().".into()),
        feedback: Some("keep the signature".into()),
        network: Some("none".into()),
        limits: Some("4 GiB memory".into()),
        usage: Some(UsageRecord {
            input_tokens: 1000,
            output_tokens: 200,
            cost_usd: Some(0.25),
            turns: 3,
        }),
        model: Some("anthropic claude".into()),
        iterations: 1,
        approved_commit: Some("12".repeat(20)),
        tests_overridden: true,
        pr_number: Some(7),
        pr_url: Some("https://github.com/ana/shop/pull/7".into()),
        pr_note: None,
        auto_followup: true,
        pr_status: Some(PrStatus {
            state: PrState::Open,
            head: "34".repeat(20),
            review: Some(ReviewDecision::ChangesRequested),
            changes_requested_by: vec!["bob".into()],
            checks: Checks {
                passed: 2,
                failed: 1,
                pending: 1,
                failures: vec![CheckFailure {
                    name: "lint".into(),
                    conclusion: "failure".into(),
                    summary: "1 error".into(),
                    annotations: vec![Annotation {
                        path: "calc.py".into(),
                        line: 2,
                        level: "failure".into(),
                        message: "E501".into(),
                    }],
                    url: Some("https://github.com/ana/shop/runs/1".into()),
                }],
            },
            comments: vec![ReviewComment {
                id: 10,
                author: "bob".into(),
                path: "calc.py".into(),
                line: Some(2),
                body: "floats?".into(),
                hunk: "@@ -1 +1 @@".into(),
                at: "2026-12-01T10:03:00Z".into(),
                resolved: false,
                member: true,
            }],
            updated_at: "2026-12-01T10:05:00Z".into(),
            requests: Vec::new(),
        }),
        workspace_bytes: Some(4096),
        environment: Some("from snapshot drover-env:1 (setup skipped)".into()),
        blocked_count: 3,
        blocked: vec!["CONNECT evil.example:443 (not on the allowlist)".into()],
    }
}

fn entry(kind: EntryKind) -> Entry {
    Entry {
        at: "2026-12-01T10:02:00Z".into(),
        kind,
    }
}

fn page() -> Page {
    Page {
        from: 0,
        total: 20,
        text: "+fixed\n".into(),
    }
}

fn tool_calls() -> Vec<ToolCall> {
    vec![
        ToolCall::Bash {
            command: "make".into(),
            timeout_secs: Some(60),
        },
        ToolCall::ReadFile {
            path: "calc.py".into(),
        },
        ToolCall::WriteFile {
            path: "a.py".into(),
            content: "x = 1\n".into(),
        },
        ToolCall::EditFile {
            path: "calc.py".into(),
            old: "a - b".into(),
            new: "a + b".into(),
        },
        ToolCall::ListFiles { path: None },
        ToolCall::Search {
            pattern: "def add".into(),
            path: Some("src".into()),
        },
        ToolCall::Finish {
            summary: "done".into(),
        },
    ]
}

fn entry_kinds() -> Vec<EntryKind> {
    vec![
        EntryKind::Assistant {
            text: "Looking.".into(),
        },
        EntryKind::ToolCall {
            call: 1,
            tool: ToolCall::ReadFile {
                path: "calc.py".into(),
            },
        },
        EntryKind::ToolResult {
            call: 1,
            ok: true,
            exit_code: Some(0),
            output: "def add".into(),
            truncated: 0,
            duration_ms: 5,
            timed_out: false,
        },
        EntryKind::Output { text: "ok".into() },
        EntryKind::Section {
            title: "setup".into(),
        },
        EntryKind::Info {
            text: "provisioned".into(),
        },
        EntryKind::Error {
            text: "no such file".into(),
        },
    ]
}

fn states() -> Vec<TaskState> {
    let reason = || "why".to_string();
    vec![
        TaskState::Queued,
        TaskState::Provisioning,
        TaskState::Running,
        TaskState::Verifying,
        TaskState::Review,
        TaskState::Approved,
        TaskState::Blocked { reason: reason() },
        TaskState::Pushed,
        TaskState::Merged,
        TaskState::Closed,
        TaskState::Failed { reason: reason() },
        TaskState::Cancelled,
        TaskState::Interrupted {
            reason: reason(),
            cause: Cause::DockerLost,
        },
        TaskState::Interrupted {
            reason: reason(),
            cause: Cause::Other,
        },
        TaskState::Discarded,
    ]
}

fn commands() -> Vec<Command> {
    let t = || id("k3j9x2ab1c");
    vec![
        Command::Queue {
            task: Box::new(NewTask {
                repo: "/home/ana/shop".into(),
                title: "Fix add()".into(),
                prompt: "add() subtracts".into(),
                agent: AgentSpec::Scripted {
                    script: "[[step]]\nrun = \"true\"\n".into(),
                    source: "fix.toml".into(),
                },
                origin: None,
                others: Vec::new(),
            }),
        },
        Command::Cancel { id: t() },
        Command::Discard { id: t() },
        Command::Retry {
            id: t(),
            feedback: Some("smaller".into()),
        },
        Command::Resume { id: t() },
        Command::Approve {
            id: t(),
            force: true,
            branch: Some("fix-add".into()),
            keep_others: false,
        },
        Command::Push { id: t() },
        Command::Import {
            repo: "/home/ana/shop".into(),
            reference: "#12".into(),
            notes: Some("keep it small".into()),
            agent: AgentSpec::Builtin { provider: None },
        },
        Command::Load {
            id: t(),
            attempt: None,
        },
        Command::Load {
            id: t(),
            attempt: Some(1),
        },
        Command::Compare {
            id: t(),
            from: 1,
            to: 2,
            with: None,
        },
        Command::Edit {
            id: t(),
            title: "Fix add() for floats too".into(),
            prompt: "Keep it small.".into(),
            agent: AgentSpec::Builtin { provider: None },
        },
        Command::Page {
            id: t(),
            text: LongText::TestOutput,
            from: 1 << 20,
            attempt: None,
        },
        Command::WhichAgent {
            repo: "/home/ana/shop".into(),
            provider: Some("openai".into()),
        },
    ]
}

fn bodies() -> Vec<EventBody> {
    vec![
        EventBody::TaskAdded {
            task: Box::new(task()),
            attempt: Box::new(attempt()),
        },
        EventBody::AttemptUpdated {
            attempt: Box::new(attempt()),
        },
        EventBody::Docker {
            version: Some("28.2.2".into()),
            error: None,
        },
        EventBody::StateChanged {
            from: TaskState::Running,
            to: TaskState::Verifying,
        },
        EventBody::Transcript {
            entry: entry(EntryKind::Info { text: "x".into() }),
            n: 7,
        },
        EventBody::AssistantDelta { text: "Lo".into() },
        EventBody::ToolOutput {
            call: 2,
            chunk: "building".into(),
        },
        EventBody::ContainerStarted {
            container: "drover-k3j9x2ab1c".into(),
            image: "drover-worker:1".into(),
        },
        EventBody::DiffUpdated {
            diff: diff(),
            patch: page(),
        },
        EventBody::TestStarted {
            command: "make test".into(),
        },
        EventBody::TestOutput { chunk: "ok".into() },
        EventBody::TestFinished { report: report() },
        EventBody::Overlaps {
            overlaps: vec![Overlap {
                id: "m2n4p6q8r0".into(),
                title: "Add median()".into(),
                files: vec!["calc.py".into()],
                omitted_files: 0,
                conflicts: vec!["calc.py".into()],
                error: None,
            }],
        },
        EventBody::Notice {
            message: "approved".into(),
        },
        EventBody::Error {
            message: "diff: gone".into(),
        },
    ]
}

fn replies() -> Vec<Reply> {
    let t = || id("k3j9x2ab1c");
    vec![
        Reply::Queued {
            id: t(),
            others: vec![t()],
        },
        Reply::Edited { id: t() },
        Reply::Imported {
            id: t(),
            reference: "ana/shop#12".into(),
            title: "Cart total is wrong".into(),
            removed: "1 HTML comment".into(),
        },
        Reply::Cancelling {
            id: t(),
            then_discard: true,
        },
        Reply::Cancelled { id: t() },
        Reply::Discarded { id: t() },
        Reply::Retrying {
            id: t(),
            attempt: 3,
            with_feedback: true,
        },
        Reply::Resuming {
            id: t(),
            attempt: 2,
        },
        Reply::Approved {
            id: t(),
            branch: "drover/k3j9x2ab1c-fix-add".into(),
            commit: "12".repeat(20),
        },
        Reply::Pushed {
            id: t(),
            branch: "drover/k3j9x2ab1c-fix-add".into(),
            remote: "origin".into(),
            commit: "12".repeat(20),
            already: false,
            merge: "merges cleanly".into(),
            base: "origin/main".into(),
            pull_request: Some(PullRequestRef {
                number: 7,
                url: "https://github.com/ana/shop/pull/7".into(),
                draft: true,
            }),
        },
        Reply::History {
            id: t(),
            history: Box::new(History {
                attempt: attempt(),
                entries: vec![entry(EntryKind::Assistant { text: "hi".into() })],
                earlier: 3,
                test_output: "FAILED".into(),
                patch: page(),
                warnings: vec!["transcript: line 3".into()],
            }),
        },
        Reply::Page {
            id: t(),
            text: LongText::Patch,
            page: page(),
        },
        Reply::Agent {
            label: "anthropic claude".into(),
        },
    ]
}

fn errors() -> Vec<CommandError> {
    let t = || id("k3j9x2ab1c");
    vec![
        CommandError::NoTask {
            prefix: "zz".into(),
        },
        CommandError::Ambiguous {
            prefix: "k".into(),
            ids: "k1, k2".into(),
        },
        CommandError::Illegal(IllegalTransition {
            from: "review".into(),
            transition: "resume".into(),
            hint: Some("only an interrupted task can resume".into()),
        }),
        CommandError::TestsNotPassed {
            id: t(),
            verdict: Some(Verdict::Failed),
            why: "the tests result is: failed".into(),
        },
        CommandError::ChangedSinceDiff {
            id: t(),
            changed: "extra.py".into(),
        },
        CommandError::Busy { id: t() },
        CommandError::Blocked {
            id: t(),
            reason: "remote moved".into(),
        },
        CommandError::DockerUnavailable {
            what: "cannot remove the task's container".into(),
        },
        CommandError::EngineStopped,
        CommandError::failed("git: locked"),
    ]
}

fn client_msgs() -> Vec<ClientMsg> {
    vec![
        ClientMsg::Hello {
            protocol: PROTOCOL,
            client: "drover 0.1.0".into(),
        },
        ClientMsg::Subscribe {
            repo: Some("/home/ana/shop".into()),
            since: Some(41),
        },
        ClientMsg::Command {
            id: 1,
            command: Command::Load {
                id: id("k3j9x2ab1c"),
                attempt: None,
            },
        },
        ClientMsg::Stop,
    ]
}

fn server_msgs() -> Vec<ServerMsg> {
    vec![
        ServerMsg::Welcome {
            protocol: PROTOCOL,
            pid: 42,
            version: "0.1.0".into(),
            instance: "abc".into(),
            host: HostKind::Daemon,
            scope: None,
            runs_queue: true,
        },
        ServerMsg::Refused {
            reason: "say hello first".into(),
            protocol: Some(1),
            pid: Some(42),
        },
        ServerMsg::Snapshot {
            seq: 41,
            tasks: vec![TaskSnapshot {
                task: task(),
                attempt: attempt(),
            }],
            more: false,
        },
        ServerMsg::Event {
            event: Event {
                seq: 42,
                task: Some(id("k3j9x2ab1c")),
                attempt: 2,
                at: "2026-12-01T10:02:00Z".into(),
                body: EventBody::Notice {
                    message: "hi".into(),
                },
            },
        },
        ServerMsg::Reply {
            id: 1,
            result: Ok(Reply::Queued {
                id: id("k3j9x2ab1c"),
                others: vec![],
            }),
        },
        ServerMsg::Reply {
            id: 2,
            result: Err(CommandError::EngineStopped),
        },
        ServerMsg::Closing {
            reason: "the daemon stopped".into(),
        },
    ]
}

/// The values, each read back to prove it reads as written; and which variants they cover.
fn section<T>(values: &[T], tag: &str) -> (Value, BTreeSet<String>)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let mut covered = BTreeSet::new();
    let json: Vec<Value> = values
        .iter()
        .map(|v| {
            let j = serde_json::to_value(v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            let back: T = serde_json::from_value(j.clone()).unwrap_or_else(|e| panic!("{j}: {e}"));
            assert_eq!(&back, v, "reads back as written");
            let name = match (&j, tag) {
                (Value::String(s), _) => s.clone(),
                (Value::Object(o), t) if !t.is_empty() => o
                    .get(t)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                _ => String::new(),
            };
            covered.insert(name);
            j
        })
        .collect();
    (Value::Array(json), covered)
}

/// Every variant serde knows of `T`, from its refusal of one it does not.
fn variants<T: DeserializeOwned>(probe: Value) -> BTreeSet<String> {
    let Err(e) = serde_json::from_value::<T>(probe) else {
        panic!("the probe was accepted")
    };
    let text = e.to_string();
    let listed = text.split("expected").nth(1).unwrap_or_default();
    listed
        .split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect()
}

fn all() -> Value {
    let mut out = serde_json::Map::new();
    let mut check =
        |name: &str, (json, covered): (Value, BTreeSet<String>), known: BTreeSet<String>| {
            let missing: Vec<&String> = known.difference(&covered).collect();
            assert!(missing.is_empty(), "{name}: no golden value of {missing:?}");
            out.insert(name.to_string(), json);
        };
    let tagged = |tag: &str| json!({ tag: "__none__" });
    check(
        "Command",
        section(&commands(), "command"),
        variants::<Command>(tagged("command")),
    );
    check(
        "EventBody",
        section(&bodies(), "event"),
        variants::<EventBody>(tagged("event")),
    );
    check(
        "Reply",
        section(&replies(), "reply"),
        variants::<Reply>(tagged("reply")),
    );
    check(
        "CommandError",
        section(&errors(), "error"),
        variants::<CommandError>(tagged("error")),
    );
    check(
        "ClientMsg",
        section(&client_msgs(), "type"),
        variants::<ClientMsg>(tagged("type")),
    );
    check(
        "ServerMsg",
        section(&server_msgs(), "type"),
        variants::<ServerMsg>(tagged("type")),
    );
    check(
        "TaskState",
        section(&states(), "state"),
        variants::<TaskState>(tagged("state")),
    );
    check(
        "EntryKind",
        section(&entry_kinds(), "kind"),
        variants::<EntryKind>(tagged("kind")),
    );
    check(
        "ToolCall",
        section(&tool_calls(), "tool"),
        variants::<ToolCall>(tagged("tool")),
    );
    let verdicts = [
        Verdict::Passed,
        Verdict::Failed,
        Verdict::NoTests,
        Verdict::Error,
        Verdict::Stale,
    ];
    check(
        "Verdict",
        section(&verdicts, ""),
        variants::<Verdict>(json!("__none__")),
    );
    check(
        "LongText",
        section(&[LongText::Patch, LongText::TestOutput], ""),
        variants::<LongText>(json!("__none__")),
    );
    check(
        "HostKind",
        section(&[HostKind::Daemon, HostKind::InProcess], ""),
        variants::<HostKind>(json!("__none__")),
    );
    check(
        "Cause",
        section(&[Cause::DockerLost, Cause::Other], ""),
        variants::<Cause>(json!("__none__")),
    );
    let agents = [
        AgentSpec::Scripted {
            script: "s".into(),
            source: "f.toml".into(),
        },
        AgentSpec::Builtin { provider: None },
    ];
    check(
        "AgentSpec",
        section(&agents, "kind"),
        variants::<AgentSpec>(tagged("kind")),
    );
    // Records, whole, every field set.
    check(
        "TaskRecord",
        section(&[task()], ""),
        BTreeSet::from([String::new()]),
    );
    check(
        "AttemptRecord",
        section(&[attempt()], ""),
        BTreeSet::from([String::new()]),
    );
    Value::Object(out)
}

#[test]
fn the_shape_of_every_message_is_the_recorded_one_for_this_protocol() {
    let now = serde_json::to_string_pretty(&all()).expect("json") + "\n";
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "src", "protocol", "golden"]
        .iter()
        .collect::<PathBuf>()
        .join(format!("v{PROTOCOL}.json"));
    match std::fs::read_to_string(&path) {
        Ok(recorded) => assert!(
            recorded == now,
            "the protocol's shape changed without a version bump ({}): bump PROTOCOL in src/protocol/wire.rs and write the new version's file with DROVER_BLESS=1 cargo test --lib golden\n--- now ---\n{now}",
            path.display()
        ),
        Err(_) if std::env::var_os("DROVER_BLESS").is_some() => {
            std::fs::write(&path, now).expect("writing the golden file");
        }
        Err(e) => panic!(
            "{}: {e}: no golden file for protocol {PROTOCOL}; write it with DROVER_BLESS=1 cargo test --lib golden",
            path.display()
        ),
    }
}

#[test]
fn every_earlier_golden_file_stays() {
    for v in 2..=PROTOCOL {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "src", "protocol", "golden"]
            .iter()
            .collect::<PathBuf>()
            .join(format!("v{v}.json"));
        assert!(
            path.exists(),
            "{}: the record of protocol {v}",
            path.display()
        );
    }
}
