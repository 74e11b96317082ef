//! Best-of-N from the keyboard: the selected task's attempts side by side (`b`), ranked
//! by their tests as `protocol::rank` ranks them; `j`/`k` move, `enter` selects the
//! highlighted one in the list, `=` diffs the selected task's attempt against it, and
//! any other key closes the view. No I/O.

use crossterm::event::KeyEvent;

use super::app::{App, Effect, Mode, Overlay};
use super::input::key_of;
use super::model::TaskView;
use crate::keymap::{Action, Context};
use crate::protocol::{Command, TaskState, rank};

impl App {
    /// The selected task's group, in rank order (the unranked, still working, last),
    /// each with its rank.
    pub fn best_of(&self) -> Vec<(&TaskView, Option<u32>)> {
        match self.selected_task() {
            Some(t) => self.group_of(t),
            None => Vec::new(),
        }
    }

    /// `t`'s rank among its group's attempts, once it rests.
    pub fn group_rank(&self, t: &TaskView) -> Option<u32> {
        self.group_of(t)
            .into_iter()
            .find(|(m, _)| m.task.id == t.task.id)
            .and_then(|(_, r)| r)
    }

    /// `t`'s group, in rank order, each with its rank.
    fn group_of(&self, t: &TaskView) -> Vec<(&TaskView, Option<u32>)> {
        let Some(g) = t.task.group.clone() else {
            return Vec::new();
        };
        let mut members: Vec<&TaskView> = self
            .tasks
            .iter()
            .filter(|t| t.task.group.as_ref().is_some_and(|h| h.id == g.id))
            .collect();
        members.sort_by_key(|t| t.task.group.as_ref().map_or(0, |h| h.index));
        let resting: Vec<_> = members
            .iter()
            .map(|t| {
                let s = &t.task.state;
                (s.is_resting() && *s != TaskState::Discarded).then_some(&t.attempt)
            })
            .collect();
        let mut ranked: Vec<(&TaskView, Option<u32>)> =
            members.into_iter().zip(rank::ranks(&resting)).collect();
        ranked.sort_by_key(|(t, r)| {
            (
                r.unwrap_or(u32::MAX),
                t.task.group.as_ref().map_or(0, |h| h.index),
            )
        });
        ranked
    }

    /// `b`: the attempts side by side, the selected one highlighted.
    pub(super) fn open_best_of(&mut self) {
        let rows = self.best_of();
        if rows.is_empty() {
            self.set_status(
                "this task runs alone: drover add --attempts N runs several side by side",
                true,
            );
            return;
        }
        let cursor = rows
            .iter()
            .position(|(t, _)| Some(&t.task.id) == self.selected.as_ref())
            .unwrap_or(0);
        self.mode = Mode::Overlay(Overlay::BestOf { cursor });
    }

    pub(super) fn on_best_of_key(&mut self, cursor: usize, key: KeyEvent) -> Vec<Effect> {
        let k = key_of(&key);
        let rows: Vec<(crate::protocol::TaskId, u32)> = self
            .best_of()
            .iter()
            .map(|(t, _)| (t.task.id.clone(), t.task.attempt))
            .collect();
        let last = rows.len().saturating_sub(1);
        let pane = k.and_then(|k| self.keymap.action(Context::Pane, k));
        let list = k.and_then(|k| self.keymap.action(Context::List, k));
        let stay = |app: &mut App, cursor: usize| {
            app.mode = Mode::Overlay(Overlay::BestOf { cursor });
            Vec::new()
        };
        match (pane, list) {
            (Some(Action::Down), _) => stay(self, (cursor + 1).min(last)),
            (Some(Action::Up), _) => stay(self, cursor.saturating_sub(1)),
            (_, Some(Action::FocusPane)) => {
                let id = rows.get(cursor).map(|(id, _)| id.clone());
                self.select(id)
            }
            (Some(Action::CompareAttempts), _) => {
                let me = self
                    .selected_task()
                    .map(|t| (t.task.id.clone(), t.task.attempt));
                let (Some((me, from)), Some((other, n))) = (me, rows.get(cursor)) else {
                    return Vec::new();
                };
                if &me == other {
                    self.set_status(
                        "that is the selected task: highlight another to compare with",
                        true,
                    );
                    return stay(self, cursor);
                }
                self.compare = None;
                vec![Effect::Send(Command::Compare {
                    id: me,
                    from,
                    to: *n,
                    with: Some(other.clone()),
                })]
            }
            _ => Vec::new(),
        }
    }
}
