//! The per-user daemon: one engine for every repository, reached over a Unix socket in
//! the data dir, so agents keep working when no terminal is open.
//!
//! `wire` is what crosses the socket, `server` the daemon's side, `client` a front end's,
//! `spawn` starts it on demand and `attach` keeps a front end connected across restarts.
//! Starting, stopping and asking after it from the command line is in `cli::daemon`.

pub mod attach;
pub mod client;
pub mod front;
pub mod server;
pub mod spawn;
pub mod upgrade;
pub mod wire;

use std::path::PathBuf;

use crate::paths::DataDir;

/// The longest socket path that fits every platform's `sun_path` (Linux: 108 bytes).
const SOCKET_PATH_MAX: usize = 100;

/// Where the daemon of `data` listens: in the data dir, unless its path is too long
/// for a Unix socket; then in a private directory of this user (the runtime dir, else
/// `drover-<uid>` in the temp dir), named by the data dir's hash.
pub fn socket_path(data: &DataDir) -> PathBuf {
    let p = data.root().join("daemon.sock");
    if p.as_os_str().len() <= SOCKET_PATH_MAX {
        return p;
    }
    let uid = rustix::process::getuid().as_raw();
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .unwrap_or_else(|| std::env::temp_dir().join(format!("drover-{uid}")));
    dir.join(format!("drover-{}.sock", data.hash()))
}
