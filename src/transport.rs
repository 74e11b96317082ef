//! How the protocol's messages travel between a front end and an engine host: as JSON
//! lines over a Unix socket between processes, or as the messages themselves over
//! channels within one. Either way one side of a conversation is a `Pipe` (what it
//! sends, what it receives), so the host and its clients have one code path for both.
//!
//! Lines are capped at `MAX_LINE`, so a broken or hostile peer cannot make either side
//! buffer without bound; an unreadable or oversized line ends the conversation.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use crate::protocol::MAX_LINE;

/// One side of a conversation: `tx` sends `Out`, `rx` receives `In`; `rx` ends when the
/// other side is gone.
pub struct Pipe<In, Out> {
    pub tx: mpsc::UnboundedSender<Out>,
    pub rx: mpsc::UnboundedReceiver<In>,
}

/// Both sides of a conversation within one process.
pub fn pair<A, B>() -> (Pipe<A, B>, Pipe<B, A>) {
    let (a_tx, a_rx) = mpsc::unbounded_channel();
    let (b_tx, b_rx) = mpsc::unbounded_channel();
    (Pipe { tx: a_tx, rx: b_rx }, Pipe { tx: b_tx, rx: a_rx })
}

/// One side of a conversation over a socket: a task reads lines into `rx`, another
/// writes what `tx` is given (dropping `tx` closes the socket for writing).
pub fn over_socket<In, Out>(sock: UnixStream) -> Pipe<In, Out>
where
    In: DeserializeOwned + Send + 'static,
    Out: Serialize + Send + Sync + 'static,
{
    let (r, mut w) = sock.into_split();
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    tokio::spawn(async move {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            match recv::<In>(&mut r, &mut buf).await {
                Ok(msg) => {
                    if in_tx.send(msg).is_err() {
                        break;
                    }
                }
                Err(WireError::Closed) => break,
                Err(e) => {
                    tracing::debug!("connection: {e}");
                    break;
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            // A peer that stops reading (a suspended TUI) is let go rather than have
            // what it does not read pile up here; it catches up when it comes back.
            match tokio::time::timeout(WRITE_PATIENCE, send(&mut w, &msg)).await {
                Ok(Ok(())) => {}
                // Never sent (the other side would refuse it); the connection goes on.
                Ok(Err(WireError::TooLong)) => {
                    tracing::warn!("dropped a message over {MAX_LINE} bytes")
                }
                Ok(Err(e)) => {
                    tracing::debug!("connection: {e}");
                    break;
                }
                Err(_) => {
                    tracing::info!("the peer read nothing for {WRITE_PATIENCE:?}: disconnected");
                    break;
                }
            }
        }
        let _ = w.shutdown().await;
    });
    Pipe {
        tx: out_tx,
        rx: in_rx,
    }
}

/// How long a write may wait for the peer to read.
const WRITE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

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
    if line.len() > MAX_LINE {
        return Err(WireError::TooLong);
    }
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message; `Closed` at the end of the stream.
pub async fn recv<T: DeserializeOwned>(
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
        let mut r = BufReader::new(r);
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

    /// A message over the limit is never written (the peer would drop the connection
    /// on it); what follows it still arrives.
    #[tokio::test]
    async fn a_message_over_the_limit_is_skipped_and_the_connection_goes_on() {
        let (a, b) = UnixStream::pair().unwrap();
        let out: Pipe<ClientMsg, ClientMsg> = over_socket(a);
        let mut back: Pipe<ClientMsg, ClientMsg> = over_socket(b);
        let huge = ClientMsg::Hello {
            protocol: PROTOCOL,
            client: "x".repeat(MAX_LINE + 1),
        };
        out.tx.send(huge).unwrap();
        out.tx.send(ClientMsg::Stop).unwrap();
        assert_eq!(back.rx.recv().await, Some(ClientMsg::Stop));
    }

    /// A peer that reads nothing is let go after `WRITE_PATIENCE` (its messages would
    /// pile up in this process otherwise); one that reads keeps its connection.
    #[tokio::test(start_paused = true)]
    async fn a_peer_that_stops_reading_is_let_go() {
        let (a, b) = UnixStream::pair().unwrap();
        let out: Pipe<ClientMsg, ClientMsg> = over_socket(a);
        let big = || ClientMsg::Hello {
            protocol: PROTOCOL,
            client: "x".repeat(1 << 20),
        };
        // Positive control: within the patience, the connection stands.
        for _ in 0..8 {
            out.tx.send(big()).unwrap();
        }
        tokio::time::sleep(WRITE_PATIENCE / 2).await;
        assert!(out.tx.send(big()).is_ok(), "still connected");
        tokio::time::sleep(WRITE_PATIENCE).await;
        assert!(out.tx.send(big()).is_err(), "let go");
        drop(b);
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_, mut w) = tokio::io::split(a);
        let (r, _) = tokio::io::split(b);
        let mut r = BufReader::new(r);
        w.write_all(b"{not json\n").await.unwrap();
        let mut buf = Vec::new();
        assert!(matches!(
            recv::<ClientMsg>(&mut r, &mut buf).await,
            Err(WireError::Bad(_))
        ));
    }

    #[tokio::test]
    async fn an_endless_line_is_refused_without_reading_it_all() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_, mut w) = tokio::io::split(a);
        let (r, _) = tokio::io::split(b);
        let mut r = BufReader::new(r);
        tokio::spawn(async move {
            let chunk = vec![b'x'; 1 << 16];
            while w.write_all(&chunk).await.is_ok() {}
        });
        let mut buf = Vec::new();
        assert!(matches!(
            recv::<ClientMsg>(&mut r, &mut buf).await,
            Err(WireError::TooLong)
        ));
    }
}
