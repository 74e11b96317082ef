//! `drover add` and the commands that act on a task (approve, push, cancel, discard,
//! retry, resume): each is one command to the engine, through whichever host serves the
//! data dir (the daemon, started when none runs; with `--no-daemon`, an engine started
//! here for this one command when none runs, which starts no queued work).

use std::path::PathBuf;

use super::{CliResult, Failure, open_data};
use crate::client::{OpenOptions, Opened};
use crate::config::Config;
use crate::config::OnQuit;
use crate::protocol::{AgentSpec, Command, NewTask, Reply, TaskId};
use crate::text::ellipsize;

/// What a new task asks for.
pub(super) enum What {
    Prompt {
        title: Option<String>,
        prompt: String,
    },
    /// A GitHub issue, with the user's notes.
    Issue {
        reference: String,
        notes: Option<String>,
    },
}

/// The agents of `drover add`: its scripts, its agents, how many attempts.
type Agents = (Vec<PathBuf>, Vec<String>, Option<usize>);

/// The agent of each attempt `drover add` asks for (one, or best-of-N).
fn agent_specs((scripts, agents, attempts): Agents) -> Result<Vec<AgentSpec>, Failure> {
    let mut specs = Vec::new();
    for path in &scripts {
        specs.push(AgentSpec::scripted_from_file(path).map_err(Failure::usage)?);
    }
    for a in agents.iter().map(|a| a.trim()) {
        match a {
            "script" if scripts.is_empty() => {
                return Err(Failure::usage("--agent script needs --script FILE"));
            }
            "script" => {}
            other if attempts.is_none() && scripts.len() == 1 && agents.len() == 1 => {
                return Err(Failure::usage(format!(
                    "--script runs the scripted agent; it cannot be combined with --agent {other}"
                )));
            }
            other => specs.push(AgentSpec::Builtin {
                provider: (!other.is_empty()).then(|| other.to_string()),
            }),
        }
    }
    if specs.is_empty() {
        specs.push(AgentSpec::Builtin { provider: None });
    }
    let n = attempts.unwrap_or(specs.len());
    if n == 0 || n < specs.len() {
        return Err(Failure::usage(format!(
            "--attempts {n}: at least 1, and at least one per agent given ({})",
            specs.len()
        )));
    }
    // The agents given take turns.
    Ok((0..n).map(|i| specs[i % specs.len()].clone()).collect())
}

pub(super) async fn add(repo: PathBuf, what: What, agents: Agents, daemon: bool) -> CliResult {
    if let What::Prompt { prompt, .. } = &what
        && prompt.trim().is_empty()
    {
        return Err(Failure::usage(
            "the prompt is empty: say what the agent should do",
        ));
    }
    let head = crate::workspace::resolve_head(&repo).map_err(Failure::usage)?;
    let mut specs = agent_specs(agents)?;
    let spec = specs.remove(0);
    let others = specs;
    if !others.is_empty() && matches!(what, What::Issue { .. }) {
        return Err(Failure::usage(
            "several attempts do not combine with --issue yet: queue the issue's text as a prompt instead",
        ));
    }
    let mut opened = open(daemon).await?;
    // Said now, not when the task runs, if no model can be reached (as the engine that
    // would run it sees its environment).
    let mut asked_for: Vec<Option<String>> = Vec::new();
    for s in std::iter::once(&spec).chain(&others) {
        let AgentSpec::Builtin { provider } = s else {
            continue;
        };
        if asked_for.contains(provider) {
            continue;
        }
        asked_for.push(provider.clone());
        let asked = Command::WhichAgent {
            repo: head.root.clone(),
            provider: provider.clone(),
        };
        if let Err(e) = request(&mut opened, asked).await? {
            close(opened).await;
            return Err(Failure::usage(e));
        }
    }
    let cmd = match what {
        What::Prompt { title, prompt } => {
            let title =
                title.unwrap_or_else(|| ellipsize(prompt.lines().next().unwrap_or("").trim(), 72));
            Command::Queue {
                task: Box::new(NewTask {
                    repo: head.root.clone(),
                    title,
                    prompt,
                    agent: spec,
                    origin: None,
                    others,
                }),
            }
        }
        What::Issue { reference, notes } => Command::Import {
            repo: head.root.clone(),
            reference,
            notes,
            agent: spec,
        },
    };
    let importing = matches!(cmd, Command::Import { .. });
    let result = request(&mut opened, cmd).await;
    close(opened).await;
    let mut beside = Vec::new();
    let id = match result? {
        Ok(Reply::Queued { id, others }) => {
            beside = others;
            id
        }
        Ok(Reply::Imported {
            id,
            reference,
            title,
            removed,
        }) => {
            eprintln!("imported {reference}: {title}");
            if !removed.is_empty() {
                eprintln!(
                    "note: hidden content removed from the issue before the agent sees it: {removed}"
                );
            }
            id
        }
        Ok(other) => return Err(Failure::failed(format!("unexpected answer: {other}"))),
        // The issue could not be had (GitHub said no): the command failed. A task that
        // cannot be recorded (no repository, a bad config) is a usage error.
        Err(e) if importing => return Err(Failure::failed(e)),
        Err(e) => return Err(Failure::usage(e)),
    };
    if head.dirty {
        eprintln!(
            "note: your uncommitted changes are not included (the task starts from {} at {})",
            head.branch.as_deref().unwrap_or("HEAD"),
            &head.commit[..12]
        );
    }
    // One id a line, the first attempt's first (best-of-N: the others after it).
    outln!("{id}");
    for o in beside {
        outln!("{o}");
    }
    Ok(0)
}

/// Sends `make(id)` for the task `prefix` names and prints the answer.
pub(super) async fn control(
    daemon: bool,
    prefix: &str,
    make: impl FnOnce(TaskId) -> Command,
) -> CliResult {
    let (_, store) = open_data()?;
    let task = store.find(prefix).map_err(Failure::usage)?;
    drop(store);
    let mut opened = open(daemon).await?;
    let result = request(&mut opened, make(task.id)).await;
    close(opened).await;
    match result? {
        Ok(reply) => {
            outln!("{reply}");
            Ok(0)
        }
        Err(e) => Err(Failure::failed(e)),
    }
}

/// `drover followup`: says what the follow-up is asked, then queues it.
pub(super) async fn followup(daemon: bool, prefix: &str, feedback: Option<String>) -> CliResult {
    let (_, store) = open_data()?;
    let task = store.find(prefix).map_err(Failure::usage)?;
    if task.state != crate::protocol::TaskState::Pushed {
        return Err(Failure::usage(format!(
            "{} is {}: only a pushed task has a pull request to follow up on",
            task.id,
            task.state.name()
        )));
    }
    let attempt = store
        .attempt(&task.id, task.attempt)
        .map_err(Failure::failed)?;
    drop(store);
    let asked = match &feedback {
        Some(f) => f.clone(),
        None => attempt
            .pr_status
            .as_ref()
            .map(|s| s.as_feedback())
            .unwrap_or_default(),
    };
    if !asked.trim().is_empty() {
        outln!(
            "the follow-up is asked:\n{}",
            crate::text::inert(asked.trim_end())
        );
    }
    control(daemon, &task.id.to_string(), move |id| Command::Retry {
        id,
        feedback,
    })
    .await
}

/// The engine for one command: the daemon's, another front end's, or (`--no-daemon`,
/// nothing running) one started here that starts no queued work.
async fn open(daemon: bool) -> Result<Opened, Failure> {
    let (data, _) = open_data()?;
    let opts = OpenOptions {
        data,
        daemon,
        scope: None,
        run_queue: false,
        max_parallel: Config::default().max_parallel,
    };
    crate::client::open(opts).await.map_err(Failure::failed)
}

async fn request(
    opened: &mut Opened,
    cmd: Command,
) -> Result<crate::protocol::CommandResult, Failure> {
    let who = opened.connection.welcome.who();
    opened
        .connection
        .request(cmd)
        .await
        .map_err(|e| Failure::failed(format!("{who} did not answer: {e}")))
}

async fn close(opened: Opened) {
    if let Some(host) = opened.host {
        host.quit(OnQuit::Stop).await;
    }
}
