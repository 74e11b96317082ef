//! The terminal loop: set the terminal up, open the engine (`client::open`: the daemon,
//! or with `--no-daemon` an engine here), turn terminal input, engine updates and file
//! changes into messages, draw when something changed, carry out effects.
//!
//! Rendering is event-driven: engine events are drained in batches before a draw, and a
//! one-second tick runs only while a task is active (its clock moves). Idle costs nothing.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use std::time::Duration;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, EventStream, KeyEventKind,
};
use crossterm::execute;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::app::{App, Effect, Header, Msg};
use crate::client::{Attachment, OpenOptions, Update};
use crate::config::{Config, Notify, OnQuit};
use crate::keymap::Keymap;
use crate::protocol::{Command, HostKind};
use crate::workspace;

/// Why the TUI did not run: bad input or environment (nothing ran), or a failure.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

fn usage(e: impl std::fmt::Display) -> TuiError {
    TuiError::Usage(e.to_string())
}

/// Options for opening the TUI.
#[derive(Debug, Clone, Default)]
pub struct TuiOptions {
    /// Prefilled script path in the new-task editor (the demo uses it).
    pub default_script: Option<String>,
    /// Data dir to use instead of `DROVER_HOME` / the XDG default.
    pub data: Option<crate::paths::DataDir>,
    /// Attach to the daemon (started when needed) instead of an engine in this process.
    pub daemon: bool,
    /// Every repository's tasks, not only this one's.
    pub all: bool,
}

pub async fn run(repo: PathBuf, opts: TuiOptions) -> Result<i32, TuiError> {
    // Bad input first: these errors are worth seeing even without a terminal.
    let head = match workspace::resolve_head(&repo) {
        Ok(h) => Some(h),
        // Every repository's tasks can be watched from anywhere.
        Err(_) if opts.all => None,
        Err(e) => return Err(usage(e)),
    };
    let root = head.as_ref().map(|h| h.root.clone());
    // A bad config is said before anything else (trust is settled below, with the data dir).
    Config::load(root.as_deref()).map_err(usage)?;
    let keymap_path = Keymap::user_path();
    let keymap = Keymap::load(keymap_path.as_deref())
        .map_err(|e| usage(format!("{e}\ndrover refuses to start with a bad keymap")))?;
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(usage(
            "drover requires an interactive terminal (for scripts, use `drover run`)",
        ));
    }
    let data = match opts.data {
        Some(d) => d,
        None => crate::paths::DataDir::from_env().map_err(|e| usage(format!("data dir: {e}")))?,
    };
    // The user's settings (the quit policy) live beside the tasks.
    let store = crate::store::Store::open(&data.db()).map_err(usage)?;
    // Trust as this data dir records it (the demo's own, say).
    let config = Config::load_in(root.as_deref(), data.root()).map_err(usage)?;
    let scope = if opts.all { None } else { root.clone() };
    let opened = match crate::client::open(OpenOptions {
        data: data.clone(),
        daemon: opts.daemon,
        scope: scope.clone(),
        run_queue: true,
        max_parallel: config.max_parallel,
    })
    .await
    {
        Ok(o) => o,
        Err(e) => match e.other_version() {
            Some((pid, reason)) => crate::client::Opened {
                connection: crate::client::offer::offer(&data, &store, pid, reason)
                    .await
                    .map_err(usage)?,
                host: None,
            },
            None => return Err(usage(e)),
        },
    };
    let welcome = opened.connection.welcome.clone();
    let host = opened.host;
    let runtime_error = host
        .as_ref()
        .and_then(|h| h.runtime_error().map(String::from));
    let reconnect = (welcome.host == HostKind::Daemon).then(|| data.clone());
    let mut front = Attachment::attach(opened.connection, scope, reconnect);
    // Only an engine of this process stops with it: then the quit policy is asked.
    let quit_policy = match &host {
        Some(_) => store.quit_policy(&config),
        None => Some(OnQuit::Keep),
    };
    // Which agent would run, as the engine that runs tasks sees it.
    if let Some(r) = &root {
        front.send(Command::WhichAgent {
            repo: r.clone(),
            provider: None,
        });
    }
    let header = Header {
        repo: root.clone().unwrap_or_default(),
        branch: head.as_ref().and_then(|h| h.branch.clone()),
        commit: head.as_ref().map(|h| h.commit.clone()).unwrap_or_default(),
        docker: None,
        agent: if root.is_some() {
            "…".into()
        } else {
            "scripted only".into()
        },
        all: opts.all,
    };
    let mut app = App::new(header, keymap);
    app.clock = Some(time::OffsetDateTime::now_utc);
    app.notify = config.notify;
    app.default_script = opts.default_script;
    app.quit_policy = quit_policy;
    app.untrusted = config.untrusted.clone();
    if let Some(e) = runtime_error {
        app.set_status(e, true);
    } else if !app.untrusted.is_empty() {
        app.say_untrusted();
    } else if let Some(w) = config.warnings.first() {
        app.set_status(format!("warning: {w}"), true);
    } else if head.as_ref().is_some_and(|h| h.dirty) {
        app.set_status(
            "note: your uncommitted changes are not part of new tasks (they start from HEAD)",
            false,
        );
    }

    let (reload_tx, mut reload_rx) = mpsc::unbounded_channel();
    let _watcher = watch_files(root.as_deref(), keymap_path.clone(), reload_tx);

    // Closing the terminal (SIGHUP), `kill` (SIGTERM) or `kill -INT` quit like `q` does:
    // the terminal restored; running tasks go on in the daemon, or, in-process, are
    // stopped or kept as the quit policy says.
    let mut stop = crate::signals::Terminate::new().map_err(|e| TuiError::Failed(e.to_string()))?;
    let mut stopped_by = None;
    let mut terminal = enter();
    // `None` while a shell owns the terminal: nothing else may read keys then.
    let mut events = Some(EventStream::new());
    let mut dirty = true;
    let mut cache = super::render::Cache::default();
    // The user's branch moves under drover (commits, checkouts): the header follows.
    let mut head_check = tokio::time::interval(Duration::from_secs(2));
    head_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result: std::io::Result<()> = async {
        loop {
            while dirty {
                app.now = time::OffsetDateTime::now_utc();
                let mut layout = super::render::Layout::default();
                terminal.draw(|f| layout = super::render::draw(&app, &mut cache, f))?;
                // What the frame drew goes back to the app; a search that found nothing
                // says so, on another frame.
                dirty = app.drawn(layout);
                crate::crash::panic_point("tui_panic");
            }
            let tick = async {
                if app.animating() {
                    tokio::time::sleep(Duration::from_secs(1)).await
                } else {
                    std::future::pending::<()>().await
                }
            };
            let mut effects = Vec::new();
            tokio::select! {
                ev = next_input(&mut events) => match ev {
                    Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => effects = app.update(Msg::Key(k)),
                    Some(Ok(TermEvent::Mouse(m))) => effects = app.update(Msg::Mouse(m)),
                    Some(Ok(TermEvent::Paste(p))) => effects = app.update(Msg::Paste(p)),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                    None => break,
                },
                Some(up) = front.recv() => {
                    effects = on_update(&mut app, up);
                    // Drain what else is waiting, then draw once.
                    while let Some(up) = front.try_recv() {
                        effects.extend(on_update(&mut app, up));
                    }
                }
                Some(what) = reload_rx.recv() => effects = app.update(reload(what, root.as_deref(), keymap_path.as_deref(), data.root())),
                _ = tick => effects = app.update(Msg::Tick),
                _ = head_check.tick(), if root.is_some() => {
                    match root.as_deref().map(workspace::resolve_head) {
                        Some(Ok(h)) if h.commit != app.header.commit || h.branch != app.header.branch => {
                            effects = app.update(Msg::Head { branch: h.branch, commit: h.commit });
                        }
                        // Nothing moved: nothing to draw.
                        _ => continue,
                    }
                }
                sig = stop.recv() => {
                    stopped_by = Some(sig);
                    break;
                }
            }
            dirty = true;
            // A batch is its effects, in order.
            let effects: Vec<Effect> = effects
                .into_iter()
                .flat_map(|fx| match fx {
                    Effect::Batch(v) => v,
                    fx => vec![fx],
                })
                .collect();
            for fx in effects {
                match fx {
                    Effect::Batch(_) => {}
                    Effect::Send(cmd) => front.send(cmd),
                    Effect::Quit => return Ok(()),
                    Effect::Trust => {
                        let trusted = root.as_deref().map(|r| {
                            let file = crate::config::repo::trust_file(data.root());
                            // Its devcontainer file, when it has one, goes with it.
                            if let Err(e) = crate::config::repo::trust_devcontainer(&file, r) {
                                tracing::warn!("trusting the devcontainer file: {e}");
                            }
                            crate::config::repo::trust(&file, r)
                        });
                        let msg = match trusted {
                            Some(Ok(Some(f))) => {
                                app.untrusted.clear();
                                format!("trusted {} as it is now: its keys apply", f.path.display())
                            }
                            Some(Ok(None)) => "this repository has no drover.toml".to_string(),
                            Some(Err(e)) => format!("not trusted: {e}"),
                            None => "no repository to trust".to_string(),
                        };
                        let error = msg.starts_with("not trusted");
                        app.set_status(msg, error);
                    }
                    Effect::RememberQuitPolicy(p) => {
                        if let Err(e) = store.remember_quit_policy(p) {
                            app.set_status(format!("cannot remember the quit policy: {e}"), true);
                        }
                    }
                    Effect::Notify(msg) => notify(app.notify, &msg),
                    Effect::Copy(text) => copy_osc52(&text),
                    Effect::Open(url) => {
                        if let Err(e) = open_url(&url) {
                            app.set_status(format!("cannot open {url}: {e}"), true);
                        }
                    }
                    Effect::Shell { container, stop_after, workspace } => {
                        // A resting task's workspace handed back to root (a root host):
                        // only root inside can enter it.
                        let as_root = stop_after
                            && workspace.as_deref().and_then(|w| std::fs::metadata(w).ok())
                                .is_some_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
                        // The shell owns the terminal: no event reader may compete for it.
                        events = None; // stops crossterm's reader before the shell starts
                        leave();
                        let status = crate::runtime::shell_command(&container, stop_after, as_root).status();
                        // A fresh terminal (empty back buffer) on a cleared screen redraws
                        // everything. Terminal::clear() would ask the terminal for the cursor
                        // position, an answer that is not reliably readable right after a
                        // program that owned the tty.
                        execute!(std::io::stdout(), crossterm::terminal::Clear(crossterm::terminal::ClearType::All))?;
                        terminal = enter();
                        events = Some(EventStream::new());
                        match status {
                            Ok(s) if s.success() => {}
                            Ok(s) => app.set_status(format!("shell exited with {s}"), true),
                            Err(e) => app.set_status(format!("cannot run the docker CLI for the shell: {e}"), true),
                        }
                    }
                }
            }
        }
        Ok(())
    }
    .await;
    leave();
    let policy = app.quit_policy.unwrap_or(OnQuit::Stop);
    let active = app
        .tasks
        .iter()
        .filter(|t| t.task.state.is_active())
        .count();
    drop(front);
    let elsewhere = host.is_none().then(|| welcome.who());
    if let Some(host) = host {
        host.quit(policy).await;
    }
    result.map_err(|e| TuiError::Failed(format!("terminal: {e}")))?;
    // Not eprintln!: the terminal may be gone, and that must not be a panic.
    let in_daemon;
    let what = match (elsewhere, policy) {
        (Some(who), _) => {
            in_daemon = format!("keep running in {who}; `drover` shows them again");
            in_daemon.as_str()
        }
        (None, OnQuit::Keep) => {
            "keep running in their containers; drover reattaches when it starts again"
        }
        (None, OnQuit::Stop) => "were interrupted: resume them with c (or retry with r/R)",
    };
    if active > 0 && stopped_by.is_none() {
        let _ = writeln!(std::io::stderr(), "drover: {active} running task(s) {what}");
    }
    match stopped_by {
        Some(sig) => {
            let _ = writeln!(
                std::io::stderr(),
                "drover: {}: running tasks {what}",
                sig.name()
            );
            Ok(if sig == crate::signals::Stop::Int {
                130
            } else {
                0
            })
        }
        None => Ok(0),
    }
}

/// Folds what the engine's connection says into the app.
fn on_update(app: &mut App, up: Update) -> Vec<Effect> {
    match up {
        Update::Event(ev) => return app.update(Msg::Engine(ev)),
        Update::Snapshot(tasks) => return app.update(Msg::Snapshot(tasks)),
        Update::Reply { command, result } => return app.update(Msg::Reply(command, result)),
        Update::Lost(why) => app.set_status(format!("{why}; reconnecting…"), true),
        Update::Back(pid) => {
            app.set_status(format!("attached to the daemon again (pid {pid})"), false);
            return app.load_selected();
        }
        Update::Fatal(why) => app.set_status(why, true),
    }
    Vec::new()
}

async fn next_input(events: &mut Option<EventStream>) -> Option<std::io::Result<TermEvent>> {
    match events {
        Some(e) => e.next().await,
        None => std::future::pending().await,
    }
}

fn enter() -> ratatui::DefaultTerminal {
    let terminal = ratatui::init();
    let _ = execute!(std::io::stdout(), EnableMouseCapture, EnableBracketedPaste);
    terminal
}

/// Restores the terminal. Never panics: when the terminal is gone (closed window) the
/// writes fail, and the engine must still be shut down cleanly afterwards.
fn leave() {
    let _ = execute!(
        std::io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste
    );
    let _ = ratatui::try_restore();
}

/// Puts `text` on the clipboard through the terminal (works over ssh and in tmux with
/// `set-clipboard on`).
fn copy_osc52(text: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{b64}\x07");
    let _ = out.flush();
}

/// `$BROWSER`, else `xdg-open` (Linux) or `open` (macOS), detached from the terminal.
fn open_url(url: &str) -> std::io::Result<()> {
    let program = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| {
            if cfg!(target_os = "macos") {
                "open".into()
            } else {
                "xdg-open".into()
            }
        });
    std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

/// Terminal bell and/or an OSC 9 desktop notification.
fn notify(mode: Notify, msg: &str) {
    let mut out = std::io::stdout();
    let text = crate::text::inert(msg).replace(['\u{7}', '\u{1b}'], "");
    let _ = match mode {
        Notify::None => Ok(()),
        Notify::Bell => out.write_all(b"\x07"),
        Notify::Osc9 => write!(out, "\x1b]9;drover: {text}\x07"),
        Notify::Both => write!(out, "\x07\x1b]9;drover: {text}\x07"),
    };
    let _ = out.flush();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Changed {
    Keymap,
    Config,
}

fn reload(what: Changed, repo: Option<&Path>, keymap: Option<&Path>, data: &Path) -> Msg {
    match what {
        Changed::Keymap => Msg::Keymap(Keymap::load(keymap).map_err(|e| e.to_string())),
        Changed::Config => Msg::Config(
            Config::load_in(repo, data)
                .map(|c| (c.notify, c.untrusted))
                .map_err(|e| e.to_string()),
        ),
    }
}

/// Watches the keymap and config files (their directories, so new files count too).
fn watch_files(
    repo: Option<&Path>,
    keymap: Option<PathBuf>,
    tx: mpsc::UnboundedSender<Changed>,
) -> Option<
    notify_debouncer_full::Debouncer<
        notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
> {
    use notify::RecursiveMode;
    let repo_files: Vec<PathBuf> = repo
        .map(|r| vec![r.join("drover.toml"), r.join(".drover").join("config.toml")])
        .unwrap_or_default();
    let user_config = crate::config::user_config_path();
    let keymap_c = keymap.clone();
    let mut debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(200),
        None,
        move |res: notify_debouncer_full::DebounceEventResult| {
            let Ok(events) = res else { return };
            // Only changes count: reading the file ourselves makes access events, and
            // reloading on those would loop forever.
            let paths: Vec<&PathBuf> = events
                .iter()
                .filter(|e| {
                    use notify::event::{EventKind as K, ModifyKind};
                    matches!(
                        e.kind,
                        K::Create(_)
                            | K::Remove(_)
                            | K::Modify(
                                ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any
                            )
                    )
                })
                .flat_map(|e| e.paths.iter())
                .collect();
            if paths
                .iter()
                .any(|p| Some(p.as_path()) == keymap_c.as_deref())
            {
                let _ = tx.send(Changed::Keymap);
            }
            if paths
                .iter()
                .any(|p| repo_files.contains(p) || Some(p.as_path()) == user_config.as_deref())
            {
                let _ = tx.send(Changed::Config);
            }
        },
    )
    .ok()?;
    let mut dirs: Vec<PathBuf> = repo.map(Path::to_path_buf).into_iter().collect();
    if let Some(r) = repo.filter(|r| r.join(".drover").is_dir()) {
        dirs.push(r.join(".drover"));
    }
    if let Some(dir) = keymap.as_deref().and_then(Path::parent) {
        // Created (0700) when missing, so a keymap written later is seen too.
        if !dir.exists() {
            let _ = crate::paths::create_private_dir(dir);
        }
        dirs.push(dir.to_path_buf());
    }
    for d in dirs {
        if let Err(e) = debouncer.watch(&d, RecursiveMode::NonRecursive) {
            tracing::warn!("watching {}: {e}", d.display());
        }
    }
    Some(debouncer)
}
