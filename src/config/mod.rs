//! drover's configuration: defaults, then the user's file, then the repository's.
//!
//! Files: `~/.config/drover/config.toml` (or `$XDG_CONFIG_HOME`), then `drover.toml` or
//! `.drover/config.toml` at the repository root. Later files override earlier ones key by
//! key. Unknown keys, wrong types and bad values are `ConfigError`s naming file:line:col.
//! A repository's file is untrusted until the user trusts it (`repo`). This module only
//! reads and validates; it never writes a config file (trust is recorded in the data
//! dir).

mod agent;
pub mod devcontainer;
pub mod environment;
mod error;
mod network;
pub mod repo;
pub mod values;

pub use agent::{AgentConfig, PROVIDERS};
pub use environment::EnvConfig;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use error::{ConfigError, line_col};
pub use network::{Network, Presets};

/// What quitting drover does to tasks that are running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnQuit {
    /// Stop their containers; the tasks become interrupted (resume or retry them).
    Stop,
    /// Leave their containers running; the next drover reattaches and goes on.
    Keep,
}

impl OnQuit {
    pub fn parse(s: &str) -> Option<OnQuit> {
        match s {
            "stop" => Some(OnQuit::Stop),
            "keep" => Some(OnQuit::Keep),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            OnQuit::Stop => "stop",
            OnQuit::Keep => "keep",
        }
    }
}

/// How the TUI says a task needs review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Notify {
    Bell,
    /// OSC 9 desktop notification (iTerm2, kitty, WezTerm, foot, Windows Terminal…).
    Osc9,
    Both,
    None,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Limits {
    pub memory_bytes: u64,
    pub cpus: f64,
    pub pids: i64,
    /// Per tool call / test run.
    #[serde(with = "secs")]
    pub command_timeout: Duration,
    /// Size of the container's writable /tmp (the root filesystem is read-only).
    pub tmp_bytes: u64,
    /// Most a task's workspace may hold on disk; past it the task stops.
    pub disk_bytes: u64,
}

impl Limits {
    /// "4 GiB memory · 2 CPUs · 1024 processes · 600s per command · 1024 MiB /tmp · 20 GiB disk"
    pub fn describe(&self) -> String {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        format!(
            "{:.1} GiB memory · {} CPUs · {} processes · {}s per command · {} MiB /tmp · {:.1} GiB disk",
            gib(self.memory_bytes),
            self.cpus,
            self.pids,
            self.command_timeout.as_secs(),
            self.tmp_bytes >> 20,
            gib(self.disk_bytes)
        )
    }
}

/// Durations in serialized config, as whole seconds.
pub(crate) mod secs {
    pub(crate) fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// Use this image as is (no build).
    pub image: Option<String>,
    /// Registry image the worker Dockerfile builds on; `None` builds the base offline.
    pub base_image: Option<String>,
    /// Commands that prepare the environment, run once in a setup phase of their own
    /// (with `env.setup_network`) and kept as a snapshot.
    pub setup: Vec<String>,
    /// The rest of the setup phase: its variables, network, maintenance and snapshot keys.
    pub env: EnvConfig,
    /// Test command; `None` means auto-detect in the workspace.
    pub test: Option<String>,
    pub max_parallel: usize,
    /// Task containers kept created and running, ready for the repository's next task.
    pub warm_pool: usize,
    pub network: Network,
    /// The OCI runtime task containers run under (`runsc`: gVisor); `None`: Docker's.
    pub runtime: Option<String>,
    /// What the proxy lets a task reach under `network = "allowlist"` (host names,
    /// `*.domain`, IP addresses; also the only private addresses reachable under `open`).
    pub allow: Vec<String>,
    /// HTTP methods the proxy lets through (`None`: any).
    pub methods: Option<Vec<String>>,
    /// The user's named groups of allow entries (`[presets]`), used as `@name`.
    pub presets: Presets,
    pub branch_prefix: String,
    pub limits: Limits,
    pub notify: Notify,
    /// `None`: not configured (the TUI asks once and remembers the answer).
    pub on_quit: Option<OnQuit>,
    /// Start a follow-up by itself when a pushed task's pull request's checks fail (at
    /// most `agent.max_iterations` in a row).
    pub auto_followup_ci: bool,
    pub agent: AgentConfig,
    /// The git remote task branches are pushed to.
    pub remote: String,
    pub forge: ForgeConfig,
    /// Files that were read, in order.
    pub files: Vec<PathBuf>,
    /// Things in those files that work but should not be there (a literal token, a key
    /// of an untrusted repository), each naming file:line, never the value.
    pub warnings: Vec<String>,
    /// Keys of the repository's file ignored because it is not trusted (`drover trust`).
    pub untrusted: Vec<String>,
    /// The task image comes from an untrusted repository (its `image`, `base_image` or
    /// `.drover/Dockerfile`): it may run code as soon as a container starts.
    pub repo_image: bool,
}

/// Lines of a config file holding a token (a known secret value or a token pattern): the
/// file is read by anyone who can read the repository or its backups, so say where,
/// masked.
fn literal_secrets(file: &Path, src: &str) -> Vec<String> {
    let redactor = crate::redact::Redactor::global();
    src.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let kind = redactor.find(line)?;
            Some(format!(
                "{}:{}: a literal secret ({kind}, value not shown): keep it in an environment variable instead ([forge] token_env for GitHub, [agent] api_key_env for a model)",
                file.display(),
                i + 1
            ))
        })
        .collect()
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Config {
            image: None,
            base_image: None,
            setup: Vec::new(),
            env: EnvConfig::default(),
            test: None,
            max_parallel: cores.max(2),
            warm_pool: 0,
            network: Network::None,
            runtime: None,
            allow: Vec::new(),
            methods: None,
            presets: Default::default(),
            branch_prefix: "drover/".into(),
            limits: Limits {
                memory_bytes: 4 << 30,
                cpus: (cores as f64).min(2.0),
                pids: 1024,
                command_timeout: Duration::from_secs(600),
                tmp_bytes: 1 << 30,
                disk_bytes: 20 << 30,
            },
            notify: Notify::Both,
            on_quit: None,
            auto_followup_ci: false,
            agent: AgentConfig::default(),
            remote: "origin".into(),
            forge: ForgeConfig::default(),
            files: Vec::new(),
            warnings: Vec::new(),
            untrusted: Vec::new(),
            repo_image: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    image: Option<Spanned<String>>,
    base_image: Option<Spanned<String>>,
    setup: Option<Spanned<StringOrList>>,
    test: Option<Spanned<String>>,
    max_parallel: Option<Spanned<i64>>,
    warm_pool: Option<Spanned<i64>>,
    network: Option<Spanned<String>>,
    runtime: Option<Spanned<String>>,
    allow: Option<Spanned<Vec<String>>>,
    methods: Option<Spanned<Vec<String>>>,
    presets: Option<Spanned<Presets>>,
    branch_prefix: Option<Spanned<String>>,
    notify: Option<Spanned<String>>,
    on_quit: Option<Spanned<String>>,
    auto_followup: Option<Spanned<String>>,
    limits: Option<LimitsFile>,
    agent: Option<agent::AgentFile>,
    forge: Option<ForgeFile>,
    setup_env: Option<Spanned<Vec<String>>>,
    setup_network: Option<Spanned<String>>,
    setup_allow: Option<Spanned<Vec<String>>>,
    maintenance: Option<Spanned<StringOrList>>,
    snapshot_keys: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgeFile {
    remote: Option<Spanned<String>>,
    api_url: Option<Spanned<String>>,
    repo: Option<Spanned<String>>,
    token_env: Option<String>,
    draft: Option<bool>,
    poll: Option<Spanned<SizeOrNumber>>,
    poll_idle: Option<Spanned<SizeOrNumber>>,
}

/// Pull requests: where the API is, which repository, which token, draft or not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ForgeConfig {
    pub api_url: String,
    /// "owner/name"; default: parsed from the remote URL.
    pub repo: Option<String>,
    pub token_env: Option<String>,
    pub draft: bool,
    /// Seconds between looks at a pushed task's pull request while someone looks at
    /// the task, and otherwise.
    pub poll_secs: u64,
    pub poll_idle_secs: u64,
}

impl Default for ForgeConfig {
    fn default() -> Self {
        ForgeConfig {
            api_url: "https://api.github.com".into(),
            repo: None,
            token_env: None,
            draft: true,
            poll_secs: 15,
            poll_idle_secs: 120,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    memory: Option<Spanned<SizeOrNumber>>,
    cpus: Option<Spanned<f64>>,
    pids: Option<Spanned<i64>>,
    command_timeout: Option<Spanned<SizeOrNumber>>,
    tmp_size: Option<Spanned<SizeOrNumber>>,
    disk: Option<Spanned<SizeOrNumber>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum StringOrList {
    One(String),
    Many(Vec<String>),
}

impl StringOrList {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s],
            StringOrList::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeOrNumber {
    Text(String),
    Number(i64),
}

impl SizeOrNumber {
    fn text(&self) -> String {
        match self {
            SizeOrNumber::Text(s) => s.clone(),
            SizeOrNumber::Number(n) => n.to_string(),
        }
    }
}

/// The user's config file path (it may not exist).
pub fn user_config_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "drover").map(|d| d.config_dir().join("config.toml"))
}

impl Config {
    /// Defaults, then the user's file, then `repo`'s file (when given; held to what stays
    /// in the sandbox unless the user trusts it, as recorded in the data dir of the
    /// environment: `DROVER_HOME` or the XDG default).
    pub fn load(repo: Option<&Path>) -> Result<Config, ConfigError> {
        let data = crate::paths::data_root_from_env().unwrap_or_default();
        Config::load_in(repo, &data)
    }

    /// `load`, trusting what data dir `data` records (an engine knows its own).
    pub fn load_in(repo: Option<&Path>, data: &Path) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(user) = user_config_path().filter(|p| p.is_file()) {
            let src = std::fs::read_to_string(&user).map_err(|e| ConfigError::io(&user, &e))?;
            config.apply_str(&user, &src)?;
        }
        let mut trusted = false;
        if let Some(repo) = repo
            && let Some(file) = repo::find(repo)?
        {
            trusted = repo::is_trusted(&repo::trust_file(data), repo, &file);
            config.apply_repo(&file, trusted)?;
        }
        if let Some(repo) = repo
            && !trusted
            && repo::has_dockerfile(repo)
        {
            config.repo_image = true;
        }
        if let Some(repo) = repo
            && config.image.is_none()
            && !repo::has_dockerfile(repo)
            && let Some(dev) = devcontainer::find(repo)?
        {
            let trusted = repo::is_trusted_devcontainer(&repo::trust_file(data), repo, &dev);
            environment::apply_devcontainer(&mut config, dev, repo, trusted);
        }
        Ok(config)
    }

    /// Applies a repository's file; untrusted, only what stays in the sandbox counts.
    pub fn apply_repo(&mut self, file: &repo::RepoFile, trusted: bool) -> Result<(), ConfigError> {
        let before = self.clone();
        self.apply_str(&file.path, &file.src)?;
        if !trusted {
            self.untrusted = repo::restrain(self, &before, file);
            self.repo_image = self.image != before.image || self.base_image != before.base_image;
        }
        Ok(())
    }

    /// Applies one file's content on top of `self`.
    pub fn apply_str(&mut self, file: &Path, src: &str) -> Result<(), ConfigError> {
        // A BOM is legal in a UTF-8 file but not in TOML.
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        self.warnings.extend(literal_secrets(file, src));
        let raw: FileConfig =
            toml::from_str(src).map_err(|e| ConfigError::at(file, src, e.span(), e.message()))?;
        let err =
            |span: std::ops::Range<usize>, msg: String| ConfigError::at(file, src, Some(span), msg);

        if let Some(v) = raw.image {
            self.image = Some(non_empty(&v, "image").map_err(|m| err(v.span(), m))?);
        }
        if let Some(v) = raw.base_image {
            self.base_image = Some(non_empty(&v, "base_image").map_err(|m| err(v.span(), m))?);
        }
        if let Some(v) = raw.setup {
            let span = v.span();
            self.setup = v.into_inner().into_vec();
            if self.setup.iter().any(|s| s.trim().is_empty()) {
                return Err(err(span, "setup: commands must not be empty".into()));
            }
        }
        let keys = environment::EnvKeys {
            setup_env: raw.setup_env,
            setup_network: raw.setup_network,
            setup_allow: raw.setup_allow,
            maintenance: raw.maintenance,
            snapshot_keys: raw.snapshot_keys,
        };
        // Presets first: this file's `allow` may name the ones it defines.
        let presets = raw.presets;
        if let Some(v) = presets {
            network::parse_presets(v, &mut self.presets).map_err(|(span, m)| err(span, m))?;
        }
        environment::apply(&mut self.env, keys, &self.presets).map_err(|(span, m)| err(span, m))?;
        if let Some(v) = raw.test {
            self.test = Some(non_empty(&v, "test").map_err(|m| err(v.span(), m))?);
        }
        if let Some(v) = raw.max_parallel {
            let n = *v.get_ref();
            if !(1..=256).contains(&n) {
                return Err(err(
                    v.span(),
                    format!("max_parallel must be between 1 and 256, not {n}"),
                ));
            }
            self.max_parallel = n as usize;
        }
        if let Some(v) = raw.warm_pool {
            let n = *v.get_ref();
            if !(0..=32).contains(&n) {
                return Err(err(
                    v.span(),
                    format!("warm_pool must be between 0 and 32, not {n}"),
                ));
            }
            self.warm_pool = n as usize;
        }
        network::apply(self, raw.network, raw.allow, raw.methods)
            .map_err(|(span, m)| err(span, m))?;
        if let Some(v) = raw.runtime {
            let name = v.get_ref();
            let plain = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !plain {
                return Err(err(
                    v.span(),
                    format!("runtime \"{name}\" is not a runtime name (like \"runsc\")"),
                ));
            }
            self.runtime = Some(name.clone());
        }
        if let Some(v) = raw.branch_prefix {
            let p = v.get_ref();
            let valid = !p.is_empty()
                && p.ends_with('/')
                && git2::Reference::is_valid_name(&format!("refs/heads/{p}x"));
            if !valid {
                return Err(err(
                    v.span(),
                    format!(
                        "branch_prefix \"{p}\" must be a valid branch path ending in '/', e.g. \"drover/\""
                    ),
                ));
            }
            self.branch_prefix = p.clone();
        }
        if let Some(v) = raw.notify {
            self.notify = match v.get_ref().as_str() {
                "bell" => Notify::Bell,
                "osc9" => Notify::Osc9,
                "both" => Notify::Both,
                "none" => Notify::None,
                other => {
                    return Err(err(
                        v.span(),
                        format!(
                            "notify must be \"bell\", \"osc9\", \"both\" or \"none\", not \"{other}\""
                        ),
                    ));
                }
            };
        }
        if let Some(v) = raw.on_quit {
            let Some(p) = OnQuit::parse(v.get_ref()) else {
                return Err(err(
                    v.span(),
                    format!(
                        "on_quit must be \"stop\" or \"keep\", not \"{}\"",
                        v.get_ref()
                    ),
                ));
            };
            self.on_quit = Some(p);
        }
        if let Some(v) = raw.auto_followup {
            self.auto_followup_ci = match v.get_ref().as_str() {
                "ci" => true,
                "off" => false,
                other => {
                    let m = format!("auto_followup must be \"ci\" or \"off\", not \"{other}\"");
                    return Err(err(v.span(), m));
                }
            };
        }
        if let Some(f) = raw.forge {
            if let Some(r) = f.remote {
                if !git2::Remote::is_valid_name(r.get_ref()) {
                    let m = format!(
                        "forge.remote \"{}\" is not a valid remote name",
                        r.get_ref()
                    );
                    return Err(err(r.span(), m));
                }
                self.remote = r.into_inner();
            }
            if let Some(u) = f.api_url {
                if !(u.get_ref().starts_with("https://") || u.get_ref().starts_with("http://")) {
                    let m = format!(
                        "forge.api_url must start with https://, not \"{}\"",
                        u.get_ref()
                    );
                    return Err(err(u.span(), m));
                }
                self.forge.api_url = u.into_inner();
            }
            if let Some(r) = f.repo {
                if r.get_ref().split('/').filter(|p| !p.is_empty()).count() != 2 {
                    let m = format!("forge.repo must be \"owner/name\", not \"{}\"", r.get_ref());
                    return Err(err(r.span(), m));
                }
                self.forge.repo = Some(r.into_inner());
            }
            if let Some(t) = f.token_env {
                self.forge.token_env = Some(t);
            }
            if let Some(d) = f.draft {
                self.forge.draft = d;
            }
            for (value, into, what) in [
                (f.poll, &mut self.forge.poll_secs, "forge.poll"),
                (
                    f.poll_idle,
                    &mut self.forge.poll_idle_secs,
                    "forge.poll_idle",
                ),
            ] {
                if let Some(v) = value {
                    let d = values::parse_duration(&v.get_ref().text())
                        .map_err(|m| err(v.span(), format!("{what}: {m}")))?;
                    if d.as_secs() < 1 {
                        return Err(err(v.span(), format!("{what}: at least 1s")));
                    }
                    *into = d.as_secs();
                }
            }
        }
        if let Some(a) = raw.agent {
            a.apply(&mut self.agent).map_err(|(span, m)| err(span, m))?;
        }
        if let Some(l) = raw.limits {
            if let Some(v) = l.memory {
                self.limits.memory_bytes = values::parse_size(&v.get_ref().text())
                    .map_err(|m| err(v.span(), format!("limits.memory: {m}")))?;
                if self.limits.memory_bytes < 64 << 20 {
                    return Err(err(v.span(), "limits.memory must be at least 64m".into()));
                }
            }
            if let Some(v) = l.cpus {
                let c = *v.get_ref();
                if !(c > 0.0 && c <= 1024.0) {
                    return Err(err(
                        v.span(),
                        format!("limits.cpus must be above 0, not {c}"),
                    ));
                }
                self.limits.cpus = c;
            }
            if let Some(v) = l.pids {
                let p = *v.get_ref();
                if p < 16 {
                    return Err(err(
                        v.span(),
                        format!("limits.pids must be at least 16, not {p}"),
                    ));
                }
                self.limits.pids = p;
            }
            if let Some(v) = l.command_timeout {
                self.limits.command_timeout = values::parse_duration(&v.get_ref().text())
                    .map_err(|m| err(v.span(), format!("limits.command_timeout: {m}")))?;
            }
            if let Some(v) = l.tmp_size {
                self.limits.tmp_bytes = values::parse_size(&v.get_ref().text())
                    .map_err(|m| err(v.span(), format!("limits.tmp_size: {m}")))?;
                if self.limits.tmp_bytes < 1 << 20 {
                    return Err(err(v.span(), "limits.tmp_size must be at least 1m".into()));
                }
            }
            if let Some(v) = l.disk {
                self.limits.disk_bytes = values::parse_size(&v.get_ref().text())
                    .map_err(|m| err(v.span(), format!("limits.disk: {m}")))?;
                if self.limits.disk_bytes < 16 << 20 {
                    return Err(err(v.span(), "limits.disk must be at least 16m".into()));
                }
            }
        }
        self.files.push(file.to_path_buf());
        Ok(())
    }
}

fn non_empty(v: &Spanned<String>, key: &str) -> Result<String, String> {
    let s = v.get_ref().trim();
    if s.is_empty() {
        Err(format!("{key} must not be empty"))
    } else {
        Ok(s.to_string())
    }
}

#[cfg(test)]
mod tests;
