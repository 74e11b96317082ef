//! Small rendering helpers: ANSI text to lines (made inert), word wrapping, durations.

use ansi_to_tui::IntoText;
use ratatui::text::{Line, Span};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use unicode_width::UnicodeWidthStr;

/// Colours from ANSI SGR codes kept; every other control sequence and character made
/// inert, so agent output can never drive the terminal.
pub fn ansi_lines(text: &str) -> Vec<Line<'static>> {
    let parsed = match text.into_text() {
        Ok(t) => t.lines,
        Err(_) => text.lines().map(|l| Line::raw(l.to_string())).collect(),
    };
    parsed
        .into_iter()
        .map(|line| {
            let spans: Vec<Span<'static>> = line
                .spans
                .into_iter()
                .map(|s| {
                    Span::styled(
                        crate::text::inert(&s.content).replace('\t', "    "),
                        s.style,
                    )
                })
                .collect();
            Line::from(spans)
        })
        .collect()
}

/// Greedy word wrap to `width` columns (long words are cut).
pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    for para in text.lines() {
        let mut line = String::new();
        for word in para.split(' ') {
            let need = if line.is_empty() {
                word.width()
            } else {
                line.width() + 1 + word.width()
            };
            if need > width && !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
            while line.width() > width {
                let cut: String = line.chars().take(width).collect();
                line = line.chars().skip(width).collect();
                out.push(cut);
            }
        }
        out.push(line);
    }
    if out.is_empty() {
        out.push(String::new());
    }
    out
}

/// "12s", "3m05s", "1h02m".
pub(super) fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A stored timestamp as a person reads it, in UTC: "today 10:03:07 (3m05s ago)",
/// "yesterday 18:02", "Nov 20 14:00 (3 days ago)"; the text itself when it is not a
/// timestamp.
pub(super) fn humane(ts: &str, now: OffsetDateTime) -> String {
    let Ok(t) = OffsetDateTime::parse(ts, &Rfc3339) else {
        return ts.to_string();
    };
    let t = t.to_offset(time::UtcOffset::UTC);
    let ago = (now - t).whole_seconds();
    let days = (now.date() - t.date()).whole_days();
    let clock = format!("{:02}:{:02}", t.hour(), t.minute());
    match days {
        0 if ago >= 0 => format!("today {clock}:{:02} ({} ago)", t.second(), duration(ago)),
        1 => format!("yesterday {clock}"),
        2..=6 => format!("{} {} {clock} ({days} days ago)", t.month(), t.day()),
        _ => format!(
            "{}-{:02}-{:02} {clock}",
            t.year(),
            u8::from(t.month()),
            t.day()
        ),
    }
}

/// `line` cut into rows of at most `width` columns, styles kept (for a pane that wraps
/// long lines instead of cutting them at its edge).
pub(super) fn wrap_line(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    use unicode_width::UnicodeWidthChar;
    let width = width.max(8);
    if line.width() <= width {
        return vec![line];
    }
    // The line's own style (`Line::styled`) goes on every row it becomes.
    let style = line.style;
    let mut rows: Vec<Line<'static>> = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                rows.push(Line::from(std::mem::take(&mut row)).style(style));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, span.style));
        }
    }
    if !row.is_empty() {
        rows.push(Line::from(row).style(style));
    }
    rows
}

/// Seconds from `from` to `to` (or to `now` while running).
pub(super) fn elapsed(from: Option<&str>, to: Option<&str>, now: OffsetDateTime) -> Option<i64> {
    let parse = |s: &str| OffsetDateTime::parse(s, &Rfc3339).ok();
    let a = parse(from?)?;
    let b = to.and_then(parse).unwrap_or(now);
    Some((b - a).whole_seconds())
}

/// "build/ (12 files, 3.4 MiB), debug.log (10 B)": what the diff leaves out because an
/// ignore rule of the base commit (or drover's) matches, at most `max` named.
pub(super) fn ignored_summary(d: &crate::protocol::DiffSummary, max: usize) -> Option<String> {
    if d.ignored.is_empty() {
        return None;
    }
    let size = |b: u64| {
        if b < 1 << 10 {
            format!("{b} B")
        } else if b < 1 << 20 {
            format!("{:.1} KiB", b as f64 / 1024.0)
        } else {
            crate::paths::mib(b)
        }
    };
    let mut parts: Vec<String> = d
        .ignored
        .iter()
        .take(max)
        .map(|i| match i.dir {
            true => format!("{}/ ({} files, {})", i.path, i.files, size(i.bytes)),
            false => format!("{} ({})", i.path, size(i.bytes)),
        })
        .collect();
    if d.ignored.len() > max {
        parts.push(format!("{} more", d.ignored.len() - max));
    }
    Some(parts.join(", "))
}

/// "pipe: a fifo…; sub/.git: a .git entry…": what drover could not record, and why.
pub(super) fn unrecorded_summary(d: &crate::protocol::DiffSummary, max: usize) -> Option<String> {
    if d.unrecorded.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = d
        .unrecorded
        .iter()
        .take(max)
        .map(|u| format!("{}: {}", u.path, u.why))
        .collect();
    if d.unrecorded.len() > max {
        parts.push(format!("{} more", d.unrecorded.len() - max));
    }
    Some(parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_colours_survive_other_escapes_do_not() {
        let lines = ansi_lines("\x1b[31mred\x1b[0m plain \x1b]52;c;cHduZWQ=\x07 \x1b[2J\x07end");
        let text: String = lines[0]
            .spans
            .iter()
            .map(|s| s.content.to_string())
            .collect();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
        assert!(text.starts_with("red plain"), "{text:?}");
        assert_eq!(lines[0].spans[0].style.fg, Some(ratatui::style::Color::Red));
    }

    #[test]
    fn wrap_and_durations() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghijkl", 8), vec!["abcdefgh", "ijkl"]);
        assert_eq!(wrap("", 10), vec![""]);
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(3720), "1h02m");
        let now = time::macros::datetime!(2026-11-22 10:03:07 UTC);
        assert_eq!(
            humane("2026-11-22T10:00:02Z", now),
            "today 10:00:02 (3m05s ago)"
        );
        assert_eq!(humane("2026-11-21T18:02:00Z", now), "yesterday 18:02");
        assert_eq!(
            humane("2026-11-19T14:00:00Z", now),
            "November 19 14:00 (3 days ago)"
        );
        assert_eq!(humane("2026-10-01T08:00:00Z", now), "2026-10-01 08:00");
        assert_eq!(humane("—", now), "—");
    }
}
