//! The layering ARCHITECTURE.md promises, checked on the source: which top-level module
//! may use which. A `crate::x` path in code (not in a comment, not in a module's unit
//! tests) is a use of `x`.
//!
//! - no cycle between top-level modules;
//! - `protocol` uses nothing else of drover, and `transport` only `protocol`;
//! - the engine never reaches a front end (`ui`, `cli`, `client`) or its host;
//! - the TUI reaches the engine only through `client` (never `engine`, `host`, `cli`);
//! - only `ui` touches the terminal (`ratatui`, `crossterm`).

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The source of a file without its comments and without its `mod tests`.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level module → the modules its code names, and the external crates it names.
fn graph() -> (Graph, Graph) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut uses = Graph::new();
    let mut crates = Graph::new();
    for f in all {
        let rel = f.strip_prefix(&src).expect("under src");
        let top = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .expect("name")
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let code = code(&std::fs::read_to_string(&f).expect("read"));
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != top {
                uses.entry(top.clone()).or_default().insert(name);
            }
        }
        for krate in ["ratatui", "crossterm"] {
            if code.contains(&format!("{krate}::")) {
                crates
                    .entry(top.clone())
                    .or_default()
                    .insert(krate.to_string());
            }
        }
        uses.entry(top).or_default();
    }
    (uses, crates)
}

fn reaches(g: &Graph, from: &str, to: &str) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(m) = todo.pop() {
        for next in g.get(&m).into_iter().flatten() {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    false
}

#[test]
fn no_cycle_between_top_level_modules() {
    let (g, _) = graph();
    let mut cycles = Vec::new();
    for (a, used) in &g {
        for b in used {
            if reaches(&g, b, a) {
                cycles.push(format!("{a} → {b} → … → {a}"));
            }
        }
    }
    assert!(cycles.is_empty(), "{cycles:#?}");
}

#[test]
fn each_layer_uses_only_what_it_may() {
    let (g, crates) = graph();
    let uses = |m: &str| g.get(m).cloned().unwrap_or_default();
    assert!(
        g.contains_key("protocol") && g.contains_key("engine"),
        "{g:?}"
    );
    assert!(
        uses("protocol").is_empty(),
        "protocol uses {:?}",
        uses("protocol")
    );
    let transport: Vec<String> = uses("transport")
        .into_iter()
        .filter(|m| m != "protocol")
        .collect();
    assert!(transport.is_empty(), "transport uses {transport:?}");
    for (module, never) in [
        ("engine", &["ui", "cli", "client", "host", "transport"][..]),
        ("workspace", &["engine", "ui", "cli", "client", "host"][..]),
        ("host", &["ui", "cli", "client"][..]),
        ("ui", &["engine", "host", "cli"][..]),
        ("client", &["ui", "cli"][..]),
        ("store", &["engine", "ui", "cli", "client", "host"][..]),
        // The proxy knows no tasks, containers or front ends.
        (
            "egress",
            &[
                "engine",
                "ui",
                "cli",
                "client",
                "host",
                "runtime",
                "workspace",
            ][..],
        ),
    ] {
        let used = uses(module);
        let bad: Vec<&&str> = never.iter().filter(|m| used.contains(**m)).collect();
        assert!(bad.is_empty(), "{module} uses {bad:?}");
    }
    let terminal: Vec<&String> = crates.keys().filter(|m| *m != "ui").collect();
    assert!(
        terminal.is_empty(),
        "only ui touches the terminal, not {terminal:?}"
    );
}
