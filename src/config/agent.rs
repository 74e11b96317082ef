//! The `[agent]` section: which model works on tasks, and its budgets.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::values::parse_duration;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentConfig {
    /// "openai" (any OpenAI-compatible server), "anthropic", "script", "command";
    /// `None`: chosen from the environment.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// The environment variable holding the API key (never the key itself).
    pub api_key_env: Option<String>,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    /// Dollars per million tokens, for the cost shown and the cost cap.
    pub price_input: Option<f64>,
    pub price_output: Option<f64>,
    pub max_turns: u32,
    pub token_budget: Option<u64>,
    pub cost_cap_usd: Option<f64>,
    /// Automatic rounds of "tests failed, here is the output" after the first.
    pub max_iterations: u32,
    #[serde(with = "super::secs")]
    pub wall_clock: Duration,
    #[serde(with = "super::secs")]
    pub idle_timeout: Duration,
    pub retries: u32,
    /// External CLI agent (provider = "command"): argv template, `{prompt}` substituted.
    pub command: Option<Vec<String>>,
    /// A known CLI: "claude", "codex", "goose", "aider" (sets command and format).
    pub preset: Option<String>,
    /// How to read its output: "claude", "codex", "goose" (JSON lines) or "text".
    pub format: Option<String>,
    /// Environment variables passed into the container for it (names only).
    pub env: Vec<String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            provider: None,
            model: None,
            base_url: None,
            api_key_env: None,
            max_tokens: 8192,
            temperature: None,
            price_input: None,
            price_output: None,
            max_turns: 60,
            token_budget: None,
            cost_cap_usd: None,
            max_iterations: 3,
            wall_clock: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(120),
            retries: 6,
            command: None,
            preset: None,
            format: None,
            env: Vec::new(),
        }
    }
}

pub const PROVIDERS: &[&str] = &["openai", "anthropic", "script", "command"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AgentFile {
    provider: Option<Spanned<String>>,
    model: Option<String>,
    base_url: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    max_tokens: Option<Spanned<i64>>,
    temperature: Option<Spanned<f64>>,
    price_input: Option<Spanned<f64>>,
    price_output: Option<Spanned<f64>>,
    max_turns: Option<Spanned<i64>>,
    token_budget: Option<Spanned<i64>>,
    cost_cap_usd: Option<Spanned<f64>>,
    max_iterations: Option<Spanned<i64>>,
    wall_clock: Option<Spanned<String>>,
    idle_timeout: Option<Spanned<String>>,
    retries: Option<Spanned<i64>>,
    command: Option<Spanned<Vec<String>>>,
    preset: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    env: Option<Vec<String>>,
}

pub(super) const PRESETS: &[&str] = &["claude", "codex", "goose", "aider"];
pub(super) const FORMATS: &[&str] = &["claude", "codex", "goose", "text"];

type Err = (std::ops::Range<usize>, String);

fn int(v: Spanned<i64>, key: &str, min: i64, max: i64) -> Result<i64, Err> {
    let n = *v.get_ref();
    if n < min || n > max {
        return Err((
            v.span(),
            format!("agent.{key} must be between {min} and {max}, not {n}"),
        ));
    }
    Ok(n)
}

fn money(v: Spanned<f64>, key: &str) -> Result<f64, Err> {
    let n = *v.get_ref();
    if !(n.is_finite() && n >= 0.0) {
        return Err((
            v.span(),
            format!("agent.{key} must be a non-negative number"),
        ));
    }
    Ok(n)
}

impl AgentFile {
    /// Applies the file's values on top of `c`; errors carry the span of the bad value.
    pub(super) fn apply(self, c: &mut AgentConfig) -> Result<(), Err> {
        if let Some(p) = self.provider {
            if !PROVIDERS.contains(&p.get_ref().as_str()) {
                return Err((
                    p.span(),
                    format!(
                        "agent.provider must be one of {}, not \"{}\"",
                        PROVIDERS.join(", "),
                        p.get_ref()
                    ),
                ));
            }
            c.provider = Some(p.into_inner());
        }
        if let Some(m) = self.model {
            c.model = Some(m);
        }
        if let Some(u) = self.base_url {
            let url = u.get_ref().trim_end_matches('/').to_string();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err((
                    u.span(),
                    format!(
                        "agent.base_url must start with http:// or https://, not \"{}\"",
                        u.get_ref()
                    ),
                ));
            }
            c.base_url = Some(url);
        }
        if let Some(k) = self.api_key_env {
            let name = k.get_ref();
            let looks_like_key = name.starts_with("sk-")
                || name.len() > 40
                || !name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
            if looks_like_key {
                return Err((k.span(), "agent.api_key_env names an environment variable (e.g. \"OPENAI_API_KEY\"); never put the key itself in a config file".into()));
            }
            c.api_key_env = Some(name.clone());
        }
        if let Some(v) = self.max_tokens {
            c.max_tokens = int(v, "max_tokens", 16, 1_000_000)? as u32;
        }
        if let Some(t) = self.temperature {
            let x = *t.get_ref();
            if !(0.0..=2.0).contains(&x) {
                return Err((
                    t.span(),
                    format!("agent.temperature must be between 0 and 2, not {x}"),
                ));
            }
            c.temperature = Some(x as f32);
        }
        if let Some(v) = self.price_input {
            c.price_input = Some(money(v, "price_input")?);
        }
        if let Some(v) = self.price_output {
            c.price_output = Some(money(v, "price_output")?);
        }
        if let Some(v) = self.max_turns {
            c.max_turns = int(v, "max_turns", 1, 100_000)? as u32;
        }
        if let Some(v) = self.token_budget {
            c.token_budget = Some(int(v, "token_budget", 1, i64::MAX)? as u64);
        }
        if let Some(v) = self.cost_cap_usd {
            c.cost_cap_usd = Some(money(v, "cost_cap_usd")?);
        }
        if let Some(v) = self.max_iterations {
            c.max_iterations = int(v, "max_iterations", 0, 100)? as u32;
        }
        if let Some(v) = self.wall_clock {
            c.wall_clock = parse_duration(v.get_ref())
                .map_err(|m| (v.span(), format!("agent.wall_clock: {m}")))?;
        }
        if let Some(v) = self.idle_timeout {
            c.idle_timeout = parse_duration(v.get_ref())
                .map_err(|m| (v.span(), format!("agent.idle_timeout: {m}")))?;
        }
        if let Some(v) = self.retries {
            c.retries = int(v, "retries", 1, 50)? as u32;
        }
        if let Some(v) = self.command {
            if v.get_ref().is_empty() || v.get_ref()[0].trim().is_empty() {
                return Err((
                    v.span(),
                    "agent.command needs a program: [\"program\", \"arg\", \"{prompt}\"]".into(),
                ));
            }
            c.command = Some(v.into_inner());
        }
        if let Some(v) = self.preset {
            if !PRESETS.contains(&v.get_ref().as_str()) {
                return Err((
                    v.span(),
                    format!(
                        "agent.preset must be one of {}, not \"{}\"",
                        PRESETS.join(", "),
                        v.get_ref()
                    ),
                ));
            }
            c.preset = Some(v.into_inner());
        }
        if let Some(v) = self.format {
            if !FORMATS.contains(&v.get_ref().as_str()) {
                return Err((
                    v.span(),
                    format!(
                        "agent.format must be one of {}, not \"{}\"",
                        FORMATS.join(", "),
                        v.get_ref()
                    ),
                ));
            }
            c.format = Some(v.into_inner());
        }
        if let Some(v) = self.env {
            c.env = v;
        }
        Ok(())
    }
}
