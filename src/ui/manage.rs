//! Managing many tasks from the list: marking several (and acting on all of them at
//! once), sorting and grouping, a one-key filter by state, editing a queued task and
//! duplicating one. What each does to a task is still the engine's to decide: a batch
//! is one command per task, each refused or done on its own.

use std::collections::BTreeSet;

use super::app::{App, Confirm, Effect, Mode, Overlay};
use super::editor::Editor;
use super::model::TaskView;
use crate::protocol::{AgentSpec, Command, TaskId, TaskState, Transition};

/// The order of the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// As the tasks were added.
    #[default]
    Added,
    /// What needs the user first: review, then stopped, running, queued, done.
    State,
    /// By repository, then as added.
    Repository,
}

impl Sort {
    fn next(self) -> Sort {
        match self {
            Sort::Added => Sort::State,
            Sort::State => Sort::Repository,
            Sort::Repository => Sort::Added,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Sort::Added => "as added",
            Sort::State => "by state",
            Sort::Repository => "by repository",
        }
    }
}

/// Which states the list shows (`StateFilter::All`: every one but discarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    #[default]
    All,
    Review,
    Running,
    /// Failed, interrupted or blocked: stopped and waiting for the user.
    Stopped,
    Queued,
    /// Approved, pushed or cancelled.
    Done,
}

impl StateFilter {
    fn next(self) -> StateFilter {
        match self {
            StateFilter::All => StateFilter::Review,
            StateFilter::Review => StateFilter::Running,
            StateFilter::Running => StateFilter::Stopped,
            StateFilter::Stopped => StateFilter::Queued,
            StateFilter::Queued => StateFilter::Done,
            StateFilter::Done => StateFilter::All,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StateFilter::All => "all",
            StateFilter::Review => "in review",
            StateFilter::Running => "running",
            StateFilter::Stopped => "stopped",
            StateFilter::Queued => "queued",
            StateFilter::Done => "done",
        }
    }

    pub fn admits(self, s: &TaskState) -> bool {
        match self {
            StateFilter::All => true,
            StateFilter::Review => *s == TaskState::Review,
            StateFilter::Running => s.is_active(),
            StateFilter::Stopped => matches!(
                s,
                TaskState::Failed { .. }
                    | TaskState::Interrupted { .. }
                    | TaskState::Blocked { .. }
            ),
            StateFilter::Queued => *s == TaskState::Queued,
            StateFilter::Done => matches!(
                s,
                TaskState::Approved
                    | TaskState::Pushed
                    | TaskState::Merged
                    | TaskState::Closed
                    | TaskState::Cancelled
            ),
        }
    }
}

/// Where a state sorts "by state": what needs the user first.
fn rank(s: &TaskState) -> u8 {
    match s {
        TaskState::Review => 0,
        TaskState::Failed { .. } | TaskState::Interrupted { .. } | TaskState::Blocked { .. } => 1,
        s if s.is_active() => 2,
        TaskState::Queued => 3,
        TaskState::Approved => 4,
        TaskState::Pushed => 5,
        _ => 6,
    }
}

/// `tasks` in the order `sort` asks (stable: ties keep the order added).
pub fn sorted(mut tasks: Vec<&TaskView>, sort: Sort) -> Vec<&TaskView> {
    match sort {
        Sort::Added => {}
        Sort::State => tasks.sort_by_key(|t| rank(&t.task.state)),
        Sort::Repository => tasks.sort_by(|a, b| a.task.repo.cmp(&b.task.repo)),
    }
    tasks
}

impl App {
    /// Marks the selected task, or unmarks it, and moves on to the next.
    pub(super) fn toggle_mark(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected.clone() else {
            return Vec::new();
        };
        if !self.marked.remove(&id) {
            self.marked.insert(id);
        }
        self.move_selection(1)
    }

    pub(super) fn cycle_sort(&mut self) {
        self.sort = self.sort.next();
        self.set_status(format!("sorted {}", self.sort.name()), false);
    }

    pub(super) fn cycle_state_filter(&mut self) -> Vec<Effect> {
        self.state_filter = self.state_filter.next();
        self.set_status(format!("showing {} tasks", self.state_filter.name()), false);
        let visible: Vec<TaskId> = self.visible().iter().map(|t| t.task.id.clone()).collect();
        if self.selected.as_ref().is_some_and(|s| visible.contains(s)) {
            return Vec::new();
        }
        self.select(visible.first().cloned())
    }

    /// The marked tasks still listed, in list order.
    pub fn marked_tasks(&self) -> Vec<&TaskView> {
        self.visible()
            .into_iter()
            .filter(|t| self.marked.contains(&t.task.id))
            .collect()
    }

    /// A batch of `transition` over the marked tasks: those whose state allows it get
    /// `cmd` (asked first when `ask` gives the question's verb and what is lost), the
    /// rest are named.
    pub(super) fn on_marked(
        &mut self,
        transition: Transition,
        verb: &str,
        ask: Option<(&str, &str)>,
        cmd: impl Fn(TaskId) -> Command,
    ) -> Vec<Effect> {
        let (ok, skipped): (Vec<&TaskView>, Vec<&TaskView>) = self
            .marked_tasks()
            .into_iter()
            .partition(|t| crate::protocol::state::next(&t.task.state, transition.clone()).is_ok());
        let sends: Vec<Effect> = ok
            .iter()
            .map(|t| Effect::Send(cmd(t.task.id.clone())))
            .collect();
        let skipped: Vec<String> = skipped.iter().map(|t| t.task.id.to_string()).collect();
        let n = sends.len();
        let done: BTreeSet<TaskId> = ok.iter().map(|t| t.task.id.clone()).collect();
        if n == 0 {
            self.set_status(format!("none of the marked tasks can be {verb}"), true);
            return Vec::new();
        }
        let note = match skipped.is_empty() {
            true => String::new(),
            false => format!(" ({} left out: {})", skipped.len(), skipped.join(", ")),
        };
        self.marked.retain(|m| !done.contains(m));
        match ask {
            None => {
                self.say(format!("{n} task(s) {verb}{note}"), false);
                sends
            }
            Some((ask, lost)) => {
                let text = format!("{ask} {n} marked task(s)? {lost}{note}");
                self.mode = Mode::Overlay(Overlay::Confirm(Box::new(Confirm {
                    text,
                    on_yes: Effect::Batch(sends),
                })));
                Vec::new()
            }
        }
    }

    /// Opens the editor on the selected queued task, to change it before it starts.
    pub(super) fn edit_selected(&mut self) {
        let Some(t) = self.selected_task() else {
            self.set_status("no task selected", true);
            return;
        };
        if t.task.state != TaskState::Queued {
            self.set_status(
                format!(
                    "only a queued task can be edited (this one is {})",
                    t.task.state.name()
                ),
                true,
            );
            return;
        }
        let e = Editor::edit(&t.task);
        self.mode = Mode::Overlay(Overlay::Editor(Box::new(e)));
    }

    /// Opens the new-task editor filled in from the selected task.
    pub(super) fn duplicate_selected(&mut self) {
        let Some(t) = self.selected_task() else {
            self.set_status("no task selected", true);
            return;
        };
        let agent = match &t.task.agent {
            AgentSpec::Scripted { source, .. } => source.clone(),
            _ => String::new(),
        };
        let e = Editor::filled(&t.task.title, &t.task.prompt, &agent);
        self.mode = Mode::Overlay(Overlay::Editor(Box::new(e)));
    }
}
