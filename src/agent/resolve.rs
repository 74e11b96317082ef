//! From configuration and environment to a ready LLM agent: which provider, model,
//! endpoint and key. Keys come only from the environment (named by `api_key_env`).

use std::sync::Arc;
use std::time::Duration;

use super::llm_agent::{Budgets, LlmSettings, Prices};
use crate::config::AgentConfig;
use crate::llm::retry::RetryPolicy;

/// The hosted APIs' base URLs (what `[agent] base_url` defaults to).
pub(crate) const ANTHROPIC_URL: &str = "https://api.anthropic.com";
pub(crate) const OPENAI_URL: &str = "https://api.openai.com/v1";
use crate::llm::{Anthropic, Endpoint, OpenAi, Provider};

pub const NO_AGENT: &str = "no LLM agent configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY, or set \
[agent] provider, base_url and model in drover.toml (a local Ollama: provider = \"openai\", \
base_url = \"http://localhost:11434/v1\"); scripted agents need none: drover add --script FILE";

const OLLAMA: &str = "127.0.0.1:11434";

fn env_key(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether a local Ollama answers (a quick connect, no request).
async fn ollama_answers() -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(300),
            tokio::net::TcpStream::connect(OLLAMA)
        )
        .await,
        Ok(Ok(_))
    )
}

/// The agent's settings and a label like "anthropic claude-sonnet-4-5".
pub async fn resolve(
    cfg: &AgentConfig,
    provider_override: Option<&str>,
) -> Result<(LlmSettings, String), String> {
    let mut base_url = cfg.base_url.clone();
    let mut model = cfg.model.clone();
    let provider = match provider_override
        .map(String::from)
        .or_else(|| cfg.provider.clone())
    {
        Some(p) => p,
        None if env_key("ANTHROPIC_API_KEY").is_some() => "anthropic".into(),
        None if env_key("OPENAI_API_KEY").is_some() => "openai".into(),
        None if base_url.is_some() => "openai".into(),
        None if ollama_answers().await => {
            base_url = Some(format!("http://{OLLAMA}/v1"));
            model = model.or(Some("qwen2.5-coder".into()));
            "openai".into()
        }
        None => return Err(NO_AGENT.into()),
    };
    let (default_env, default_url, default_model) = match provider.as_str() {
        "anthropic" => ("ANTHROPIC_API_KEY", ANTHROPIC_URL, "claude-sonnet-4-5"),
        "openai" => ("OPENAI_API_KEY", OPENAI_URL, "gpt-4.1"),
        "script" => {
            return Err("provider \"script\" needs a steps file: drover add --script FILE".into());
        }
        "command" => {
            return Err(
                "external CLI agents (provider = \"command\") are not available in this build yet"
                    .into(),
            );
        }
        other => {
            return Err(format!(
                "unknown agent provider \"{other}\" (one of {})",
                crate::config::PROVIDERS.join(", ")
            ));
        }
    };
    let key_env = cfg
        .api_key_env
        .clone()
        .unwrap_or_else(|| default_env.to_string());
    let api_key = env_key(&key_env);
    let base_url = base_url.unwrap_or_else(|| default_url.to_string());
    // The hosted APIs need a key; a self-hosted OpenAI-compatible server may not.
    if api_key.is_none() && (provider == "anthropic" || base_url == default_url) {
        return Err(format!(
            "{key_env} is not set: drover needs an API key for {provider} (or set [agent] base_url for a local server)"
        ));
    }
    let model = model.unwrap_or_else(|| default_model.to_string());
    let endpoint = Endpoint {
        base_url: base_url.clone(),
        api_key,
        idle_timeout: cfg.idle_timeout,
    };
    let p: Arc<dyn Provider> = match provider.as_str() {
        "anthropic" => Arc::new(Anthropic::new(endpoint).map_err(|e| e.to_string())?),
        _ => Arc::new(OpenAi::new(endpoint).map_err(|e| e.to_string())?),
    };
    let label = format!("{provider} {model}");
    let prices = match (cfg.price_input, cfg.price_output) {
        (Some(i), Some(o)) => Some(Prices {
            input: i,
            output: o,
        }),
        (Some(i), None) => Some(Prices {
            input: i,
            output: i,
        }),
        (None, Some(o)) => Some(Prices {
            input: o,
            output: o,
        }),
        (None, None) => None,
    };
    let settings = LlmSettings {
        provider: p,
        model,
        max_tokens: cfg.max_tokens,
        temperature: cfg.temperature,
        budgets: Budgets {
            max_turns: cfg.max_turns,
            max_tokens: cfg.token_budget,
            max_cost_usd: cfg.cost_cap_usd,
        },
        prices,
        retry: RetryPolicy {
            max_attempts: cfg.retries,
            ..RetryPolicy::default()
        },
    };
    Ok((settings, label))
}

/// What would work on a task: "anthropic claude-sonnet-4-5", "command claude", or why
/// nothing can. For `drover add`, `drover doctor` and the TUI header.
pub async fn describe(
    cfg: &AgentConfig,
    network: crate::config::Network,
    provider: Option<&str>,
) -> Result<String, String> {
    if provider.or(cfg.provider.as_deref()) == Some("command") {
        return super::external::resolve(cfg, network).map(|s| s.label);
    }
    resolve(cfg, provider).await.map(|(_, label)| label)
}
