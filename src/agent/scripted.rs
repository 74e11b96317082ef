//! The scripted agent: replays a TOML file of steps through the real tools.
//!
//! Powers the demo and the tests, and is labelled as scripted wherever it shows. Format:
//!
//! ```toml
//! [[step]]
//! say = "Looking at the failing test"                 # assistant message
//! [[step]]
//! run = "python3 -m unittest -q"                      # bash in /workspace
//! [[step]]
//! edit = { path = "calc.py", old = "a - b", new = "a + b" }
//! [[step]]
//! write = { path = "notes/NEW.md", content = "hello\n" }
//! [[step]]
//! finish = "Fixed add()"
//! ```
//!
//! Also `read = "path"`, `list = "dir"`, `search = { pattern = "…", path = "…" }`, and
//! `[[retry_step]]` tables: the steps replayed on a retry with feedback (default: `step`).
//! A `run` step's exit code is recorded, never fatal; an `edit`/`write` that cannot be
//! applied fails the attempt.

use std::path::Path;

use async_trait::async_trait;
use serde::Deserialize;
use toml::Spanned;

use super::tools::ToolError;
use super::{Agent, AgentError, AgentOutcome, Tools};
use crate::config::ConfigError;
use crate::protocol::ToolCall;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Say(String),
    Call(ToolCall),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub steps: Vec<Step>,
    pub retry_steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
    #[serde(default)]
    retry_step: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    say: Option<String>,
    run: Option<String>,
    timeout: Option<u64>,
    edit: Option<RawEdit>,
    write: Option<RawWrite>,
    read: Option<String>,
    list: Option<String>,
    search: Option<RawSearch>,
    finish: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEdit {
    path: String,
    old: String,
    new: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWrite {
    path: String,
    content: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    pattern: String,
    path: Option<String>,
}

impl RawStep {
    fn into_step(self) -> Result<Step, String> {
        let RawStep {
            say,
            run,
            timeout,
            edit,
            write,
            read,
            list,
            search,
            finish,
        } = self;
        let mut found: Vec<Step> = Vec::new();
        if let Some(t) = say {
            found.push(Step::Say(t));
        }
        if let Some(command) = run {
            found.push(Step::Call(ToolCall::Bash {
                command,
                timeout_secs: timeout,
            }));
        } else if timeout.is_some() {
            return Err("`timeout` only applies to a `run` step".into());
        }
        if let Some(e) = edit {
            found.push(Step::Call(ToolCall::EditFile {
                path: e.path,
                old: e.old,
                new: e.new,
            }));
        }
        if let Some(w) = write {
            found.push(Step::Call(ToolCall::WriteFile {
                path: w.path,
                content: w.content,
            }));
        }
        if let Some(path) = read {
            found.push(Step::Call(ToolCall::ReadFile { path }));
        }
        if let Some(path) = list {
            found.push(Step::Call(ToolCall::ListFiles { path: Some(path) }));
        }
        if let Some(s) = search {
            found.push(Step::Call(ToolCall::Search {
                pattern: s.pattern,
                path: s.path,
            }));
        }
        if let Some(summary) = finish {
            found.push(Step::Call(ToolCall::Finish { summary }));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err("a step needs one of say, run, edit, write, read, list, search, finish".into()),
            _ => Err("a step must do exactly one thing (say, run, edit, write, read, list, search or finish)".into()),
        }
    }
}

impl Script {
    /// Parses a script; errors name `file:line:col`.
    pub fn parse(file: &Path, src: &str) -> Result<Script, ConfigError> {
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        let raw: RawScript =
            toml::from_str(src).map_err(|e| ConfigError::at(file, src, e.span(), e.message()))?;
        let convert = |steps: Vec<Spanned<RawStep>>| -> Result<Vec<Step>, ConfigError> {
            steps
                .into_iter()
                .map(|s| {
                    let span = s.span();
                    s.into_inner()
                        .into_step()
                        .map_err(|m| ConfigError::at(file, src, Some(span), m))
                })
                .collect()
        };
        let script = Script {
            steps: convert(raw.step)?,
            retry_steps: convert(raw.retry_step)?,
        };
        if script.steps.is_empty() {
            return Err(ConfigError::at(
                file,
                src,
                None,
                "the script has no [[step]]",
            ));
        }
        Ok(script)
    }
}

pub struct ScriptedAgent {
    script: Script,
}

impl ScriptedAgent {
    pub fn new(script: Script) -> Self {
        ScriptedAgent { script }
    }
}

#[async_trait]
impl Agent for ScriptedAgent {
    async fn run(
        &mut self,
        tools: &dyn Tools,
        feedback: Option<&str>,
    ) -> Result<AgentOutcome, AgentError> {
        let steps = match feedback {
            Some(_) if !self.script.retry_steps.is_empty() => &self.script.retry_steps,
            _ => &self.script.steps,
        };
        for step in steps {
            match step {
                Step::Say(text) => tools.say(text).await,
                Step::Call(ToolCall::Finish { summary }) => {
                    tools
                        .call(ToolCall::Finish {
                            summary: summary.clone(),
                        })
                        .await?;
                    return Ok(AgentOutcome {
                        summary: Some(summary.clone()),
                    });
                }
                Step::Call(call) => match tools.call(call.clone()).await {
                    Ok(_) => {}
                    // A script cannot adapt: a step that cannot apply ends the attempt.
                    Err(ToolError::Invalid(msg)) => {
                        return Err(AgentError::Failed(format!("{} failed: {msg}", call.name())));
                    }
                    Err(e) => return Err(e.into()),
                },
            }
        }
        Ok(AgentOutcome::default())
    }
}

impl crate::protocol::AgentSpec {
    /// The scripted agent for a steps file: read and checked now (errors name
    /// file:line:col), stored whole so the file may go away.
    pub fn scripted_from_file(path: &Path) -> Result<Self, String> {
        let script =
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Script::parse(path, &script).map_err(|e| e.to_string())?;
        let source = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self::Scripted { script, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Script, String> {
        Script::parse(Path::new("fix.toml"), src).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_format_parses() {
        let s = parse(
            r#"
[[step]]
say = "Looking at the failing test"
[[step]]
run = "python3 -m unittest -q"
[[step]]
edit = { path = "calc.py", old = "a - b", new = "a + b" }
[[step]]
write = { path = "notes/NEW.md", content = "hello\n" }
[[step]]
finish = "Fixed add()"
"#,
        )
        .unwrap();
        assert_eq!(s.steps.len(), 5);
        assert_eq!(s.steps[0], Step::Say("Looking at the failing test".into()));
        assert_eq!(
            s.steps[2],
            Step::Call(ToolCall::EditFile {
                path: "calc.py".into(),
                old: "a - b".into(),
                new: "a + b".into()
            })
        );
        assert!(s.retry_steps.is_empty());
    }

    #[test]
    fn bad_steps_name_their_location() {
        let e = parse("[[step]]\nsay = \"a\"\nrun = \"b\"\n").unwrap_err();
        assert!(
            e.starts_with("fix.toml:1:1: a step must do exactly one thing"),
            "{e}"
        );
        let e = parse("[[step]]\nsay = \"a\"\n[[step]]\nrum = \"b\"\n").unwrap_err();
        assert!(e.starts_with("fix.toml:4:1: unknown field `rum`"), "{e}");
        let e = parse("[[step]]\nedit = { path = \"a\", old = \"x\" }\n").unwrap_err();
        assert!(e.contains("missing field `new`"), "{e}");
        let e = parse("").unwrap_err();
        assert!(e.contains("no [[step]]"), "{e}");
    }
}
