//! The application state and its one entry point, `update`: a message in (engine event,
//! key, mouse, paste, reload), state changed, effects out (send a command, quit, open a
//! shell, notify). No I/O happens here, so every behaviour is testable without a terminal.

use std::cell::Cell;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use time::OffsetDateTime;

use super::editor::Editor;
use super::input::key_of;
use super::model::TaskView;
use crate::config::{Notify, OnQuit};
use crate::keymap::{Action, Context, Keymap};
use crate::protocol::TaskId;
use crate::protocol::{Command, CommandResult, Event, EventBody, TaskSnapshot};
use crate::protocol::{TaskState, Transition};

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

pub struct Confirm {
    pub text: String,
    pub on_yes: Effect,
}

pub enum Overlay {
    Help,
    Confirm(Box<Confirm>),
    /// Quitting with tasks running and no quit policy yet: stop them or keep them?
    QuitPolicy {
        running: usize,
    },
    Editor(Box<Editor>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
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

/// Where things were drawn last frame (for the mouse and for paging).
#[derive(Debug, Default)]
pub struct Geometry {
    pub list: Cell<Rect>,
    pub list_offset: Cell<usize>,
    pub pane: Cell<Rect>,
    /// Lines the current pane's content has, and how many fit.
    pub pane_len: Cell<usize>,
    pub pane_height: Cell<usize>,
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
    Tick,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Command),
    Shell {
        container: String,
        stop_after: bool,
    },
    /// Open a URL in the user's browser.
    Open(String),
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
    pub filtering: bool,
    pub pane: Pane,
    pub focus: Focus,
    pub overlay: Option<Overlay>,
    pub scroll: usize,
    pub follow: bool,
    pub search: Option<String>,
    pub searching: Option<String>,
    pub status: Option<Status>,
    pub keymap: Keymap,
    pub notify: Notify,
    pub now: OffsetDateTime,
    pub geometry: Geometry,
    /// Prefilled in the new-task editor's script field.
    pub default_script: Option<String>,
    /// What quitting does to running tasks (`None`: ask when it matters).
    pub quit_policy: Option<OnQuit>,
    /// Keys of the repository's drover.toml ignored until the user trusts it.
    pub untrusted: Vec<String>,
}

impl App {
    pub fn new(header: Header, keymap: Keymap) -> Self {
        App {
            header,
            tasks: Vec::new(),
            selected: None,
            filter: String::new(),
            filtering: false,
            pane: Pane::Transcript,
            focus: Focus::List,
            overlay: None,
            scroll: 0,
            follow: true,
            search: None,
            searching: None,
            status: None,
            keymap,
            notify: Notify::Both,
            now: OffsetDateTime::now_utc(),
            geometry: Geometry::default(),
            default_script: None,
            quit_policy: None,
            untrusted: Vec::new(),
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

    /// Tasks shown in the list (the filter applied), in queue order.
    pub fn visible(&self) -> Vec<&TaskView> {
        let f = self.filter.to_lowercase();
        self.tasks
            .iter()
            .filter(|t| t.task.state != TaskState::Discarded)
            .filter(|t| {
                f.is_empty()
                    || t.task.title.to_lowercase().contains(&f)
                    || t.task.id.as_str().starts_with(&f)
                    || t.task.state.name().starts_with(&f)
            })
            .collect()
    }

    pub fn selected_task(&self) -> Option<&TaskView> {
        let id = self.selected.as_ref()?;
        self.tasks.iter().find(|t| &t.task.id == id)
    }

    fn selected_mut(&mut self) -> Option<&mut TaskView> {
        let id = self.selected.clone()?;
        self.tasks.iter_mut().find(|t| t.task.id == id)
    }

    /// Whether something on screen changes with time alone (elapsed clocks).
    pub fn animating(&self) -> bool {
        self.tasks.iter().any(|t| t.task.state.is_active())
    }

    pub fn context(&self) -> Context {
        match self.focus {
            Focus::List => Context::List,
            Focus::Pane => Context::Pane,
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Engine(ev) => self.on_event(ev),
            Msg::Snapshot(tasks) => self.on_snapshot(tasks),
            Msg::Key(k) => self.on_key(k),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Paste(text) => {
                if let Some(Overlay::Editor(e)) = &mut self.overlay {
                    e.paste(&text);
                } else if self.filtering {
                    self.filter.push_str(text.lines().next().unwrap_or(""));
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
            Msg::Tick => Vec::new(),
        }
    }

    pub fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
        });
    }

    /// Starts over from `tasks`: histories are asked for again as tasks are selected,
    /// and the selection stays where it was when that task is still there.
    fn on_snapshot(&mut self, tasks: Vec<TaskSnapshot>) -> Vec<Effect> {
        self.tasks = tasks
            .into_iter()
            .map(|t| TaskView::new(t.task, t.attempt))
            .collect();
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
            (None, EventBody::Error { message }) => self.set_status(message.clone(), true),
            (None, EventBody::Notice { message }) => self.set_status(message.clone(), false),
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
                let Some(t) = self.tasks.iter_mut().find(|t| &t.task.id == id) else {
                    return fx;
                };
                t.apply(&ev);
                // Trimmed in batches, so a long-running task costs no copying per event.
                if !selected && t.entries.len() > 2 * KEEP_UNSELECTED {
                    t.forget_older(KEEP_UNSELECTED);
                }
                match body {
                    EventBody::StateChanged {
                        to: TaskState::Review,
                        ..
                    } => {
                        fx.push(Effect::Notify(format!("{} needs review", t.task.title)));
                    }
                    EventBody::Error { message } => {
                        let msg = format!("{}: {message}", t.task.id);
                        self.set_status(msg, true);
                    }
                    EventBody::Notice { message } => {
                        let msg = format!("{}: {message}", t.task.id);
                        self.set_status(msg, false);
                    }
                    _ => {}
                }
            }
            (None, _) => {}
        }
        fx
    }

    /// Selects a task; asks the engine for its history the first time.
    fn select(&mut self, id: Option<TaskId>) -> Vec<Effect> {
        if self.selected == id {
            return Vec::new();
        }
        // The task looked at until now may hold its whole history: let go of most of it.
        if let Some(prev) = self.selected_mut() {
            prev.forget_older(KEEP_UNSELECTED);
        }
        self.selected = id;
        self.scroll = 0;
        self.follow = true;
        match self.selected_mut() {
            Some(t) if !t.loaded => {
                t.loaded = true;
                vec![Effect::Send(Command::Load {
                    id: t.task.id.clone(),
                })]
            }
            _ => Vec::new(),
        }
    }

    fn move_selection(&mut self, delta: isize) -> Vec<Effect> {
        let ids: Vec<TaskId> = self.visible().iter().map(|t| t.task.id.clone()).collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let cur = self
            .selected
            .as_ref()
            .and_then(|s| ids.iter().position(|i| i == s))
            .unwrap_or(0);
        let next = (cur as isize + delta).clamp(0, ids.len() as isize - 1) as usize;
        self.select(Some(ids[next].clone()))
    }

    fn scroll_by(&mut self, delta: isize) {
        let max = self
            .geometry
            .pane_len
            .get()
            .saturating_sub(self.geometry.pane_height.get());
        let cur = if self.follow {
            max
        } else {
            self.scroll.min(max)
        };
        self.scroll = (cur as isize + delta).clamp(0, max as isize) as usize;
        self.follow = self.scroll >= max && delta > 0;
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if let Some(overlay) = self.overlay.take() {
            return self.on_overlay_key(overlay, key);
        }
        if self.filtering {
            match key.code {
                KeyCode::Esc => {
                    self.filter.clear();
                    self.filtering = false;
                }
                KeyCode::Enter => self.filtering = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            // Keep the selection on a visible task.
            let visible: Vec<TaskId> = self.visible().iter().map(|t| t.task.id.clone()).collect();
            if !self.selected.as_ref().is_some_and(|s| visible.contains(s)) {
                return self.select(visible.first().cloned());
            }
            return Vec::new();
        }
        if let Some(q) = &mut self.searching {
            match key.code {
                KeyCode::Esc => self.searching = None,
                KeyCode::Enter => {
                    let q = std::mem::take(q);
                    self.searching = None;
                    // An empty query repeats the last search from the next line.
                    if !q.is_empty() {
                        self.search = Some(q);
                    } else if self.search.is_some() {
                        self.scroll += 1;
                    }
                    self.follow = false;
                    self.jump_to_match();
                }
                KeyCode::Backspace => {
                    q.pop();
                }
                KeyCode::Char(c) => q.push(c),
                _ => {}
            }
            return Vec::new();
        }
        let Some(k) = key_of(&key) else {
            return Vec::new();
        };
        match self.keymap.action(self.context(), k) {
            Some(a) => self.on_action(a),
            None => Vec::new(),
        }
    }

    /// Scrolls the transcript to the first line at or after `scroll` matching the search.
    fn jump_to_match(&mut self) {
        let Some(q) = self.search.clone() else { return };
        let lines = super::render::transcript::plain_lines(self);
        let q = q.to_lowercase();
        let from = self.scroll.min(lines.len());
        let hit = lines[from..]
            .iter()
            .position(|l| l.to_lowercase().contains(&q))
            .map(|i| i + from)
            .or_else(|| lines.iter().position(|l| l.to_lowercase().contains(&q)));
        match hit {
            Some(i) => {
                self.scroll = i;
                self.status = None;
            }
            None => self.set_status(format!("no match for \"{q}\""), true),
        }
    }

    fn on_overlay_key(&mut self, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
        let k = key_of(&key);
        match overlay {
            Overlay::Help => Vec::new(),
            Overlay::QuitPolicy { running } => {
                let policy = match k.and_then(|k| self.keymap.action(Context::Confirm, k)) {
                    Some(Action::StopTasks) => OnQuit::Stop,
                    Some(Action::KeepTasks) => OnQuit::Keep,
                    Some(Action::No) => return Vec::new(),
                    _ => {
                        self.overlay = Some(Overlay::QuitPolicy { running });
                        return Vec::new();
                    }
                };
                self.quit_policy = Some(policy);
                vec![Effect::RememberQuitPolicy(policy), Effect::Quit]
            }
            Overlay::Confirm(c) => match k.and_then(|k| self.keymap.action(Context::Confirm, k)) {
                Some(Action::Yes) => vec![c.on_yes],
                Some(Action::No) => Vec::new(),
                _ => {
                    self.overlay = Some(Overlay::Confirm(c));
                    Vec::new()
                }
            },
            Overlay::Editor(mut e) => {
                match k.and_then(|k| self.keymap.action(Context::Editor, k)) {
                    Some(Action::Submit) => match self.submit(&e) {
                        Ok(cmd) => {
                            if let Command::Import { reference, .. } = &cmd {
                                // GitHub takes a moment: say what is happening meanwhile.
                                self.set_status(format!("importing issue {reference}…"), false);
                            }
                            vec![Effect::Send(cmd)]
                        }
                        Err(msg) => {
                            e.error = Some(msg);
                            self.overlay = Some(Overlay::Editor(e));
                            Vec::new()
                        }
                    },
                    Some(Action::Cancel) if e.has_text() && !e.confirm_discard => {
                        e.confirm_discard = true;
                        e.error = Some("press esc again to discard what you typed".into());
                        self.overlay = Some(Overlay::Editor(e));
                        Vec::new()
                    }
                    Some(Action::Cancel) => Vec::new(),
                    _ => {
                        e.input(key);
                        self.overlay = Some(Overlay::Editor(e));
                        Vec::new()
                    }
                }
            }
        }
    }

    fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let page = self.geometry.pane_height.get().max(1) as isize;
        let in_pane = self.focus == Focus::Pane;
        let task = self.selected_task().map(|t| {
            (
                t.task.id.clone(),
                t.task.title.clone(),
                t.task.state.clone(),
                t.attempt.container.clone(),
            )
        });
        let need_task = |fx: &mut Self| fx.set_status("no task selected", true);
        match action {
            Action::Quit => {
                let running = self
                    .tasks
                    .iter()
                    .filter(|t| t.task.state.is_active())
                    .count();
                if running > 0 && self.quit_policy.is_none() {
                    self.overlay = Some(Overlay::QuitPolicy { running });
                    return Vec::new();
                }
                return vec![Effect::Quit];
            }
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Filter => self.filtering = true,
            Action::NewTask => {
                self.overlay = Some(Overlay::Editor(Box::new(Editor::new_task(
                    self.default_script.as_deref(),
                ))))
            }
            Action::ImportIssue => {
                self.overlay = Some(Overlay::Editor(Box::new(Editor::issue(
                    self.default_script.as_deref(),
                ))))
            }
            Action::Trust if self.untrusted.is_empty() => self.set_status(
                "nothing to trust: this repository's config asks for nothing that needs trust",
                false,
            ),
            Action::Trust => {
                self.overlay = Some(Overlay::Confirm(Box::new(Confirm {
                    text: format!(
                        "Trust this repository's drover.toml as it is now? These keys would apply: {}. They can send your API key or token to another address, or widen the sandbox: trust only a file you have read. Any change to it asks again.",
                        self.untrusted.join(", ")
                    ),
                    on_yes: Effect::Trust,
                })))
            }
            Action::Down if in_pane => self.scroll_by(1),
            Action::Up if in_pane => self.scroll_by(-1),
            Action::PageDown if in_pane => self.scroll_by(page),
            Action::PageUp if in_pane => self.scroll_by(-page),
            Action::Top if in_pane => {
                self.scroll = 0;
                self.follow = false;
            }
            Action::Bottom if in_pane => self.follow = true,
            Action::Down => return self.move_selection(1),
            Action::Up => return self.move_selection(-1),
            Action::PageDown => return self.move_selection(page),
            Action::PageUp => return self.move_selection(-page),
            Action::Top => return self.move_selection(isize::MIN / 2),
            Action::Bottom => return self.move_selection(isize::MAX / 2),
            Action::FocusPane => self.focus = Focus::Pane,
            Action::Back => self.focus = Focus::List,
            Action::NextPane | Action::PrevPane => {
                let i = Pane::ALL.iter().position(|p| *p == self.pane).unwrap_or(0);
                let step = if action == Action::NextPane { 1 } else { 3 };
                self.switch_pane(Pane::ALL[(i + step) % 4]);
            }
            Action::PaneTranscript => self.switch_pane(Pane::Transcript),
            Action::PaneDiff => self.switch_pane(Pane::Diff),
            Action::PaneTests => self.switch_pane(Pane::Tests),
            Action::PaneInfo => self.switch_pane(Pane::Info),
            Action::Expand => {
                if let Some(t) = self.selected_mut() {
                    t.expand_all = !t.expand_all;
                    t.version += 1;
                }
            }
            Action::Search => self.searching = Some(String::new()),
            Action::Approve => {
                let Some(t) = self.selected_task() else {
                    need_task(self);
                    return Vec::new();
                };
                // The engine judges the tests; a refusal offers to force it (`on_reply`).
                return vec![Effect::Send(Command::Approve {
                    id: t.task.id.clone(),
                    force: false,
                    branch: None,
                })];
            }
            Action::Push | Action::Cancel | Action::RetryScratch => {
                let Some((id, ..)) = task else {
                    need_task(self);
                    return Vec::new();
                };
                let cmd = match action {
                    Action::Push => Command::Push { id },
                    Action::Cancel => Command::Cancel { id },
                    _ => Command::Retry { id, feedback: None },
                };
                return vec![Effect::Send(cmd)];
            }
            Action::Resume => match task {
                None => need_task(self),
                Some((id, ..)) => return vec![Effect::Send(Command::Resume { id })],
            },
            Action::RetryFeedback => match task {
                None => need_task(self),
                Some((id, title, st, _)) => {
                    match crate::protocol::state::next(&st, Transition::Retry { feedback: None }) {
                        Ok(_) => {
                            self.overlay =
                                Some(Overlay::Editor(Box::new(Editor::feedback(id, title))))
                        }
                        Err(e) => self.set_status(e.to_string(), true),
                    }
                }
            },
            Action::Discard => match task {
                None => need_task(self),
                Some((id, title, _, _)) => {
                    self.overlay = Some(Overlay::Confirm(Box::new(Confirm {
                        text: format!(
                            "Discard \"{title}\"? Its container and workspace are removed; the transcript stays."
                        ),
                        on_yes: Effect::Send(Command::Discard { id }),
                    })))
                }
            },
            Action::Shell => match task {
                None => need_task(self),
                Some((_, _, st, Some(container))) => {
                    return vec![Effect::Shell {
                        container,
                        stop_after: !st.is_active(),
                    }];
                }
                Some(_) => self.set_status("this task has no container yet", true),
            },
            Action::OpenPr | Action::CopyPr => {
                let url = self.selected_task().and_then(|t| t.attempt.pr_url.clone());
                match url {
                    Some(u) if action == Action::OpenPr => return vec![Effect::Open(u)],
                    Some(u) => {
                        self.set_status(format!("copied {u}"), false);
                        return vec![Effect::Copy(u)];
                    }
                    None => self.set_status(
                        "this task has no pull request yet (approve, then push)",
                        true,
                    ),
                }
            }
            Action::Submit | Action::Yes | Action::No | Action::StopTasks | Action::KeepTasks => {}
        }
        Vec::new()
    }

    fn switch_pane(&mut self, pane: Pane) {
        if self.pane != pane {
            self.pane = pane;
            self.scroll = 0;
            self.follow = pane == Pane::Transcript;
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        if self.overlay.is_some() {
            return Vec::new();
        }
        let at = Position {
            x: m.column,
            y: m.row,
        };
        let list = self.geometry.list.get();
        let pane = self.geometry.pane.get();
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) if list.contains(at) => {
                self.focus = Focus::List;
                let row =
                    (at.y.saturating_sub(list.y + 1)) as usize + self.geometry.list_offset.get();
                let id = self.visible().get(row).map(|t| t.task.id.clone());
                if id.is_some() {
                    return self.select(id);
                }
            }
            MouseEventKind::Down(MouseButton::Left) if pane.contains(at) => {
                self.focus = Focus::Pane
            }
            MouseEventKind::ScrollDown if list.contains(at) => return self.move_selection(1),
            MouseEventKind::ScrollUp if list.contains(at) => return self.move_selection(-1),
            MouseEventKind::ScrollDown if pane.contains(at) => self.scroll_by(3),
            MouseEventKind::ScrollUp if pane.contains(at) => self.scroll_by(-3),
            _ => {}
        }
        Vec::new()
    }
}
