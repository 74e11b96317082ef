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
    /// Moves the diff cursor for `action` (a move, a file or hunk jump); whether it
    /// was one.
    pub(super) fn diff_move(&mut self, action: Action) -> bool {
        let Some(t) = self.shown_task() else {
            return false;
        };
        let lines = t.patch.lines().count();
        if lines == 0 {
            return false;
        }
        let more = t.patch_rest() > 0;
        let page = self.layout.pane_height.max(1);
        let at = self.diff_cursor.min(lines - 1);
        let jump = |marks: Vec<usize>, forward: bool| patch::next_mark(&marks, at, forward);
        let to = match action {
            Action::Down => Some(at + 1),
            Action::Up => Some(at.saturating_sub(1)),
            Action::PageDown => Some(at + page),
            Action::PageUp => Some(at.saturating_sub(page)),
            Action::Top => Some(0),
            Action::Bottom => Some(lines - 1),
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
        self.diff_cursor = to.min(lines - 1);
        // The view follows the cursor; on the last line loaded, the line saying more
        // is coming shows too (reading there asks for it).
        let height = self.layout.pane_height.max(1);
        let below = usize::from(more && self.diff_cursor + 1 == lines);
        if self.diff_cursor < self.scroll {
            self.scroll = self.diff_cursor;
        } else if self.diff_cursor + below >= self.scroll + height {
            self.scroll = (self.diff_cursor + below + 1).saturating_sub(height);
        }
        self.follow = false;
        true
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
