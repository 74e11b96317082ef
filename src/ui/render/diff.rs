//! The Diff pane: the files changed with their stats, then the patch with syntax
//! highlighting. The patch is split into lines once per version; only the visible lines
//! are highlighted, so scrolling a 50k-line diff costs what the screen shows. A patch
//! longer than what is loaded ends with a line saying how much more there is (the app
//! asks for it as the reader gets there).

use std::collections::BTreeSet;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout as Split, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::protocol::TaskId;
use crate::ui::app::App;
use crate::ui::highlight;
use crate::ui::model::TaskView;
use crate::ui::patch;
use crate::ui::theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    FileHeader,
    Hunk,
    Add,
    Del,
    Context,
    Other,
}

/// Highlighted lines kept per document: a scroll step highlights one new line, not a
/// screenful (syntect costs tens of microseconds a line).
const HIGHLIGHTED_MAX: usize = 4096;

/// A patch split into classified lines, each knowing its file.
pub(super) struct DiffDoc {
    lines: Vec<String>,
    kinds: Vec<Kind>,
    file_of: Vec<u32>,
    paths: Vec<String>,
    highlighted: std::collections::HashMap<usize, Line<'static>>,
}

impl DiffDoc {
    pub(super) fn parse(patch: &str) -> DiffDoc {
        let mut doc = DiffDoc {
            lines: Vec::new(),
            kinds: Vec::new(),
            file_of: Vec::new(),
            paths: Vec::new(),
            highlighted: Default::default(),
        };
        let mut in_hunk = false;
        for raw in patch.lines() {
            let kind = if let Some(path) = patch::header_path(raw) {
                doc.paths.push(path.to_string());
                in_hunk = false;
                Kind::FileHeader
            } else if raw.starts_with("@@") {
                in_hunk = true;
                Kind::Hunk
            } else if in_hunk && raw.starts_with('+') {
                Kind::Add
            } else if in_hunk && raw.starts_with('-') {
                Kind::Del
            } else if in_hunk && raw.starts_with(' ') {
                Kind::Context
            } else {
                Kind::Other
            };
            doc.kinds.push(kind);
            doc.file_of.push(doc.paths.len().saturating_sub(1) as u32);
            doc.lines
                .push(crate::text::inert(raw).replace('\t', "    "));
        }
        doc
    }

    /// Line `i` of the patch as text.
    pub(super) fn text(&self, i: usize) -> &str {
        self.lines.get(i).map_or("", String::as_str)
    }

    pub(super) fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Line `i` of the patch, highlighted.
    fn line_at(&mut self, i: usize) -> Line<'static> {
        if self.highlighted.len() > HIGHLIGHTED_MAX {
            self.highlighted.clear();
        }
        if let Some(l) = self.highlighted.get(&i) {
            return l.clone();
        }
        let l = self.line(i);
        self.highlighted.insert(i, l.clone());
        l
    }

    /// Lines `from..to`, highlighted.
    fn render(&mut self, from: usize, to: usize) -> Vec<Line<'static>> {
        (from..to.min(self.lines.len()))
            .map(|i| self.line_at(i))
            .collect()
    }

    /// The lines shown with the files in `folded` folded (`patch::shown`).
    fn rows(&self, folded: &BTreeSet<String>) -> Vec<usize> {
        let header = |i: usize| {
            (self.kinds[i] == Kind::FileHeader)
                .then(|| self.paths.get(self.file_of[i] as usize).map(String::as_str))
                .flatten()
        };
        patch::shown(self.lines.len(), header, folded)
    }

    /// The path of the file line `i` is in.
    fn path_of(&self, i: usize) -> &str {
        let file = self.file_of.get(i).copied().unwrap_or(0) as usize;
        self.paths.get(file).map_or("", String::as_str)
    }

    fn line(&self, i: usize) -> Line<'static> {
        let text = &self.lines[i];
        match self.kinds[i] {
            Kind::FileHeader => Line::styled(
                text.clone(),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ),
            Kind::Hunk => Line::styled(text.clone(), Style::default().fg(Color::Cyan)),
            Kind::Other => Line::styled(text.clone(), theme::dim()),
            k @ (Kind::Add | Kind::Del | Kind::Context) => {
                let (marker, mcolor, bg) = match k {
                    Kind::Add => ("+", Color::Green, Some(Color::Rgb(18, 48, 24))),
                    Kind::Del => ("-", Color::Red, Some(Color::Rgb(60, 20, 22))),
                    _ => (" ", Color::DarkGray, None),
                };
                let code = text.get(1..).unwrap_or("");
                let path = self
                    .paths
                    .get(self.file_of[i] as usize)
                    .map(String::as_str)
                    .unwrap_or("");
                let mut spans = vec![Span::styled(
                    marker,
                    Style::default().fg(mcolor).bg(bg.unwrap_or(Color::Reset)),
                )];
                match highlight::syntax_for(path) {
                    Some(syntax) if code.len() < 2000 => {
                        spans.extend(highlight::line(code, syntax, bg))
                    }
                    _ => spans.push(Span::styled(
                        code.to_string(),
                        bg.map_or(Style::default(), |b| Style::default().bg(b)),
                    )),
                }
                Line::from(spans)
            }
        }
    }
}

/// Which task's patch, at which version.
type PatchKey = (TaskId, u64);
/// A patch's version with the files folded in it.
type FoldKey = (PatchKey, BTreeSet<String>);

/// The parsed patch of the task shown, for as long as its patch stays the same, and
/// the lines it shows with its folded files.
#[derive(Default)]
pub(super) struct Parsed {
    doc: Option<(PatchKey, DiffDoc)>,
    /// The lines shown, for the patch and the files folded.
    rows: Option<(FoldKey, Vec<usize>)>,
}

impl Parsed {
    /// The shown task's patch, parsed, and the lines it shows.
    fn of(&mut self, task: &TaskView, folded: &BTreeSet<String>) -> (&mut DiffDoc, &[usize]) {
        let key = (task.task.id.clone(), task.patch_version);
        if self.doc.as_ref().is_none_or(|(k, _)| *k != key) {
            self.doc = Some((key.clone(), DiffDoc::parse(&task.patch)));
        }
        let Some((_, doc)) = &mut self.doc else {
            unreachable!("set just above")
        };
        let rows_key = (key, folded.clone());
        if self.rows.as_ref().is_none_or(|(k, _)| *k != rows_key) {
            self.rows = Some((rows_key, doc.rows(folded)));
        }
        let Some((_, rows)) = &self.rows else {
            unreachable!("set just above")
        };
        (doc, rows)
    }
}

pub(super) fn draw(
    app: &App,
    task: &TaskView,
    parsed: &mut Parsed,
    f: &mut Frame,
    area: Rect,
    out: &mut super::Layout,
) {
    if let Some(c) = app.compare.as_ref().filter(|c| c.id == task.task.id) {
        return compared(app, c, parsed, f, area, out);
    }
    let Some(summary) = &task.attempt.diff else {
        f.render_widget(
            Paragraph::new(Span::styled("no changes yet", theme::dim())),
            area,
        );
        return;
    };
    if summary.files.is_empty() {
        f.render_widget(
            Paragraph::new(Span::styled(
                "no changes: the workspace matches the base commit",
                theme::dim(),
            )),
            area,
        );
        return;
    }
    let none = BTreeSet::new();
    let folded = app.folded.get(&task.task.id).unwrap_or(&none);
    let list_h = (summary.files.len() as u16 + 1).min(area.height / 3).max(2);
    let [files_area, patch_area] =
        Split::vertical([Constraint::Length(list_h), Constraint::Min(0)]).areas(area);
    let mut files: Vec<Line> = summary
        .files
        .iter()
        .take(files_area.height.saturating_sub(1) as usize)
        .map(|fs| {
            let (letter, color) = match fs.status.as_str() {
                "added" => ("A", Color::Green),
                "deleted" => ("D", Color::Red),
                "renamed" => ("R", Color::Yellow),
                _ => ("M", Color::Cyan),
            };
            let name = match &fs.old_path {
                Some(old) => format!("{old} → {}", fs.path),
                None => fs.path.clone(),
            };
            let stat = if fs.binary {
                Span::styled(
                    format!("  binary {} → {} bytes", fs.old_size, fs.new_size),
                    Style::default().fg(Color::Yellow),
                )
            } else {
                Span::styled(
                    format!("  +{} −{}", fs.insertions, fs.deletions),
                    theme::dim(),
                )
            };
            let mut row = vec![
                Span::styled(format!("{letter} "), Style::default().fg(color)),
                Span::raw(crate::text::inert(&name)),
                stat,
            ];
            if folded.contains(&fs.path) {
                row.push(Span::styled("  ▸ folded", theme::dim()));
            }
            Line::from(row)
        })
        .collect();
    if summary.files.len() + 1 > files_area.height as usize {
        files.pop();
        files.push(Line::styled(
            format!(
                "… {} files, {}",
                summary.files_changed(),
                summary.stat_line()
            ),
            theme::dim(),
        ));
    } else {
        files.push(Line::styled(summary.stat_line(), theme::dim()));
    }
    f.render_widget(Paragraph::new(files), files_area);

    let (doc, rows) = parsed.of(task, folded);
    let height = patch_area.height as usize;
    let rest = task.patch_rest();
    let count = rows.len();
    let len = count + usize::from(rest > 0);
    let top = super::top(app, len, height, false, out);
    let top = super::seek(
        app,
        count,
        height,
        top,
        |r| doc.text(rows[r]).to_string(),
        out,
    );
    // The review cursor (while the pane has focus) and the lines commented on.
    let cursor =
        (app.focus == crate::ui::app::Focus::Pane).then(|| patch::row_of(rows, app.diff_cursor));
    let commented: Vec<usize> = app
        .comments_of(&task.task.id)
        .iter()
        .filter(|c| c.at.1 == task.patch_version)
        .map(|c| c.at.0)
        .collect();
    let mut row_line = |r: usize| {
        let i = rows[r];
        let mut l = super::highlight(app, doc.line_at(i));
        if commented.contains(&i) {
            l.spans
                .insert(0, Span::styled("● ", Style::default().fg(Color::Yellow)));
        }
        let hidden = rows.get(r + 1).copied().unwrap_or(doc.line_count()) - i - 1;
        if folded.contains(doc.path_of(i)) && doc.kinds[i] == Kind::FileHeader {
            let key = app
                .keymap
                .keys(crate::keymap::Context::Pane, crate::keymap::Action::Expand);
            l.spans.push(Span::styled(
                format!("  ▸ folded: {hidden} lines ({key} unfolds)"),
                theme::dim(),
            ));
        }
        if cursor == Some(r) {
            l = l.style(Style::default().bg(Color::DarkGray));
        }
        l
    };
    let more = (rest > 0).then(|| {
        Line::styled(
            format!(
                "… {} more of the patch: loading as you scroll",
                crate::paths::mib(rest)
            ),
            Style::default().fg(Color::Yellow),
        )
    });
    if !app.wrap {
        let mut lines: Vec<Line<'static>> =
            (top..(top + height).min(count)).map(row_line).collect();
        if let Some(m) = more.filter(|_| top + height > count) {
            lines.push(m);
        }
        f.render_widget(Paragraph::new(lines).scroll((0, app.hscroll)), patch_area);
        return;
    }
    // Wrapped: a row takes as many screen lines as it needs. The last rows fill the
    // pane (the scroll stops there), and the cursor's row stays in sight.
    let width = patch_area.width as usize;
    let mut tall = |r: usize| super::util::wrap_line(row_line(r), width);
    let mut fit = count;
    let mut used = usize::from(more.is_some());
    while fit > 0 {
        let h = tall(fit - 1).len();
        if used + h > height {
            break;
        }
        used += h;
        fit -= 1;
    }
    out.pane_len = fit + height;
    let mut top = top.min(fit);
    if let Some(c) = cursor.filter(|c| *c >= top && *c < count) {
        let mut used: usize = (top..=c).map(|r| tall(r).len()).sum();
        let was = top;
        while used > height && top < c {
            used -= tall(top).len();
            top += 1;
        }
        if top != was {
            out.scrolled = Some(top);
        }
    }
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut r = top;
    while lines.len() < height && r < count {
        lines.extend(tall(r));
        r += 1;
    }
    if let Some(m) = more.filter(|_| r >= count) {
        lines.extend(super::util::wrap_line(m, width));
    }
    lines.truncate(height);
    f.render_widget(Paragraph::new(lines), patch_area);
}

/// Two attempts compared: a line saying which, then the patch between them.
fn compared(
    app: &App,
    c: &crate::ui::app::Compare,
    parsed: &mut Parsed,
    f: &mut Frame,
    area: Rect,
    out: &mut super::Layout,
) {
    let [head, patch_area] =
        Split::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let what = match c.patch.is_empty() {
        true => format!("{}: the same files", c.label),
        false => format!(
            "{}: what the later one did differently (= shows its own diff again)",
            c.label
        ),
    };
    f.render_widget(
        Paragraph::new(Line::styled(
            what,
            Style::default().fg(Color::Black).bg(Color::Yellow),
        )),
        head,
    );
    // Numbered from the same counter as patches: never a patch's key.
    let key = (c.id.clone(), c.version);
    if parsed.doc.as_ref().is_none_or(|(k, _)| *k != key) {
        parsed.doc = Some((key, DiffDoc::parse(&c.patch)));
    }
    let Some((_, doc)) = parsed.doc.as_mut() else {
        return;
    };
    let height = patch_area.height as usize;
    let top = super::top(app, doc.line_count(), height, false, out);
    let mut lines = doc.render(top, top + height);
    if c.rest > 0 && top + height > doc.line_count() {
        lines.push(Line::styled(
            format!("… {} more (see `drover diff`)", crate::paths::mib(c.rest)),
            Style::default().fg(Color::Yellow),
        ));
    }
    f.render_widget(Paragraph::new(lines).scroll((0, app.hscroll)), patch_area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified_by_file() {
        let patch = "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a - b\n+a + b\n ctx\ndiff --git a/y b/y\nBinary files a/y and b/y differ\n";
        let d = DiffDoc::parse(patch);
        assert_eq!(d.paths, ["x.py", "y"]);
        assert_eq!(d.kinds[5], Kind::Del);
        assert_eq!(d.kinds[6], Kind::Add);
        assert_eq!(d.kinds[7], Kind::Context);
        assert_eq!(d.kinds[3], Kind::Other, "+++ is a header, not an addition");
        assert_eq!(d.file_of[9], 1);
    }
}
