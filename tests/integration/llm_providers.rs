//! Both providers against a fake server that streams like the real APIs: text deltas, tool
//! calls split across chunks, usage, and every way a real server fails.

use std::time::{Duration, Instant};

use drover::llm::retry::{RetryPolicy, with_retry};
use drover::llm::{
    Anthropic, Block, Endpoint, LlmError, Message, OpenAi, Provider, Request, StopReason, ToolSpec,
};
use serde_json::json;

use crate::fake_llm::{FakeLlm, Reply, anthropic_turn, openai_turn, sse};

fn endpoint(url: &str) -> Endpoint {
    Endpoint {
        base_url: url.to_string(),
        api_key: Some("sk-test-KEY123".into()),
        idle_timeout: Duration::from_secs(2),
    }
}

fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "read_file",
        description: "Read a file",
        schema: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }]
}

async fn turn(p: &dyn Provider) -> (Result<drover::llm::Response, LlmError>, String) {
    let msgs = vec![Message::user("fix the bug")];
    let tools = tools();
    let req = Request {
        model: "m",
        system: "you are an agent",
        messages: &msgs,
        tools: &tools,
        max_tokens: 512,
        temperature: Some(0.0),
    };
    let mut streamed = String::new();
    let r = p.turn(&req, &mut |t| streamed.push_str(t)).await;
    (r, streamed)
}

#[tokio::test]
async fn openai_streams_text_and_split_tool_calls() {
    let args = json!({"path": "calc.py"});
    let (fake, url) = FakeLlm::start(vec![sse(openai_turn(
        "Let me look at the file.",
        &[("read_file", args.clone())],
        5,
    ))])
    .await;
    let (r, streamed) = turn(&OpenAi::new(endpoint(&url)).unwrap()).await;
    let r = r.unwrap();
    assert_eq!(streamed, "Let me look at the file.");
    assert_eq!(r.stop, StopReason::ToolUse);
    assert_eq!(
        r.content[1],
        Block::ToolUse {
            id: "call_0_read_file".into(),
            name: "read_file".into(),
            input: args
        }
    );
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (1000, 50));
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/chat/completions");
    assert_eq!(req.header("authorization"), Some("Bearer sk-test-KEY123"));
    assert_eq!(req.body["stream"], true);
    assert_eq!(req.body["messages"][0]["role"], "system");
    assert_eq!(req.body["tools"][0]["function"]["name"], "read_file");
}

#[tokio::test]
async fn openai_quirks_missing_index_whole_arguments_stop_with_tools_no_usage() {
    let chunks = vec![
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":\"c1\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\": \\\"a.py\\\"}\"}}]}}]}\n\n".to_string(),
        "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n".to_string(),
        "data: [DONE]\n\n".to_string(),
    ];
    let (_fake, url) = FakeLlm::start(vec![sse(chunks)]).await;
    let (r, _) = turn(&OpenAi::new(endpoint(&url)).unwrap()).await;
    let r = r.unwrap();
    assert_eq!(
        r.stop,
        StopReason::ToolUse,
        "tool calls win over finish_reason stop"
    );
    assert_eq!(
        r.content,
        vec![Block::ToolUse {
            id: "c1".into(),
            name: "read_file".into(),
            input: json!({"path": "a.py"})
        }]
    );
    assert_eq!(r.usage.total(), 0);
}

#[tokio::test]
async fn anthropic_streams_blocks_and_partial_json() {
    let args = json!({"path": "src/lib.rs"});
    let (fake, url) = FakeLlm::start(vec![sse(anthropic_turn(
        "Reading it now.",
        &[("read_file", args.clone())],
        4,
    ))])
    .await;
    let (r, streamed) = turn(&Anthropic::new(endpoint(&url)).unwrap()).await;
    let r = r.unwrap();
    assert_eq!(streamed, "Reading it now.");
    assert_eq!(
        r.content[0],
        Block::Text {
            text: "Reading it now.".into()
        }
    );
    assert_eq!(
        r.content[1],
        Block::ToolUse {
            id: "toolu_1".into(),
            name: "read_file".into(),
            input: args
        }
    );
    assert_eq!(
        (r.stop, r.usage.input_tokens, r.usage.output_tokens),
        (StopReason::ToolUse, 1200, 60)
    );
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.header("x-api-key"), Some("sk-test-KEY123"));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(req.body["system"], "you are an agent");
    assert_eq!(req.body["tools"][0]["input_schema"]["type"], "object");
}

#[tokio::test]
async fn anthropic_error_event_mid_stream_is_an_outage() {
    let mut chunks = anthropic_turn("Partial", &[], 1);
    chunks.truncate(3);
    chunks.push("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".into());
    let (_fake, url) = FakeLlm::start(vec![sse(chunks)]).await;
    let (r, _) = turn(&Anthropic::new(endpoint(&url)).unwrap()).await;
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::Unavailable {
                status: Some(529),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.retryable());
}

#[tokio::test]
async fn a_cut_stream_is_retryable_and_the_retry_succeeds() {
    let (fake, url) = FakeLlm::start(vec![
        Reply::Sse {
            chunks: openai_turn("one two three four", &[], 1),
            cut_after: Some(3),
        },
        sse(openai_turn("done", &[], 1)),
    ])
    .await;
    let p = OpenAi::new(endpoint(&url)).unwrap();
    let policy = RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(10),
        cap: Duration::from_millis(20),
    };
    let mut seen = Vec::new();
    let r = with_retry(
        policy,
        |_| async { turn(&p).await.0 },
        |e, _, n| seen.push((e.clone(), n)),
    )
    .await;
    assert_eq!(r.unwrap().text(), "done");
    assert!(matches!(seen[0].0, LlmError::Stream { .. }), "{seen:?}");
    assert!(fake.requests().len() >= 2);
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let (fake, url) = FakeLlm::start(vec![
        Reply::Status {
            code: 429,
            headers: vec![("retry-after".into(), "1".into())],
            body: r#"{"error":{"message":"slow down"}}"#.into(),
        },
        sse(openai_turn("ok", &[], 1)),
    ])
    .await;
    let p = OpenAi::new(endpoint(&url)).unwrap();
    let started = Instant::now();
    let mut notes = Vec::new();
    let r = with_retry(
        RetryPolicy::default(),
        |_| async { turn(&p).await.0 },
        |e, wait, n| notes.push(format!("{e}; retrying in {wait:?} (attempt {n})")),
    )
    .await;
    assert_eq!(r.unwrap().text(), "ok");
    let reqs = fake.requests();
    assert!(
        reqs[1].at.duration_since(reqs[0].at) >= Duration::from_secs(1),
        "retried too early"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        notes,
        ["rate limited by openai: slow down; retrying in 1s (attempt 2)"]
    );
}

#[tokio::test]
async fn server_errors_back_off_then_give_up() {
    let replies = (0..4)
        .map(|i| Reply::Status {
            code: [500, 502, 503, 529][i],
            headers: vec![],
            body: "<html>gateway</html>".into(),
        })
        .collect();
    let (fake, url) = FakeLlm::start(replies).await;
    let p = Anthropic::new(endpoint(&url)).unwrap();
    let policy = RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(40),
        cap: Duration::from_millis(400),
    };
    let r = with_retry(policy, |_| async { turn(&p).await.0 }, |_, _, _| {}).await;
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::Unavailable {
                status: Some(529),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("an HTML page"), "{e}");
    let at: Vec<Instant> = fake.requests().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 4);
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::from_millis(20) && gaps[2] >= Duration::from_millis(80),
        "{gaps:?}"
    );
}

#[tokio::test]
async fn terminal_errors_are_tried_once_with_a_specific_message() {
    let cases = [
        (
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-test-KEY123"}}"#,
            "invalid API key for openai (HTTP 401): Incorrect API key provided: [REDACTED:api-key]",
        ),
        (
            429,
            r#"{"error":{"code":"insufficient_quota","message":"You exceeded your current quota"}}"#,
            "quota or spend limit reached at openai: You exceeded your current quota",
        ),
        (
            400,
            r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#,
            "context too long for openai: This model's maximum context length is 8192 tokens",
        ),
    ];
    for (code, body, expected) in cases {
        let (fake, url) = FakeLlm::start(vec![Reply::Status {
            code,
            headers: vec![],
            body: body.into(),
        }])
        .await;
        let p = OpenAi::new(endpoint(&url)).unwrap();
        let r = with_retry(
            RetryPolicy::default(),
            |_| async { turn(&p).await.0 },
            |_, _, _| {},
        )
        .await;
        assert_eq!(r.unwrap_err().to_string(), expected);
        assert_eq!(fake.requests().len(), 1, "exactly one attempt for {code}");
    }
}

#[tokio::test]
async fn a_stalled_stream_times_out_as_cut() {
    let mut chunks = openai_turn("never finished", &[], 1);
    chunks.truncate(1);
    // The server sends one chunk, then keeps the connection open and says nothing.
    let (_fake, url) = FakeLlm::start(vec![Reply::Stall { chunks }]).await;
    let mut e = endpoint(&url);
    e.idle_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let (r, streamed) = turn(&OpenAi::new(e).unwrap()).await;
    assert_eq!(streamed, "never ");
    let err = r.unwrap_err();
    assert!(
        matches!(err, LlmError::Stream { .. }) && err.retryable(),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the idle timeout applies"
    );
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    let p = OpenAi::new(endpoint("http://127.0.0.1:9")).unwrap();
    let (r, _) = turn(&p).await;
    let e = r.unwrap_err();
    assert!(
        matches!(e, LlmError::Unavailable { status: None, .. }),
        "{e:?}"
    );
}
