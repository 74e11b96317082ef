//! The `drover` binary: parse the command line, set up logging, run, exit with a code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use drover::cli::{Cli, dispatch};

fn main() -> ExitCode {
    if let Err(e) = color_eyre::install() {
        eprintln!("drover: cannot install error reporting: {e}");
    }
    let cli = Cli::parse();
    let _log_guard = init_logging();
    drover::workspace::owner::allow_sandbox_owned_repositories();
    raise_open_files();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("drover: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(f) => {
            // The terminal may be gone (a closed window): failing to say so is no panic.
            let _ = writeln!(std::io::stderr(), "drover: {}", f.message);
            ExitCode::from(f.code.clamp(0, 255) as u8)
        }
    }
}

/// Several tasks' snapshots walk deep trees at once, each level holding a handle: the
/// soft limit on open files (often 1024) goes up to the hard one (at most 65536).
fn raise_open_files() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let want = now.maximum.map_or(65536, |m| m.min(65536));
    if now.current.is_some_and(|c| c < want) {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(want),
                maximum: now.maximum,
            },
        );
    }
}

/// Logs go to `<data dir>/logs/drover.log` (0600), never to the terminal.
fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let data = drover::paths::DataDir::from_env().ok()?;
    let dir = data.logs();
    drover::paths::create_private_dir(&dir).ok()?;
    let file = drover::paths::open_private_append(&dir.join("drover.log")).ok()?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_env("DROVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    Some(guard)
}
