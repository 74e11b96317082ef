//! The UI's read model: what the engine has said about each task, built only from events.
//!
//! Nothing here does I/O or asks the engine anything; `apply` folds one event in. Live
//! output is capped so a flood cannot grow memory without bound.

use crate::protocol::Overlap;
use crate::protocol::TaskId;
use crate::protocol::TaskState;
use crate::protocol::{AttemptRecord, TaskRecord};
use crate::protocol::{Entry, EntryKind};
use crate::protocol::{Event, EventBody, History, Page};

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
    /// The transcript index of the last entry held: entries arrive in the file's order
    /// and are held without gaps, so this places every one of them.
    last_n: Option<u64>,
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
            last_n: None,
            notices: Vec::new(),
            overlaps: Vec::new(),
            expand_all: false,
            version: 0,
            entries_epoch: next_epoch(),
            patch_version: next_epoch(),
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
            self.entries_epoch = next_epoch();
            self.forgotten += n;
            self.loaded = false;
            self.version += 1;
        }
    }

    /// Takes the first page of a (new) patch; pages already loaded stay when it begins
    /// as they do and the whole is as long (the same patch announced again).
    fn set_patch(&mut self, page: &Page) {
        if page.total == self.patch_total
            && page.from == 0
            && !page.text.is_empty()
            && self.patch.starts_with(&page.text)
        {
            return;
        }
        self.patch = page.text.clone();
        self.patch_total = page.total;
        self.patch_asked = None;
        self.patch_version = next_epoch();
    }

    /// A page asked for did not come (the engine refused, the connection broke): it
    /// may be asked for again.
    pub fn page_failed(&mut self) {
        self.patch_asked = None;
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
            self.patch_version = next_epoch();
            self.version += 1;
        } else {
            self.patch_asked = None;
        }
    }

    /// Whether merging this task with another in review would conflict.
    pub fn conflicted(&self) -> bool {
        self.overlaps.iter().any(|o| !o.conflicts.is_empty())
    }

    /// Takes the stored history the engine answered `Load` with.
    pub fn apply_history(&mut self, h: &History) {
        // A history of an attempt this view has moved past is not this one's.
        if h.attempt.n != self.task.attempt {
            return;
        }
        self.version += 1;
        self.attempt = h.attempt.clone();
        // Entries that came live after the file was read are newer than the history:
        // keep those, placed by their index in the transcript.
        let end = h.earlier + h.entries.len() as u64;
        let newer = self.last_n.map_or(0, |last| {
            usize::try_from((last + 1).saturating_sub(end)).unwrap_or(usize::MAX)
        });
        let newer = newer.min(self.entries.len());
        let mut merged = h.entries.clone();
        merged.extend(self.entries.drain(self.entries.len() - newer..));
        self.entries = merged;
        // The running call's result may have come in the history rather than live.
        if let Some((call, _)) = &self.live
            && h.entries
                .iter()
                .any(|e| matches!(&e.kind, EntryKind::ToolResult { call: c, .. } if c == call))
        {
            self.live = None;
        }
        if let Some(last) = end.checked_sub(1) {
            self.last_n = Some(self.last_n.map_or(last, |l| l.max(last)));
        }
        self.entries_epoch = next_epoch();
        self.forgotten = usize::try_from(h.earlier).unwrap_or(usize::MAX);
        if self.test_output.is_empty() {
            self.test_output = h.test_output.clone();
            cap_front(&mut self.test_output, TEST_CAP);
        }
        if self.patch.is_empty() {
            self.set_patch(&h.patch);
        }
        self.test_command = self.attempt.tests.as_ref().and_then(|t| t.command.clone());
        // Said once: a history read again repeats them.
        for w in &h.warnings {
            if !self.notices.contains(w) {
                self.notices.push(w.clone());
            }
        }
        self.loaded = true;
    }

    /// Folds one event about this task in.
    pub fn apply(&mut self, ev: &Event) {
        self.version += 1;
        // What an attempt this view has moved past still says is not the new one's.
        let stale = ev.attempt < self.task.attempt;
        match &ev.body {
            EventBody::Transcript { .. }
            | EventBody::AssistantDelta { .. }
            | EventBody::ToolOutput { .. }
            | EventBody::ContainerStarted { .. }
            | EventBody::DiffUpdated { .. }
            | EventBody::TestStarted { .. }
            | EventBody::TestOutput { .. }
            | EventBody::TestFinished { .. }
                if stale => {}
            EventBody::TaskAdded { task, attempt } => {
                self.task = (**task).clone();
                self.attempt = (**attempt).clone();
            }
            EventBody::StateChanged { to, .. } => {
                if ev.attempt < self.task.attempt {
                    // Late news of an attempt this view has moved past.
                } else if ev.attempt != self.task.attempt {
                    // A new attempt: its own transcript, diff and tests; a follow-up keeps
                    // its task's pull request (as the engine does).
                    self.task.attempt = ev.attempt;
                    let pr = std::mem::take(&mut self.attempt);
                    self.attempt = AttemptRecord {
                        n: ev.attempt,
                        ..Default::default()
                    };
                    if pr.pr_number.is_some() && *to == TaskState::Queued {
                        self.attempt.pr_number = pr.pr_number;
                        self.attempt.pr_url = pr.pr_url;
                        self.attempt.pr_status = pr.pr_status;
                    }
                    self.entries.clear();
                    self.entries_epoch = next_epoch();
                    self.last_n = None;
                    self.forgotten = 0;
                    self.live = None;
                    self.test_output.clear();
                    self.test_command = None;
                    self.patch.clear();
                    self.patch_total = 0;
                    self.patch_asked = None;
                    self.patch_version = next_epoch();
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
            // Already held: a history read back may have carried it before it streamed.
            EventBody::Transcript { n, .. } if self.last_n.is_some_and(|l| *n <= l) => {}
            EventBody::Transcript { entry, n } => {
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
                self.last_n = Some(*n);
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
                self.set_patch(patch);
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

/// A number no view has used for its entries or its patch: render caches key on it, and
/// views rebuilt from a new snapshot must not meet an old view's cache.
pub(super) fn next_epoch() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
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

/// Counts for the header: one per state a task can rest in (running counts every
/// active state; discarded tasks are not shown).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub queued: usize,
    pub running: usize,
    pub review: usize,
    pub approved: usize,
    pub blocked: usize,
    pub pushed: usize,
    pub failed: usize,
    pub interrupted: usize,
    pub cancelled: usize,
    pub merged: usize,
    pub closed: usize,
}

pub fn counts<'a>(tasks: impl Iterator<Item = &'a TaskView>) -> Counts {
    let mut c = Counts::default();
    for t in tasks {
        match t.state() {
            TaskState::Queued => c.queued += 1,
            s if s.is_active() => c.running += 1,
            TaskState::Review => c.review += 1,
            TaskState::Approved => c.approved += 1,
            TaskState::Blocked { .. } => c.blocked += 1,
            TaskState::Pushed => c.pushed += 1,
            TaskState::Merged => c.merged += 1,
            TaskState::Closed => c.closed += 1,
            TaskState::Failed { .. } => c.failed += 1,
            TaskState::Interrupted { .. } => c.interrupted += 1,
            TaskState::Cancelled => c.cancelled += 1,
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

    /// Entry `i` of the transcript, as it streams.
    fn live(i: u64) -> Event {
        event(EventBody::Transcript {
            entry: said(i as usize),
            n: i,
        })
    }

    fn history(entries: Vec<Entry>) -> History {
        history_from(0, entries)
    }

    /// Attempt 1's transcript from entry `earlier` on.
    fn history_from(earlier: u64, entries: Vec<Entry>) -> History {
        History {
            attempt: AttemptRecord {
                n: 1,
                ..Default::default()
            },
            entries,
            earlier,
            test_output: String::new(),
            patch: Page::default(),
            warnings: Vec::new(),
        }
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
            t.apply(&live(i));
        }
        t.forget_older(200);
        assert_eq!(t.entries.len(), 200);
        assert_eq!(t.entries[0], said(800));
        assert_eq!(t.forgotten, 800);
        assert!(!t.loaded, "to be read back when selected");
        // The file holds 0..1000 and one more written while it was read (also seen live).
        t.apply(&live(1000));
        t.apply_history(&history((0..=1000).map(said).collect()));
        // And one more live after the history.
        t.apply(&live(1001));
        let want: Vec<Entry> = (0..=1001).map(said).collect();
        assert_eq!(t.entries, want);
        assert_eq!(t.forgotten, 0);
        // Entries newer than the whole file are kept after it.
        let mut u = view();
        u.apply(&live(5));
        u.apply_history(&history((0..5).map(said).collect()));
        assert_eq!(u.entries, (0..=5).map(said).collect::<Vec<_>>());
    }

    /// The join is by index, not by comparing entries: a history whose entries differ
    /// from what streamed (cut to a size, say) and starts later than the view's first
    /// entry still repeats nothing and loses nothing newer.
    #[test]
    fn a_history_joins_what_streamed_by_index() {
        let mut t = view();
        for i in 0..300 {
            t.apply(&live(i));
        }
        // The file holds 0..=300 (300 written while it was read); the history carries
        // 100..=300, each cut (so none equals what streamed).
        t.apply(&live(300));
        let cut: Vec<Entry> = (100..=300)
            .map(|i| Entry {
                at: String::new(),
                kind: EntryKind::Info {
                    text: format!("cut {i}"),
                },
            })
            .collect();
        t.apply_history(&history_from(100, cut.clone()));
        t.apply(&live(301));
        assert_eq!(t.entries.len(), 202, "100..=301, once each");
        assert_eq!(t.entries[..201], cut[..]);
        assert_eq!(t.entries[201], said(301));
        assert_eq!(t.forgotten, 100);
        // Read again (another front end asked): the same, nothing doubled.
        t.apply_history(&history_from(100, cut.clone()));
        assert_eq!(t.entries.len(), 202);
        // An entry the history carried, streaming late, is not shown twice.
        t.apply(&live(301));
        assert_eq!(t.entries.len(), 202);
    }

    /// A history that arrives after the task moved on to a new attempt is not shown as
    /// the new attempt's.
    #[test]
    fn a_history_of_an_earlier_attempt_is_ignored() {
        let mut t = view();
        t.apply(&Event {
            attempt: 2,
            ..event(EventBody::StateChanged {
                from: TaskState::Review,
                to: TaskState::Queued,
            })
        });
        t.apply_history(&history(vec![said(0)]));
        t.apply(&live(7));
        assert!(t.entries.is_empty(), "attempt 1's entry is not attempt 2's");
        assert_eq!(t.attempt.n, 2);
        t.apply(&Event {
            attempt: 2,
            ..live(0)
        });
        assert_eq!(
            t.entries,
            [said(0)],
            "attempt 2's first entry counts from 0"
        );
    }

    /// An empty history (nothing written yet when it was read) keeps what streamed.
    #[test]
    fn an_empty_history_keeps_what_streamed() {
        let mut t = view();
        t.apply(&live(0));
        t.apply_history(&history(Vec::new()));
        t.apply(&live(1));
        assert_eq!(t.entries, [said(0), said(1)]);
    }

    /// The first page of a patch announced again keeps the pages already read; a new
    /// patch starts over and may be paged again.
    #[test]
    fn a_patch_announced_again_keeps_its_pages() {
        let whole: String = (0..3000).map(|i| format!("+{i:>60}\n")).collect();
        let mut t = view();
        let first = Page::of(&whole, 0);
        let diff = |patch: Page| {
            event(EventBody::DiffUpdated {
                diff: Default::default(),
                patch,
            })
        };
        t.apply(&diff(first.clone()));
        t.patch_asked = Some(first.text.len() as u64);
        t.add_patch_page(Page::of(&whole, first.text.len()));
        assert_eq!(t.patch, whole);
        t.apply(&diff(first.clone()));
        assert_eq!(t.patch, whole, "the same patch again");
        let other = whole.replace('+', "-");
        t.apply(&diff(Page::of(&other, 0)));
        assert_eq!(t.patch, Page::of(&other, 0).text);
        assert_eq!(
            t.patch_asked, None,
            "the new patch's pages may be asked for"
        );
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
