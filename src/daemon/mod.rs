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

/// Where the daemon of `data` listens.
pub fn socket_path(data: &DataDir) -> PathBuf {
    data.root().join("daemon.sock")
}
