//! The terminal UI and the keymap without Docker, a terminal or an engine: the real `App`
//! fed protocol events and keys, drawn on a ratatui `TestBackend` (insta snapshots), and
//! keymap files parsed as a user would write them. Runs in seconds (`cargo test --test
//! ui`); the engine, Docker and the real binary are `tests/integration`.

// Test code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

mod best_of;
mod boundary;
mod cockpit;
mod fixtures;
mod fold_and_wrap;
mod keymap_files;
mod keys;
mod pull_loop;
mod screens;
