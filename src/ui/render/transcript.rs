//! The Transcript pane: what the agent said and did, entry by entry.
//!
//! Tool outputs longer than a screenful are collapsed to head and tail (`e` expands);
//! ANSI colours are kept, every other escape made inert. Lines are built once per entry
//! and kept (`Lines`): a new entry adds its own lines, so a streaming task costs its new
//! output per frame, not its whole transcript. What streams in before it is an entry
//! (assistant text, a running command's output, notices) is built each frame; only the
//! visible slice is drawn.

use std::collections::HashSet;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::util::{ansi_lines, wrap};
use crate::protocol::{Entry, EntryKind, TaskId, ToolCall};
use crate::ui::app::App;
use crate::ui::model::TaskView;
use crate::ui::theme;

/// Outputs longer than this are collapsed to head + tail.
const COLLAPSE_OVER: usize = 14;
const HEAD: usize = 6;
const TAIL: usize = 6;

/// What the built lines depend on besides the entries themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    task: TaskId,
    attempt: u32,
    epoch: u64,
    width: u16,
    expand_all: bool,
    expand_key: String,
    /// The tests' verdict colours the agent's own "finished" (its claim is not a pass).
    verdict: Option<crate::protocol::Verdict>,
    /// Long lines (commands and their outputs) wrap instead of running off the right.
    wrap: bool,
}

/// The lines of the shown task's entries, built as entries come.
#[derive(Default)]
pub struct Lines {
    key: Option<Key>,
    /// Entries built so far.
    built: usize,
    lines: Vec<Line<'static>>,
    /// Calls of `finish`: their echoed result is not shown again.
    finished: HashSet<u32>,
}

impl Lines {
    /// Brings the lines up to `task`'s entries: new entries only, unless what they were
    /// built for changed.
    fn update(&mut self, task: &TaskView, width: u16, wrap: bool, expand_key: &str) {
        let key = Key {
            task: task.task.id.clone(),
            attempt: task.task.attempt,
            epoch: task.entries_epoch,
            width,
            expand_all: task.expand_all,
            expand_key: expand_key.to_string(),
            verdict: task.attempt.tests.as_ref().map(|r| r.verdict),
            wrap,
        };
        if self.key.as_ref() != Some(&key) || self.built > task.entries.len() {
            *self = Lines {
                key: Some(key),
                ..Lines::default()
            };
        }
        let text_w = (width as usize).saturating_sub(2);
        for e in &task.entries[self.built..] {
            let from = self.lines.len();
            entry_lines(
                &mut self.lines,
                &mut self.finished,
                task.attempt.tests.as_ref().map(|r| r.verdict),
                e,
                text_w,
                task.expand_all,
                expand_key,
            );
            if wrap {
                let built = self.lines.split_off(from);
                self.lines.extend(wrapped(built, width));
            }
        }
        self.built = task.entries.len();
    }
}

pub fn draw(
    app: &App,
    task: &TaskView,
    cache: &mut Lines,
    f: &mut Frame,
    area: Rect,
    out: &mut super::Layout,
) {
    let expand_key = app
        .keymap
        .keys(crate::keymap::Context::Pane, crate::keymap::Action::Expand);
    cache.update(task, area.width, app.wrap, &expand_key);
    let mut tail = live_lines(task, (area.width as usize).saturating_sub(2), &expand_key);
    if app.wrap {
        tail = wrapped(tail, area.width);
    }
    let n = cache.lines.len();
    let line = |i: usize| if i < n { &cache.lines[i] } else { &tail[i - n] };
    let len = n + tail.len();
    let height = area.height as usize;
    let top = super::top(app, len, height, true, out);
    let top = super::seek(app, len, height, top, |i| super::text_of(line(i)), out);
    let visible: Vec<Line<'static>> = (top..(top + height).min(len))
        .map(|i| super::highlight(app, line(i).clone()))
        .collect();
    f.render_widget(
        Paragraph::new(visible).scroll((0, super::hscroll(app))),
        area,
    );
}

/// `lines` cut to `width` columns, a long line going on in the rows below it.
fn wrapped(lines: Vec<Line<'static>>, width: u16) -> Vec<Line<'static>> {
    lines
        .into_iter()
        .flat_map(|l| super::util::wrap_line(l, width as usize))
        .collect()
}

/// The lines of one entry, appended to `out`.
fn entry_lines(
    out: &mut Vec<Line<'static>>,
    finished: &mut HashSet<u32>,
    verdict: Option<crate::protocol::Verdict>,
    e: &Entry,
    text_w: usize,
    expand_all: bool,
    expand_key: &str,
) {
    match &e.kind {
        EntryKind::Section { title } => {
            let title = crate::text::inert(title);
            let rule = "─".repeat(text_w.saturating_sub(title.chars().count() + 4).min(60));
            out.push(Line::styled(
                format!("── {title} {rule}"),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ));
        }
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
                // The agent says it is done; green only once the tests agree.
                use crate::protocol::Verdict;
                let (mark, color) = match verdict {
                    Some(Verdict::Passed) => ("✔ ", Color::Green),
                    Some(Verdict::Failed | Verdict::Error) => ("■ ", Color::Yellow),
                    _ => ("■ ", Color::White),
                };
                let marker = if i == 0 { mark } else { "  " };
                out.push(Line::styled(
                    format!("{marker}{l}"),
                    Style::default().fg(color).add_modifier(Modifier::BOLD),
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
            call: _,
            ok,
            exit_code,
            output,
            truncated,
            duration_ms,
            timed_out,
        } => {
            let expanded = expand_all;
            push_output(out, output, expanded, expand_key);
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
            ];
            // A call cut by a crash has no duration on record: say nothing rather
            // than 0.0s.
            if *duration_ms > 0 || *ok || exit_code.is_some() {
                spans.push(Span::styled(
                    format!(" · {:.1}s", *duration_ms as f64 / 1000.0),
                    theme::dim(),
                ));
            }
            if *truncated > 0 {
                spans.push(Span::styled(
                    format!(" · {truncated} bytes truncated"),
                    Style::default().fg(Color::Yellow),
                ));
            }
            out.push(Line::from(spans));
        }
        EntryKind::Output { text } => push_output(out, text, expand_all, expand_key),
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

/// What is not an entry yet: a placeholder while there is nothing, assistant text as it
/// streams, the running command's output, notices.
fn live_lines(task: &TaskView, text_w: usize, expand_key: &str) -> Vec<Line<'static>> {
    let mut out: Vec<Line<'static>> = Vec::new();
    if task.entries.is_empty() && task.live.is_none() {
        let msg = if task.task.state.is_resting() && !task.loaded {
            "loading…"
        } else {
            "waiting for the agent…"
        };
        out.push(Line::styled(msg, theme::dim()));
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
