//! Resuming an attempt from its transcript: which tool calls already ran, and which
//! notes are already written.
//!
//! An attempt that drover resumes (after a crash, a kill -9 or a quit that kept its
//! container) replays its agent against this journal. A call that has a persisted result
//! gets that result back without running again; the call that was in flight when drover
//! died is answered "interrupted" and never re-run; the first call past the journal runs
//! for real. Notes and assistant text that the replay produces again are not written
//! twice. It does not decide *whether* to resume (the supervisor does) and holds no I/O.

use std::collections::VecDeque;

use crate::agent::tools::ToolOutput;
use crate::protocol::ToolCall;
use crate::protocol::{Entry, EntryKind};

/// What the transcript says about one call.
#[derive(Debug, Clone, PartialEq)]
struct Done {
    call: u32,
    tool: ToolCall,
    result: Option<ToolOutput>,
}

/// The answer for a call the agent makes while resuming.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Replay {
    /// It ran before: this is what it returned.
    Ran(ToolOutput),
    /// It was running when drover stopped: its result is lost, and it must not run again.
    Interrupted,
    /// Past the journal (or the agent took another path): run it.
    Live,
}

#[derive(Debug, Default)]
pub(crate) struct Journal {
    calls: VecDeque<Done>,
    /// Notes and assistant text written after the last call, in order.
    trailing: VecDeque<EntryKind>,
    /// Highest call number in the transcript (new calls are numbered after it).
    last_call: u32,
}

impl Journal {
    pub(crate) fn from_entries(entries: &[Entry]) -> Journal {
        let mut j = Journal::default();
        for e in entries {
            match &e.kind {
                EntryKind::ToolCall { call, tool } => {
                    j.trailing.clear();
                    j.last_call = j.last_call.max(*call);
                    j.calls.push_back(Done {
                        call: *call,
                        tool: tool.clone(),
                        result: None,
                    });
                }
                kind @ EntryKind::ToolResult { .. } => {
                    j.trailing.clear();
                    if let Some((call, out)) = kind.as_tool_result()
                        && let Some(d) = j.calls.iter_mut().rev().find(|d| d.call == call)
                    {
                        d.result = Some(out);
                    }
                }
                other => j.trailing.push_back(other.clone()),
            }
        }
        j
    }

    /// Nothing to replay: a fresh attempt.
    pub(crate) fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.trailing.is_empty()
    }

    /// The last call has no recorded result: the agent was waiting on it.
    pub(crate) fn in_flight(&self) -> bool {
        self.calls.back().is_some_and(|d| d.result.is_none())
    }

    pub(crate) fn last_call(&self) -> u32 {
        self.last_call
    }

    /// Calls up to `n` were accounted for elsewhere (a restored conversation): drop them.
    pub(crate) fn skip_through(&mut self, n: u32) {
        while self.calls.front().is_some_and(|d| d.call <= n) {
            self.calls.pop_front();
        }
    }

    /// Calls the agent still has to replay.
    pub(crate) fn replaying(&self) -> bool {
        !self.calls.is_empty()
    }

    /// The agent asks for call number `n`, `tool`.
    pub(crate) fn take(&mut self, n: u32, tool: &ToolCall) -> Replay {
        match self.calls.front() {
            Some(d) if d.call == n && &d.tool == tool => {
                let d = self.calls.pop_front().map(|d| d.result);
                match d {
                    Some(Some(out)) => Replay::Ran(out),
                    _ => Replay::Interrupted,
                }
            }
            Some(_) => {
                // Another path than before: what the journal still holds will not come.
                self.calls.clear();
                self.trailing.clear();
                Replay::Live
            }
            None => Replay::Live,
        }
    }

    /// Whether `kind` is already in the transcript and must not be written again: notes
    /// made while calls are still being replayed, and the text that followed the last
    /// call (matched in order; the first difference ends the matching).
    pub(crate) fn already_written(&mut self, kind: &EntryKind) -> bool {
        if matches!(
            kind,
            EntryKind::ToolCall { .. } | EntryKind::ToolResult { .. }
        ) {
            return false;
        }
        if self.replaying() {
            return true;
        }
        match self.trailing.front() {
            Some(t) if t == kind => {
                self.trailing.pop_front();
                true
            }
            Some(_) => {
                self.trailing.clear();
                false
            }
            None => false,
        }
    }
}

/// What the transcript says about a call that was running when drover stopped.
pub(crate) const INTERRUPTED: &str = "[drover stopped while this was running: its output is lost and it was not run again; whatever it changed in /workspace is kept]";

#[cfg(test)]
mod tests {
    use super::*;

    fn bash(c: &str) -> ToolCall {
        ToolCall::Bash {
            command: c.into(),
            timeout_secs: None,
        }
    }

    fn call(n: u32, c: &str) -> Entry {
        Entry::now(EntryKind::ToolCall {
            call: n,
            tool: bash(c),
        })
    }

    fn result(n: u32, out: &str) -> Entry {
        Entry::now(EntryKind::ToolResult {
            call: n,
            ok: true,
            exit_code: Some(0),
            output: out.into(),
            truncated: 0,
            duration_ms: 5,
            timed_out: false,
        })
    }

    fn say(t: &str) -> EntryKind {
        EntryKind::Assistant { text: t.into() }
    }

    #[test]
    fn persisted_calls_replay_their_result_and_the_one_in_flight_is_not_rerun() {
        let entries = vec![
            Entry::now(say("start")),
            call(1, "echo one"),
            result(1, "one\n"),
            call(2, "echo two"),
        ];
        let mut j = Journal::from_entries(&entries);
        assert_eq!(j.last_call(), 2);
        assert!(
            j.already_written(&say("start")),
            "replayed text is not rewritten"
        );
        match j.take(1, &bash("echo one")) {
            Replay::Ran(out) => assert_eq!(out.output, "one\n"),
            other => panic!("{other:?}"),
        }
        assert_eq!(j.take(2, &bash("echo two")), Replay::Interrupted);
        assert_eq!(j.take(3, &bash("echo three")), Replay::Live);
        assert!(
            !j.already_written(&say("new")),
            "past the journal, text is written"
        );
    }

    #[test]
    fn another_path_runs_live_from_there() {
        let mut j = Journal::from_entries(&[call(1, "a"), result(1, ""), call(2, "b")]);
        assert!(matches!(j.take(1, &bash("a")), Replay::Ran(_)));
        assert_eq!(j.take(2, &bash("c")), Replay::Live);
        assert!(!j.replaying());
        assert_eq!(j.take(3, &bash("b")), Replay::Live);
    }

    #[test]
    fn text_after_the_last_call_is_matched_in_order() {
        let mut j = Journal::from_entries(&[
            call(1, "a"),
            result(1, ""),
            Entry::now(say("x")),
            Entry::now(say("y")),
        ]);
        assert!(matches!(j.take(1, &bash("a")), Replay::Ran(_)));
        assert!(j.already_written(&say("x")));
        assert!(
            !j.already_written(&say("z")),
            "a difference ends the matching"
        );
        assert!(!j.already_written(&say("y")));
    }

    #[test]
    fn a_restored_conversation_skips_the_calls_it_holds() {
        let mut j = Journal::from_entries(&[
            call(1, "a"),
            result(1, ""),
            call(2, "b"),
            result(2, "B"),
            call(3, "c"),
        ]);
        j.skip_through(1);
        assert!(matches!(j.take(2, &bash("b")), Replay::Ran(o) if o.output == "B"));
        assert_eq!(j.take(3, &bash("c")), Replay::Interrupted);
        assert!(Journal::from_entries(&[]).is_empty());
    }
}
