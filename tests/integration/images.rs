//! The worker image on any machine: built on a base pulled from a registry (a local
//! `docker-registry` started here, filled with the offline base under a registry name),
//! and built offline when no registry answers, each saying which path it took and why.

use std::process::{Child, Command, Stdio};

use drover::config::Config;
use drover::runtime::Runtime;
use drover::runtime::base::{self, Base};
use drover::runtime::image;

use crate::common::*;

/// A `docker-registry` serving on 127.0.0.1, stopped when dropped.
struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// `None` when the binary is missing outside CI (in CI that is a failure).
    fn start() -> Option<Registry> {
        let found = Command::new("docker-registry")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "docker-registry is not installed (apt-get install docker-registry)"
            );
            eprintln!("SKIPPED: docker-registry is not installed");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(30, "the registry to answer", || {
            std::net::TcpStream::connect(&addr).ok()
        });
        Some(Registry {
            child,
            addr,
            _dir: dir,
        })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().unwrap()
}

fn write_user_config(env: &Env, toml: &str) {
    let dir = env.home.path().join("config/drover");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), toml).unwrap();
}

#[test]
fn the_worker_builds_on_a_base_pulled_from_a_registry() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let Some(registry) = Registry::start() else {
        return;
    };
    // The offline base goes into the registry under a name of its own, and leaves this
    // engine, so only a pull can bring it back.
    let name = format!("{}/drover-test/base:{}", registry.addr, canary("base"));
    assert!(docker(&["tag", &image::base_tag(), &name]).status.success());
    let pushed = docker(&["push", &name]);
    assert!(pushed.status.success(), "{}", text(&pushed.stderr));
    assert!(docker(&["rmi", &name]).status.success());
    assert!(!docker(&["image", "inspect", &name]).status.success());

    let env = Env::python_bug();
    write_user_config(&env, &format!("base_image = \"{name}\"\n"));
    let out = env.drover(&["image", "build"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let worker = stdout
        .lines()
        .find_map(|l| {
            l.split(' ')
                .next()
                .filter(|w| w.starts_with("drover-worker:"))
        })
        .map(str::to_string);
    let cleanup = |worker: &Option<String>| {
        if let Some(w) = worker {
            let _ = docker(&["rmi", w]);
        }
        let _ = docker(&["rmi", &name]);
    };
    let checks = std::panic::catch_unwind(|| {
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stderr.contains(&format!("pulling {name}")), "{stderr}");
        assert!(
            stdout.contains(&format!("base: base_image = \"{name}\"")),
            "{stdout}"
        );
        assert!(
            docker(&["image", "inspect", &name]).status.success(),
            "pulled"
        );
        let worker = worker.clone().expect("the worker's tag");
        let run = docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            &worker,
            "git",
            "--version",
        ]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        // doctor says what a build would do now that the base is here.
        let doctor = text(&env.drover(&["doctor"]).stdout);
        assert!(doctor.contains(&worker), "{doctor}");
    });
    cleanup(&worker);
    drop(registry);
    if let Err(e) = checks {
        std::panic::resume_unwind(e);
    }
}

/// With no `base_image`, a registry that does not answer means the offline base, and
/// the reason names the registry's answer; `doctor` says so before any build.
#[tokio::test(flavor = "multi_thread")]
async fn no_registry_means_the_offline_base_and_says_why() {
    if !docker_available() {
        return;
    }
    let rt = Runtime::connect().await.unwrap();
    // Nothing listens on port 1 of loopback: a registry that cannot answer.
    let nowhere = "127.0.0.1:1/drover-test/nothing:here";
    let mut said = Vec::new();
    let choice = base::choose_with(&rt, &Config::default(), nowhere, &mut |l| {
        said.push(l.to_string())
    })
    .await
    .unwrap();
    assert_eq!(choice.base, Base::Offline);
    assert!(
        choice
            .why
            .starts_with(&format!("no registry answered for {nowhere}")),
        "{}",
        choice.why
    );
    assert!(
        said.iter().any(|l| l.contains("pulling")),
        "positive control: {said:?}"
    );

    // A base the user names must be had: no silent fallback.
    let config = Config {
        base_image: Some(nowhere.into()),
        ..Config::default()
    };
    let err = base::choose(&rt, &config, &mut |_| {}).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("pulling base_image {nowhere}")),
        "{err}"
    );

    // doctor describes the plan for a missing worker without building anything.
    let plan = base::plan(&rt, &Config::default()).await;
    assert!(
        plan.contains("debian:bookworm-slim") && plan.contains("Debian packages"),
        "{plan}"
    );
}
