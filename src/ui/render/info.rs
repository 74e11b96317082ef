//! The Info pane: where the task lives and what it runs with.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

use super::util::{duration, elapsed, humane};
use crate::ui::app::App;
use crate::ui::model::TaskView;
use crate::ui::theme;

pub(super) fn draw(app: &App, task: &TaskView, f: &mut Frame, area: Rect, out: &mut super::Layout) {
    let t = &task.task;
    let a = &task.attempt;
    let row = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<11}"), theme::dim()),
            Span::raw(crate::text::inert(&v)),
        ])
    };
    let mut lines = vec![
        Line::from(vec![Span::styled(
            crate::text::inert(&t.title),
            theme::bold(),
        )]),
        Line::raw(""),
        Line::from(vec![
            Span::styled(format!("{:<11}", "state"), theme::dim()),
            Span::styled(
                t.state.to_string(),
                Style::default().fg(theme::state_color(&t.state)),
            ),
        ]),
        // Facts, checked by drover, before anything the agent claims (GIT-11).
        row(
            "changes",
            match &a.diff {
                Some(d) if d.files.is_empty() => "none: the workspace matches the base".into(),
                Some(d) => d.stat_line(),
                None => "—".into(),
            },
        ),
        row(
            "tests",
            a.tests.as_ref().map_or("not run".into(), |r| r.summary()),
        ),
        row(
            "pushed",
            match t.state {
                crate::protocol::TaskState::Pushed => format!("yes: {}", t.branch),
                crate::protocol::TaskState::Merged => format!("yes, and merged: {}", t.branch),
                crate::protocol::TaskState::Closed => {
                    format!("yes, its pull request closed: {}", t.branch)
                }
                _ => "no".into(),
            },
        ),
        row("id", t.id.to_string()),
        row("attempt", t.attempt.to_string()),
        row(
            "agent",
            match &a.model {
                Some(m) => format!("{} · {m}", t.agent.label()),
                None => t.agent.label(),
            },
        ),
        row("branch", t.branch.clone()),
        row(
            "base",
            format!(
                "{} ({})",
                &t.base_commit[..t.base_commit.len().min(12)],
                t.base_ref.as_deref().unwrap_or("detached")
            ),
        ),
        row("repo", t.repo.display().to_string()),
        row(
            "workspace",
            a.workspace
                .as_ref()
                .map_or("—".into(), |w| w.display().to_string()),
        ),
        row(
            "disk",
            a.workspace_bytes.map_or("—".into(), |b| {
                format!("{} (workspace)", crate::paths::mib(b))
            }),
        ),
        row(
            "container",
            a.container
                .as_deref()
                .map_or("—".into(), |c| crate::runtime::short_id(c).to_string()),
        ),
        row("image", a.image.clone().unwrap_or_else(|| "—".into())),
        row("network", a.network.clone().unwrap_or_else(|| "—".into())),
        row("limits", a.limits.clone().unwrap_or_else(|| "—".into())),
        row("created", humane(&t.created_at, app.now)),
        row(
            "started",
            a.started_at
                .as_deref()
                .map_or("—".into(), |s| humane(s, app.now)),
        ),
        row(
            "finished",
            a.finished_at
                .as_deref()
                .map_or("—".into(), |s| humane(s, app.now)),
        ),
    ];
    // Behind the egress proxy, what it refused (where nothing can leave, nothing to say).
    let proxied = matches!(a.network.as_deref(), Some("allowlist" | "open"));
    if proxied || a.blocked_count > 0 {
        let at = lines
            .iter()
            .position(|l| {
                l.spans
                    .first()
                    .is_some_and(|s| s.content.starts_with("limits"))
            })
            .map_or(lines.len(), |i| i + 1);
        lines.insert(at, row("blocked", blocked_text(a)));
    }
    if let Some(d) = &a.diff {
        let warn = |key: &str, text: String| {
            Line::from(vec![
                Span::styled(format!("{key:<11}"), theme::dim()),
                Span::styled(
                    crate::text::inert(&text),
                    Style::default().fg(Color::Yellow),
                ),
            ])
        };
        if let Some(i) = super::util::ignored_summary(d, 12) {
            lines.push(warn("ignored", format!("{i} (not in the diff)")));
        }
        if let Some(u) = super::util::unrecorded_summary(d, 12) {
            lines.push(warn("unrecorded", u));
        }
    }
    if let Some(s) = elapsed(a.started_at.as_deref(), a.finished_at.as_deref(), app.now) {
        lines.push(row("elapsed", duration(s)));
    }
    if let Some(o) = &t.origin {
        lines.push(row("issue", format!("{} {}", o.reference, o.url)));
        if !o.removed.is_empty() {
            lines.push(Line::from(vec![
                Span::styled(format!("{:<11}", "hidden"), theme::dim()),
                Span::styled(
                    format!("{} stripped", o.removed),
                    Style::default().fg(Color::Yellow),
                ),
            ]));
        }
    }
    for o in &task.overlaps {
        let who = format!("{} \"{}\"", o.id, crate::text::inert(&o.title));
        let (key, text, style) = match (&o.error, o.conflicts.is_empty()) {
            (Some(e), _) => (
                "overlaps",
                format!(
                    "{who} also changes {}; cannot merge-check: {e}",
                    o.files.join(", ")
                ),
                Style::default().fg(Color::Yellow),
            ),
            (None, false) => (
                "conflicts",
                format!("with {who} in {}", o.conflicts.join(", ")),
                Style::default().fg(Color::Red),
            ),
            (None, true) => (
                "overlaps",
                format!("{who} also changes {} (merges cleanly)", o.files.join(", ")),
                theme::dim(),
            ),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{key:<11}"), theme::dim()),
            Span::styled(crate::text::inert(&text), style),
        ]));
    }
    if let Some(u) = &a.usage {
        let cost = u
            .cost_usd
            .map(|c| format!(" · ${c:.2}"))
            .unwrap_or_default();
        lines.push(row(
            "usage",
            format!(
                "{} input + {} output tokens{cost} · {} turns",
                u.input_tokens, u.output_tokens, u.turns
            ),
        ));
    }
    if a.iterations > 0 {
        lines.push(row(
            "iterations",
            format!("{} (tests failed, output fed back)", a.iterations),
        ));
    }
    // The pull request, with the facts (after "pushed").
    let mut pr = Vec::new();
    match (a.pr_number, &a.pr_url, &a.pr_note) {
        (Some(n), Some(url), _) => pr.push(row("pull req.", format!("#{n} {url}"))),
        (_, _, Some(why)) => pr.push(row("pull req.", format!("none: {why}"))),
        _ => {}
    }
    if let Some(s) = &a.pr_status {
        let key = |a| app.keymap.keys(crate::keymap::Context::List, a);
        let hint = format!(
            "{} follows up on them in the same workspace ({}: as they are)",
            key(crate::keymap::Action::RetryFeedback),
            key(crate::keymap::Action::RetryScratch)
        );
        pr.extend(super::pull::lines(s, &hint));
    }
    let at = lines
        .iter()
        .position(|l| {
            l.spans
                .first()
                .is_some_and(|s| s.content.starts_with("pushed"))
        })
        .map_or(lines.len(), |i| i + 1);
    lines.splice(at..at, pr);
    if let Some(c) = &a.approved_commit {
        let note = if a.tests_overridden {
            " (tests overridden)"
        } else {
            ""
        };
        lines.push(row("approved", format!("{}{note}", &c[..c.len().min(12)])));
    }
    if let Some(s) = &a.summary {
        lines.push(row("agent says", s.clone()));
    }
    if let Some(fb) = &a.feedback {
        lines.push(row("feedback", fb.clone()));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("prompt", theme::dim()));
    for l in super::util::wrap(
        &crate::text::inert(&t.prompt),
        area.width.saturating_sub(2) as usize,
    ) {
        lines.push(Line::raw(l));
    }
    if !task.notices.is_empty() {
        lines.push(Line::raw(""));
        for n in &task.notices {
            lines.push(Line::styled(
                crate::text::inert(n),
                Style::default().fg(Color::Yellow),
            ));
        }
    }
    let lines = wrap_rows(lines, area.width as usize);
    super::scrolled(app, f, area, &lines, out);
}

/// Rows whose value is wider than the pane go on over more lines, under the value
/// (a long path, a branch, a notice), instead of being cut at the edge.
fn wrap_rows(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    const KEY: usize = 11;
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let keyed = l.spans.len() == 2 && l.spans[0].content.chars().count() == KEY;
        if !keyed || l.width() <= width || width <= KEY + 8 {
            out.push(l);
            continue;
        }
        let (key, value) = (l.spans[0].clone(), l.spans[1].clone());
        for (i, part) in super::util::wrap(&value.content, width - KEY)
            .into_iter()
            .enumerate()
        {
            let lead = match i {
                0 => key.clone(),
                _ => Span::raw(" ".repeat(KEY)),
            };
            out.push(Line::from(vec![lead, Span::styled(part, value.style)]));
        }
    }
    out
}

/// What the egress proxy refused during the attempt, in a line.
fn blocked_text(a: &crate::protocol::AttemptRecord) -> String {
    match (a.blocked_count, a.blocked.first()) {
        (0, _) => "nothing".into(),
        (1, Some(first)) => first.clone(),
        (n, Some(first)) => format!(
            "{n} requests: {first}{}",
            match a.blocked.len() {
                1 => String::new(),
                k => format!(" and {} more kinds", k - 1),
            }
        ),
        (n, None) => format!("{n} requests"),
    }
}
