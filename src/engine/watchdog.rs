//! Watches a running attempt for what its container's limits do not cover: its
//! workspace (a bind mount of drover's disk) growing past `limits.disk`, and the disk that
//! holds drover's data filling up. Either ends the attempt with the reason, before the
//! disk is so full that drover could not even record it.
//!
//! Free space is asked of the kernel often (a `statvfs`, cheap); the workspace is measured
//! less often (a walk through `beneath`, which costs in proportion to its files). A small
//! ballast file in the data dir is given up when the disk fills, so the state change that
//! says why can still be written once the attempt's container is stopped; it is made
//! again once there is room.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::paths::mib;

/// How an attempt the watchdog stopped ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Trip {
    /// The attempt broke a limit: it fails.
    Fail(String),
    /// Nothing wrong with the attempt: it can resume when the cause is gone.
    Interrupt(String),
}

/// Where the watchdog leaves its reason for the supervisor.
#[derive(Debug, Clone, Default)]
pub(super) struct Tripped(Arc<Mutex<Option<Trip>>>);

impl Tripped {
    pub(super) fn take(&self) -> Option<Trip> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn set(&self, t: Trip) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
    }
}

const FREE_EVERY: Duration = Duration::from_millis(250);
/// More files than this in one workspace stop its task (each costs every snapshot).
pub(super) const MAX_FILES: u64 = 1_000_000;
const WALK_EVERY: Duration = Duration::from_secs(2);
/// A workspace that did not change between walks is walked less and less often, up to
/// this (an agent waiting on a model or a long command writes nothing); a change brings
/// it back to `WALK_EVERY`. The disk's free space is still asked every `FREE_EVERY`.
const WALK_QUIET_MAX: Duration = Duration::from_secs(16);
const BALLAST_BYTES: u64 = 1 << 20;

/// What is watched.
pub(super) struct Watch {
    pub workspace: PathBuf,
    pub data: PathBuf,
    pub disk_limit: u64,
    /// Bytes the attempt's snapshots added to drover's own repository: the agent's
    /// doing, so counted against its limit too.
    pub stored: Arc<std::sync::atomic::AtomicU64>,
}

/// Free bytes and size of the file system holding `path`, and whether it is out of
/// inodes (a file system without inode counts never is).
fn space(path: &Path) -> Option<(u64, u64, bool)> {
    // Every running attempt asks about the same data dir: one answer serves them all
    // for `FREE_EVERY` (32 attempts asked the kernel 128 times a second).
    type Seen = (PathBuf, Instant, Option<(u64, u64, bool)>);
    static LAST: Mutex<Option<Seen>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((p, at, answer)) = last.as_ref()
        && p == path
        && at.elapsed() < FREE_EVERY
    {
        return *answer;
    }
    let answer = statvfs(path);
    *last = Some((path.to_path_buf(), Instant::now(), answer));
    answer
}

fn statvfs(path: &Path) -> Option<(u64, u64, bool)> {
    let s = rustix::fs::statvfs(path).ok()?;
    let no_inodes = s.f_files > 0 && s.f_favail < (s.f_files / 1000).max(64);
    Some((s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize, no_inodes))
}

/// Below this much free space the disk counts as full: a sixteenth of it, at most 256 MiB
/// (enough for drover to record what happened, whatever the disk's size).
fn reserve(total: u64) -> u64 {
    (total / 16).min(256 << 20)
}

/// Watches until `until` (or `stop`) is cancelled; on a trip, records why and cancels
/// `stop`.
pub(super) async fn watch(
    w: Watch,
    stop: CancellationToken,
    until: CancellationToken,
    tripped: Tripped,
) {
    let mut next_walk = Instant::now();
    let mut quiet = WALK_EVERY;
    let mut last: Option<(u64, u64, u64)> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FREE_EVERY) => {}
            _ = stop.cancelled() => return,
            _ = until.cancelled() => return,
        }
        if let Some((free, total, no_inodes)) = space(&w.data)
            && (free < reserve(total) || no_inodes)
        {
            let what = if no_inodes {
                "out of inodes (files)".to_string()
            } else {
                format!("full ({} free)", mib(free))
            };
            tripped.set(Trip::Interrupt(format!(
                "the disk holding drover's data ({}) is {what}: free some space, then resume the task (c)",
                w.data.display(),
            )));
            stop.cancel();
            return;
        }
        if Instant::now() < next_walk {
            continue;
        }
        let (ws, started) = (w.workspace.clone(), Instant::now());
        let used = tokio::task::spawn_blocking(move || {
            crate::beneath::Beneath::open(&ws).and_then(|b| b.usage())
        })
        .await;
        let took = started.elapsed();
        let Ok(Ok(u)) = used else {
            next_walk = Instant::now() + WALK_EVERY.max(took * 10);
            continue;
        };
        let seen = (u.bytes, u.disk, u.files);
        quiet = match last == Some(seen) {
            true => (quiet * 2).min(WALK_QUIET_MAX),
            false => WALK_EVERY,
        };
        last = Some(seen);
        // A walk of a big tree is not repeated more than a tenth of the time.
        next_walk = Instant::now() + quiet.max(took * 10);
        // Sparse files count at their size: reading them costs as if they were full.
        let used = u.disk.max(u.bytes) + w.stored.load(std::sync::atomic::Ordering::Relaxed);
        let trip = if used > w.disk_limit {
            Some(format!(
                "stopped: disk limit (used {} of {})",
                mib(used),
                mib(w.disk_limit)
            ))
        } else if u.files > MAX_FILES {
            Some(format!(
                "stopped: too many files in the workspace ({} of at most {MAX_FILES})",
                u.files
            ))
        } else {
            None
        };
        if let Some(why) = trip {
            tripped.set(Trip::Fail(why));
            stop.cancel();
            return;
        }
    }
}

fn ballast(data: &Path) -> PathBuf {
    data.join("ballast")
}

/// Makes the ballast file when there is room for it (blocking; cheap when it exists).
pub(super) fn ensure_ballast(data: &Path) {
    let path = ballast(data);
    if path.exists() {
        return;
    }
    if space(data).is_some_and(|(free, total, _)| free > reserve(total) + 4 * BALLAST_BYTES) {
        // Written, not sparse: it must hold real blocks to give back.
        let _ = crate::paths::write_private(&path, &vec![0u8; BALLAST_BYTES as usize]);
    }
}

/// Gives the ballast's room back (the disk is full: what happened must still be
/// recorded). Call once whatever filled the disk is stopped.
pub(super) fn release_ballast(data: &Path) {
    let _ = std::fs::remove_file(ballast(data));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_scales_with_the_disk() {
        assert_eq!(reserve(64 << 20), 4 << 20);
        assert_eq!(reserve(1 << 40), 256 << 20);
    }
}
