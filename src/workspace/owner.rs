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

/// The user a container runs as for a workspace owned by `owner` when the environment
/// names an image user `wanted` (a devcontainer's `remoteUser`): that user where drover
/// can make the workspace theirs for the attempt (a root host) or it is the owner
/// already; otherwise why not (the caller says so and runs as `user_for(owner)`).
pub fn wanted_user(owner: (u32, u32), wanted: (u32, u32)) -> Result<(u32, u32), String> {
    if wanted.0 == 0 {
        return Err("it is root, and agents never run as root".into());
    }
    if wanted.1 == 0 {
        return Err("its group is root's, and agents never run in it".into());
    }
    // Beyond this, an id reads as -1 ("unchanged") to chown, or Docker refuses it.
    if wanted.0 > i32::MAX as u32 || wanted.1 > i32::MAX as u32 {
        return Err(format!("uid {}:{} is out of range", wanted.0, wanted.1));
    }
    if owner.0 == wanted.0 {
        // Already theirs; the group stays the owner's (only root could change it).
        return Ok(owner);
    }
    if owner.0 == 0 {
        return Ok(wanted);
    }
    Err(format!(
        "it is uid {}, and drover runs the agent as your uid {} so the workspace stays yours (a drover running as root hands the workspace over)",
        wanted.0, owner.0
    ))
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
/// drover) if an attempt gave it to another user (the sandbox user, or the image's
/// user). Blocking.
pub fn hand_back(dir: &Path) -> io::Result<usize> {
    let (Some(parent), Ok(meta)) = (dir.parent(), std::fs::metadata(dir)) else {
        return Ok(0);
    };
    let owner = std::fs::metadata(parent)?;
    // Handed over to the sandbox user or an image's user: only root could have.
    if meta.uid() == owner.uid() || !rustix::process::geteuid().is_root() {
        return Ok(0);
    }
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
    fn an_image_user_where_the_workspace_can_be_theirs_never_root() {
        assert_eq!(wanted_user((0, 0), (1000, 1001)), Ok((1000, 1001)));
        assert_eq!(wanted_user((1000, 1000), (1000, 1001)), Ok((1000, 1000)));
        let e = wanted_user((1001, 1001), (1000, 1000)).unwrap_err();
        assert!(e.contains("uid 1000") && e.contains("your uid 1001"), "{e}");
        assert!(wanted_user((0, 0), (0, 0)).unwrap_err().contains("root"));
        assert!(wanted_user((1000, 1000), (0, 5)).is_err());
        assert!(
            wanted_user((0, 0), (1000, 0))
                .unwrap_err()
                .contains("group")
        );
        assert!(
            wanted_user((0, 0), (u32::MAX, 5))
                .unwrap_err()
                .contains("range")
        );
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
