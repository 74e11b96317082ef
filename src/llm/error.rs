//! What went wrong talking to a model, decided once from the HTTP status, headers and body.
//!
//! Terminal errors (bad key, quota, context too long) are never retried; rate limits and
//! outages are. Messages never contain the API key and never echo an HTML page.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("invalid API key for {provider} (HTTP {status}): {message}")]
    Auth {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("rate limited by {provider}: {message}")]
    RateLimited {
        provider: String,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("quota or spend limit reached at {provider}: {message}")]
    Quota { provider: String, message: String },
    #[error("context too long for {provider}: {message}")]
    ContextTooLong { provider: String, message: String },
    #[error("{provider} unavailable{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Unavailable {
        provider: String,
        status: Option<u16>,
        message: String,
    },
    #[error("the stream from {provider} was cut: {message}")]
    Stream { provider: String, message: String },
    #[error("{provider} rejected the request (HTTP {status}): {message}")]
    BadRequest {
        provider: String,
        status: u16,
        message: String,
    },
    #[error("unexpected response from {provider}: {message}")]
    Protocol { provider: String, message: String },
}

impl LlmError {
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            LlmError::RateLimited { .. } | LlmError::Unavailable { .. } | LlmError::Stream { .. }
        )
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The `message` of a JSON error body (`{"error": {"message": …}}` and friends), else a
/// short, safe excerpt.
pub(super) fn body_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.pointer("/message"))
            .or_else(|| v.pointer("/error"));
        if let Some(m) = msg.and_then(|m| m.as_str()) {
            return crate::text::ellipsize(&crate::text::inert(m), 300);
        }
    }
    let t = body.trim_start();
    if t.starts_with('<') {
        return "an HTML page instead of an API answer (a proxy or gateway error?)".into();
    }
    if t.is_empty() {
        return "empty response".into();
    }
    crate::text::ellipsize(&crate::text::inert(t.lines().next().unwrap_or("")), 200)
}

/// Classifies a failed HTTP answer. `secret` (the API key) is removed from messages.
pub(super) fn classify(
    provider: &str,
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    secret: Option<&str>,
) -> LlmError {
    let mut message = body_message(body);
    if let Some(s) = secret.filter(|s| s.len() >= 4) {
        message = message.replace(s, "[REDACTED:api-key]");
    }
    let lower = body.to_ascii_lowercase();
    let provider = provider.to_string();
    let context = lower.contains("context_length")
        || lower.contains("context length")
        || lower.contains("prompt is too long")
        || lower.contains("maximum context")
        || lower.contains("too many tokens");
    let quota = lower.contains("insufficient_quota")
        || lower.contains("enforced_spend_limit")
        || lower.contains("credit balance");
    match status {
        401 | 403 => LlmError::Auth {
            provider,
            status,
            message,
        },
        _ if quota => LlmError::Quota { provider, message },
        400 | 413 if context => LlmError::ContextTooLong { provider, message },
        413 => LlmError::ContextTooLong { provider, message },
        429 => LlmError::RateLimited {
            provider,
            retry_after: retry_after.and_then(parse_retry_after),
            message,
        },
        500..=599 => LlmError::Unavailable {
            provider,
            status: Some(status),
            message,
        },
        _ => LlmError::BadRequest {
            provider,
            status,
            message,
        },
    }
}

/// `retry-after` in seconds (the HTTP-date form is rare for APIs; treated as absent).
fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_bodies_are_classified() {
        let c =
            |status, body: &str| classify("openai", status, Some("2"), body, Some("sk-secret-key"));
        assert!(matches!(
            c(401, r#"{"error":{"message":"bad key sk-secret-key"}}"#),
            LlmError::Auth { .. }
        ));
        assert_eq!(
            c(401, r#"{"error":{"message":"bad key sk-secret-key"}}"#).to_string(),
            "invalid API key for openai (HTTP 401): bad key [REDACTED:api-key]"
        );
        assert_eq!(c(429, "{}").retry_after(), Some(Duration::from_secs(2)));
        assert!(matches!(
            c(429, r#"{"error":{"code":"insufficient_quota"}}"#),
            LlmError::Quota { .. }
        ));
        assert!(matches!(
            c(429, r#"{"error":{"type":"enforced_spend_limit_reached"}}"#),
            LlmError::Quota { .. }
        ));
        assert!(matches!(
            c(
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#
            ),
            LlmError::ContextTooLong { .. }
        ));
        assert!(matches!(
            c(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error"}}"#
            ),
            LlmError::Unavailable { .. }
        ));
        assert!(matches!(
            c(503, "<html><body>Bad gateway</body></html>"),
            LlmError::Unavailable { .. }
        ));
        assert!(
            c(502, "<html>x</html>")
                .to_string()
                .contains("an HTML page"),
            "never the page itself"
        );
        assert!(matches!(c(400, "{}"), LlmError::BadRequest { .. }));
    }

    #[test]
    fn only_transient_errors_retry() {
        let c = |status| classify("p", status, None, "{}", None).retryable();
        assert!(c(429) && c(500) && c(502) && c(503) && c(529));
        assert!(!c(400) && !c(401) && !c(403) && !c(413));
    }
}
