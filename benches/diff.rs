//! A 50,000-line diff in the Diff pane: parse + the first frame, then one scroll step
//! (a key, a frame), through the real `App` and renderer on a 200×50 TestBackend.
//!
//! Run: `cargo bench --bench diff`. Prints a table of medians and spreads. Not a test.

// Test and benchmark code: helpers are shared between modules and may unwrap.
#![allow(unreachable_pub, clippy::unwrap_used)]

mod common;

use std::time::Instant;

use common::{Screen, app, ev, percentile};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use drover::protocol::EventBody;
use drover::protocol::{DiffSummary, FileStat};
use drover::ui::app::{App, Msg};

const FILES: usize = 250;
/// Lines per file's hunk: 250 files × (200 + headers) ≈ 50k lines.
const HUNK: usize = 196;

fn patch(round: usize) -> (DiffSummary, String) {
    let mut out = String::new();
    let mut files = Vec::new();
    for f in 0..FILES {
        let path = format!("src/module_{f}/handler.rs");
        out.push_str(&format!(
            "diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n+++ b/{path}\n@@ -1,{h} +1,{h} @@ fn handler_{round}()\n",
            h = HUNK / 2
        ));
        for l in 0..HUNK / 2 {
            out.push_str(&format!("-    let value_{l} = compute({l}, \"old\");\n"));
            out.push_str(&format!(
                "+    let value_{l} = compute({l}, \"new\").context(\"value {l}\")?;\n"
            ));
        }
        files.push(FileStat {
            path,
            old_path: None,
            status: "modified".into(),
            insertions: (HUNK / 2) as u64,
            deletions: (HUNK / 2) as u64,
            binary: false,
            old_size: 0,
            new_size: 0,
        });
    }
    let summary = DiffSummary {
        insertions: (FILES * HUNK / 2) as u64,
        deletions: (FILES * HUNK / 2) as u64,
        files,
        ..Default::default()
    };
    (summary, out)
}

fn key(app: &mut App, c: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

fn main() {
    let mut app = app(1);
    let mut term = Screen::new(200, 50);
    key(&mut app, KeyCode::Char('2'));
    let mut first = Vec::new();
    let mut lines = 0;
    for round in 0..9 {
        let (diff, patch) = patch(round);
        lines = patch.lines().count();
        let patch = drover::protocol::Page::of(&patch, 0);
        app.update(Msg::Engine(ev(0, EventBody::DiffUpdated { diff, patch })));
        let t = Instant::now();
        term.draw(&mut app);
        first.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    key(&mut app, KeyCode::Enter);
    let mut step = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        key(&mut app, KeyCode::Char('j'));
        term.draw(&mut app);
        step.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut page = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        key(&mut app, KeyCode::PageDown);
        term.draw(&mut app);
        page.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!("| figure | median (min – max) or p50 / p99 |\n|---|---|");
    println!("| diff size | {lines} lines, {FILES} files |");
    println!(
        "| parse + first frame | {:.1} ms ({:.1} – {:.1}, n={}) |",
        percentile(&mut first, 0.5),
        percentile(&mut first, 0.0),
        percentile(&mut first, 1.0),
        first.len()
    );
    println!(
        "| one scroll step (j + frame) p50 / p99 | {:.2} / {:.2} ms |",
        percentile(&mut step, 0.5),
        percentile(&mut step, 0.99)
    );
    println!(
        "| one page (pgdn + frame) p50 / p99 | {:.2} / {:.2} ms |",
        percentile(&mut page, 0.5),
        percentile(&mut page, 0.99)
    );
}
