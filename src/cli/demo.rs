//! `drover demo`: a sample repository with failing tests, three scripted tasks queued,
//! the TUI opened on it. Everything it needs is embedded in the binary.

use std::path::{Path, PathBuf};

use super::{CliResult, Failure};
use crate::agent::scripted::Script;
use crate::client::OpenOptions;
use crate::config::{Config, OnQuit};
use crate::paths::DataDir;
use crate::protocol::{AgentSpec, Command, NewTask};
use crate::runtime::{Runtime, image};
use crate::ui::terminal::{self, TuiOptions};

const PROJECT: &[(&str, &str)] = &[
    (
        "README.md",
        include_str!("../../assets/demo/shop/README.md"),
    ),
    ("calc.py", include_str!("../../assets/demo/shop/calc.py")),
    ("text.py", include_str!("../../assets/demo/shop/text.py")),
    (
        "tests/__init__.py",
        include_str!("../../assets/demo/shop/tests/__init__.py"),
    ),
    (
        "tests/test_calc.py",
        include_str!("../../assets/demo/shop/tests/test_calc.py"),
    ),
    (
        "tests/test_text.py",
        include_str!("../../assets/demo/shop/tests/test_text.py"),
    ),
];

/// (file, title, prompt)
const TASKS: &[(&str, &str, &str, &str)] = &[
    (
        "fix-add.toml",
        include_str!("../../assets/demo/scripts/fix-add.toml"),
        "Fix add() so the test suite passes",
        "tests/test_calc.py::test_add fails: add(2, 3) returns -1. Find the bug and fix it.",
    ),
    (
        "median.toml",
        include_str!("../../assets/demo/scripts/median.toml"),
        "Add median() to calc.py, with tests",
        "Add calc.median(values): the middle value, the mean of the two middle values for even lengths, ValueError when empty. Cover it with unit tests.",
    ),
    (
        "slugify-accents.toml",
        include_str!("../../assets/demo/scripts/slugify-accents.toml"),
        "Make slugify() fold accents",
        "slugify(\"Crème brûlée\") should give \"creme-brulee\", not \"cr-me-br-l-e\". Add a test.",
    ),
];

const YOUR_TASK: &str = include_str!("../../assets/demo/scripts/your-task.toml");

pub(super) async fn demo(dir: Option<PathBuf>, no_tui: bool, daemon: bool) -> CliResult {
    let root = match dir {
        Some(d) => d,
        None => tempfile::Builder::new()
            .prefix("drover-demo-")
            .tempdir()
            .map_err(|e| Failure::failed(format!("creating a demo directory: {e}")))?
            .keep(),
    };
    let repo = root.join("shop");
    let scripts = root.join("scripts");
    if repo.exists() {
        return Err(Failure::usage(format!(
            "{} already exists: pick another --dir",
            repo.display()
        )));
    }
    write_files(&repo, PROJECT).map_err(Failure::failed)?;
    let mut script_files: Vec<(&str, &str)> = TASKS.iter().map(|(f, s, _, _)| (*f, *s)).collect();
    script_files.push(("your-task.toml", YOUR_TASK));
    write_files(&scripts, &script_files).map_err(Failure::failed)?;
    init_repo(&repo).map_err(|e| Failure::failed(format!("creating the demo repository: {e}")))?;

    // The demo's own data dir gets no daemon: nothing of it outlives the demo's TUI.
    let (data, daemon) = match std::env::var_os("DROVER_HOME").filter(|v| !v.is_empty()) {
        Some(_) => (DataDir::from_env(), daemon),
        None => (DataDir::at(root.join("data")), false),
    };
    let data = data.map_err(|e| Failure::usage(format!("data dir: {e}")))?;

    match Runtime::connect().await {
        Ok(rt) => {
            let config = Config::load(Some(&repo)).map_err(Failure::usage)?;
            let mut progress = |l: &str| eprintln!("  {}", crate::text::inert(l.trim_end()));
            let img = image::task_image(&config, Some(&repo)).map_err(Failure::failed)?;
            if !rt.image_exists(&img).await.map_err(Failure::failed)? {
                eprintln!("building the worker image {img} (once; about a minute)…");
                image::build(&rt, &config, Some(&repo), &data, false, &mut progress)
                    .await
                    .map_err(Failure::failed)?;
            }
        }
        Err(e) => {
            eprintln!("warning: {e}\nthe demo opens anyway; its tasks wait until Docker is back")
        }
    }

    for (file, script, ..) in TASKS {
        Script::parse(&scripts.join(file), script).map_err(Failure::failed)?;
    }
    // Queued through the demo's own engine (its daemon, or one here for this alone).
    let mut opened = crate::client::open(OpenOptions {
        data: data.clone(),
        daemon,
        scope: None,
        run_queue: false,
        max_parallel: Config::default().max_parallel,
    })
    .await
    .map_err(Failure::failed)?;
    let mut queued = Ok(());
    for (file, script, title, prompt) in TASKS {
        let new = NewTask {
            repo: repo.clone(),
            title: title.to_string(),
            prompt: prompt.to_string(),
            agent: AgentSpec::Scripted {
                script: script.to_string(),
                source: file.to_string(),
            },
            origin: None,
            others: Vec::new(),
        };
        let answer = opened
            .connection
            .request(Command::Queue {
                task: Box::new(new),
            })
            .await;
        match answer {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => queued = Err(e.to_string()),
            Err(e) => queued = Err(e.to_string()),
        }
        if queued.is_err() {
            break;
        }
    }
    if let Some(host) = opened.host {
        host.quit(OnQuit::Stop).await;
    }
    queued.map_err(Failure::failed)?;
    eprintln!(
        "demo repository: {}\ndata: {}",
        repo.display(),
        data.root().display()
    );
    if no_tui {
        return Ok(0);
    }
    let goodbye = farewell(&repo, &data);
    let opts = TuiOptions {
        default_script: Some(scripts.join("your-task.toml").display().to_string()),
        data: Some(data),
        daemon,
        all: false,
    };
    let code = terminal::run(repo.clone(), opts).await?;
    eprintln!("{goodbye}");
    Ok(code)
}

/// The demo's last words: where its repository and the data dir it used stay.
fn farewell(repo: &Path, data: &DataDir) -> String {
    format!(
        "the demo repository stays at {} (its data at {})",
        repo.display(),
        data.root().display()
    )
}

fn write_files(dir: &Path, files: &[(&str, &str)]) -> Result<(), String> {
    for (name, content) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&p, content).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

/// `git init` + first commit, with git2 (no git CLI needed).
fn init_repo(dir: &Path) -> Result<(), git2::Error> {
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = git2::Repository::init_opts(dir, &opts)?;
    let mut index = repo.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("drover demo", "demo@drover.invalid")?;
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        "A small shop library with a failing test",
        &tree,
        &[],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bug 14: the exit line names the data dir the demo used, not its parent.
    #[test]
    fn bug14_the_farewell_names_the_data_dir_used() {
        let root = tempfile::tempdir().unwrap();
        let data = DataDir::at(root.path().join("data")).unwrap();
        let line = farewell(&root.path().join("shop"), &data);
        assert!(
            line.ends_with(&format!(
                "(its data at {})",
                root.path().join("data").display()
            )),
            "{line}"
        );
    }
}
