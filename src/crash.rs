//! Crash-point injection for durability tests: `DROVER_CRASH_AT=<point>` makes the
//! process abort (no cleanup, no destructors: like `kill -9`) when it reaches the named
//! point. Points: `after_db_enqueue`, `after_container_start`, `after_tool_result_persist`,
//! `after_commit`, `after_push`, `after_pr_post`. `tui_panic` panics instead, once the TUI
//! has drawn (the terminal must come back sane).
//!
//! Unset (always, outside tests) it costs one cached lookup per point.

use std::sync::OnceLock;

fn armed() -> Option<&'static str> {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    AT.get_or_init(|| {
        std::env::var("DROVER_CRASH_AT")
            .ok()
            .filter(|s| !s.is_empty())
    })
    .as_deref()
}

/// Aborts the process here if `DROVER_CRASH_AT` names this point.
pub fn point(name: &str) {
    if armed() == Some(name) {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "drover: DROVER_CRASH_AT={name}: aborting"
        );
        std::process::abort();
    }
}

/// Panics here if `DROVER_CRASH_AT` names this point: what a bug would do.
pub fn panic_point(name: &str) {
    if armed() == Some(name) {
        panic!("DROVER_CRASH_AT={name}: a deliberate panic");
    }
}
