//! The best-of-N view: a task's attempts side by side in rank order (rank, id, agent,
//! state, test verdict and counts, new failures, diff stat, time, tokens, cost), the
//! selected task marked `▶`, the highlighted row the one `enter` and `=` act on.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::util::{duration, elapsed};
use crate::ui::app::App;
use crate::ui::theme;

pub(super) fn draw(app: &App, cursor: usize, f: &mut Frame, area: Rect) {
    let rows = app.best_of();
    let w = area.width.saturating_sub(4).clamp(40, 130);
    let h = (rows.len() as u16 + 4)
        .min(area.height.saturating_sub(2))
        .max(5);
    let r = super::overlay::centered(area, w, h);
    f.render_widget(Clear, r);
    let title = rows
        .first()
        .map(|(t, _)| crate::text::inert(&t.task.title))
        .unwrap_or_default();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Cyan))
        .title(format!(" {} attempts side by side: {title} ", rows.len()))
        .title_bottom(Line::styled(
            " j/k move · enter selects · = diffs the selected one against it · any other key closes ",
            theme::dim(),
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    let head = format!(
        "  {:<5}{:<12}{:<22}{:<12}{:<30}{:<14}{:>8}{:>9}{:>8}",
        "rank", "task", "agent", "state", "tests", "diff", "time", "tokens", "cost"
    );
    let mut lines = vec![Line::styled(head, theme::dim())];
    for (i, (t, rank)) in rows.iter().enumerate() {
        let a = &t.attempt;
        let rank_s = rank.map_or("–".to_string(), |r| format!("#{r}"));
        let tests = a.tests.as_ref().map_or("not run".to_string(), |r| {
            let new = match r.new_failures.as_ref() {
                Some(n) if r.failed.unwrap_or(0) > 0 => format!(" ({} new)", n.len()),
                _ => String::new(),
            };
            format!("{}{new}", r.counted())
        });
        let diff = a.diff.as_ref().map_or("—".to_string(), |d| {
            format!("{}f +{} −{}", d.files.len(), d.insertions, d.deletions)
        });
        let time = elapsed(a.started_at.as_deref(), a.finished_at.as_deref(), app.now)
            .map(duration)
            .unwrap_or_default();
        let (tokens, cost) = a
            .usage
            .as_ref()
            .map_or((String::new(), String::new()), |u| {
                (
                    format!("{}k", (u.input_tokens + u.output_tokens).div_ceil(1000)),
                    u.cost_usd.map_or(String::new(), |c| format!("${c:.2}")),
                )
            });
        let me = Some(&t.task.id) == app.selected.as_ref();
        let text = format!(
            "{}{:<5}{:<12}{:<22}{:<12}{:<30}{:<14}{:>8}{:>9}{:>8}",
            if me { "▶ " } else { "  " },
            rank_s,
            t.task.id.to_string(),
            crate::text::ellipsize(&t.task.agent.label(), 21),
            t.task.state.name(),
            crate::text::ellipsize(&crate::text::inert(&tests), 29),
            diff,
            time,
            tokens,
            cost,
        );
        let verdict_color = a
            .tests
            .as_ref()
            .map_or(Color::Gray, |r| theme::verdict_mark(r.verdict).1);
        let mut style = Style::default().fg(verdict_color);
        if *rank == Some(1) {
            style = style.add_modifier(Modifier::BOLD);
        }
        if i == cursor {
            style = style.bg(Color::DarkGray);
        }
        lines.push(Line::from(Span::styled(text, style)));
    }
    f.render_widget(Paragraph::new(lines), inner);
}
