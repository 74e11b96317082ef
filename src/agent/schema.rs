//! The tools as a model sees them (names, descriptions, JSON schemas), and the way back:
//! a model's tool call (name + JSON arguments) into a `ToolCall`, or an error the model
//! can read and correct.

use serde_json::{Value, json};

use crate::llm::ToolSpec;
use crate::protocol::ToolCall;

pub fn specs() -> Vec<ToolSpec> {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    vec![
        ToolSpec {
            name: "bash",
            description: "Run a shell command in /workspace (the repository). No network. Output is capped; prefer targeted commands.",
            schema: obj(
                json!({"command": {"type": "string"}, "timeout_secs": {"type": "integer", "description": "optional, seconds"}}),
                &["command"],
            ),
        },
        ToolSpec {
            name: "read_file",
            description: "Read a file (path relative to /workspace).",
            schema: obj(json!({"path": {"type": "string"}}), &["path"]),
        },
        ToolSpec {
            name: "write_file",
            description: "Create or overwrite a file with the given content.",
            schema: obj(
                json!({"path": {"type": "string"}, "content": {"type": "string"}}),
                &["path", "content"],
            ),
        },
        ToolSpec {
            name: "edit_file",
            description: "Replace the exact text `old` (which must occur exactly once) with `new` in a file.",
            schema: obj(
                json!({"path": {"type": "string"}, "old": {"type": "string"}, "new": {"type": "string"}}),
                &["path", "old", "new"],
            ),
        },
        ToolSpec {
            name: "list_files",
            description: "List files under a directory (default: the whole repository), honouring .gitignore.",
            schema: obj(json!({"path": {"type": "string"}}), &[]),
        },
        ToolSpec {
            name: "search",
            description: "Search file contents with a regular expression (ripgrep); prints path:line:text.",
            schema: obj(
                json!({"pattern": {"type": "string"}, "path": {"type": "string"}}),
                &["pattern"],
            ),
        },
        ToolSpec {
            name: "finish",
            description: "Call when the task is done, with a short summary of what you changed and why.",
            schema: obj(json!({"summary": {"type": "string"}}), &["summary"]),
        },
    ]
}

/// A model's tool call as a `ToolCall`, or why it is not one (sent back to the model).
pub fn parse(name: &str, input: &Value) -> Result<ToolCall, String> {
    let Value::Object(args) = input else {
        let raw = match input {
            Value::String(s) => crate::text::ellipsize(s, 200),
            other => other.to_string(),
        };
        return Err(format!(
            "the arguments for `{name}` are not a JSON object: {raw}"
        ));
    };
    if !specs().iter().any(|s| s.name == name) {
        let known: Vec<&str> = specs().iter().map(|s| s.name).collect();
        return Err(format!(
            "there is no tool `{name}`; the tools are: {}",
            known.join(", ")
        ));
    }
    let mut v = args.clone();
    v.insert("tool".into(), Value::String(name.into()));
    serde_json::from_value(Value::Object(v))
        .map_err(|e| format!("invalid arguments for `{name}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_parse_and_mistakes_explain_themselves() {
        assert_eq!(
            parse("read_file", &json!({"path": "a.py"})).unwrap(),
            ToolCall::ReadFile {
                path: "a.py".into()
            }
        );
        assert_eq!(
            parse("bash", &json!({"command": "ls", "timeout_secs": 5})).unwrap(),
            ToolCall::Bash {
                command: "ls".into(),
                timeout_secs: Some(5)
            }
        );
        assert!(
            parse("rm_rf", &json!({}))
                .unwrap_err()
                .starts_with("there is no tool `rm_rf`")
        );
        assert!(
            parse("read_file", &json!({}))
                .unwrap_err()
                .contains("missing field `path`")
        );
        assert!(
            parse("edit_file", &Value::String("{\"path\": ".into()))
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(
            parse("finish", &json!({"summary": 3}))
                .unwrap_err()
                .starts_with("invalid arguments for `finish`")
        );
    }

    #[test]
    fn every_spec_names_a_tool_call_variant() {
        for s in specs() {
            let required: Vec<&str> = s.schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let args: serde_json::Map<String, Value> = required
                .iter()
                .map(|r| (r.to_string(), json!("x")))
                .collect();
            assert!(parse(s.name, &Value::Object(args)).is_ok(), "{}", s.name);
        }
    }
}
