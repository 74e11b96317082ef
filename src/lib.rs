//! drover: supervise a fleet of background coding agents, each in its own container.
//!
//! The library holds everything the binary does, so the CLI, the TUI and the integration
//! tests drive one engine the same way: front ends (`ui`, `cli`) reach an engine host
//! (`host`) through `client`, in the one `protocol`; the host runs the `engine`, which
//! uses `workspace` (git2), `runtime` (Docker), `agent`, `verify` and `store`.
//! ARCHITECTURE.md has the map and the rules.

pub mod agent;
pub mod beneath;
pub mod cli;
pub mod client;
pub mod config;
pub mod crash;
pub mod egress;
pub mod engine;
pub mod environment;
pub mod forge;
pub mod host;
pub mod keymap;
pub mod llm;
pub mod paths;
pub mod protocol;
pub mod redact;
pub mod runtime;
pub mod signals;
pub mod store;
pub mod text;
pub mod transport;
pub mod ui;
pub mod verify;
pub mod workspace;
