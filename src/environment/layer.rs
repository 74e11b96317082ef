//! The host side of a task's writable layer over its environment snapshot
//! (`runtime::EnvLayer`): a directory of drover's per workspace holding the overlay's
//! `upper` (what the task's containers changed in the snapshot's files) and `work`
//! directories, and `lower`, the snapshot layer it stacks on. Made when a new workspace
//! is restored from a snapshot, found again for every later container of that workspace
//! (a resume, a retry in place), removed with the workspace.
//!
//! What `upper` holds was written by the agent: drover never reads it, only removes it
//! (without following links). Knows no tasks: callers pass the directory.

use std::io;
use std::path::Path;

use crate::runtime::EnvLayer;

/// The bytes of `lower` read back (a path).
const MAX_LOWER: u64 = 4096;

/// A fresh layer in `dir` over `lower`, its `upper` owned by `owner` (the user the
/// containers run as: the layer's root is theirs). Anything in `dir` before is removed.
pub fn prepare(dir: &Path, lower: &str, owner: (u32, u32)) -> io::Result<EnvLayer> {
    remove(dir)?;
    crate::paths::create_private_dir(dir)?;
    let layer = EnvLayer {
        lower: lower.to_string(),
        upper: dir.join("upper"),
        work: dir.join("work"),
    };
    std::fs::create_dir(&layer.upper)?;
    std::fs::create_dir(&layer.work)?;
    let current = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    if owner != current {
        std::os::unix::fs::lchown(&layer.upper, Some(owner.0), Some(owner.1))?;
    }
    crate::paths::write_private(&dir.join("lower"), lower.as_bytes())?;
    Ok(layer)
}

/// The layer in `dir`, when there is one.
pub fn existing(dir: &Path) -> Option<EnvLayer> {
    use std::io::Read;
    let mut lower = String::new();
    std::fs::File::open(dir.join("lower"))
        .ok()?
        .take(MAX_LOWER)
        .read_to_string(&mut lower)
        .ok()?;
    Some(EnvLayer {
        lower,
        upper: dir.join("upper"),
        work: dir.join("work"),
    })
}

/// Removes `dir` and all in it, links not followed. What the agent made unreadable
/// in `upper` (its own, so this process's on a user's host) is made readable first; the
/// kernel's `work/work`, root's with no permissions and empty once unmounted, is
/// removed by name (which needs only its parent's permission).
pub fn remove(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => force(dir),
    }
}

fn force(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::read_dir(dir).is_err() {
        // Ours: made readable. Root's (`work/work`): only an empty one can go.
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => force(&path)?,
                Ok(_) => std::fs::remove_file(&path)?,
                Err(_) => {}
            }
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_found_again_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layer");
        assert!(existing(&dir).is_none());
        let me = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let made = prepare(&dir, "/var/lib/docker/x/diff/drover-snapshot/workspace", me).unwrap();
        std::fs::write(made.upper.join("changed"), "by the agent").unwrap();
        std::os::unix::fs::symlink("/etc", made.upper.join("link")).unwrap();
        assert_eq!(existing(&dir), Some(made.clone()));
        assert!(made.options().is_some());
        // What the agent made unreadable goes too.
        let locked = made.upper.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::write(locked.join("f"), "x").unwrap();
        std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
        // Made again: empty.
        let again = prepare(&dir, "/other", me).unwrap();
        assert!(!again.upper.join("changed").exists());
        remove(&dir).unwrap();
        assert!(!dir.exists());
        assert!(
            std::fs::metadata("/etc/passwd").is_ok(),
            "the link was not followed"
        );
        remove(&dir).unwrap();
    }

    #[test]
    fn paths_that_would_break_the_mount_options_are_refused() {
        let layer = |lower: &str, upper: &str| EnvLayer {
            lower: lower.into(),
            upper: upper.into(),
            work: "/d/work".into(),
        };
        assert_eq!(
            layer("/l", "/d/upper").options().as_deref(),
            Some("lowerdir=/l,upperdir=/d/upper,workdir=/d/work,nosuid,nodev")
        );
        assert_eq!(layer("/l,upperdir=/etc", "/d/upper").options(), None);
        assert_eq!(layer("/l", "/d:x/upper").options(), None);
        assert_eq!(layer("relative", "/d/upper").options(), None);
    }
}
