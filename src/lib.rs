//! drover: supervise a fleet of background coding agents, each in its own container.
//!
//! The library holds everything the binary does, so the CLI, the TUI (later) and the
//! integration tests drive one engine. Layering, one way:
//! `cli` → `engine` (Command in, Event out) → `workspace` (git2), `runtime` (Docker),
//! `agent`, `verify`, `store`. Nothing here knows about terminals.

pub mod agent;
pub mod beneath;
pub mod cli;
pub mod config;
pub mod crash;
pub mod daemon;
pub mod engine;
pub mod forge;
pub mod keymap;
pub mod llm;
pub mod paths;
pub mod protocol;
pub mod redact;
pub mod runtime;
pub mod signals;
pub mod store;
pub mod text;
pub mod ui;
pub mod verify;
pub mod workspace;
