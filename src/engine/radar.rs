//! The conflict radar, engine side: whenever a task is added or changes state, compare
//! the tasks in review or approved of each repository and tell each which others change
//! the same files and whether they merge together (`EventBody::Overlaps`).
//!
//! The git work (trees, in-memory merges, caches) is `workspace::overlap`; this module
//! decides when to look, which tasks to compare, and emits only what changed.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::EngineCtx;
use crate::protocol::EventBody;
use crate::protocol::Overlap;
use crate::protocol::TaskId;
use crate::protocol::TaskState;
use crate::workspace::overlap::{Radar, Side};

/// State changes come in bursts (approve, a batch finishing): look once they settle.
const SETTLE: Duration = Duration::from_millis(200);

fn compared(state: &TaskState) -> bool {
    matches!(state, TaskState::Review | TaskState::Approved)
}

/// Runs until `stop`: a scan after every burst of state changes.
pub(super) async fn run(ctx: Arc<EngineCtx>, repo: Option<PathBuf>, stop: CancellationToken) {
    let mut radar = Radar::default();
    let mut shown: HashMap<TaskId, Vec<Overlap>> = HashMap::new();
    loop {
        tokio::select! {
            _ = ctx.bus.states.notified() => {}
            _ = stop.cancelled() => return,
        }
        tokio::time::sleep(SETTLE).await;
        let c = ctx.clone();
        let r = repo.clone();
        let scanned =
            tokio::task::spawn_blocking(move || (scan(&c, r.as_deref(), &mut radar), radar)).await;
        let Ok((found, back)) = scanned else { return };
        radar = back;
        // Tasks that left review lose their list; the others get theirs if it changed.
        for (id, overlaps) in &found {
            if shown.get(id) != Some(overlaps) {
                ctx.bus.emit(
                    Some(id),
                    0,
                    EventBody::Overlaps {
                        overlaps: overlaps.clone(),
                    },
                );
            }
        }
        for (id, old) in shown.iter() {
            if !found.contains_key(id) && !old.is_empty() {
                ctx.bus
                    .emit(Some(id), 0, EventBody::Overlaps { overlaps: vec![] });
            }
        }
        shown = found;
    }
}

/// Every path a task's recorded tree changes from its base (both sides of a rename).
fn every_changed_file(
    ctx: &EngineCtx,
    t: &crate::protocol::TaskRecord,
    d: &crate::protocol::DiffSummary,
) -> Option<Vec<String>> {
    let git = t.git(&ctx.data);
    let store = git.open_store().ok()?;
    let base = store.find_commit(git.base_oid().ok()?).ok()?.tree_id();
    let tree = git2::Oid::from_str(d.tree.as_deref()?).ok()?;
    crate::workspace::changed_paths(&store, base, tree).ok()
}

/// Overlaps for every task in review or approved (per repository).
fn scan(
    ctx: &EngineCtx,
    repo: Option<&std::path::Path>,
    radar: &mut Radar,
) -> HashMap<TaskId, Vec<Overlap>> {
    let Ok(tasks) = ctx.store.tasks(repo) else {
        return HashMap::new();
    };
    let mut by_repo: HashMap<(PathBuf, PathBuf), Vec<(TaskId, Side)>> = HashMap::new();
    // Attempts of one task run side by side change the same files on purpose: only one
    // of them will be kept, so they are not each other's conflicts.
    let mut group_of: HashMap<String, String> = HashMap::new();
    for t in tasks.into_iter().filter(|t| compared(&t.state)) {
        if let Some(g) = &t.group {
            group_of.insert(t.id.to_string(), g.id.clone());
        }
        let Ok(a) = ctx.store.attempt(&t.id, t.attempt) else {
            continue;
        };
        let files: Vec<String> = match &a.diff {
            // The summary lists only so many files: the trees say which the rest are.
            Some(d) if d.omitted.files > 0 => every_changed_file(ctx, &t, d).unwrap_or_default(),
            Some(d) => d
                .files
                .iter()
                .flat_map(|f| std::iter::once(f.path.clone()).chain(f.old_path.clone()))
                .collect(),
            None => Vec::new(),
        };
        let version = format!(
            "{}:{:?}:{:?}",
            t.attempt,
            a.approved_commit,
            a.diff.as_ref().and_then(|d| d.tree.as_ref()),
        );
        let side = Side {
            id: t.id.to_string(),
            title: t.title.clone(),
            base: t.base_commit.clone(),
            commit: a.approved_commit.clone(),
            tree: a.diff.as_ref().and_then(|d| d.tree.clone()),
            files,
            version,
        };
        by_repo
            .entry((t.repo.clone(), ctx.data.git_store(&t.repo_hash)))
            .or_default()
            .push((t.id, side));
    }
    let mut out = HashMap::new();
    let mut live = BTreeSet::new();
    for ((repo, store), entries) in by_repo {
        let sides: Vec<Side> = entries.iter().map(|(_, s)| s.clone()).collect();
        live.extend(sides.iter().map(|s| s.id.clone()));
        match radar.scan(&store, &repo, &sides) {
            Ok(mut found) => {
                for (id, _) in entries {
                    let mut list = found.remove(id.as_str()).unwrap_or_default();
                    if let Some(g) = group_of.get(id.as_str()) {
                        list.retain(|o| group_of.get(o.id.as_str()) != Some(g));
                    }
                    out.insert(id, list);
                }
            }
            Err(e) => tracing::warn!("conflict radar for {}: {e}", repo.display()),
        }
    }
    radar.retain(&live);
    out
}
