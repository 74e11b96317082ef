//! Who a task container runs as, and who owns the workspace meanwhile.
//!
//! Normally the container runs as the workspace owner's uid:gid, so what the agent
//! creates belongs to the user. On a root host that would make the agent root inside its
//! container (ISO-04 forbids it): there the container runs as an unprivileged uid, the
//! workspace is handed to that uid for the attempt and handed back when it ends. Only
//! ownership changes; modes stay (the data dir's 0700 keeps other users out).

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::Workspace;

/// The uid:gid an agent runs as on a root host (`nonroot` in common minimal images).
pub const SANDBOX_ID: u32 = 65532;

/// The user the container runs as for `ws`.
pub fn container_user(ws: &Workspace) -> (u32, u32) {
    user_for((ws.uid, ws.gid))
}

/// The user a container runs as for a workspace owned by `owner`.
pub fn user_for(owner: (u32, u32)) -> (u32, u32) {
    if owner.0 == 0 {
        (SANDBOX_ID, SANDBOX_ID)
    } else {
        owner
    }
}

/// Gives every file under `dir` (itself included; links not followed) to `owner`, where
/// it is not theirs already. Walks through `beneath`: a directory the agent swapped for
/// a link is never entered, and each change is made relative to its parent's handle
/// (`fchownat` without following), so nothing outside `dir` changes owner. Blocking.
pub fn hand_to(dir: &Path, owner: (u32, u32)) -> io::Result<usize> {
    let uid = rustix::fs::Uid::from_raw(owner.0);
    let gid = rustix::fs::Gid::from_raw(owner.1);
    let mut changed = 0;
    let meta = std::fs::symlink_metadata(dir)?;
    if (meta.uid(), meta.gid()) != owner {
        std::os::unix::fs::lchown(dir, Some(owner.0), Some(owner.1))?;
        changed += 1;
    }
    if !meta.is_dir() {
        return Ok(changed);
    }
    crate::beneath::Beneath::open(dir)?.walk(&mut |v| {
        let m = match v.stat() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(crate::beneath::Step::Skip),
            Err(e) => return Err(e),
        };
        if (m.uid, m.gid) != owner {
            rustix::fs::chownat(
                v.parent,
                v.name,
                Some(uid),
                Some(gid),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )?;
            changed += 1;
        }
        Ok(crate::beneath::Step::Descend)
    })?;
    Ok(changed)
}

/// Hands the workspace back to whoever owns the directory it lives in (the user running
/// drover) if an attempt gave it to the sandbox user. Blocking.
pub fn hand_back(dir: &Path) -> io::Result<usize> {
    let (Some(parent), Ok(meta)) = (dir.parent(), std::fs::metadata(dir)) else {
        return Ok(0);
    };
    if meta.uid() != SANDBOX_ID {
        return Ok(0);
    }
    let owner = std::fs::metadata(parent)?;
    hand_to(dir, (owner.uid(), owner.gid()))
}

/// libgit2 refuses repositories owned by another user; drover's workspaces are owned
/// by the sandbox user during an attempt on a root host. drover only reads and writes
/// objects and refs through libgit2 (which runs no hooks, fsmonitor or filter commands,
/// whatever a config says), so the check guards nothing here. Set once, before any
/// repository is opened.
pub fn allow_sandbox_owned_repositories() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a process-wide libgit2 option, set once before drover opens a
        // repository on another thread (engine start, CLI start).
        if let Err(e) = unsafe { git2::opts::set_verify_owner_validation(false) } {
            tracing::warn!("libgit2 owner validation stays on: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_hosts_get_the_sandbox_user() {
        let ws = |uid, gid| Workspace {
            dir: "/w".into(),
            objects: "/o".into(),
            uid,
            gid,
        };
        assert_eq!(container_user(&ws(1000, 1000)), (1000, 1000));
        assert_eq!(container_user(&ws(0, 0)), (SANDBOX_ID, SANDBOX_ID));
    }

    #[test]
    fn handing_to_the_owner_it_has_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("a")).unwrap();
        std::fs::write(tmp.path().join("a/f"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", tmp.path().join("link")).unwrap();
        let meta = std::fs::metadata(tmp.path()).unwrap();
        assert_eq!(hand_to(tmp.path(), (meta.uid(), meta.gid())).unwrap(), 0);
        assert_eq!(hand_back(tmp.path()).unwrap(), 0, "not the sandbox's");
    }
}
