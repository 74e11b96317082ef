//! Server-sent events from a streaming HTTP answer, with an idle timeout: a stream that
//! goes silent, or ends without its end marker, is reported as cut (and can be retried).

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;

use super::LlmError;

pub(super) enum Flow {
    Continue,
    /// The end marker arrived ([DONE], message_stop).
    Done,
}

/// Feeds every event (name, data) to `f` until it says `Done`; errors if the stream stops
/// first.
pub(super) async fn for_each(
    resp: reqwest::Response,
    idle: Duration,
    provider: &str,
    mut f: impl FnMut(&str, &str) -> Result<Flow, LlmError>,
) -> Result<(), LlmError> {
    let cut = |message: String| LlmError::Stream {
        provider: provider.to_string(),
        message,
    };
    let mut stream = resp.bytes_stream().eventsource();
    loop {
        let next = tokio::time::timeout(idle, stream.next())
            .await
            .map_err(|_| cut(format!("no data for {}s", idle.as_secs())))?;
        match next {
            None => {
                return Err(cut(
                    "the connection closed before the end of the answer".into()
                ));
            }
            Some(Err(e)) => return Err(cut(e.to_string())),
            Some(Ok(ev)) => {
                if let Flow::Done = f(&ev.event, &ev.data)? {
                    return Ok(());
                }
            }
        }
    }
}
