//! Events and records as text for a terminal (or JSON Lines), for the headless CLI.
//!
//! Everything from an agent goes through `text::inert` first: escape sequences in agent
//! output must never reach the user's terminal.

use crate::protocol::{Entry, EntryKind};
use crate::protocol::{Event, EventBody};
use crate::text::inert;

/// Output lines shown per tool result before eliding (full text: `drover logs`).
const MAX_LINES: usize = 20;

pub(super) fn event_line(ev: &Event) -> Option<String> {
    let id = ev
        .task
        .as_ref()
        .map(|t| t.to_string())
        .unwrap_or_else(|| "drover".into());
    let prefix = format!("[{id}]");
    let body = match &ev.body {
        EventBody::TaskAdded { task, .. } => {
            format!("{} {}", task.state.name(), inert(&task.title))
        }
        EventBody::AttemptUpdated { .. } => return None,
        EventBody::Docker { version, error } => match (version, error) {
            (Some(v), _) => format!("docker {v}"),
            (None, e) => format!("docker unavailable: {}", e.as_deref().unwrap_or("?")),
        },
        EventBody::StateChanged { from, to } => {
            format!("{} → {}", from.name(), inert(&to.to_string()))
        }
        EventBody::Transcript { entry, .. } => {
            return Some(indent(&prefix, &entry_text(entry, Some(MAX_LINES))));
        }
        EventBody::ToolOutput { .. }
        | EventBody::TestOutput { .. }
        | EventBody::AssistantDelta { .. } => {
            return None;
        }
        EventBody::ContainerStarted { container, image } => {
            format!(
                "container {} ({image})",
                crate::runtime::short_id(container)
            )
        }
        EventBody::DiffUpdated { diff, .. } => format!("diff: {}", diff.stat_line()),
        EventBody::TestStarted { command } => format!("tests: {}", inert(command)),
        EventBody::TestFinished { report } => format!("tests {}", report.summary()),
        EventBody::Overlaps { overlaps } if overlaps.is_empty() => return None,
        EventBody::Overlaps { overlaps } => overlaps
            .iter()
            .map(|o| {
                let what = if o.conflicts.is_empty() {
                    format!("also changes {} (merges cleanly)", o.files.join(", "))
                } else {
                    format!("conflicts in {}", o.conflicts.join(", "))
                };
                format!("with {} {}: {what}", o.id, inert(&o.title))
            })
            .collect::<Vec<_>>()
            .join("; "),
        EventBody::Notice { message } => format!("note: {}", inert(message)),
        EventBody::Error { message } => format!("error: {}", inert(message)),
    };
    Some(format!("{prefix} {body}"))
}

fn indent(prefix: &str, text: &str) -> String {
    text.lines()
        .map(|l| format!("{prefix} {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A transcript entry as one or more lines (no prefix); tool output elided after
/// `max_lines` when given (live progress), whole otherwise (`drover logs`).
pub(super) fn entry_text(entry: &Entry, max_lines: Option<usize>) -> String {
    match &entry.kind {
        EntryKind::Assistant { text } => format!("› {}", inert(text)),
        EntryKind::Section { title } => format!("── {} ──", inert(title)),
        EntryKind::ToolCall { tool, .. } => inert(&tool.headline()),
        EntryKind::ToolResult {
            ok,
            exit_code,
            output,
            truncated,
            duration_ms,
            timed_out,
            ..
        } => {
            let mut out = String::new();
            let lines: Vec<&str> = output.lines().collect();
            let shown = max_lines.unwrap_or(usize::MAX);
            for l in lines.iter().take(shown) {
                out.push_str(&format!("  │ {}\n", inert(l)));
            }
            if lines.len() > shown {
                out.push_str(&format!(
                    "  │ … {} more lines (drover logs)\n",
                    lines.len() - shown
                ));
            }
            let status = match (exit_code, timed_out, ok) {
                (_, true, _) => "timed out".to_string(),
                (Some(c), _, _) => format!("exit {c}"),
                (None, _, true) => "ok".to_string(),
                (None, _, false) => "failed".to_string(),
            };
            let cut = if *truncated > 0 {
                format!(" · {truncated} bytes truncated")
            } else {
                String::new()
            };
            // A call cut by a crash has no duration on record.
            let took = match *duration_ms > 0 || *ok || exit_code.is_some() {
                true => format!(" · {:.1}s", *duration_ms as f64 / 1000.0),
                false => String::new(),
            };
            out.push_str(&format!("  └ {status}{took}{cut}"));
            out
        }
        EntryKind::Output { text } => text
            .lines()
            .map(|l| format!("  │ {}", inert(l)))
            .collect::<Vec<_>>()
            .join("\n"),
        EntryKind::Info { text } => format!("• {}", inert(text)),
        EntryKind::Error { text } => format!("! {}", inert(text)),
    }
}

pub(super) fn json_line<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
