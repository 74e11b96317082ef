//! Best-of-N on the command line: a task's side-by-side attempts with their rank, for
//! `drover show` (a table) and `drover show --json` (`group.attempts`). The ranking is
//! `protocol::rank`'s.

use serde_json::{Value, json};

use crate::protocol::{AttemptRecord, TaskRecord, rank};
use crate::store::Store;

/// The task's group: its attempts (each task with its current attempt record), in the
/// order queued.
fn members(store: &Store, t: &TaskRecord) -> Vec<(TaskRecord, AttemptRecord)> {
    let Some(g) = &t.group else {
        return Vec::new();
    };
    let mut all: Vec<(TaskRecord, AttemptRecord)> = store
        .tasks(Some(&t.repo))
        .unwrap_or_default()
        .into_iter()
        .filter(|o| o.group.as_ref().is_some_and(|og| og.id == g.id))
        .filter_map(|o| {
            let a = store.attempt(&o.id, o.attempt).ok()?;
            Some((o, a))
        })
        .collect();
    all.sort_by_key(|(o, _)| o.group.as_ref().map_or(0, |g| g.index));
    all
}

/// Each member's rank (resting ones only; a discarded one is out of the running).
fn ranked(members: &[(TaskRecord, AttemptRecord)]) -> Vec<Option<u32>> {
    let resting: Vec<Option<&AttemptRecord>> = members
        .iter()
        .map(|(t, a)| {
            (t.state.is_resting() && t.state != crate::protocol::TaskState::Discarded).then_some(a)
        })
        .collect();
    rank::ranks(&resting)
}

/// `group` of `drover show --json`: the attempts side by side, with their rank.
pub(super) fn json(store: &Store, t: &TaskRecord) -> Option<Value> {
    let g = t.group.as_ref()?;
    let members = members(store, t);
    let ranks = ranked(&members);
    let attempts: Vec<Value> = members
        .iter()
        .zip(ranks)
        .map(|((o, a), rank)| {
            json!({
                "id": o.id,
                "index": o.group.as_ref().map(|g| g.index),
                "agent": o.agent.label(),
                "state": o.state.name(),
                "rank": rank,
                "verdict": a.tests.as_ref().map(|r| r.verdict),
                "passed": a.tests.as_ref().and_then(|r| r.passed),
                "failed": a.tests.as_ref().and_then(|r| r.failed),
                "new_failures": a.tests.as_ref().and_then(|r| r.new_failures.as_ref().map(Vec::len)),
                "insertions": a.diff.as_ref().map(|d| d.insertions),
                "deletions": a.diff.as_ref().map(|d| d.deletions),
                "files": a.diff.as_ref().map(|d| d.files.len()),
                "tokens": a.usage.as_ref().map(|u| u.input_tokens + u.output_tokens),
                "cost_usd": a.usage.as_ref().and_then(|u| u.cost_usd),
                "started_at": a.started_at,
                "finished_at": a.finished_at,
            })
        })
        .collect();
    Some(json!({"id": g.id, "index": g.index, "of": g.of, "attempts": attempts}))
}

/// The attempts side by side, for `drover show`.
pub(super) fn lines(store: &Store, t: &TaskRecord) -> Vec<String> {
    let members = members(store, t);
    if members.is_empty() {
        return Vec::new();
    }
    let ranks = ranked(&members);
    let mut out = vec![format!(
        "{} attempts side by side (best-of-N), ranked by their tests:",
        members.len()
    )];
    for ((o, a), rank) in members.iter().zip(ranks) {
        let rank = rank.map_or("  -".to_string(), |r| format!("#{r:<2}"));
        let tests = a
            .tests
            .as_ref()
            .map_or("not run".to_string(), |r| r.summary());
        let diff = a.diff.as_ref().map_or("—".to_string(), |d| {
            format!("+{} −{}", d.insertions, d.deletions)
        });
        let me = if o.id == t.id { " ← this one" } else { "" };
        out.push(format!(
            "  {rank} {}  {:<12} {:<28} {diff:<12} {}{me}",
            o.id,
            o.state.name(),
            crate::text::ellipsize(&o.agent.label(), 28),
            crate::text::inert(&tests)
        ));
    }
    out
}
