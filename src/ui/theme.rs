//! How states and verdicts look: one symbol and one colour each, used everywhere.

use ratatui::style::{Color, Modifier, Style};

use crate::protocol::TaskState;
use crate::protocol::Verdict;

pub fn state_symbol(s: &TaskState) -> &'static str {
    match s {
        TaskState::Queued => "◌",
        TaskState::Provisioning => "◐",
        TaskState::Running => "●",
        TaskState::Verifying => "◑",
        TaskState::Review => "◆",
        TaskState::Approved => "✔",
        TaskState::Blocked { .. } => "⊗",
        TaskState::Pushed => "⇡",
        TaskState::Merged => "⛙",
        TaskState::Closed => "⊖",
        TaskState::Failed { .. } => "✗",
        TaskState::Cancelled => "⊘",
        TaskState::Interrupted { .. } => "!",
        TaskState::Discarded => "·",
    }
}

pub fn state_color(s: &TaskState) -> Color {
    match s {
        TaskState::Queued => Color::Gray,
        TaskState::Provisioning => Color::Yellow,
        TaskState::Running => Color::Cyan,
        TaskState::Verifying => Color::Magenta,
        TaskState::Review => Color::Green,
        TaskState::Approved | TaskState::Pushed => Color::LightGreen,
        TaskState::Blocked { .. } => Color::Yellow,
        TaskState::Failed { .. } => Color::Red,
        TaskState::Merged => Color::Magenta,
        TaskState::Cancelled | TaskState::Closed | TaskState::Discarded => Color::DarkGray,
        TaskState::Interrupted { .. } => Color::LightRed,
    }
}

pub fn verdict_mark(v: Verdict) -> (&'static str, Color) {
    match v {
        Verdict::Passed => ("✓", Color::Green),
        Verdict::Failed => ("✗", Color::Red),
        Verdict::NoTests => ("–", Color::Yellow),
        Verdict::Error => ("!", Color::LightRed),
        Verdict::Stale => ("≠", Color::Yellow),
    }
}

pub fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}

pub fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

pub fn key_style() -> Style {
    Style::default()
        .fg(Color::Cyan)
        .add_modifier(Modifier::BOLD)
}

pub fn selected() -> Style {
    Style::default()
        .bg(Color::Rgb(40, 44, 52))
        .add_modifier(Modifier::BOLD)
}

pub fn border(focused: bool) -> Style {
    if focused {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default().fg(Color::DarkGray)
    }
}
