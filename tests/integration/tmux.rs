//! The tmux harness of the end-to-end TUI tests: the real binary in a real terminal,
//! its screen read back, keys sent.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Env, text};

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

pub struct Tmux {
    pub socket: String,
    pub session: String,
}

impl Tmux {
    /// `cmd` on `env`'s data and config, through its daemon or with the engine in-process.
    pub fn in_env(env: &Env, cmd: &str, daemon: bool) -> Tmux {
        let (data, config) = (env.data(), env.home.path().join("config"));
        let mut vars = vec![
            ("DROVER_HOME", data.as_path()),
            ("XDG_CONFIG_HOME", config.as_path()),
        ];
        if !daemon {
            vars.push(("DROVER_NO_DAEMON", Path::new("1")));
        }
        Tmux::start(cmd, &vars)
    }

    pub fn start(cmd: &str, env: &[(&str, &Path)]) -> Tmux {
        let t = Tmux {
            // One server per test: tests run in parallel in one process.
            socket: format!(
                "drover-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            ),
            session: "e2e".into(),
        };
        let mut c = Command::new("tmux");
        c.args([
            "-L",
            &t.socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            &t.session,
            "-x",
            "160",
            "-y",
            "45",
        ]);
        for (k, v) in env {
            c.args(["-e", &format!("{k}={}", v.display())]);
        }
        c.arg(cmd);
        let out = c.output().expect("tmux");
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
        t
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "capture-pane",
                "-p",
                "-t",
                &self.session,
            ])
            .output()
            .expect("capture");
        text(&out.stdout)
    }

    pub fn keys(&self, keys: &[&str]) {
        Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .expect("send-keys");
        std::thread::sleep(Duration::from_millis(300));
    }

    pub fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["-L", &self.socket, "has-session", "-t", &self.session])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits until the screen contains `what`; panics with the screen otherwise.
    pub fn wait_for(&self, what: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "waited {secs}s for {what:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn tmux_available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err_and(|_| true)
                || std::env::var("CI").as_deref() != Ok("true"),
            "tmux is required on CI"
        );
        eprintln!("SKIPPED: tmux is not installed");
    }
    ok
}

/// The shell command that opens the TUI in the environment's repository.
pub fn tui_in(env: &Env) -> String {
    format!(
        "cd '{}' && exec {}",
        env.repo.display(),
        env!("CARGO_BIN_EXE_drover")
    )
}

pub fn remove_containers_of(repo: &Path) {
    let label = format!("label=drover.repo={}", drover::paths::repo_hash(repo));
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &label])
        .output()
        .expect("docker ps");
    let ids: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    if !ids.is_empty() {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&ids)
            .output();
    }
}
