//! The keymap: which key does what, per context, from `keymap.toml`.
//!
//! The default keymap is the repository's `keymap.toml`, embedded; the user's
//! `~/.config/drover/keymap.toml` replaces the keys of the actions it names, per context.
//! Unknown sections or actions, bad key names and two actions on one key in one context
//! are errors naming file:line:col; drover refuses a bad keymap rather than guessing.
//! Lookups fall back from `[pane]` to `[list]` to `[global]` (so task actions work while
//! a pane has focus, and a pane binding shadows a list one); the editor and confirmation
//! contexts do not fall back (keys there are mostly text).

mod key;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use key::{Code, Key};

use crate::config::ConfigError;

pub const DEFAULT_KEYMAP: &str = include_str!("../../keymap.toml");
pub const DEFAULT_NAME: &str = "keymap.toml (built in)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Context {
    Global,
    List,
    Pane,
    Editor,
    Confirm,
    /// A one-line prompt: the filter and the search.
    Input,
}

impl Context {
    pub const ALL: [Context; 6] = [
        Context::Global,
        Context::List,
        Context::Pane,
        Context::Editor,
        Context::Confirm,
        Context::Input,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::List => "list",
            Context::Pane => "pane",
            Context::Editor => "editor",
            Context::Confirm => "confirm",
            Context::Input => "input",
        }
    }

    fn parse(s: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    Filter,
    NewTask,
    ImportIssue,
    Trust,
    Approve,
    RetryFeedback,
    RetryScratch,
    Resume,
    Push,
    Cancel,
    Discard,
    Shell,
    OpenPr,
    CopyPr,
    Down,
    Up,
    Top,
    Bottom,
    PageDown,
    PageUp,
    FocusPane,
    NextPane,
    PrevPane,
    PaneTranscript,
    PaneDiff,
    PaneTests,
    PaneInfo,
    Back,
    Expand,
    FoldAll,
    BestOf,
    Search,
    SearchNext,
    SearchPrev,
    Zoom,
    Activity,
    PrevAttempt,
    NextAttempt,
    CompareAttempts,
    Left,
    Right,
    Wrap,
    Mark,
    Sort,
    StateFilter,
    Edit,
    Duplicate,
    NextHunk,
    PrevHunk,
    NextFile,
    PrevFile,
    Comment,
    Wider,
    Narrower,
    Submit,
    Yes,
    No,
    StopTasks,
    KeepTasks,
    Accept,
    Erase,
}

use Action as A;
use Context as C;

/// Every action: its name in keymap files, what the help says, where it may be bound.
const ACTIONS: &[(Action, &str, &str, &[Context])] = &[
    (A::Quit, "quit", "quit", &[C::Global]),
    (A::Help, "help", "help", &[C::Global]),
    (A::Filter, "filter", "filter tasks", &[C::Global, C::List]),
    (A::NewTask, "new_task", "new task", &[C::List]),
    (A::ImportIssue, "import_issue", "import issue", &[C::List]),
    (A::Approve, "approve", "approve", &[C::List]),
    (
        A::RetryFeedback,
        "retry_feedback",
        "retry with feedback",
        &[C::List],
    ),
    (
        A::RetryScratch,
        "retry_scratch",
        "retry from scratch",
        &[C::List],
    ),
    (A::Push, "push", "push + PR", &[C::List]),
    (A::Cancel, "cancel", "cancel", &[C::List]),
    (A::Discard, "discard", "discard", &[C::List]),
    (A::Resume, "resume", "resume interrupted", &[C::List]),
    (A::Shell, "shell", "shell in container", &[C::List]),
    (A::OpenPr, "open_pr", "open PR", &[C::List]),
    (A::CopyPr, "copy_pr", "copy PR URL", &[C::List]),
    (A::Down, "down", "down", &[C::List, C::Pane]),
    (A::Up, "up", "up", &[C::List, C::Pane]),
    (A::Top, "top", "top", &[C::List, C::Pane]),
    (A::Bottom, "bottom", "bottom", &[C::List, C::Pane]),
    (A::PageDown, "page_down", "page down", &[C::List, C::Pane]),
    (A::PageUp, "page_up", "page up", &[C::List, C::Pane]),
    (A::FocusPane, "focus_pane", "focus pane", &[C::List]),
    (A::NextPane, "next_pane", "next pane", &[C::List, C::Pane]),
    (
        A::PrevPane,
        "prev_pane",
        "previous pane",
        &[C::List, C::Pane],
    ),
    (
        A::PaneTranscript,
        "pane_transcript",
        "transcript",
        &[C::List],
    ),
    (A::PaneDiff, "pane_diff", "diff", &[C::List]),
    (A::PaneTests, "pane_tests", "tests", &[C::List]),
    (A::PaneInfo, "pane_info", "info", &[C::List]),
    (A::Trust, "trust", "trust repo config", &[C::List]),
    (A::Back, "back", "back", &[C::Pane]),
    (A::Expand, "expand", "expand / fold", &[C::Pane]),
    (A::FoldAll, "fold_all", "fold all files", &[C::Pane]),
    (
        A::BestOf,
        "best_of",
        "attempts side by side",
        &[C::List, C::Pane],
    ),
    (A::Search, "search", "search", &[C::Pane]),
    (A::SearchNext, "search_next", "next match", &[C::Pane]),
    (A::SearchPrev, "search_prev", "previous match", &[C::Pane]),
    (A::Zoom, "zoom", "zoom pane", &[C::List, C::Pane]),
    (A::Activity, "activity", "activity log", &[C::List, C::Pane]),
    (
        A::PrevAttempt,
        "prev_attempt",
        "earlier attempt",
        &[C::List, C::Pane],
    ),
    (
        A::NextAttempt,
        "next_attempt",
        "later attempt",
        &[C::List, C::Pane],
    ),
    (
        A::CompareAttempts,
        "compare_attempts",
        "compare attempts",
        &[C::List, C::Pane],
    ),
    (A::Left, "left", "scroll left", &[C::Pane]),
    (A::Right, "right", "scroll right", &[C::Pane]),
    (A::Wrap, "wrap", "wrap long lines", &[C::Pane]),
    (A::Mark, "mark", "mark for a batch", &[C::List]),
    (A::Sort, "sort", "sort", &[C::List]),
    (A::StateFilter, "state_filter", "show by state", &[C::List]),
    (A::Edit, "edit", "edit queued task", &[C::List]),
    (A::Duplicate, "duplicate", "duplicate", &[C::List]),
    (A::NextHunk, "next_hunk", "next hunk", &[C::Pane]),
    (A::PrevHunk, "prev_hunk", "previous hunk", &[C::Pane]),
    (A::NextFile, "next_file", "next file", &[C::Pane]),
    (A::PrevFile, "prev_file", "previous file", &[C::Pane]),
    (A::Comment, "comment", "comment on the line", &[C::Pane]),
    (A::Wider, "wider", "widen the list", &[C::List, C::Pane]),
    (
        A::Narrower,
        "narrower",
        "narrow the list",
        &[C::List, C::Pane],
    ),
    (A::Submit, "submit", "queue / send", &[C::Editor]),
    (A::Cancel, "cancel", "cancel", &[C::Editor, C::Input]),
    (A::Accept, "accept", "keep", &[C::Input]),
    (A::Erase, "erase", "delete a character", &[C::Input]),
    (A::Yes, "yes", "yes", &[C::Confirm]),
    (A::No, "no", "no", &[C::Confirm]),
    (
        A::StopTasks,
        "stop_tasks",
        "quit, stopping tasks",
        &[C::Confirm],
    ),
    (
        A::KeepTasks,
        "keep_tasks",
        "quit, tasks keep running",
        &[C::Confirm],
    ),
];

impl Action {
    /// Acts on the selected task (offered first, when its state allows).
    pub fn is_task_action(self) -> bool {
        matches!(
            self,
            A::Approve
                | A::Edit
                | A::Push
                | A::RetryFeedback
                | A::RetryScratch
                | A::Cancel
                | A::Discard
                | A::Resume
                | A::Shell
                | A::OpenPr
                | A::CopyPr
        )
    }

    pub fn name(self) -> &'static str {
        ACTIONS.iter().find(|a| a.0 == self).map_or("?", |a| a.1)
    }

    pub fn label(self) -> &'static str {
        ACTIONS.iter().find(|a| a.0 == self).map_or("?", |a| a.2)
    }

    fn lookup(ctx: Context, name: &str) -> Option<Action> {
        ACTIONS
            .iter()
            .find(|a| a.1 == name && a.3.contains(&ctx))
            .map(|a| a.0)
    }
}

/// Where a binding was written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    file: PathBuf,
    line: usize,
    col: usize,
}

#[derive(Debug, Clone)]
struct Binding {
    keys: Vec<Key>,
    origin: Origin,
}

#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: BTreeMap<Context, BTreeMap<Action, Binding>>,
    /// Files applied, in order.
    pub files: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeySpec {
    One(String),
    Many(Vec<String>),
}

type RawFile = BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, Spanned<KeySpec>>>;

impl Keymap {
    /// The built-in keymap (always valid: a test guarantees it).
    pub fn builtin() -> Keymap {
        let mut k = Keymap {
            bindings: BTreeMap::new(),
            files: Vec::new(),
        };
        if let Err(e) = k.apply(Path::new(DEFAULT_NAME), DEFAULT_KEYMAP) {
            // Only reachable if the embedded file is broken, which the test suite forbids.
            tracing::error!("built-in keymap: {e}");
        }
        k
    }

    /// The built-in keymap with the user's file (if it exists) on top.
    pub fn load(user: Option<&Path>) -> Result<Keymap, ConfigError> {
        let mut k = Keymap::builtin();
        if let Some(path) = user.filter(|p| p.exists()) {
            let src = std::fs::read_to_string(path).map_err(|e| ConfigError::io(path, &e))?;
            k.apply(path, &src)?;
        }
        Ok(k)
    }

    /// The user's keymap path: next to the config file.
    pub fn user_path() -> Option<PathBuf> {
        crate::config::user_config_path().map(|p| p.with_file_name("keymap.toml"))
    }

    /// Applies one file on top: each action it names gets exactly the keys given.
    pub fn apply(&mut self, file: &Path, src: &str) -> Result<(), ConfigError> {
        let src = src.strip_prefix('\u{feff}').unwrap_or(src);
        let raw: RawFile =
            toml::from_str(src).map_err(|e| ConfigError::at(file, src, e.span(), e.message()))?;
        let at =
            |span: std::ops::Range<usize>, msg: String| ConfigError::at(file, src, Some(span), msg);
        let mut next = self.bindings.clone();
        for (ctx_name, actions) in raw {
            let ctx = Context::parse(ctx_name.get_ref()).ok_or_else(|| {
                let known: Vec<_> = Context::ALL
                    .iter()
                    .map(|c| format!("[{}]", c.name()))
                    .collect();
                at(
                    ctx_name.span(),
                    format!(
                        "unknown section [{}] (sections: {})",
                        ctx_name.get_ref(),
                        known.join(", ")
                    ),
                )
            })?;
            for (action_name, spec) in actions {
                let action = Action::lookup(ctx, action_name.get_ref()).ok_or_else(|| {
                    let hint = suggest(action_name.get_ref(), ctx)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    at(
                        action_name.span(),
                        format!(
                            "unknown action `{}` in [{}]{hint}",
                            action_name.get_ref(),
                            ctx.name()
                        ),
                    )
                })?;
                let names = match spec.get_ref() {
                    KeySpec::One(s) => vec![s.clone()],
                    KeySpec::Many(v) => v.clone(),
                };
                if names.is_empty() {
                    return Err(at(
                        spec.span(),
                        format!("`{}` needs at least one key", action.name()),
                    ));
                }
                let keys = names
                    .iter()
                    .map(|n| {
                        Key::parse(n).ok_or_else(|| {
                            at(
                                spec.span(),
                                format!("`{n}` is not a key name (for `{}`)", action.name()),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let (line, col) = crate::config::line_col(src, action_name.span().start);
                let origin = Origin {
                    file: file.to_path_buf(),
                    line,
                    col,
                };
                next.entry(ctx)
                    .or_default()
                    .insert(action, Binding { keys, origin });
            }
        }
        check_conflicts(&next)?;
        self.bindings = next;
        self.files.push(file.to_path_buf());
        Ok(())
    }

    /// The action `key` triggers in `ctx` (list and pane fall back to global).
    pub fn action(&self, ctx: Context, key: Key) -> Option<Action> {
        let find = |c: Context| {
            self.bindings.get(&c).and_then(|m| {
                m.iter()
                    .find(|(_, b)| b.keys.contains(&key))
                    .map(|(a, _)| *a)
            })
        };
        let fallbacks: &[Context] = match ctx {
            Context::Pane => &[Context::Pane, Context::List, Context::Global],
            Context::List => &[Context::List, Context::Global],
            other => std::slice::from_ref(match other {
                Context::Editor => &Context::Editor,
                Context::Confirm => &Context::Confirm,
                Context::Input => &Context::Input,
                _ => &Context::Global,
            }),
        };
        fallbacks.iter().find_map(|c| find(*c))
    }

    /// The keys bound to `action` in `ctx`, for display ("j/↓").
    pub fn keys(&self, ctx: Context, action: Action) -> String {
        self.bindings
            .get(&ctx)
            .and_then(|m| m.get(&action))
            .or_else(|| {
                self.bindings
                    .get(&Context::Global)
                    .and_then(|m| m.get(&action))
            })
            .map(|b| {
                b.keys
                    .iter()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default()
    }

    /// (keys, label) of every action bound in `ctx`, in the order of the action table.
    pub fn hints(&self, ctx: Context) -> Vec<(String, &'static str)> {
        self.action_hints(ctx)
            .into_iter()
            .map(|(_, keys, label)| (keys, label))
            .collect()
    }

    /// `hints`, each with its action (for offering only what applies).
    pub fn action_hints(&self, ctx: Context) -> Vec<(Action, String, &'static str)> {
        let Some(m) = self.bindings.get(&ctx) else {
            return Vec::new();
        };
        ACTIONS
            .iter()
            .filter(|(a, _, _, ctxs)| ctxs.contains(&ctx) && m.contains_key(a))
            .map(|(a, _, label, _)| (*a, self.keys(ctx, *a), *label))
            .collect()
    }

    /// The global hints that still apply in `ctx`: a global action whose keys all mean
    /// something else there (`/` searches a pane) is not offered.
    pub fn global_hints_in(&self, ctx: Context) -> Vec<(String, &'static str)> {
        let Some(m) = self.bindings.get(&Context::Global) else {
            return Vec::new();
        };
        m.iter()
            .filter(|(a, b)| b.keys.iter().any(|k| self.action(ctx, *k) == Some(**a)))
            .map(|(a, _)| (self.keys(Context::Global, *a), a.label()))
            .collect()
    }
}

fn check_conflicts(
    bindings: &BTreeMap<Context, BTreeMap<Action, Binding>>,
) -> Result<(), ConfigError> {
    for (ctx, actions) in bindings {
        let mut seen: BTreeMap<Key, (Action, &Origin)> = BTreeMap::new();
        // Later origins (the user's file) are reported at, naming the earlier binding.
        let mut ordered: Vec<(&Action, &Binding)> = actions.iter().collect();
        ordered.sort_by_key(|(_, b)| (b.origin.file != Path::new(DEFAULT_NAME), b.origin.line));
        for (action, b) in ordered {
            for key in &b.keys {
                if let Some((other, o)) = seen.get(key) {
                    return Err(ConfigError {
                        file: b.origin.file.clone(),
                        line: b.origin.line,
                        col: b.origin.col,
                        message: format!(
                            "key `{key}` in [{}] is bound to both `{}` ({}:{}) and `{}`",
                            ctx.name(),
                            other.name(),
                            o.file.display(),
                            o.line,
                            action.name()
                        ),
                        snippet: None,
                    });
                }
                seen.insert(*key, (*action, &b.origin));
            }
        }
    }
    Ok(())
}

/// The closest action name in `ctx` (edit distance ≤ 2).
fn suggest(name: &str, ctx: Context) -> Option<&'static str> {
    ACTIONS
        .iter()
        .filter(|a| a.3.contains(&ctx))
        .map(|a| (levenshtein(name, a.1), a.1))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_keymap_is_valid_and_complete() {
        let mut k = Keymap {
            bindings: BTreeMap::new(),
            files: Vec::new(),
        };
        k.apply(Path::new(DEFAULT_NAME), DEFAULT_KEYMAP).unwrap();
        // Every action has a default key in every context it belongs to.
        for (action, name, _, ctxs) in ACTIONS {
            for ctx in *ctxs {
                let bound = k.bindings.get(ctx).is_some_and(|m| m.contains_key(action))
                    || (*ctx != Context::Global
                        && k.bindings[&Context::Global].contains_key(action));
                assert!(bound, "`{name}` has no default key in [{}]", ctx.name());
            }
        }
    }

    #[test]
    fn lookups_fall_back_to_global_only_where_sensible() {
        let k = Keymap::builtin();
        assert_eq!(k.action(Context::List, Key::char('q')), Some(Action::Quit));
        assert_eq!(
            k.action(Context::List, Key::char('a')),
            Some(Action::Approve)
        );
        assert_eq!(
            k.action(Context::Pane, Key::char('/')),
            Some(Action::Search),
            "pane overrides global"
        );
        assert_eq!(
            k.action(Context::List, Key::char('/')),
            Some(Action::Filter)
        );
        assert_eq!(
            k.action(Context::Editor, Key::char('q')),
            None,
            "typing q in the editor is text"
        );
        assert_eq!(
            k.action(Context::List, Key::plain(Code::Down)),
            Some(Action::Down)
        );
        assert_eq!(k.keys(Context::List, Action::Down), "j/↓");
        assert_eq!(
            k.action(Context::Pane, Key::char('a')),
            Some(Action::Approve),
            "task keys work in a pane"
        );
        assert_eq!(k.action(Context::Pane, Key::char('j')), Some(Action::Down));
    }

    #[test]
    fn levenshtein_distances() {
        assert_eq!(levenshtein("quitt", "quit"), 1);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(suggest("aprove", Context::List), Some("approve"));
        assert_eq!(suggest("zzzzzz", Context::List), None);
    }
}
