//! Host trust boundary, secrets (HTB-08, HTB-09): the push scan reads whole blobs,
//! binaries included, and every path; no stored output keeps a part of a secret cut at
//! the head/tail boundary; a secret in a title or prompt is redacted before it is stored.
//! Tokens are assembled at run time (in the container, or here), so no source text holds
//! one.

use std::process::Command;

use crate::common::*;

/// A token of GitHub's shape, made here (never written out in this file).
fn token() -> String {
    format!("gh{}_{}", "p", "Z9".repeat(18))
}

/// The shell expression that prints `token()` inside the container.
const TOKEN_IN_SHELL: &str = "gh$(echo p)_$(printf 'Z9%.0s' $(seq 18))";

fn blocked_push(env: &Env, title: &str, step: &str) -> String {
    let id = env.add(
        title,
        &format!("[[step]]\nrun = \"echo control-$((6*7)); {step}; ls\"\n"),
    );
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(logs.contains("control-42"), "{logs}");
    assert!(env.drover(&["approve", "--force", &id]).status.success());
    let out = env.drover(&["push", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(!err.contains(&token()), "the value is never shown: {err}");
    assert!(
        env.show(&id)["state"]
            .as_str()
            .unwrap()
            .starts_with("blocked")
    );
    err
}

#[test]
fn htb_08_the_push_scan_reads_binaries_and_file_names() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let origin = bare_origin(&env);
    let err = blocked_push(
        &env,
        "Binary secret",
        &format!("printf '\\\\000\\\\001%s\\\\000\\\\377' {TOKEN_IN_SHELL} > data.bin"),
    );
    assert!(
        err.contains("secret detected in data.bin (binary, near byte 2) (github-token"),
        "{err}"
    );
    let err = blocked_push(
        &env,
        "Secret name",
        &format!("touch key-{TOKEN_IN_SHELL}.txt"),
    );
    assert!(
        err.contains("secret detected in the file name key-[REDACTED:github-token].txt"),
        "{err}"
    );
    // Nothing reached the remote.
    let heads = Command::new("git")
        .args(["for-each-ref", "refs/heads"])
        .current_dir(origin.path().join("origin.git"))
        .output()
        .unwrap();
    assert_eq!(text(&heads.stdout).lines().count(), 1, "only main");
}

#[test]
fn htb_09_a_secret_across_the_cut_of_a_long_output_is_not_kept_in_parts() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    // The token straddles the 16 KiB head a stored output keeps, then a long tail.
    let script = format!(
        "[[step]]\nrun = \"echo control-$((6*7)); head -c 16370 /dev/zero | tr '\\\\0' a; printf '%s ' {TOKEN_IN_SHELL}; head -c 200000 /dev/zero | tr '\\\\0' b; echo; echo {TOKEN_IN_SHELL}-end\"\n"
    );
    let id = env.add("Print a secret", &script);
    env.drover(&["run"]);
    let transcript = env.transcript(&id, 1);
    assert!(transcript.contains("control-42"), "{transcript}");
    assert!(
        transcript.contains("[REDACTED:github-token]"),
        "redacted whole"
    );
    assert!(!transcript.contains("Z9Z9"), "no part of it is kept");
    let logs = text(&env.drover(&["logs", &id]).stdout);
    assert!(!logs.contains("Z9Z9"), "{logs}");
}

#[test]
fn htb_09_titles_prompts_and_scripts_are_redacted_before_they_are_stored() {
    let env = Env::python_bug();
    let t = token();
    let script = env.home.path().join("s.toml");
    std::fs::write(&script, format!("[[step]]\nrun = \"echo {t}\"\n")).unwrap();
    let out = env.drover(&[
        "add",
        "--script",
        script.to_str().unwrap(),
        "--title",
        &format!("deploy with {t}"),
        &format!("use {t} to deploy"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let id = text(&out.stdout).trim().to_string();
    let shown = env.show(&id);
    assert_eq!(shown["title"], "deploy with [REDACTED:github-token]");
    assert!(
        shown["prompt"]
            .as_str()
            .unwrap()
            .contains("[REDACTED:github-token]")
    );
    let db = std::fs::read(env.data().join("drover.db")).unwrap();
    let wal = std::fs::read(env.data().join("drover.db-wal")).unwrap_or_default();
    let stored = String::from_utf8_lossy(&[db, wal].concat()).into_owned();
    // Positive control: the record is in the file read.
    assert!(stored.contains("[REDACTED:github-token]"));
    assert!(!stored.contains("Z9Z9"), "no part of the token is stored");
}
