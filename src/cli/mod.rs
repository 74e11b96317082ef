//! The command line: argument parsing and the subcommands (`demo`, `tui`, `add`, `run`,
//! `list`, `show`, `logs`, `diff`, `approve`, `push`, `cancel`, `discard`, `retry`,
//! `resume`, `daemon`, `image`, `gc`, `doctor`, `trust`).
//!
//! Each subcommand that changes a task is a client of the engine host (`client`); the
//! read-only ones read the store. Output formatting lives in `print`. Exit codes: 0 success, 1 a task or operation failed, 2 usage,
//! configuration or environment errors (nothing ran).

/// `println!` for command output: a closed pipe (`drover list | head -1`) ends the
/// process quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `print!` with the same closed-pipe handling.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!($($arg)*)) };
}

mod control;
mod daemon;
mod demo;
mod doctor;
mod env;
mod gc;
mod group;
mod inspect;
mod print;
mod run;
mod trust;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::paths::DataDir;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    version,
    about = "Supervise a fleet of background coding agents, each in its own container"
)]
pub struct Cli {
    /// Without a command: open the TUI on the repository here.
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// Without a command: the TUI shows the tasks of every repository.
    #[arg(long)]
    pub all: bool,
    /// Run the engine in this process instead of the background daemon (also
    /// DROVER_NO_DAEMON=1): nothing outlives the command.
    #[arg(long, global = true)]
    pub no_daemon: bool,
}

impl Cli {
    /// Whether front ends go through the daemon (the default).
    pub fn daemon(&self) -> bool {
        let off = std::env::var("DROVER_NO_DAEMON")
            .is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"));
        !(self.no_daemon || off)
    }
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Try drover: a sample repository with three scripted tasks, in the TUI.
    Demo {
        /// Where to create the demo (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Set everything up and queue the tasks, but do not open the TUI.
        #[arg(long)]
        no_tui: bool,
    },
    /// Open the TUI on a repository (what `drover` alone does).
    Tui {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// The tasks of every repository.
        #[arg(long)]
        all: bool,
    },
    /// Queue a task; prints its id.
    Add {
        /// Repository (default: the one containing the current directory).
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Title (default: the prompt's first line).
        #[arg(long)]
        title: Option<String>,
        /// Steps file for the scripted agent (again for more attempts side by side).
        #[arg(long)]
        script: Vec<PathBuf>,
        /// The agent's provider for this task: openai, anthropic (default: config, then
        /// environment); `script` with --script. Several, comma-separated, run side by
        /// side (best-of-N).
        #[arg(long, value_delimiter = ',')]
        agent: Vec<String>,
        /// Best-of-N: run this many attempts side by side, each in its own workspace and
        /// container (the agents given take turns); ranked by their tests when they rest.
        #[arg(long, value_name = "N")]
        attempts: Option<usize>,
        /// Import a GitHub issue as the task: owner/repo#12, #12 (this repository) or the
        /// issue's URL. The prompt, if given, is added as your notes.
        #[arg(long, conflicts_with = "title")]
        issue: Option<String>,
        /// What the agent should do.
        #[arg(required_unless_present = "issue")]
        prompt: Option<String>,
    },
    /// Run queued tasks of a repository until each rests (review, failed, cancelled).
    Run {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Print events as JSON Lines.
        #[arg(long)]
        json: bool,
    },
    /// List tasks (of the current repository, or all with --all).
    List {
        #[arg(long)]
        json: bool,
        /// Every repository, discarded tasks included.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
    /// Show one task.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Print a task's transcript.
    Logs {
        id: String,
        /// Attempt number (default: the latest).
        #[arg(long)]
        attempt: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Print the diff a task produced (base commit → workspace).
    Diff {
        id: String,
        /// Per-file statistics only.
        #[arg(long)]
        stat: bool,
    },
    /// Commit a reviewed task's changes on its branch and bring the branch into your
    /// repository (your working tree is not touched).
    Approve {
        id: String,
        /// Approve even though the tests did not pass (recorded in the commit).
        #[arg(long)]
        force: bool,
        /// Use this branch name (when your repository has a branch of the task's name).
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
        /// Best-of-N: keep the task's other attempts (approving one discards the others
        /// that rest).
        #[arg(long)]
        keep_others: bool,
    },
    /// Push an approved task's branch to the remote (never forced; blocked if the remote
    /// branch moved).
    Push { id: String },
    /// Cancel a queued or running task (its container is stopped).
    Cancel { id: String },
    /// Remove a task's container and workspace (its history stays).
    Discard { id: String },
    /// Start a new attempt: with --feedback in the same workspace, else from scratch.
    Retry {
        id: String,
        #[arg(long)]
        feedback: Option<String>,
    },
    /// Follow up on a pushed task's pull request: a new attempt in the same workspace,
    /// asked what the pull request asks (its open review comments with file:line and
    /// hunk, its failing checks with their annotations), or what --feedback says. Its
    /// push updates the same pull request.
    Followup {
        id: String,
        #[arg(long)]
        feedback: Option<String>,
    },
    /// Go on with an interrupted task where it stopped: same attempt and workspace, and
    /// tool calls that ran are not run again (`drover run` or the TUI then runs it).
    Resume { id: String },
    /// The background engine: it runs tasks of every repository while no terminal is
    /// open.
    Daemon {
        #[command(subcommand)]
        command: Option<DaemonCmd>,
    },
    /// Environment snapshots (what `setup` made, kept for the next tasks).
    Env {
        #[command(subcommand)]
        command: EnvCmd,
    },
    /// Worker image commands.
    Image {
        #[command(subcommand)]
        command: ImageCmd,
    },
    /// Remove the workspaces (and stopped containers) of pushed and discarded tasks older
    /// than some days, and workspaces no task owns. Transcripts stay.
    Gc {
        /// Age in days (since the task last changed).
        #[arg(long, default_value_t = 7)]
        older_than: u64,
        /// Say what would go, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check Docker, the image, git, the data dir and the configuration.
    Doctor {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
    /// Trust the repository's own drover.toml as it is now: its keys that could send a
    /// credential elsewhere or widen the sandbox apply from then on (read it first).
    Trust {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Stop trusting it.
        #[arg(long)]
        revoke: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DaemonCmd {
    /// Serve in the foreground (the default).
    Run,
    /// Start in the background unless one is running; logs go to logs/daemon.log.
    Start,
    /// Stop it; running tasks keep their containers and the next daemon reattaches.
    Stop,
    /// Whether one is running, and its pid (exit 3 when none is).
    Status,
}

#[derive(Debug, Subcommand)]
pub enum EnvCmd {
    /// Each snapshot: key, disk, last use, repository.
    List,
    /// Remove snapshots (never one a container still uses).
    Rm {
        /// A key, or the start of one.
        key: Option<String>,
        /// Every snapshot of this data dir.
        #[arg(long)]
        all: bool,
    },
    /// Drop the repository's snapshots: its next task runs setup again and keeps a new one.
    Rebuild {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// Build the worker image (offline from Debian packages when no base_image is set).
    Build {
        #[arg(long, default_value = ".")]
        repo: PathBuf,
        /// Rebuild even when the image is up to date.
        #[arg(long)]
        force: bool,
    },
}

/// Writes command output. All of it goes through `text::inert` (what the TUI shows goes
/// through too): whatever a field holds — a title, an image name, a path an agent
/// chose — no escape sequence, bidi override or zero-width character reaches the
/// terminal as such.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let text = crate::text::inert(&args.to_string());
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// An error with the exit code it deserves.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl std::fmt::Display) -> Self {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }
    pub fn failed(message: impl std::fmt::Display) -> Self {
        Failure {
            code: 1,
            message: message.to_string(),
        }
    }
}

pub type CliResult = Result<i32, Failure>;

impl From<crate::ui::terminal::TuiError> for Failure {
    fn from(e: crate::ui::terminal::TuiError) -> Self {
        match e {
            crate::ui::terminal::TuiError::Usage(m) => Failure::usage(m),
            crate::ui::terminal::TuiError::Failed(m) => Failure::failed(m),
        }
    }
}

pub fn open_data() -> Result<(DataDir, Store), Failure> {
    let data = DataDir::from_env().map_err(|e| Failure::usage(format!("data dir: {e}")))?;
    let store = Store::open(&data.db()).map_err(Failure::usage)?;
    Ok((data, store))
}

/// Runs a parsed command line; returns the process exit code.
pub async fn dispatch(cli: Cli) -> CliResult {
    let daemon = cli.daemon();
    let tui = |repo: PathBuf, all: bool| {
        let opts = crate::ui::terminal::TuiOptions {
            daemon,
            all,
            ..Default::default()
        };
        async move { Ok(crate::ui::terminal::run(repo, opts).await?) }
    };
    let Some(command) = cli.command else {
        return tui(PathBuf::from("."), cli.all).await;
    };
    match command {
        Cmd::Demo { dir, no_tui } => demo::demo(dir, no_tui, daemon).await,
        Cmd::Tui { repo, all } => tui(repo, all || cli.all).await,
        Cmd::Add {
            repo,
            title,
            script,
            agent,
            attempts,
            issue,
            prompt,
        } => {
            let what = match issue {
                Some(reference) => control::What::Issue {
                    reference,
                    notes: prompt,
                },
                None => control::What::Prompt {
                    title,
                    prompt: prompt.unwrap_or_default(),
                },
            };
            control::add(repo, what, (script, agent, attempts), daemon).await
        }
        Cmd::Run { repo, json } => run::run(repo, json, daemon).await,
        Cmd::List { json, all, repo } => inspect::list(json, all, repo),
        Cmd::Show { id, json } => inspect::show(&id, json),
        Cmd::Logs { id, attempt, json } => inspect::logs(&id, attempt, json),
        Cmd::Diff { id, stat } => inspect::diff(&id, stat),
        Cmd::Approve {
            id,
            force,
            branch,
            keep_others,
        } => {
            control::control(daemon, &id, move |id| crate::protocol::Command::Approve {
                id,
                force,
                branch,
                keep_others,
            })
            .await
        }
        Cmd::Push { id } => {
            control::control(daemon, &id, |id| crate::protocol::Command::Push { id }).await
        }
        Cmd::Cancel { id } => {
            control::control(daemon, &id, |id| crate::protocol::Command::Cancel { id }).await
        }
        Cmd::Discard { id } => {
            control::control(daemon, &id, |id| crate::protocol::Command::Discard { id }).await
        }
        Cmd::Retry { id, feedback } => {
            control::control(daemon, &id, move |id| crate::protocol::Command::Retry {
                id,
                feedback,
            })
            .await
        }
        Cmd::Followup { id, feedback } => control::followup(daemon, &id, feedback).await,
        Cmd::Resume { id } => {
            control::control(daemon, &id, |id| crate::protocol::Command::Resume { id }).await
        }
        Cmd::Daemon { command } => match command.unwrap_or(DaemonCmd::Run) {
            DaemonCmd::Run => daemon::run().await,
            DaemonCmd::Start => daemon::start().await,
            DaemonCmd::Stop => daemon::stop().await,
            DaemonCmd::Status => daemon::status().await,
        },
        Cmd::Image {
            command: ImageCmd::Build { repo, force },
        } => doctor::image_build(repo, force).await,
        Cmd::Doctor { repo } => doctor::doctor(repo).await,
        Cmd::Env { command } => match command {
            EnvCmd::List => env::list().await,
            EnvCmd::Rm { key, all } => env::rm(key, all).await,
            EnvCmd::Rebuild { repo } => env::rebuild(repo).await,
        },
        Cmd::Trust { repo, revoke } => trust::trust(repo, revoke),
        Cmd::Gc {
            older_than,
            dry_run,
        } => gc::gc(older_than, dry_run).await,
    }
}
