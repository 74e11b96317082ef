//! A repository's own config file (`drover.toml` or `.drover/config.toml`): found and
//! read as a cloned repository's other files are (beneath its root, no link followed),
//! and held to what stays inside the sandbox until the user trusts it.
//!
//! Anyone can commit a `drover.toml`. Until `drover trust` records the repository with a
//! hash of that file (as `direnv allow` and `mise trust` do), the keys that could send a
//! credential somewhere or widen the sandbox are ignored, each with a warning naming
//! `file:line` and the command to trust: the agent's endpoint, provider, model, key
//! variable, prices and command agent; the forge's URL, repository, token variable,
//! remote and draft setting; the branch prefix; network; and any limit or budget set
//! higher than it would be without the file. Lowering a limit, the image, `setup` and
//! `test` need no trust: they stay inside the container. Any change to a trusted file
//! asks again. The user's own config is always trusted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Config, ConfigError, Network, line_col};
use crate::beneath::{Beneath, Kind};

/// Names of the repository's config file, in the order they are looked for.
const NAMES: [&str; 2] = ["drover.toml", ".drover/config.toml"];
const MAX_BYTES: u64 = 1 << 20;

/// The repository's config file as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub path: PathBuf,
    pub src: String,
}

/// The repository's config file, if it has one. Two of them, a link, a special file or
/// an oversized file are errors naming it.
pub fn find(repo: &Path) -> Result<Option<RepoFile>, ConfigError> {
    let root = match Beneath::open(repo) {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    let found: Vec<(&str, Kind)> = NAMES
        .iter()
        .filter_map(|n| root.kind(Path::new(n)).map(|k| (*n, k)))
        .collect();
    let at = |name: &str, message: String| ConfigError {
        file: repo.join(name),
        line: 1,
        col: 1,
        message,
        snippet: None,
    };
    let (name, kind) = match found.as_slice() {
        [] => return Ok(None),
        [one] => *one,
        [a, b, ..] => {
            return Err(at(
                a.0,
                format!(
                    "both this file and {} exist: keep one",
                    repo.join(b.0).display()
                ),
            ));
        }
    };
    if kind != Kind::File {
        return Err(at(
            name,
            "not a regular file (a link?): drover reads a repository's config only from a real file, and never follows links in a repository".into(),
        ));
    }
    let bytes = root
        .read(Path::new(name), MAX_BYTES)
        .map_err(|e| ConfigError::io(&repo.join(name), &e))?
        .ok_or_else(|| at(name, format!("larger than {} KiB", MAX_BYTES >> 10)))?;
    let src = String::from_utf8(bytes).map_err(|_| at(name, "not UTF-8 text".into()))?;
    Ok(Some(RepoFile {
        path: repo.join(name),
        src,
    }))
}

/// Whether the repository brings its own image recipe (`.drover/Dockerfile`).
pub fn has_dockerfile(repo: &Path) -> bool {
    Beneath::open(repo).is_ok_and(|r| r.kind(Path::new(".drover/Dockerfile")).is_some())
}

/// What trusting pins: the file's place and its exact content.
fn fingerprint(file: &RepoFile) -> String {
    let mut h = Sha256::new();
    h.update(file.path.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(file.src.as_bytes());
    hex::encode(h.finalize())
}

/// Where trust is recorded in data dir `data`.
pub fn trust_file(data: &Path) -> PathBuf {
    data.join("trusted.json")
}

fn records(trust_file: &Path) -> BTreeMap<String, String> {
    std::fs::read(trust_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn key(repo: &Path) -> String {
    repo.to_string_lossy().into_owned()
}

/// Whether the user trusts this very file of `repo` (records in `trust_file`).
pub fn is_trusted(trust_file: &Path, repo: &Path, file: &RepoFile) -> bool {
    records(trust_file).get(&key(repo)) == Some(&fingerprint(file))
}

/// Records that the user trusts `repo`'s config file as it is now; `None` when it has
/// none. The data dir is made if needed.
pub fn trust(trust_file: &Path, repo: &Path) -> Result<Option<RepoFile>, String> {
    let Some(file) = find(repo).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut all = records(trust_file);
    all.insert(key(repo), fingerprint(&file));
    save(trust_file, &all)?;
    Ok(Some(file))
}

fn devcontainer_key(repo: &Path) -> String {
    format!("{}#devcontainer", key(repo))
}

/// Whether the user trusts this very devcontainer file of `repo`.
pub fn is_trusted_devcontainer(
    trust_file: &Path,
    repo: &Path,
    dev: &super::devcontainer::DevContainer,
) -> bool {
    records(trust_file).get(&devcontainer_key(repo)) == Some(&dev.fingerprint)
}

/// Records that the user trusts `repo`'s devcontainer file as it is now; which file,
/// `None` when it has none.
pub fn trust_devcontainer(trust_file: &Path, repo: &Path) -> Result<Option<PathBuf>, String> {
    let Some(dev) = super::devcontainer::find(repo).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let mut all = records(trust_file);
    all.insert(devcontainer_key(repo), dev.fingerprint);
    save(trust_file, &all)?;
    Ok(Some(repo.join(dev.file)))
}

/// Forgets `repo`; whether it was trusted.
pub fn revoke(trust_file: &Path, repo: &Path) -> Result<bool, String> {
    let mut all = records(trust_file);
    let was = all.remove(&key(repo)).is_some();
    let was = all.remove(&devcontainer_key(repo)).is_some() || was;
    save(trust_file, &all)?;
    Ok(was)
}

fn save(path: &Path, all: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        crate::paths::create_private_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let json = serde_json::to_vec_pretty(all).map_err(|e| e.to_string())?;
    crate::paths::write_private(path, &json).map_err(|e| format!("{}: {e}", path.display()))
}

/// Undoes what an untrusted repository file changed beyond what stays in the sandbox:
/// `before` is the config without it. Returns the keys ignored, each also a warning.
pub(super) fn restrain(config: &mut Config, before: &Config, file: &RepoFile) -> Vec<String> {
    let mut ignored: Vec<&'static str> = Vec::new();
    let mut same = |changed: bool, key: &'static str| {
        if changed {
            ignored.push(key);
        }
        changed
    };
    macro_rules! keep {
        ($($field:ident).+, $key:literal) => {
            if same(config.$($field).+ != before.$($field).+, $key) {
                config.$($field).+ = before.$($field).+.clone();
            }
        };
    }
    macro_rules! at_most {
        ($($field:ident).+, $key:literal) => {
            if same(config.$($field).+ > before.$($field).+, $key) {
                config.$($field).+ = before.$($field).+.clone();
            }
        };
    }
    macro_rules! at_most_some {
        ($($field:ident).+, $key:literal) => {
            let wider = match (&before.$($field).+, &config.$($field).+) {
                (Some(was), Some(now)) => now > was,
                (Some(_), None) => true,
                _ => false,
            };
            if same(wider, $key) {
                config.$($field).+ = before.$($field).+.clone();
            }
        };
    }
    if same(config.network.reach() > before.network.reach(), "network") {
        config.network = before.network;
    }
    keep!(allow, "allow");
    keep!(presets, "presets");
    // Another runtime could be a weaker one: only once trusted.
    keep!(runtime, "runtime");
    if same(
        before.methods.is_some() && config.methods != before.methods,
        "methods",
    ) {
        config.methods = before.methods.clone();
    }
    keep!(env.setup_env, "setup_env");
    keep!(env.setup_allow, "setup_allow");
    // The repository's own setup commands run its code with network: only once trusted.
    let own_setup = config.setup != before.setup
        || config.env.maintenance != before.env.maintenance
        || config.env.setup_network != before.env.setup_network;
    let offline_setup = own_setup && config.env.setup_network != Network::None;
    if offline_setup {
        config.env.setup_network = Network::None;
    }
    keep!(branch_prefix, "branch_prefix");
    keep!(remote, "forge.remote");
    keep!(forge.api_url, "forge.api_url");
    keep!(forge.repo, "forge.repo");
    keep!(forge.token_env, "forge.token_env");
    // How often drover asks GitHub spends the user's rate limit: theirs to say.
    keep!(forge.poll_secs, "forge.poll");
    keep!(forge.poll_idle_secs, "forge.poll_idle");
    // Agents started by themselves spend the user's money: the user's to turn on.
    keep!(auto_followup_ci, "auto_followup");
    if same(before.forge.draft && !config.forge.draft, "forge.draft") {
        config.forge.draft = true;
    }
    keep!(agent.provider, "agent.provider");
    keep!(agent.model, "agent.model");
    keep!(agent.base_url, "agent.base_url");
    keep!(agent.api_key_env, "agent.api_key_env");
    keep!(agent.command, "agent.command");
    keep!(agent.preset, "agent.preset");
    keep!(agent.format, "agent.format");
    keep!(agent.env, "agent.env");
    keep!(agent.price_input, "agent.price_input");
    keep!(agent.price_output, "agent.price_output");
    at_most!(agent.max_tokens, "agent.max_tokens");
    at_most!(agent.max_turns, "agent.max_turns");
    at_most!(agent.max_iterations, "agent.max_iterations");
    at_most!(agent.wall_clock, "agent.wall_clock");
    at_most!(agent.idle_timeout, "agent.idle_timeout");
    at_most!(agent.retries, "agent.retries");
    at_most_some!(agent.token_budget, "agent.token_budget");
    at_most_some!(agent.cost_cap_usd, "agent.cost_cap_usd");
    at_most!(limits.memory_bytes, "limits.memory");
    at_most!(limits.cpus, "limits.cpus");
    at_most!(limits.pids, "limits.pids");
    at_most!(limits.command_timeout, "limits.command_timeout");
    at_most!(limits.tmp_bytes, "limits.tmp_size");
    at_most!(limits.disk_bytes, "limits.disk");
    at_most!(warm_pool, "warm_pool");
    // Raising the engine's parallelism, or leaving agents running unwatched on quit, is
    // the user's call.
    at_most!(max_parallel, "max_parallel");
    keep!(on_quit, "on_quit");

    let repo = file
        .path
        .ancestors()
        .nth(if file.path.ends_with(".drover/config.toml") {
            2
        } else {
            1
        })
        .unwrap_or(Path::new("."));
    if offline_setup {
        let key = if config.setup != before.setup {
            "setup"
        } else {
            "maintenance"
        };
        config.warnings.push(format!(
            "{}:{}: {key} runs without network until you trust this repository's config (its commands would run the repository's code with network): read the file, then run `drover trust` in {}",
            file.path.display(),
            line_of(&file.src, key),
            repo.display()
        ));
    }
    for k in &ignored {
        config.warnings.push(format!(
            "{}:{}: {k} is ignored until you trust this repository's config (it could send a credential elsewhere or widen the sandbox): read the file, then run `drover trust` in {}",
            file.path.display(),
            line_of(&file.src, k),
            repo.display()
        ));
    }
    ignored.into_iter().map(String::from).collect()
}

/// The line where `key` ("agent.base_url", "network") is set in `src` (1 if unknown).
fn line_of(src: &str, key: &str) -> usize {
    let Ok(doc) = toml::de::DeTable::parse(src) else {
        return 1;
    };
    let mut table = doc.get_ref();
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some((k, v)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == part) else {
            return 1;
        };
        match (parts.peek(), v.get_ref()) {
            (Some(_), toml::de::DeValue::Table(t)) => table = t,
            _ => return line_col(src, k.span().start).0,
        }
    }
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_finds_keys_in_tables() {
        let src = "test = \"x\"\nnetwork = \"bridge\"\n\n[agent]\nmodel = \"m\"\nbase_url = \"http://x\"\n";
        assert_eq!(line_of(src, "network"), 2);
        assert_eq!(line_of(src, "agent.base_url"), 6);
        assert_eq!(line_of(src, "forge.repo"), 1);
    }
}
