//! The Tests pane: the verdict, the command, what the tests could see that the diff does
//! not show (ignored files, with sizes), then the output with colours kept.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::util::ansi_lines;
use crate::protocol::TaskState;
use crate::ui::app::App;
use crate::ui::model::TaskView;
use crate::ui::theme;

pub(super) fn draw(app: &App, task: &TaskView, f: &mut Frame, area: Rect, out: &mut super::Layout) {
    let ignored = task
        .attempt
        .diff
        .as_ref()
        .and_then(|d| super::util::ignored_summary(d, 6));
    let width = area.width.saturating_sub(2).max(10) as usize;
    let note: Vec<String> = task
        .attempt
        .tests
        .as_ref()
        .and_then(|r| r.note.as_deref())
        .map(|n| super::util::wrap(&crate::text::inert(n), width))
        .unwrap_or_default()
        .into_iter()
        .take(3)
        .collect();
    let rows = 2 + note.len() as u16 + u16::from(ignored.is_some());
    let [head, body] = Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(area);
    let header = match (&task.attempt.tests, &task.test_command) {
        (Some(r), _) => {
            let (mark, color) = theme::verdict_mark(r.verdict);
            let mut spans = vec![Span::styled(
                format!("{mark} {}", r.counted()),
                Style::default().fg(color).add_modifier(Modifier::BOLD),
            )];
            if let Some(code) = r.exit_code {
                spans.push(Span::styled(
                    format!("  exit {code} · {:.1}s", r.duration_ms as f64 / 1000.0),
                    theme::dim(),
                ));
            }
            Line::from(spans)
        }
        (None, Some(_)) if task.task.state == TaskState::Verifying => Line::styled(
            "running…",
            Style::default().fg(ratatui::style::Color::Magenta),
        ),
        _ => Line::styled(
            "not verified yet: tests run when the agent finishes",
            theme::dim(),
        ),
    };
    let command = task.test_command.as_deref().or(task
        .attempt
        .tests
        .as_ref()
        .and_then(|r| r.command.as_deref()));
    let cmd_line = Line::from(vec![
        Span::styled("$ ", theme::dim()),
        Span::raw(crate::text::inert(command.unwrap_or("(no test command)"))),
    ]);
    let note_style = Style::default().fg(ratatui::style::Color::Yellow);
    let mut lines = vec![header];
    lines.extend(note.into_iter().map(|l| Line::styled(l, note_style)));
    lines.push(cmd_line);
    if let Some(i) = ignored {
        // Files the tests ran with that approval would not commit: a planted module, say.
        lines.push(Line::from(vec![
            Span::styled("not in the diff (ignored): ", theme::dim()),
            Span::styled(
                crate::text::inert(&i),
                Style::default().fg(ratatui::style::Color::Yellow),
            ),
        ]));
    }
    f.render_widget(Paragraph::new(lines), head);
    let mut lines = ansi_lines(&task.test_output);
    if app.wrap {
        let w = body.width as usize;
        lines = lines
            .into_iter()
            .flat_map(|l| super::util::wrap_line(l, w))
            .collect();
    }
    super::scrolled(app, f, body, &lines, out);
}
