//! The terminal UI: one screen to queue, watch and review many agents.
//!
//! `app` holds state and turns messages into effects (`keys` per mode, `replies` for
//! command results), `render` draws it and returns the `Layout` it drew, `model` is the
//! read model built from engine events, `submit` turns a filled-in editor into a command, `activity` logs what happened, `review` moves about a diff and keeps comments on it, `manage` marks, sorts and edits tasks,
//! and `terminal` runs the loop (terminal setup, events, suspend for a shell, hot
//! reload). The UI talks to the engine only through a `client::Attachment` (the
//! protocol's `Command`, `Event`, `Reply`); it never opens the store or Docker itself.

pub mod activity;
pub mod app;
mod best_of;
pub mod editor;
pub mod highlight;
pub mod input;
mod keys;
pub mod manage;
pub mod model;
pub mod patch;
mod pull;
pub mod render;
mod replies;
mod review;
mod submit;
pub mod terminal;
pub mod theme;
