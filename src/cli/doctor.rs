//! `drover doctor` (what works, what does not, and how to fix it) and `drover image build`.

use std::path::PathBuf;

use super::{CliResult, Failure};
use crate::config::Config;
use crate::paths::DataDir;
use crate::runtime::{Runtime, image};
use crate::workspace;

pub(super) async fn doctor(repo: PathBuf) -> CliResult {
    let mut problems = 0;
    let mut line = |ok: bool, what: &str, detail: String| {
        if !ok {
            problems += 1;
        }
        outln!("{} {what:<8} {detail}", if ok { "✓" } else { "✗" });
    };
    let v = git2::Version::get();
    let (maj, min, patch) = v.libgit2_version();
    line(
        true,
        "git",
        format!(
            "libgit2 {maj}.{min}.{patch} (https: {}, ssh: {})",
            v.https(),
            v.ssh()
        ),
    );
    let root = match workspace::resolve_head(&repo) {
        Ok(h) => {
            line(
                true,
                "repo",
                format!(
                    "{} on {} at {}",
                    h.root.display(),
                    h.branch.as_deref().unwrap_or("detached HEAD"),
                    &h.commit[..12]
                ),
            );
            Some(h.root)
        }
        Err(e) => {
            line(false, "repo", e.to_string());
            None
        }
    };
    let config = match Config::load(root.as_deref()) {
        Ok(c) => {
            let files = if c.files.is_empty() {
                format!(
                    "defaults (no config file; user file would be {})",
                    crate::config::user_config_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            } else {
                c.files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            line(true, "config", files);
            for w in &c.warnings {
                line(false, "config", w.clone());
            }
            Some(c)
        }
        Err(e) => {
            line(false, "config", e.to_string());
            None
        }
    };
    if let Some(c) = &config {
        match crate::agent::resolve::describe(&c.agent, c.network, None).await {
            Ok(label) => line(true, "agent", label),
            Err(e) => line(false, "agent", e),
        }
        line(true, "network", network_line(c));
    }
    match DataDir::from_env() {
        Ok(d) => {
            line(true, "data", d.root().display().to_string());
            let dir = d.root().join("workspaces");
            let count = std::fs::read_dir(&dir).map_or(0, |e| e.count());
            line(
                true,
                "workspaces",
                format!(
                    "{count} using {} (drover gc frees those of pushed and discarded tasks)",
                    crate::paths::mib(crate::paths::disk_usage(&dir))
                ),
            );
            use crate::client::{ClientError, Connection};
            match Connection::connect(&crate::host::socket_path(&d)).await {
                Ok(c) => line(
                    true,
                    "daemon",
                    format!(
                        "drover {}: {} serves the data dir",
                        c.welcome.version,
                        c.welcome.who()
                    ),
                ),
                Err(ClientError::NotRunning(_)) => line(
                    true,
                    "daemon",
                    "not running (the TUI and commands start it when needed)".into(),
                ),
                Err(e) => line(false, "daemon", e.to_string()),
            }
        }
        Err(e) => line(false, "data", e.to_string()),
    }
    match Runtime::connect().await {
        Ok(rt) => {
            line(true, "docker", format!("{} at {}", rt.version(), rt.host()));
            if let Some(c) = &config {
                match image::task_image(c, root.as_deref()) {
                    Ok(img) => match rt.image_exists(&img).await {
                        Ok(true) => line(true, "image", img),
                        Ok(false) => line(
                            false,
                            "image",
                            format!(
                                "{img} not found: `drover image build` would {}",
                                crate::runtime::base::plan(&rt, c).await
                            ),
                        ),
                        Err(e) => line(false, "image", e.to_string()),
                    },
                    Err(e) => line(false, "image", e.to_string()),
                }
                if let Some(src) = &c.env.source {
                    line(true, "environment", format!("described by {src}"));
                }
            }
            match (
                rt.runtimes().await,
                config.as_ref().and_then(|c| c.runtime.clone()),
            ) {
                (Ok(known), Some(want)) if known.contains(&want) => line(
                    true,
                    "runtime",
                    format!("tasks run under {want} ({} registered)", known.join(", ")),
                ),
                (Ok(_), Some(want)) => match rt.require_runtime(&want).await {
                    Err(e) => line(false, "runtime", e.to_string()),
                    Ok(()) => line(true, "runtime", want),
                },
                (Ok(known), None) => line(
                    true,
                    "runtime",
                    format!(
                        "Docker's default ({} registered{})",
                        known.join(", "),
                        if known.iter().any(|k| k == "runsc") {
                            "; runtime = \"runsc\" runs tasks under gVisor"
                        } else {
                            ""
                        }
                    ),
                ),
                (Err(e), _) => line(false, "runtime", e.to_string()),
            }
            if let Ok(data) = DataDir::from_env() {
                line(true, "snapshots", super::env::disk(&rt, &data).await);
            }
        }
        Err(e) => line(false, "docker", e.to_string()),
    }
    Ok(if problems == 0 { 0 } else { 1 })
}

/// The task network, what it reaches, and what `@registries` means on this machine.
fn network_line(c: &Config) -> String {
    use crate::egress::presets;
    let reach = match c.network {
        crate::config::Network::Allowlist => format!(" reaching {}", c.allow_hosts().join(", ")),
        _ => String::new(),
    };
    format!(
        "{}{reach} · setup {} · @registries: {}",
        c.network.name(),
        c.env.setup_network.name(),
        presets::describe(&presets::discover(&presets::Host::this()))
    )
}

pub(super) async fn image_build(repo: PathBuf, force: bool) -> CliResult {
    let root = workspace::resolve_head(&repo).ok().map(|h| h.root);
    let config = Config::load(root.as_deref()).map_err(Failure::usage)?;
    let data = DataDir::from_env().map_err(|e| Failure::usage(format!("data dir: {e}")))?;
    let rt = Runtime::connect().await.map_err(Failure::usage)?;
    let mut progress = |l: &str| eprintln!("  {}", crate::text::inert(l.trim_end()));
    let report = image::build(&rt, &config, root.as_deref(), &data, force, &mut progress)
        .await
        .map_err(Failure::failed)?;
    if let Some(base) = &report.base {
        outln!("base: {}", base.why);
    }
    if report.built.is_empty() {
        outln!("{} is up to date", report.image);
    } else {
        outln!(
            "{} ready (built {} in {:.1}s)",
            report.image,
            report.built.join(", "),
            report.seconds
        );
    }
    Ok(0)
}
