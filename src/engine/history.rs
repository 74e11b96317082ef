//! What a front end that selects a task is given of its past: the stored history of its
//! current attempt, bounded (the newest entries, the end of the test log, the first page
//! of the patch), and further pages of the long texts on request.
//!
//! Blocking (file and git reads): call from `spawn_blocking`. The patch is the one of the
//! attempt's latest recorded snapshot, from drover's own repository: no workspace is
//! read here.

use std::sync::Arc;

use super::EngineCtx;
use super::core::lock;
use crate::protocol::{
    CommandError, Entry, HISTORY_ENTRIES_BYTES, History, LongText, MAX_LINE, PAGE, Page, TaskId,
    TaskRecord,
};

/// Entries' fields are cut to this in a history (the transcript file keeps them whole).
const ENTRY_FIELD: usize = 64 << 10;

pub(super) fn history(ctx: &EngineCtx, task: &TaskRecord) -> History {
    let n = task.attempt;
    let attempt = ctx.store.attempt(&task.id, n).unwrap_or_default();
    let (entries, mut warnings) =
        match crate::store::read_transcript(&ctx.data.transcript(&task.id, n)) {
            Ok(r) => r,
            Err(e) => (Vec::new(), vec![format!("transcript: {e}")]),
        };
    let (entries, earlier) = newest(entries, HISTORY_ENTRIES_BYTES);
    let test_log = read_text(ctx, task, LongText::TestOutput).unwrap_or_default();
    let test_output = crate::protocol::tail(&test_log, PAGE).to_string();
    let patch = match read_text(ctx, task, LongText::Patch) {
        Ok(p) => Page::of(&p, 0),
        Err(e) => {
            warnings.push(format!("diff: {e}"));
            Page::default()
        }
    };
    let mut h = History {
        attempt,
        entries,
        earlier,
        test_output,
        patch,
        warnings,
    };
    // Escaped for JSON, text of control bytes grows sixfold: a history that would not
    // fit one message is cut further (the rest stays a page or `drover logs` away).
    let size = |h: &History| serde_json::to_vec(h).map_or(0, |v| v.len());
    if size(&h) > MAX_LINE / 2 {
        let all = h.earlier + h.entries.len() as u64;
        let (kept, _) = newest(std::mem::take(&mut h.entries), HISTORY_ENTRIES_BYTES / 8);
        h.entries = kept;
        h.earlier = all - h.entries.len() as u64;
        h.test_output = crate::protocol::tail(&h.test_output, 16 << 10).to_string();
        h.patch.text.clear();
        h.warnings
            .push("the history was cut to fit one message: scroll for the patch".into());
    }
    h
}

/// The patch of one recorded tree, kept while a reader pages through it.
pub(super) struct Paged {
    task: TaskId,
    tree: String,
    patch: Arc<String>,
}

/// A page of one of the attempt's long texts, from byte `from`.
pub(super) fn page(
    ctx: &EngineCtx,
    task: &TaskRecord,
    text: LongText,
    from: u64,
) -> Result<Page, CommandError> {
    let from = usize::try_from(from).unwrap_or(usize::MAX);
    let whole = read_text(ctx, task, text).map_err(CommandError::failed)?;
    let page = Page::of(&whole, from);
    if page.rest() == 0 {
        // Read to its end: the reader needs it no more.
        *lock(&ctx.paged) = None;
    }
    Ok(page)
}

/// The newest entries that fit in `budget` bytes (each capped), and how many older
/// ones were left out.
fn newest(entries: Vec<Entry>, budget: usize) -> (Vec<Entry>, u64) {
    let mut kept = Vec::new();
    let mut used = 0usize;
    let total = entries.len();
    for e in entries.into_iter().rev() {
        let e = e.capped(ENTRY_FIELD);
        // As it travels: escaped for JSON.
        used += serde_json::to_vec(&e).map_or_else(|_| e.weight(), |v| v.len());
        if used > budget && !kept.is_empty() {
            break;
        }
        kept.push(e);
    }
    kept.reverse();
    let earlier = (total - kept.len()) as u64;
    (kept, earlier)
}

/// The whole of a long text of the task's current attempt.
fn read_text(ctx: &EngineCtx, task: &TaskRecord, text: LongText) -> Result<Arc<String>, String> {
    let dir = ctx.data.attempt_dir(&task.id, task.attempt);
    match text {
        LongText::TestOutput => Ok(std::fs::read_to_string(dir.join("test.log"))
            .unwrap_or_default()
            .into()),
        LongText::Patch => {
            let attempt = ctx
                .store
                .attempt(&task.id, task.attempt)
                .map_err(|e| e.to_string())?;
            match attempt.diff.and_then(|d| d.tree) {
                Some(tree) => kept_patch(ctx, task, tree),
                None => Ok(std::fs::read_to_string(dir.join("diff.patch"))
                    .unwrap_or_default()
                    .into()),
            }
        }
    }
}

/// The patch to `tree`, kept while it is longer than a page (a reader pages through it,
/// and making it again would cost a whole diff per page). The task's base and a tree
/// name a patch exactly.
fn kept_patch(ctx: &EngineCtx, task: &TaskRecord, tree: String) -> Result<Arc<String>, String> {
    if let Some(p) = lock(&ctx.paged)
        .as_ref()
        .filter(|p| p.tree == tree && p.task == task.id)
    {
        return Ok(p.patch.clone());
    }
    let patch = Arc::new(recorded_patch(ctx, task, &tree)?);
    if patch.len() > PAGE {
        *lock(&ctx.paged) = Some(Paged {
            task: task.id.clone(),
            tree,
            patch: patch.clone(),
        });
    }
    Ok(patch)
}

/// The patch from attempt `a`'s last recorded tree to attempt `b`'s (both the same
/// task, as of those attempts): what the later attempt did differently.
pub(super) fn between(ctx: &EngineCtx, a: &TaskRecord, b: &TaskRecord) -> Result<String, String> {
    let tree = |t: &TaskRecord| -> Result<git2::Oid, String> {
        let rec = ctx
            .store
            .attempt(&t.id, t.attempt)
            .map_err(|e| e.to_string())?;
        let tree = rec
            .diff
            .and_then(|d| d.tree)
            .ok_or_else(|| format!("attempt {} recorded no diff to compare", t.attempt))?;
        git2::Oid::from_str(&tree).map_err(|e| e.message().to_string())
    };
    let (old, new) = (tree(a)?, tree(b)?);
    let store = a.git(&ctx.data).open_store().map_err(|e| e.to_string())?;
    crate::workspace::diff_trees(&store, old, new)
        .map(|d| d.patch)
        .map_err(|e| e.message().to_string())
}

/// The patch from the task's base to a snapshot tree it recorded.
fn recorded_patch(ctx: &EngineCtx, task: &TaskRecord, tree: &str) -> Result<String, String> {
    let git = task.git(&ctx.data);
    let store = git.open_store().map_err(|e| e.to_string())?;
    let err = |e: git2::Error| e.message().to_string();
    let base = store
        .find_commit(git.base_oid().map_err(|e| e.to_string())?)
        .map_err(err)?
        .tree_id();
    let tree = git2::Oid::from_str(tree).map_err(err)?;
    crate::workspace::diff_trees(&store, base, tree)
        .map(|d| d.patch)
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::EntryKind;

    fn said(text: &str) -> Entry {
        Entry {
            at: String::new(),
            kind: EntryKind::Assistant { text: text.into() },
        }
    }

    #[test]
    fn a_history_keeps_the_newest_entries_that_fit() {
        let entries: Vec<Entry> = (0..100).map(|i| said(&format!("{i:0>100}"))).collect();
        // Weighed as they travel: their JSON.
        let one = serde_json::to_vec(&entries[0]).unwrap().len();
        let (kept, earlier) = newest(entries.clone(), one * 10);
        assert_eq!(kept.len(), 10);
        assert_eq!(earlier, 90);
        assert_eq!(kept.last(), entries.last());
        let (all, none) = newest(entries, usize::MAX);
        assert_eq!((all.len(), none), (100, 0));
    }

    /// Text that grows when escaped (control bytes become `\u00XX`) is weighed as it
    /// will travel, so a history never outgrows one message.
    #[test]
    fn entries_are_weighed_escaped() {
        let entries: Vec<Entry> = (0..10).map(|_| said(&"\u{1}".repeat(1000))).collect();
        let (kept, _) = newest(entries, 10_000);
        assert_eq!(kept.len(), 1, "each is over 6,000 bytes as JSON");
    }

    #[test]
    fn a_huge_entry_is_cut_not_dropped() {
        let (kept, earlier) = newest(vec![said(&"x".repeat(10 << 20))], 1024);
        assert_eq!(earlier, 0);
        assert!(kept[0].weight() < ENTRY_FIELD + 1024);
    }
}
