//! A workspace's files as a git tree in drover's own repository: what diff, verification,
//! approval and the conflict radar all look at.
//!
//! The files are read through `beneath` (never following a link, never leaving the
//! workspace); the workspace's own `.git` is skipped, never opened. What is ignored comes
//! from the `.gitignore` files of the base commit and drover's defaults only: nothing the
//! agent writes (`.git/info/exclude`, git config, a new `.gitignore`) can hide a file.
//! Attributes and filters play no part: files are recorded byte for byte, as checked out.
//! Symlinks become link blobs; FIFOs, sockets and devices, `.git` directories below the
//! root, writes inside a submodule and files too big to record are listed, never silently
//! dropped. A file that cannot be read fails the snapshot with its name.
//!
//! The task's `StatCache` remembers (path, stat) → blob and the tree they make, so only
//! files whose stat changed are read again and only the trees above them rebuilt; a file
//! changed within the last second is read again next time too (a second change in the
//! same timestamp tick would leave its stat alone). ctime cannot be set from inside a
//! container, so a stat that matches is a file whose content did not change through a
//! write call; a write through a shared memory mapping can leave both times alone,
//! which is why verification, approval and the attempt's last diff read every file.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use git2::{Index, ObjectType, Oid, Repository};
use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::record::TaskGit;
use super::statcache::{Cached, Key, StatCache};
use super::{WorkspaceError, git, io};
use crate::beneath::{self, Beneath, Kind, Stat, Step, Visit};
use crate::protocol::{Ignored, Unrecorded};

/// Files bigger than this are listed, not recorded (GitHub refuses files over 100 MB).
pub const MAX_RECORDED: u64 = 1 << 30;
/// Read into memory up to this size; bigger files are streamed into the object store.
const IN_MEMORY: u64 = 64 << 20;
/// How recent a change must be for a file to be read again next time.
const RACY: Duration = Duration::from_secs(1);

const MODE_FILE: u32 = 0o100644;
const MODE_EXEC: u32 = 0o100755;
const MODE_LINK: u32 = 0o120000;
const MODE_GITLINK: u32 = 0o160000;

/// What drover ignores in every repository (on top of the base commit's `.gitignore`s):
/// caches that test runs leave behind and nobody commits.
pub const DEFAULT_IGNORES: &[&str] = &[
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    "node_modules/",
];

/// How to take a snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnapshotOptions {
    /// Read every file again, trusting no cached stat (verification, approval).
    pub rehash: bool,
    /// Save the stat cache for next time (only the engine, one snapshot at a time).
    pub persist: bool,
    /// Measure ignored files and directories (walks them: only when it is shown).
    pub list_ignored: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub tree: Oid,
    pub ignored: Vec<Ignored>,
    pub unrecorded: Vec<Unrecorded>,
    /// Bytes of file content this snapshot added to drover's repository.
    pub written: u64,
}

/// What the base commit says about paths: which are tracked, which are submodules, and
/// its ignore rules. Computed once per base tree.
pub(super) struct BaseInfo {
    pub(super) files: HashSet<Vec<u8>>,
    pub(super) dirs: HashSet<Vec<u8>>,
    pub(super) gitlinks: HashSet<Vec<u8>>,
    /// Directory → the rules of its `.gitignore`.
    ignores: HashMap<Vec<u8>, Gitignore>,
    defaults: Gitignore,
}

fn virtual_path(rel: &[u8]) -> std::path::PathBuf {
    Path::new("/").join(OsStr::from_bytes(rel))
}

impl BaseInfo {
    fn load(store: &Repository, tree: &git2::Tree<'_>) -> Result<BaseInfo, git2::Error> {
        let mut index = Index::new()?;
        index.read_tree(tree)?;
        let mut info = BaseInfo {
            files: HashSet::new(),
            dirs: HashSet::new(),
            gitlinks: HashSet::new(),
            ignores: HashMap::new(),
            defaults: defaults(),
        };
        for e in index.iter() {
            let mut p = e.path.as_slice();
            while let Some(cut) = p.iter().rposition(|&b| b == b'/') {
                p = &p[..cut];
                if !info.dirs.insert(p.to_vec()) {
                    break;
                }
            }
            if e.mode == MODE_GITLINK {
                info.gitlinks.insert(e.path.clone());
                continue;
            }
            let (dir, name) = match e.path.iter().rposition(|&b| b == b'/') {
                Some(cut) => (&e.path[..cut], &e.path[cut + 1..]),
                None => (&e.path[..0], e.path.as_slice()),
            };
            if name == b".gitignore"
                && e.mode != MODE_LINK
                && let Ok(blob) = store.find_blob(e.id)
            {
                let mut b = GitignoreBuilder::new(virtual_path(dir));
                for line in String::from_utf8_lossy(blob.content()).lines() {
                    let _ = b.add_line(None, line);
                }
                if let Ok(gi) = b.build() {
                    info.ignores.insert(dir.to_vec(), gi);
                }
            }
            info.files.insert(e.path);
        }
        Ok(info)
    }

    /// Whether an untracked path is ignored: the deepest `.gitignore` with an opinion
    /// decides, then drover's defaults.
    pub(super) fn ignored(&self, rel: &[u8], is_dir: bool) -> bool {
        let path = virtual_path(rel);
        let mut dir = rel;
        loop {
            dir = match dir.iter().rposition(|&b| b == b'/') {
                Some(cut) => &dir[..cut],
                None if dir.is_empty() => break,
                None => &dir[..0],
            };
            if let Some(gi) = self.ignores.get(dir) {
                match gi.matched(&path, is_dir) {
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                    Match::None => {}
                }
            }
            if dir.is_empty() {
                break;
            }
        }
        self.defaults.matched(&path, is_dir).is_ignore()
    }
}

fn defaults() -> Gitignore {
    let mut b = GitignoreBuilder::new("/");
    for line in DEFAULT_IGNORES {
        let _ = b.add_line(None, line);
    }
    b.build().unwrap_or_else(|_| Gitignore::empty())
}

/// The base info for `tree`, cached (bases are few and immutable).
pub(super) fn base_info(
    store: &Repository,
    tree: &git2::Tree<'_>,
) -> Result<Arc<BaseInfo>, git2::Error> {
    static CACHE: OnceLock<Mutex<HashMap<Oid, Arc<BaseInfo>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(i) = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&tree.id())
    {
        return Ok(i.clone());
    }
    let info = Arc::new(BaseInfo::load(store, tree)?);
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= 32 {
        c.clear();
    }
    c.insert(tree.id(), info.clone());
    Ok(info)
}

/// Whether `v` is a link a snapshot restore made in place of an ignored directory
/// (`envlinks`): it stands for that directory, so the directory's rule applies. A link
/// with any other target is recorded as usual.
fn environment_link(info: &BaseInfo, v: &Visit<'_>) -> bool {
    v.kind == Kind::Symlink
        && !info.dirs.contains(v.path)
        && info.ignored(v.path, true)
        && v.link_target()
            .is_ok_and(|t| t == super::envlinks::link_target(v.path))
}

/// Names git will not record or that would be git metadata on another machine.
pub(super) fn git_reserved(name: &[u8], kind: Kind) -> Option<&'static str> {
    // Most names cannot be one of these: no need to look closer (this runs per file).
    let first = name.first().map(u8::to_ascii_lowercase);
    if name.len() > 16 || !matches!(first, Some(b'.' | b'g')) {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let trimmed = lower
        .iter()
        .rposition(|&b| b != b'.' && b != b' ')
        .map_or(&lower[..0], |end| &lower[..=end]);
    if trimmed == b".git" || trimmed == b"git~1" {
        return Some("a .git entry: git never records one (it would be repository metadata)");
    }
    let special = [
        &b".gitmodules"[..],
        b".gitattributes",
        b".gitignore",
        b".mailmap",
    ];
    if kind == Kind::Symlink && special.contains(&trimmed) {
        return Some("a symlinked git control file: git refuses it");
    }
    None
}

/// The cache entry for a file just read: its stat vouched for only when it last changed
/// more than a tick ago (a change in the same tick would leave the stat as it is).
fn cached(id: Oid, mode: u32, s: &Stat, started: SystemTime) -> Cached {
    let secs = started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let racy = s.ctime.0.max(s.mtime.0) >= secs - RACY.as_secs() as i64;
    Cached {
        id,
        mode,
        key: (!racy).then(|| Key::of(s)),
        seen: false,
    }
}

/// Whether the cached entry describes this very file (same inode, size, times, mode).
fn unchanged(c: &Cached, mode: u32, s: &Stat) -> bool {
    c.mode == mode && c.key == Some(Key::of(s))
}

fn file_mode(s: &Stat) -> u32 {
    if s.executable() { MODE_EXEC } else { MODE_FILE }
}

/// Hashes an open file into the store: `size` bytes exactly (it changed if not). Adds
/// to `written` what the store did not have.
fn hash_file(
    store: &Repository,
    mut file: cap_std::fs::File,
    size: u64,
    written: &mut u64,
) -> std::io::Result<Oid> {
    let changed = || std::io::Error::other("it changed while drover read it");
    if size <= IN_MEMORY {
        let mut bytes = Vec::with_capacity(size as usize);
        (&mut file).take(IN_MEMORY + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > IN_MEMORY {
            return Err(changed());
        }
        // Most files are the base's: hash first, and write (which would also touch the
        // user's object files to "freshen" them) only what is new.
        let id = Oid::hash_object(ObjectType::Blob, &bytes).map_err(std::io::Error::other)?;
        let odb = store.odb().map_err(std::io::Error::other)?;
        if odb.exists(id) {
            return Ok(id);
        }
        *written += size;
        return store.blob(&bytes).map_err(std::io::Error::other);
    }
    *written += size;
    let odb = store.odb().map_err(std::io::Error::other)?;
    let mut w = odb
        .writer(size as usize, ObjectType::Blob)
        .map_err(std::io::Error::other)?;
    let copied = std::io::copy(&mut (&mut file).take(size), &mut w)?;
    if copied != size {
        return Err(changed());
    }
    w.flush()?;
    w.finalize().map_err(std::io::Error::other)
}

/// Takes a snapshot of the task's workspace with the stat cache saved on disk (loaded
/// first, saved after when `persist`). Blocking.
pub fn snapshot(task: &TaskGit, opts: SnapshotOptions) -> Result<Snapshot, WorkspaceError> {
    let mut cache = StatCache::load(&task.index);
    let snap = snapshot_with(task, opts, &mut cache)?;
    if opts.persist
        && let Some(c) = &cache
    {
        c.save(&task.index)
            .map_err(io(format!("saving {}", task.index.display())))?;
    }
    Ok(snap)
}

/// Takes a snapshot with a stat cache the caller keeps (`None`: none yet, made from the
/// base). Blocking.
pub fn snapshot_with(
    task: &TaskGit,
    opts: SnapshotOptions,
    cache: &mut Option<StatCache>,
) -> Result<Snapshot, WorkspaceError> {
    snapshot_in(&task.open_store()?, task, opts, cache)
}

/// `snapshot_with` in drover's repository `store`, already open.
pub fn snapshot_in(
    store: &Repository,
    task: &TaskGit,
    opts: SnapshotOptions,
    cache: &mut Option<StatCache>,
) -> Result<Snapshot, WorkspaceError> {
    let broken = |message: String| WorkspaceError::Broken {
        path: task.workspace.clone(),
        message,
    };
    let ws = match Beneath::open(&task.workspace) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(WorkspaceError::Gone(task.workspace.clone()));
        }
        Err(e) => return Err(broken(format!("cannot open it: {e}"))),
    };
    let base = store
        .find_commit(task.base_oid()?)
        .and_then(|c| c.tree())
        .map_err(|_| WorkspaceError::MissingBase {
            repo: task.user_repo.clone(),
            commit: task.base.clone(),
        })?;
    let info = base_info(store, &base).map_err(git("reading the base commit"))?;
    if cache.is_none() {
        *cache = Some(StatCache::from_tree(&base).map_err(git("reading the base tree"))?);
    }
    let Some(cache) = cache.as_mut() else {
        return Err(broken("no stat cache".into()));
    };
    let started = SystemTime::now();

    let mut updates: Vec<(Vec<u8>, Cached)> = Vec::new();
    let mut ignored = Vec::new();
    let mut unrecorded = Vec::new();
    let mut written = 0u64;
    let note = |list: &mut Vec<Unrecorded>, path: &[u8], why: String| {
        list.push(Unrecorded {
            path: String::from_utf8_lossy(path).into_owned(),
            why,
        })
    };
    ws.walk(&mut |v: &Visit<'_>| {
        let name = v.name.as_bytes();
        if v.depth == 0 && name == b".git" {
            // The agent's own repository: its business, never drover's input.
            return Ok(Step::Skip);
        }
        if let Some(why) = git_reserved(name, v.kind) {
            note(&mut unrecorded, v.path, why.into());
            return Ok(Step::Skip);
        }
        match v.kind {
            Kind::Special(what) => {
                note(&mut unrecorded, v.path, format!("a {what}: only files and links are recorded"));
                Ok(Step::Skip)
            }
            Kind::Dir if info.gitlinks.contains(v.path) => {
                if let Some(c) = cache.entries.get_mut(v.path) {
                    c.seen = true;
                }
                let inside = v.open_dir()?.entries()?.count();
                if inside > 0 {
                    note(&mut unrecorded, v.path, format!("{inside} entries inside a submodule: drover records the submodule's commit, not its files"));
                }
                Ok(Step::Skip)
            }
            Kind::Dir => {
                if v.depth + 2 >= beneath::MAX_DEPTH {
                    note(&mut unrecorded, v.path, format!("nested deeper than {} directories", beneath::MAX_DEPTH));
                    return Ok(Step::Skip);
                }
                if !info.dirs.contains(v.path) && info.ignored(v.path, true) {
                    if opts.list_ignored {
                        let u = beneath::usage_of(&v.open_dir()?, v.depth + 1)?;
                        ignored.push(Ignored {
                            path: String::from_utf8_lossy(v.path).into_owned(),
                            bytes: u.bytes,
                            files: u.files,
                            dir: true,
                        });
                    }
                    return Ok(Step::Skip);
                }
                Ok(Step::Descend)
            }
            Kind::File | Kind::Symlink => {
                // A path recorded before is tracked or was not ignored then (the rules
                // do not change): only new ones are matched against them.
                let was = cache.entries.get_mut(v.path);
                let new = was.is_none() && !info.files.contains(v.path);
                if new && (info.ignored(v.path, false) || environment_link(&info, v)) {
                    if opts.list_ignored {
                        let bytes = v.stat().map(|s| s.size).unwrap_or(0);
                        ignored.push(Ignored {
                            path: String::from_utf8_lossy(v.path).into_owned(),
                            bytes,
                            files: 1,
                            dir: false,
                        });
                    }
                    return Ok(Step::Skip);
                }
                let recorded = record(store, was.as_deref(), v, opts.rehash, started, &mut written);
                let kept = was.is_some();
                if let Some(c) = was {
                    c.seen = !matches!(recorded, Ok(Recorded::Vanished));
                }
                match recorded {
                    Ok(Recorded::Same) => {}
                    Ok(Recorded::New(e)) => updates.push((v.path.to_vec(), e)),
                    Ok(Recorded::TooBig(size)) => {
                        note(&mut unrecorded, v.path, format!(
                            "{} bytes, over the {} MiB drover records{}",
                            size,
                            MAX_RECORDED >> 20,
                            if kept { ": kept as it was" } else { "" }
                        ));
                    }
                    Ok(Recorded::Vanished) => {}
                    Err(e) => {
                        return Err(std::io::Error::other(format!(
                            "cannot read {}: {e}",
                            String::from_utf8_lossy(v.path)
                        )));
                    }
                }
                Ok(Step::Skip)
            }
        }
    })
    .map_err(|e| broken(e.to_string()))?;

    // What changed since the cache's tree: gone paths, and new blobs or modes.
    let gone: Vec<Vec<u8>> = cache
        .entries
        .iter_mut()
        .filter_map(|(p, c)| (!std::mem::replace(&mut c.seen, false)).then(|| p.clone()))
        .collect();
    let mut changes: Vec<Change> = Vec::new();
    for p in gone {
        cache.entries.remove(&p);
        changes.push((p, None));
    }
    for (p, c) in updates {
        if cache
            .entries
            .get(&p)
            .is_none_or(|was| (was.id, was.mode) != (c.id, c.mode))
        {
            changes.push((p.clone(), Some((c.id, c.mode))));
        }
        cache.entries.insert(p, c);
    }
    let tree = match cache.tree {
        Some(t) if changes.is_empty() => t,
        Some(t) => match update_tree(store, t, &changes) {
            Ok(t) => t,
            // A name git will not take fails the update: build afresh, naming it.
            Err(_) => rebuild(store, cache, &mut unrecorded)?,
        },
        None => rebuild(store, cache, &mut unrecorded)?,
    };
    cache.tree = Some(tree);
    ignored.sort_by(|a, b| a.path.cmp(&b.path));
    unrecorded.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Snapshot {
        tree,
        ignored,
        unrecorded,
        written,
    })
}

/// A path gone (`None`), or its new blob and mode.
type Change = (Vec<u8>, Option<(Oid, u32)>);

/// The tree of every cached entry, built afresh; entries git refuses are dropped and
/// listed as not recorded.
fn rebuild(
    store: &Repository,
    cache: &mut StatCache,
    unrecorded: &mut Vec<Unrecorded>,
) -> Result<Oid, WorkspaceError> {
    let (tree, refused) = cache
        .build_tree(store)
        .map_err(git("writing the snapshot's tree"))?;
    for (p, why) in refused {
        unrecorded.push(Unrecorded {
            path: String::from_utf8_lossy(&p).into_owned(),
            why: format!("git cannot record this name ({why})"),
        });
    }
    Ok(tree)
}

/// `tree` with `changes` applied: removals first, then additions (so a file that became
/// a directory, or the other way round, never meets itself), rebuilding only the trees
/// above what changed.
fn update_tree(store: &Repository, tree: Oid, changes: &[Change]) -> Result<Oid, git2::Error> {
    let mode = |m: u32| match m {
        MODE_EXEC => git2::FileMode::BlobExecutable,
        MODE_LINK => git2::FileMode::Link,
        MODE_GITLINK => git2::FileMode::Commit,
        _ => git2::FileMode::Blob,
    };
    let mut at = store.find_tree(tree)?;
    let removed: Vec<&Vec<u8>> = changes
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(p, _)| p)
        .collect();
    if !removed.is_empty() {
        let mut b = git2::build::TreeUpdateBuilder::new();
        for p in removed {
            b.remove(p.as_slice());
        }
        at = store.find_tree(b.create_updated(store, &at)?)?;
    }
    let mut b = git2::build::TreeUpdateBuilder::new();
    let mut any = false;
    for (p, c) in changes {
        if let Some((id, m)) = c {
            b.upsert(p.as_slice(), *id, mode(*m));
            any = true;
        }
    }
    if !any {
        return Ok(at.id());
    }
    b.create_updated(store, &at)
}

enum Recorded {
    Same,
    New(Cached),
    TooBig(u64),
    Vanished,
}

fn record(
    store: &Repository,
    was: Option<&Cached>,
    v: &Visit<'_>,
    rehash: bool,
    started: SystemTime,
    written: &mut u64,
) -> std::io::Result<Recorded> {
    let vanished = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let stat = match v.stat() {
        Ok(s) => s,
        Err(e) if vanished(&e) => return Ok(Recorded::Vanished),
        Err(e) => return Err(e),
    };
    if v.kind == Kind::Symlink {
        if !rehash && was.is_some_and(|c| unchanged(c, MODE_LINK, &stat)) {
            return Ok(Recorded::Same);
        }
        let target = match v.link_target() {
            Ok(t) => t,
            Err(e) if vanished(&e) => return Ok(Recorded::Vanished),
            Err(e) => return Err(e),
        };
        let id = store.blob(&target).map_err(std::io::Error::other)?;
        return Ok(Recorded::New(cached(id, MODE_LINK, &stat, started)));
    }
    if !rehash && was.is_some_and(|c| unchanged(c, file_mode(&stat), &stat)) {
        return Ok(Recorded::Same);
    }
    if stat.size > MAX_RECORDED {
        return Ok(Recorded::TooBig(stat.size));
    }
    let (file, meta) = match v.open() {
        Ok(f) => f,
        Err(e) if vanished(&e) => return Ok(Recorded::Vanished),
        // Replaced by a link or a FIFO since it was listed: not ours to follow.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Ok(Recorded::Vanished);
        }
        Err(e) => return Err(e),
    };
    let stat = Stat::of(&meta);
    if stat.size > MAX_RECORDED {
        return Ok(Recorded::TooBig(stat.size));
    }
    let id = hash_file(store, file, stat.size, written)?;
    // Also when the content is the same: the fresh stat spares the next snapshot a read.
    Ok(Recorded::New(cached(id, file_mode(&stat), &stat, started)))
}

#[cfg(test)]
mod tests;
