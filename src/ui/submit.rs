//! What a filled-in editor asks the engine to do: a new task, an imported issue or a
//! retry with feedback, or what is missing. No I/O beyond reading a steps file.

use std::path::PathBuf;

use super::app::App;
use super::editor::{Editor, EditorKind};
use crate::protocol::Command;
use crate::protocol::{AgentSpec, NewTask};

const NO_REPO: &str =
    "no repository to queue it in: select a task of one, or open drover inside one";

impl App {
    /// Where a new task goes: the repository drover was opened in; showing every
    /// repository from outside one, the selected task's.
    pub fn new_task_repo(&self) -> Option<PathBuf> {
        if !self.header.repo.as_os_str().is_empty() {
            return Some(self.header.repo.clone());
        }
        self.selected_task().map(|t| t.task.repo.clone())
    }

    /// The agent field: empty for the built-in agent, else a steps file (relative to the
    /// repository).
    pub(super) fn editor_agent(&self, e: &Editor) -> Result<AgentSpec, String> {
        let mut all = self.editor_agents(e)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            _ => Err("one agent here: several run side by side only in a new task".into()),
        }
    }

    /// The agent field of a new task: one agent, or several (comma-separated) that run
    /// side by side, and `xN` for N attempts (the agents given take turns). Each is a
    /// steps file (relative to the repository) or a provider of the built-in agent.
    pub(super) fn editor_agents(&self, e: &Editor) -> Result<Vec<AgentSpec>, String> {
        let text = e.script_text();
        let mut agents = Vec::new();
        let mut times = None;
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let n = item
                .strip_prefix(['x', '×'])
                .and_then(|n| n.trim().parse::<usize>().ok());
            if let Some(n) = n {
                times = Some(n);
                continue;
            }
            let path = PathBuf::from(shellexpand(item));
            let path = match self.new_task_repo() {
                Some(repo) if path.is_relative() => repo.join(path),
                _ => path,
            };
            agents.push(match (path.exists(), item) {
                (false, "builtin" | "built-in") => AgentSpec::Builtin { provider: None },
                (false, "anthropic" | "openai") => AgentSpec::Builtin {
                    provider: Some(item.into()),
                },
                _ => AgentSpec::scripted_from_file(&path)?,
            });
        }
        if agents.is_empty() {
            agents.push(AgentSpec::Builtin { provider: None });
        }
        let n = times.unwrap_or(agents.len());
        if n == 0 || n < agents.len() || n > 8 {
            return Err(format!(
                "x{n}: from 1 to 8 attempts, and at least one per agent given ({})",
                agents.len()
            ));
        }
        Ok((0..n).map(|i| agents[i % agents.len()].clone()).collect())
    }

    /// Turns a filled-in editor into a command, or says what is missing.
    pub(super) fn submit(&self, e: &Editor) -> Result<Command, String> {
        match &e.kind {
            EditorKind::Comment { .. } => Err("a comment is kept, not sent".into()),
            EditorKind::Edit {
                id,
                agent,
                agent_text,
            } => {
                let title = e.title_text();
                if title.is_empty() {
                    return Err("the task needs a title".into());
                }
                // The agent stays as it is unless its field was changed.
                let agent = match e.script_text() == *agent_text {
                    true => agent.clone(),
                    false => self.editor_agent(e)?,
                };
                let prompt = match e.prompt_text() {
                    p if p.is_empty() => title.clone(),
                    p => p,
                };
                Ok(Command::Edit {
                    id: id.clone(),
                    title,
                    prompt,
                    agent,
                })
            }
            EditorKind::Feedback { id, .. } => {
                let feedback = e.prompt_text();
                if feedback.is_empty() {
                    return Err("write some feedback first (or esc)".into());
                }
                Ok(Command::Retry {
                    id: id.clone(),
                    feedback: Some(feedback),
                })
            }
            EditorKind::Issue => {
                let reference = e.title_text();
                if reference.is_empty() {
                    return Err("which issue? owner/repo#12, #12 or its URL".into());
                }
                let notes = e.prompt_text();
                Ok(Command::Import {
                    repo: self.new_task_repo().ok_or(NO_REPO)?,
                    reference,
                    notes: (!notes.is_empty()).then_some(notes),
                    agent: self.editor_agent(e)?,
                })
            }
            EditorKind::NewTask => {
                let title = e.title_text();
                if title.is_empty() {
                    return Err("the task needs a title".into());
                }
                let mut agents = self.editor_agents(e)?;
                let agent = agents.remove(0);
                let prompt = match e.prompt_text() {
                    p if p.is_empty() => title.clone(),
                    p => p,
                };
                Ok(Command::Queue {
                    task: Box::new(NewTask {
                        repo: self.new_task_repo().ok_or(NO_REPO)?,
                        title,
                        prompt,
                        agent,
                        origin: None,
                        others: agents,
                    }),
                })
            }
        }
    }
}

/// `~/x` → `$HOME/x` (the only expansion a path field needs).
fn shellexpand(p: &str) -> String {
    match (p.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => p.to_string(),
    }
}
