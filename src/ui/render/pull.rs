//! A pull request as the TUI shows it: the list row's badges (CI passing, failing or
//! pending, changes requested, review comments waiting) and the Info pane's rows (its
//! state, each failing check with its summary and annotations, the review decision, the
//! comments waiting with their `file:line`). Everything GitHub said is made inert.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

use crate::protocol::{CiVerdict, PrState, PrStatus, ReviewDecision};
use crate::ui::theme;

/// Badges for a list row: `CI✗`, `CI✓`, `CI…`, `changes`, `✎2`.
pub(super) fn badges(s: &PrStatus) -> Vec<Span<'static>> {
    let mut out = Vec::new();
    if matches!(s.state, PrState::Merged | PrState::Closed) {
        return out;
    }
    match s.checks.verdict() {
        Some(CiVerdict::Failing) => {
            out.push(Span::styled("CI✗ ", Style::default().fg(Color::Red)));
        }
        Some(CiVerdict::Pending) => {
            out.push(Span::styled("CI… ", Style::default().fg(Color::Yellow)));
        }
        Some(CiVerdict::Passing) => {
            out.push(Span::styled("CI✓ ", Style::default().fg(Color::Green)));
        }
        None => {}
    }
    if s.review == Some(ReviewDecision::ChangesRequested) {
        out.push(Span::styled(
            "changes ",
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    let waiting = s.waiting().len();
    if waiting > 0 {
        out.push(Span::styled(
            format!("✎{waiting} "),
            Style::default().fg(Color::Yellow),
        ));
    }
    out
}

/// The Info pane's rows for the pull request, each `(key, text, style)`.
pub(super) fn rows(s: &PrStatus, follow_up: &str) -> Vec<(String, String, Style)> {
    let dim = theme::dim();
    let warn = Style::default().fg(Color::Yellow);
    let bad = Style::default().fg(Color::Red);
    let mut out = Vec::new();
    let state = match s.state {
        PrState::Merged => ("merged".to_string(), Style::default().fg(Color::Magenta)),
        PrState::Closed => ("closed without merging".to_string(), dim),
        st => (st.label().to_string(), Style::default()),
    };
    out.push(("PR state".into(), state.0, state.1));
    let c = &s.checks;
    if let Some(v) = c.verdict() {
        let mut parts = Vec::new();
        if c.failed > 0 {
            parts.push(format!("{} failing", c.failed));
        }
        if c.pending > 0 {
            parts.push(format!("{} pending", c.pending));
        }
        parts.push(format!("{} passed", c.passed));
        let style = match v {
            CiVerdict::Failing => bad,
            CiVerdict::Pending => warn,
            CiVerdict::Passing => Style::default().fg(Color::Green),
        };
        out.push(("checks".into(), parts.join(", "), style));
    }
    for f in &c.failures {
        let said = match f.summary.trim() {
            "" => String::new(),
            s => format!(": {}", s.lines().next().unwrap_or("")),
        };
        out.push((
            String::new(),
            format!("✗ {} ({}){said}", f.name, f.conclusion),
            bad,
        ));
        for a in &f.annotations {
            out.push((
                String::new(),
                format!("  {}:{} {}", a.path, a.line, a.message),
                dim,
            ));
        }
    }
    match s.review {
        Some(ReviewDecision::ChangesRequested) => {
            out.push((
                "review".into(),
                format!("changes requested by {}", s.changes_requested_by.join(", ")),
                warn,
            ));
            for r in &s.requests {
                let first = r.body.lines().next().unwrap_or("");
                out.push((
                    String::new(),
                    format!("{}: {first}", r.author),
                    Style::default(),
                ));
            }
        }
        Some(ReviewDecision::Approved) => out.push((
            "review".into(),
            "approved".into(),
            Style::default().fg(Color::Green),
        )),
        Some(ReviewDecision::Commented) => {
            out.push(("review".into(), "commented".into(), Style::default()))
        }
        None => {}
    }
    let waiting = s.waiting();
    if !s.comments.is_empty() {
        let resolved = s.comments.len() - waiting.len();
        let text = match resolved {
            0 => format!("{} waiting", waiting.len()),
            r => format!("{} waiting, {r} resolved", waiting.len()),
        };
        out.push(("comments".into(), text, warn));
    }
    for cm in &waiting {
        let at = match cm.line {
            Some(l) => format!("{}:{l}", cm.path),
            None => cm.path.clone(),
        };
        let first = cm.body.lines().next().unwrap_or("");
        let (note, style) = match cm.member {
            true => ("", Style::default()),
            // A passer-by's words: shown, never sent to an agent unread.
            false => (" (not a member: left out of follow-ups)", dim),
        };
        out.push((
            String::new(),
            format!("{at} {}: {first}{note}", cm.author),
            style,
        ));
    }
    let asks = !waiting.is_empty() || c.verdict() == Some(CiVerdict::Failing);
    if asks && !matches!(s.state, PrState::Merged | PrState::Closed) {
        out.push((String::new(), follow_up.to_string(), dim));
    }
    out.into_iter()
        .map(|(k, v, st)| (k, crate::text::inert(&v), st))
        .collect()
}

/// `rows` as lines under the Info pane's 11-column keys.
pub(super) fn lines(s: &PrStatus, follow_up: &str) -> Vec<Line<'static>> {
    rows(s, follow_up)
        .into_iter()
        .map(|(k, v, st)| {
            Line::from(vec![
                Span::styled(format!("{k:<11}"), theme::dim()),
                Span::styled(v, st),
            ])
        })
        .collect()
}
