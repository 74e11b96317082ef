//! The Tests pane: the verdict, the command, then its output with colours kept.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::util::ansi_lines;
use crate::engine::state::TaskState;
use crate::ui::app::App;
use crate::ui::model::TaskView;
use crate::ui::theme;

pub fn draw(app: &App, task: &TaskView, f: &mut Frame, area: Rect) {
    let [head, body] = Layout::vertical([Constraint::Length(2), Constraint::Min(0)]).areas(area);
    let header = match (&task.attempt.tests, &task.test_command) {
        (Some(r), _) => {
            let (mark, color) = theme::verdict_mark(r.verdict);
            let mut spans = vec![Span::styled(
                format!("{mark} {}", r.summary()),
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
    f.render_widget(Paragraph::new(vec![header, cmd_line]), head);
    let lines = ansi_lines(&task.test_output);
    super::scrolled(app, f, body, &lines, false);
}
