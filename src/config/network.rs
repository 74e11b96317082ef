//! The network a task's containers get: none, behind drover's egress proxy
//! (`allowlist`, `open`), or Docker's bridge; and what the proxy lets through (`allow`,
//! `methods`). Parsing only: the proxy itself is `crate::egress`.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// No network at all inside task containers (the default).
    None,
    /// No route out; drover's proxy reaches what `allow` names.
    Allowlist,
    /// No route out; drover's proxy reaches any public address.
    Open,
    /// Docker's default bridge: the container can reach the internet, and your host's
    /// open ports and network.
    Bridge,
}

impl Network {
    /// The Docker network its containers join: behind the proxy they have none.
    pub fn docker_mode(self) -> &'static str {
        match self {
            Network::None | Network::Allowlist | Network::Open => "none",
            Network::Bridge => "bridge",
        }
    }

    /// How far it reaches, for comparing: none < allowlist < open < bridge.
    pub fn reach(self) -> u8 {
        match self {
            Network::None => 0,
            Network::Allowlist => 1,
            Network::Open => 2,
            Network::Bridge => 3,
        }
    }

    /// Whether drover's proxy is the container's way out.
    pub fn proxied(self) -> bool {
        matches!(self, Network::Allowlist | Network::Open)
    }

    pub fn name(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Allowlist => "allowlist",
            Network::Open => "open",
            Network::Bridge => "bridge",
        }
    }
}

/// The value of a network key (`network`, `setup_network`), or what is wrong with it.
pub(super) fn parse_network(
    v: &Spanned<String>,
    key: &str,
) -> Result<Network, (Range<usize>, String)> {
    Ok(match v.get_ref().as_str() {
        "none" => Network::None,
        "allowlist" => Network::Allowlist,
        "open" => Network::Open,
        "bridge" => Network::Bridge,
        other => {
            return Err((
                v.span(),
                format!(
                    "{key} must be \"none\", \"allowlist\", \"open\" or \"bridge\", not \"{other}\""
                ),
            ));
        }
    })
}

/// The entries of an allowlist key (`allow`, `setup_allow`), each a host name,
/// `*.domain`, an address or a known `@preset`, or the first that is not.
pub(super) fn parse_allow(
    v: Spanned<Vec<String>>,
    key: &str,
    presets: &Presets,
) -> Result<Vec<String>, (Range<usize>, String)> {
    for entry in v.get_ref() {
        let checked = match crate::egress::presets::preset_name(entry) {
            Some(_) => crate::egress::presets::check(entry, presets),
            None => crate::egress::Rule::parse(entry).map(drop),
        };
        checked.map_err(|m| (v.span(), format!("{key}: {m}")))?;
    }
    Ok(v.into_inner())
}

/// The user's presets: name → plain entries.
pub type Presets = BTreeMap<String, Vec<String>>;

/// A `[presets]` table: names of letters, digits, `-` and `_`, each a list of plain
/// entries (a preset does not name another).
pub(super) fn parse_presets(
    v: Spanned<Presets>,
    into: &mut Presets,
) -> Result<(), (Range<usize>, String)> {
    let span = v.span();
    for (name, entries) in v.into_inner() {
        let plain = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err((
                span,
                format!("presets: \"{name}\" is not a preset name (letters, digits, - and _)"),
            ));
        }
        for entry in &entries {
            crate::egress::Rule::parse(entry)
                .map_err(|m| (span.clone(), format!("presets.{name}: {m}")))?;
        }
        into.insert(name, entries);
    }
    Ok(())
}

/// Applies the network keys found, or says which one is wrong and where.
pub(super) fn apply(
    config: &mut super::Config,
    network: Option<Spanned<String>>,
    allow: Option<Spanned<Vec<String>>>,
    methods: Option<Spanned<Vec<String>>>,
) -> Result<(), (Range<usize>, String)> {
    if let Some(v) = network {
        config.network = parse_network(&v, "network")?;
    }
    if let Some(v) = allow {
        config.allow = parse_allow(v, "allow", &config.presets)?;
    }
    if let Some(v) = methods {
        let known = [
            "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "CONNECT",
        ];
        let methods: Vec<String> = v
            .get_ref()
            .iter()
            .map(|m| m.trim().to_ascii_uppercase())
            .collect();
        if let Some(bad) = methods.iter().find(|m| !known.contains(&m.as_str())) {
            return Err((
                v.span(),
                format!(
                    "methods: \"{bad}\" is not an HTTP method ({})",
                    known.join(", ")
                ),
            ));
        }
        config.methods = Some(methods);
    }
    Ok(())
}

impl super::Config {
    /// `allow` as the proxy enforces it: its `@presets` expanded.
    pub fn allow_hosts(&self) -> Vec<String> {
        self.expand_presets(&self.allow)
    }

    /// `setup_allow` as setup's proxy enforces it.
    pub fn setup_allow_hosts(&self) -> Vec<String> {
        self.expand_presets(&self.env.setup_allow)
    }

    fn expand_presets(&self, entries: &[String]) -> Vec<String> {
        use crate::egress::presets;
        let wants_registries = entries.iter().any(|e| e.trim() == "@registries");
        let registries = match wants_registries {
            true => presets::discover(&presets::Host::this()),
            false => Vec::new(),
        };
        presets::expand(entries, &self.presets, &self.forge.api_url, &registries)
    }
}
