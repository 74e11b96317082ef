//! The front ends' side of the protocol: reaching an engine host (`open`: the daemon,
//! started on demand, or an engine in this process), one conversation with it
//! (`connection`), a lasting subscription that survives daemon restarts (`attach`), and
//! replacing a daemon of another drover version (`upgrade`, `offer`).
//!
//! It never reads a terminal except to ask before restarting a daemon (`offer`), and
//! it holds no engine state.

pub mod attach;
pub mod connection;
pub mod offer;
pub mod open;
pub mod spawn;
pub mod upgrade;

pub use attach::{Attachment, Update};
pub use connection::{ClientError, Connection, Welcome};
pub use open::{OpenError, OpenOptions, Opened, open};
