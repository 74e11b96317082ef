//! Host trust boundary, faults (HTB-11…13): a workspace past `limits.disk` stops its
//! task; a full disk under the data dir interrupts the task with the reason and drover
//! still answers; a lost store beside task files is refused, removing nothing; a
//! container stopped or removed from outside leaves its task interrupted and
//! resumable, and a workspace removed from outside is named as such.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;

fn spawn_run(env: &Env) -> std::process::Child {
    env.command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn reason(env: &Env, id: &str) -> String {
    env.show(id)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn htb_11_a_workspace_past_its_disk_limit_stops_its_task() {
    let Some(env) = docker_python("test = \"true\"\n[limits]\ndisk = \"20m\"\n") else {
        return;
    };
    let script = "[[step]]\nrun = \"echo control-$((6*7)); dd if=/dev/urandom of=big bs=1M count=40 2>&1 | tail -n 1; sleep 20\"\n";
    let id = env.add("Fill the workspace", script);
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "{logs}");
    assert_eq!(env.show(&id)["state"], "failed");
    let why = reason(&env, &id);
    let used: f64 = why
        .strip_prefix("stopped: disk limit (used ")
        .and_then(|r| r.split(" MiB of 20.0 MiB)").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{why}"));
    assert!(used > 20.0, "{why}");
    assert!(env.containers(&[]).is_empty(), "its container was stopped");
}

/// A small file system of its own under the environment's data dir (root only).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &std::path::Path) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=96m,mode=0700", "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn htb_11_a_full_data_disk_interrupts_the_task_and_drover_still_answers() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let Some(_disk) = SmallDisk::mount(&env.data()) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs as root and can mount a tmpfs"
        );
        eprintln!("SKIPPED: mounting a small file system needs root");
        return;
    };
    env.write_config("test = \"true\"\n");
    let script = "[[step]]\nrun = \"echo control-$((6*7)); dd if=/dev/zero of=fill bs=1M count=200 2>&1 | tail -n 1; sleep 30\"\n";
    let id = env.add("Fill the disk", script);
    let out = env.drover(&["run"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(env.show(&id)["state"], "interrupted");
    let why = reason(&env, &id);
    assert!(
        why.starts_with("the disk holding drover's data") && why.contains("is full"),
        "{why}"
    );
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "{logs}");
    assert!(
        env.drover(&["list"]).status.success(),
        "drover still answers"
    );
    env.assert_store_sound();
}

#[test]
fn htb_12_a_lost_store_beside_task_files_starts_nothing_and_removes_nothing() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let id = env.add("In review", "[[step]]\nrun = \"echo control-$((6*7))\"\n");
    env.drover(&["run"]);
    assert_eq!(env.show(&id)["state"], "review");
    let containers = env.containers(&["-a"]);
    assert_eq!(containers.len(), 1, "its stopped container is kept");
    let ws = env.data().join("workspaces").join(&id);
    assert!(ws.is_dir());
    std::fs::write(env.data().join("drover.db"), b"").unwrap();
    let _ = std::fs::remove_file(env.data().join("drover.db-wal"));
    for args in [&["list"][..], &["gc", "--older-than", "0"], &["run"]] {
        let out = env.drover(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("drover.db is empty") && err.contains("Restore"),
            "{err}"
        );
    }
    assert_eq!(env.containers(&["-a"]), containers, "no container removed");
    assert!(ws.is_dir(), "the workspace stays");
    assert_eq!(
        std::fs::metadata(env.data().join("drover.db"))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn htb_13_a_container_stopped_from_outside_leaves_the_task_resumable() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let script = "[[step]]\nrun = \"echo control-$((6*7)); sleep 300\"\n[[step]]\nrun = \"echo resumed-$((6*7))\"\n";
    let id = env.add("Sleep", script);
    let mut child = spawn_run(&env);
    wait_for(60, "the long command", || {
        running_in(&id, "sleep 300").then_some(())
    });
    let out = Command::new("docker")
        .args(["kill", &format!("drover-{id}")])
        .output()
        .unwrap();
    assert!(out.status.success());
    child.wait().unwrap();
    assert_eq!(env.show(&id)["state"], "interrupted");
    let why = reason(&env, &id);
    assert!(
        why.starts_with("container stopped from outside drover"),
        "{why}"
    );
    assert!(env.drover(&["resume", &id]).status.success());
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("resumed-42"), "it went on: {logs}");
    assert_eq!(env.show(&id)["state"], "review");
}

#[test]
fn htb_13_a_container_removed_from_outside_is_named_too() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let id = env.add("Sleep", "[[step]]\nrun = \"sleep 300\"\n");
    let mut child = spawn_run(&env);
    wait_for(60, "the long command", || {
        running_in(&id, "sleep 300").then_some(())
    });
    let out = Command::new("docker")
        .args(["rm", "-f", &format!("drover-{id}")])
        .output()
        .unwrap();
    assert!(out.status.success());
    child.wait().unwrap();
    assert_eq!(env.show(&id)["state"], "interrupted");
    let why = reason(&env, &id);
    // `docker rm -f` stops it first: drover may see either.
    assert!(
        why.starts_with("container removed from outside drover")
            || why.starts_with("container stopped from outside drover"),
        "{why}"
    );
}

#[test]
fn htb_13_a_workspace_removed_from_outside_is_said_not_blamed_on_the_agent() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let id = env.add(
        "Sleep",
        "[[step]]\nrun = \"sleep 2; echo control-$((6*7))\"\n",
    );
    let mut child = spawn_run(&env);
    wait_for(60, "the command", || {
        running_in(&id, "sleep 2").then_some(())
    });
    std::fs::remove_dir_all(env.data().join("workspaces").join(&id)).unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(env.show(&id)["state"], "failed");
    let why = reason(&env, &id);
    assert!(why.contains("was removed from outside drover"), "{why}");
}
