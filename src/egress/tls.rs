//! The server name a TLS client asks for, from the first record of its ClientHello
//! (parsed by tls-parser), so a tunnel opened to one host cannot carry a handshake for
//! another. Reads only what that record needs; anything that is not a TLS handshake
//! is left alone (`None`).

use tls_parser::{
    TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_extensions, parse_tls_plaintext,
};
use tokio::io::{AsyncRead, AsyncReadExt};

/// A TLS record's header, and the largest record a ClientHello fits in.
const HEADER: usize = 5;
const MAX_RECORD: usize = 16 << 10;

/// Reads the client's first TLS record into `buf` (which may hold its start already)
/// and returns the SNI it names, if it is a ClientHello that names one.
pub(super) async fn read_hello<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<String>> {
    let mut chunk = [0u8; 4096];
    loop {
        if buf.len() >= HEADER {
            if buf[0] != 0x16 {
                return Ok(None);
            }
            let len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
            if len > MAX_RECORD {
                return Ok(None);
            }
            if buf.len() >= HEADER + len {
                return Ok(sni(&buf[..HEADER + len]));
            }
        } else if buf.first().is_some_and(|&b| b != 0x16) {
            return Ok(None);
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The host name in a ClientHello record.
pub(super) fn sni(record: &[u8]) -> Option<String> {
    let (_, plain) = parse_tls_plaintext(record).ok()?;
    plain.msg.iter().find_map(|m| match m {
        TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) => {
            let (_, exts) = parse_tls_extensions(hello.ext?).ok()?;
            exts.iter().find_map(|e| match e {
                TlsExtension::SNI(names) => names
                    .iter()
                    .find_map(|(_, n)| std::str::from_utf8(n).ok().map(str::to_string)),
                _ => None,
            })
        }
        _ => None,
    })
}
