//! What keys and the mouse do: in each mode (browsing, the filter or search prompt, an
//! overlay) a key is looked up in that mode's keymap context and becomes an action;
//! actions change the app or become effects. No I/O, no drawing.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::app::{App, Confirm, Effect, Focus, Mode, Overlay, Pane};
use super::editor::{Editor, EditorKind};
use super::input::key_of;
use crate::config::OnQuit;
use crate::keymap::{Action, Context};
use crate::protocol::{Command, LongText, TaskId, TaskState, Transition};

impl App {
    pub(super) fn move_selection(&mut self, delta: isize) -> Vec<Effect> {
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
        let max = self.layout.pane_len.saturating_sub(self.layout.pane_height);
        let cur = if self.follow {
            max
        } else {
            self.scroll.min(max)
        };
        self.scroll = (cur as isize + delta).clamp(0, max as isize) as usize;
        self.follow = self.scroll >= max && delta > 0;
    }

    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match std::mem::replace(&mut self.mode, Mode::Browse) {
            Mode::Overlay(overlay) => self.on_overlay_key(overlay, key),
            Mode::Filter => self.on_filter_key(key),
            Mode::Search(q) => self.on_search_key(q, key),
            Mode::Browse => {
                let Some(k) = key_of(&key) else {
                    return Vec::new();
                };
                match self.keymap.action(self.context(), k) {
                    Some(a) => self.on_action(a),
                    None => Vec::new(),
                }
            }
        }
    }

    /// What a key does to a one-line prompt: an action of the `input` keymap, or a
    /// character typed. `None` when the prompt is done.
    fn edit_prompt(&self, text: &mut String, key: KeyEvent) -> Option<Action> {
        match key_of(&key).and_then(|k| self.keymap.action(Context::Input, k)) {
            Some(Action::Erase) => {
                text.pop();
                None
            }
            Some(a @ (Action::Accept | Action::Cancel)) => Some(a),
            _ => {
                let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
                match key.code {
                    // As in a shell and in drover's editors: the line, the last word.
                    KeyCode::Char('u') if ctrl => text.clear(),
                    KeyCode::Char('w') if ctrl => {
                        let kept = text.trim_end().rfind(' ').map_or(0, |i| i + 1);
                        text.truncate(kept);
                    }
                    KeyCode::Char(c) if !ctrl && !c.is_control() => text.push(c),
                    _ => {}
                }
                None
            }
        }
    }

    fn on_filter_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let mut filter = std::mem::take(&mut self.filter);
        match self.edit_prompt(&mut filter, key) {
            Some(Action::Cancel) => filter.clear(),
            Some(_) => {}
            None => self.mode = Mode::Filter,
        }
        self.filter = filter;
        // Keep the selection on a visible task.
        let visible: Vec<TaskId> = self.visible().iter().map(|t| t.task.id.clone()).collect();
        if !self.selected.as_ref().is_some_and(|s| visible.contains(s)) {
            return self.select(visible.first().cloned());
        }
        Vec::new()
    }

    fn on_search_key(&mut self, mut q: String, key: KeyEvent) -> Vec<Effect> {
        match self.edit_prompt(&mut q, key) {
            Some(Action::Accept) => {
                // An empty query repeats the last search from the next line.
                self.seek_back = false;
                let from = if !q.is_empty() {
                    self.search = Some(q);
                    self.scroll
                } else {
                    self.scroll + 1
                };
                if self.search.is_some() {
                    self.follow = false;
                    self.seek = Some(from);
                }
            }
            Some(_) => {}
            None => self.mode = Mode::Search(q),
        }
        Vec::new()
    }

    fn on_overlay_key(&mut self, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
        let k = key_of(&key);
        match overlay {
            Overlay::BestOf { cursor } => self.on_best_of_key(cursor, key),
            // Scrolled with the pane's keys; any other key closes them.
            Overlay::Help { scroll } | Overlay::Activity { scroll } => {
                let page = self.layout.pane_height.max(10) as isize;
                let big = isize::MAX / 4;
                let delta = match k.and_then(|k| self.keymap.action(Context::Pane, k)) {
                    Some(Action::Down) => 1,
                    Some(Action::Up) => -1,
                    Some(Action::PageDown) => page,
                    Some(Action::PageUp) => -page,
                    Some(Action::Top) => -big,
                    Some(Action::Bottom) => big,
                    _ => return Vec::new(),
                };
                let move_by = |d: isize| (scroll as isize).saturating_add(d).max(0) as usize;
                // The log counts up from its newest line (at the bottom).
                self.mode = Mode::Overlay(match overlay {
                    Overlay::Help { .. } => Overlay::Help {
                        scroll: move_by(delta),
                    },
                    _ => Overlay::Activity {
                        scroll: move_by(-delta),
                    },
                });
                Vec::new()
            }
            Overlay::QuitPolicy { running } => {
                let policy = match k.and_then(|k| self.keymap.action(Context::Confirm, k)) {
                    Some(Action::StopTasks) => OnQuit::Stop,
                    Some(Action::KeepTasks) => OnQuit::Keep,
                    Some(Action::No) => return Vec::new(),
                    _ => {
                        self.mode = Mode::Overlay(Overlay::QuitPolicy { running });
                        return Vec::new();
                    }
                };
                self.quit_policy = Some(policy);
                vec![Effect::RememberQuitPolicy(policy), Effect::Quit]
            }
            Overlay::Confirm(c) => match k.and_then(|k| self.keymap.action(Context::Confirm, k)) {
                Some(Action::Yes) => match c.on_yes {
                    Effect::Batch(v) => v,
                    fx => vec![fx],
                },
                Some(Action::No) => Vec::new(),
                _ => {
                    self.mode = Mode::Overlay(Overlay::Confirm(c));
                    Vec::new()
                }
            },
            // Asked whether to discard what was typed: only an answer counts, so keys
            // typed meanwhile never land in the form.
            Overlay::Editor(e) if e.confirm_discard => {
                let answer = k.and_then(|k| self.keymap.action(Context::Confirm, k));
                let cancel = k.and_then(|k| self.keymap.action(Context::Editor, k));
                match (answer, cancel) {
                    (Some(Action::Yes), _) | (_, Some(Action::Cancel)) => Vec::new(),
                    (Some(Action::No), _) => {
                        let mut e = e;
                        e.confirm_discard = false;
                        e.error = None;
                        self.mode = Mode::Overlay(Overlay::Editor(e));
                        Vec::new()
                    }
                    _ => {
                        self.mode = Mode::Overlay(Overlay::Editor(e));
                        Vec::new()
                    }
                }
            }
            // Sent: waiting for the engine. Esc closes (what was sent goes on); other
            // keys wait, so nothing typed now is lost or sent twice.
            Overlay::Editor(e) if e.waiting => {
                match k.and_then(|k| self.keymap.action(Context::Editor, k)) {
                    Some(Action::Cancel) => {}
                    _ => self.mode = Mode::Overlay(Overlay::Editor(e)),
                }
                Vec::new()
            }
            Overlay::Editor(mut e) => {
                match k.and_then(|k| self.keymap.action(Context::Editor, k)) {
                    Some(Action::Submit) if matches!(e.kind, EditorKind::Comment { .. }) => {
                        let text = e.prompt_text();
                        match (e.kind, text.is_empty()) {
                            (_, true) => {
                                self.set_status("an empty comment is not kept", false);
                            }
                            (EditorKind::Comment { id, place }, false) => {
                                self.add_comment(id, place, text);
                            }
                            _ => {}
                        }
                        Vec::new()
                    }
                    Some(Action::Submit) => match self.submit(&e) {
                        Ok(cmd) => {
                            if matches!(e.kind, EditorKind::NewTask | EditorKind::Issue) {
                                self.last_agent = Some(e.script_text());
                            }
                            e.error = Some(match &cmd {
                                // GitHub takes a moment: say what is happening meanwhile.
                                Command::Import { reference, .. } => {
                                    format!("importing issue {reference}…")
                                }
                                Command::Retry { .. } => "sending the feedback…".into(),
                                _ => "queueing…".into(),
                            });
                            e.waiting = true;
                            self.mode = Mode::Overlay(Overlay::Editor(e));
                            vec![Effect::Send(cmd)]
                        }
                        Err(msg) => {
                            e.error = Some(msg);
                            self.mode = Mode::Overlay(Overlay::Editor(e));
                            Vec::new()
                        }
                    },
                    Some(Action::Cancel) if e.has_text() => {
                        let key = |a| self.keymap.keys(Context::Confirm, a);
                        e.confirm_discard = true;
                        e.error = Some(format!(
                            "discard what you typed? {} or esc discards · {} keeps editing",
                            key(Action::Yes),
                            key(Action::No)
                        ));
                        self.mode = Mode::Overlay(Overlay::Editor(e));
                        Vec::new()
                    }
                    Some(Action::Cancel) => Vec::new(),
                    _ => {
                        e.input(key);
                        self.mode = Mode::Overlay(Overlay::Editor(e));
                        Vec::new()
                    }
                }
            }
        }
    }

    fn on_action(&mut self, action: Action) -> Vec<Effect> {
        let page = self.layout.pane_height.max(1) as isize;
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
                    self.mode = Mode::Overlay(Overlay::QuitPolicy { running });
                    return Vec::new();
                }
                return vec![Effect::Quit];
            }
            Action::Help => self.mode = Mode::Overlay(Overlay::Help { scroll: 0 }),
            Action::Activity => self.mode = Mode::Overlay(Overlay::Activity { scroll: 0 }),
            Action::BestOf => self.open_best_of(),
            Action::Filter => self.mode = Mode::Filter,
            // The agent field starts as the last task queued here had it.
            Action::NewTask => {
                let agent = self
                    .last_agent
                    .as_deref()
                    .or(self.default_script.as_deref());
                self.mode = Mode::Overlay(Overlay::Editor(Box::new(Editor::new_task(agent))))
            }
            Action::ImportIssue => {
                let agent = self
                    .last_agent
                    .as_deref()
                    .or(self.default_script.as_deref());
                self.mode = Mode::Overlay(Overlay::Editor(Box::new(Editor::issue(agent))))
            }
            Action::Trust if self.untrusted.is_empty() => self.set_status(
                "nothing to trust: this repository's config asks for nothing that needs trust",
                false,
            ),
            Action::Trust => {
                self.mode = Mode::Overlay(Overlay::Confirm(Box::new(Confirm {
                    text: format!(
                        "Trust this repository's drover.toml as it is now? These keys would apply: {}. They can send your API key or token to another address, or widen the sandbox: trust only a file you have read. Any change to it asks again.",
                        self.untrusted.join(", ")
                    ),
                    on_yes: Effect::Trust,
                })))
            }
            // In the Diff pane the keys move a cursor over the patch (the view follows).
            a @ (Action::Down
            | Action::Up
            | Action::PageDown
            | Action::PageUp
            | Action::Top
            | Action::Bottom
            | Action::NextHunk
            | Action::PrevHunk
            | Action::NextFile
            | Action::PrevFile)
                if in_pane && self.pane == Pane::Diff && self.diff_move(a) => {}
            Action::NextHunk | Action::PrevHunk | Action::NextFile | Action::PrevFile => {}
            Action::Comment if self.pane == Pane::Diff => return self.comment_here(),
            Action::Comment => {
                let key = self.keymap.keys(Context::List, Action::PaneDiff);
                self.set_status(
                    format!("comments are on diff lines: {key} shows the diff"),
                    true,
                )
            }
            Action::Down if in_pane => self.scroll_by(1),
            Action::Up if in_pane => self.scroll_by(-1),
            Action::PageDown if in_pane => self.scroll_by(page),
            Action::PageUp if in_pane => self.scroll_by(-page),
            Action::Top if in_pane => {
                self.scroll = 0;
                self.follow = false;
            }
            // Only the transcript follows what arrives; other panes jump to their end.
            Action::Bottom if in_pane && self.pane == Pane::Transcript => self.follow = true,
            Action::Bottom if in_pane => {
                self.scroll = self.layout.pane_len.saturating_sub(self.layout.pane_height);
            }
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
            Action::CompareAttempts => return self.compare_attempts(),
            Action::PrevAttempt | Action::NextAttempt => {
                self.compare = None;
                let Some(t) = self.selected_task() else {
                    need_task(self);
                    return Vec::new();
                };
                let current = t.task.attempt;
                let shown = self.shown_task().map_or(current, |s| s.task.attempt);
                let n = match action {
                    Action::PrevAttempt => shown.saturating_sub(1),
                    _ => shown + 1,
                };
                return self.view_attempt(n.clamp(1, current));
            }
            Action::Expand if self.pane == Pane::Diff && self.compare.is_none() => self.fold(false),
            Action::FoldAll if self.pane == Pane::Diff && self.compare.is_none() => self.fold(true),
            Action::FoldAll => {
                let key = self.keymap.keys(Context::Pane, Action::FoldAll);
                self.set_status(format!("{key} folds the files of the Diff pane"), true)
            }
            Action::Expand => {
                if let Some(t) = self.shown_mut() {
                    t.expand_all = !t.expand_all;
                    t.version += 1;
                }
            }
            Action::Search => self.mode = Mode::Search(String::new()),
            Action::SearchNext | Action::SearchPrev => match &self.search {
                None => self.set_status("no search yet: / searches the pane", true),
                Some(_) => {
                    self.follow = false;
                    self.seek_back = action == Action::SearchPrev;
                    // From the line after the current match (or before it, going back).
                    self.seek = Some(match self.seek_back {
                        false => self.scroll + 1,
                        true => self.scroll,
                    });
                }
            },
            Action::Zoom => self.zoom = !self.zoom,
            Action::Wider | Action::Narrower => {
                let now = self
                    .list_pct
                    .unwrap_or(if self.header.all { 45 } else { 40 });
                let step: i32 = if action == Action::Wider { 5 } else { -5 };
                self.list_pct = Some((now as i32 + step).clamp(20, 80) as u16);
            }
            Action::Left => self.hscroll = self.hscroll.saturating_sub(8),
            Action::Right => self.hscroll = self.hscroll.saturating_add(8).min(4000),
            Action::Wrap => {
                self.wrap = !self.wrap;
                let now = if self.wrap {
                    "wrap"
                } else {
                    "are cut at the edge"
                };
                self.set_status(format!("long lines {now}"), false);
            }
            Action::Mark => return self.toggle_mark(),
            Action::Sort => self.cycle_sort(),
            Action::StateFilter => return self.cycle_state_filter(),
            Action::Edit => self.edit_selected(),
            Action::Duplicate => self.duplicate_selected(),
            // With tasks marked, these act on all of them.
            Action::Approve if !self.marked_tasks().is_empty() => {
                return self.on_marked(Transition::Approve, "approved", None, |id| {
                    Command::Approve {
                        id,
                        force: false,
                        branch: None,
                        keep_others: false,
                    }
                });
            }
            Action::Push if !self.marked_tasks().is_empty() => {
                return self.on_marked(Transition::Push, "pushed", None, |id| Command::Push { id });
            }
            Action::Discard if !self.marked_tasks().is_empty() => {
                return self.on_marked(
                    Transition::Discard,
                    "discarded",
                    Some((
                        "Discard",
                        "Their containers and workspaces are removed; the transcripts stay.",
                    )),
                    |id| Command::Discard { id },
                );
            }
            // A pushed task's R is its follow-up: one at a time, never in a batch.
            Action::RetryScratch
                if !self.marked_tasks().is_empty()
                    && self
                        .marked_tasks()
                        .iter()
                        .any(|t| t.task.state == TaskState::Pushed) =>
            {
                self.set_status(
                    "pushed tasks are marked: R on each follows up on its pull request, one at a time",
                    true,
                );
            }
            Action::RetryScratch if !self.marked_tasks().is_empty() => {
                return self.on_marked(
                    Transition::Retry { feedback: None },
                    "retried from scratch",
                    Some((
                        "Retry from scratch",
                        "Each one's workspace is discarded and a new attempt starts from the base commit.",
                    )),
                    |id| Command::Retry { id, feedback: None },
                );
            }
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
                    keep_others: false,
                })];
            }
            Action::Push => {
                let Some((id, ..)) = task else {
                    need_task(self);
                    return Vec::new();
                };
                return vec![Effect::Send(Command::Push { id })];
            }
            // A pushed task's follow-up, with what its pull request asks as it is.
            Action::RetryScratch
                if self
                    .selected_task()
                    .is_some_and(|t| t.task.state == TaskState::Pushed) =>
            {
                return self.follow_up_as_asked();
            }
            // Both lose work: asked first, when the engine would go ahead at all.
            Action::Cancel | Action::RetryScratch => {
                let Some((id, title, st, _)) = task else {
                    need_task(self);
                    return Vec::new();
                };
                let (transition, cmd, text) = match action {
                    Action::Cancel => (
                        Transition::Cancel,
                        Command::Cancel { id },
                        format!(
                            "Cancel \"{title}\"? The agent is stopped; what it changed so far stays in the workspace."
                        ),
                    ),
                    _ => (
                        Transition::Retry { feedback: None },
                        Command::Retry { id, feedback: None },
                        format!(
                            "Retry \"{title}\" from scratch? This attempt's workspace is discarded and a new attempt starts from the base commit (its transcript stays)."
                        ),
                    ),
                };
                match crate::protocol::state::next(&st, transition) {
                    Ok(_) => {
                        self.mode = Mode::Overlay(Overlay::Confirm(Box::new(Confirm {
                            text,
                            on_yes: Effect::Send(cmd),
                        })))
                    }
                    Err(e) => self.set_status(e.to_string(), true),
                }
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
                            // The diff's comments come along, ready to edit, and what
                            // the pull request asks of a pushed task.
                            let mut comments = self.comments_as_feedback(&id);
                            if let Some(asked) = self.pr_asks() {
                                if !comments.is_empty() {
                                    comments.push('\n');
                                }
                                comments.push_str(&asked);
                            }
                            self.mode = Mode::Overlay(Overlay::Editor(Box::new(
                                Editor::feedback_with(id, title, &comments),
                            )))
                        }
                        Err(e) => self.set_status(e.to_string(), true),
                    }
                }
            },
            Action::Discard => match task {
                None => need_task(self),
                Some((id, title, _, _)) => {
                    self.mode = Mode::Overlay(Overlay::Confirm(Box::new(Confirm {
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
                    let workspace = self
                        .selected_task()
                        .and_then(|t| t.attempt.workspace.clone());
                    return vec![Effect::Shell {
                        container,
                        stop_after: !st.is_active(),
                        workspace,
                    }];
                }
                Some(_) => self.set_status("this task has no container yet", true),
            },
            Action::OpenPr | Action::CopyPr => {
                let url = self.selected_task().and_then(|t| t.attempt.pr_url.clone());
                match (url, task.map(|t| t.2)) {
                    (Some(u), _) if action == Action::OpenPr => return vec![Effect::Open(u)],
                    (Some(u), _) => {
                        self.set_status(format!("copied {u}"), false);
                        return vec![Effect::Copy(u)];
                    }
                    (None, Some(TaskState::Pushed)) => {
                        let why = self
                            .selected_task()
                            .and_then(|t| t.attempt.pr_note.clone())
                            .unwrap_or_else(|| "the transcript says why".into());
                        self.set_status(
                            format!("the branch was pushed but no pull request was opened: {why}"),
                            true,
                        )
                    }
                    (None, Some(TaskState::Approved | TaskState::Blocked { .. })) => {
                        let push = self.keymap.keys(Context::List, Action::Push);
                        self.set_status(
                            format!("no pull request yet: {push} pushes the branch and opens one"),
                            true,
                        )
                    }
                    (None, _) => {
                        let approve = self.keymap.keys(Context::List, Action::Approve);
                        let push = self.keymap.keys(Context::List, Action::Push);
                        self.set_status(
                            format!("no pull request yet: approve ({approve}), then push ({push})"),
                            true,
                        )
                    }
                }
            }
            Action::Submit
            | Action::Yes
            | Action::No
            | Action::StopTasks
            | Action::KeepTasks
            | Action::Accept
            | Action::Erase => {}
        }
        self.more_patch()
    }

    /// Asks for the next page of the shown patch once the reader is within a screen of
    /// where the loaded part ends (once per page).
    fn more_patch(&mut self) -> Vec<Effect> {
        if self.pane != Pane::Diff {
            return Vec::new();
        }
        let near = self.scroll + 2 * self.layout.pane_height >= self.layout.pane_len;
        let measured = self.layout.shown.clone();
        // An earlier attempt's patch is paged from that attempt.
        let current = self.selected_task().map_or(0, |c| c.task.attempt);
        let Some(t) = self.shown_mut() else {
            return Vec::new();
        };
        if measured != Some((t.task.id.clone(), Pane::Diff)) {
            return Vec::new();
        }
        let from = t.patch.len() as u64;
        if !near || t.patch_rest() == 0 || t.patch_asked == Some(from) {
            return Vec::new();
        }
        t.patch_asked = Some(from);
        let attempt = (t.task.attempt != current).then_some(t.task.attempt);
        vec![Effect::Send(Command::Page {
            id: t.task.id.clone(),
            text: LongText::Patch,
            from,
            attempt,
        })]
    }

    fn switch_pane(&mut self, pane: Pane) {
        if self.pane != pane {
            self.pane = pane;
            self.scroll = 0;
            self.hscroll = 0;
            self.follow = pane == Pane::Transcript;
        }
    }

    pub(super) fn on_mouse(&mut self, m: MouseEvent) -> Vec<Effect> {
        if !matches!(self.mode, Mode::Browse) {
            return Vec::new();
        }
        let at = Position {
            x: m.column,
            y: m.row,
        };
        let (list, pane) = (self.layout.list, self.layout.pane);
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) if list.contains(at) => {
                self.focus = Focus::List;
                let row = (at.y.saturating_sub(list.y + 1)) as usize + self.layout.list_offset;
                let id = self.visible().get(row).map(|t| t.task.id.clone());
                if id.is_some() {
                    return self.select(id);
                }
            }
            // A click on a tab of the pane's title shows that pane.
            MouseEventKind::Down(MouseButton::Left) if pane.contains(at) && at.y == pane.y => {
                let mut x = pane.x + 2;
                for (i, p) in Pane::ALL.iter().enumerate() {
                    let w = format!(" {} {} ", i + 1, p.title()).len() as u16;
                    if (x..x + w).contains(&at.x) {
                        self.switch_pane(*p);
                        break;
                    }
                    x += w + 1;
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
        self.more_patch()
    }
}
