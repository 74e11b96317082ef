//! Screens of the trust boundary: a stale verdict naming the files, files the diff leaves
//! out (ignored, with sizes, and what could not be recorded), and a repository config
//! held back until the user trusts it.

use crossterm::event::KeyCode;
use drover::protocol::TaskState;
use drover::protocol::{Ignored, Unrecorded};
use drover::ui::app::Effect;
use insta::assert_snapshot;

use crate::fixtures::*;

/// A task in review whose tests went stale, with ignored and unrecorded files.
fn stale() -> drover::ui::app::App {
    let mut a = app();
    let mut attempt = reviewed(true);
    let tests = attempt
        .tests
        .take()
        .map(|r| r.stale(vec!["calc.py".into(), "tests/test_median.py".into()]));
    attempt.tests = tests;
    if let Some(d) = attempt.diff.as_mut() {
        d.ignored = vec![
            Ignored {
                path: "build".into(),
                bytes: 3 << 20,
                files: 12,
                dir: true,
            },
            Ignored {
                path: "debug.log".into(),
                bytes: 10,
                files: 1,
                dir: false,
            },
        ];
        d.unrecorded = vec![Unrecorded {
            path: "pipe".into(),
            why: "a fifo: only files and links are recorded".into(),
        }];
    }
    add(
        &mut a,
        "k3j9x2ab1c",
        "Fix add() so the test suite passes",
        TaskState::Review,
        attempt,
    );
    a
}

#[test]
fn htb_05_a_stale_verdict_names_the_files_and_ignored_files_show_with_sizes() {
    let mut a = stale();
    press(&mut a, KeyCode::Char('3'));
    assert_snapshot!("tests_pane_stale", screen(&mut a, 120, 16));
    press(&mut a, KeyCode::Char('4'));
    assert_snapshot!("info_pane_ignored_and_unrecorded", screen(&mut a, 120, 32));
}

#[test]
fn htb_07_an_untrusted_config_is_said_and_trusting_it_asks_first() {
    let mut a = stale();
    a.untrusted = vec!["network".into(), "agent.base_url".into()];
    a.say_untrusted();
    assert_snapshot!("untrusted_config_status", screen(&mut a, 120, 12));
    press(&mut a, KeyCode::Char('T'));
    assert_snapshot!("trust_confirmation", screen(&mut a, 120, 16));
    assert_eq!(press(&mut a, KeyCode::Char('y')), vec![Effect::Trust]);
    // Nothing to trust: said, nothing asked.
    a.untrusted.clear();
    assert!(press(&mut a, KeyCode::Char('T')).is_empty());
    assert!(a.overlay().is_none());
}
