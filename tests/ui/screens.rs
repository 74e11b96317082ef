//! Every screen and state of the TUI as an insta snapshot (ratatui TestBackend).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use drover::protocol::AttemptRecord;
use drover::protocol::EntryKind;
use drover::protocol::EventBody;
use drover::protocol::TaskState;
use drover::ui::app::{App, Msg};
use insta::assert_snapshot;

use crate::fixtures::*;

/// One task of every state, the first one (review) selected.
fn every_state() -> App {
    let mut a = app();
    add(
        &mut a,
        "k3j9x2ab1c",
        "Fix add() so the test suite passes",
        TaskState::Review,
        reviewed(true),
    );
    add(
        &mut a,
        "m2n4p6q8r0",
        "Add median() to calc.py, with tests",
        TaskState::Running,
        started(95),
    );
    add(
        &mut a,
        "a1b2c3d4e5",
        "Make slugify() fold accents",
        TaskState::Failed {
            reason: "edit_file failed: not found".into(),
        },
        reviewed(false),
    );
    add(
        &mut a,
        "b1b2c3d4e5",
        "Document the HTTP API",
        TaskState::Queued,
        AttemptRecord::default(),
    );
    add(
        &mut a,
        "c1b2c3d4e5",
        "Upgrade the parser",
        TaskState::Provisioning,
        started(2),
    );
    add(
        &mut a,
        "d1b2c3d4e5",
        "Speed up the importer",
        TaskState::Verifying,
        started(61),
    );
    add(
        &mut a,
        "e1b2c3d4e5",
        "Rename Order.total",
        TaskState::Approved,
        reviewed(true),
    );
    add(
        &mut a,
        "f1b2c3d4e5",
        "Fix the login redirect",
        TaskState::Pushed,
        reviewed(true),
    );
    add(
        &mut a,
        "g1b2c3d4e5",
        "Try a new cache",
        TaskState::Cancelled,
        AttemptRecord::default(),
    );
    add(
        &mut a,
        "h1b2c3d4e5",
        "Migrate the settings page",
        TaskState::Interrupted {
            reason: "drover quit while the task was running".into(),
            cause: drover::protocol::Cause::Other,
        },
        started(30),
    );
    add(
        &mut a,
        "j1b2c3d4e5",
        "Bump the lockfile",
        TaskState::Blocked {
            reason: "remote moved: drover/j1b2c3d4e5-bump is at 1111111 on the remote, expected 2222222; nothing was pushed".into(),
        },
        reviewed(true),
    );
    transcript(&mut a, "k3j9x2ab1c");
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::DiffUpdated {
            diff: diff_summary(),
            patch: drover::protocol::Page::of(PATCH, 0),
        },
    )));
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::TestStarted {
            command: "python3 -m unittest discover -v".into(),
        },
    )));
    let out = "test_add (tests.test_calc.TestCalc.test_add) ... \x1b[32mok\x1b[0m\ntest_mean (tests.test_calc.TestCalc.test_mean) ... ok\n\n----------------------------------------------------------------------\nRan 6 tests in 0.016s\n\nOK\n";
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::TestOutput { chunk: out.into() },
    )));
    a
}

#[test]
fn empty_state() {
    assert_snapshot!(screen(&mut app(), 100, 16));
}

#[test]
fn list_with_every_state_and_transcript() {
    assert_snapshot!(screen(&mut every_state(), 140, 36));
}

#[test]
fn transcript_with_setup_and_agent_sections() {
    let mut a = every_state();
    for kind in [
        EntryKind::Section {
            title: "setup".into(),
        },
        EntryKind::Info {
            text: "setup: 1 command(s) in a container of their own (network bridge, setup_env PIP_INDEX_URL); no snapshot yet for key 3f1c0a9e77d2b4a61c05 (requirements.txt)".into(),
        },
        EntryKind::Info {
            text: "$ .venv/bin/pip install -r requirements.txt".into(),
        },
        EntryKind::Output {
            text: "Looking in indexes: [REDACTED:env:PIP_INDEX_URL]\nSuccessfully installed requests-2.32.3\n".into(),
        },
        EntryKind::Info {
            text: "exit 0 in 4.2s".into(),
        },
        EntryKind::Section {
            title: "agent".into(),
        },
        EntryKind::Assistant {
            text: "The dependencies are there; running the tests.".into(),
        },
    ] {
        a.update(Msg::Engine(ev(Some("k3j9x2ab1c"), 1, entry(kind))));
    }
    assert_snapshot!(screen(&mut a, 120, 30));
}

#[test]
fn transcript_expanded() {
    let mut a = every_state();
    press(&mut a, KeyCode::Enter);
    press(&mut a, KeyCode::Char('e'));
    press(&mut a, KeyCode::Char('g'));
    assert_snapshot!(screen(&mut a, 120, 30));
}

#[test]
fn diff_pane() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('2'));
    assert_snapshot!(screen(&mut a, 120, 34));
}

#[test]
fn tests_pane() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('3'));
    assert_snapshot!(screen(&mut a, 120, 20));
}

#[test]
fn info_pane() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('4'));
    assert_snapshot!(screen(&mut a, 120, 30));
}

#[test]
fn running_task_streams_live_output() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('j'));
    use drover::protocol::ToolCall;
    a.update(Msg::Engine(ev(
        Some("m2n4p6q8r0"),
        1,
        entry(EntryKind::ToolCall {
            call: 1,
            tool: ToolCall::Bash {
                command: "cargo build".into(),
                timeout_secs: None,
            },
        }),
    )));
    a.update(Msg::Engine(ev(
        Some("m2n4p6q8r0"),
        1,
        EventBody::ToolOutput {
            call: 1,
            chunk: "   Compiling serde v1.0\n   Compiling drover v0.1.0\n".into(),
        },
    )));
    assert_snapshot!(screen(&mut a, 110, 16));
}

#[test]
fn help_overlay() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('?'));
    assert_snapshot!(screen(&mut a, 120, 36));
}

#[test]
fn new_task_editor() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('n'));
    typed(&mut a, "Add a CSV export");
    press(&mut a, KeyCode::Tab);
    typed(&mut a, "Export orders as CSV from the admin page.");
    assert_snapshot!(screen(&mut a, 110, 28));
}

#[test]
fn import_issue_editor() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('i'));
    typed(&mut a, "ana/shop#12");
    assert_snapshot!(screen(&mut a, 110, 24));
}

#[test]
fn imported_task_names_its_issue_and_what_was_hidden() {
    let mut a = app();
    let mut task = record("g1b2c3d4e5", "Cart total is wrong", TaskState::Review);
    task.prompt =
        "GitHub issue ana/shop#12: Cart total is wrong\nLabels: bug\n\nadd() subtracts.\n".into();
    task.origin = Some(drover::protocol::IssueOrigin {
        reference: drover::protocol::IssueRef {
            owner: "ana".into(),
            repo: "shop".into(),
            number: 12,
        },
        url: "https://github.com/ana/shop/issues/12".into(),
        removed: drover::protocol::Removed {
            comments: 1,
            invisible: 2,
        },
    });
    let body = EventBody::TaskAdded {
        task: Box::new(task),
        attempt: Box::new(reviewed(true)),
    };
    a.update(Msg::Engine(ev(Some("g1b2c3d4e5"), 1, body)));
    press(&mut a, KeyCode::Char('4'));
    assert_snapshot!(screen(&mut a, 120, 34));
}

#[test]
fn editor_refuses_an_empty_title() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('n'));
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('s'),
        KeyModifiers::CONTROL,
    )));
    assert_snapshot!(screen(&mut a, 110, 28));
}

#[test]
fn feedback_editor() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('r'));
    typed(&mut a, "The empty list case should raise ValueError.");
    assert_snapshot!(screen(&mut a, 110, 24));
}

#[test]
fn discard_confirmation() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('D'));
    assert_snapshot!(screen(&mut a, 110, 20));
}

#[test]
fn quit_asks_what_to_do_with_running_tasks() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('q'));
    assert_snapshot!(screen(&mut a, 110, 20));
}

#[test]
fn filter_active() {
    let mut a = every_state();
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "fix");
    assert_snapshot!(screen(&mut a, 120, 14));
}

#[test]
fn search_in_transcript() {
    let mut a = every_state();
    screen(&mut a, 120, 30);
    press(&mut a, KeyCode::Enter);
    press(&mut a, KeyCode::Char('/'));
    typed(&mut a, "assertion");
    press(&mut a, KeyCode::Enter);
    assert_snapshot!(screen(&mut a, 120, 30));
}

#[test]
fn keymap_reload_error_keeps_the_old_keymap() {
    let mut a = every_state();
    let err = "/home/ana/.config/drover/keymap.toml:3:1: unknown action `aprove` in [list] (did you mean `approve`?)";
    a.update(Msg::Keymap(Err(err.into())));
    assert_snapshot!(screen(&mut a, 140, 12));
}

#[test]
fn docker_unavailable() {
    let mut a = every_state();
    a.update(Msg::Engine(ev(
        None,
        0,
        EventBody::Docker {
            version: None,
            error: Some("cannot connect".into()),
        },
    )));
    assert_snapshot!(screen(&mut a, 120, 8));
}

#[test]
fn notice_from_the_engine() {
    let mut a = every_state();
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::Notice {
            message: "approve and push are not available in this build yet".into(),
        },
    )));
    assert_snapshot!(screen(&mut a, 120, 8));
}

#[test]
fn narrow_terminal_shows_one_column() {
    let mut a = every_state();
    assert_snapshot!("narrow_list", screen(&mut a, 60, 16));
    press(&mut a, KeyCode::Enter);
    assert_snapshot!("narrow_pane", screen(&mut a, 60, 16));
}

#[test]
fn out_06_tiny_and_huge_terminals_do_not_panic() {
    let mut a = every_state();
    assert_snapshot!("tiny", screen(&mut a, 20, 5));
    for (w, h) in [(1, 1), (5, 2), (20, 3), (300, 100), (400, 10)] {
        screen(&mut a, w, h);
    }
}

#[test]
fn pushed_task_with_its_pull_request() {
    let mut a = app();
    let mut attempt = reviewed(true);
    attempt.approved_commit = Some("e226d7639794aaaabbbbccccddddeeeeffff0000".into());
    attempt.pr_number = Some(7);
    attempt.pr_url = Some("https://github.com/ana/shop/pull/7".into());
    add(
        &mut a,
        "f1b2c3d4e5",
        "Fix the login redirect",
        TaskState::Pushed,
        attempt,
    );
    press(&mut a, KeyCode::Char('4'));
    assert_snapshot!(screen(&mut a, 120, 34));
}

#[test]
fn blocked_task_shows_why() {
    let mut a = every_state();
    for _ in 0..10 {
        press(&mut a, KeyCode::Char('j'));
    }
    press(&mut a, KeyCode::Char('4'));
    assert_snapshot!(screen(&mut a, 130, 16));
}

#[test]
fn conflicting_tasks_wear_a_badge_and_name_each_other() {
    use drover::protocol::Overlap;
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
        "Rewrite add()",
        TaskState::Approved,
        reviewed(true),
    );
    add(
        &mut a,
        "p1b2c3d4e5",
        "Document calc",
        TaskState::Review,
        reviewed(true),
    );
    let overlap = |id: &str, title: &str, conflicts: &[&str]| Overlap {
        id: id.into(),
        title: title.into(),
        files: vec!["calc.py".into()],
        omitted_files: 0,
        conflicts: conflicts.iter().map(|c| c.to_string()).collect(),
        error: None,
    };
    let overlaps = |list: Vec<Overlap>| EventBody::Overlaps { overlaps: list };
    for (tid, list) in [
        (
            "k3j9x2ab1c",
            vec![
                overlap("m2n4p6q8r0", "Rewrite add()", &["calc.py"]),
                overlap("p1b2c3d4e5", "Document calc", &[]),
            ],
        ),
        (
            "m2n4p6q8r0",
            vec![overlap("k3j9x2ab1c", "Fix add()", &["calc.py"])],
        ),
        ("p1b2c3d4e5", vec![overlap("k3j9x2ab1c", "Fix add()", &[])]),
    ] {
        a.update(Msg::Engine(ev(Some(tid), 0, overlaps(list))));
    }
    press(&mut a, KeyCode::Char('4'));
    assert_snapshot!(screen(&mut a, 130, 34));
}

/// `drover --all`, attached to the daemon: its snapshot holds tasks of two repositories,
/// each row names its repository, and the header says every repository is shown.
#[test]
fn all_repositories_from_a_daemon_snapshot() {
    use drover::protocol::TaskSnapshot;
    let mut a = app();
    a.header.all = true;
    let mut other = record("z9y8x7w6v5", "Bump the HTTP client", TaskState::Running);
    other.repo = "/home/ana/src/payments-service".into();
    let tasks = vec![
        TaskSnapshot {
            task: record(
                "k3j9x2ab1c",
                "Fix add() so the test suite passes",
                TaskState::Review,
            ),
            attempt: reviewed(true),
        },
        TaskSnapshot {
            task: other,
            attempt: started(40),
        },
    ];
    let fx = a.update(Msg::Snapshot(tasks));
    assert_eq!(
        fx,
        vec![drover::ui::app::Effect::Send(
            drover::protocol::Command::Load {
                id: id("k3j9x2ab1c"),
                attempt: None,
            }
        )],
        "the first task is selected and its history asked for"
    );
    assert_snapshot!(screen(&mut a, 160, 8));

    // A later snapshot (the daemon restarted) replaces the list, keeping the selection.
    press(&mut a, KeyCode::Char('j'));
    let again = vec![TaskSnapshot {
        task: {
            let mut t = record("z9y8x7w6v5", "Bump the HTTP client", TaskState::Review);
            t.repo = "/home/ana/src/payments-service".into();
            t
        },
        attempt: reviewed(true),
    }];
    a.update(Msg::Snapshot(again));
    assert_eq!(a.tasks.len(), 1);
    assert_eq!(a.selected, Some(id("z9y8x7w6v5")));
    // From outside a repository, a new task goes to the selected task's.
    a.header.repo = Default::default();
    assert_eq!(
        a.new_task_repo(),
        Some(std::path::PathBuf::from("/home/ana/src/payments-service"))
    );
}

/// A repository with a one-letter name still gets its column.
#[test]
fn all_repositories_name_short_repositories_too() {
    use drover::protocol::TaskSnapshot;
    let mut a = app();
    a.header.all = true;
    let mut t = record("k3j9x2ab1c", "Tidy up", TaskState::Review);
    t.repo = "/src/r".into();
    a.update(Msg::Snapshot(vec![TaskSnapshot {
        task: t,
        attempt: reviewed(true),
    }]));
    let s = screen(&mut a, 160, 5);
    assert!(s.contains("│◆ r Tidy up"), "{s}");
}

/// NET-06 in the TUI: a task behind the egress proxy whose requests were refused wears
/// the count in its row, and Info says what was blocked.
#[test]
fn blocked_requests_show_in_the_row_and_info() {
    let mut a = app();
    add(
        &mut a,
        "k3j9x2ab1c",
        "Fetch the pricing feed",
        TaskState::Review,
        AttemptRecord {
            network: Some("allowlist".into()),
            blocked_count: 3,
            blocked: vec![
                "CONNECT evil.example:443 (not on the allowlist)".into(),
                "GET 169.254.169.254:80 (169.254.169.254 is a private, loopback or host address)"
                    .into(),
            ],
            ..reviewed(true)
        },
    );
    press(&mut a, KeyCode::Char('4'));
    assert_snapshot!(screen(&mut a, 120, 24));
}

/// Bug 9: wide characters (CJK, emoji) in a title keep the row's columns where they
/// are: the state symbol, the clock, the diff stat and the verdict all show.
#[test]
fn bug09_wide_titles_keep_the_columns() {
    let mut a = app();
    add(
        &mut a,
        "k3j9x2ab1c",
        "修复登录页面的错误并添加测试用例以覆盖边界情况",
        TaskState::Review,
        reviewed(true),
    );
    add(
        &mut a,
        "m2n4p6q8r0",
        "🚀 Ship the 🎉 release notes with ✅ checks and 🔥 fixes",
        TaskState::Review,
        reviewed(false),
    );
    let s = screen(&mut a, 160, 6);
    for line in s.lines().skip(2).take(2) {
        assert!(
            line.contains("+31−1 ✓") || line.contains("+31−1 ✗"),
            "columns in place: {line}"
        );
    }
    assert_snapshot!(s);
}

/// Bug 10: a command cut off by a crash has no duration on record: the transcript says
/// nothing rather than 0.0s; one cancelled after running says how long it ran.
#[test]
fn bug10_a_cut_command_shows_no_made_up_duration() {
    let mut a = app();
    add(
        &mut a,
        "k3j9x2ab1c",
        "Cut",
        TaskState::Review,
        reviewed(true),
    );
    use drover::protocol::ToolCall;
    let bash = |c: &str| ToolCall::Bash {
        command: c.into(),
        timeout_secs: None,
    };
    for b in [
        entry(EntryKind::ToolCall {
            call: 1,
            tool: bash("make build"),
        }),
        entry(EntryKind::ToolResult {
            call: 1,
            ok: false,
            exit_code: None,
            output: "interrupted: drover stopped while this ran".into(),
            truncated: 0,
            duration_ms: 0,
            timed_out: false,
        }),
        entry(EntryKind::ToolCall {
            call: 2,
            tool: bash("sleep 100"),
        }),
        entry(EntryKind::ToolResult {
            call: 2,
            ok: false,
            exit_code: None,
            output: "cancelled".into(),
            truncated: 0,
            duration_ms: 2300,
            timed_out: false,
        }),
    ] {
        a.update(Msg::Engine(ev(Some("k3j9x2ab1c"), 1, b)));
    }
    let s = screen(&mut a, 100, 14);
    assert!(!s.contains("0.0s"), "{s}");
    assert!(s.contains("✗ failed · 2.3s"), "{s}");
}

/// The activity log: what happened, timestamped, errors in red; the status line shows
/// the newest for a few seconds and then gives the footer back.
#[test]
fn activity_log_and_a_status_that_clears_itself() {
    let mut a = every_state();
    a.update(Msg::Engine(ev(
        Some("k3j9x2ab1c"),
        1,
        EventBody::Notice {
            message: "approved: drover/k3j9x2ab1c-fix-add is at 1a2b3c4d5e6f in your repository"
                .into(),
        },
    )));
    a.now += time::Duration::seconds(75);
    a.update(Msg::Engine(ev(
        Some("a1b2c3d4e5"),
        1,
        EventBody::StateChanged {
            from: TaskState::Running,
            to: TaskState::Failed {
                reason: "edit_file failed: not found".into(),
            },
        },
    )));
    a.update(Msg::Reply(
        drover::protocol::Command::Push {
            id: id("b1b2c3d4e5"),
        },
        Err(drover::protocol::CommandError::failed(
            "cannot push a queued task",
        )),
    ));
    let s = screen(&mut a, 120, 20);
    assert!(
        s.contains("cannot push a queued task"),
        "the newest is said:\n{s}"
    );
    a.now += time::Duration::seconds(9);
    a.update(Msg::Tick);
    assert!(a.status.is_none(), "cleared itself");
    assert!(
        screen(&mut a, 120, 20).contains("q quit  ? help"),
        "the footer is back"
    );
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('L'),
        KeyModifiers::NONE,
    )));
    assert_snapshot!(screen(&mut a, 120, 16));
    // Any other key closes it.
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('x'),
        KeyModifiers::NONE,
    )));
    assert!(a.overlay().is_none());
}

/// The help overlay scrolls when the screen is shorter than it.
#[test]
fn help_scrolls_on_a_short_screen() {
    let mut a = every_state();
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('?'),
        KeyModifiers::NONE,
    )));
    let top = screen(&mut a, 100, 20);
    assert!(top.contains("│Tasks"), "{top}");
    for _ in 0..60 {
        a.update(Msg::Key(KeyEvent::new(
            KeyCode::Char('j'),
            KeyModifiers::NONE,
        )));
    }
    let end = screen(&mut a, 100, 20);
    assert!(end.contains("any other key closes this help"), "{end}");
    assert!(end.contains("States"), "the legend: {end}");
}

/// At 200 columns titles read whole and a stopped task says why in its row.
#[test]
fn a_wide_list_reads_titles_whole_and_says_why_a_task_stopped() {
    let s = screen(&mut every_state(), 200, 16);
    assert!(s.contains("Add median() to calc.py, with tests"), "{s}");
    assert!(
        s.contains("Make slugify() fold accents · edit_file failed:…"),
        "{s}"
    );
}

/// A failing verdict whose failures were all there on the base commit is yellow, not red.
#[test]
fn failures_already_on_the_base_are_yellow() {
    let mut a = app();
    let mut old = reviewed(false);
    if let Some(r) = old.tests.as_mut() {
        r.new_failures = Some(Vec::new());
    }
    add(
        &mut a,
        "k3j9x2ab1c",
        "Only old failures",
        TaskState::Review,
        old,
    );
    add(
        &mut a,
        "m2n4p6q8r0",
        "A new failure",
        TaskState::Review,
        reviewed(false),
    );
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 6)).unwrap();
    let mut cache = drover::ui::render::Cache::default();
    t.draw(|f| {
        drover::ui::render::draw(&a, &mut cache, f);
    })
    .unwrap();
    let buf = t.backend().buffer().clone();
    let mark_colour = |row: u16| {
        (0..buf.area.width)
            .map(|x| &buf[(x, row)])
            .find(|c| c.symbol() == "✗")
            .map(|c| c.fg)
    };
    assert_eq!(mark_colour(2), Some(ratatui::style::Color::Yellow));
    assert_eq!(mark_colour(3), Some(ratatui::style::Color::Red));
}
