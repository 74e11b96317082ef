//! Cross-task conflict radar, the git side: which tasks change the same files, and whether
//! their changes merge together cleanly. All in memory (git2), nothing written to any
//! work tree, index or ref.
//!
//! A task's side is its approved commit, or for a task still in review the tree of its
//! latest snapshot (`snapshot`): the radar reads drover's own repository only, never a
//! workspace. Pairs that share no file cannot conflict and are never merged; trees and
//! merge results are cached, so after one task's diff changes only its own pairs are
//! merged again. Which tasks to compare and when is the engine's business.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use git2::{Oid, Repository};

use super::WorkspaceError;
use crate::protocol::Overlap;

/// One task as the radar sees it.
#[derive(Debug, Clone)]
pub struct Side {
    pub id: String,
    pub title: String,
    /// The commit the task started from.
    pub base: String,
    /// The approved commit, when there is one; else `tree` is the change.
    pub commit: Option<String>,
    /// The tree of the task's latest snapshot (in drover's repository).
    pub tree: Option<String>,
    /// Files the task changes (from its diff).
    pub files: Vec<String>,
    /// Changes whenever the workspace may have changed (attempt, diff size, commit).
    pub version: String,
}

/// The paths with conflicts in a merge result.
pub fn conflict_paths(index: &git2::Index) -> Result<Vec<String>, git2::Error> {
    let mut files: Vec<String> = index
        .conflicts()?
        .flatten()
        .filter_map(|c| c.our.or(c.their).or(c.ancestor))
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

fn tree_of(repo: &Repository, side: &Side) -> Result<Oid, String> {
    let err = |e: git2::Error| format!("task {}: {}", side.id, e.message());
    match (&side.commit, &side.tree) {
        (Some(c), _) => {
            let oid = Oid::from_str(c).map_err(err)?;
            Ok(repo.find_commit(oid).map_err(err)?.tree_id())
        }
        (None, Some(t)) => {
            let oid = Oid::from_str(t).map_err(err)?;
            repo.find_tree(oid).map_err(err)?;
            Ok(oid)
        }
        (None, None) => Err(format!(
            "task {}: no snapshot of its workspace yet",
            side.id
        )),
    }
}

fn shared_files(a: &Side, b: &Side) -> Vec<String> {
    let theirs: BTreeSet<&String> = b.files.iter().collect();
    let mut v: Vec<String> = a
        .files
        .iter()
        .filter(|f| theirs.contains(f))
        .cloned()
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Which of `shared` conflict when `ours` and `theirs` are merged over `ancestor`. A file
/// only one side changed merges trivially, so only files both changed are merged (as
/// `git merge` would, line by line): the cost follows the overlap, not the repository.
fn conflicts_in(
    repo: &Repository,
    ancestor: Oid,
    ours: Oid,
    theirs: Oid,
    shared: &[String],
) -> Result<Vec<String>, git2::Error> {
    let (t0, ta, tb) = (
        repo.find_tree(ancestor)?,
        repo.find_tree(ours)?,
        repo.find_tree(theirs)?,
    );
    let entry = |t: &git2::Tree<'_>, p: &str| {
        t.get_path(Path::new(p))
            .ok()
            .map(|e| (e.id(), e.filemode()))
    };
    let mut conflicts = Vec::new();
    for p in shared {
        let (e0, ea, eb) = (entry(&t0, p), entry(&ta, p), entry(&tb, p));
        if ea == eb || ea == e0 || eb == e0 {
            continue;
        }
        let (Some((a, _)), Some((b, _))) = (ea, eb) else {
            // Deleted on one side, changed on the other.
            conflicts.push(p.clone());
            continue;
        };
        let blob = |id: Oid| repo.find_blob(id);
        let (blob_a, blob_b) = (blob(a)?, blob(b)?);
        let blob_0 = match e0 {
            Some((id, _)) => Some(blob(id)?),
            None => None,
        };
        fn input<'a>(content: &'a [u8], path: &str) -> git2::MergeFileInput<'a> {
            let mut i = git2::MergeFileInput::new();
            i.content(content).path(Path::new(path));
            i
        }
        // A file both added has an empty ancestor.
        let base = input(blob_0.as_ref().map_or(&[][..], |b| b.content()), p);
        let merged = git2::merge_file(
            &base,
            &input(blob_a.content(), p),
            &input(blob_b.content(), p),
            None,
        )?;
        if !merged.is_automergeable() {
            conflicts.push(p.clone());
        }
    }
    Ok(conflicts)
}

/// Caches trees per task version and merge results per pair of trees.
#[derive(Default)]
pub struct Radar {
    trees: HashMap<String, (String, Result<Oid, String>)>,
    merges: HashMap<(Oid, Oid, Oid), Result<Vec<String>, String>>,
}

impl Radar {
    /// Overlaps of every side with the others (sides of one repository, whose objects
    /// are in drover's repository `store`). Tasks with none are present with an empty
    /// list.
    pub fn scan(
        &mut self,
        store: &Path,
        user_repo: &Path,
        sides: &[Side],
    ) -> Result<HashMap<String, Vec<Overlap>>, WorkspaceError> {
        let mut out: HashMap<String, Vec<Overlap>> =
            sides.iter().map(|s| (s.id.clone(), Vec::new())).collect();
        let files: Vec<BTreeSet<&str>> = sides
            .iter()
            .map(|s| s.files.iter().map(String::as_str).collect())
            .collect();
        let mut pairs = Vec::new();
        for i in 0..sides.len() {
            for j in i + 1..sides.len() {
                let shared: Vec<String> = files[i]
                    .intersection(&files[j])
                    .map(|f| f.to_string())
                    .collect();
                if !shared.is_empty() {
                    pairs.push((i, j, shared));
                }
            }
        }
        if pairs.is_empty() {
            return Ok(out);
        }
        let repo = super::record::open_store(store, user_repo)?;
        for (i, j, shared) in pairs {
            let (a, b) = (&sides[i], &sides[j]);
            let result = self.merge(&repo, a, b);
            let (conflicts, error) = match result {
                Ok(c) => (c, None),
                Err(e) => (Vec::new(), Some(e)),
            };
            let listed = shared.len().min(crate::protocol::LISTED_OTHERS);
            let omitted_files = (shared.len() - listed) as u64;
            for (me, other) in [(a, b), (b, a)] {
                out.entry(me.id.clone()).or_default().push(Overlap {
                    id: other.id.clone(),
                    title: other.title.clone(),
                    files: shared[..listed].to_vec(),
                    omitted_files,
                    conflicts: conflicts.clone(),
                    error: error.clone(),
                });
            }
        }
        Ok(out)
    }

    fn tree(&mut self, repo: &Repository, side: &Side) -> Result<Oid, String> {
        if let Some((v, t)) = self.trees.get(&side.id)
            && *v == side.version
        {
            return t.clone();
        }
        let t = tree_of(repo, side);
        self.trees
            .insert(side.id.clone(), (side.version.clone(), t.clone()));
        t
    }

    /// Conflicting files when both sides are merged onto the merge base of their bases.
    fn merge(&mut self, repo: &Repository, a: &Side, b: &Side) -> Result<Vec<String>, String> {
        let ta = self.tree(repo, a)?;
        let tb = self.tree(repo, b)?;
        let err = |e: git2::Error| e.message().to_string();
        let base_a = Oid::from_str(&a.base).map_err(err)?;
        let base_b = Oid::from_str(&b.base).map_err(err)?;
        let ancestor = if base_a == base_b {
            base_a
        } else {
            repo.merge_base(base_a, base_b).map_err(err)?
        };
        let ancestor = repo.find_commit(ancestor).map_err(err)?.tree_id();
        // Order-free key: the pair (a, b) and (b, a) merge the same way. (The trees fix
        // which files differ, so the shared files need not be part of the key.)
        let key = (ancestor, ta.min(tb), ta.max(tb));
        if let Some(r) = self.merges.get(&key) {
            return r.clone();
        }
        let shared = shared_files(a, b);
        let r = conflicts_in(repo, ancestor, ta, tb, &shared).map_err(err);
        self.merges.insert(key, r.clone());
        r
    }

    /// Forgets tasks no longer compared (their trees and merges).
    pub fn retain(&mut self, ids: &BTreeSet<String>) {
        self.trees.retain(|id, _| ids.contains(id));
        let live: BTreeSet<Oid> = self
            .trees
            .values()
            .filter_map(|(_, t)| t.as_ref().ok().copied())
            .collect();
        self.merges
            .retain(|(_, a, b), _| live.contains(a) && live.contains(b));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testrepo;

    /// A task whose workspace has `edits`, snapshotted (as the engine's differ does).
    fn side(user: &Path, dir: &Path, id: &str, edits: &[(&str, &str)]) -> Side {
        let task = testrepo::task(dir, user, id);
        crate::workspace::create(&task).unwrap();
        for (f, content) in edits {
            std::fs::write(task.workspace.join(f), content).unwrap();
        }
        side_of(
            &task,
            id,
            edits.iter().map(|(f, _)| f.to_string()).collect(),
        )
    }

    fn side_of(task: &crate::workspace::TaskGit, id: &str, files: Vec<String>) -> Side {
        let opts = crate::workspace::SnapshotOptions {
            persist: true,
            ..Default::default()
        };
        let snap = crate::workspace::snapshot(task, opts).unwrap();
        Side {
            id: id.into(),
            title: format!("task {id}"),
            base: task.base.clone(),
            commit: None,
            tree: Some(snap.tree.to_string()),
            files,
            version: "1".into(),
        }
    }

    fn store(dir: &Path) -> std::path::PathBuf {
        dir.join("data/git/repo.git")
    }

    #[test]
    fn same_lines_conflict_other_lines_merge_other_files_are_skipped() {
        let user = tempfile::tempdir().unwrap();
        testrepo::init(
            user.path(),
            &[("calc.py", "a\nb\nc\nd\ne\nf\ng\n"), ("README", "hi\n")],
        );
        let wss = tempfile::tempdir().unwrap();
        let (u, w) = (user.path(), wss.path());
        let sides = vec![
            side(u, w, "one", &[("calc.py", "A\nb\nc\nd\ne\nf\ng\n")]),
            side(u, w, "two", &[("calc.py", "X\nb\nc\nd\ne\nf\ng\n")]),
            side(u, w, "three", &[("calc.py", "a\nb\nc\nd\ne\nf\nG\n")]),
            side(u, w, "four", &[("README", "hello\n")]),
        ];
        let mut radar = Radar::default();
        let out = radar.scan(&store(w), u, &sides).unwrap();
        let with = |id: &str| {
            let mut v: Vec<(String, Vec<String>)> = out[id]
                .iter()
                .map(|o| (o.id.clone(), o.conflicts.clone()))
                .collect();
            v.sort();
            v
        };
        let calc = vec!["calc.py".to_string()];
        assert_eq!(
            with("one"),
            vec![("three".into(), vec![]), ("two".into(), calc.clone())]
        );
        assert_eq!(
            with("two"),
            vec![("one".into(), calc.clone()), ("three".into(), vec![])]
        );
        assert!(out["four"].is_empty());
        assert_eq!(radar.merges.len(), 3, "one merge per overlapping pair");
        // The user's index and the workspaces' index files are untouched by a scan.
        for s in &sides {
            let repo = Repository::open(w.join("data/workspaces").join(&s.id)).unwrap();
            assert_eq!(
                repo.statuses(None).unwrap().len(),
                1,
                "the edit is still unstaged"
            );
        }
        // A second scan with nothing changed merges nothing new.
        radar.scan(&store(w), u, &sides).unwrap();
        assert_eq!(radar.merges.len(), 3);
    }

    #[test]
    fn deletions_additions_and_identical_edits() {
        let user = tempfile::tempdir().unwrap();
        testrepo::init(user.path(), &[("README", "hi\n")]);
        let wss = tempfile::tempdir().unwrap();
        let (u, w) = (user.path(), wss.path());
        let task = testrepo::task(w, u, "gone");
        crate::workspace::create(&task).unwrap();
        std::fs::remove_file(task.workspace.join("README")).unwrap();
        let gone = side_of(&task, "gone", vec!["README".into()]);
        let sides = vec![
            gone,
            side(u, w, "edit", &[("README", "hello\n")]),
            side(u, w, "same", &[("README", "hello\n")]),
            side(u, w, "new1", &[("NEW", "one\n")]),
            side(u, w, "new2", &[("NEW", "two\n")]),
        ];
        let out = Radar::default().scan(&store(w), u, &sides).unwrap();
        let conflicts = |id: &str, other: &str| {
            out[id]
                .iter()
                .find(|o| o.id == other)
                .map(|o| !o.conflicts.is_empty())
        };
        assert_eq!(conflicts("gone", "edit"), Some(true), "delete vs modify");
        assert_eq!(
            conflicts("edit", "same"),
            Some(false),
            "the same edit twice"
        );
        assert_eq!(
            conflicts("new1", "new2"),
            Some(true),
            "both add NEW differently"
        );
        assert_eq!(
            conflicts("new1", "edit"),
            None,
            "no shared file, not compared"
        );
    }
}
