//! Reading big diffs and long lines: files folded to their first line in the Diff pane
//! (`e` one, `E` all; the cursor, jumps and search know what is folded), and `w`
//! wrapping long lines in the Transcript and Diff panes as it does in Tests.

use crossterm::event::KeyCode;
use drover::protocol::{EntryKind, EventBody, Page};
use drover::ui::app::{App, Msg};

use crate::fixtures::*;
use crate::keys::two_tasks;

const PATCH: &str = "diff --git a/calc.py b/calc.py\nindex 1..2 100644\n--- a/calc.py\n+++ b/calc.py\n@@ -10,3 +10,4 @@ def add(a, b):\n     x = 1\n-    return a - b\n+    return a + b\n+    # fixed\ndiff --git a/README b/README\n@@ -1 +1 @@\n-old\n+new\n";

/// The first task in review with `patch`, its Diff pane focused.
fn diff_of(patch: &str) -> App {
    let mut a = two_tasks();
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::DiffUpdated {
            diff: diff_summary(),
            patch: Page::of(patch, 0),
        },
    )));
    press(&mut a, KeyCode::Char('2'));
    press(&mut a, KeyCode::Enter);
    a
}

#[test]
fn diff_files_fold_to_their_first_line() {
    let mut a = diff_of(PATCH);
    screen(&mut a, 120, 30);
    // On calc.py's second line: `e` folds calc.py, the cursor goes to its first line.
    for _ in 0..6 {
        press(&mut a, KeyCode::Char('j'));
    }
    press(&mut a, KeyCode::Char('e'));
    assert_eq!(a.diff_cursor, 0);
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("▸ folded: 8 lines (e unfolds)"), "{s}");
    assert!(!s.contains("return a + b"), "hidden:\n{s}");
    assert!(s.contains("+new"), "README shows:\n{s}");
    insta::assert_snapshot!(s);
    // Moving and jumping pass over what is folded.
    press(&mut a, KeyCode::Char('j'));
    assert_eq!(a.diff_cursor, 9, "the next line shown is README's first");
    press(&mut a, KeyCode::Char('g'));
    press(&mut a, KeyCode::Char('}'));
    assert_eq!(a.diff_cursor, 10, "calc.py's hunk is folded away: README's");
    // The fold stays as the patch changes (the agent is still at work).
    let longer = format!("{PATCH}diff --git a/NEWS b/NEWS\n@@ -0,0 +1 @@\n+fixed add\n");
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::DiffUpdated {
            diff: diff_summary(),
            patch: Page::of(&longer, 0),
        },
    )));
    let s = screen(&mut a, 120, 30);
    assert!(
        s.contains("▸ folded: 8 lines") && s.contains("+fixed add"),
        "{s}"
    );
    // `E` folds every file, then unfolds them all.
    press(&mut a, KeyCode::Char('E'));
    let s = screen(&mut a, 120, 30);
    assert!(!s.contains("+new") && !s.contains("+fixed add"), "{s}");
    assert_eq!(s.matches("▸ folded:").count(), 3, "{s}");
    press(&mut a, KeyCode::Char('E'));
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("return a + b") && s.contains("+new"), "{s}");
    // `e` on a folded file's line unfolds it.
    press(&mut a, KeyCode::Char('E'));
    press(&mut a, KeyCode::Char('g'));
    press(&mut a, KeyCode::Char('e'));
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("return a + b") && !s.contains("+new"), "{s}");
}

/// A search finds what a folded file holds: the file unfolds and the match shows.
#[test]
fn search_unfolds_the_file_it_finds_in() {
    let mut a = diff_of(PATCH);
    screen(&mut a, 120, 30);
    press(&mut a, KeyCode::Char('E'));
    screen(&mut a, 120, 30);
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "# fixed");
    press(&mut a, KeyCode::Enter);
    screen(&mut a, 120, 30);
    // The loop draws again when a search unfolded something; so does the test.
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("+    # fixed"), "{s}");
    assert!(!s.contains("+new"), "README stays folded:\n{s}");
    assert!(
        a.status
            .as_ref()
            .is_some_and(|st| st.text.contains("match 1 of 1")),
        "{:?}",
        a.status
    );
}

#[test]
fn transcript_and_diff_wrap_long_lines() {
    // Transcript: a command's long output line.
    let mut a = two_tasks();
    let long = format!("{}END-OF-OUTPUT", "y".repeat(150));
    for body in [
        entry(EntryKind::ToolCall {
            call: 1,
            tool: drover::protocol::ToolCall::Bash {
                command: "make".into(),
                timeout_secs: None,
            },
        }),
        entry(EntryKind::ToolResult {
            call: 1,
            ok: true,
            exit_code: Some(0),
            output: long,
            truncated: 0,
            duration_ms: 10,
            timed_out: false,
        }),
    ] {
        a.update(Msg::Engine(ev(Some("k3j9x2ab1c"), 1, body)));
    }
    press(&mut a, KeyCode::Char('1'));
    press(&mut a, KeyCode::Enter);
    assert!(!screen(&mut a, 120, 20).contains("END-OF-OUTPUT"), "cut");
    press(&mut a, KeyCode::Char('w'));
    assert!(screen(&mut a, 120, 20).contains("END-OF-OUTPUT"), "wrapped");

    // Diff: a long added line, and the cursor on the last line stays in sight when
    // every line above it takes two rows.
    let body: String = (0..30)
        .map(|i| format!("+{}{i:02}-TAIL\n", "z".repeat(100)))
        .collect();
    let patch = format!("diff --git a/wide.txt b/wide.txt\n@@ -0,0 +1,30 @@\n{body}");
    let mut a = diff_of(&patch);
    a.wrap = true;
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("00-TAIL"), "wrapped:\n{s}");
    press(&mut a, KeyCode::Char('G'));
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("29-TAIL"), "the last line shows:\n{s}");
    assert!(!s.contains("00-TAIL"), "scrolled to it:\n{s}");
    insta::assert_snapshot!(s);
    // The scroll stops where the last lines fill the pane.
    for _ in 0..5 {
        press(&mut a, KeyCode::PageDown);
    }
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("29-TAIL"), "{s}");
}
