//! The activity log overlay: what happened, newest at the bottom, each with its time
//! (today's as a clock, older ones with their date), errors in red.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::util::wrap;
use crate::ui::app::App;
use crate::ui::theme;

pub(super) fn draw(app: &App, scroll: usize, f: &mut Frame, area: Rect) {
    let w = area.width.saturating_sub(4).clamp(20, 120);
    let h = area.height.saturating_sub(2).max(5);
    let r = super::overlay::centered(area, w, h);
    f.render_widget(Clear, r);
    let n = app.activity.len();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::default().fg(Color::Cyan))
        .title(format!(" Activity ({n}) "))
        .title_bottom(Line::styled(
            " j/k scroll · any other key closes ",
            theme::dim(),
        ));
    let inner = block.inner(r);
    f.render_widget(block, r);
    if app.activity.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "Nothing yet: approvals, pushes, pull requests, failures and notices show here.",
                theme::dim(),
            )),
            inner,
        );
        return;
    }
    let today = app.now.date();
    let text_w = (inner.width as usize).saturating_sub(11).max(10);
    let mut lines: Vec<Line<'static>> = Vec::new();
    for a in app.activity.items() {
        let stamp = match a.at.date() == today {
            true => format!(
                "{:02}:{:02}:{:02}",
                a.at.hour(),
                a.at.minute(),
                a.at.second()
            ),
            false => format!("{:02}-{:02}", u8::from(a.at.month()), a.at.day()),
        };
        let style = match a.error {
            true => Style::default().fg(Color::Red),
            false => Style::default(),
        };
        for (i, l) in wrap(&crate::text::inert(&a.text), text_w)
            .into_iter()
            .enumerate()
        {
            let lead = if i == 0 {
                format!("{stamp:>8}  ")
            } else {
                " ".repeat(10)
            };
            lines.push(Line::from(vec![
                Span::styled(lead, theme::dim()),
                Span::styled(l, style),
            ]));
        }
    }
    // `scroll` counts up from the newest line.
    let height = inner.height as usize;
    let bottom = lines
        .len()
        .saturating_sub(scroll.min(lines.len().saturating_sub(height)));
    let top = bottom.saturating_sub(height);
    f.render_widget(Paragraph::new(lines[top..bottom].to_vec()), inner);
}
