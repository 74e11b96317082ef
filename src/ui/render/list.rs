//! The task list: state symbol and colour, repository (when showing all), title, elapsed
//! time, attempt, diff stat, verdict, badges.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::util::{duration, elapsed};
use crate::protocol::TaskState;
use crate::ui::app::{App, Focus};
use crate::ui::model::TaskView;
use crate::ui::theme;

pub(super) fn draw(app: &App, f: &mut Frame, area: Rect, out: &mut super::Layout) {
    let visible = app.visible();
    // What narrows or orders the list, and what is marked, in its title.
    let mut title = match app.filter.is_empty() && app.state_filter == Default::default() {
        true => format!(" Tasks ({}) ", visible.len()),
        false => format!(" Tasks ({} of {}) ", visible.len(), app.tasks.len()),
    };
    if app.state_filter != Default::default() {
        title.push_str(&format!("{} ", app.state_filter.name()));
    }
    if !app.filter.is_empty() {
        title.push_str(&format!("/{} ", crate::text::inert(&app.filter)));
    }
    if app.sort != Default::default() {
        title.push_str(&format!("· {} ", app.sort.name()));
    }
    let marked = app.marked_tasks().len();
    if marked > 0 {
        title.push_str(&format!("· {marked} marked "));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme::border(app.focus == Focus::List))
        .title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    out.list = area;
    if visible.is_empty() {
        let msg = if app.tasks.is_empty() {
            let key = app
                .keymap
                .keys(crate::keymap::Context::List, crate::keymap::Action::NewTask);
            format!(
                "No tasks yet.\n\nPress {key} to queue one,\nor run `drover add` in\nanother terminal."
            )
        } else {
            "No task matches the filter.".to_string()
        };
        f.render_widget(Paragraph::new(msg).style(theme::dim()), inner);
        return;
    }
    let height = inner.height as usize;
    let sel = app
        .selected
        .as_ref()
        .and_then(|s| visible.iter().position(|t| &t.task.id == s))
        .unwrap_or(0);
    // Keep the selection in view.
    let offset = sel.saturating_sub(height.saturating_sub(1));
    out.list_offset = offset;
    // Showing every repository: which one each task is of, in a column of its own.
    // The title keeps at least two thirds of what the right-hand columns leave.
    let repo_w = if app.header.all {
        let room = (inner.width as usize).saturating_sub(RIGHT_TYPICAL) / 3;
        let w = visible
            .iter()
            .map(|t| repo_name(t).width())
            .max()
            .unwrap_or(0)
            .min(REPO_MAX)
            .min(room);
        // Too narrow for a useful column: the Info pane still names the repository.
        if room < 4 { 0 } else { w }
    } else {
        0
    };
    let lines: Vec<Line> = visible
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(i, t)| row(app, t, inner.width as usize, repo_w, i == sel))
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// The widest repository column.
const REPO_MAX: usize = 12;
/// What the columns right of the title usually take (clock, attempt, diff stat, verdict).
const RIGHT_TYPICAL: usize = 30;

/// A repository as the list names it: its directory's name.
fn repo_name(t: &TaskView) -> String {
    let name = t.task.repo.file_name().map_or_else(
        || t.task.repo.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    crate::text::inert(&name)
}

fn row(app: &App, t: &TaskView, width: usize, repo_w: usize, selected: bool) -> Line<'static> {
    let st = &t.task.state;
    let color = theme::state_color(st);
    let mut right: Vec<Span<'static>> = Vec::new();
    if t.conflicted() {
        // Merging it with another task in review would conflict: that outranks "review".
        right.push(Span::styled(
            "conflict ",
            Style::default().fg(Color::White).bg(Color::Red),
        ));
        right.push(Span::raw(" "));
    } else if *st == TaskState::Review {
        right.push(Span::styled(
            "review ",
            Style::default().fg(Color::Black).bg(Color::Green),
        ));
        right.push(Span::raw(" "));
    }
    if let Some(s) = &t.attempt.pr_status {
        right.extend(super::pull::badges(s));
    }
    // Best-of-N: its rank among the task's attempts side by side (· until it rests).
    if let Some(g) = &t.task.group {
        let (rank, style) = match app.group_rank(t) {
            Some(1) => ("1".to_string(), Style::default().fg(Color::Green)),
            Some(r) => (r.to_string(), theme::dim()),
            None => ("·".to_string(), theme::dim()),
        };
        right.push(Span::styled(format!("{rank}/{} ", g.of), style));
    }
    if t.attempt.blocked_count > 0 {
        // Requests the egress policy refused: worth a look before trusting the result.
        right.push(Span::styled(
            format!("⊘{} ", t.attempt.blocked_count),
            Style::default().fg(Color::Red),
        ));
    }
    // Once there is a pull request to watch, what it was spent on matters less.
    if let Some(u) = t
        .attempt
        .usage
        .as_ref()
        .filter(|_| t.attempt.pr_status.is_none())
    {
        let spent = match u.cost_usd {
            Some(c) => format!("${c:.2} "),
            None => format!(
                "{}k ",
                u.input_tokens
                    .saturating_add(u.output_tokens)
                    .div_ceil(1000)
            ),
        };
        right.push(Span::styled(spent, theme::dim()));
    }
    let clock = elapsed(
        t.attempt.started_at.as_deref(),
        t.attempt.finished_at.as_deref(),
        app.now,
    )
    .map(duration)
    .unwrap_or_default();
    // Running rows turn a spinner, a frame a second: alive at a glance.
    let spin = match st.is_active() {
        true => {
            const FRAMES: [char; 4] = ['◴', '◷', '◶', '◵'];
            FRAMES[(app.now.unix_timestamp().rem_euclid(4)) as usize]
        }
        false => ' ',
    };
    right.push(Span::styled(format!("{spin}{clock:>6} "), theme::dim()));
    right.push(Span::styled(format!("#{} ", t.task.attempt), theme::dim()));
    // Fixed-width columns, so titles and marks line up across rows.
    let (plus, minus) = match &t.attempt.diff {
        Some(d) => (format!("+{}", d.insertions), format!("−{}", d.deletions)),
        None => (String::new(), String::new()),
    };
    let pad = 8usize.saturating_sub(plus.width() + minus.width());
    right.push(Span::raw(" ".repeat(pad)));
    right.push(Span::styled(plus, Style::default().fg(Color::Green)));
    right.push(Span::styled(minus, Style::default().fg(Color::Red)));
    right.push(Span::raw(" "));
    if let Some(r) = &t.attempt.tests {
        let (mark, c) = theme::verdict_mark(r.verdict);
        // Failures that were all there on the base commit already: yellow, not red.
        let c = match &r.new_failures {
            Some(new) if new.is_empty() && r.verdict == crate::protocol::Verdict::Failed => {
                Color::Yellow
            }
            _ => c,
        };
        right.push(Span::styled(mark.to_string(), Style::default().fg(c)));
    } else {
        right.push(Span::raw(" "));
    }
    let repo = if repo_w > 0 {
        let name = repo_name(t);
        let name = if name.width() > repo_w {
            crate::text::ellipsize_width(&name, repo_w)
        } else {
            name
        };
        let pad = (repo_w + 1).saturating_sub(name.width());
        format!("{name}{}", " ".repeat(pad))
    } else {
        String::new()
    };
    let right_w: usize = right.iter().map(|s| s.content.width()).sum::<usize>() + repo.width();
    let left_w = width.saturating_sub(right_w + 3);
    let title = crate::text::inert(&t.task.title);
    let title = if title.width() > left_w {
        format!(
            "{}…",
            crate::text::ellipsize_width(&title, left_w).trim_end_matches('…')
        )
    } else {
        title
    };
    // Why it stopped, where there is room after the title.
    let room = left_w.saturating_sub(title.width());
    let why = match st.reason() {
        Some(r) if room > 8 => crate::text::ellipsize_width(
            &format!(" · {}", crate::text::inert(r.lines().next().unwrap_or(""))),
            room,
        ),
        _ => String::new(),
    };
    let pad = width.saturating_sub(2 + title.width() + why.width() + right_w);
    let mut spans = vec![
        Span::styled(
            format!(
                "{}{}",
                theme::state_symbol(st),
                if app.marked.contains(&t.task.id) {
                    "+"
                } else {
                    " "
                }
            ),
            Style::default().fg(color),
        ),
        Span::styled(repo, theme::dim()),
        Span::raw(title),
        Span::styled(why, Style::default().fg(color)),
        Span::raw(" ".repeat(pad)),
    ];
    spans.extend(right);
    let line = Line::from(spans);
    if selected {
        line.style(theme::selected())
    } else if app.marked.contains(&t.task.id) {
        // Marked for a batch: a band of its own colour.
        line.style(Style::default().bg(Color::Rgb(40, 40, 90)))
    } else {
        line
    }
}
