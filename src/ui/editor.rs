//! The task editor (title, prompt, script) and the feedback editor, on ratatui-textarea.
//!
//! Holds text and focus only; what a submission turns into (a Command) is decided by the
//! app. Pasted text (bracketed paste) goes into the focused field whole.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui_textarea::{TextArea, WrapMode};

use crate::protocol::TaskId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorKind {
    NewTask,
    /// A GitHub issue to import: the title field holds its reference.
    Issue,
    Feedback {
        id: TaskId,
        title: String,
    },
    /// Changes to a queued task; `agent` is what it has, kept unless the agent field
    /// (which started as `agent_text`) was changed.
    Edit {
        id: TaskId,
        agent: crate::protocol::AgentSpec,
        agent_text: String,
    },
    /// A comment on one line of a task's diff (kept by the app until sent as
    /// feedback).
    Comment {
        id: TaskId,
        place: super::patch::Place,
    },
}

pub struct Editor {
    pub kind: EditorKind,
    pub title: TextArea<'static>,
    pub prompt: TextArea<'static>,
    pub script: TextArea<'static>,
    /// 0 title, 1 prompt, 2 script (feedback: the prompt only).
    pub focus: usize,
    pub error: Option<String>,
    /// Esc was pressed on a non-empty editor: asking whether to discard.
    pub confirm_discard: bool,
    /// Submitted: the engine's answer is awaited; a refusal comes back here, with
    /// everything typed still in place.
    pub waiting: bool,
}

fn field(placeholder: &str) -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text(placeholder);
    t.set_cursor_line_style(ratatui::style::Style::default());
    t.set_wrap_mode(WrapMode::WordOrGlyph);
    t
}

impl Editor {
    pub fn new_task(default_script: Option<&str>) -> Self {
        let mut script = field(
            "empty: the built-in agent · a steps file · several, comma-separated, side by side · x3: three attempts",
        );
        if let Some(s) = default_script {
            script.insert_str(s);
        }
        Editor {
            kind: EditorKind::NewTask,
            title: field("what should the agent do? (one line)"),
            prompt: field("details, context, acceptance criteria…"),
            script,
            focus: 0,
            error: None,
            confirm_discard: false,
            waiting: false,
        }
    }

    pub fn issue(default_script: Option<&str>) -> Self {
        Editor {
            kind: EditorKind::Issue,
            title: field("owner/repo#12, #12 (this repository) or the issue's URL"),
            prompt: field("optional: your own notes, added after the issue"),
            ..Editor::new_task(default_script)
        }
    }

    pub fn feedback(id: TaskId, title: String) -> Self {
        Editor {
            kind: EditorKind::Feedback { id, title },
            title: field(""),
            prompt: field("what should the agent change? it continues in the same workspace"),
            script: field(""),
            focus: 1,
            error: None,
            confirm_discard: false,
            waiting: false,
        }
    }

    /// The new-task editor filled in (duplicating a task).
    pub fn filled(title: &str, prompt: &str, agent: &str) -> Self {
        let mut e = Editor::new_task(Some(agent).filter(|a| !a.is_empty()));
        e.title.insert_str(title);
        e.prompt.insert_str(prompt);
        e
    }

    /// The editor of a queued task, holding what it has now.
    pub fn edit(task: &crate::protocol::TaskRecord) -> Self {
        let agent_text = match &task.agent {
            crate::protocol::AgentSpec::Scripted { source, .. } => source.clone(),
            _ => String::new(),
        };
        let mut e = Editor::filled(&task.title, &task.prompt, &agent_text);
        e.kind = EditorKind::Edit {
            id: task.id.clone(),
            agent: task.agent.clone(),
            agent_text,
        };
        e
    }

    /// A comment on `place` of task `id`'s diff.
    pub fn comment(id: TaskId, place: super::patch::Place) -> Self {
        Editor {
            kind: EditorKind::Comment { id, place },
            prompt: field("what should change here? it goes into the next feedback"),
            ..Editor::feedback(TaskId::random(), String::new())
        }
    }

    /// The feedback editor, its text already there (the diff's comments, say).
    pub fn feedback_with(id: TaskId, title: String, text: &str) -> Self {
        let mut e = Editor::feedback(id, title);
        e.prompt.insert_str(text);
        e
    }

    fn fields(&self) -> &'static [usize] {
        match self.kind {
            EditorKind::NewTask | EditorKind::Issue | EditorKind::Edit { .. } => &[0, 1, 2],
            EditorKind::Feedback { .. } | EditorKind::Comment { .. } => &[1],
        }
    }

    fn focused(&mut self) -> &mut TextArea<'static> {
        match self.focus {
            0 => &mut self.title,
            2 => &mut self.script,
            _ => &mut self.prompt,
        }
    }

    pub fn next_field(&mut self, back: bool) {
        let f = self.fields();
        let i = f.iter().position(|x| *x == self.focus).unwrap_or(0);
        let n = f.len();
        self.focus = f[if back { (i + n - 1) % n } else { (i + 1) % n }];
    }

    /// Text input for the focused field. Enter in a one-line field moves on.
    pub fn input(&mut self, key: KeyEvent) {
        self.confirm_discard = false;
        self.error = None;
        match key.code {
            KeyCode::Tab => self.next_field(false),
            KeyCode::BackTab => self.next_field(true),
            KeyCode::Enter if self.focus != 1 => self.next_field(false),
            _ => {
                self.focused().input(key);
            }
        }
    }

    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let text = if self.focus == 1 {
            text
        } else {
            text.replace('\n', " ")
        };
        self.focused().insert_str(text);
    }

    pub fn title_text(&self) -> String {
        self.title.lines().join(" ").trim().to_string()
    }

    pub fn prompt_text(&self) -> String {
        self.prompt.lines().join("\n").trim().to_string()
    }

    pub fn script_text(&self) -> String {
        self.script.lines().join("").trim().to_string()
    }

    /// Whether closing would lose something typed.
    pub fn has_text(&self) -> bool {
        !self.title_text().is_empty() || !self.prompt_text().is_empty()
    }
}
