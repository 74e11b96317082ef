//! Keys → effects: each context of the keymap does what it says, through `App::update`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use drover::config::OnQuit;
use drover::protocol::TaskState;
use drover::protocol::{Command, EventBody};
use drover::ui::app::{App, Effect, Focus, Msg, Overlay, Pane};

use crate::fixtures::*;

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn two_tasks() -> App {
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

fn send(cmd: Command) -> Vec<Effect> {
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
