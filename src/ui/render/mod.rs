//! Drawing the app: header, task list, the selected task's pane, footer, overlays.
//!
//! `draw` reads the `App` and never changes it: what the frame drew (where the list and
//! the pane are, how long the pane's content is, where a search landed) comes back as a
//! `Layout`, which the loop hands to `App::drawn`. What is kept between frames so a frame
//! costs what the screen shows (the transcript's lines, built entry by entry as entries
//! come; the parsed patch) lives in a `Cache` the caller owns. Every screen can be
//! snapshot-tested on a `TestBackend`. Sizes down to 20×5 degrade instead of panicking:
//! panes are dropped before the list, the list before the header.

mod activity;
mod best_of;
mod diff;
mod info;
mod list;
mod overlay;
mod pull;
mod tests_pane;
pub mod transcript;
mod util;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout as Split, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::app::{App, Focus, Mode, Pane};
use super::model::counts;
use super::theme;

pub use util::ansi_lines;

/// What a frame drew, for the app to answer the mouse and to page (`App::drawn`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub list: Rect,
    /// The first task shown in the list.
    pub list_offset: usize,
    pub pane: Rect,
    /// Which task's pane `pane_len` measures (paging acts only on what was measured).
    pub shown: Option<(crate::protocol::TaskId, Pane)>,
    /// Lines the shown pane's content has, and how many fit.
    pub pane_len: usize,
    pub pane_height: usize,
    /// Where the search the app asked for (`App::seek`) landed: `None` when nothing
    /// matched (or nothing was asked).
    pub found: Option<usize>,
    /// Which match that is, counting from 1, and how many there are.
    pub matches: Option<(usize, usize)>,
    /// The first line the pane showed, when drawing moved it from the app's scroll (a
    /// wrapped Diff pane keeping its cursor in sight).
    pub scrolled: Option<usize>,
}

/// What drawing keeps between frames (owned by whoever draws, never by the app).
#[derive(Default)]
pub struct Cache {
    transcript: transcript::Lines,
    diff: diff::Parsed,
}

pub fn draw(app: &App, cache: &mut Cache, f: &mut Frame) -> Layout {
    let mut out = Layout::default();
    let area = f.area();
    let [header, body, footer] = Split::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(app, f, header);
    draw_footer(app, f, footer);
    if body.height >= 3 {
        // Wide: list and pane side by side. Narrow, or zoomed: whichever has focus.
        if body.width >= 80 && !app.zoom {
            // The list widens with the screen (titles stay readable), more when every
            // repository's tasks show (their column too), or as the user set it.
            let pct = app.list_pct.unwrap_or(if app.header.all { 45 } else { 40 });
            let list_w = (body.width * pct / 100).clamp(30, body.width - 40);
            let [l, p] =
                Split::horizontal([Constraint::Length(list_w), Constraint::Min(0)]).areas(body);
            list::draw(app, f, l, &mut out);
            draw_pane(app, cache, f, p, &mut out);
        } else if app.focus == Focus::Pane {
            draw_pane(app, cache, f, body, &mut out);
        } else {
            list::draw(app, f, body, &mut out);
        }
    }
    overlay::draw(app, f, area);
    out
}

fn draw_header(app: &App, f: &mut Frame, area: Rect) {
    let h = &app.header;
    let c = counts(app.tasks.iter());
    let repo = h.repo.file_name().map_or_else(
        || h.repo.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let docker = match &h.docker {
        None => Span::styled("docker …", theme::dim()),
        Some(Ok(v)) => Span::styled(
            format!("docker {}", v.split(' ').next().unwrap_or(v)),
            Style::default().fg(Color::Green),
        ),
        Some(Err(_)) => Span::styled("docker unavailable", Style::default().fg(Color::Red)),
    };
    let mut spans = vec![
        Span::styled(
            " drover ",
            Style::default().fg(Color::Black).bg(Color::Cyan),
        ),
        Span::raw(" "),
    ];
    if h.all {
        spans.push(Span::styled("all repositories", theme::bold()));
        spans.push(Span::raw(" "));
    } else {
        spans.push(Span::styled(repo, theme::bold()));
        spans.push(Span::styled(
            format!(
                " {}@{} ",
                h.branch.as_deref().unwrap_or("HEAD"),
                &h.commit[..h.commit.len().min(7)]
            ),
            theme::dim(),
        ));
    }
    spans.extend([
        docker,
        Span::styled(format!("  agent {}", h.agent), theme::dim()),
        Span::raw("  "),
    ]);
    // The first three always (a glance says "nothing waiting"), the rest when any;
    for (n, label, color, always) in [
        (c.queued, "queued", Color::Gray, true),
        (c.running, "running", Color::Cyan, true),
        (c.review, "review", Color::Green, true),
        // What needs the user first: the line is cut at the terminal's edge.
        (c.failed, "failed", Color::Red, false),
        (c.interrupted, "interrupted", Color::Yellow, false),
        (c.blocked, "blocked", Color::Yellow, false),
        (c.approved, "approved", Color::LightGreen, false),
        (c.pushed, "pushed", Color::LightGreen, false),
        (c.merged, "merged", Color::Magenta, false),
        (c.closed, "closed", Color::Gray, false),
        (c.cancelled, "cancelled", Color::Gray, false),
    ] {
        if n == 0 && !always {
            continue;
        }
        let style = if n > 0 {
            Style::default().fg(color)
        } else {
            theme::dim()
        };
        let count = Span::styled(format!("{n} {label}  "), style);
        // Whole counts or none: a count cut at the edge reads as another number.
        let used: usize = spans.iter().map(|s| s.width()).sum();
        if used + count.width() > area.width as usize + 2 {
            break;
        }
        spans.push(count);
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(app: &App, f: &mut Frame, area: Rect) {
    let input = |what: &str| {
        let key = |a| app.keymap.keys(crate::keymap::Context::Input, a);
        format!(
            "▏  {} {what} · {} clear",
            key(crate::keymap::Action::Accept),
            key(crate::keymap::Action::Cancel)
        )
    };
    let line = if let Mode::Search(q) = &app.mode {
        // Enter on nothing looks for the last query again: say which.
        let last = match (&app.search, q.is_empty()) {
            (Some(last), true) => format!(" (empty: \"{}\" again)", crate::text::inert(last)),
            _ => String::new(),
        };
        Line::from(vec![
            Span::styled("search: ", theme::key_style()),
            Span::raw(crate::text::inert(q)),
            Span::styled(input(&format!("search{last}")), theme::dim()),
        ])
    } else if matches!(app.mode, Mode::Filter) {
        Line::from(vec![
            Span::styled("filter: ", theme::key_style()),
            Span::raw(crate::text::inert(&app.filter)),
            Span::styled(input("keep"), theme::dim()),
        ])
    } else if let Some(s) = app.status.as_ref().filter(|s| app.fresh(s)) {
        let style = if s.error {
            Style::default().fg(Color::Red)
        } else {
            Style::default().fg(Color::Yellow)
        };
        Line::from(Span::styled(crate::text::inert(&s.text), style))
    } else {
        // Help and quit first, then what applies to the selected task now; a hint
        // that does not fit whole is left out, never cut.
        let mut hints = app.keymap.global_hints_in(app.context());
        let (mut task, rest): (Vec<_>, Vec<_>) = app
            .keymap
            .action_hints(app.context())
            .into_iter()
            .filter(|(a, _, _)| app.offers(*a))
            .partition(|(a, _, _)| a.is_task_action());
        task.extend(rest);
        // On a pushed task, a retry is the pull request's follow-up.
        let pushed = app
            .selected_task()
            .is_some_and(|t| t.task.state == crate::protocol::TaskState::Pushed);
        hints.extend(task.into_iter().map(|(a, keys, label)| match (pushed, a) {
            (true, crate::keymap::Action::RetryFeedback) => (keys, "follow up"),
            (true, crate::keymap::Action::RetryScratch) => (keys, "follow up as asked"),
            _ => (keys, label),
        }));
        let mut spans = Vec::new();
        let mut used = 0;
        for (keys, label) in hints {
            let label = format!(" {label}  ");
            let w = keys.width() + label.width();
            if used + w > area.width as usize + 2 {
                break;
            }
            used += w;
            spans.push(Span::styled(keys, theme::key_style()));
            spans.push(Span::styled(label, theme::dim()));
        }
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(line), area);
}

fn draw_pane(app: &App, cache: &mut Cache, f: &mut Frame, area: Rect, out: &mut Layout) {
    let focused = app.focus == Focus::Pane;
    let mut tabs = vec![Span::raw(" ")];
    for (i, p) in Pane::ALL.iter().enumerate() {
        let style = if *p == app.pane {
            Style::default()
                .fg(Color::Black)
                .bg(if focused { Color::Cyan } else { Color::Gray })
        } else {
            theme::dim()
        };
        tabs.push(Span::styled(format!(" {} {} ", i + 1, p.title()), style));
        tabs.push(Span::raw(" "));
    }
    // Which attempt the panes show, when the task has had more than one.
    if let (Some(cur), Some(shown)) = (app.selected_task(), app.shown_task()) {
        let (n, of) = (shown.task.attempt, cur.task.attempt);
        if of > 1 {
            let style = match n == of {
                true => theme::dim(),
                false => Style::default().fg(Color::Black).bg(Color::Yellow),
            };
            let what = match n == of {
                true => format!(" attempt {n} of {of} "),
                false => format!(" attempt {n} of {of}, an earlier one "),
            };
            tabs.push(Span::styled(what, style));
            tabs.push(Span::raw(" "));
        }
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::border(focused))
        .title(Line::from(tabs));
    let inner = block.inner(area);
    f.render_widget(block, area);
    out.pane = area;
    let Some(task) = app.shown_task() else {
        let hint = format!(
            "No task yet. Press {} to queue one.",
            app.keymap
                .keys(crate::keymap::Context::List, crate::keymap::Action::NewTask)
        );
        f.render_widget(Paragraph::new(Span::styled(hint, theme::dim())), inner);
        return;
    };
    out.shown = Some((task.task.id.clone(), app.pane));
    match app.pane {
        Pane::Transcript => transcript::draw(app, task, &mut cache.transcript, f, inner, out),
        Pane::Diff => diff::draw(app, task, &mut cache.diff, f, inner, out),
        Pane::Tests => tests_pane::draw(app, task, f, inner, out),
        Pane::Info => info::draw(app, task, f, inner, out),
    }
}

/// The first line shown of `len` lines in `height` rows, as the app's scroll state
/// says; recorded for paging.
fn top(app: &App, len: usize, height: usize, follow_allowed: bool, out: &mut Layout) -> usize {
    let max = len.saturating_sub(height);
    out.pane_len = len;
    out.pane_height = height;
    if app.follow && follow_allowed {
        max
    } else {
        app.scroll.min(max)
    }
}

/// Shows `lines[top..top+height]` where `top` follows the app's scroll state (or the
/// search the app asked for), matches highlighted.
fn scrolled(app: &App, f: &mut Frame, area: Rect, lines: &[Line<'static>], out: &mut Layout) {
    let height = area.height as usize;
    let top = top(app, lines.len(), height, false, out);
    let top = seek(app, lines.len(), height, top, |i| text_of(&lines[i]), out);
    let visible: Vec<Line<'static>> = lines[top..(top + height).min(lines.len())]
        .iter()
        .map(|l| highlight(app, l.clone()))
        .collect();
    f.render_widget(Paragraph::new(visible).scroll((0, hscroll(app))), area);
}

/// Columns a pane is scrolled sideways: none while long lines wrap.
fn hscroll(app: &App) -> u16 {
    if app.wrap { 0 } else { app.hscroll }
}

/// The search query, lowercased, when there is one.
fn query(app: &App) -> Option<String> {
    app.search
        .as_deref()
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase)
}

/// Where a search the app asked for (`App::seek`) lands among `len` lines, `text(i)`
/// being line `i`'s: the first match at or after where it starts, else from the top.
/// Recorded in `out.found`; the first line to show (`top` when nothing was asked).
fn seek(
    app: &App,
    len: usize,
    height: usize,
    top: usize,
    text: impl Fn(usize) -> String,
    out: &mut Layout,
) -> usize {
    let (Some(from), Some(q)) = (app.seek, query(app)) else {
        return top;
    };
    let hits: Vec<usize> = (0..len)
        .filter(|i| text(*i).to_lowercase().contains(q.as_str()))
        .collect();
    // Forward: the first at or after `from`; back: the last before it; either wraps.
    let at = match app.seek_back {
        false => hits
            .iter()
            .position(|i| *i >= from)
            .or((!hits.is_empty()).then_some(0)),
        true => hits
            .iter()
            .rposition(|i| *i < from)
            .or(hits.len().checked_sub(1)),
    };
    out.found = at.map(|k| hits[k]);
    out.matches = at.map(|k| (k + 1, hits.len()));
    match out.found {
        Some(i) => i.min(len.saturating_sub(height)),
        None => top,
    }
}

/// `l`, marked when it holds the search query.
fn highlight(app: &App, l: Line<'static>) -> Line<'static> {
    match query(app) {
        Some(q) if text_of(&l).to_lowercase().contains(q.as_str()) => {
            l.style(Style::default().bg(Color::Rgb(70, 60, 0)))
        }
        _ => l,
    }
}

fn text_of(l: &Line<'_>) -> String {
    l.spans.iter().map(|s| s.content.as_ref()).collect()
}
