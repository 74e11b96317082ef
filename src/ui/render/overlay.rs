//! Overlays drawn over everything: help (generated from the keymap), confirmations and
//! the editor.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::keymap::Context;
use crate::ui::app::{App, Overlay};
use crate::ui::editor::{Editor, EditorKind};
use crate::ui::theme;

pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub(super) fn draw(app: &App, f: &mut Frame, area: Rect) {
    match app.overlay() {
        None => {}
        Some(Overlay::Help { scroll }) => help(app, *scroll, f, area),
        Some(Overlay::Activity { scroll }) => super::activity::draw(app, *scroll, f, area),
        Some(Overlay::BestOf { cursor }) => super::best_of::draw(app, *cursor, f, area),
        Some(Overlay::Confirm(c)) => {
            let yes = app
                .keymap
                .keys(Context::Confirm, crate::keymap::Action::Yes);
            let no = app.keymap.keys(Context::Confirm, crate::keymap::Action::No);
            let text = vec![
                Line::raw(crate::text::inert(&c.text)),
                Line::raw(""),
                Line::from(vec![
                    Span::styled(yes, theme::key_style()),
                    Span::raw(" yes   "),
                    Span::styled(no, theme::key_style()),
                    Span::raw(" no"),
                ]),
            ];
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(Color::Yellow))
                .title(" Confirm ");
            let p = Paragraph::new(text).wrap(Wrap { trim: true }).block(block);
            // As tall as the wrapped question, so the keys that answer it always show.
            let w = 60u16.min(area.width);
            let h = p.line_count(w.saturating_sub(2)).max(5);
            let r = centered(area, w, u16::try_from(h).unwrap_or(u16::MAX));
            f.render_widget(Clear, r);
            f.render_widget(p, r);
        }
        Some(Overlay::Editor(e)) => editor(app, e, f, area),
        Some(Overlay::QuitPolicy { running }) => quit_policy(app, *running, f, area),
    }
}

/// Asked once, the first time drover quits with tasks running.
fn quit_policy(app: &App, running: usize, f: &mut Frame, area: Rect) {
    use crate::keymap::Action;
    let r = centered(area, 64, 10);
    f.render_widget(Clear, r);
    let key = |a| app.keymap.keys(Context::Confirm, a);
    let tasks = if running == 1 {
        "1 task is".to_string()
    } else {
        format!("{running} tasks are")
    };
    let text = vec![
        Line::raw(format!("{tasks} running. What should quitting do?")),
        Line::raw(""),
        Line::from(vec![
            Span::styled(key(Action::StopTasks), theme::key_style()),
            Span::raw("  stop them: their containers stop, and you resume them later"),
        ]),
        Line::from(vec![
            Span::styled(key(Action::KeepTasks), theme::key_style()),
            Span::raw("  keep them running: drover reattaches when it starts again"),
        ]),
        Line::from(vec![
            Span::styled(key(Action::No), theme::key_style()),
            Span::raw("  don't quit"),
        ]),
        Line::raw(""),
        Line::styled(
            "drover remembers the answer; on_quit = \"stop\" or \"keep\" in config.toml changes it.",
            theme::dim(),
        ),
    ];
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Yellow))
        .title(" Quit ");
    f.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
        r,
    );
}

fn help(app: &App, scroll: usize, f: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    for (ctx, title) in [
        (Context::List, "Tasks"),
        (Context::Pane, "Pane"),
        (Context::Global, "Everywhere"),
        (Context::Editor, "Editor"),
    ] {
        lines.push(Line::styled(title, theme::bold()));
        let hints = app.keymap.hints(ctx);
        for pair in hints.chunks(2) {
            let mut spans = Vec::new();
            for (keys, label) in pair {
                spans.push(Span::styled(format!("  {keys:>10} "), theme::key_style()));
                spans.push(Span::raw(format!("{label:<22}")));
            }
            lines.push(Line::from(spans));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled(
        "Keys come from keymap.toml; override them in ~/.config/drover/keymap.toml.",
        theme::dim(),
    ));
    lines.extend(legend());
    let r = centered(area, 76, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    // On the frame, so it shows however the help is scrolled.
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Cyan))
        .title(" Help ")
        .title_bottom(Line::styled(
            " j/k scroll · any other key closes this help ",
            theme::dim(),
        ));
    // Taller than the screen: it scrolls (never past its end).
    let height = r.height.saturating_sub(2) as usize;
    let top = scroll.min(lines.len().saturating_sub(height));
    f.render_widget(Paragraph::new(lines[top..].to_vec()).block(block), r);
}

/// What each state's symbol in the list means.
fn legend() -> Vec<Line<'static>> {
    use crate::protocol::TaskState as S;
    let states = [
        S::Queued,
        S::Provisioning,
        S::Running,
        S::Verifying,
        S::Review,
        S::Approved,
        S::Blocked {
            reason: String::new(),
        },
        S::Pushed,
        S::Merged,
        S::Closed,
        S::Failed {
            reason: String::new(),
        },
        S::Cancelled,
        S::Interrupted {
            reason: String::new(),
            cause: Default::default(),
        },
    ];
    let mut lines = vec![Line::styled("States", theme::bold())];
    for pair in states.chunks(3) {
        let mut spans = Vec::new();
        for s in pair {
            spans.push(Span::styled(
                format!("  {:>3} ", theme::state_symbol(s)),
                Style::default().fg(theme::state_color(s)),
            ));
            spans.push(Span::raw(format!("{:<17}", s.name())));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(vec![
        Span::styled("    ⊘N ", Style::default().fg(Color::Red)),
        Span::raw("requests the network policy blocked   "),
        Span::styled("✓ ✗ ", Style::default().fg(Color::Green)),
        Span::raw("tests"),
    ]));
    lines.push(Line::raw(""));
    lines
}

fn editor(app: &App, e: &Editor, f: &mut Frame, area: Rect) {
    let (title, height) = match &e.kind {
        EditorKind::NewTask => (" New task ".to_string(), 20),
        EditorKind::Edit { id, .. } => (format!(" Edit queued task {id} "), 20),
        EditorKind::Issue => (" Import a GitHub issue ".to_string(), 16),
        EditorKind::Feedback { title, id } => {
            // A pushed task's retry is its pull request's follow-up.
            let pushed = app
                .tasks
                .iter()
                .any(|t| &t.task.id == id && t.task.state == crate::protocol::TaskState::Pushed);
            let (what, height) = match pushed {
                true => ("Follow up (same workspace, same pull request)", 18),
                false => ("Retry with feedback", 14),
            };
            (format!(" {what}: {} ", crate::text::inert(title)), height)
        }
        EditorKind::Comment { place, .. } => (
            format!(
                " Comment on {}:{} ",
                crate::text::inert(&place.path),
                place.line
            ),
            9,
        ),
    };
    let r = centered(area, 90.min(area.width.saturating_sub(4)).max(20), height);
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Cyan))
        .title(title);
    let inner = block.inner(r);
    f.render_widget(block, r);
    let submit = app
        .keymap
        .keys(Context::Editor, crate::keymap::Action::Submit);
    let cancel = app
        .keymap
        .keys(Context::Editor, crate::keymap::Action::Cancel);
    let footer = match &e.error {
        Some(err) => Line::styled(crate::text::inert(err), Style::default().fg(Color::Red)),
        None => Line::from(vec![
            Span::styled(submit, theme::key_style()),
            Span::raw(match e.kind {
                EditorKind::Feedback { .. } => " send  ",
                EditorKind::Comment { .. } => " keep  ",
                EditorKind::Edit { .. } => " save  ",
                _ => " queue  ",
            }),
            Span::styled("tab", theme::key_style()),
            Span::raw(" next field  "),
            Span::styled(cancel, theme::key_style()),
            Span::raw(" cancel"),
        ]),
    };
    let field_block = |name: &str, focused: bool| {
        Block::default()
            .borders(Borders::ALL)
            .border_style(theme::border(focused))
            .title(format!(" {name} "))
    };
    match e.kind {
        EditorKind::NewTask | EditorKind::Issue | EditorKind::Edit { .. } => {
            let [t, p, s, foot] = Layout::vertical([
                Constraint::Length(3),
                Constraint::Min(3),
                Constraint::Length(3),
                Constraint::Length(1),
            ])
            .areas(inner);
            let mut title = e.title.clone();
            let (first, second) = match e.kind {
                EditorKind::Issue => ("Issue", "Notes"),
                _ => ("Title", "Prompt"),
            };
            title.set_block(field_block(first, e.focus == 0));
            let mut prompt = e.prompt.clone();
            prompt.set_block(field_block(second, e.focus == 1));
            let mut script = e.script.clone();
            script.set_block(field_block("Agent", e.focus == 2));
            f.render_widget(&title, t);
            f.render_widget(&prompt, p);
            f.render_widget(&script, s);
            f.render_widget(Paragraph::new(footer), foot);
        }
        EditorKind::Feedback { .. } => {
            let [p, foot] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(inner);
            let mut prompt = e.prompt.clone();
            prompt.set_block(field_block("Feedback", true));
            f.render_widget(&prompt, p);
            f.render_widget(Paragraph::new(footer), foot);
        }
        EditorKind::Comment { ref place, .. } => {
            let [quote, p, foot] = Layout::vertical([
                Constraint::Length(1),
                Constraint::Min(3),
                Constraint::Length(1),
            ])
            .areas(inner);
            f.render_widget(
                Paragraph::new(Line::styled(crate::text::inert(&place.text), theme::dim())),
                quote,
            );
            let mut prompt = e.prompt.clone();
            prompt.set_block(field_block("Comment", true));
            f.render_widget(&prompt, p);
            f.render_widget(Paragraph::new(footer), foot);
        }
    }
}
