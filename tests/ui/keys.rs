//! Keys → effects: each context of the keymap does what it says, through `App::update`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use drover::config::OnQuit;
use drover::protocol::TaskState;
use drover::protocol::{Command, EventBody};
use drover::ui::app::{App, Effect, Focus, Msg, Overlay, Pane};

use crate::fixtures::*;

pub fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

pub fn two_tasks() -> App {
    let mut a = app();
    add(
        &mut a,
        "k3j9x2ab1c",
        "Fix add()",
        TaskState::Review,
        reviewed(true),
    );
    add(
        &mut a,
        "m2n4p6q8r0",
        "Add median()",
        TaskState::Running,
        started(10),
    );
    a
}

pub fn send(cmd: Command) -> Vec<Effect> {
    vec![Effect::Send(cmd)]
}

#[test]
fn list_keys_send_commands_for_the_selected_task() {
    let mut a = two_tasks();
    let k = id("k3j9x2ab1c");
    assert_eq!(
        press(&mut a, KeyCode::Char('a')),
        send(Command::Approve {
            id: k.clone(),
            force: false,
            branch: None,
            keep_others: false,
        })
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('p')),
        send(Command::Push { id: k.clone() })
    );
    // Cancel and retry from scratch lose work: they ask first (bug 16).
    assert_eq!(press(&mut a, KeyCode::Char('x')), vec![]);
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.text == "cannot cancel a task in review"),
        "{:?}",
        a.status
    );
    assert_eq!(press(&mut a, KeyCode::Char('R')), vec![]);
    let Some(Overlay::Confirm(c)) = a.overlay() else {
        panic!("R asks first")
    };
    assert!(c.text.contains("workspace is discarded"), "{}", c.text);
    assert_eq!(
        press(&mut a, KeyCode::Char('y')),
        send(Command::Retry {
            id: k.clone(),
            feedback: None
        })
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('s')),
        vec![Effect::Shell {
            container: "0e5312461064aaaaaaaaaaaaaaaa".into(),
            stop_after: true,
            workspace: a.selected_task().unwrap().attempt.workspace.clone(),
        }]
    );
    a.quit_policy = Some(OnQuit::Stop);
    assert_eq!(press(&mut a, KeyCode::Char('q')), vec![Effect::Quit]);
}

#[test]
fn quitting_with_running_tasks_asks_once_what_to_do_with_them() {
    let mut a = two_tasks();
    assert!(press(&mut a, KeyCode::Char('q')).is_empty());
    assert!(matches!(
        a.overlay(),
        Some(Overlay::QuitPolicy { running: 1 })
    ));
    assert!(
        press(&mut a, KeyCode::Char('z')).is_empty(),
        "other keys wait"
    );
    assert!(a.overlay().is_some());
    assert!(press(&mut a, KeyCode::Esc).is_empty(), "esc: don't quit");
    assert!(a.overlay().is_none());
    press(&mut a, KeyCode::Char('q'));
    assert_eq!(
        press(&mut a, KeyCode::Char('k')),
        vec![Effect::RememberQuitPolicy(OnQuit::Keep), Effect::Quit]
    );
    assert_eq!(a.quit_policy, Some(OnQuit::Keep));
    assert_eq!(
        press(&mut a, KeyCode::Char('q')),
        vec![Effect::Quit],
        "asked once: the answer stands"
    );

    let mut b = two_tasks();
    press(&mut b, KeyCode::Char('q'));
    assert_eq!(
        press(&mut b, KeyCode::Char('s')),
        vec![Effect::RememberQuitPolicy(OnQuit::Stop), Effect::Quit]
    );
    let mut idle = app();
    assert_eq!(
        press(&mut idle, KeyCode::Char('q')),
        vec![Effect::Quit],
        "nothing running: nothing to ask"
    );
}

#[test]
fn c_resumes_an_interrupted_task_and_says_why_not_otherwise() {
    let mut a = app();
    add(
        &mut a,
        "k3j9x2ab1c",
        "Fix add()",
        TaskState::Interrupted {
            reason: "drover stopped".into(),
            cause: drover::protocol::Cause::Other,
        },
        started(10),
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('c')),
        send(Command::Resume {
            id: id("k3j9x2ab1c")
        })
    );
    // The engine decides whether a task can resume; the UI says its answer.
    let mut b = two_tasks();
    let sent = press(&mut b, KeyCode::Char('c'));
    let [Effect::Send(cmd)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    let state = b.selected_task().unwrap().task.state.clone();
    let refused =
        drover::protocol::state::next(&state, drover::protocol::Transition::Resume).unwrap_err();
    b.update(Msg::Reply(
        cmd.clone(),
        Err(drover::protocol::CommandError::Illegal(refused)),
    ));
    let status = b.status.clone().unwrap();
    assert!(status.error);
    assert!(
        status.text.contains("only an interrupted task can resume"),
        "{}",
        status.text
    );
}

#[test]
fn selection_moves_and_loads_history_once() {
    let mut a = two_tasks();
    assert_eq!(a.selected, Some(id("k3j9x2ab1c")));
    // The running task was started before this UI: its history is asked for once.
    assert_eq!(
        press(&mut a, KeyCode::Char('j')),
        send(Command::Load {
            id: id("m2n4p6q8r0"),
            attempt: None,
        })
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('j')),
        vec![],
        "stays on the last task"
    );
    press(&mut a, KeyCode::Char('k'));
    assert_eq!(press(&mut a, KeyCode::Char('G')), vec![], "already loaded");
    assert_eq!(a.selected, Some(id("m2n4p6q8r0")));
    press(&mut a, KeyCode::Char('g'));
    assert_eq!(a.selected, Some(id("k3j9x2ab1c")));
}

#[test]
fn discard_needs_confirmation() {
    let mut a = two_tasks();
    assert_eq!(press(&mut a, KeyCode::Char('D')), vec![]);
    assert!(matches!(a.overlay(), Some(Overlay::Confirm(_))));
    assert_eq!(
        press(&mut a, KeyCode::Char('z')),
        vec![],
        "other keys keep asking"
    );
    assert_eq!(press(&mut a, KeyCode::Esc), vec![], "esc says no");
    assert!(a.overlay().is_none());
    press(&mut a, KeyCode::Char('D'));
    assert_eq!(
        press(&mut a, KeyCode::Char('y')),
        send(Command::Discard {
            id: id("k3j9x2ab1c")
        })
    );
}

#[test]
fn retry_with_feedback_goes_through_the_editor() {
    let mut a = two_tasks();
    press(&mut a, KeyCode::Char('r'));
    assert!(matches!(a.overlay(), Some(Overlay::Editor(_))));
    assert_eq!(ctrl(&mut a, 's'), vec![], "empty feedback is refused");
    typed(&mut a, "handle empty lists");
    assert_eq!(
        ctrl(&mut a, 's'),
        send(Command::Retry {
            id: id("k3j9x2ab1c"),
            feedback: Some("handle empty lists".into())
        })
    );
    // Open until the engine answers.
    assert!(matches!(a.overlay(), Some(Overlay::Editor(_))));
    a.update(Msg::Reply(
        Command::Retry {
            id: id("k3j9x2ab1c"),
            feedback: Some("handle empty lists".into()),
        },
        Ok(drover::protocol::Reply::Queued {
            id: id("k3j9x2ab1c"),
            others: vec![],
        }),
    ));
    assert!(a.overlay().is_none());
    // A running task cannot be retried: the editor does not open.
    press(&mut a, KeyCode::Char('j'));
    press(&mut a, KeyCode::Char('r'));
    assert!(a.overlay().is_none());
    assert_eq!(
        a.status.as_ref().map(|s| s.text.as_str()),
        Some("cannot retry a running task")
    );
}

#[test]
fn new_task_editor_queues_a_scripted_task() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("steps.toml");
    std::fs::write(&script, "[[step]]\nsay = \"hi\"\n").unwrap();
    let mut a = two_tasks();
    press(&mut a, KeyCode::Char('n'));
    typed(&mut a, "Add CSV export");
    press(&mut a, KeyCode::Enter); // to the prompt
    typed(&mut a, "Orders as CSV.");
    press(&mut a, KeyCode::Tab); // to the script
    a.update(Msg::Paste(script.display().to_string()));
    let fx = ctrl(&mut a, 's');
    let [Effect::Send(Command::Queue { task })] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(task.title, "Add CSV export");
    assert_eq!(task.prompt, "Orders as CSV.");
    assert_eq!(task.repo, a.header.repo);
}

#[test]
fn i_imports_an_issue_with_notes() {
    let mut a = two_tasks();
    press(&mut a, KeyCode::Char('i'));
    let fx = ctrl(&mut a, 's');
    assert!(fx.is_empty(), "no reference, nothing sent: {fx:?}");
    typed(&mut a, "#12");
    press(&mut a, KeyCode::Enter); // to the notes
    typed(&mut a, "Keep it small.");
    let fx = ctrl(&mut a, 's');
    assert_eq!(
        fx,
        send(Command::Import {
            repo: a.header.repo.clone(),
            reference: "#12".into(),
            notes: Some("Keep it small.".into()),
            agent: drover::protocol::AgentSpec::Builtin { provider: None },
        })
    );
    let sent = match fx.into_iter().next() {
        Some(Effect::Send(c)) => c,
        _ => unreachable!(),
    };
    // Bug 18: refused (GitHub unreachable, say), the dialog stays with what was typed.
    typed(&mut a, "ignored while waiting");
    a.update(Msg::Reply(
        sent.clone(),
        Err(drover::protocol::CommandError::failed(
            "GitHub: connection refused",
        )),
    ));
    let Some(Overlay::Editor(e)) = a.overlay() else {
        panic!("the dialog stays")
    };
    assert_eq!(e.title_text(), "#12");
    assert_eq!(e.prompt_text(), "Keep it small.");
    assert_eq!(e.error.as_deref(), Some("GitHub: connection refused"));
    // Sent again, and imported: closed, and the new task selected.
    assert_eq!(ctrl(&mut a, 's'), send(sent.clone()));
    a.update(Msg::Reply(
        sent,
        Ok(drover::protocol::Reply::Imported {
            id: id("m2n4p6q8r0"),
            reference: "#12".into(),
            title: "t".into(),
            removed: String::new(),
        }),
    ));
    assert!(a.overlay().is_none());
    assert_eq!(a.selected, Some(id("m2n4p6q8r0")));
}

#[test]
fn editor_escape_asks_before_losing_text() {
    let mut a = two_tasks();
    press(&mut a, KeyCode::Char('n'));
    typed(&mut a, "half a thought");
    press(&mut a, KeyCode::Esc);
    assert!(a.overlay().is_some(), "the first esc warns");
    press(&mut a, KeyCode::Esc);
    assert!(a.overlay().is_none(), "the second esc discards");
    press(&mut a, KeyCode::Char('n'));
    press(&mut a, KeyCode::Esc);
    assert!(a.overlay().is_none(), "an empty editor closes at once");
}

#[test]
fn panes_focus_and_scrolling() {
    let mut a = two_tasks();
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.pane, Pane::Diff);
    press(&mut a, KeyCode::Char('4'));
    assert_eq!(a.pane, Pane::Info);
    press(&mut a, KeyCode::BackTab);
    assert_eq!(a.pane, Pane::Tests);
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.focus, Focus::Pane);
    // In a pane, j scrolls instead of moving the selection; task keys still work.
    press(&mut a, KeyCode::Char('j'));
    assert_eq!(a.selected, Some(id("k3j9x2ab1c")));
    assert_eq!(
        press(&mut a, KeyCode::Char('a')),
        send(Command::Approve {
            id: id("k3j9x2ab1c"),
            force: false,
            branch: None,
            keep_others: false,
        })
    );
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.focus, Focus::List);
}

#[test]
fn filter_narrows_the_list_and_keeps_a_visible_selection() {
    let mut a = two_tasks();
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "median");
    assert_eq!(a.visible().len(), 1);
    assert_eq!(a.selected, Some(id("m2n4p6q8r0")));
    press(&mut a, KeyCode::Enter);
    assert!(matches!(a.mode, drover::ui::app::Mode::Browse));
    assert_eq!(a.visible().len(), 1, "enter keeps the filter");
    press(&mut a, KeyCode::Char('/'));
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.visible().len(), 2, "esc clears it");
}

#[test]
fn review_notifies_and_errors_reach_the_status_line() {
    let mut a = two_tasks();
    let fx = a.update(Msg::Engine(ev(
        Some("m2n4p6q8r0"),
        1,
        EventBody::StateChanged {
            from: TaskState::Verifying,
            to: TaskState::Review,
        },
    )));
    assert_eq!(fx, vec![Effect::Notify("Add median() needs review".into())]);
    a.update(Msg::Engine(ev(
        None,
        0,
        EventBody::Error {
            message: "no task matches `zz`".into(),
        },
    )));
    assert_eq!(
        a.status.as_ref().map(|s| (s.text.as_str(), s.error)),
        Some(("no task matches `zz`", true))
    );
}

#[test]
fn mouse_click_selects_and_wheel_scrolls() {
    let mut a = two_tasks();
    screen(&mut a, 120, 20); // lays the screen out
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 5,
        row: 3,
        modifiers: KeyModifiers::NONE,
    };
    let fx = a.update(Msg::Mouse(click));
    assert_eq!(a.selected, Some(id("m2n4p6q8r0")));
    assert_eq!(
        fx,
        send(Command::Load {
            id: id("m2n4p6q8r0"),
            attempt: None,
        })
    );
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: 5,
        row: 5,
        modifiers: KeyModifiers::NONE,
    };
    a.update(Msg::Mouse(wheel));
    assert_eq!(a.selected, Some(id("k3j9x2ab1c")));
}

#[test]
fn a_new_attempt_starts_a_fresh_view() {
    let mut a = two_tasks();
    transcript(&mut a, "k3j9x2ab1c");
    assert!(!a.selected_task().unwrap().entries.is_empty());
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        2,
        EventBody::StateChanged {
            from: TaskState::Review,
            to: TaskState::Queued,
        },
    )));
    let t = a.selected_task().unwrap();
    assert!(t.entries.is_empty() && t.attempt.diff.is_none() && t.attempt.tests.is_none());
    assert_eq!(t.task.attempt, 2);
}

/// The engine judges the tests; when it refuses for them, the UI asks before forcing.
#[test]
fn approving_failing_tests_asks_first() {
    let mut a = app();
    add(
        &mut a,
        "a1b2c3d4e5",
        "Make slugify() fold accents",
        TaskState::Review,
        reviewed(false),
    );
    let plain = Command::Approve {
        id: id("a1b2c3d4e5"),
        force: false,
        branch: None,
        keep_others: false,
    };
    assert_eq!(press(&mut a, KeyCode::Char('a')), send(plain.clone()));
    assert!(
        a.overlay().is_none(),
        "nothing asked before the engine answers"
    );
    a.update(Msg::Reply(
        plain,
        Err(drover::protocol::CommandError::TestsNotPassed {
            id: id("a1b2c3d4e5"),
            verdict: Some(drover::protocol::Verdict::Failed),
            why: "the tests failed".into(),
        }),
    ));
    let Some(Overlay::Confirm(c)) = &a.overlay() else {
        panic!("a confirmation")
    };
    assert!(
        c.text.starts_with("The tests failed. Approve anyway?"),
        "{}",
        c.text
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('y')),
        send(Command::Approve {
            id: id("a1b2c3d4e5"),
            force: true,
            branch: None,
            keep_others: false,
        })
    );
}

#[test]
fn o_opens_and_y_copies_the_pull_request() {
    let mut a = app();
    let mut attempt = reviewed(true);
    attempt.pr_url = Some("https://github.com/ana/shop/pull/7".into());
    attempt.pr_number = Some(7);
    add(
        &mut a,
        "f1b2c3d4e5",
        "Fix the login redirect",
        TaskState::Pushed,
        attempt,
    );
    add(
        &mut a,
        "k3j9x2ab1c",
        "Fix add()",
        TaskState::Review,
        reviewed(true),
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('o')),
        vec![Effect::Open("https://github.com/ana/shop/pull/7".into())]
    );
    assert_eq!(
        press(&mut a, KeyCode::Char('y')),
        vec![Effect::Copy("https://github.com/ana/shop/pull/7".into())]
    );
    press(&mut a, KeyCode::Char('j'));
    assert_eq!(press(&mut a, KeyCode::Char('o')), vec![]);
    assert_eq!(
        a.status.as_ref().map(|s| s.text.as_str()),
        Some("no pull request yet: approve (a), then push (p)")
    );
}

/// A search with no match says so (the frame that looked is followed by one that says).
#[test]
fn a_search_without_a_match_says_so_and_keeps_the_place() {
    let mut a = two_tasks();
    transcript(&mut a, "k3j9x2ab1c");
    screen(&mut a, 120, 20);
    press(&mut a, KeyCode::Enter);
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "zebra");
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.seek, Some(0), "the next frame looks");
    screen(&mut a, 120, 20);
    assert_eq!(a.seek, None);
    let status = a.status.clone().unwrap();
    assert!(
        status.error && status.text.contains("no match for \"zebra\""),
        "{status:?}"
    );
    // A match scrolls to its line.
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "AssertionError");
    press(&mut a, KeyCode::Enter);
    screen(&mut a, 120, 8);
    assert!(a.scroll > 0, "scrolled to the match");
    assert!(screen(&mut a, 120, 8).contains("AssertionError"));
}

/// The transcript's lines are built as entries come, and come out the same as lines
/// built at once, through a new attempt and entries let go.
#[test]
fn the_transcript_built_entry_by_entry_matches_one_built_at_once() {
    use drover::ui::render::{Cache, Layout, draw};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let frame = |a: &App, cache: &mut Cache| {
        let mut t = Terminal::new(TestBackend::new(100, 40)).unwrap();
        let mut layout = Layout::default();
        t.draw(|f| layout = draw(a, cache, f)).unwrap();
        (t.backend().to_string(), layout.pane_len)
    };
    let mut a = two_tasks();
    press(&mut a, KeyCode::Enter);
    let mut kept = Cache::default();
    for round in 0..3 {
        transcript(&mut a, "k3j9x2ab1c");
        assert_eq!(
            frame(&a, &mut kept),
            frame(&a, &mut Cache::default()),
            "round {round}"
        );
    }
    a.selected_task()
        .map(|t| t.entries.len())
        .filter(|n| *n > 20)
        .unwrap();
    // Older entries let go, and a new attempt: what was built is not reused.
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        2,
        EventBody::StateChanged {
            from: TaskState::Review,
            to: TaskState::Queued,
        },
    )));
    assert_eq!(frame(&a, &mut kept), frame(&a, &mut Cache::default()));
    transcript(&mut a, "k3j9x2ab1c");
    assert_eq!(frame(&a, &mut kept), frame(&a, &mut Cache::default()));
}

/// A patch longer than what came is asked for, page by page, as the reader scrolls to
/// where it ends; a page that continues it joins it.
#[test]
fn the_rest_of_a_long_patch_is_asked_for_as_it_is_read() {
    use drover::protocol::{LongText, Page, Reply};
    let mut a = two_tasks();
    let patch: String = (0..2_000_000 / 40)
        .map(|i| format!("+line {i:>30} of the patch\n"))
        .collect();
    let first = Page::of(&patch, 0);
    assert!(first.rest() > 0);
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::DiffUpdated {
            diff: diff_summary(),
            patch: first.clone(),
        },
    )));
    press(&mut a, KeyCode::Char('2'));
    press(&mut a, KeyCode::Enter);
    screen(&mut a, 120, 40);
    assert!(
        press(&mut a, KeyCode::PageDown).is_empty(),
        "far from the end"
    );
    let asked = press(&mut a, KeyCode::Char('G'));
    let shown = screen(&mut a, 120, 40);
    assert!(
        shown.contains("more of the patch: loading as you scroll"),
        "{shown}"
    );
    let mut asked = asked;
    let mut pages = 1;
    loop {
        let from = a.selected_task().unwrap().patch.len() as u64;
        assert_eq!(
            asked,
            [Effect::Send(Command::Page {
                id: id("k3j9x2ab1c"),
                text: LongText::Patch,
                from,
                attempt: None,
            })]
        );
        assert!(press(&mut a, KeyCode::PageDown).is_empty(), "asked once");
        let Effect::Send(cmd) = asked[0].clone() else {
            unreachable!()
        };
        a.update(Msg::Reply(
            cmd,
            Ok(Reply::Page {
                id: id("k3j9x2ab1c"),
                text: LongText::Patch,
                page: Page::of(&patch, from as usize),
            }),
        ));
        pages += 1;
        if a.selected_task().unwrap().patch_rest() == 0 {
            break;
        }
        screen(&mut a, 120, 40);
        asked = press(&mut a, KeyCode::Char('G'));
    }
    assert_eq!(pages, 3, "2.5 MB in pages of 1 MiB");
    let t = a.selected_task().unwrap();
    assert_eq!(t.patch, patch);
    assert!(
        press(&mut a, KeyCode::Char('G')).is_empty(),
        "nothing more to ask"
    );
    assert!(!screen(&mut a, 120, 40).contains("more of the patch"));
}

/// Views rebuilt from a new snapshot (the daemon restarted) never meet what was drawn
/// from the old ones, even with as many entries of other text.
#[test]
fn a_new_snapshot_does_not_reuse_lines_built_from_the_old_views() {
    use drover::protocol::{EntryKind, TaskSnapshot};
    use drover::ui::render::{Cache, Layout, draw};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let frame = |a: &App, cache: &mut Cache| {
        let mut t = Terminal::new(TestBackend::new(100, 40)).unwrap();
        let mut layout = Layout::default();
        t.draw(|f| layout = draw(a, cache, f)).unwrap();
        t.backend().to_string()
    };
    let mut a = two_tasks();
    press(&mut a, KeyCode::Enter);
    transcript(&mut a, "k3j9x2ab1c");
    let mut kept = Cache::default();
    let before = frame(&a, &mut kept);
    assert!(
        before.contains("Running the test suite"),
        "positive control"
    );
    let n = a.selected_task().unwrap().entries.len();
    a.update(Msg::Snapshot(vec![TaskSnapshot {
        task: record("k3j9x2ab1c", "Fix add()", TaskState::Review),
        attempt: reviewed(true),
    }]));
    for i in 0..n {
        a.update(Msg::Engine(ev(
            Some("k3j9x2ab1c"),
            1,
            entry(EntryKind::Info {
                text: format!("after the restart {i}"),
            }),
        )));
    }
    let after = frame(&a, &mut kept);
    assert_eq!(after, frame(&a, &mut Cache::default()));
    assert!(!after.contains("Running the test suite"), "{after}");
}
