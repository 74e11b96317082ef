//! What a snapshot depends on, and its key: the image it was made from (by id), the
//! setup commands, the names (never the values) of `setup_env`, the network setup had,
//! and the dependency manifests and lock files of the base commit (by content), plus
//! `snapshot_keys`. Change any of them and the next task makes a new snapshot.

use sha2::{Digest, Sha256};

use crate::config::{Config, Network};

/// Bumped when what a snapshot holds or how it is restored changes.
const FORMAT: &str = "drover-env/1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub image_id: String,
    pub setup: Vec<String>,
    pub setup_env: Vec<String>,
    pub network: Network,
    /// What setup's proxy lets through (`setup_allow`), under allowlist or open.
    pub allow: Vec<String>,
    /// `(path, git object id)` of the base commit's manifests and `snapshot_keys`.
    pub files: Vec<(String, String)>,
}

impl Recipe {
    /// The recipe of a task based on `commit` of `user_repo`, whose drover repository is
    /// `store` (blocking: reads git objects).
    pub fn of(
        config: &Config,
        image_id: &str,
        store: &std::path::Path,
        user_repo: &std::path::Path,
        commit: &str,
    ) -> Result<Recipe, String> {
        let store =
            crate::workspace::record::open_store(store, user_repo).map_err(|e| e.to_string())?;
        let oid = git2::Oid::from_str(commit).map_err(|e| format!("commit {commit}: {e}"))?;
        let files =
            crate::workspace::manifests::dependency_files(&store, oid, &config.env.snapshot_keys)
                .map_err(|e| format!("reading the dependency files of {commit}: {e}"))?;
        Ok(Recipe {
            image_id: image_id.to_string(),
            setup: config.setup.clone(),
            setup_env: config.env.setup_env.clone(),
            network: config.env.setup_network,
            allow: config.env.setup_allow.clone(),
            files,
        })
    }

    /// The snapshot key: 20 hex digits of a hash of everything above.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        let mut part = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        part(FORMAT);
        part(&self.image_id);
        part(self.network.name());
        // Only when setup goes through a proxy (the only time it counts), so keys made
        // before `setup_allow` existed stay what they were.
        if self.network.proxied() {
            part("setup_allow");
            self.allow.iter().for_each(|s| part(s));
        }
        for (tag, list) in [("setup", &self.setup), ("setup_env", &self.setup_env)] {
            part(tag);
            part(&list.len().to_string());
            list.iter().for_each(|s| part(s));
        }
        part("files");
        for (path, id) in &self.files {
            part(path);
            part(id);
        }
        hex::encode(h.finalize())[..20].to_string()
    }

    /// The files the key depends on, in words ("requirements.txt, web/package-lock.json").
    pub fn describe_files(&self) -> String {
        match self.files.len() {
            0 => "no dependency files".into(),
            n if n <= 4 => self
                .files
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            n => format!(
                "{} and {} more",
                self.files[..3]
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                n - 3
            ),
        }
    }
}

/// Whether there is a setup to run and keep (the configuration has commands).
pub fn wanted(config: &Config) -> bool {
    !config.setup.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe() -> Recipe {
        Recipe {
            image_id: "sha256:1".into(),
            setup: vec!["pip install -r requirements.txt".into()],
            setup_env: vec!["PIP_INDEX_URL".into()],
            network: Network::Bridge,
            allow: Vec::new(),
            files: vec![("requirements.txt".into(), "ab".into())],
        }
    }

    #[test]
    fn the_key_follows_every_part_of_the_recipe() {
        let base = recipe().key();
        assert_eq!(base, recipe().key(), "stable");
        assert_eq!(base.len(), 20);
        let changed = [
            Recipe {
                image_id: "sha256:2".into(),
                ..recipe()
            },
            Recipe {
                setup: vec!["pip install .".into()],
                ..recipe()
            },
            Recipe {
                setup_env: vec![],
                ..recipe()
            },
            Recipe {
                network: Network::None,
                ..recipe()
            },
            Recipe {
                files: vec![("requirements.txt".into(), "cd".into())],
                ..recipe()
            },
            Recipe {
                files: vec![],
                ..recipe()
            },
        ];
        for (i, r) in changed.iter().enumerate() {
            assert_ne!(r.key(), base, "change {i} must change the key");
        }
        // Parts cannot run into each other.
        let a = Recipe {
            setup: vec!["ab".into(), "c".into()],
            ..recipe()
        };
        let b = Recipe {
            setup: vec!["a".into(), "bc".into()],
            ..recipe()
        };
        assert_ne!(a.key(), b.key());
    }
}
