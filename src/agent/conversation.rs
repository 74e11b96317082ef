//! The built-in agent's conversation on disk, written after every model turn and every
//! tool result, so an attempt can go on where it stopped.
//!
//! Holds the messages, the results of the last turn's tool calls made so far, the
//! budgets used, and the session's call count at the time (so a resumed session knows
//! which calls this state already covers). Reads the older format (a bare message list)
//! too. It decides nothing about the model; `LlmAgent` does.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::llm::{Block, Message, Role, Usage};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub messages: Vec<Message>,
    /// Results of the last assistant message's tool calls, as far as they got.
    #[serde(default)]
    pub pending: Vec<Block>,
    /// Calls the session had made when this was written.
    #[serde(default)]
    pub calls: u32,
    #[serde(default)]
    pub turns: u32,
    #[serde(default)]
    pub usage: Usage,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OnDisk {
    Whole(Conversation),
    Messages(Vec<Message>),
}

impl Conversation {
    /// The conversation saved at `path`, if there is a readable one.
    pub fn load(path: &Path) -> Option<Conversation> {
        let bytes = std::fs::read(path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(OnDisk::Whole(c)) => Some(c),
            Ok(OnDisk::Messages(messages)) => Some(Conversation {
                messages,
                ..Default::default()
            }),
            Err(e) => {
                tracing::warn!("{}: unreadable conversation ({e})", path.display());
                None
            }
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::paths::write_private(path, &json)
    }

    /// Tool calls of the last assistant message that have no result yet, in order.
    pub fn open_calls(&self) -> Vec<(String, String, serde_json::Value)> {
        let Some(last) = self.messages.last().filter(|m| m.role == Role::Assistant) else {
            return Vec::new();
        };
        let answered = |id: &str| {
            self.pending
                .iter()
                .any(|b| matches!(b, Block::ToolResult { id: r, .. } if r == id))
        };
        last.content
            .iter()
            .filter_map(|b| match b {
                Block::ToolUse { id, name, input } if !answered(id) => {
                    Some((id.clone(), name.clone(), input.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// The last turn's tool calls that were answered: into the conversation as the
    /// user's message (what the model is sent next).
    pub fn settle(&mut self) {
        if !self.pending.is_empty() {
            let content = std::mem::take(&mut self.pending);
            self.messages.push(Message {
                role: Role::User,
                content,
            });
        }
    }

    /// The summary, when the conversation ended with a `finish` call that was answered.
    pub fn finished(&self) -> Option<String> {
        let n = self.messages.len();
        let (asked, answer) = (self.messages.get(n.checked_sub(2)?)?, &self.messages[n - 1]);
        if answer.role != Role::User {
            return None;
        }
        asked.content.iter().find_map(|b| match b {
            Block::ToolUse { id, name, input } if name == "finish" => {
                let answered = answer
                    .content
                    .iter()
                    .any(|r| matches!(r, Block::ToolResult { id: a, .. } if a == id));
                answered.then(|| {
                    input
                        .get("summary")
                        .and_then(|s| s.as_str())
                        .unwrap_or_default()
                        .to_string()
                })
            }
            _ => None,
        })
    }

    /// Ends calls that will never get a result (the attempt stopped): the providers refuse
    /// a conversation in which a tool call has no answer.
    pub fn close_open_calls(&mut self) {
        let open = self.open_calls();
        for (id, _, _) in open {
            self.pending.push(Block::ToolResult {
                id,
                content: "[not run: the attempt ended before this call]".into(),
                is_error: true,
            });
        }
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_(id: &str, name: &str, input: serde_json::Value) -> Block {
        Block::ToolUse {
            id: id.into(),
            name: name.into(),
            input,
        }
    }

    fn result(id: &str) -> Block {
        Block::ToolResult {
            id: id.into(),
            content: "ok".into(),
            is_error: false,
        }
    }

    fn assistant(content: Vec<Block>) -> Message {
        Message {
            role: Role::Assistant,
            content,
        }
    }

    #[test]
    fn open_calls_are_those_without_a_result_yet() {
        let mut c = Conversation {
            messages: vec![
                Message::user("task"),
                assistant(vec![
                    use_("a", "bash", serde_json::json!({"command": "ls"})),
                    use_("b", "bash", serde_json::json!({"command": "pwd"})),
                ]),
            ],
            pending: vec![result("a")],
            ..Default::default()
        };
        let open = c.open_calls();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].0, "b");
        c.close_open_calls();
        assert!(c.open_calls().is_empty());
        assert_eq!(c.messages.last().unwrap().content.len(), 2);
        assert!(c.pending.is_empty());
    }

    #[test]
    fn an_answered_finish_gives_the_summary() {
        let mut c = Conversation {
            messages: vec![
                Message::user("task"),
                assistant(vec![use_(
                    "f",
                    "finish",
                    serde_json::json!({"summary": "Fixed add()"}),
                )]),
            ],
            ..Default::default()
        };
        assert_eq!(c.finished(), None, "not answered yet");
        c.pending.push(result("f"));
        c.settle();
        assert_eq!(c.finished().as_deref(), Some("Fixed add()"));
    }

    #[test]
    fn the_older_format_still_loads() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("conversation.json");
        let old = vec![Message::user("task")];
        std::fs::write(&p, serde_json::to_vec(&old).unwrap()).unwrap();
        let c = Conversation::load(&p).unwrap();
        assert_eq!(c.messages, old);
        assert_eq!(c.calls, 0);
        let new = Conversation {
            messages: old,
            calls: 4,
            turns: 2,
            ..Default::default()
        };
        new.save(&p).unwrap();
        assert_eq!(Conversation::load(&p).unwrap(), new);
        std::fs::write(&p, "{torn").unwrap();
        assert_eq!(Conversation::load(&p), None);
    }
}
