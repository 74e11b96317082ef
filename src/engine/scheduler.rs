//! Which queued tasks start now. Pure: no store, no Docker, no clock.
//!
//! Oldest first (the order the store lists them in), while the engine has free slots;
//! a repository's own `max_parallel` caps its tasks too, since one engine (the daemon)
//! runs many repositories. A task that cannot start yet never blocks a later one of
//! another repository.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::protocol::{TaskId, TaskRecord, TaskState};

/// How many attempts may run at once: in all, and per repository (a repository not
/// listed is capped by `total` alone).
#[derive(Debug, Clone, Default)]
pub(super) struct Caps {
    pub total: usize,
    pub per_repo: HashMap<PathBuf, usize>,
}

impl Caps {
    fn of(&self, repo: &Path) -> usize {
        self.per_repo.get(repo).copied().unwrap_or(self.total)
    }
}

/// The queued tasks to start now, in order. `running` is each running task's repository.
pub(super) fn pick<'a>(
    tasks: &'a [TaskRecord],
    running: &HashMap<TaskId, PathBuf>,
    held: &HashSet<TaskId>,
    caps: &Caps,
) -> Vec<&'a TaskRecord> {
    let mut per_repo: HashMap<&Path, usize> = HashMap::new();
    for repo in running.values() {
        *per_repo.entry(repo.as_path()).or_default() += 1;
    }
    let mut total = running.len();
    let mut out = Vec::new();
    for t in tasks {
        if total >= caps.total {
            break;
        }
        // A task held by a command (a discard under way) is not started under it.
        if t.state != TaskState::Queued || running.contains_key(&t.id) || held.contains(&t.id) {
            continue;
        }
        let n = per_repo.entry(t.repo.as_path()).or_default();
        if *n >= caps.of(&t.repo) {
            continue;
        }
        *n += 1;
        total += 1;
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(repo: &str, state: TaskState) -> TaskRecord {
        let mut t = TaskRecord::sample(state);
        t.repo = repo.into();
        t
    }

    fn ids(picked: &[&TaskRecord]) -> Vec<TaskId> {
        picked.iter().map(|t| t.id.clone()).collect()
    }

    #[test]
    fn oldest_queued_first_while_slots_are_free() {
        let tasks = vec![
            task("/a", TaskState::Review),
            task("/a", TaskState::Queued),
            task("/a", TaskState::Queued),
            task("/a", TaskState::Queued),
        ];
        let caps = Caps {
            total: 2,
            ..Default::default()
        };
        let picked = pick(&tasks, &HashMap::new(), &HashSet::new(), &caps);
        assert_eq!(ids(&picked), [tasks[1].id.clone(), tasks[2].id.clone()]);
    }

    #[test]
    fn running_tasks_take_their_slots() {
        let tasks = vec![
            task("/a", TaskState::Running),
            task("/a", TaskState::Queued),
            task("/a", TaskState::Queued),
        ];
        let running = HashMap::from([(tasks[0].id.clone(), PathBuf::from("/a"))]);
        let caps = Caps {
            total: 2,
            ..Default::default()
        };
        assert_eq!(
            ids(&pick(&tasks, &running, &HashSet::new(), &caps)),
            [tasks[1].id.clone()]
        );
        let full = Caps {
            total: 1,
            ..Default::default()
        };
        assert!(pick(&tasks, &running, &HashSet::new(), &full).is_empty());
    }

    #[test]
    fn a_repository_at_its_own_cap_lets_others_go_first() {
        let tasks = vec![
            task("/a", TaskState::Queued),
            task("/a", TaskState::Queued),
            task("/b", TaskState::Queued),
        ];
        let caps = Caps {
            total: 4,
            per_repo: HashMap::from([(PathBuf::from("/a"), 1)]),
        };
        assert_eq!(
            ids(&pick(&tasks, &HashMap::new(), &HashSet::new(), &caps)),
            [tasks[0].id.clone(), tasks[2].id.clone()]
        );
    }

    #[test]
    fn a_task_already_running_is_not_started_twice() {
        let tasks = vec![task("/a", TaskState::Queued)];
        let running = HashMap::from([(tasks[0].id.clone(), PathBuf::from("/a"))]);
        let caps = Caps {
            total: 4,
            ..Default::default()
        };
        assert!(pick(&tasks, &running, &HashSet::new(), &caps).is_empty());
    }

    #[test]
    fn a_task_held_by_a_command_waits_and_the_next_goes() {
        let tasks = vec![task("/a", TaskState::Queued), task("/a", TaskState::Queued)];
        let held = HashSet::from([tasks[0].id.clone()]);
        let caps = Caps {
            total: 1,
            ..Default::default()
        };
        assert_eq!(
            ids(&pick(&tasks, &HashMap::new(), &held, &caps)),
            [tasks[1].id.clone()]
        );
    }
}
