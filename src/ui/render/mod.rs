//! Drawing the app: header, task list, the selected task's pane, footer, overlays.
//!
//! Pure functions of `App` (plus caches of derived lines keyed by task version), so every
//! screen can be snapshot-tested on a `TestBackend`. Sizes down to 20×5 degrade instead of
//! panicking: panes are dropped before the list, the list before the header.

mod diff;
mod info;
mod list;
mod overlay;
mod tests_pane;
pub mod transcript;
mod util;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::app::{App, Focus, Pane};
use super::model::counts;
use super::theme;

pub use util::ansi_lines;

pub fn draw(app: &App, f: &mut Frame) {
    let area = f.area();
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(app, f, header);
    draw_footer(app, f, footer);
    if body.height >= 3 {
        // Wide: list and pane side by side. Narrow: whichever has focus.
        if body.width >= 80 {
            // Every repository's tasks: room for the repository column too.
            let list_w = if app.header.all {
                (body.width * 45 / 100).clamp(30, 72)
            } else {
                (body.width * 36 / 100).clamp(30, 56)
            };
            let [l, p] =
                Layout::horizontal([Constraint::Length(list_w), Constraint::Min(0)]).areas(body);
            list::draw(app, f, l);
            draw_pane(app, f, p);
        } else if app.focus == Focus::Pane {
            app.geometry.list.set(Rect::default());
            draw_pane(app, f, body);
        } else {
            app.geometry.pane.set(Rect::default());
            list::draw(app, f, body);
        }
    }
    overlay::draw(app, f, area);
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
    for (n, label, color) in [
        (c.queued, "queued", Color::Gray),
        (c.running, "running", Color::Cyan),
        (c.review, "review", Color::Green),
        (c.failed, "failed", Color::Red),
    ] {
        let style = if n > 0 {
            Style::default().fg(color)
        } else {
            theme::dim()
        };
        spans.push(Span::styled(format!("{n} {label}  "), style));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_footer(app: &App, f: &mut Frame, area: Rect) {
    let line = if let Some(q) = &app.searching {
        Line::from(vec![
            Span::styled("search: ", theme::key_style()),
            Span::raw(q.clone()),
            Span::styled("▏", theme::dim()),
        ])
    } else if app.filtering {
        Line::from(vec![
            Span::styled("filter: ", theme::key_style()),
            Span::raw(app.filter.clone()),
            Span::styled("▏  enter keep · esc clear", theme::dim()),
        ])
    } else if let Some(s) = &app.status {
        let style = if s.error {
            Style::default().fg(Color::Red)
        } else {
            Style::default().fg(Color::Yellow)
        };
        Line::from(Span::styled(crate::text::inert(&s.text), style))
    } else {
        // Help and quit first: the line is cut at the terminal's edge.
        let mut hints = app.keymap.hints(crate::keymap::Context::Global);
        // Trusting is offered only when the repository's config asks for it.
        let trust = crate::keymap::Action::Trust.label();
        hints.extend(
            app.keymap
                .hints(app.context())
                .into_iter()
                .filter(|(_, label)| !app.untrusted.is_empty() || *label != trust),
        );
        let mut spans = Vec::new();
        for (keys, label) in hints {
            spans.push(Span::styled(keys, theme::key_style()));
            spans.push(Span::styled(format!(" {label}  "), theme::dim()));
        }
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(line), area);
}

fn draw_pane(app: &App, f: &mut Frame, area: Rect) {
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
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::border(focused))
        .title(Line::from(tabs));
    let inner = block.inner(area);
    f.render_widget(block, area);
    app.geometry.pane.set(area);
    let Some(task) = app.selected_task() else {
        app.geometry.pane_len.set(0);
        let hint = format!(
            "No task yet. Press {} to queue one.",
            app.keymap
                .keys(crate::keymap::Context::List, crate::keymap::Action::NewTask)
        );
        f.render_widget(Paragraph::new(Span::styled(hint, theme::dim())), inner);
        return;
    };
    match app.pane {
        Pane::Transcript => transcript::draw(app, task, f, inner),
        Pane::Diff => diff::draw(app, task, f, inner),
        Pane::Tests => tests_pane::draw(app, task, f, inner),
        Pane::Info => info::draw(app, task, f, inner),
    }
}

/// Shows `lines[top..top+height]` where `top` follows the app's scroll state, and
/// records the geometry for paging. Cost is proportional to the viewport.
fn scrolled(app: &App, f: &mut Frame, area: Rect, lines: &[Line<'static>], follow_allowed: bool) {
    let height = area.height as usize;
    let max = lines.len().saturating_sub(height);
    let top = if app.follow && follow_allowed {
        max
    } else {
        app.scroll.min(max)
    };
    app.geometry.pane_len.set(lines.len());
    app.geometry.pane_height.set(height);
    let visible: Vec<Line<'static>> = lines[top..(top + height).min(lines.len())].to_vec();
    f.render_widget(Paragraph::new(visible), area);
}
