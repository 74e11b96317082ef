//! One attempt's recording layer: what the agent says and does becomes transcript entries
//! (persisted, then emitted), live tool output becomes events, and every write is
//! followed by a fresh diff.
//!
//! Agents talk only to this (`Tools`), so recording, cancellation and diffing cannot be
//! forgotten by an agent implementation.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use super::bus::EventBus;
use super::differ::Differ;
use super::journal::{self, Journal, Replay};
use crate::agent::Tools;
use crate::agent::tools::{ContainerTools, ToolError, ToolOutput};
use crate::protocol::EventBody;
use crate::protocol::TaskId;
use crate::protocol::ToolCall;
use crate::protocol::{Entry, EntryKind};
use crate::store::{Store, TranscriptLog};
use crate::text::Utf8Stream;
use crate::workspace;

pub(super) struct Session {
    pub task: TaskId,
    pub attempt: u32,
    pub bus: Arc<EventBus>,
    pub log: Mutex<TranscriptLog>,
    pub tools: ContainerTools,
    pub cancel: CancellationToken,
    pub workspace: PathBuf,
    differ: Arc<Differ>,
    next_call: AtomicU32,
    /// What a resumed attempt already did (empty for a fresh one).
    journal: std::sync::Mutex<Journal>,
    /// The attempt's egress proxy, when its network goes through one.
    pub egress: Option<super::egress::TaskProxy>,
    /// The Docker id of the image the container runs (part of a baseline's key); empty
    /// until provisioning knows it.
    pub image_id: String,
    /// What it refused so far: how many, and the first distinct ones.
    blocked: std::sync::Mutex<(u64, Vec<String>)>,
}

impl Session {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        task: TaskId,
        attempt: u32,
        bus: Arc<EventBus>,
        store: Arc<Store>,
        log: TranscriptLog,
        tools: ContainerTools,
        cancel: CancellationToken,
        git: workspace::TaskGit,
    ) -> Self {
        let workspace = git.workspace.clone();
        let differ = Arc::new(Differ::new(
            task.clone(),
            attempt,
            bus.clone(),
            store.clone(),
            git,
        ));
        Session {
            differ,
            task,
            attempt,
            bus,
            log: Mutex::new(log),
            tools,
            cancel,
            workspace,
            next_call: AtomicU32::new(1),
            journal: Default::default(),
            egress: None,
            image_id: String::new(),
            blocked: Default::default(),
        }
    }

    /// Resumes from what the attempt's transcript holds: calls that ran are answered from
    /// it, and what was already written is not written again.
    pub(super) fn replaying(self, journal: Journal) -> Self {
        *lock(&self.journal) = journal;
        self
    }

    /// Records a note even while replaying (it says something new: "reattached…").
    pub(super) async fn announce(&self, text: impl Into<String>) {
        self.write(EntryKind::Info { text: text.into() }).await;
    }

    /// Records output even while replaying (a phase run again prints anew).
    pub(super) async fn announce_output(&self, text: String) {
        self.write(EntryKind::Output { text }).await;
    }

    /// Persists an entry, then tells subscribers (so nothing shown is ever lost). Secrets
    /// are redacted first.
    pub(super) async fn record(&self, kind: EntryKind) {
        if lock(&self.journal).already_written(&kind) {
            return;
        }
        self.write(kind).await;
    }

    /// Writes `kind`, after what the egress proxy refused meanwhile (so a refusal comes
    /// before the result of the call that made it).
    async fn write(&self, kind: EntryKind) {
        self.flush_blocked().await;
        self.write_one(kind).await;
    }

    /// Writes what the egress proxy refused since the last time (the supervisor also
    /// calls it every second while a command runs, so a refusal shows at once).
    pub(super) async fn flush_blocked(&self) {
        let Some(proxy) = &self.egress else {
            return;
        };
        {
            let (lines, more) = proxy.take_blocked();
            {
                let mut seen = lock(&self.blocked);
                seen.0 += lines.len() as u64 + more;
                for l in &lines {
                    if seen.1.len() < crate::protocol::MAX_BLOCKED_SHOWN && !seen.1.contains(l) {
                        seen.1.push(l.clone());
                    }
                }
            }
            for l in lines {
                self.write_one(EntryKind::Info {
                    text: format!("blocked: {l}"),
                })
                .await;
            }
            if more > 0 {
                let text = format!("blocked: {more} more requests (not listed)");
                self.write_one(EntryKind::Info { text }).await;
            }
        }
    }

    /// What the egress proxy refused so far (written entries only).
    pub(super) fn blocked(&self) -> (u64, Vec<String>) {
        lock(&self.blocked).clone()
    }

    async fn write_one(&self, kind: EntryKind) {
        let is_result = matches!(kind, EntryKind::ToolResult { .. });
        let entry = redacted(Entry::now(kind));
        let mut log = self.log.lock().await;
        match log.append(&entry) {
            Ok(n) => {
                if is_result {
                    crate::crash::point("after_tool_result_persist");
                }
                // Announced under the log's lock: subscribers see entries in their
                // file's order.
                self.emit(EventBody::Transcript { entry, n });
            }
            // Not in the file, so not an entry anyone could read back: said as an error.
            Err(e) => {
                tracing::error!(task = %self.task, "writing transcript: {e}");
                self.emit(EventBody::Error {
                    message: format!("cannot write transcript: {e} (an entry was not kept)"),
                });
            }
        }
    }

    pub(super) fn emit(&self, body: EventBody) {
        self.bus.emit(Some(&self.task), self.attempt, body);
    }

    pub(super) async fn info(&self, text: impl Into<String>) {
        self.record(EntryKind::Info { text: text.into() }).await;
    }

    /// The diff now, ignored files measured (waits for it): after the tests and when the
    /// attempt ends.
    pub(super) async fn refresh_diff(&self) -> Option<workspace::WorkspaceDiff> {
        self.differ.settled().await
    }

    /// Bytes the attempt's snapshots added to drover's repository so far.
    pub(super) fn stored(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.differ.stored.clone()
    }

    /// Where the attempt's git state lives.
    pub(super) fn git(&self) -> &workspace::TaskGit {
        &self.differ.git
    }

    /// A full snapshot and its diff (waits for it): what verification judges.
    pub(super) async fn thorough_diff(&self) -> Result<workspace::WorkspaceDiff, String> {
        self.differ.thorough().await
    }
}

impl Drop for Session {
    /// No more live diffs once the attempt is over (its last one is taken separately).
    fn drop(&mut self) {
        self.differ.close();
    }
}

/// The entry with secrets replaced (via its JSON form, so every text field is covered;
/// the replacement text needs no JSON escaping).
fn redacted(entry: Entry) -> Entry {
    let Ok(json) = serde_json::to_string(&entry) else {
        return entry;
    };
    match crate::redact::redact(&json) {
        std::borrow::Cow::Borrowed(_) => entry,
        std::borrow::Cow::Owned(clean) => serde_json::from_str(&clean).unwrap_or(entry),
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Tools for Session {
    fn calls_made(&self) -> u32 {
        self.next_call.load(Ordering::SeqCst).saturating_sub(1)
    }

    fn fast_forward(&self, calls: u32) {
        lock(&self.journal).skip_through(calls);
        self.next_call.fetch_max(calls + 1, Ordering::SeqCst);
    }

    fn stream_text(&self, delta: &str) {
        let text = crate::redact::redact(delta).into_owned();
        self.emit(EventBody::AssistantDelta { text });
    }

    async fn output(&self, text: &str) {
        self.record(EntryKind::Output {
            text: text.to_string(),
        })
        .await;
    }

    async fn note(&self, text: &str) {
        self.info(text.to_string()).await;
    }

    async fn announce(&self, text: &str) {
        Session::announce(self, text).await;
    }

    async fn usage(&self, usage: crate::protocol::UsageRecord) {
        let store = &self.differ.store;
        match store.update_attempt(&self.task, self.attempt, |a| a.usage = Some(usage)) {
            Ok(rec) => self.emit(EventBody::AttemptUpdated {
                attempt: Box::new(rec),
            }),
            Err(e) => tracing::error!(task = %self.task, "recording usage: {e}"),
        }
    }

    async fn say(&self, text: &str) {
        self.record(EntryKind::Assistant {
            text: text.to_string(),
        })
        .await;
    }

    async fn call(&self, call: ToolCall) -> Result<ToolOutput, ToolError> {
        if self.cancel.is_cancelled() {
            return Err(ToolError::Cancelled);
        }
        let mut n = self.next_call.fetch_add(1, Ordering::SeqCst);
        let replay = {
            let mut j = lock(&self.journal);
            let r = j.take(n, &call);
            if r == Replay::Live && n <= j.last_call() {
                // The agent left the journal's path: number after what is written.
                n = j.last_call() + 1;
                self.next_call.store(n + 1, Ordering::SeqCst);
            }
            r
        };
        match replay {
            Replay::Ran(out) => return Ok(out),
            Replay::Interrupted => {
                let out = ToolOutput {
                    ok: false,
                    exit_code: None,
                    output: journal::INTERRUPTED.to_string(),
                    truncated: 0,
                    timed_out: false,
                    duration: std::time::Duration::ZERO,
                };
                self.record(EntryKind::tool_result(n, &out)).await;
                if call.may_write() {
                    self.differ.schedule();
                }
                return Ok(out);
            }
            Replay::Live => {}
        }
        self.record(EntryKind::ToolCall {
            call: n,
            tool: call.clone(),
        })
        .await;
        let mut decoder = Utf8Stream::default();
        let bus = self.bus.clone();
        let (task, attempt) = (self.task.clone(), self.attempt);
        // What was seen so far, so a call cut short (cancel, quit) keeps its output.
        let seen = Arc::new(std::sync::Mutex::new(crate::text::Capture::new(
            16 << 10,
            48 << 10,
        )));
        let seen_by_stream = seen.clone();
        let mut on_output = move |bytes: &[u8]| {
            seen_by_stream
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(bytes);
            let chunk = decoder.push(bytes);
            if !chunk.is_empty() {
                let chunk = crate::redact::redact(&chunk).into_owned();
                bus.emit(
                    Some(&task),
                    attempt,
                    EventBody::ToolOutput { call: n, chunk },
                );
            }
        };
        let began = std::time::Instant::now();
        let result = tokio::select! {
            r = self.tools.execute(&call, &mut on_output) => r,
            _ = self.cancel.cancelled() => Err(ToolError::Cancelled),
        };
        let entry = match &result {
            Ok(out) => EntryKind::tool_result(n, out),
            Err(e) => {
                let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                let output = if seen.is_empty() {
                    e.to_string()
                } else {
                    let partial = crate::redact::redact(&seen.render()).into_owned();
                    format!("{}\n[{e} while running]", partial.trim_end())
                };
                EntryKind::ToolResult {
                    call: n,
                    ok: false,
                    exit_code: None,
                    output,
                    truncated: seen.truncated(),
                    // How long it ran before it was cut short.
                    duration_ms: began.elapsed().as_millis() as u64,
                    timed_out: false,
                }
            }
        };
        self.record(entry).await;
        if call.may_write() && !matches!(result, Err(ToolError::Cancelled)) {
            self.differ.schedule();
        }
        result
    }
}
