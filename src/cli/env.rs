//! `drover env list | rm | rebuild`: the environment snapshots of this data dir (what
//! setup made, kept as images), and `gc`'s and `doctor`'s view of them.
//!
//! Snapshots are removed only when no container uses them (Docker refuses, and says
//! which); a snapshot's last use is the mtime of its mark in `envs/`.

use std::time::SystemTime;

use super::{CliResult, Failure, open_data};
use crate::config::Config;
use crate::paths::{DataDir, mib};
use crate::runtime::{EnvImage, Runtime};

async fn connect() -> Result<Runtime, Failure> {
    Runtime::connect().await.map_err(Failure::failed)
}

/// When a snapshot was last used (its mark), else made.
pub(super) fn last_used(data: &DataDir, img: &EnvImage) -> SystemTime {
    std::fs::metadata(data.env_uses().join(&img.key))
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(img.created.max(0) as u64)
        })
}

fn days_ago(t: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs());
    match secs / 86_400 {
        0 => "today".into(),
        1 => "1 day ago".into(),
        n => format!("{n} days ago"),
    }
}

pub(super) async fn list() -> CliResult {
    let (data, _) = open_data()?;
    let rt = connect().await?;
    let images = rt.env_images(&data.hash()).await.map_err(Failure::failed)?;
    if images.is_empty() {
        outln!("no environment snapshots (a task with `setup` makes one)");
        return Ok(0);
    }
    let mut total = 0;
    for img in &images {
        total += img.own_bytes;
        outln!(
            "{}  {:>9}  used {}  {}  {}",
            img.key,
            mib(img.own_bytes),
            days_ago(last_used(&data, img)),
            img.repo_path,
            match img.containers {
                0 => String::new(),
                n => format!("({n} container(s))"),
            }
        );
    }
    outln!("{} snapshot(s), {} of their own", images.len(), mib(total));
    Ok(0)
}

/// Removes the snapshots whose key starts with `key` (all of them with `all`).
pub(super) async fn rm(key: Option<String>, all: bool) -> CliResult {
    let (data, _) = open_data()?;
    let rt = connect().await?;
    let images = rt.env_images(&data.hash()).await.map_err(Failure::failed)?;
    let chosen: Vec<&EnvImage> = match (&key, all) {
        (_, true) => images.iter().collect(),
        (Some(k), false) if !k.is_empty() => images
            .iter()
            .filter(|i| i.key.starts_with(k.as_str()))
            .collect(),
        _ => {
            return Err(Failure::usage(
                "name a snapshot key (drover env list) or --all",
            ));
        }
    };
    if chosen.is_empty() {
        return Err(Failure::usage(format!(
            "no snapshot {}: `drover env list` shows them",
            key.unwrap_or_default()
        )));
    }
    remove(&rt, &data, &chosen).await
}

async fn remove(rt: &Runtime, data: &DataDir, images: &[&EnvImage]) -> CliResult {
    let mut failed = 0;
    for img in images {
        match rt.remove_image(&img.tag).await {
            Ok(()) => {
                let _ = std::fs::remove_file(data.env_uses().join(&img.key));
                outln!(
                    "removed snapshot {} ({}, {})",
                    img.key,
                    mib(img.own_bytes),
                    img.repo_path
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("snapshot {} stays: {e}", img.key);
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}

/// Drops the snapshot the repository's next task would start from, so that task runs
/// setup again (with what the registries serve now) and keeps a new one.
pub(super) async fn rebuild(repo: std::path::PathBuf) -> CliResult {
    let root = crate::workspace::resolve_head(&repo)
        .map_err(Failure::usage)?
        .root;
    let (data, _) = open_data()?;
    let config = Config::load_in(Some(&root), data.root()).map_err(Failure::usage)?;
    if !crate::environment::recipe::wanted(&config) {
        outln!(
            "{} has no setup: there is no snapshot to rebuild",
            root.display()
        );
        return Ok(0);
    }
    let rt = connect().await?;
    let repo_hash = crate::paths::repo_hash(&root);
    let images = rt.env_images(&data.hash()).await.map_err(Failure::failed)?;
    let ours: Vec<&EnvImage> = images.iter().filter(|i| i.repo_hash == repo_hash).collect();
    if ours.is_empty() {
        outln!(
            "no snapshot of {} yet: its next task runs setup and keeps one",
            root.display()
        );
        return Ok(0);
    }
    let code = remove(&rt, &data, &ours).await?;
    outln!(
        "the next task of {} runs setup again and keeps a new snapshot",
        root.display()
    );
    Ok(code)
}

/// `gc`: snapshots not used for `days` and used by no container.
pub(super) async fn gc(rt: &Runtime, data: &DataDir, days: u64, dry_run: bool) -> u64 {
    let Ok(images) = rt.env_images(&data.hash()).await else {
        return 0;
    };
    let cutoff = SystemTime::now() - std::time::Duration::from_secs(days * 86_400);
    let mut freed = 0;
    for img in images
        .iter()
        .filter(|i| i.containers == 0 && last_used(data, i) < cutoff)
    {
        let gone = dry_run || rt.remove_image(&img.tag).await.is_ok();
        if gone {
            if !dry_run {
                let _ = std::fs::remove_file(data.env_uses().join(&img.key));
            }
            freed += img.own_bytes;
            outln!(
                "{} snapshot {} ({}, {}, unused for {days}+ days)",
                if dry_run { "would remove" } else { "removed" },
                img.key,
                mib(img.own_bytes),
                img.repo_path
            );
        }
    }
    freed
}

/// `doctor`'s line: how many snapshots and the disk they take.
pub(super) async fn disk(rt: &Runtime, data: &DataDir) -> String {
    match rt.env_images(&data.hash()).await {
        Ok(images) if images.is_empty() => "no environment snapshots".into(),
        Ok(images) => format!(
            "{} environment snapshot(s), {} of their own (drover env list)",
            images.len(),
            mib(images.iter().map(|i| i.own_bytes).sum())
        ),
        Err(e) => format!("cannot list environment snapshots: {e}"),
    }
}
