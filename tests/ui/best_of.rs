//! Best-of-N in the TUI: each attempt's row wears its rank among the task's attempts,
//! `b` shows them side by side in rank order, `=` there diffs the selected one against
//! the highlighted one, `enter` selects it; the new-task editor's agent field takes
//! several agents and `xN`.

use crossterm::event::KeyCode;
use drover::protocol::{Command, Group, TaskState};
use drover::ui::app::{App, Effect, Msg, Overlay};
use insta::assert_snapshot;

use crate::fixtures::*;
use crate::keys::ctrl;

/// Three attempts of "Fix add()": the second passes, the first and third fail (the third
/// with the bigger diff), and a task of its own.
fn three() -> App {
    let mut a = app();
    for (i, (tid, passed, extra)) in [
        ("aaaaaaaaa1", false, 0),
        ("aaaaaaaaa2", true, 0),
        ("aaaaaaaaa3", false, 40),
    ]
    .into_iter()
    .enumerate()
    {
        let mut at = reviewed(passed);
        if let Some(d) = at.diff.as_mut() {
            d.insertions += extra;
        }
        add(&mut a, tid, "Fix add()", TaskState::Review, at);
        a.tasks[i].task.group = Some(Group {
            id: "g1".into(),
            index: i as u32 + 1,
            of: 3,
        });
    }
    add(
        &mut a,
        "m2n4p6q8r0",
        "Add median()",
        TaskState::Running,
        started(10),
    );
    a
}

#[test]
fn attempts_side_by_side_ranked_by_their_tests() {
    let mut a = three();
    let s = screen(&mut a, 140, 16);
    assert!(
        s.contains("2/3") && s.contains("1/3") && s.contains("3/3"),
        "{s}"
    );
    press(&mut a, KeyCode::Char('b'));
    let Some(Overlay::BestOf { cursor }) = a.overlay() else {
        panic!("the side-by-side view")
    };
    assert_eq!(
        *cursor, 1,
        "the selected one (ranked second) is highlighted"
    );
    let ranked: Vec<String> = a
        .best_of()
        .iter()
        .map(|(t, _)| t.task.id.to_string())
        .collect();
    assert_eq!(ranked, ["aaaaaaaaa2", "aaaaaaaaa1", "aaaaaaaaa3"]);
    let s = screen(&mut a, 140, 16);
    assert!(
        s.contains("  #1   aaaaaaaaa2") && s.contains("▶ #2   aaaaaaaaa1"),
        "{s}"
    );
    assert_snapshot!(s);
    // `=` on the best one: the selected attempt's diff against it.
    press(&mut a, KeyCode::Char('k'));
    let fx = press(&mut a, KeyCode::Char('='));
    assert_eq!(
        fx,
        vec![Effect::Send(Command::Compare {
            id: id("aaaaaaaaa1"),
            from: 1,
            to: 1,
            with: Some(id("aaaaaaaaa2")),
        })]
    );
    // `enter` selects the highlighted one.
    press(&mut a, KeyCode::Char('b'));
    press(&mut a, KeyCode::Char('k'));
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.selected, Some(id("aaaaaaaaa2")));
    assert!(a.overlay().is_none());
    // A task that runs alone has nothing to show side by side.
    press(&mut a, KeyCode::Char('G'));
    press(&mut a, KeyCode::Char('b'));
    assert!(a.overlay().is_none());
    assert!(a.status.as_ref().is_some_and(|s| s.error), "{:?}", a.status);
}

#[test]
fn the_editors_agent_field_asks_for_several_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one.toml"), dir.path().join("two.toml"));
    std::fs::write(&one, "[[step]]\nsay = \"one\"\n").unwrap();
    std::fs::write(&two, "[[step]]\nsay = \"two\"\n").unwrap();
    let mut a = three();
    press(&mut a, KeyCode::Char('n'));
    typed(&mut a, "Add CSV export");
    press(&mut a, KeyCode::Tab);
    press(&mut a, KeyCode::Tab);
    a.update(Msg::Paste(format!(
        "{}, {}, x3",
        one.display(),
        two.display()
    )));
    let fx = ctrl(&mut a, 's');
    let [Effect::Send(Command::Queue { task })] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    let labels: Vec<String> = std::iter::once(&task.agent)
        .chain(&task.others)
        .map(|s| s.label())
        .collect();
    assert_eq!(
        labels,
        [
            "scripted (one.toml)",
            "scripted (two.toml)",
            "scripted (one.toml)"
        ]
    );
}
