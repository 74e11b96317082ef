//! The Tests pane: the verdict with its counts and what the base commit's run said
//! (which failures are new), the command, what the tests could see that the diff does
//! not show (ignored files, with sizes), then the output with colours kept.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::util::ansi_lines;
use crate::protocol::{BaseTests, TaskState, TestReport, Verdict};
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
                format!("{mark} {}", verdict_line(r, width / 2)),
                Style::default().fg(color).add_modifier(Modifier::BOLD),
            )];
            if let Some(b) = &r.base {
                spans.push(Span::styled(
                    format!(" · base: {}", base_brief(b)),
                    theme::dim(),
                ));
            }
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

/// "3 failed (1 new: test_x), 189 passed, 1 skipped": a failure's counts alone (the
/// mark says failed), the first new failures named within `room` characters; any other
/// verdict as `passed (6 passed, 0 failed)`.
fn verdict_line(r: &TestReport, room: usize) -> String {
    let counts = r.counts();
    let bare = r.verdict == Verdict::Failed && !counts.is_empty();
    let new = r.new_failures.as_deref().unwrap_or_default();
    let (Some(failed), false) = (r.failed.filter(|f| *f > 0), new.is_empty()) else {
        return match bare {
            true => counts,
            false => r.counted(),
        };
    };
    let mut named = String::new();
    for (i, name) in new.iter().enumerate() {
        let name = crate::text::inert(name);
        if i > 0 && named.chars().count() + name.chars().count() > room {
            named.push_str(", …");
            break;
        }
        if i > 0 {
            named.push_str(", ");
        }
        named.push_str(&crate::text::ellipsize(&name, room.max(12)));
    }
    let rest = counts
        .split_once(", ")
        .map_or(String::new(), |(_, rest)| format!(", {rest}"));
    let label = match bare {
        true => String::new(),
        false => format!("{}: ", r.verdict.label()),
    };
    format!("{label}{failed} failed ({} new: {named}){rest}", new.len())
}

/// "2 failed", "passed", "error": the base commit's run in a word or two.
fn base_brief(b: &BaseTests) -> String {
    match (b.verdict, b.failed) {
        (Verdict::Failed, Some(f)) if f > 0 => format!("{f} failed"),
        (v, _) => v.label().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(new: Option<&[&str]>) -> TestReport {
        let out = "FAIL: test_x (t.T.test_x)\nFAIL: test_y (t.T.test_y)\nERROR: test_z (t.T.test_z)\n\
                   Ran 193 tests in 1s\n\nFAILED (failures=2, errors=1, skipped=1)\n";
        let mut r = TestReport::judge("t", 1, false, out, 5);
        r.new_failures = new.map(|n| n.iter().map(|s| s.to_string()).collect());
        r
    }

    #[test]
    fn the_header_names_new_failures_within_its_room() {
        assert_eq!(
            verdict_line(&failing(None), 40),
            "3 failed, 189 passed, 1 skipped"
        );
        assert_eq!(
            verdict_line(&failing(Some(&[])), 40),
            "3 failed (none new), 189 passed, 1 skipped"
        );
        assert_eq!(
            verdict_line(&failing(Some(&["t.T.test_x"])), 40),
            "3 failed (1 new: t.T.test_x), 189 passed, 1 skipped"
        );
        assert_eq!(
            verdict_line(
                &failing(Some(&["t.T.test_x", "t.T.test_y", "t.T.test_z"])),
                20
            ),
            "3 failed (3 new: t.T.test_x, t.T.test_y, …), 189 passed, 1 skipped"
        );
        // A passing run reads as it always did; another verdict says its name.
        let ok = TestReport::judge("t", 0, false, "Ran 6 tests in 0s\n\nOK\n", 5);
        assert_eq!(verdict_line(&ok, 40), "passed (6 passed, 0 failed)");
        let mut stale = failing(Some(&["t.T.test_x"]));
        stale.verdict = Verdict::Stale;
        assert!(verdict_line(&stale, 40).starts_with("stale: 3 failed (1 new: t.T.test_x)"));
    }

    #[test]
    fn the_base_in_a_word_or_two() {
        let base = |verdict, failed| BaseTests {
            verdict,
            passed: Some(3),
            failed: Some(failed),
            skipped: None,
            note: None,
        };
        assert_eq!(base_brief(&base(Verdict::Failed, 2)), "2 failed");
        assert_eq!(base_brief(&base(Verdict::Passed, 0)), "passed");
        assert_eq!(base_brief(&base(Verdict::Error, 0)), "error");
    }
}
