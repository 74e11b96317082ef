//! Named groups of allowlist entries, written `@name` in `allow` and `setup_allow`:
//! `@registries` (the package sources this machine's own tools are configured with),
//! `@github` (the forge drover pushes to) and the user's own `[presets]`.
//!
//! `@registries` is read from the host, never from a repository: apt's sources, pip's
//! and uv's index settings, npm's registries, cargo's registries and source
//! replacements, and `GOPROXY`. So a machine behind a mirror allows its mirror, and
//! a user whose tools use their public defaults lists those hosts once in
//! `[presets] registries = [...]` of their user config (a user preset of a built-in
//! name adds to it). Only expands and discovers; the policy is `policy`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The presets drover knows without configuration.
pub const BUILT_IN: [&str; 2] = ["registries", "github"];

/// Where the host's tools look for packages: (tool, host), in a stable order.
pub type Sources = Vec<(&'static str, String)>;

/// Whether `entry` names a preset (`@name`), and which.
pub fn preset_name(entry: &str) -> Option<&str> {
    entry.trim().strip_prefix('@')
}

/// Checks a preset reference: a known name, built in or in `user`.
pub fn check(entry: &str, user: &BTreeMap<String, Vec<String>>) -> Result<(), String> {
    let Some(name) = preset_name(entry) else {
        return Ok(());
    };
    if BUILT_IN.contains(&name) || user.contains_key(name) {
        return Ok(());
    }
    let mut known: Vec<&str> = BUILT_IN.to_vec();
    known.extend(user.keys().map(String::as_str));
    Err(format!(
        "\"{entry}\" names no preset (known: {}; define your own under [presets] in your user config)",
        known
            .iter()
            .map(|k| format!("@{k}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `entries` with every `@preset` replaced by its hosts, each entry once, in order.
/// `github_api` is the forge's API address (`[forge] api_url`); `registries` what
/// `discover` found.
pub fn expand(
    entries: &[String],
    user: &BTreeMap<String, Vec<String>>,
    github_api: &str,
    registries: &Sources,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |e: String| {
        if !out.contains(&e) {
            out.push(e);
        }
    };
    for entry in entries {
        let Some(name) = preset_name(entry) else {
            push(entry.clone());
            continue;
        };
        match name {
            "registries" => registries.iter().for_each(|(_, h)| push(h.clone())),
            "github" => github_hosts(github_api).into_iter().for_each(&mut push),
            _ => {}
        }
        // User entries are plain hosts (config refuses `@` inside a preset).
        user.get(name)
            .into_iter()
            .flatten()
            .for_each(|e| push(e.clone()));
    }
    out
}

/// The hosts a clone, a fetch, the API and raw downloads of a GitHub use. For
/// github.com's API those are its web host and its content hosts; for GitHub
/// Enterprise Server (`https://ghe.example/api/v3`), the one host.
fn github_hosts(api: &str) -> Vec<String> {
    let Some(host) = host_of(api) else {
        return Vec::new();
    };
    match host.strip_prefix("api.") {
        Some(web) => {
            let mut hosts = vec![web.to_string(), host.clone(), format!("codeload.{web}")];
            // Raw files, release assets and archives are served from here.
            if web == "github.com" {
                hosts.push("*.githubusercontent.com".into());
            }
            hosts
        }
        None => vec![host],
    }
}

/// The host of a URL (`sparse+https://…` and `persistent-https://…` too), lowercase.
fn host_of(s: &str) -> Option<String> {
    let s = s.trim().trim_matches('"').trim_matches('\'');
    let s = s.split_once('+').map_or(
        s,
        |(scheme, rest)| {
            if scheme.contains("://") { s } else { rest }
        },
    );
    let url = url::Url::parse(s).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    url.host_str().map(|h| {
        h.trim_matches(|c| c == '[' || c == ']')
            .to_ascii_lowercase()
    })
}

/// Where to look: the filesystem root, the user's home and environment. Tests give
/// a directory and variables of their own; drover gives the real ones.
pub struct Host {
    pub root: PathBuf,
    pub home: Option<PathBuf>,
    pub vars: Vec<(String, String)>,
}

impl Host {
    /// This machine.
    pub fn this() -> Host {
        Host {
            root: PathBuf::from("/"),
            home: std::env::var_os("HOME").map(PathBuf::from),
            vars: std::env::vars().collect(),
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn read(&self, path: &Path) -> String {
        std::fs::read_to_string(self.root.join(path.strip_prefix("/").unwrap_or(path)))
            .unwrap_or_default()
    }

    fn home_file(&self, rel: &str) -> String {
        self.home
            .as_ref()
            .map(|h| self.read(&h.join(rel)))
            .unwrap_or_default()
    }

    fn dir(&self, path: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.root.join(path))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| Path::new("/").join(path).join(e.file_name()))
            .collect();
        files.sort();
        files
    }
}

/// The package hosts this machine's tools are configured with.
pub fn discover(host: &Host) -> Sources {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    let mut add = |tool: &'static str, value: &str| {
        for word in value.split([' ', ',', '|', '\t']) {
            if let Some(h) = host_of(word)
                && !found.iter().any(|(_, f)| *f == h)
            {
                found.push((tool, h));
            }
        }
    };

    // apt: one-line `deb URL suite…` lists and deb822 `URIs:` fields.
    let mut apt = vec![PathBuf::from("/etc/apt/sources.list")];
    apt.extend(host.dir("etc/apt/sources.list.d"));
    for file in apt {
        let name = file.to_string_lossy().into_owned();
        if !(name.ends_with(".list") || name.ends_with(".sources")) {
            continue;
        }
        for line in host.read(&file).lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("URIs:") {
                add("apt", rest);
            } else if line.starts_with("deb ") || line.starts_with("deb-src ") {
                // `deb [opts] URL suite`: the URL is the first word with a scheme.
                if let Some(url) = line.split_whitespace().find(|w| w.contains("://")) {
                    add("apt", url);
                }
            }
        }
    }

    // pip (and uv) by variable, then by config file (ini; values may continue on
    // indented lines).
    for var in [
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "UV_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "UV_DEFAULT_INDEX",
        "UV_INDEX",
    ] {
        if let Some(v) = host.var(var) {
            add("pip", v);
        }
    }
    let mut pip = vec![host.read(Path::new("/etc/pip.conf"))];
    match host.var("XDG_CONFIG_HOME") {
        Some(x) => pip.push(host.read(&Path::new(&x).join("pip/pip.conf"))),
        None => pip.push(host.home_file(".config/pip/pip.conf")),
    }
    pip.push(host.home_file(".pip/pip.conf"));
    if let Some(file) = host.var("PIP_CONFIG_FILE") {
        pip.push(host.read(Path::new(&file)));
    }
    for text in &pip {
        for value in ini_values(text, &["index-url", "extra-index-url", "index_url"]) {
            add("pip", &value);
        }
    }

    // npm (yarn and pnpm read the same settings): `registry` and `@scope:registry`.
    for var in ["npm_config_registry", "NPM_CONFIG_REGISTRY"] {
        if let Some(v) = host.var(var) {
            add("npm", v);
        }
    }
    for text in [host.home_file(".npmrc"), host.read(Path::new("/etc/npmrc"))] {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=')
                && (k.trim() == "registry" || k.trim().ends_with(":registry"))
            {
                add("npm", v);
            }
        }
    }

    // cargo: registries' indexes and replaced sources, by variable and config file.
    let cargo_home = host
        .var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| host.home.as_ref().map(|h| h.join(".cargo")));
    if let Some(dir) = cargo_home {
        for name in ["config.toml", "config"] {
            let text = host.read(&dir.join(name));
            if let Ok(doc) = text.parse::<toml::Table>() {
                for table in ["registries", "source"] {
                    for entry in doc.get(table).and_then(|t| t.as_table()).into_iter() {
                        for (_, v) in entry {
                            for key in ["index", "registry"] {
                                if let Some(s) = v.get(key).and_then(|s| s.as_str()) {
                                    add("cargo", s);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let mut cargo_vars: Vec<&(String, String)> = host
        .vars
        .iter()
        .filter(|(k, _)| k.starts_with("CARGO_REGISTRIES_") && k.ends_with("_INDEX"))
        .collect();
    cargo_vars.sort();
    for (_, v) in cargo_vars {
        add("cargo", v);
    }

    // Go: GOPROXY's list (`direct` and `off` are not hosts).
    if let Some(v) = host.var("GOPROXY") {
        add("go", v);
    }
    found
}

/// The values of `keys` in an ini text, continuation lines included.
fn ini_values(text: &str, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let continues = line.starts_with([' ', '\t']) && !line.trim().is_empty();
        if continues {
            if let Some(v) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some(v) = current.take() {
            out.push(v);
        }
        if let Some((k, v)) = line.split_once(['=', ':'])
            && keys.contains(&k.trim())
        {
            current = Some(v.trim().to_string());
        }
    }
    out.extend(current);
    out
}

/// `@registries` as `discover` found it on this machine, for `doctor`.
pub fn describe(sources: &Sources) -> String {
    if sources.is_empty() {
        return "nothing configured on this machine (add hosts under [presets] registries in your user config)".into();
    }
    let mut by_tool: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (tool, host) in sources {
        by_tool.entry(tool).or_default().insert(host);
    }
    by_tool
        .iter()
        .map(|(tool, hosts)| {
            format!(
                "{tool}: {}",
                hosts.iter().copied().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn discovers_the_sources_of_each_tool() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "etc/apt/sources.list",
            "# comment\ndeb [arch=amd64] http://deb.mirror.test/debian stable main\n",
        );
        write(
            root,
            "etc/apt/sources.list.d/extra.sources",
            "Types: deb\nURIs: https://apt.mirror.test/debian\nSuites: stable\n",
        );
        write(
            root,
            "etc/apt/sources.list.d/off.list.disabled",
            "deb http://no.test/ x\n",
        );
        write(
            root,
            "home/u/.config/pip/pip.conf",
            "[global]\nindex-url = https://py.mirror.test/simple\nextra-index-url =\n    https://extra.test/simple\n    https://second.test/simple\ncert = /x\n",
        );
        write(
            root,
            "home/u/.npmrc",
            "registry=https://npm.mirror.test/\n@corp:registry=https://npm.corp.test\n",
        );
        write(
            root,
            "home/u/.cargo/config.toml",
            "[source.crates-io]\nreplace-with = \"m\"\n[source.m]\nregistry = \"sparse+https://crates.mirror.test/index/\"\n[registries.corp]\nindex = \"https://git.corp.test/index\"\n",
        );
        let vars = [
            ("GOPROXY", "https://go.mirror.test,direct"),
            ("UV_INDEX_URL", "https://uv.mirror.test/simple"),
        ];
        let host = Host {
            root: root.to_path_buf(),
            home: Some(PathBuf::from("/home/u")),
            vars: vars.map(|(k, v)| (k.to_string(), v.to_string())).to_vec(),
        };
        let found = discover(&host);
        let hosts: Vec<&str> = found.iter().map(|(_, h)| h.as_str()).collect();
        assert_eq!(
            hosts,
            [
                "deb.mirror.test",
                "apt.mirror.test",
                "uv.mirror.test",
                "py.mirror.test",
                "extra.test",
                "second.test",
                "npm.mirror.test",
                "npm.corp.test",
                "git.corp.test",
                "crates.mirror.test",
                "go.mirror.test",
            ]
        );
        assert!(describe(&found).contains("go: go.mirror.test"));
    }

    #[test]
    fn expands_presets_in_place_once() {
        let mut user = BTreeMap::new();
        user.insert("registries".to_string(), vec!["extra.test".to_string()]);
        user.insert(
            "mine".to_string(),
            vec!["a.test".to_string(), "b.test".to_string()],
        );
        let regs: Sources = vec![("pip", "py.test".into()), ("npm", "a.test".into())];
        let entries: Vec<String> = ["x.test", "@registries", "@mine", "@github"]
            .map(String::from)
            .to_vec();
        let out = expand(&entries, &user, "https://api.forge.test", &regs);
        assert_eq!(
            out,
            [
                "x.test",
                "py.test",
                "a.test",
                "extra.test",
                "b.test",
                "forge.test",
                "api.forge.test",
                "codeload.forge.test",
            ]
        );
        let ghe = expand(&["@github".into()], &user, "https://ghe.test/api/v3", &regs);
        assert_eq!(ghe, ["ghe.test"]);
    }

    #[test]
    fn unknown_presets_are_named() {
        let user = BTreeMap::new();
        assert!(check("@registries", &user).is_ok());
        assert!(check("pypi.test", &user).is_ok());
        let e = check("@registry", &user).unwrap_err();
        assert!(e.contains("\"@registry\" names no preset"), "{e}");
        assert!(e.contains("@registries, @github"), "{e}");
    }
}
