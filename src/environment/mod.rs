//! The environment a task's agent works in, made ready once and kept: setup commands run
//! in a phase of their own (with network and `setup_env`, never the agent's), and what
//! they leave is committed as a snapshot image keyed by everything it depends on, so the
//! next task with the same key starts from it and skips setup.
//!
//! `recipe` is what a snapshot depends on and its key; `phase` runs setup or maintenance
//! in a setup container and commits the result; `layer` keeps a task's writable layer
//! over a snapshot's files. Which task uses which image, and the
//! transcript, are the engine's (`engine::environ`); nothing here knows tasks.

pub mod layer;
pub mod phase;
pub mod recipe;

pub use phase::{Egress, Phase, PhaseError, PhaseLog};
pub use recipe::Recipe;

/// The image repository of a data dir's snapshots (one per data dir, so one store's
/// `gc` never removes what another uses).
pub fn image_repo(data_hash: &str) -> String {
    format!("drover-env-{data_hash}")
}

/// The image of the snapshot with key `key` in data dir `data_hash`.
pub fn snapshot_image(data_hash: &str, key: &str) -> String {
    format!("{}:{key}", image_repo(data_hash))
}

/// The values of `setup_env`, read from drover's own environment, each taught to the
/// redactor first (whatever setup prints or writes of it is redacted before it is
/// kept). A variable that is not set is an error naming it.
pub fn setup_env_values(names: &[String]) -> Result<Vec<(String, String)>, String> {
    names
        .iter()
        .map(|name| match std::env::var(name) {
            Ok(value) => {
                crate::redact::Redactor::global().learn(name, &value);
                Ok((name.clone(), value))
            }
            Err(_) => Err(format!(
                "setup_env names {name}, which is not set in drover's environment (for the daemon: export it, then `drover daemon stop` so the next start sees it)"
            )),
        })
        .collect()
}
