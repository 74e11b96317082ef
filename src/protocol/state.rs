//! The task state machine: one pure function decides every transition.
//!
//! `Queued → Provisioning → Running → Verifying → Review → Approved → Pushed`, with
//! `Failed`, `Cancelled` and `Interrupted` reachable from the active states, `Retry`
//! re-queueing a resting task and `Discard` retiring it. Nothing here does I/O: the
//! supervisor and scheduler ask `next` and persist what it answers.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskState {
    Queued,
    Provisioning,
    Running,
    Verifying,
    Review,
    Approved,
    /// Approved, but the push cannot go ahead without the user (e.g. the remote moved).
    Blocked {
        reason: String,
    },
    Pushed,
    /// The pull request was merged (or the remote base holds the branch's commits).
    Merged,
    /// The pull request was closed without merging.
    Closed,
    Failed {
        reason: String,
    },
    Cancelled,
    /// Stopped by something other than its work: it can resume where it stopped.
    Interrupted {
        reason: String,
        /// Why, as the engine acts on it (a Docker outage resumes by itself).
        #[serde(default, skip_serializing_if = "Cause::is_other")]
        cause: Cause,
    },
    Discarded,
}

/// What interrupted a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Docker went away: the task resumes once it is back.
    DockerLost,
    #[default]
    Other,
}

impl Cause {
    pub fn is_other(&self) -> bool {
        *self == Cause::Other
    }
}

/// What happened to a task; `next` turns it into the new state or refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// A worker slot was given to the task.
    Start,
    /// Workspace and container are ready; the agent starts.
    Provisioned,
    /// The agent finished; the verifier starts.
    AgentDone,
    /// Tests failed and iterations remain: the agent gets the failure back.
    Iterate,
    /// The verifier finished (pass or fail): a human reviews.
    Verified,
    Fail(String),
    Cancel,
    Interrupt(String, Cause),
    /// A new attempt: back to the queue. With feedback it continues in the same
    /// workspace; without, from scratch.
    Retry {
        feedback: Option<String>,
    },
    /// An interrupted attempt goes on where it stopped: back to the queue, keeping its
    /// workspace and transcript.
    Resume,
    /// drover stopped while the task was active and its container is still there: back
    /// to the queue to carry on in that container.
    Reattach,
    Approve,
    Push,
    /// The push found something it must not override.
    Block(String),
    /// The pushed branch's pull request was merged, or the remote base holds it.
    Merge,
    /// Its pull request was closed without merging.
    Close,
    /// A closed pull request was opened again.
    Reopen,
    Discard,
}

/// A transition the state machine refuses, with what to do instead when there is
/// something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IllegalTransition {
    pub from: String,
    pub transition: String,
    #[serde(default)]
    pub hint: Option<String>,
}

impl fmt::Display for IllegalTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let task = match self.from.as_str() {
            "review" => "a task in review".to_string(),
            "provisioning" => "a task being provisioned".to_string(),
            "verifying" => "a task being verified".to_string(),
            s @ ("approved" | "interrupted") => format!("an {s} task"),
            s => format!("a {s} task"),
        };
        write!(f, "cannot {} {task}", self.transition)?;
        match &self.hint {
            Some(h) => write!(f, ": {h}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for IllegalTransition {}

impl TaskState {
    /// Occupies a worker slot (and a running container).
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            TaskState::Provisioning | TaskState::Running | TaskState::Verifying
        )
    }

    /// Nothing will happen to the task until someone acts on it.
    pub fn is_resting(&self) -> bool {
        !self.is_active() && *self != TaskState::Queued
    }

    pub fn name(&self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Provisioning => "provisioning",
            TaskState::Running => "running",
            TaskState::Verifying => "verifying",
            TaskState::Review => "review",
            TaskState::Approved => "approved",
            TaskState::Blocked { .. } => "blocked",
            TaskState::Pushed => "pushed",
            TaskState::Merged => "merged",
            TaskState::Closed => "closed",
            TaskState::Failed { .. } => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Interrupted { .. } => "interrupted",
            TaskState::Discarded => "discarded",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            TaskState::Failed { reason }
            | TaskState::Interrupted { reason, .. }
            | TaskState::Blocked { reason } => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            Some(r) => write!(f, "{}: {r}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

impl Transition {
    fn verb(&self) -> &'static str {
        match self {
            Transition::Start => "start",
            Transition::Provisioned => "run the agent of",
            Transition::AgentDone => "verify",
            Transition::Iterate => "iterate on",
            Transition::Verified => "review",
            Transition::Fail(_) => "fail",
            Transition::Cancel => "cancel",
            Transition::Interrupt(..) => "interrupt",
            Transition::Retry { .. } => "retry",
            Transition::Resume => "resume",
            Transition::Reattach => "reattach",
            Transition::Approve => "approve",
            Transition::Push => "push",
            Transition::Block(_) => "block",
            Transition::Merge => "mark merged",
            Transition::Close => "mark closed",
            Transition::Reopen => "reopen",
            Transition::Discard => "discard",
        }
    }
}

/// The only place that decides whether `t` may happen in state `from`.
pub fn next(from: &TaskState, t: Transition) -> Result<TaskState, IllegalTransition> {
    use TaskState as S;
    use Transition as T;
    let to = match (from, &t) {
        (S::Queued, T::Start) => S::Provisioning,
        (S::Provisioning, T::Provisioned) => S::Running,
        (S::Running, T::AgentDone) => S::Verifying,
        (S::Verifying, T::Iterate) => S::Running,
        (S::Verifying, T::Verified) => S::Review,
        (s, T::Fail(reason)) if s.is_active() => S::Failed {
            reason: reason.clone(),
        },
        (s, T::Interrupt(reason, cause)) if s.is_active() => S::Interrupted {
            reason: reason.clone(),
            cause: *cause,
        },
        (s, T::Cancel) if s.is_active() || *s == S::Queued => S::Cancelled,
        // From a pushed task: a follow-up attempt on the same branch and pull request.
        (
            S::Review
            | S::Failed { .. }
            | S::Cancelled
            | S::Interrupted { .. }
            | S::Blocked { .. }
            | S::Pushed,
            T::Retry { .. },
        ) => S::Queued,
        (S::Interrupted { .. }, T::Resume) => S::Queued,
        (s, T::Reattach) if s.is_active() => S::Queued,
        (S::Review, T::Approve) => S::Approved,
        (S::Approved | S::Blocked { .. }, T::Push) => S::Pushed,
        (S::Approved | S::Blocked { .. }, T::Block(reason)) => S::Blocked {
            reason: reason.clone(),
        },
        (S::Pushed | S::Closed, T::Merge) => S::Merged,
        (S::Pushed, T::Close) => S::Closed,
        (S::Closed, T::Reopen) => S::Pushed,
        (s, T::Discard) if !s.is_active() && *s != S::Discarded => S::Discarded,
        _ => {
            // Point at retry only where retry would go ahead.
            let retry = matches!(t, T::Resume) && next(from, T::Retry { feedback: None }).is_ok();
            let hint = match t {
                T::Resume if retry => {
                    Some("only an interrupted task can resume (retry starts a new attempt)")
                }
                T::Resume => Some("only an interrupted task can resume"),
                _ => None,
            };
            return Err(IllegalTransition {
                from: from.name().into(),
                transition: t.verb().into(),
                hint: hint.map(String::from),
            });
        }
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_states() -> Vec<TaskState> {
        vec![
            TaskState::Queued,
            TaskState::Provisioning,
            TaskState::Running,
            TaskState::Verifying,
            TaskState::Review,
            TaskState::Approved,
            TaskState::Blocked { reason: "z".into() },
            TaskState::Pushed,
            TaskState::Merged,
            TaskState::Closed,
            TaskState::Failed { reason: "x".into() },
            TaskState::Cancelled,
            TaskState::Interrupted {
                reason: "y".into(),
                cause: Cause::Other,
            },
            TaskState::Discarded,
        ]
    }

    fn all_transitions() -> Vec<Transition> {
        vec![
            Transition::Start,
            Transition::Provisioned,
            Transition::AgentDone,
            Transition::Iterate,
            Transition::Verified,
            Transition::Fail("boom".into()),
            Transition::Cancel,
            Transition::Interrupt("gone".into(), Cause::Other),
            Transition::Retry { feedback: None },
            Transition::Resume,
            Transition::Reattach,
            Transition::Approve,
            Transition::Push,
            Transition::Block("moved".into()),
            Transition::Merge,
            Transition::Close,
            Transition::Reopen,
            Transition::Discard,
        ]
    }

    /// The full table: every (state, transition) pair, legal ones with their target.
    /// Adding a state or transition without deciding its row fails this test.
    #[test]
    fn exhaustive_transition_table() {
        let mut table = String::new();
        for s in all_states() {
            for t in all_transitions() {
                let cell = match next(&s, t.clone()) {
                    Ok(to) => to.to_string(),
                    Err(_) => "-".into(),
                };
                if cell != "-" {
                    table.push_str(&format!("{:<12} {:<16} -> {cell}\n", s.name(), t.verb()));
                }
            }
        }
        let expected = "\
queued       start            -> provisioning
queued       cancel           -> cancelled
queued       discard          -> discarded
provisioning run the agent of -> running
provisioning fail             -> failed: boom
provisioning cancel           -> cancelled
provisioning interrupt        -> interrupted: gone
provisioning reattach         -> queued
running      verify           -> verifying
running      fail             -> failed: boom
running      cancel           -> cancelled
running      interrupt        -> interrupted: gone
running      reattach         -> queued
verifying    iterate on       -> running
verifying    review           -> review
verifying    fail             -> failed: boom
verifying    cancel           -> cancelled
verifying    interrupt        -> interrupted: gone
verifying    reattach         -> queued
review       retry            -> queued
review       approve          -> approved
review       discard          -> discarded
approved     push             -> pushed
approved     block            -> blocked: moved
approved     discard          -> discarded
blocked      retry            -> queued
blocked      push             -> pushed
blocked      block            -> blocked: moved
blocked      discard          -> discarded
pushed       retry            -> queued
pushed       mark merged      -> merged
pushed       mark closed      -> closed
pushed       discard          -> discarded
merged       discard          -> discarded
closed       mark merged      -> merged
closed       reopen           -> pushed
closed       discard          -> discarded
failed       retry            -> queued
failed       discard          -> discarded
cancelled    retry            -> queued
cancelled    discard          -> discarded
interrupted  retry            -> queued
interrupted  resume           -> queued
interrupted  discard          -> discarded
";
        assert_eq!(table, expected);
    }

    #[test]
    fn illegal_transition_is_an_error_with_a_message() {
        let err = next(&TaskState::Pushed, Transition::Start).unwrap_err();
        assert_eq!(err.to_string(), "cannot start a pushed task");
        let err = next(&TaskState::Running, Transition::Discard).unwrap_err();
        assert_eq!(err.to_string(), "cannot discard a running task");
        let err = next(&TaskState::Review, Transition::Resume).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot resume a task in review: only an interrupted task can resume (retry starts a new attempt)"
        );
    }

    #[test]
    fn active_and_resting_partition_all_but_queued() {
        for s in all_states() {
            let classes = [s.is_active(), s.is_resting(), s == TaskState::Queued];
            assert_eq!(classes.iter().filter(|c| **c).count(), 1, "{s:?}");
        }
    }

    #[test]
    fn state_serializes_as_tagged_json() {
        let s = TaskState::Failed {
            reason: "no".into(),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"state":"failed","reason":"no"}"#);
        assert_eq!(serde_json::from_str::<TaskState>(&json).unwrap(), s);
    }
}
