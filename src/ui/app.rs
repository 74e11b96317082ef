//! The application state and its one entry point, `update`: a message in (engine event,
//! key, mouse, paste, reload, an answer of the engine), state changed, effects out (send
//! a command, quit, open a shell, notify). No I/O happens here, so every behaviour is
//! testable without a terminal. Keys are `keys`'s, answers `replies`'s; what the last
//! frame drew comes back as a `Layout` (`drawn`), never written by the renderer.

use std::path::PathBuf;

use crossterm::event::{KeyEvent, MouseEvent};
use time::OffsetDateTime;

use super::editor::Editor;
use super::model::TaskView;
pub use super::render::Layout;
pub use super::review::DiffComment;
use crate::config::{Notify, OnQuit};
use crate::keymap::{Action, Context, Keymap};
use crate::protocol::TaskId;
use crate::protocol::TaskState;
use crate::protocol::Transition;
use crate::protocol::{Command, CommandResult, Event, EventBody, TaskSnapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Transcript,
    Diff,
    Tests,
    Info,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Transcript, Pane::Diff, Pane::Tests, Pane::Info];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Transcript => "Transcript",
            Pane::Diff => "Diff",
            Pane::Tests => "Tests",
            Pane::Info => "Info",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Pane,
}

/// Transcript entries held for a task that is not selected (the newest); the selected
/// one holds its whole history, read back from the transcript file when selected.
pub const KEEP_UNSELECTED: usize = 200;

/// The patch between two attempts of a task (`from` → `to`).
#[derive(Debug, Clone)]
pub struct Compare {
    pub id: TaskId,
    pub from: u32,
    pub to: u32,
    /// What is compared, in words ("attempt 1 → 2", "x3 → this one").
    pub label: String,
    pub patch: String,
    /// Bytes of it not loaded (the first page is shown).
    pub rest: u64,
    /// Tells the pane's cache one comparison from another.
    pub version: u64,
}

pub struct Confirm {
    pub text: String,
    pub on_yes: Effect,
}

pub enum Overlay {
    /// The keys, scrolled by `scroll` lines.
    Help {
        scroll: usize,
    },
    /// The activity log, scrolled up from its newest entry by `scroll` lines.
    Activity {
        scroll: usize,
    },
    Confirm(Box<Confirm>),
    /// Quitting with tasks running and no quit policy yet: stop them or keep them?
    QuitPolicy {
        running: usize,
    },
    Editor(Box<Editor>),
    /// Best-of-N: the selected task's attempts side by side, ranked; `cursor` is the
    /// highlighted row.
    BestOf {
        cursor: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    /// When it was said: it clears itself `activity::STATUS_SECS` later.
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Default)]
pub struct Header {
    pub repo: PathBuf,
    pub branch: Option<String>,
    pub commit: String,
    /// `None` until the engine says; then the version or the error.
    pub docker: Option<Result<String, String>>,
    pub agent: String,
    /// Every repository's tasks are shown (`repo` is where drover was opened, if in one).
    pub all: bool,
}

/// What the app is doing with the keyboard: browsing (the list or a pane, by `Focus`),
/// typing a filter or a search, or answering an overlay. Exactly one at a time.
pub enum Mode {
    Browse,
    Filter,
    /// The search query being typed.
    Search(String),
    Overlay(Overlay),
}

pub enum Msg {
    Engine(Event),
    /// Every task as it stands, replacing what was known (attaching to the daemon).
    Snapshot(Vec<TaskSnapshot>),
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    /// The keymap or config file changed: the new keymap, or why it was refused.
    Keymap(Result<Keymap, String>),
    Config(Result<(Notify, Vec<String>), String>),
    /// The engine's answer to a command this front end sent.
    Reply(Command, CommandResult),
    /// The repository's HEAD as it is now (its branch moved, or another was checked out).
    Head {
        branch: Option<String>,
        commit: String,
    },
    Tick,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Command),
    Shell {
        container: String,
        stop_after: bool,
        /// The task's workspace: who owns it decides who the shell runs as.
        workspace: Option<PathBuf>,
    },
    /// Open a URL in the user's browser.
    Open(String),
    /// Several effects, in order (a confirmed batch over marked tasks).
    Batch(Vec<Effect>),
    /// Put text on the terminal's clipboard (OSC 52).
    Copy(String),
    Notify(String),
    /// The user chose what quitting does to running tasks: remember it.
    RememberQuitPolicy(OnQuit),
    /// The user trusts the repository's drover.toml as it is now.
    Trust,
    Quit,
}

pub struct App {
    pub header: Header,
    pub tasks: Vec<TaskView>,
    pub selected: Option<TaskId>,
    pub filter: String,
    pub pane: Pane,
    pub focus: Focus,
    pub mode: Mode,
    pub scroll: usize,
    pub follow: bool,
    /// The last search, highlighted in the transcript.
    pub search: Option<String>,
    /// Asks the next frame to scroll to the first match at or after this line (before
    /// it, with `seek_back`).
    pub seek: Option<usize>,
    pub seek_back: bool,
    /// The focused pane (or the list) takes the whole screen.
    pub zoom: bool,
    /// The list's share of a wide screen, in percent, once the user set it.
    pub list_pct: Option<u16>,
    /// Two attempts of the selected task compared: the Diff pane shows this patch.
    pub compare: Option<Compare>,
    /// Columns the panes are scrolled to the right (long lines).
    pub hscroll: u16,
    /// The panes wrap long lines instead of cutting them at the edge.
    pub wrap: bool,
    /// Files of a task's diff folded to their first line, by path (they stay folded
    /// as the patch changes).
    pub folded: std::collections::HashMap<TaskId, std::collections::BTreeSet<String>>,
    /// An earlier attempt of the selected task, shown in the panes instead of the
    /// current one (its transcript, diff and tests as they were).
    pub past: Option<TaskView>,
    /// The line of the shown patch the Diff pane's cursor is on.
    pub diff_cursor: usize,
    /// Comments on diff lines, kept until they go out as feedback.
    pub comments: Vec<DiffComment>,
    /// Tasks marked to act on together.
    pub marked: std::collections::BTreeSet<TaskId>,
    pub sort: super::manage::Sort,
    pub state_filter: super::manage::StateFilter,
    pub status: Option<Status>,
    pub keymap: Keymap,
    pub notify: Notify,
    pub now: OffsetDateTime,
    /// What the last frame drew (for the mouse and for paging).
    pub layout: Layout,
    /// Prefilled in the new-task editor's script field.
    pub default_script: Option<String>,
    /// The agent field of the last task queued from an editor (empty: the built-in
    /// agent): the next editor starts with it.
    pub last_agent: Option<String>,
    /// What quitting does to running tasks (`None`: ask when it matters).
    pub quit_policy: Option<OnQuit>,
    /// Keys of the repository's drover.toml ignored until the user trusts it.
    pub untrusted: Vec<String>,
    /// What happened, for the activity log.
    pub activity: super::activity::Log,
    /// Reads the wall clock before each message (the terminal's loop sets it; tests
    /// keep a fixed `now`).
    pub clock: Option<fn() -> OffsetDateTime>,
}

impl App {
    pub fn new(header: Header, keymap: Keymap) -> Self {
        App {
            header,
            tasks: Vec::new(),
            selected: None,
            filter: String::new(),
            pane: Pane::Transcript,
            focus: Focus::List,
            mode: Mode::Browse,
            scroll: 0,
            follow: true,
            search: None,
            seek: None,
            seek_back: false,
            zoom: false,
            list_pct: None,
            past: None,
            hscroll: 0,
            wrap: false,
            folded: Default::default(),
            compare: None,
            diff_cursor: 0,
            comments: Vec::new(),
            marked: Default::default(),
            sort: Default::default(),
            state_filter: Default::default(),
            status: None,
            keymap,
            notify: Notify::Both,
            now: OffsetDateTime::now_utc(),
            layout: Layout::default(),
            default_script: None,
            last_agent: None,
            quit_policy: None,
            untrusted: Vec::new(),
            activity: Default::default(),
            clock: None,
        }
    }

    /// Says that the repository's config is held back, and how to trust it.
    pub fn say_untrusted(&mut self) {
        let key = self.keymap.keys(Context::List, Action::Trust);
        self.set_status(
            format!(
                "drover.toml sets {}: ignored until you trust this repository ({key} after reading it)",
                self.untrusted.join(", ")
            ),
            true,
        );
    }

    /// Tasks shown in the list (the filters applied), in the order chosen.
    pub fn visible(&self) -> Vec<&TaskView> {
        let f = self.filter.to_lowercase();
        let shown = self
            .tasks
            .iter()
            .filter(|t| t.task.state != TaskState::Discarded)
            .filter(|t| self.state_filter.admits(&t.task.state))
            .filter(|t| {
                f.is_empty()
                    || t.task.title.to_lowercase().contains(&f)
                    || t.task.id.as_str().starts_with(&f)
                    || t.task.state.name().starts_with(&f)
            })
            .collect();
        super::manage::sorted(shown, self.sort)
    }

    pub fn selected_task(&self) -> Option<&TaskView> {
        let id = self.selected.as_ref()?;
        self.tasks.iter().find(|t| &t.task.id == id)
    }

    pub(super) fn selected_mut(&mut self) -> Option<&mut TaskView> {
        let id = self.selected.clone()?;
        self.tasks.iter_mut().find(|t| t.task.id == id)
    }

    /// What the panes show: the earlier attempt being looked at, or the selected task.
    pub fn shown_task(&self) -> Option<&TaskView> {
        match &self.past {
            Some(p) if Some(&p.task.id) == self.selected.as_ref() => Some(p),
            _ => self.selected_task(),
        }
    }

    pub(super) fn shown_mut(&mut self) -> Option<&mut TaskView> {
        match self.past.as_ref().map(|p| p.task.id.clone()) {
            Some(id) if Some(&id) == self.selected.as_ref() => self.past.as_mut(),
            _ => self.selected_mut(),
        }
    }

    /// Diffs the attempt shown (an earlier one; else the one before the latest) against
    /// the latest, in the Diff pane; again, back to the attempt's own diff.
    pub(super) fn compare_attempts(&mut self) -> Vec<Effect> {
        if self.compare.take().is_some() {
            self.set_status("the Diff pane shows the attempt's own diff again", false);
            return Vec::new();
        }
        let Some(t) = self.selected_task() else {
            self.set_status("no task selected", true);
            return Vec::new();
        };
        let (id, to) = (t.task.id.clone(), t.task.attempt);
        let from = self.shown_task().map_or(to, |s| s.task.attempt);
        let from = if from == to {
            to.saturating_sub(1)
        } else {
            from
        };
        if from == 0 {
            self.set_status("this task has one attempt: nothing to compare", true);
            return Vec::new();
        }
        self.set_status(
            format!("comparing attempt {from} with attempt {to}…"),
            false,
        );
        vec![Effect::Send(Command::Compare {
            id,
            from,
            to,
            with: None,
        })]
    }

    /// Shows attempt `n` of the selected task in the panes (its history asked for),
    /// or the current one again when `n` is it.
    pub(super) fn view_attempt(&mut self, n: u32) -> Vec<Effect> {
        let Some(task) = self.selected_task().map(|t| t.task.clone()) else {
            return Vec::new();
        };
        let current = task.attempt;
        if n == 0 || n > current {
            self.set_status(
                format!("attempt {n}: this task has attempts 1 to {current}"),
                true,
            );
            return Vec::new();
        }
        self.scroll = 0;
        self.follow = self.pane == Pane::Transcript;
        if n == current {
            self.past = None;
            self.set_status(format!("attempt {n} of {current}: the current one"), false);
            return Vec::new();
        }
        let mut task = task;
        task.attempt = n;
        let record = crate::protocol::AttemptRecord {
            n,
            ..Default::default()
        };
        let mut view = TaskView::new(task, record);
        view.loaded = true;
        let id = view.task.id.clone();
        self.past = Some(view);
        self.set_status(format!("attempt {n} of {current} (an earlier one)"), false);
        vec![Effect::Send(Command::Load {
            id,
            attempt: Some(n),
        })]
    }

    /// Whether the footer offers `action` now: task actions only when the selected
    /// task's state allows them (as the engine's state machine decides), trust only
    /// when the repository's config asks for it, search keys only with a search.
    pub fn offers(&self, action: Action) -> bool {
        use crate::protocol::state::next;
        let t = self.selected_task();
        let st = t.map(|t| &t.task.state);
        let allows = |tr: Transition| st.is_some_and(|s| next(s, tr).is_ok());
        match action {
            Action::Approve => allows(Transition::Approve),
            Action::Push => allows(Transition::Push),
            Action::RetryFeedback | Action::RetryScratch => {
                allows(Transition::Retry { feedback: None })
            }
            Action::Cancel => allows(Transition::Cancel),
            Action::Discard => allows(Transition::Discard),
            Action::Resume => allows(Transition::Resume),
            Action::Shell => t.is_some_and(|t| t.attempt.container.is_some()),
            Action::OpenPr | Action::CopyPr => t.is_some_and(|t| t.attempt.pr_url.is_some()),
            Action::Trust => !self.untrusted.is_empty(),
            Action::Edit => st == Some(&TaskState::Queued),
            Action::SearchNext | Action::SearchPrev => self.search.is_some(),
            Action::FoldAll => self.pane == Pane::Diff,
            Action::BestOf => t.is_some_and(|t| t.task.group.is_some()),
            // Moving about and the rest are always there, but not worth the room.
            Action::Down
            | Action::Up
            | Action::Top
            | Action::Bottom
            | Action::PageDown
            | Action::PageUp
            | Action::PaneTranscript
            | Action::PaneDiff
            | Action::PaneTests
            | Action::PaneInfo
            | Action::PrevPane
            | Action::Wider
            | Action::Narrower
            | Action::Left
            | Action::Right
            | Action::Wrap
            | Action::Mark
            | Action::Sort
            | Action::StateFilter
            | Action::Duplicate
            | Action::PrevAttempt
            | Action::NextAttempt
            | Action::CompareAttempts => false,
            _ => true,
        }
    }

    /// Whether something on screen changes with time alone (elapsed clocks).
    pub fn animating(&self) -> bool {
        // A status message clears itself: time must pass for it too.
        self.status.is_some() || self.tasks.iter().any(|t| t.task.state.is_active())
    }

    pub fn context(&self) -> Context {
        match self.focus {
            Focus::List => Context::List,
            Focus::Pane => Context::Pane,
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        if let Some(clock) = self.clock {
            self.now = clock();
        }
        match msg {
            Msg::Engine(ev) => self.on_event(ev),
            Msg::Snapshot(tasks) => self.on_snapshot(tasks),
            Msg::Key(k) => self.on_key(k),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Paste(text) => {
                let line = text.lines().next().unwrap_or("");
                match &mut self.mode {
                    Mode::Overlay(Overlay::Editor(e)) => e.paste(&text),
                    Mode::Filter => self.filter.push_str(line),
                    Mode::Search(q) => q.push_str(line),
                    _ => {}
                }
                Vec::new()
            }
            Msg::Keymap(Ok(k)) => {
                self.keymap = k;
                self.set_status("keymap reloaded", false);
                Vec::new()
            }
            Msg::Keymap(Err(e)) => {
                self.set_status(
                    format!("keymap not reloaded (the old one stays): {e}"),
                    true,
                );
                Vec::new()
            }
            Msg::Config(Ok((n, untrusted))) => {
                self.notify = n;
                self.untrusted = untrusted;
                if self.untrusted.is_empty() {
                    self.set_status("config reloaded", false);
                } else {
                    self.say_untrusted();
                }
                Vec::new()
            }
            Msg::Config(Err(e)) => {
                self.set_status(
                    format!("config not reloaded (the old one stays): {e}"),
                    true,
                );
                Vec::new()
            }
            Msg::Reply(command, result) => self.on_reply(command, result),
            Msg::Head { branch, commit } => {
                self.header.branch = branch;
                self.header.commit = commit;
                Vec::new()
            }
            Msg::Tick => {
                // A message said long enough ago gives the footer back.
                if self.status.as_ref().is_some_and(|s| !self.fresh(s)) {
                    self.status = None;
                }
                Vec::new()
            }
        }
    }

    /// Takes what the frame just drawn says: where things are, and where a search asked
    /// for landed. Whether the screen must be drawn again (a search found nothing).
    pub fn drawn(&mut self, layout: Layout) -> bool {
        let mut again = false;
        if let Some(top) = layout.scrolled {
            self.scroll = top;
        }
        if let Some(from) = self.seek.take() {
            match layout.found {
                Some(line) => {
                    self.scroll = line;
                    let q = self.search.clone().unwrap_or_default();
                    match layout.matches {
                        Some((i, n)) => {
                            self.set_status(format!("\"{q}\": match {i} of {n}"), false)
                        }
                        None => self.status = None,
                    }
                }
                // Only inside an output shown cut: shown whole, and looked for again.
                None if self.pane == Pane::Transcript && self.expand_to_find() => {
                    self.seek = Some(from);
                    again = true;
                }
                // Only inside a folded file: unfolded, and looked for again.
                None if self.pane == Pane::Diff
                    && self.compare.is_none()
                    && self.unfold_to_find(&self.search.clone().unwrap_or_default()) =>
                {
                    self.seek = Some(from);
                    again = true;
                }
                None => {
                    let q = self.search.clone().unwrap_or_default();
                    self.set_status(format!("no match for \"{q}\""), true);
                    again = true;
                }
            }
        }
        self.layout = layout;
        again
    }

    /// Shows the selected task's outputs whole when the search query is in one of them
    /// (a collapsed output hides its middle); whether that changed anything.
    fn expand_to_find(&mut self) -> bool {
        let q = self.search.clone().unwrap_or_default().to_lowercase();
        let Some(t) = self.selected_mut() else {
            return false;
        };
        if t.expand_all || q.is_empty() {
            return false;
        }
        // As shown: colours and other escapes taken out.
        let holds = |text: &str| {
            super::render::ansi_lines(text).iter().any(|l| {
                let shown: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
                shown.to_lowercase().contains(&q)
            })
        };
        let inside = t.entries.iter().any(|e| match &e.kind {
            crate::protocol::EntryKind::ToolResult { output: text, .. }
            | crate::protocol::EntryKind::Output { text } => holds(text),
            _ => false,
        });
        if inside {
            t.expand_all = true;
            t.version += 1;
        }
        inside
    }

    /// The overlay shown, if any.
    pub fn overlay(&self) -> Option<&Overlay> {
        match &self.mode {
            Mode::Overlay(o) => Some(o),
            _ => None,
        }
    }

    /// Says `text` in the status line for a while (a passing remark: a search's
    /// counter, a copy); `say` also logs it.
    pub fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
            at: self.now,
        });
    }

    /// Says `text` in the status line and keeps it in the activity log.
    pub fn say(&mut self, text: impl Into<String>, error: bool) {
        let text = text.into();
        self.activity.push(self.now, text.clone(), error);
        self.set_status(text, error);
    }

    /// Keeps `text` in the activity log without saying it now.
    pub fn log(&mut self, text: impl Into<String>, error: bool) {
        self.activity.push(self.now, text.into(), error);
    }

    /// Whether a status message is still shown.
    pub fn fresh(&self, s: &Status) -> bool {
        (self.now - s.at).whole_seconds() < super::activity::STATUS_SECS
    }

    /// Starts over from `tasks`: histories are asked for again as tasks are selected,
    /// and the selection stays where it was when that task is still there.
    fn on_snapshot(&mut self, tasks: Vec<TaskSnapshot>) -> Vec<Effect> {
        self.tasks = tasks
            .into_iter()
            .map(|t| TaskView::new(t.task, t.attempt))
            .collect();
        // The order tasks were added in, as a running TUI shows them (the store's queue
        // order moves a retried task to the back, which would reorder the list between
        // one run and the next).
        let created = |t: &TaskView| {
            OffsetDateTime::parse(
                &t.task.created_at,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
        };
        self.tasks.sort_by_cached_key(created);
        let keep = self
            .selected
            .take()
            .filter(|s| self.tasks.iter().any(|t| &t.task.id == s));
        let first = self.visible().first().map(|t| t.task.id.clone());
        self.select(keep.or(first))
    }

    fn on_event(&mut self, ev: Event) -> Vec<Effect> {
        let mut fx = Vec::new();
        match (&ev.task, &ev.body) {
            (_, EventBody::Docker { version, error }) => {
                self.header.docker = Some(match (version, error) {
                    (Some(v), _) => Ok(v.clone()),
                    (None, e) => Err(e.clone().unwrap_or_else(|| "unavailable".into())),
                });
            }
            (None, EventBody::Error { message }) => self.say(message.clone(), true),
            (None, EventBody::Notice { message }) => self.say(message.clone(), false),
            (Some(id), EventBody::TaskAdded { task, attempt }) => {
                match self.tasks.iter_mut().find(|t| &t.task.id == id) {
                    Some(t) => t.apply(&ev),
                    None => self
                        .tasks
                        .push(TaskView::new((**task).clone(), (**attempt).clone())),
                }
                if self.selected.is_none() {
                    fx.extend(self.select(Some(id.clone())));
                }
            }
            (Some(id), body) => {
                let selected = self.selected.as_ref() == Some(id);
                // Where the selected task sits, for its neighbour to take its place if
                // it leaves the list (discarded here or from another terminal).
                let was_at = selected
                    .then(|| self.visible().iter().position(|t| &t.task.id == id))
                    .flatten();
                let Some(t) = self.tasks.iter_mut().find(|t| &t.task.id == id) else {
                    return fx;
                };
                let pr_before = t.attempt.pr_status.clone();
                t.apply(&ev);
                if let Some(what) =
                    super::pull::alert(pr_before.as_ref(), t.attempt.pr_status.as_ref())
                {
                    fx.push(Effect::Notify(format!("{}: {what}", t.task.title)));
                }
                // Trimmed in batches, so a long-running task costs no copying per event.
                if !selected && t.entries.len() > 2 * KEEP_UNSELECTED {
                    t.forget_older(KEEP_UNSELECTED);
                }
                let who = format!("{} {}", t.task.id, crate::text::inert(&t.task.title));
                let (tid, title) = (t.task.id.clone(), t.task.title.clone());
                let verdict = t.attempt.tests.as_ref().map_or(String::new(), |r| {
                    format!(" (tests {})", r.verdict.outcome())
                });
                match body {
                    EventBody::StateChanged {
                        to: TaskState::Review,
                        ..
                    } => {
                        fx.push(Effect::Notify(format!("{title} needs review")));
                        self.log(format!("{who}: ready for review{verdict}"), false);
                    }
                    EventBody::StateChanged { to, .. }
                        if matches!(
                            to,
                            TaskState::Failed { .. }
                                | TaskState::Interrupted { .. }
                                | TaskState::Blocked { .. }
                        ) =>
                    {
                        self.log(format!("{who}: {to}"), true);
                    }
                    EventBody::Error { message } => {
                        self.say(format!("{tid}: {message}"), true);
                    }
                    EventBody::Notice { message } => {
                        self.say(format!("{tid}: {message}"), false);
                    }
                    _ => {}
                }
                if let Some(at) = was_at {
                    fx.extend(self.keep_selection_visible(at));
                }
            }
            (None, _) => {}
        }
        fx
    }

    /// When the selected task is no longer listed, selects the one now at `at` (the
    /// next one), or the last: keys and panes never act on a task the list hides.
    pub(super) fn keep_selection_visible(&mut self, at: usize) -> Vec<Effect> {
        let visible: Vec<TaskId> = self.visible().iter().map(|t| t.task.id.clone()).collect();
        if self.selected.as_ref().is_some_and(|s| visible.contains(s)) {
            return Vec::new();
        }
        let next = visible.get(at).or(visible.last()).cloned();
        self.select(next)
    }

    /// Selects a task; asks the engine for its history the first time.
    /// Asks for the selected task's history unless it is held (or asked for): on
    /// selection, and on attaching again after asking was cut off.
    pub fn load_selected(&mut self) -> Vec<Effect> {
        match self.selected_mut() {
            Some(t) if !t.loaded => {
                t.loaded = true;
                vec![Effect::Send(Command::Load {
                    id: t.task.id.clone(),
                    attempt: None,
                })]
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn select(&mut self, id: Option<TaskId>) -> Vec<Effect> {
        if self.selected == id {
            return Vec::new();
        }
        // The task looked at until now may hold its whole history: let go of most of it.
        if let Some(prev) = self.selected_mut() {
            prev.forget_older(KEEP_UNSELECTED);
        }
        self.selected = id;
        self.past = None;
        self.compare = None;
        self.diff_cursor = 0;
        self.scroll = 0;
        self.follow = true;
        self.load_selected()
    }
}
