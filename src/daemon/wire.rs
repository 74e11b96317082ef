//! How messages cross a connection: newline-delimited JSON, one message per line (the
//! messages are `crate::protocol`'s). Lines are capped so a broken peer cannot make
//! either side buffer without bound.

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::MAX_LINE;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the connection closed")]
    Closed,
    #[error("a message longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("unreadable message: {0}")]
    Bad(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes one message as a line.
pub async fn send<T: Serialize>(
    w: &mut (impl AsyncWrite + Unpin),
    msg: &T,
) -> Result<(), WireError> {
    let mut line = serde_json::to_vec(msg).map_err(|e| WireError::Bad(e.to_string()))?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message; `Closed` at the end of the stream.
pub async fn recv<T: for<'de> Deserialize<'de>>(
    r: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> Result<T, WireError> {
    buf.clear();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Err(WireError::Closed);
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                buf.extend_from_slice(&chunk[..i]);
                r.consume(i + 1);
                break;
            }
            None => {
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                r.consume(n);
            }
        }
        if buf.len() > MAX_LINE {
            return Err(WireError::TooLong);
        }
    }
    serde_json::from_slice(buf).map_err(|e| WireError::Bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientMsg, PROTOCOL};

    #[tokio::test]
    async fn messages_round_trip_one_per_line() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_, mut w) = tokio::io::split(a);
        let (r, _) = tokio::io::split(b);
        let mut r = tokio::io::BufReader::new(r);
        let hello = ClientMsg::Hello {
            protocol: PROTOCOL,
            client: "test".into(),
        };
        send(&mut w, &hello).await.unwrap();
        send(&mut w, &ClientMsg::Stop).await.unwrap();
        let mut buf = Vec::new();
        assert_eq!(recv::<ClientMsg>(&mut r, &mut buf).await.unwrap(), hello);
        assert_eq!(
            recv::<ClientMsg>(&mut r, &mut buf).await.unwrap(),
            ClientMsg::Stop
        );
        drop(w);
        assert!(matches!(
            recv::<ClientMsg>(&mut r, &mut buf).await,
            Err(WireError::Closed)
        ));
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_, mut w) = tokio::io::split(a);
        let (r, _) = tokio::io::split(b);
        let mut r = tokio::io::BufReader::new(r);
        w.write_all(b"{not json\n").await.unwrap();
        let mut buf = Vec::new();
        assert!(matches!(
            recv::<ClientMsg>(&mut r, &mut buf).await,
            Err(WireError::Bad(_))
        ));
    }
}
