//! The pull request loop in the TUI: badges on a pushed task's row (CI, changes
//! requested, comments waiting), the Info pane's account of the pull request, `r` and
//! `R` as its follow-up, and the terminal's bell when checks fail, changes are requested
//! or the pull request is merged.

use crossterm::event::KeyCode;
use drover::protocol::{
    Annotation, CheckFailure, Checks, Command, EventBody, PrState, PrStatus, ReviewComment,
    ReviewDecision, TaskState,
};
use drover::ui::app::{App, Effect, Msg, Overlay};
use insta::assert_snapshot;

use crate::fixtures::*;

fn asking() -> PrStatus {
    PrStatus {
        state: PrState::Open,
        head: "ab".repeat(20),
        review: Some(ReviewDecision::ChangesRequested),
        changes_requested_by: vec!["bob".into()],
        checks: Checks {
            passed: 2,
            failed: 1,
            pending: 0,
            failures: vec![CheckFailure {
                name: "lint".into(),
                conclusion: "failure".into(),
                summary: "1 error".into(),
                annotations: vec![Annotation {
                    path: "auth/login.py".into(),
                    line: 42,
                    level: "failure".into(),
                    message: "E501 line too long".into(),
                }],
                url: None,
            }],
        },
        comments: vec![
            ReviewComment {
                id: 1,
                author: "bob".into(),
                path: "auth/login.py".into(),
                line: Some(40),
                body: "keep the next= parameter\nit is used by the SSO flow".into(),
                hunk: "@@ -38,4 +38,4 @@".into(),
                at: "2026-12-01T10:03:00Z".into(),
                resolved: false,
                member: true,
            },
            ReviewComment {
                id: 2,
                author: "eve".into(),
                path: "README.md".into(),
                line: Some(3),
                body: "typo".into(),
                resolved: true,
                ..Default::default()
            },
        ],
        updated_at: "2026-12-01T10:05:00Z".into(),
        requests: Vec::new(),
    }
}

/// A pushed task whose pull request asks for changes, beside one in review.
fn pushed(status: Option<PrStatus>) -> App {
    let mut a = app();
    let mut attempt = reviewed(true);
    attempt.approved_commit = Some("e226d7639794aaaabbbbccccddddeeeeffff0000".into());
    attempt.pr_number = Some(7);
    attempt.pr_url = Some("https://github.com/ana/shop/pull/7".into());
    attempt.pr_status = status;
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
    a
}

#[test]
fn a_pushed_task_wears_its_pull_requests_badges_and_info() {
    let mut a = pushed(Some(asking()));
    press(&mut a, KeyCode::Char('4'));
    let s = screen(&mut a, 130, 40);
    assert!(s.contains("CI✗ changes ✎1"), "{s}");
    assert!(
        s.contains("lint (failure): 1 error") && s.contains("auth/login.py:42 E501"),
        "{s}"
    );
    assert!(s.contains("changes requested by bob"), "{s}");
    assert!(
        s.contains("1 waiting, 1 resolved") && s.contains("auth/login.py:40 bob: keep the next="),
        "{s}"
    );
    assert!(
        s.contains("r follow up") && s.contains("R follow up as asked"),
        "footer:\n{s}"
    );
    assert_snapshot!(s);
    // Passing, approved, nothing waiting: one quiet badge.
    let mut calm = asking();
    calm.checks = Checks {
        passed: 3,
        ..Default::default()
    };
    calm.review = Some(ReviewDecision::Approved);
    calm.changes_requested_by.clear();
    calm.comments.clear();
    let mut a = pushed(Some(calm));
    let s = screen(&mut a, 130, 12);
    assert!(
        s.contains("CI✓") && !s.contains("changes") && !s.contains('✎'),
        "{s}"
    );
}

#[test]
fn r_and_big_r_follow_up_on_a_pushed_task() {
    let mut a = pushed(Some(asking()));
    // r: the feedback editor holds what the pull request asks, ready to edit.
    press(&mut a, KeyCode::Char('r'));
    let Some(Overlay::Editor(e)) = a.overlay() else {
        panic!("the feedback editor")
    };
    let text = e.prompt_text();
    assert!(
        text.contains("auth/login.py:40, from bob:") && text.contains("keep the next= parameter"),
        "{text}"
    );
    assert!(
        text.contains("lint (failure): 1 error") && !text.contains("typo"),
        "{text}"
    );
    press(&mut a, KeyCode::Esc);
    press(&mut a, KeyCode::Char('y'));
    // R: asks, then the follow-up goes as the pull request asks it.
    press(&mut a, KeyCode::Char('R'));
    let Some(Overlay::Confirm(c)) = a.overlay() else {
        panic!("asked first")
    };
    assert!(
        c.text.contains("1 review comment and 1 failing check"),
        "{}",
        c.text
    );
    let fx = press(&mut a, KeyCode::Char('y'));
    assert_eq!(
        fx,
        vec![Effect::Send(Command::Retry {
            id: id("f1b2c3d4e5"),
            feedback: None
        })]
    );
    // Nothing waiting: R says so and sends nothing.
    let mut quiet = asking();
    quiet.checks = Checks::default();
    quiet.comments.clear();
    let mut a = pushed(Some(quiet));
    assert!(press(&mut a, KeyCode::Char('R')).is_empty());
    assert!(a.overlay().is_none());
    assert!(
        a.status
            .as_ref()
            .is_some_and(|s| s.error && s.text.contains("nothing waits")),
        "{:?}",
        a.status
    );
}

#[test]
fn failing_checks_requested_changes_and_a_merge_ring_the_bell() {
    let mut a = pushed(None);
    let mut rec = a.tasks[0].attempt.clone();
    let mut update = |a: &mut App, s: PrStatus| {
        rec.pr_status = Some(s);
        a.update(Msg::Engine(ev(
            Some("f1b2c3d4e5"),
            1,
            EventBody::AttemptUpdated {
                attempt: Box::new(rec.clone()),
            },
        )))
    };
    let fx = update(&mut a, asking());
    assert_eq!(
        fx,
        vec![Effect::Notify(
            "Fix the login redirect: checks fail on its pull request".into()
        )]
    );
    assert!(update(&mut a, asking()).is_empty(), "once");
    let mut merged = asking();
    merged.state = PrState::Merged;
    let fx = update(&mut a, merged);
    assert_eq!(
        fx,
        vec![Effect::Notify(
            "Fix the login redirect: its pull request was merged".into()
        )]
    );
}
