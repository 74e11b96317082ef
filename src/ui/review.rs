//! Reviewing a diff from the keyboard: a cursor on the patch's lines (the Diff pane's
//! up/down move it, the view follows), jumps to the next or previous file and hunk,
//! and comments on a line. Comments stay with their task until they go out as
//! feedback: the retry-with-feedback editor opens with them, each with its `file:line`
//! and hunk. No I/O; where things are in a patch is `patch`'s.

use super::app::{App, Effect, Mode, Overlay};
use super::editor::Editor;
use super::patch::{self, Place};
use crate::keymap::Action;
use crate::protocol::TaskId;

/// A comment on a line of a task's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffComment {
    pub task: TaskId,
    pub place: Place,
    pub text: String,
    /// The patch line it was written on, while the patch is that one
    /// (`TaskView::patch_version`): the pane marks it there.
    pub at: (usize, u64),
}

impl App {
    /// Moves the diff cursor for `action` (a move, a file or hunk jump) over the lines
    /// shown (a folded file's are not); whether it was one.
    pub(super) fn diff_move(&mut self, action: Action) -> bool {
        let Some(t) = self.shown_task() else {
            return false;
        };
        let rows = self.diff_rows(t);
        let Some(last) = rows.len().checked_sub(1) else {
            return false;
        };
        let more = t.patch_rest() > 0;
        let page = self.layout.pane_height.max(1);
        let at = patch::row_of(&rows, self.diff_cursor);
        // A jump lands on a mark that shows: a folded file's hunks are passed over.
        let jump = |marks: Vec<usize>, forward: bool| {
            let marks: Vec<usize> = marks
                .into_iter()
                .filter(|m| rows.binary_search(m).is_ok())
                .collect();
            patch::next_mark(&marks, rows[at], forward).map(|m| patch::row_of(&rows, m))
        };
        let to = match action {
            Action::Down => Some(at + 1),
            Action::Up => Some(at.saturating_sub(1)),
            Action::PageDown => Some(at + page),
            Action::PageUp => Some(at.saturating_sub(page)),
            Action::Top => Some(0),
            Action::Bottom => Some(last),
            Action::NextHunk => jump(patch::hunk_starts(&t.patch), true),
            Action::PrevHunk => jump(patch::hunk_starts(&t.patch), false),
            Action::NextFile => jump(patch::file_starts(&t.patch), true),
            Action::PrevFile => jump(patch::file_starts(&t.patch), false),
            _ => return false,
        };
        let Some(to) = to else {
            let what = match action {
                Action::NextHunk | Action::PrevHunk => "hunk",
                _ => "file",
            };
            self.set_status(format!("no more: that was the last {what} that way"), false);
            return true;
        };
        let to = to.min(last);
        self.diff_cursor = rows[to];
        // The view follows the cursor; on the last line loaded, the line saying more
        // is coming shows too (reading there asks for it).
        let below = usize::from(more && to == last);
        self.follow_row(to, below);
        true
    }

    /// Scrolls the Diff pane so row `row` (and `below` rows after it) shows.
    fn follow_row(&mut self, row: usize, below: usize) {
        let height = self.layout.pane_height.max(1);
        if row < self.scroll {
            self.scroll = row;
        } else if row + below >= self.scroll + height {
            self.scroll = (row + below + 1).saturating_sub(height);
        }
        self.follow = false;
    }

    /// The lines of `t`'s patch the Diff pane shows (`patch::shown`).
    pub(super) fn diff_rows(&self, t: &crate::ui::model::TaskView) -> Vec<usize> {
        let lines: Vec<&str> = t.patch.lines().collect();
        let none = Default::default();
        let folded = self.folded.get(&t.task.id).unwrap_or(&none);
        patch::shown(lines.len(), |i| patch::header_path(lines[i]), folded)
    }

    /// Folds the file under the diff cursor to its first line, or unfolds it; with
    /// `all`, folds every file (unfolds them all when all are folded already).
    pub(super) fn fold(&mut self, all: bool) {
        let Some(t) = self.shown_task() else {
            return;
        };
        let id = t.task.id.clone();
        let files: Vec<String> = t
            .patch
            .lines()
            .filter_map(patch::header_path)
            .map(str::to_string)
            .collect();
        let here = patch::file_at(&t.patch, self.diff_cursor);
        let set = self.folded.entry(id).or_default();
        let said = if all {
            if files.iter().all(|f| set.contains(f)) {
                set.clear();
                format!("{} files unfolded", files.len())
            } else {
                set.extend(files.iter().cloned());
                format!("{} files folded to their first line", files.len())
            }
        } else {
            let Some((_, path)) = here.clone() else {
                self.set_status("no file here to fold", true);
                return;
            };
            match set.remove(&path) {
                true => format!("{path} unfolded"),
                false => {
                    set.insert(path.clone());
                    format!("{path} folded")
                }
            }
        };
        // The cursor goes to its file's first line, which shows either way.
        if let Some((start, _)) = here {
            self.diff_cursor = start;
        }
        if let Some(t) = self.shown_task() {
            let rows = self.diff_rows(t);
            let row = patch::row_of(&rows, self.diff_cursor);
            self.diff_cursor = rows.get(row).copied().unwrap_or(0);
            self.follow_row(row, 0);
        }
        self.set_status(said, false);
    }

    /// Unfolds the shown task's folded files that hold `query` (a search looks in them
    /// too); whether any did.
    pub(super) fn unfold_to_find(&mut self, query: &str) -> bool {
        let Some(t) = self.shown_task() else {
            return false;
        };
        let q = query.to_lowercase();
        let Some(set) = self.folded.get(&t.task.id) else {
            return false;
        };
        let mut path: Option<&str> = None;
        let mut holding = Vec::new();
        for l in t.patch.lines() {
            if let Some(p) = patch::header_path(l) {
                path = Some(p);
            }
            if let Some(p) = path.filter(|p| set.contains(*p))
                && l.to_lowercase().contains(&q)
                && !holding.contains(&p)
            {
                holding.push(p);
            }
        }
        let holding: Vec<String> = holding.into_iter().map(str::to_string).collect();
        let id = t.task.id.clone();
        if let Some(set) = self.folded.get_mut(&id) {
            set.retain(|p| !holding.contains(p));
        }
        !holding.is_empty()
    }

    /// Opens the comment editor on the line under the diff cursor.
    pub(super) fn comment_here(&mut self) -> Vec<Effect> {
        let Some(t) = self.shown_task() else {
            self.set_status("no task selected", true);
            return Vec::new();
        };
        match patch::place(&t.patch, self.diff_cursor) {
            Some(place) => {
                let e = Editor::comment(t.task.id.clone(), place);
                self.mode = Mode::Overlay(Overlay::Editor(Box::new(e)));
            }
            None => self.set_status(
                "move to a line of a hunk (an added, removed or unchanged line) to comment on it",
                true,
            ),
        }
        Vec::new()
    }

    /// Keeps a comment written in the comment editor.
    pub(super) fn add_comment(&mut self, task: TaskId, place: Place, text: String) {
        let n = self.comments_of(&task).len() + 1;
        let key = self
            .keymap
            .keys(crate::keymap::Context::List, Action::RetryFeedback);
        self.say(
            format!(
                "comment {n} on {}:{} kept: {key} sends the comments as feedback",
                place.path, place.line
            ),
            false,
        );
        let version = self.shown_task().map_or(0, |t| t.patch_version);
        let at = (self.diff_cursor, version);
        self.comments.push(DiffComment {
            task,
            place,
            text,
            at,
        });
    }

    pub fn comments_of(&self, task: &TaskId) -> Vec<&DiffComment> {
        self.comments.iter().filter(|c| &c.task == task).collect()
    }

    /// The task's comments as feedback: each with its `file:line`, the hunk and the
    /// line it is about.
    pub fn comments_as_feedback(&self, task: &TaskId) -> String {
        self.comments_of(task)
            .iter()
            .map(|c| {
                format!(
                    "{}:{} (in {})\n> {}\n{}\n",
                    c.place.path, c.place.line, c.place.hunk, c.place.text, c.text
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The comments went out as feedback: they are done.
    pub(super) fn comments_sent(&mut self, task: &TaskId) {
        self.comments.retain(|c| &c.task != task);
    }
}
