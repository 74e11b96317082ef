//! When to try a model call again, and how long to wait: `retry-after` when the server
//! says, otherwise exponential backoff with jitter, capped; never for terminal errors.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::LlmError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    pub fn delay(&self, attempt: u32, err: &LlmError) -> Duration {
        if let Some(d) = err.retry_after() {
            return d.min(self.cap.max(d));
        }
        let exp = self
            .base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.cap);
        // Full jitter in [50 %, 100 %] keeps many clients from retrying in lockstep.
        exp.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

/// Runs `call` until it succeeds, fails terminally, or attempts run out. `on_retry` is
/// told each wait (for "rate limited, retrying in 2s (attempt 2/6)").
pub async fn with_retry<T, F, Fut>(
    policy: RetryPolicy,
    mut call: F,
    mut on_retry: impl FnMut(&LlmError, Duration, u32),
) -> Result<T, LlmError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, LlmError>>,
{
    let mut attempt = 1;
    loop {
        match call(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) if e.retryable() && attempt < policy.max_attempts => {
                let wait = policy.delay(attempt, &e);
                on_retry(&e, wait, attempt + 1);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> LlmError {
        LlmError::Unavailable {
            provider: "p".into(),
            status: Some(503),
            message: "busy".into(),
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
        };
        for attempt in 1..=8u32 {
            let full = Duration::from_millis(100 * (1u64 << (attempt - 1)))
                .min(Duration::from_millis(1000));
            let d = p.delay(attempt, &unavailable());
            assert!(
                d >= full.mul_f64(0.5) && d <= full,
                "attempt {attempt}: {d:?}"
            );
        }
        let spread: std::collections::HashSet<u128> = (0..20)
            .map(|_| p.delay(3, &unavailable()).as_micros())
            .collect();
        assert!(spread.len() > 5, "jitter spreads the waits");
    }

    #[test]
    fn retry_after_wins() {
        let e = LlmError::RateLimited {
            provider: "p".into(),
            retry_after: Some(Duration::from_secs(2)),
            message: String::new(),
        };
        assert_eq!(RetryPolicy::default().delay(1, &e), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn terminal_errors_make_one_attempt_transient_ones_all() {
        let p = RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(2),
        };
        let mut calls = 0;
        let r: Result<(), _> = with_retry(
            p,
            |_| {
                calls += 1;
                async {
                    Err(LlmError::Auth {
                        provider: "p".into(),
                        status: 401,
                        message: String::new(),
                    })
                }
            },
            |_, _, _| {},
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 1);
        let mut calls = 0;
        let mut retries = Vec::new();
        let r: Result<(), _> = with_retry(
            p,
            |_| {
                calls += 1;
                async { Err(unavailable()) }
            },
            |_, _, n| retries.push(n),
        )
        .await;
        assert!(r.is_err());
        assert_eq!((calls, retries), (4, vec![2, 3, 4]));
    }
}
