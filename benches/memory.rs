//! Memory with 32 tasks × 100k transcript lines: each task's agent makes 1,000 tool calls
//! of 100 output lines, fed through the real `App` as engine events, one task selected and
//! drawn, then the selection moved across every task (each selection reads the whole
//! history back, as the transcript file would give it). Whole-process RSS, as `ps` sees it.
//!
//! Run: `cargo bench --bench memory`. Prints a table. Not a test.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

mod common;

use common::{Screen, app, ev, id};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use drover::agent::tools::ToolOutput;
use drover::protocol::EventBody;
use drover::protocol::ToolCall;
use drover::protocol::{Entry, EntryKind};
use drover::ui::app::Msg;

const TASKS: usize = 32;
const CALLS: usize = 1_000;
const LINES: usize = 100;

/// This process's resident set (and its peak), in MiB.
fn rss() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn entries(task: usize) -> Vec<Entry> {
    let mut out = Vec::with_capacity(CALLS * 2);
    for c in 0..CALLS {
        let call = c as u32 + 1;
        out.push(Entry {
            at: format!("2026-11-22T10:{:02}:{:02}Z", c / 60 % 60, c % 60),
            kind: EntryKind::ToolCall {
                call,
                tool: ToolCall::Bash {
                    command: format!("cargo test -p part{c}"),
                    timeout_secs: None,
                },
            },
        });
        let text: String = (0..LINES)
            .map(|l| format!("test t{task}::case_{c}_{l} ... ok\n"))
            .collect();
        let result = ToolOutput {
            ok: true,
            exit_code: Some(0),
            output: text,
            truncated: 0,
            timed_out: false,
            duration: std::time::Duration::from_millis(40),
        };
        out.push(Entry {
            at: String::new(),
            kind: EntryKind::tool_result(call, &result),
        });
    }
    out
}

fn main() {
    let (base, _) = rss();
    let mut app = app(TASKS);
    let mut term = Screen::new(200, 50);
    let mut lines = 0usize;
    for t in 0..TASKS {
        for (n, entry) in (0u64..).zip(entries(t)) {
            if let EntryKind::ToolResult { .. } = &entry.kind {
                lines += LINES;
            }
            app.update(Msg::Engine(ev(t, EventBody::Transcript { entry, n })));
        }
        term.draw(&mut app);
    }
    let (fed, _) = rss();
    // Every task selected in turn: its history read back whole, drawn, then let go.
    for t in 0..TASKS {
        let history = drover::protocol::History {
            attempt: drover::protocol::AttemptRecord {
                n: 1,
                ..Default::default()
            },
            entries: entries(t),
            earlier: 0,
            test_output: String::new(),
            patch: drover::protocol::Page::default(),
            warnings: Vec::new(),
        };
        app.update(Msg::Reply(
            drover::protocol::Command::Load {
                id: id(t),
                attempt: None,
            },
            Ok(drover::protocol::Reply::History {
                id: id(t),
                history: Box::new(history),
            }),
        ));
        term.draw(&mut app);
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('j'),
            KeyModifiers::NONE,
        )));
    }
    let (end, peak) = rss();
    let held: usize = app.tasks.iter().map(|t| t.entries.len()).sum();
    println!("| figure | value |\n|---|---|");
    println!("| transcript lines fed (32 tasks × 1,000 calls × 100 lines) | {lines} |");
    println!(
        "| RSS before / after feeding / after visiting every task | {base:.0} / {fed:.0} / {end:.0} MiB |"
    );
    println!("| peak RSS | {peak:.0} MiB |");
    println!("| entries held in memory at the end | {held} |");
}
