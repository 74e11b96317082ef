//! Realistic engine events for UI tests: fixed ids and times, so screens are deterministic.

use drover::keymap::Keymap;
use drover::protocol::TaskId;
use drover::protocol::TaskState;
use drover::protocol::{AgentSpec, AttemptRecord, TaskRecord};
use drover::protocol::{DiffSummary, FileStat};
use drover::protocol::{Entry, EntryKind};
use drover::protocol::{Event, EventBody};
use drover::protocol::{TestReport, Verdict};
use drover::ui::app::{App, Header, Msg};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

pub const T0: &str = "2026-11-22T10:00:00Z";

pub fn id(s: &str) -> TaskId {
    TaskId::parse(s).unwrap()
}

pub fn record(tid: &str, title: &str, state: TaskState) -> TaskRecord {
    TaskRecord {
        id: id(tid),
        repo: "/home/ana/src/shop".into(),
        repo_hash: "abc".into(),
        title: title.into(),
        prompt: format!("{title}. Keep the change small and add tests."),
        agent: AgentSpec::Scripted {
            script: String::new(),
            source: "fix.toml".into(),
        },
        base_commit: "9708b1bddd5e0000000000000000000000000000".into(),
        base_ref: Some("main".into()),
        branch: format!("drover/{tid}-{}", drover::engine::slug(title)),
        state,
        attempt: 1,
        created_at: T0.into(),
        updated_at: T0.into(),
        origin: None,
        group: None,
    }
}

pub fn ev(task: Option<&str>, attempt: u32, body: EventBody) -> Event {
    Event {
        seq: 0,
        task: task.map(id),
        attempt,
        at: "2026-11-22T10:01:30Z".into(),
        body,
    }
}

pub fn app() -> App {
    let header = Header {
        repo: "/home/ana/src/shop".into(),
        branch: Some("main".into()),
        commit: "9708b1bddd5e".into(),
        docker: None,
        agent: "scripted".into(),
        all: false,
    };
    let mut app = App::new(header, Keymap::builtin());
    app.now = time::macros::datetime!(2026-11-22 10:03:07 UTC);
    app.update(Msg::Engine(ev(
        None,
        0,
        EventBody::Docker {
            version: Some("28.2.2 (API 1.50)".into()),
            error: None,
        },
    )));
    app
}

pub fn add(app: &mut App, tid: &str, title: &str, state: TaskState, attempt: AttemptRecord) {
    let body = EventBody::TaskAdded {
        task: Box::new(record(tid, title, state)),
        attempt: Box::new(attempt),
    };
    app.update(Msg::Engine(ev(Some(tid), 1, body)));
}

pub fn started(secs_ago: u32) -> AttemptRecord {
    AttemptRecord {
        n: 1,
        started_at: Some(format!(
            "2026-11-22T10:{:02}:{:02}Z",
            (187 - secs_ago) / 60,
            (187 - secs_ago) % 60
        )),
        ..Default::default()
    }
}

pub fn reviewed(passed: bool) -> AttemptRecord {
    AttemptRecord {
        n: 1,
        started_at: Some("2026-11-22T10:00:05Z".into()),
        finished_at: Some("2026-11-22T10:02:17Z".into()),
        container: Some("0e5312461064aaaaaaaaaaaaaaaa".into()),
        image: Some("drover-worker:afc868af887c".into()),
        workspace: Some("/home/ana/.local/share/drover/workspaces/k3j9x2ab1c".into()),
        diff: Some(diff_summary()),
        tests: Some(report(passed)),
        summary: Some("add() now adds; the whole suite passes.".into()),
        feedback: None,
        network: Some("none".into()),
        limits: Some(
            "4.0 GiB memory · 2 CPUs · 1024 processes · 600s per command · 1024 MiB /tmp".into(),
        ),
        usage: Some(drover::protocol::UsageRecord {
            input_tokens: 41_200,
            output_tokens: 2_350,
            cost_usd: Some(0.16),
            turns: 7,
        }),
        model: Some("anthropic claude-sonnet-4-5".into()),
        iterations: 1,
        workspace_bytes: Some(3_565_158),
        ..Default::default()
    }
}

pub fn diff_summary() -> DiffSummary {
    let f = |path: &str, status: &str, i, d, binary| FileStat {
        path: path.into(),
        old_path: (status == "renamed").then(|| "docs/old.md".into()),
        status: status.into(),
        insertions: i,
        deletions: d,
        binary,
        old_size: 0,
        new_size: if binary { 2048 } else { 100 },
    };
    DiffSummary {
        files: vec![
            f("calc.py", "modified", 12, 1, false),
            f("tests/test_median.py", "added", 19, 0, false),
            f("docs/new.md", "renamed", 0, 0, false),
            f("logo.png", "added", 0, 0, true),
        ],
        insertions: 31,
        deletions: 1,
        ..Default::default()
    }
}

pub const PATCH: &str = "diff --git a/calc.py b/calc.py
index 15b77d1..b7b0c20 100644
--- a/calc.py
+++ b/calc.py
@@ -3,7 +3,7 @@
 
 def add(a, b):
     \"\"\"Sum of two amounts.\"\"\"
-    return a - b
+    return a + b
 
 
 def mean(values):
diff --git a/tests/test_median.py b/tests/test_median.py
new file mode 100644
--- /dev/null
+++ b/tests/test_median.py
@@ -0,0 +1,3 @@
+import unittest
+
+from calc import median
diff --git a/logo.png b/logo.png
new file mode 100644
Binary files /dev/null and b/logo.png differ
";

pub fn report(passed: bool) -> TestReport {
    TestReport {
        command: Some("python3 -m unittest discover -v".into()),
        exit_code: Some(if passed { 0 } else { 1 }),
        passed: Some(if passed { 6 } else { 4 }),
        failed: Some(if passed { 0 } else { 2 }),
        verdict: if passed {
            Verdict::Passed
        } else {
            Verdict::Failed
        },
        duration_ms: 140,
        timed_out: false,
        note: None,
        tree: None,
        changed: Vec::new(),
        skipped: None,
        failures: Vec::new(),
        new_failures: None,
        base: None,
    }
}

/// A transcript entry as it streams; numbered in the order made (screens that mix
/// histories with live entries number them themselves).
pub fn entry(kind: EntryKind) -> EventBody {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    EventBody::Transcript {
        entry: Entry {
            at: T0.into(),
            kind,
        },
        n: N.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    }
}

/// A transcript with every kind of entry, a long coloured output and a failure.
pub fn transcript(app: &mut App, tid: &str) {
    use drover::protocol::ToolCall;
    let long: String = (1..=40)
        .map(|i| format!("\x1b[32mok\x1b[0m line {i}\n"))
        .collect();
    let bodies = vec![
        entry(EntryKind::Info { text: "workspace /home/ana/.local/share/drover/workspaces/k3j9x2ab1c on branch drover/k3j9x2ab1c-fix-add at 9708b1bddd5e".into() }),
        entry(EntryKind::Assistant { text: "Running the test suite to see what fails.".into() }),
        entry(EntryKind::ToolCall { call: 1, tool: ToolCall::Bash { command: "python3 -m unittest discover".into(), timeout_secs: None } }),
        entry(EntryKind::ToolResult { call: 1, ok: false, exit_code: Some(1), output: "F..\nFAIL: test_add\nAssertionError: -1 != 5\n\x1b]52;c;cHduZWQ=\x07\x1b[2J".into(), truncated: 0, duration_ms: 210, timed_out: false }),
        entry(EntryKind::ToolCall { call: 2, tool: ToolCall::ReadFile { path: "calc.py".into() } }),
        entry(EntryKind::ToolResult { call: 2, ok: true, exit_code: Some(0), output: long, truncated: 5123, duration_ms: 40, timed_out: false }),
        entry(EntryKind::ToolCall { call: 3, tool: ToolCall::EditFile { path: "calc.py".into(), old: "a - b".into(), new: "a + b".into() } }),
        entry(EntryKind::ToolResult { call: 3, ok: true, exit_code: Some(0), output: "edited calc.py".into(), truncated: 0, duration_ms: 90, timed_out: false }),
        entry(EntryKind::Error { text: "edit_file failed: the `old` text occurs 2 times".into() }),
        entry(EntryKind::ToolCall { call: 4, tool: ToolCall::Finish { summary: "add() now adds; the whole suite passes.".into() } }),
        entry(EntryKind::ToolResult { call: 4, ok: true, exit_code: None, output: "add() now adds; the whole suite passes.".into(), truncated: 0, duration_ms: 0, timed_out: false }),
    ];
    for b in bodies {
        app.update(Msg::Engine(ev(Some(tid), 1, b)));
    }
}

/// The screen `app` draws at `w`×`h`; what it drew goes back to the app, as in the loop.
pub fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut cache = drover::ui::render::Cache::default();
    let mut layout = drover::ui::render::Layout::default();
    t.draw(|f| layout = drover::ui::render::draw(app, &mut cache, f))
        .unwrap();
    app.drawn(layout);
    t.backend().to_string()
}

/// A key press (no modifiers); the effects it caused.
pub fn press(app: &mut App, c: crossterm::event::KeyCode) -> Vec<drover::ui::app::Effect> {
    use crossterm::event::{KeyEvent, KeyModifiers};
    app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)))
}

/// Types `s` one character at a time.
pub fn typed(app: &mut App, s: &str) {
    for ch in s.chars() {
        press(app, crossterm::event::KeyCode::Char(ch));
    }
}
