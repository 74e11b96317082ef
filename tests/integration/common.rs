//! Shared fixtures: a Docker check that never skips on CI, the worker image built once,
//! temp repositories, and the real `drover` binary run against a private data dir.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use drover::config::Config;
use drover::runtime::{Runtime, image};
use sha2::{Digest, Sha256};

/// Docker must work on CI; locally without Docker, Docker tests say so and return.
pub fn docker_available() -> bool {
    static OK: OnceLock<Result<(), String>> = OnceLock::new();
    let r = OK.get_or_init(|| {
        off_runtime(|| {
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            rt.block_on(Runtime::connect())
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    });
    match r {
        Ok(()) => true,
        Err(e) => {
            let required = std::env::var("CI").is_ok_and(|v| v == "true")
                || std::env::var("DROVER_E2E_DOCKER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "Docker is required here (CI=true or DROVER_E2E_DOCKER=1) but: {e}"
            );
            eprintln!(
                "SKIPPED: no Docker engine ({e}); set DROVER_E2E_DOCKER=1 to make this a failure"
            );
            false
        }
    }
}

/// Runs `f` on its own thread: callable from sync tests and from inside async ones
/// (a runtime cannot be started inside another).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().expect("helper thread"))
}

/// For a Docker test: the worker image built and `Env::python_bug` with `config` as its
/// trusted drover.toml. `None` (the test returns) only off CI without Docker.
pub fn docker_python(config: &str) -> Option<Env> {
    if !docker_available() {
        return None;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config(config);
    Some(env)
}

/// Builds the worker image if missing, once for all test processes (file lock).
pub fn ensure_image() -> String {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let lock_path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("worker-image.lock");
        let lock = std::fs::File::create(&lock_path).expect("image lock file");
        lock.lock().expect("image lock");
        let tag = off_runtime(|| {
            tokio::runtime::Runtime::new()
                .expect("tokio")
                .block_on(async {
                    let docker = Runtime::connect().await.expect("docker");
                    let config = Config::default();
                    let data = drover::paths::DataDir::at(
                        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("image-build"),
                    )
                    .expect("data dir");
                    let report = image::build(&docker, &config, None, &data, false, &mut |l| {
                        eprintln!("image: {l}")
                    })
                    .await
                    .expect("building the worker image");
                    report.image
                })
        });
        drop(lock);
        tag
    })
    .clone()
}

/// A private drover installation (data dir, config dir) and a user repository.
pub struct Env {
    pub home: tempfile::TempDir,
    pub repo: PathBuf,
    _repo_dir: tempfile::TempDir,
    /// The repository `repo` was cloned from, if it was.
    _source: Option<Box<Env>>,
}

impl Env {
    /// A repository with a failing Python unittest (`add` subtracts).
    pub fn python_bug() -> Env {
        Env::with_files(&[
            ("calc.py", "def add(a, b):\n    return a - b\n"),
            (
                "test_calc.py",
                "import unittest\nfrom calc import add\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
            ),
        ])
    }

    pub fn with_files(files: &[(&str, &str)]) -> Env {
        let (home, repo_dir, repo) = Env::dirs();
        std::fs::create_dir(&repo).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        for (p, c) in files {
            let path = repo.join(p);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, c).expect("write");
        }
        commit_all(&repo, "init");
        Env {
            home,
            repo,
            _repo_dir: repo_dir,
            _source: None,
        }
    }

    /// A home (with its config dir) and where the user repository goes: a path with a
    /// space and a non-ASCII letter, as users have.
    fn dirs() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(home.path().join("config")).expect("mkdir");
        let repo_dir = tempfile::tempdir().expect("tempdir");
        let repo = repo_dir
            .path()
            .canonicalize()
            .expect("canonical")
            .join("user repo ä");
        (home, repo_dir, repo)
    }

    /// A user repository cloned (`git clone CLONE_ARGS`) from one like `python_bug`
    /// with a second commit, so a shallow clone really is shallow.
    pub fn cloned(clone_args: &[&str]) -> Env {
        let source = Env::python_bug();
        std::fs::write(source.repo.join("README.md"), "second\n").expect("write");
        commit_all(&source.repo, "second");
        git(&source.repo, &["config", "uploadpack.allowFilter", "true"]);
        let (home, repo_dir, repo) = Env::dirs();
        let url = format!("file://{}", source.repo.display());
        let mut args = vec!["clone", "-q"];
        args.extend_from_slice(clone_args);
        args.extend_from_slice(&[url.as_str(), repo.to_str().expect("utf8")]);
        git(repo_dir.path(), &args);
        Env {
            home,
            repo,
            _repo_dir: repo_dir,
            _source: Some(Box::new(source)),
        }
    }

    pub fn data(&self) -> PathBuf {
        self.home.path().join("data")
    }

    /// drover with its engine in-process (`DROVER_NO_DAEMON=1`): what most tests are
    /// about is the engine, and killing the command kills it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = self.daemon_command(args);
        c.env("DROVER_NO_DAEMON", "1");
        c
    }

    /// drover as users run it: through the daemon, started on demand.
    pub fn daemon_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_drover"));
        c.args(args)
            .current_dir(&self.repo)
            .env("DROVER_HOME", self.data())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env_remove("DROVER_NO_DAEMON")
            .stdin(Stdio::null());
        c
    }

    /// Runs drover to completion.
    pub fn drover(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running drover")
    }

    /// Writes a script and queues it; returns the task id.
    pub fn add(&self, title: &str, script: &str) -> String {
        let path = self
            .home
            .path()
            .join(format!("{}.toml", drover::engine::slug(title)));
        std::fs::write(&path, script).expect("script");
        let out = self.drover(&[
            "add",
            "--script",
            path.to_str().expect("utf8"),
            "--title",
            title,
            "Do the thing",
        ]);
        assert!(out.status.success(), "add failed: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    /// A file of the task's workspace ("" when it is not there).
    pub fn workspace_file(&self, id: &str, path: &str) -> String {
        std::fs::read_to_string(self.data().join("workspaces").join(id).join(path))
            .unwrap_or_default()
    }

    /// The stored transcript (JSON Lines) of the task's attempt `n` ("" before it starts).
    pub fn transcript(&self, id: &str, n: u32) -> String {
        let p = self
            .data()
            .join("tasks")
            .join(id)
            .join(n.to_string())
            .join("transcript.jsonl");
        std::fs::read_to_string(p).unwrap_or_default()
    }

    pub fn show(&self, id: &str) -> serde_json::Value {
        let out = self.drover(&["show", id, "--json"]);
        assert!(out.status.success(), "show failed: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("show --json")
    }

    /// Commits `toml` as the repository's drover.toml and trusts it (as its owner would).
    pub fn write_config(&self, toml: &str) {
        self.write_untrusted_config(toml);
        self.trust();
    }

    /// `drover trust` of the repository's config as it is now.
    pub fn trust(&self) {
        let out = self.drover(&["trust"]);
        assert!(out.status.success(), "trust failed: {}", text(&out.stderr));
    }

    /// Commits `toml` as the repository's drover.toml, trusting nothing.
    pub fn write_untrusted_config(&self, toml: &str) {
        std::fs::write(self.repo.join("drover.toml"), toml).expect("config");
        git(&self.repo, &["add", "drover.toml"]);
        commit_staged(&self.repo, "config");
    }

    /// The pid of this environment's daemon, as `drover daemon status` reports it
    /// (`None` when none runs).
    pub fn daemon_pid(&self) -> Option<u32> {
        let out = self.drover(&["daemon", "status"]);
        let s = text(&out.stdout);
        (out.status.code() == Some(0)).then(|| {
            s.split("(pid ")
                .nth(1)
                .and_then(|r| r.split(')').next())
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no pid in: {s}"))
        })
    }

    pub fn repo_label(&self) -> String {
        format!("drover.repo={}", drover::paths::repo_hash(&self.repo))
    }

    /// Containers of this environment's repository (`docker ps` filters).
    pub fn containers(&self, extra: &[&str]) -> Vec<String> {
        let label = self.repo_label();
        let mut args = vec![
            "ps",
            "-q",
            "--filter",
            "label=drover.managed=true",
            "--filter",
        ];
        let filter = format!("label={label}");
        args.push(&filter);
        args.extend_from_slice(extra);
        let out = Command::new("docker")
            .args(&args)
            .output()
            .expect("docker ps");
        text(&out.stdout).lines().map(String::from).collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // A daemon this test started goes first (it would start containers again).
        if self.data().join("daemon.sock").exists() {
            let _ = self.drover(&["daemon", "stop"]);
        }
        // Every labelled container this test made goes, whatever happened.
        let ids = self.containers(&["-a"]);
        if !ids.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&ids)
                .output();
        }
        // And every environment snapshot its data dir made.
        if let Ok(data) = drover::paths::DataDir::at(self.data()) {
            let out = Command::new("docker")
                .args(["images", "-q", "--filter"])
                .arg(format!("label=drover.data={}", data.hash()))
                .args(["--filter", "label=drover.env"])
                .output();
            let images: Vec<String> = out
                .map(|o| text(&o.stdout).lines().map(String::from).collect())
                .unwrap_or_default();
            if !images.is_empty() {
                let _ = Command::new("docker")
                    .args(["rmi", "-f"])
                    .args(&images)
                    .output();
            }
        }
    }
}

/// Whether the task's container runs a process whose command line has `what`.
pub fn running_in(id: &str, what: &str) -> bool {
    let out = Command::new("docker")
        .args(["top", &format!("drover-{id}")])
        .output()
        .expect("docker top");
    out.status.success() && text(&out.stdout).contains(what)
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
}

/// A bare repository (`origin.git` in the returned directory) as `origin` of `env`, with
/// `main` pushed to it.
pub fn bare_origin(env: &Env) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let bare = dir.path().join("origin.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", "-b", "main", "origin.git"],
    );
    git(
        &env.repo,
        &["remote", "add", "origin", bare.to_str().expect("utf8")],
    );
    git(&env.repo, &["push", "-q", "origin", "main"]);
    dir
}

/// Commits everything in `dir`'s work tree (deletions included).
pub fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    commit_staged(dir, message);
}

/// Commits what is staged in `dir`.
pub fn commit_staged(dir: &Path, message: &str) {
    git(
        dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            message,
        ],
    );
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Hash of every file under `dir` (the .git directory included), by path.
pub fn tree_hash(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).expect("meta");
            let rel = p
                .strip_prefix(dir)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            if meta.is_dir() {
                stack.push(p);
            } else {
                let content = std::fs::read(&p).unwrap_or_default();
                out.insert(rel, format!("{:x}", Sha256::digest(&content)));
            }
        }
    }
    out
}

/// Polls `f` every 100 ms until it returns Some, or panics after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// An engine host in this process on an environment's data dir, asked through the
/// protocol like any front end asks one.
pub struct TestEngine {
    host: drover::host::Host,
    ask: drover::client::Connection,
}

impl TestEngine {
    /// Sends a command and waits for its typed answer.
    pub async fn request(
        &mut self,
        cmd: drover::protocol::Command,
    ) -> drover::protocol::CommandResult {
        self.ask.request(cmd).await.expect("the engine answers")
    }

    /// Sends every command before reading any answer (so none waits for another); the
    /// answers in the commands' order.
    pub async fn requests(
        &mut self,
        cmds: Vec<drover::protocol::Command>,
    ) -> Vec<drover::protocol::CommandResult> {
        let ids: Vec<u64> = cmds
            .into_iter()
            .map(|c| self.ask.command(c).expect("sent"))
            .collect();
        let mut got = std::collections::HashMap::new();
        while got.len() < ids.len() {
            if let drover::protocol::ServerMsg::Reply { id, result } =
                self.ask.next().await.expect("the engine answers")
            {
                got.insert(id, result);
            }
        }
        ids.iter()
            .map(|i| got.remove(i).expect("answered"))
            .collect()
    }

    /// Queues `task`; its id.
    pub async fn queue(&mut self, task: drover::protocol::NewTask) -> drover::protocol::TaskId {
        let reply = self
            .request(drover::protocol::Command::Queue {
                task: Box::new(task),
            })
            .await
            .expect("queued");
        reply.task().expect("a task").clone()
    }

    /// Says a front end is open in `repo` (as a subscription to it does).
    pub async fn open_in(&mut self, repo: &Path) -> drover::client::Connection {
        let c = drover::client::Connection::over(self.host.pipe(), drover::protocol::PROTOCOL)
            .await
            .expect("connect");
        c.subscribe(Some(repo), None).expect("subscribe");
        c
    }

    /// Ends the engine, interrupting running tasks.
    pub async fn shutdown(self) {
        drop(self.ask);
        self.host.quit(drover::config::OnQuit::Stop).await;
    }
}

impl Env {
    /// An engine host in this process on this environment's data dir, running its
    /// queue with `runtime`; with every event from its start. Call from a tokio runtime.
    pub async fn start_engine(
        &self,
        runtime: drover::engine::docker_watch::RuntimeSlot,
        max_parallel: usize,
    ) -> (
        TestEngine,
        tokio::sync::mpsc::UnboundedReceiver<drover::protocol::Event>,
    ) {
        use drover::protocol::{PROTOCOL, ServerMsg};
        let data = drover::paths::DataDir::at(self.data()).expect("data dir");
        let mut host = drover::host::Host::start(drover::host::HostOptions {
            data,
            kind: drover::protocol::HostKind::InProcess,
            scope: None,
            run_queue: true,
            max_parallel,
            runtime: Some(runtime),
        })
        .await
        .expect("host");
        let mut watch = drover::client::Connection::over(host.pipe(), PROTOCOL)
            .await
            .expect("connect");
        // From the very first event: nothing has happened before a subscription made
        // now, except what the backlog holds, which it replays from 0.
        watch.subscribe(None, Some(0)).expect("subscribe");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(msg) = watch.next().await {
                if let ServerMsg::Event { event } = msg
                    && tx.send(event).is_err()
                {
                    break;
                }
            }
        });
        let ask = drover::client::Connection::over(host.pipe(), PROTOCOL)
            .await
            .expect("connect");
        (TestEngine { host, ask }, rx)
    }

    /// `PRAGMA integrity_check` of the store says ok.
    pub fn assert_store_sound(&self) {
        let db = rusqlite::Connection::open(self.data().join("drover.db")).expect("db");
        let ok: String = db
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check");
        assert_eq!(ok, "ok");
    }
}

/// A value no one else has, different every run (not derived from a secret pattern, so a
/// leak would show as itself and not be hidden by redaction).
pub fn canary(tag: &str) -> String {
    let seed = format!(
        "{tag}{}{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    );
    let hex = format!("{:x}", Sha256::digest(seed.as_bytes()));
    format!("cnry{}", &hex[..20])
}

/// `git ARGS` in `dir`, its standard output (it must succeed).
pub fn git_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A directory of the host outside every workspace, holding a root-only file with a
/// marker: what a hostile workspace tries to make drover read or write.
pub struct HostMarker {
    dir: tempfile::TempDir,
    pub marker: String,
}

impl HostMarker {
    pub fn new() -> HostMarker {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = canary("host");
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, format!("{marker}\n")).expect("write");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        HostMarker { dir, marker }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn secret(&self) -> PathBuf {
        self.dir.path().join("secret.txt")
    }

    /// Every file under it, hashed (to show nothing was created or changed).
    pub fn state(&self) -> BTreeMap<String, String> {
        tree_hash(self.dir.path())
    }
}
