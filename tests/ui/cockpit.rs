//! The review cockpit's keys: the bugs a new user found (each by number) and the review
//! features — search in every pane, zoom and split, attempts and their comparison, diff
//! comments that become feedback, managing many tasks, long lines.

use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use drover::protocol::TaskState;
use drover::protocol::{Command, EventBody};
use drover::ui::app::{App, Effect, Msg, Overlay, Pane};

use crate::fixtures::*;
use crate::keys::{ctrl, send, two_tasks};

/// Bug 16: while the editor asks whether to discard, keys typed do not land in the
/// form; `n` goes back to editing with the text intact.
#[test]
fn bug16_keys_typed_while_asking_to_discard_do_not_land_in_the_form() {
    let mut a = two_tasks();
    press(&mut a, KeyCode::Char('n'));
    typed(&mut a, "half");
    press(&mut a, KeyCode::Esc);
    typed(&mut a, "zzz");
    press(&mut a, KeyCode::Char('n'));
    let Some(Overlay::Editor(e)) = a.overlay() else {
        panic!("still editing")
    };
    assert_eq!(e.title_text(), "half", "nothing typed while asking landed");
    assert!(!e.confirm_discard);
    press(&mut a, KeyCode::Esc);
    press(&mut a, KeyCode::Char('y'));
    assert!(a.overlay().is_none(), "y discards");
}

/// Bug 1: discarding the selected task selects its neighbour, so keys act on a task
/// the list shows.
#[test]
fn bug01_discarding_the_selected_task_moves_keys_and_panes_to_the_next() {
    let mut a = two_tasks();
    assert_eq!(a.selected, Some(id("k3j9x2ab1c")));
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::StateChanged {
            from: TaskState::Review,
            to: TaskState::Discarded,
        },
    )));
    assert_eq!(a.selected, Some(id("m2n4p6q8r0")));
    assert_eq!(
        press(&mut a, KeyCode::Char('a')),
        send(Command::Approve {
            id: id("m2n4p6q8r0"),
            force: false,
            branch: None,
            keep_others: false,
        })
    );
    // The last one gone: nothing is selected, and keys say so.
    a.update(Msg::Engine(ev(
        Some("m2n4p6q8r0"),
        1,
        EventBody::StateChanged {
            from: TaskState::Review,
            to: TaskState::Discarded,
        },
    )));
    assert_eq!(a.selected, None);
}

/// Bug 15: ctrl-u clears the filter and ctrl-w deletes its last word, as in a shell.
#[test]
fn bug15_ctrl_u_and_ctrl_w_edit_the_filter() {
    let mut a = two_tasks();
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "add med");
    ctrl(&mut a, 'w');
    assert_eq!(a.filter, "add ");
    ctrl(&mut a, 'u');
    assert_eq!(a.filter, "");
    typed(&mut a, "x");
    assert_eq!(a.filter, "x", "no letters from the control keys");
}

/// Bug 13: `o` on a pushed task whose pull request failed says so, not "approve".
#[test]
fn bug13_open_pr_says_why_there_is_none() {
    let mut a = app();
    add(
        &mut a,
        "a1b2c3d4e5",
        "Pushed",
        TaskState::Pushed,
        reviewed(true),
    );
    press(&mut a, KeyCode::Char('o'));
    let s = a.status.clone().unwrap().text;
    assert!(s.contains("pushed but no pull request was opened"), "{s}");
    let mut a = app();
    add(
        &mut a,
        "a1b2c3d4e5",
        "Review",
        TaskState::Review,
        reviewed(true),
    );
    press(&mut a, KeyCode::Char('o'));
    let s = a.status.clone().unwrap().text;
    assert_eq!(s, "no pull request yet: approve (a), then push (p)");
}

/// Bug 19: the list keeps the order tasks were added in, however the daemon's queue
/// order moved them (a retry goes to the back of the queue).
#[test]
fn bug19_the_list_keeps_the_order_tasks_were_added_in() {
    use drover::protocol::TaskSnapshot;
    let mut a = app();
    let at = |tid: &str, title: &str, created: &str| {
        let mut task = record(tid, title, TaskState::Review);
        task.created_at = created.into();
        TaskSnapshot {
            task,
            attempt: reviewed(true),
        }
    };
    // Queue order: the first task was retried, so it comes last.
    a.update(Msg::Snapshot(vec![
        at("m2n4p6q8r0", "second", "2026-03-01T10:00:05Z"),
        at("b1b2c3d4e5", "third", "2026-03-01T10:00:05.5Z"),
        at("k3j9x2ab1c", "first", "2026-03-01T10:00:00.25Z"),
    ]));
    let titles: Vec<&str> = a.visible().iter().map(|t| t.task.title.as_str()).collect();
    assert_eq!(titles, ["first", "second", "third"]);
}

/// Bug 4: `/` searches what the Diff and Tests panes show; in the transcript it finds
/// text inside an output shown cut (and shows it whole); `n`/`N` go to the next and
/// previous match, with a counter.
#[test]
fn bug04_search_finds_what_each_pane_shows() {
    let mut a = two_tasks();
    transcript(&mut a, "k3j9x2ab1c");
    let patch = "diff --git a/calc.py b/calc.py\nindex 1..2 100644\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n";
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::DiffUpdated {
            diff: diff_summary(),
            patch: drover::protocol::Page::of(patch, 0),
        },
    )));
    let output: String = (0..200).map(|i| format!("test line {i}\n")).collect();
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::TestOutput { chunk: output },
    )));
    let search = |a: &mut App, q: &str| {
        press(a, KeyCode::Char('/'));
        typed(a, q);
        press(a, KeyCode::Enter);
        screen(a, 120, 30)
    };
    press(&mut a, KeyCode::Char('2'));
    press(&mut a, KeyCode::Enter);
    let s = search(&mut a, "return a + b");
    assert!(
        a.status.as_ref().is_some_and(|s| !s.error),
        "{:?}",
        a.status
    );
    assert!(s.contains("return a + b"), "{s}");
    // Tests: a line far down the output comes into view.
    press(&mut a, KeyCode::Char('3'));
    let s = search(&mut a, "test line 150");
    assert!(s.contains("test line 150"), "{s}");
    assert_eq!(
        a.status.clone().unwrap().text,
        "\"test line 150\": match 1 of 1"
    );
    // n and N move between matches, counting (from the top).
    press(&mut a, KeyCode::Char('g'));
    let _ = search(&mut a, "line 1");
    let first = a.status.clone().unwrap().text;
    assert!(first.ends_with("match 1 of 111"), "{first}");
    press(&mut a, KeyCode::Char('n'));
    screen(&mut a, 120, 30);
    assert!(a.status.clone().unwrap().text.ends_with("match 2 of 111"));
    press(&mut a, KeyCode::Char('N'));
    screen(&mut a, 120, 30);
    assert!(a.status.clone().unwrap().text.ends_with("match 1 of 111"));
    press(&mut a, KeyCode::Char('N'));
    screen(&mut a, 120, 30);
    assert!(
        a.status.clone().unwrap().text.ends_with("match 111 of 111"),
        "wraps"
    );
    // Transcript: text in the cut middle of a long output.
    press(&mut a, KeyCode::Char('1'));
    assert!(!a.selected_task().unwrap().expand_all);
    let s = search(&mut a, "ok line 20");
    assert!(a.selected_task().unwrap().expand_all, "shown whole");
    let s = if s.contains("ok line 20") {
        s
    } else {
        screen(&mut a, 120, 30)
    };
    assert!(s.contains("ok line 20"), "{s}");
}

/// Zoom gives the focused pane the whole screen; < and > resize the split.
#[test]
fn zoom_and_resize_the_split() {
    let mut a = two_tasks();
    transcript(&mut a, "k3j9x2ab1c");
    press(&mut a, KeyCode::Enter);
    press(&mut a, KeyCode::Char('z'));
    let s = screen(&mut a, 120, 20);
    assert!(!s.contains("Tasks (2)"), "the list gives way:\n{s}");
    insta::assert_snapshot!(s);
    press(&mut a, KeyCode::Char('z'));
    let before = screen(&mut a, 120, 20);
    press(&mut a, KeyCode::Char('>'));
    press(&mut a, KeyCode::Char('>'));
    let after = screen(&mut a, 120, 20);
    let list_w = |s: &str| s.lines().nth(1).unwrap().find('┐').unwrap();
    assert!(list_w(&after) > list_w(&before), "{before}\n{after}");
}

/// `[` and `]` move the panes between a task's attempts: an earlier one's transcript,
/// diff and tests come from its stored history; `]` at the newest is the live one.
#[test]
fn attempts_switch_with_brackets() {
    use drover::protocol::{AttemptRecord, EntryKind, History, Page};
    let mut a = app();
    let mut second = reviewed(true);
    second.n = 2;
    add(&mut a, "k3j9x2ab1c", "Fix add()", TaskState::Review, second);
    a.tasks[0].task.attempt = 2;
    let fx = press(&mut a, KeyCode::Char('['));
    let load = Command::Load {
        id: id("k3j9x2ab1c"),
        attempt: Some(1),
    };
    assert_eq!(fx, send(load.clone()));
    let first = History {
        attempt: AttemptRecord {
            n: 1,
            ..reviewed(false)
        },
        entries: vec![drover::protocol::Entry {
            at: T0.into(),
            kind: EntryKind::Assistant {
                text: "the first try went this way".into(),
            },
        }],
        earlier: 0,
        test_output: "FAILED (failures=1)\n".into(),
        patch: Page::of(
            "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-a\n+first try\n",
            0,
        ),
        warnings: Vec::new(),
    };
    a.update(Msg::Reply(
        load,
        Ok(drover::protocol::Reply::History {
            id: id("k3j9x2ab1c"),
            history: Box::new(first),
        }),
    ));
    let s = screen(&mut a, 130, 16);
    assert!(s.contains("attempt 1 of 2, an earlier one"), "{s}");
    assert!(s.contains("the first try went this way"), "{s}");
    insta::assert_snapshot!("an_earlier_attempt", s);
    press(&mut a, KeyCode::Char('3'));
    assert!(screen(&mut a, 130, 16).contains("FAILED (failures=1)"));
    // The current attempt again.
    assert!(press(&mut a, KeyCode::Char(']')).is_empty());
    let s = screen(&mut a, 130, 16);
    assert!(
        s.contains("attempt 2 of 2") && !s.contains("FAILED (failures=1)"),
        "{s}"
    );
    // Past the first: it stays at the first.
    press(&mut a, KeyCode::Char('['));
    assert!(press(&mut a, KeyCode::Char('[')).is_empty() || a.past.is_some());
}

/// Diff review: the cursor moves over the patch, `)`/`}` jump to the next file and
/// hunk, `c` comments on a line, and `r` opens the feedback editor with the comments
/// (file:line, the hunk, the line); once sent they are done.
#[test]
fn diff_comments_become_feedback() {
    let mut a = two_tasks();
    let patch = "diff --git a/calc.py b/calc.py\nindex 1..2 100644\n--- a/calc.py\n+++ b/calc.py\n@@ -10,3 +10,4 @@ def add(a, b):\n     x = 1\n-    return a - b\n+    return a + b\n+    # fixed\ndiff --git a/README b/README\n@@ -1 +1 @@\n-old\n+new\n";
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::DiffUpdated {
            diff: diff_summary(),
            patch: drover::protocol::Page::of(patch, 0),
        },
    )));
    press(&mut a, KeyCode::Char('2'));
    press(&mut a, KeyCode::Enter);
    screen(&mut a, 120, 30);
    press(&mut a, KeyCode::Char(')'));
    assert_eq!(a.diff_cursor, 9, "the next file");
    press(&mut a, KeyCode::Char('('));
    press(&mut a, KeyCode::Char('('));
    assert_eq!(a.diff_cursor, 0);
    press(&mut a, KeyCode::Char('}'));
    assert_eq!(a.diff_cursor, 4, "the first hunk");
    press(&mut a, KeyCode::Char('c'));
    assert!(
        a.status.as_ref().is_some_and(|s| s.error),
        "a hunk header is no place"
    );
    press(&mut a, KeyCode::Char('j'));
    press(&mut a, KeyCode::Char('j'));
    press(&mut a, KeyCode::Char('j'));
    press(&mut a, KeyCode::Char('c'));
    let Some(Overlay::Editor(_)) = a.overlay() else {
        panic!("the comment editor")
    };
    typed(&mut a, "also handle floats");
    assert_eq!(ctrl(&mut a, 's'), vec![]);
    assert!(a.overlay().is_none());
    assert_eq!(a.comments.len(), 1);
    let s = screen(&mut a, 120, 30);
    assert!(s.contains("● +    return a + b"), "marked:\n{s}");
    insta::assert_snapshot!(s);
    // r: the feedback editor holds the comment.
    press(&mut a, KeyCode::Esc);
    press(&mut a, KeyCode::Char('r'));
    let Some(Overlay::Editor(e)) = a.overlay() else {
        panic!("the feedback editor")
    };
    let want =
        "calc.py:11 (in @@ -10,3 +10,4 @@ def add(a, b):)\n> +    return a + b\nalso handle floats";
    assert_eq!(e.prompt_text(), want);
    let fx = ctrl(&mut a, 's');
    let sent = Command::Retry {
        id: id("k3j9x2ab1c"),
        feedback: Some(want.into()),
    };
    assert_eq!(fx, send(sent.clone()));
    a.update(Msg::Reply(
        sent,
        Ok(drover::protocol::Reply::Retrying {
            id: id("k3j9x2ab1c"),
            attempt: 2,
            with_feedback: true,
        }),
    ));
    assert!(a.comments.is_empty(), "sent, so done");
}

/// Small things: a click on a pane's tab shows it; the editor starts with the agent the
/// last task was queued with.
#[test]
fn tab_clicks_and_the_remembered_agent() {
    let mut a = two_tasks();
    screen(&mut a, 120, 20);
    let pane = a.layout.pane;
    // " 1 Transcript " then " 2 Diff ": the Diff tab starts after the first and a gap.
    let x = pane.x + 2 + " 1 Transcript ".len() as u16 + 1 + 2;
    a.update(Msg::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: x,
        row: pane.y,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(a.pane, Pane::Diff);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("steps.toml");
    std::fs::write(&script, "[[step]]\nsay = \"hi\"\n").unwrap();
    press(&mut a, KeyCode::Char('n'));
    typed(&mut a, "First");
    press(&mut a, KeyCode::Tab);
    press(&mut a, KeyCode::Tab);
    a.update(Msg::Paste(script.display().to_string()));
    assert_eq!(ctrl(&mut a, 's').len(), 1);
    a.mode = drover::ui::app::Mode::Browse;
    press(&mut a, KeyCode::Char('n'));
    let Some(Overlay::Editor(e)) = a.overlay() else {
        panic!("the editor")
    };
    assert_eq!(e.script_text(), script.display().to_string());
}

/// Task management: marking several and acting on them together, sorting, a filter by
/// state, editing a queued task, duplicating one.
#[test]
fn manage_many_tasks() {
    use drover::protocol::AttemptRecord;
    let mut a = app();
    add(
        &mut a,
        "k3j9x2ab1c",
        "First review",
        TaskState::Review,
        reviewed(true),
    );
    add(
        &mut a,
        "m2n4p6q8r0",
        "Running one",
        TaskState::Running,
        started(10),
    );
    add(
        &mut a,
        "a1b2c3d4e5",
        "Second review",
        TaskState::Review,
        reviewed(false),
    );
    add(
        &mut a,
        "b1b2c3d4e5",
        "Waiting",
        TaskState::Queued,
        AttemptRecord::default(),
    );
    // Mark the first three (space moves on); approve goes to the two in review only.
    for _ in 0..3 {
        press(&mut a, KeyCode::Char(' '));
    }
    assert_eq!(a.marked.len(), 3);
    let fx = press(&mut a, KeyCode::Char('a'));
    let approved: Vec<String> = fx
        .iter()
        .map(|f| match f {
            Effect::Send(Command::Approve { id, .. }) => id.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(approved, ["k3j9x2ab1c", "a1b2c3d4e5"]);
    assert!(
        a.status
            .clone()
            .unwrap()
            .text
            .contains("1 left out: m2n4p6q8r0")
    );
    // Discard asks once for all, then sends one per task.
    press(&mut a, KeyCode::Char('k'));
    press(&mut a, KeyCode::Char(' '));
    assert_eq!(a.marked.len(), 2);
    assert!(press(&mut a, KeyCode::Char('D')).is_empty());
    let Some(Overlay::Confirm(c)) = a.overlay() else {
        panic!("asked")
    };
    assert!(
        c.text.starts_with("Discard 1 marked task(s)?")
            && c.text.ends_with("(1 left out: m2n4p6q8r0)"),
        "{}",
        c.text
    );
    let fx = press(&mut a, KeyCode::Char('y'));
    assert!(
        fx.iter()
            .all(|f| matches!(f, Effect::Send(Command::Discard { .. }))),
        "{fx:?}"
    );
    // Sorted by state: review first; filtered to what is queued.
    press(&mut a, KeyCode::Char('S'));
    let order: Vec<&str> = a.visible().iter().map(|t| t.task.title.as_str()).collect();
    assert_eq!(
        order,
        ["First review", "Second review", "Running one", "Waiting"]
    );
    for _ in 0..4 {
        press(&mut a, KeyCode::Char('F'));
    }
    let shown: Vec<&str> = a.visible().iter().map(|t| t.task.title.as_str()).collect();
    assert_eq!(shown, ["Waiting"]);
    insta::assert_snapshot!("filtered_sorted_marked", screen(&mut a, 120, 8));
    assert_eq!(a.selected, Some(id("b1b2c3d4e5")));
    // Edit the queued task: its fields come filled in; saving sends Edit.
    press(&mut a, KeyCode::Char('e'));
    let Some(Overlay::Editor(e)) = a.overlay() else {
        panic!("the editor")
    };
    assert_eq!(e.title_text(), "Waiting");
    typed(&mut a, " longer");
    let fx = ctrl(&mut a, 's');
    let [
        Effect::Send(Command::Edit {
            id: eid,
            title,
            agent,
            ..
        }),
    ] = fx.as_slice()
    else {
        panic!("{fx:?}")
    };
    assert_eq!(
        (eid.as_str(), title.as_str()),
        ("b1b2c3d4e5", "Waiting longer")
    );
    assert!(
        matches!(agent, drover::protocol::AgentSpec::Scripted { .. }),
        "kept"
    );
    a.mode = drover::ui::app::Mode::Browse;
    // Duplicate: a new task's editor with its title and prompt.
    press(&mut a, KeyCode::Char('d'));
    let Some(Overlay::Editor(e)) = a.overlay() else {
        panic!("the editor")
    };
    assert_eq!(e.title_text(), "Waiting");
    assert!(matches!(e.kind, drover::ui::editor::EditorKind::NewTask));
}

/// Long lines: `l`/`h` scroll the panes sideways; `w` wraps the Tests pane's lines.
#[test]
fn long_lines_scroll_sideways_or_wrap() {
    let mut a = two_tasks();
    let long = format!("{}END-OF-LINE\n", "x".repeat(150));
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::TestOutput { chunk: long },
    )));
    press(&mut a, KeyCode::Char('3'));
    press(&mut a, KeyCode::Enter);
    assert!(
        !screen(&mut a, 120, 20).contains("END-OF-LINE"),
        "cut at the edge"
    );
    for _ in 0..12 {
        press(&mut a, KeyCode::Char('l'));
    }
    assert!(
        screen(&mut a, 120, 20).contains("END-OF-LINE"),
        "scrolled to it"
    );
    for _ in 0..12 {
        press(&mut a, KeyCode::Char('h'));
    }
    assert_eq!(a.hscroll, 0);
    press(&mut a, KeyCode::Char('w'));
    assert!(screen(&mut a, 120, 20).contains("END-OF-LINE"), "wrapped");
}

/// `=` diffs the attempt shown (or the one before the latest) against the latest.
#[test]
fn equals_compares_attempts() {
    use drover::protocol::{Page, Reply};
    let mut a = app();
    let mut second = reviewed(true);
    second.n = 2;
    add(&mut a, "k3j9x2ab1c", "Fix add()", TaskState::Review, second);
    a.tasks[0].task.attempt = 2;
    let fx = press(&mut a, KeyCode::Char('='));
    let cmp = Command::Compare {
        id: id("k3j9x2ab1c"),
        from: 1,
        to: 2,
        with: None,
    };
    assert_eq!(fx, send(cmp.clone()));
    let patch = "diff --git a/runs.txt b/runs.txt\n--- a/runs.txt\n+++ b/runs.txt\n@@ -1 +1,2 @@\n run\n+run again\n";
    a.update(Msg::Reply(
        cmp,
        Ok(Reply::Page {
            id: id("k3j9x2ab1c"),
            text: drover::protocol::LongText::Patch,
            page: Page::of(patch, 0),
        }),
    ));
    assert_eq!(a.pane, Pane::Diff);
    let s = screen(&mut a, 130, 14);
    assert!(
        s.contains("attempt 1 → 2: what the later one did differently"),
        "{s}"
    );
    assert!(s.contains("+run again"), "{s}");
    insta::assert_snapshot!("two_attempts_compared", s);
    press(&mut a, KeyCode::Char('='));
    assert!(a.compare.is_none(), "= again: the attempt's own diff");
}
