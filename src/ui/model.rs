//! The UI's read model: what the engine has said about each task, built only from events.
//!
//! Nothing here does I/O or asks the engine anything; `apply` folds one event in. Live
//! output is capped so a flood cannot grow memory without bound.

use crate::protocol::Overlap;
use crate::protocol::TaskId;
use crate::protocol::TaskState;
use crate::protocol::{AttemptRecord, TaskRecord};
use crate::protocol::{Entry, EntryKind};
use crate::protocol::{Event, EventBody, Page};

/// Live output kept per running tool call, and test output kept per attempt.
const LIVE_CAP: usize = 64 << 10;
const TEST_CAP: usize = 512 << 10;

#[derive(Debug, Clone)]
pub struct TaskView {
    pub task: TaskRecord,
    pub attempt: AttemptRecord,
    pub entries: Vec<Entry>,
    /// Output streaming from the tool call that is running now.
    pub live: Option<(u32, String)>,
    /// Assistant text streaming in before it becomes an entry.
    pub live_text: String,
    pub test_command: Option<String>,
    pub test_output: String,
    /// The patch as far as it is loaded (pages come as the diff pane needs them).
    pub patch: String,
    /// The whole patch's size in bytes (more than `patch` holds while pages remain).
    pub patch_total: u64,
    /// Where the page last asked for starts (asked once).
    pub patch_asked: Option<u64>,
    /// The stored history has been asked for (or everything was seen live).
    pub loaded: bool,
    /// Older entries let go to bound memory (they are in the transcript file).
    pub forgotten: usize,
    pub notices: Vec<String>,
    /// Tasks in review or approved changing the same files (the conflict radar).
    pub overlaps: Vec<Overlap>,
    /// Tool outputs are shown whole, not cut to head and tail.
    pub expand_all: bool,
    /// Bumped on every change, so renderers can cache by it.
    pub version: u64,
    /// Bumped when `entries` change other than by growing at the end (a new attempt, a
    /// history read back, older entries let go): what was built from them is stale.
    pub entries_epoch: u64,
    /// Bumped only when `patch` changes (the diff pane parses once per patch).
    pub patch_version: u64,
}

impl TaskView {
    pub fn new(task: TaskRecord, attempt: AttemptRecord) -> Self {
        // A task that has not started has no history to load.
        let loaded = task.state == TaskState::Queued && attempt.started_at.is_none();
        TaskView {
            task,
            attempt,
            entries: Vec::new(),
            live: None,
            live_text: String::new(),
            test_command: None,
            test_output: String::new(),
            patch: String::new(),
            patch_total: 0,
            patch_asked: None,
            loaded,
            forgotten: 0,
            notices: Vec::new(),
            overlaps: Vec::new(),
            expand_all: false,
            version: 0,
            entries_epoch: 0,
            patch_version: 0,
        }
    }

    pub fn id(&self) -> &TaskId {
        &self.task.id
    }

    pub fn state(&self) -> &TaskState {
        &self.task.state
    }

    /// Keeps only the newest `keep` entries, so tasks nobody looks at hold bounded
    /// memory however long they run; the rest is read back from the transcript file
    /// when the task is selected again.
    pub fn forget_older(&mut self, keep: usize) {
        if self.entries.len() > keep {
            let n = self.entries.len() - keep;
            self.entries.drain(..n);
            self.entries_epoch += 1;
            self.forgotten += n;
            self.loaded = false;
            self.version += 1;
        }
    }

    /// Takes the first page of a (new) patch.
    fn set_patch(&mut self, page: &Page) {
        self.patch = page.text.clone();
        self.patch_total = page.total;
        self.patch_version += 1;
    }

    /// Bytes of the patch not loaded yet.
    pub fn patch_rest(&self) -> u64 {
        self.patch_total.saturating_sub(self.patch.len() as u64)
    }

    /// A further page of the patch: taken when it continues what is loaded (a page of a
    /// patch that changed meanwhile is dropped; the new one comes by itself).
    pub fn add_patch_page(&mut self, page: Page) {
        if page.from == self.patch.len() as u64 && page.total == self.patch_total {
            self.patch.push_str(&page.text);
            self.patch_version += 1;
            self.version += 1;
        }
    }

    /// Whether merging this task with another in review would conflict.
    pub fn conflicted(&self) -> bool {
        self.overlaps.iter().any(|o| !o.conflicts.is_empty())
    }

    /// Folds one event about this task in.
    pub fn apply(&mut self, ev: &Event) {
        self.version += 1;
        match &ev.body {
            EventBody::TaskAdded { task, attempt } => {
                self.task = (**task).clone();
                self.attempt = (**attempt).clone();
            }
            EventBody::History {
                attempt,
                entries,
                earlier,
                test_output,
                patch,
                warnings,
            } => {
                self.attempt = (**attempt).clone();
                // Events that arrived while loading are newer than the file: keep them.
                // What is held is the transcript's tail, so it overlaps the file's end
                // from where its first entry is (found once: histories are long).
                let overlap = self
                    .entries
                    .first()
                    .and_then(|first| entries.iter().rposition(|e| e == first))
                    .map_or(0, |i| (entries.len() - i).min(self.entries.len()));
                let mut merged = entries.clone();
                merged.extend(self.entries.drain(overlap..));
                self.entries = merged;
                self.entries_epoch += 1;
                self.forgotten = usize::try_from(*earlier).unwrap_or(usize::MAX);
                if self.test_output.is_empty() {
                    self.test_output = test_output.clone();
                    cap_front(&mut self.test_output, TEST_CAP);
                }
                if self.patch.is_empty() {
                    self.set_patch(patch);
                }
                self.test_command = self.attempt.tests.as_ref().and_then(|t| t.command.clone());
                self.notices.extend(warnings.iter().cloned());
                self.loaded = true;
            }
            EventBody::StateChanged { to, .. } => {
                if ev.attempt != self.task.attempt {
                    // A new attempt: its own transcript, diff and tests.
                    self.task.attempt = ev.attempt;
                    self.attempt = AttemptRecord {
                        n: ev.attempt,
                        ..Default::default()
                    };
                    self.entries.clear();
                    self.entries_epoch += 1;
                    self.forgotten = 0;
                    self.live = None;
                    self.test_output.clear();
                    self.test_command = None;
                    self.patch.clear();
                    self.patch_total = 0;
                    self.patch_version += 1;
                    self.loaded = true;
                }
                if *to == TaskState::Provisioning {
                    self.attempt.started_at = Some(ev.at.clone());
                    self.attempt.finished_at = None;
                    self.loaded = true;
                }
                if to.is_resting()
                    && self.attempt.started_at.is_some()
                    && self.attempt.finished_at.is_none()
                {
                    self.attempt.finished_at = Some(ev.at.clone());
                }
                self.task.state = to.clone();
            }
            EventBody::Transcript { entry } => {
                // The streamed text is now a whole entry (or the turn moved on to tools).
                self.live_text.clear();
                match &entry.kind {
                    EntryKind::ToolCall { call, .. } => self.live = Some((*call, String::new())),
                    EntryKind::ToolResult { call, .. }
                        if self.live.as_ref().is_some_and(|(c, _)| c == call) =>
                    {
                        self.live = None;
                    }
                    _ => {}
                }
                self.entries.push(entry.clone());
            }
            EventBody::AssistantDelta { text } => {
                self.live_text.push_str(text);
                cap_front(&mut self.live_text, LIVE_CAP);
            }
            EventBody::ToolOutput { call, chunk } => match &mut self.live {
                Some((c, text)) if c == call => {
                    text.push_str(chunk);
                    cap_front(text, LIVE_CAP);
                }
                _ => self.live = Some((*call, chunk.clone())),
            },
            EventBody::AttemptUpdated { attempt } if attempt.n == self.task.attempt => {
                self.attempt = (**attempt).clone()
            }
            EventBody::AttemptUpdated { .. } => {}
            EventBody::ContainerStarted { container, image } => {
                self.attempt.container = Some(container.clone());
                self.attempt.image = Some(image.clone());
            }
            EventBody::DiffUpdated { diff, patch } => {
                self.attempt.diff = Some(diff.clone());
                // The first page of the new patch; the rest is asked for when read.
                if self.patch != patch.text || self.patch_total != patch.total {
                    self.set_patch(patch);
                }
            }
            EventBody::TestStarted { command } => {
                self.test_command = Some(command.clone());
                self.test_output.clear();
            }
            EventBody::TestOutput { chunk } => {
                self.test_output.push_str(chunk);
                cap_front(&mut self.test_output, TEST_CAP);
            }
            EventBody::TestFinished { report } => self.attempt.tests = Some(report.clone()),
            EventBody::Notice { message } | EventBody::Error { message } => {
                self.notices.push(message.clone())
            }
            EventBody::Overlaps { overlaps } => self.overlaps = overlaps.clone(),
            EventBody::Docker { .. } => {}
        }
    }
}

/// Drops the oldest text beyond `cap` bytes (on a char boundary).
fn cap_front(s: &mut String, cap: usize) {
    if s.len() > cap {
        let mut cut = s.len() - cap;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        s.drain(..cut);
    }
}

/// Counts for the header.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub queued: usize,
    pub running: usize,
    pub review: usize,
    pub failed: usize,
}

pub fn counts<'a>(tasks: impl Iterator<Item = &'a TaskView>) -> Counts {
    let mut c = Counts::default();
    for t in tasks {
        match t.state() {
            TaskState::Queued => c.queued += 1,
            s if s.is_active() => c.running += 1,
            TaskState::Review => c.review += 1,
            TaskState::Failed { .. } | TaskState::Interrupted { .. } => c.failed += 1,
            _ => {}
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(i: usize) -> Entry {
        Entry {
            at: format!("t{i}"),
            kind: EntryKind::Assistant {
                text: format!("line {i}"),
            },
        }
    }

    fn event(body: EventBody) -> Event {
        Event {
            seq: 0,
            task: None,
            attempt: 1,
            at: String::new(),
            body,
        }
    }

    fn history(entries: Vec<Entry>) -> Event {
        event(EventBody::History {
            attempt: Box::default(),
            entries,
            earlier: 0,
            test_output: String::new(),
            patch: Page::default(),
            warnings: Vec::new(),
        })
    }

    fn view() -> TaskView {
        let task = TaskRecord::sample(TaskState::Running);
        TaskView::new(task, AttemptRecord::default())
    }

    /// A task nobody watches keeps its newest entries; selecting it reads the rest back
    /// and the merge neither loses nor repeats an entry, whatever arrived meanwhile.
    #[test]
    fn forgotten_entries_come_back_from_the_history_once() {
        let mut t = view();
        for i in 0..1000 {
            t.apply(&event(EventBody::Transcript { entry: said(i) }));
        }
        t.forget_older(200);
        assert_eq!(t.entries.len(), 200);
        assert_eq!(t.entries[0], said(800));
        assert_eq!(t.forgotten, 800);
        assert!(!t.loaded, "to be read back when selected");
        // The file holds 0..1000 and one more written while it was read (also seen live).
        t.apply(&event(EventBody::Transcript { entry: said(1000) }));
        t.apply(&history((0..=1000).map(said).collect()));
        // And one more live after the history.
        t.apply(&event(EventBody::Transcript { entry: said(1001) }));
        let want: Vec<Entry> = (0..=1001).map(said).collect();
        assert_eq!(t.entries, want);
        assert_eq!(t.forgotten, 0);
        // Entries newer than the whole file are kept after it.
        let mut u = view();
        u.apply(&event(EventBody::Transcript { entry: said(5) }));
        u.apply(&history((0..5).map(said).collect()));
        assert_eq!(u.entries, (0..=5).map(said).collect::<Vec<_>>());
    }

    #[test]
    fn cap_front_keeps_the_tail_on_a_char_boundary() {
        let mut s = "ééééé".to_string();
        cap_front(&mut s, 5);
        assert_eq!(s, "éé");
        let mut s = "abc".to_string();
        cap_front(&mut s, 10);
        assert_eq!(s, "abc");
    }
}
