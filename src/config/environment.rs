//! The keys that describe a task's environment beyond its image: what the setup phase
//! may use (`setup_env`, `setup_network`), what runs on a reused snapshot
//! (`maintenance`) and what else a snapshot depends on (`snapshot_keys`).
//!
//! Only parses and validates; what these mean at run time is `crate::environment`.

use std::ops::Range;

use toml::Spanned;

use super::Network;

/// The environment keys as they appear in a file.
#[derive(Debug, Default)]
pub(super) struct EnvKeys {
    pub setup_env: Option<Spanned<Vec<String>>>,
    pub setup_network: Option<Spanned<String>>,
    pub setup_allow: Option<Spanned<Vec<String>>>,
    pub maintenance: Option<Spanned<super::StringOrList>>,
    pub snapshot_keys: Option<Spanned<Vec<String>>>,
}

/// The setup phase and snapshots, as configured.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EnvConfig {
    /// Names of host environment variables given to setup (and maintenance) only, never
    /// to the agent phase; their values are redacted everywhere.
    pub setup_env: Vec<String>,
    /// The network setup runs with (`bridge` by default; `none` keeps it offline;
    /// `allowlist` or `open` through a proxy of its own, like a task's).
    pub setup_network: Network,
    /// What setup's proxy lets through under `allowlist` (and the only internal
    /// addresses it reaches under `open`); by default `@registries`.
    pub setup_allow: Vec<String>,
    /// Commands run (with setup's network) on a reused snapshot before the agent starts.
    pub maintenance: Vec<String>,
    /// More paths of the base commit a snapshot depends on, beside the detected
    /// dependency manifests and lock files.
    pub snapshot_keys: Vec<String>,
    /// Where the environment is described, when a file of the repository does it
    /// (".devcontainer/devcontainer.json").
    pub source: Option<String>,
    /// The devcontainer's Dockerfile build (instead of drover's worker image).
    pub build: Option<super::devcontainer::DevBuild>,
    /// Variables every container of the task gets (the devcontainer's `containerEnv`).
    pub container_env: Vec<(String, String)>,
    /// The user (name or uid) of the image the agent and setup run as: the
    /// devcontainer's `remoteUser` (or `containerUser`), when the image has it.
    pub user: Option<String>,
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig {
            setup_env: Vec::new(),
            setup_network: Network::Bridge,
            setup_allow: vec!["@registries".into()],
            maintenance: Vec::new(),
            snapshot_keys: Vec::new(),
            source: None,
            build: None,
            container_env: Vec::new(),
            user: None,
        }
    }
}

/// Uses a repository's devcontainer file where drover's own config leaves the
/// environment undescribed (no `image`, no `.drover/Dockerfile`; no `setup` for its
/// commands). Untrusted, its commands run without network and its image is the
/// repository's (`repo_image`).
pub(super) fn apply_devcontainer(
    config: &mut super::Config,
    dev: super::devcontainer::DevContainer,
    repo: &std::path::Path,
    trusted: bool,
) {
    let file = repo.join(&dev.file);
    config.env.source = Some(dev.file.display().to_string());
    if dev.image.is_some() || dev.build.is_some() {
        config.repo_image |= !trusted;
    }
    config.image = dev.image;
    config.env.build = dev.build;
    config.env.container_env = dev.env;
    config.env.user = dev.user;
    if config.setup.is_empty() && !dev.setup.is_empty() {
        config.setup = dev.setup;
        if !trusted && config.env.setup_network != Network::None {
            config.env.setup_network = Network::None;
            config.warnings.push(format!(
                "{}: its create commands run without network until you trust the repository (they run its code): read the file, then run `drover trust` in {}",
                file.display(),
                repo.display()
            ));
        }
    }
    if !dev.ignored.is_empty() {
        config.warnings.push(format!(
            "{}: drover does not honour {}; its own sandbox (no privileges, no mounts but the workspace, its network policy) applies",
            file.display(),
            dev.ignored.join(", ")
        ));
    }
}

/// Applies the keys found, or says which one is wrong and where.
pub(super) fn apply(
    env: &mut EnvConfig,
    keys: EnvKeys,
    presets: &super::network::Presets,
) -> Result<(), (Range<usize>, String)> {
    if let Some(v) = keys.setup_env {
        let span = v.span();
        for name in v.get_ref() {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err((
                    span,
                    format!(
                        "setup_env: \"{name}\" is not an environment variable name (letters, digits and _)"
                    ),
                ));
            }
        }
        env.setup_env = v.into_inner();
    }
    if let Some(v) = keys.setup_network {
        env.setup_network = super::network::parse_network(&v, "setup_network")?;
    }
    if let Some(v) = keys.setup_allow {
        env.setup_allow = super::network::parse_allow(v, "setup_allow", presets)?;
    }
    if let Some(v) = keys.maintenance {
        let span = v.span();
        env.maintenance = v.into_inner().into_vec();
        if env.maintenance.iter().any(|s| s.trim().is_empty()) {
            return Err((span, "maintenance: commands must not be empty".into()));
        }
    }
    if let Some(v) = keys.snapshot_keys {
        let span = v.span();
        for p in v.get_ref() {
            let bad = p.is_empty()
                || p.starts_with('/')
                || p.split('/').any(|part| part == ".." || part == ".git");
            if bad {
                return Err((
                    span,
                    format!(
                        "snapshot_keys: \"{p}\" must be a path inside the repository (relative, no .. or .git)"
                    ),
                ));
            }
        }
        env.snapshot_keys = v.into_inner();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, Network, repo};

    #[test]
    fn htb_07_an_untrusted_setup_runs_offline_and_gets_no_host_variables() {
        let src = "setup = [\"pip install -r requirements.txt\"]\nsetup_env = [\"GITHUB_TOKEN\"]\nmaintenance = \"pip install -r requirements.txt\"\nsnapshot_keys = [\"data/schema.sql\"]\n";
        let file = repo::RepoFile {
            path: "/r/drover.toml".into(),
            src: src.into(),
        };
        let mut c = Config::default();
        c.apply_repo(&file, false).unwrap();
        // Its commands stay (they run in the sandbox), without network or host variables.
        assert_eq!(c.setup, ["pip install -r requirements.txt"]);
        assert_eq!(c.env.snapshot_keys, ["data/schema.sql"]);
        assert_eq!(c.env.setup_network, Network::None);
        assert!(c.env.setup_env.is_empty());
        assert_eq!(c.untrusted, ["setup_env"]);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with("/r/drover.toml:1: setup runs without network")),
            "{:?}",
            c.warnings
        );
        let mut t = Config::default();
        t.apply_repo(&file, true).unwrap();
        assert_eq!(t.env.setup_network, Network::Bridge);
        assert_eq!(t.env.setup_env, ["GITHUB_TOKEN"]);
        // A user's own setup keeps its network under an untrusted file that leaves it be.
        let mut u = Config {
            setup: vec!["make deps".into()],
            ..Config::default()
        };
        let other = repo::RepoFile {
            path: "/r/drover.toml".into(),
            src: "test = \"make check\"\n".into(),
        };
        u.apply_repo(&other, false).unwrap();
        assert_eq!(u.env.setup_network, Network::Bridge);
    }

    #[test]
    fn environment_keys_are_checked_where_they_are() {
        let bad = [
            ("setup_env = [\"A-B\"]", "not an environment variable name"),
            ("setup_network = \"host\"", "setup_network must be"),
            ("maintenance = [\"\"]", "must not be empty"),
            ("snapshot_keys = [\"../x\"]", "inside the repository"),
        ];
        for (src, want) in bad {
            let e = Config::default()
                .apply_str(Path::new("/r/drover.toml"), src)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("/r/drover.toml:1:") && e.contains(want),
                "{src}: {e}"
            );
        }
    }
}
