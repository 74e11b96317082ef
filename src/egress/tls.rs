//! What a TLS client asks for in its ClientHello (parsed by tls-parser), so a tunnel
//! opened to one host cannot carry a handshake for another. Only a ClientHello whole
//! in the first record is read (real clients send it so); anything else — another
//! protocol, a split or unreadable hello, an encrypted ClientHello (ECH), which hides
//! the real name — is `Hello::Unreadable`, and the tunnel is refused.

use tls_parser::{
    TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_extensions, parse_tls_plaintext,
};
use tokio::io::{AsyncRead, AsyncReadExt};

/// A TLS record's header, and the largest record.
const HEADER: usize = 5;
const MAX_RECORD: usize = 16 << 10;
/// The extension of an encrypted ClientHello.
const ECH: u16 = 0xfe0d;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Hello {
    /// A ClientHello naming this server.
    Named(String),
    /// A ClientHello naming no server (a client connecting to an address).
    Unnamed,
    /// Not a ClientHello drover can read whole, or one that hides its name.
    Unreadable,
}

/// Reads the client's first TLS record into `buf` (which may hold its start already).
pub(super) async fn read_hello<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> std::io::Result<Hello> {
    let mut chunk = [0u8; 4096];
    loop {
        if buf.first().is_some_and(|&b| b != 0x16) {
            return Ok(Hello::Unreadable);
        }
        if buf.len() >= HEADER {
            let len = u16::from_be_bytes([buf[3], buf[4]]) as usize;
            if len > MAX_RECORD {
                return Ok(Hello::Unreadable);
            }
            if buf.len() >= HEADER + len {
                return Ok(hello(&buf[..HEADER + len]));
            }
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Hello::Unreadable);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// What the ClientHello in `record` asks for.
pub(super) fn hello(record: &[u8]) -> Hello {
    let Ok((_, plain)) = parse_tls_plaintext(record) else {
        return Hello::Unreadable;
    };
    let Some(hello) = plain.msg.iter().find_map(|m| match m {
        TlsMessage::Handshake(TlsMessageHandshake::ClientHello(h)) => Some(h),
        _ => None,
    }) else {
        return Hello::Unreadable;
    };
    let Some(ext) = hello.ext else {
        return Hello::Unnamed;
    };
    // A raw scan for ECH first: tls-parser may not know the extension.
    if extension_types(ext).any(|t| t == ECH) {
        return Hello::Unreadable;
    }
    let Ok((_, exts)) = parse_tls_extensions(ext) else {
        return Hello::Unreadable;
    };
    let names: Vec<&[u8]> = exts
        .iter()
        .filter_map(|e| match e {
            TlsExtension::SNI(names) => Some(names.iter().map(|(_, n)| *n).collect::<Vec<_>>()),
            _ => None,
        })
        .flatten()
        .collect();
    match names.as_slice() {
        [] => Hello::Unnamed,
        [one] => match std::str::from_utf8(one) {
            Ok(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()) => {
                Hello::Named(n.to_ascii_lowercase())
            }
            _ => Hello::Unreadable,
        },
        // More than one name: which one the server uses is not drover's to guess.
        _ => Hello::Unreadable,
    }
}

/// The types of the extensions in a ClientHello's extension block.
fn extension_types(mut ext: &[u8]) -> impl Iterator<Item = u16> + '_ {
    std::iter::from_fn(move || {
        if ext.len() < 4 {
            return None;
        }
        let t = u16::from_be_bytes([ext[0], ext[1]]);
        let len = u16::from_be_bytes([ext[2], ext[3]]) as usize;
        ext = ext.get(4 + len..).unwrap_or(&[]);
        Some(t)
    })
}
