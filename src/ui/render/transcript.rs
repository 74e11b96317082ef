//! The Transcript pane: what the agent said and did, entry by entry.
//!
//! Tool outputs longer than a screenful are collapsed to head and tail (`e` expands);
//! ANSI colours are kept, every other escape made inert. Lines are built once per task
//! version and width, then only the visible slice is drawn.

use std::cell::RefCell;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::util::{ansi_lines, wrap};
use crate::protocol::EntryKind;
use crate::protocol::TaskId;
use crate::protocol::ToolCall;
use crate::ui::app::App;
use crate::ui::model::TaskView;
use crate::ui::theme;

/// Outputs longer than this are collapsed to head + tail.
const COLLAPSE_OVER: usize = 14;
const HEAD: usize = 6;
const TAIL: usize = 6;

/// Task, version, width, expanded, expand key: everything the lines depend on.
type Key = (TaskId, u64, u16, bool, String);

thread_local! {
    static CACHE: RefCell<Option<(Key, Vec<Line<'static>>)>> = const { RefCell::new(None) };
}

pub fn draw(app: &App, task: &TaskView, f: &mut Frame, area: Rect) {
    let lines = lines(task, area.width, expand_key(app));
    let lines = match &app.search {
        Some(q) if !q.is_empty() => highlight(lines, q),
        _ => lines,
    };
    super::scrolled(app, f, area, &lines, true);
}

/// The key named in the "(e expands)" hint.
fn expand_key(app: &App) -> String {
    app.keymap
        .keys(crate::keymap::Context::Pane, crate::keymap::Action::Expand)
}

/// The transcript as plain text lines (for search), at the last drawn width.
pub fn plain_lines(app: &App) -> Vec<String> {
    let Some(task) = app.selected_task() else {
        return Vec::new();
    };
    let width = app.geometry.pane.get().width.saturating_sub(2).max(20);
    // The same lines as drawn, so the two share the cache entry.
    lines(task, width, expand_key(app))
        .iter()
        .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
        .collect()
}

fn highlight(lines: Vec<Line<'static>>, q: &str) -> Vec<Line<'static>> {
    let q = q.to_lowercase();
    lines
        .into_iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            if text.to_lowercase().contains(&q) {
                l.style(Style::default().bg(Color::Rgb(70, 60, 0)))
            } else {
                l
            }
        })
        .collect()
}

fn lines(task: &TaskView, width: u16, expand_key: String) -> Vec<Line<'static>> {
    let key: Key = (
        task.task.id.clone(),
        task.version,
        width,
        task.expand_all,
        expand_key.clone(),
    );
    if let Some(hit) = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, l)| l.clone())
    }) {
        return hit;
    }
    let built = build(task, width as usize, &expand_key);
    CACHE.with(|c| *c.borrow_mut() = Some((key, built.clone())));
    built
}

fn build(task: &TaskView, width: usize, expand_key: &str) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = Vec::new();
    if task.entries.is_empty() && task.live.is_none() {
        let msg = if task.task.state.is_resting() && !task.loaded {
            "loading…"
        } else {
            "waiting for the agent…"
        };
        out.push(Line::styled(msg, theme::dim()));
    }
    let text_w = width.saturating_sub(2);
    // `finish` calls are shown as the summary line; their echo result is not repeated.
    let mut finished = std::collections::HashSet::new();
    for e in &task.entries {
        match &e.kind {
            EntryKind::Assistant { text } => {
                for (i, l) in wrap(&crate::text::inert(text), text_w)
                    .into_iter()
                    .enumerate()
                {
                    let marker = if i == 0 {
                        Span::styled(
                            "› ",
                            Style::default()
                                .fg(Color::Magenta)
                                .add_modifier(Modifier::BOLD),
                        )
                    } else {
                        Span::raw("  ")
                    };
                    out.push(Line::from(vec![marker, Span::raw(l)]));
                }
            }
            EntryKind::ToolCall {
                tool: ToolCall::Finish { summary },
                call,
            } => {
                finished.insert(*call);
                for (i, l) in wrap(&crate::text::inert(summary), text_w)
                    .into_iter()
                    .enumerate()
                {
                    let marker = if i == 0 { "✔ " } else { "  " };
                    out.push(Line::styled(
                        format!("{marker}{l}"),
                        Style::default()
                            .fg(Color::Green)
                            .add_modifier(Modifier::BOLD),
                    ));
                }
            }
            EntryKind::ToolCall { tool, .. } => {
                let detail = crate::text::inert(&tool.detail());
                let detail = detail.lines().next().unwrap_or("").to_string();
                out.push(Line::from(vec![
                    Span::styled("▶ ", Style::default().fg(Color::Cyan)),
                    Span::styled(
                        tool.name().to_string(),
                        Style::default()
                            .fg(Color::Cyan)
                            .add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(" "),
                    Span::raw(detail),
                ]));
            }
            EntryKind::ToolResult { call, .. } if finished.contains(call) => {}
            EntryKind::ToolResult {
                call,
                ok,
                exit_code,
                output,
                truncated,
                duration_ms,
                timed_out,
            } => {
                let expanded = task.expand_all || task.expanded.contains(call);
                push_output(&mut out, output, expanded, expand_key);
                let (mark, color) = if *ok {
                    ("✓", Color::Green)
                } else {
                    ("✗", Color::Red)
                };
                let status = match (timed_out, exit_code) {
                    (true, _) => "timed out".to_string(),
                    (_, Some(c)) => format!("exit {c}"),
                    (_, None) => {
                        if *ok {
                            "ok".into()
                        } else {
                            "failed".into()
                        }
                    }
                };
                let mut spans = vec![
                    Span::styled("  └ ", theme::dim()),
                    Span::styled(format!("{mark} {status}"), Style::default().fg(color)),
                    Span::styled(
                        format!(" · {:.1}s", *duration_ms as f64 / 1000.0),
                        theme::dim(),
                    ),
                ];
                if *truncated > 0 {
                    spans.push(Span::styled(
                        format!(" · {truncated} bytes truncated"),
                        Style::default().fg(Color::Yellow),
                    ));
                }
                out.push(Line::from(spans));
            }
            EntryKind::Output { text } => push_output(&mut out, text, task.expand_all, expand_key),
            EntryKind::Info { text } => {
                for (i, l) in wrap(&crate::text::inert(text), text_w)
                    .into_iter()
                    .enumerate()
                {
                    out.push(Line::styled(
                        format!("{}{l}", if i == 0 { "• " } else { "  " }),
                        theme::dim(),
                    ));
                }
            }
            EntryKind::Error { text } => {
                for (i, l) in wrap(&crate::text::inert(text), text_w)
                    .into_iter()
                    .enumerate()
                {
                    out.push(Line::styled(
                        format!("{}{l}", if i == 0 { "! " } else { "  " }),
                        Style::default().fg(Color::Red),
                    ));
                }
            }
        }
    }
    if !task.live_text.is_empty() {
        for (i, l) in wrap(&crate::text::inert(&task.live_text), text_w)
            .into_iter()
            .enumerate()
        {
            let marker = if i == 0 {
                Span::styled("› ", Style::default().fg(Color::Magenta))
            } else {
                Span::raw("  ")
            };
            out.push(Line::from(vec![marker, Span::styled(l, theme::dim())]));
        }
    }
    if let Some((_, text)) = &task.live {
        push_output(&mut out, text, true, expand_key);
        out.push(Line::styled(
            "  ⋯ running",
            Style::default().fg(Color::Yellow),
        ));
    }
    for n in &task.notices {
        out.push(Line::styled(
            format!("note: {}", crate::text::inert(n)),
            Style::default().fg(Color::Yellow),
        ));
    }
    out
}

fn push_output(out: &mut Vec<Line<'static>>, text: &str, expanded: bool, expand_key: &str) {
    if text.is_empty() {
        return;
    }
    let lines = ansi_lines(text);
    let gutter = || Span::styled("  │ ", theme::dim());
    let mut push = |l: Line<'static>| {
        let mut spans = vec![gutter()];
        spans.extend(l.spans);
        out.push(Line::from(spans));
    };
    if expanded || lines.len() <= COLLAPSE_OVER {
        lines.into_iter().for_each(&mut push);
        return;
    }
    let n = lines.len();
    let mut it = lines.into_iter();
    for l in it.by_ref().take(HEAD) {
        push(l);
    }
    let hint = if expand_key.is_empty() {
        String::new()
    } else {
        format!(" ({expand_key} expands)")
    };
    push(Line::styled(
        format!("┄ {} more lines{hint} ┄", n - HEAD - TAIL),
        Style::default().fg(Color::Yellow),
    ));
    for l in it.skip(n - HEAD - TAIL) {
        push(l);
    }
}
