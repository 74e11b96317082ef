//! The pull request loop from the keyboard: what a pushed task's pull request asks
//! (its waiting review comments and failing checks) goes into a follow-up — edited
//! first with `r`, as it is with `R` — and the changes that need the user (checks
//! failing, changes requested, merged) ring the terminal. No I/O.

use super::app::{App, Confirm, Effect, Mode, Overlay};
use crate::protocol::{CiVerdict, Command, PrState, PrStatus, TaskState};

impl App {
    /// What the selected pushed task's pull request asks, when it asks anything.
    pub(super) fn pr_asks(&self) -> Option<String> {
        let t = self.selected_task()?;
        if t.task.state != TaskState::Pushed {
            return None;
        }
        let asked = t.attempt.pr_status.as_ref()?.as_feedback();
        (!asked.trim().is_empty()).then_some(asked)
    }

    /// `R` on a pushed task: asks, then queues a follow-up with what the pull request
    /// asks (the engine gathers it again as it is then).
    pub(super) fn follow_up_as_asked(&mut self) -> Vec<Effect> {
        let Some(t) = self.selected_task() else {
            return Vec::new();
        };
        let (id, title) = (t.task.id.clone(), t.task.title.clone());
        let Some(s) = t
            .attempt
            .pr_status
            .as_ref()
            .filter(|_| self.pr_asks().is_some())
        else {
            let key = self.keymap.keys(
                crate::keymap::Context::List,
                crate::keymap::Action::RetryFeedback,
            );
            self.set_status(
                format!(
                    "nothing waits on the pull request: {key} says what the follow-up should do"
                ),
                true,
            );
            return Vec::new();
        };
        let n = s.waiting().iter().filter(|c| c.member).count()
            + s.requests.iter().filter(|r| r.member).count();
        let f = s.checks.failures.len();
        let what = match (n, f) {
            (0, f) => format!("{f} failing check{}", plural(f)),
            (n, 0) => format!("{n} review comment{}", plural(n)),
            (n, f) => format!(
                "{n} review comment{} and {f} failing check{}",
                plural(n),
                plural(f)
            ),
        };
        self.mode = Mode::Overlay(Overlay::Confirm(Box::new(Confirm {
            text: format!(
                "Follow up \"{}\" with its pull request's {what}? A new attempt continues in the same workspace; approving and pushing it updates the same pull request.",
                crate::text::inert(&title)
            ),
            on_yes: Effect::Send(Command::Retry { id, feedback: None }),
        })));
        Vec::new()
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What changed in a pull request that the user should hear about at once.
pub(super) fn alert(old: Option<&PrStatus>, new: Option<&PrStatus>) -> Option<&'static str> {
    let new = new?;
    let was_failing = old.and_then(|o| o.checks.verdict()) == Some(CiVerdict::Failing);
    let asked_before = old.map_or(0, |o| o.changes_requested_by.len());
    if new.state == PrState::Merged && old.is_none_or(|o| o.state != PrState::Merged) {
        Some("its pull request was merged")
    } else if new.checks.verdict() == Some(CiVerdict::Failing) && !was_failing {
        Some("checks fail on its pull request")
    } else if new.changes_requested_by.len() > asked_before {
        Some("changes were requested on its pull request")
    } else {
        None
    }
}
