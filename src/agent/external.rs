//! External CLI agents (Claude Code, Codex, goose, aider…) running inside the container.
//!
//! The command is a template whose `{prompt}` is substituted as one argument (never
//! through a shell string). It runs as a detached exec writing to a log in the container,
//! so it outlives drover; drover follows the log by offset, turns known JSON streams into
//! transcript entries (anything else is kept as text) and records the exit code. Only the
//! environment variables the config lists are passed in, and such agents need a network
//! (they call their model from inside), which drover says plainly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::stream_formats::{AgentEvent, Format, parse_line};
use super::tools::{ContainerTools, ToolError};
use super::{Agent, AgentError, AgentOutcome, Tools, UsageRecord};
use crate::config::{AgentConfig, Network};
use crate::runtime::ExecSpec;

const LOG: &str = "/tmp/drover-agent.log";
const EXIT: &str = "/tmp/drover-agent.exit";
const POLL: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, PartialEq)]
pub struct ExternalSpec {
    pub argv: Vec<String>,
    pub format: Format,
    /// `NAME=value` for the variables the config lists (and that are set).
    pub env: Vec<String>,
    pub label: String,
}

fn preset(name: &str) -> (Vec<&'static str>, &'static str, Vec<&'static str>) {
    match name {
        "claude" => (
            vec![
                "claude",
                "-p",
                "{prompt}",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "bypassPermissions",
            ],
            "claude",
            vec!["ANTHROPIC_API_KEY"],
        ),
        "codex" => (
            vec!["codex", "exec", "--json", "--full-auto", "{prompt}"],
            "codex",
            vec!["OPENAI_API_KEY"],
        ),
        "goose" => (
            vec![
                "goose",
                "run",
                "--output-format",
                "stream-json",
                "-t",
                "{prompt}",
            ],
            "goose",
            vec![
                "GOOSE_PROVIDER",
                "GOOSE_MODEL",
                "OPENAI_API_KEY",
                "ANTHROPIC_API_KEY",
            ],
        ),
        _ => (
            vec![
                "aider",
                "--yes-always",
                "--no-git",
                "--no-pretty",
                "--message",
                "{prompt}",
            ],
            "text",
            vec!["OPENAI_API_KEY", "ANTHROPIC_API_KEY"],
        ),
    }
}

/// The external agent the config describes, or why there is none.
pub fn resolve(cfg: &AgentConfig, network: Network) -> Result<ExternalSpec, String> {
    let (argv, format, env): (Vec<String>, String, Vec<String>) = match (&cfg.command, &cfg.preset) {
        (Some(cmd), _) => (cmd.clone(), cfg.format.clone().unwrap_or_else(|| "text".into()), cfg.env.clone()),
        (None, Some(p)) => {
            let (argv, format, env) = preset(p);
            let mut names: Vec<String> = env.into_iter().map(String::from).collect();
            names.extend(cfg.env.iter().cloned());
            (argv.into_iter().map(String::from).collect(), cfg.format.clone().unwrap_or_else(|| format.into()), names)
        }
        (None, None) => return Err("provider \"command\" needs [agent] command = [\"program\", \"{prompt}\"] or a preset (claude, codex, goose, aider)".into()),
    };
    if network == Network::None {
        return Err(format!(
            "the external agent `{}` calls its model from inside the container, which has no network: set network = \"allowlist\" in drover.toml (drover then serves its model, the key staying on your host), or \"bridge\"",
            argv[0]
        ));
    }
    if !argv.iter().any(|a| a.contains("{prompt}")) {
        return Err("[agent] command must contain \"{prompt}\" where the task goes".into());
    }
    // Behind drover's proxy the model keys stay on the host: the container has
    // placeholders and base URLs pointing at drover (`engine::egress`).
    let keys = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"];
    let env = env
        .iter()
        .filter(|n| {
            !(network.proxied()
                && (keys.contains(&n.as_str()) || cfg.api_key_env.as_deref() == Some(n.as_str())))
        })
        .filter_map(|n| std::env::var(n).ok().map(|v| format!("{n}={v}")))
        .chain(["IS_SANDBOX=1".to_string()])
        .collect();
    Ok(ExternalSpec {
        label: format!("command {}", argv[0]),
        argv,
        format: Format::parse(&format),
        env,
    })
}

pub struct ExternalAgent {
    spec: ExternalSpec,
    container: ContainerTools,
    prompt: String,
    /// Where how far the log was read is kept, so a restarted drover follows on from
    /// there instead of starting the agent again.
    follow: Option<PathBuf>,
}

/// How far drover has read the agent's log (bytes of whole lines), and its usage so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Followed {
    offset: u64,
    usage: UsageRecord,
}

impl Followed {
    fn load(path: &Path) -> Option<Followed> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    fn save(&self, path: &Path) {
        let json = serde_json::to_vec(self).unwrap_or_default();
        if let Err(e) = crate::paths::write_private(path, &json) {
            tracing::warn!("saving {}: {e}", path.display());
        }
    }
}

impl ExternalAgent {
    pub fn new(spec: ExternalSpec, container: ContainerTools, prompt: String) -> Self {
        ExternalAgent {
            spec,
            container,
            prompt,
            follow: None,
        }
    }

    /// Keeps the reading position in `path` (and resumes from it when it is there).
    pub fn following(mut self, path: PathBuf) -> Self {
        self.follow = Some(path);
        self
    }

    async fn sh(&self, script: &str, args: &[String]) -> Result<(Option<i64>, Vec<u8>), ToolError> {
        let mut cmd = vec![
            "sh".to_string(),
            "-c".into(),
            script.into(),
            "drover".into(),
        ];
        cmd.extend(args.iter().cloned());
        let spec = ExecSpec {
            cmd,
            stdin: None,
            timeout: Duration::from_secs(60),
            merge_output: false,
            head_cap: 4 << 20,
            tail_cap: 0,
            raw: true,
            env: Vec::new(),
        };
        let r = self
            .container
            .runtime
            .exec(&self.container.container, &spec, &mut |_| {})
            .await?;
        Ok((r.exit_code, r.stdout.complete_bytes().unwrap_or_default()))
    }
}

#[async_trait]
impl Agent for ExternalAgent {
    async fn run(
        &mut self,
        tools: &dyn Tools,
        feedback: Option<&str>,
    ) -> Result<AgentOutcome, AgentError> {
        let prompt = match feedback {
            Some(f) => format!("{}\n\nFeedback on the previous attempt:\n{f}", self.prompt),
            None => self.prompt.clone(),
        };
        let argv: Vec<String> = self
            .spec
            .argv
            .iter()
            .map(|a| a.replace("{prompt}", &prompt))
            .collect();
        let earlier = self.follow.as_deref().and_then(Followed::load);
        let start = match earlier {
            Some(f) => {
                let (code, _) = self
                    .sh(&format!("test -e {LOG} || test -e {EXIT}"), &[])
                    .await?;
                if code != Some(0) {
                    return Err(AgentError::Failed(format!(
                        "the external agent `{}` was started before drover stopped, but its container was replaced and its output is gone: retry the task",
                        argv[0]
                    )));
                }
                tools
                    .announce(&format!(
                        "following the external agent `{}` again from byte {} of its output",
                        argv[0], f.offset
                    ))
                    .await;
                f
            }
            None => {
                // Written before starting: a crash in between never starts it twice.
                let fresh = Followed::default();
                if let Some(p) = &self.follow {
                    fresh.save(p);
                }
                let script = format!(
                    "rm -f {LOG} {EXIT}; \"$@\" > {LOG} 2>&1 < /dev/null; echo $? > {EXIT}"
                );
                let mut cmd = vec!["sh".to_string(), "-c".into(), script, "drover-agent".into()];
                cmd.extend(argv.iter().cloned());
                self.container
                    .runtime
                    .exec_detached(&self.container.container, cmd, self.spec.env.clone())
                    .await
                    .map_err(ToolError::from)?;
                tools
                    .note(&format!(
                        "started the external agent `{}` ({:?} output)",
                        argv[0], self.spec.format
                    ))
                    .await;
                fresh
            }
        };

        let (mut offset, mut pending, mut usage, mut summary, mut last_text) =
            (start.offset, Vec::<u8>::new(), start.usage, None, None);
        loop {
            tokio::time::sleep(POLL).await;
            // Exit first, then the log: once the exit code is there, the log is complete.
            let (code, exit) = self.sh(&format!("cat {EXIT}"), &[]).await?;
            let exit_code = (code == Some(0))
                .then(|| String::from_utf8_lossy(&exit).trim().parse::<i64>().ok())
                .flatten();
            let (_, bytes) = self
                .sh(
                    &format!("tail -c +\"$1\" {LOG} 2>/dev/null"),
                    &[(offset + 1).to_string()],
                )
                .await?;
            offset += bytes.len() as u64;
            pending.extend_from_slice(&bytes);
            let mut raw = String::new();
            while let Some(nl) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=nl).collect();
                let line = crate::text::decode_lossy(&line);
                for ev in parse_line(self.spec.format, line.trim_end_matches('\n')) {
                    match ev {
                        AgentEvent::Raw(t) => {
                            raw.push_str(&t);
                            raw.push('\n');
                        }
                        other => {
                            if !raw.is_empty() {
                                tools.output(raw.trim_end()).await;
                                raw.clear();
                            }
                            match other {
                                AgentEvent::Text(t) if !t.trim().is_empty() => {
                                    tools.say(t.trim()).await;
                                    last_text = Some(t);
                                }
                                AgentEvent::Tool { name, detail } => {
                                    tools.note(&format!("▶ {name} {detail}")).await
                                }
                                AgentEvent::Output { text, .. } if !text.trim().is_empty() => {
                                    tools.output(text.trim_end()).await
                                }
                                AgentEvent::Usage {
                                    input_tokens,
                                    output_tokens,
                                    cost_usd,
                                } => {
                                    usage.input_tokens += input_tokens;
                                    usage.output_tokens += output_tokens;
                                    usage.cost_usd = match (usage.cost_usd, cost_usd) {
                                        (Some(a), Some(b)) => Some(a + b),
                                        (a, b) => a.or(b),
                                    };
                                    usage.turns += 1;
                                    tools.usage(usage).await;
                                }
                                AgentEvent::Final(t) => summary = Some(t),
                                _ => {}
                            }
                        }
                    }
                }
            }
            if let Some(code) = exit_code {
                if !pending.is_empty() {
                    raw.push_str(&crate::text::decode_lossy(&pending));
                    pending.clear();
                }
                if !raw.trim().is_empty() {
                    tools.output(raw.trim_end()).await;
                }
                if code != 0 {
                    return Err(AgentError::Failed(format!(
                        "the external agent `{}` exited with code {code}",
                        argv[0]
                    )));
                }
                return Ok(AgentOutcome {
                    summary: summary.or(last_text).map(|s| s.trim().to_string()),
                });
            }
            if !raw.is_empty() {
                tools.output(raw.trim_end()).await;
            }
            if let Some(p) = &self.follow {
                let whole_lines = offset - pending.len() as u64;
                Followed {
                    offset: whole_lines,
                    usage,
                }
                .save(p);
            }
        }
    }
}
