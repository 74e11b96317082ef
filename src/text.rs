//! Bytes from containers to text we can store and show: bounded, lossless where it can be.
//!
//! `Capture` keeps the first and last N bytes of a stream of any length (so a 1 GB flood
//! costs 2·N of memory) and renders them with a `…N bytes truncated…` marker.
//! `Utf8Stream` decodes chunks that may split a character across frames. Rendering turns
//! invalid UTF-8 into U+FFFD and NUL into U+2400, so text stays printable and JSON-safe.
//! Making terminal escape sequences inert is the UI's job, not this module's.

use std::collections::VecDeque;

/// First `head_cap` and last `tail_cap` bytes of a stream, plus its total length.
#[derive(Debug, Clone)]
pub struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_cap: usize,
    tail_cap: usize,
    total: u64,
}

impl Capture {
    pub fn new(head_cap: usize, tail_cap: usize) -> Self {
        Capture {
            head: Vec::new(),
            tail: VecDeque::new(),
            head_cap,
            tail_cap,
            total: 0,
        }
    }

    /// Appends `bytes`; returns the part that went into the head (worth streaming live).
    pub fn push<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        self.total += bytes.len() as u64;
        let room = self.head_cap.saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(to_head);
        if self.tail_cap > 0 {
            let rest = if rest.len() > self.tail_cap {
                &rest[rest.len() - self.tail_cap..]
            } else {
                rest
            };
            let overflow = (self.tail.len() + rest.len()).saturating_sub(self.tail_cap);
            self.tail.drain(..overflow);
            self.tail.extend(rest);
        }
        to_head
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether the head holds all it may.
    pub fn head_full(&self) -> bool {
        self.head.len() >= self.head_cap
    }

    /// `bytes` more were seen but are not kept, and what the tail held so far goes too
    /// (a gap: what comes next is not adjacent to it).
    pub fn skip(&mut self, bytes: u64) {
        self.total += bytes;
        self.tail.clear();
    }

    /// Bytes seen but not kept.
    pub fn truncated(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// All kept bytes when nothing was dropped, else `None`.
    pub fn complete_bytes(&self) -> Option<Vec<u8>> {
        (self.truncated() == 0).then(|| {
            let mut v = self.head.clone();
            v.extend(self.tail.iter());
            v
        })
    }

    /// Head, marker, tail; decoded for display and storage.
    pub fn render(&self) -> String {
        let mut out = decode_lossy(&self.head);
        let dropped = self.truncated();
        if dropped > 0 {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&truncation_marker(dropped));
            out.push('\n');
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        // The tail may start mid-character: skip continuation bytes.
        let start = tail
            .iter()
            .position(|b| (b & 0xC0) != 0x80)
            .unwrap_or(tail.len());
        out.push_str(&decode_lossy(&tail[start..]));
        out
    }
}

pub fn truncation_marker(bytes: u64) -> String {
    format!("…{bytes} bytes truncated…")
}

/// UTF-8 with replacement; NUL shown as ␀ (it would end C strings and confuse terminals).
pub fn decode_lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{2400}")
}

/// Decodes a byte stream chunk by chunk without splitting characters across chunks.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let keep = incomplete_suffix(&self.pending);
        let split = self.pending.len() - keep;
        let text = decode_lossy(&self.pending[..split]);
        self.pending.drain(..split);
        text
    }

    pub fn finish(&mut self) -> String {
        let text = decode_lossy(&self.pending);
        self.pending.clear();
        text
    }
}

/// Joins a stream's small pieces into whole lines (or 4 KiB, or what came within
/// 100 ms), so a program that prints a character at a time costs an event per line, not
/// per character, and a secret split across pieces is redacted whole.
#[derive(Debug)]
pub struct Batcher {
    text: String,
    last: std::time::Instant,
}

impl Default for Batcher {
    fn default() -> Self {
        Batcher {
            text: String::new(),
            last: std::time::Instant::now(),
        }
    }
}

impl Batcher {
    const BYTES: usize = 4 << 10;
    const EVERY: std::time::Duration = std::time::Duration::from_millis(100);

    /// Takes a piece; what is ready to send, if anything.
    pub fn push(&mut self, piece: &str) -> Option<String> {
        self.text.push_str(piece);
        let due = self.text.len() >= Self::BYTES || self.last.elapsed() >= Self::EVERY;
        let cut = match due {
            true => self.text.len(),
            false => self.text.rfind('\n').map_or(0, |i| i + 1),
        };
        if cut == 0 {
            return None;
        }
        self.last = std::time::Instant::now();
        Some(self.text.drain(..cut).collect())
    }

    /// What is left at the end of the stream.
    pub fn finish(&mut self) -> Option<String> {
        (!self.text.is_empty()).then(|| std::mem::take(&mut self.text))
    }
}

/// Length of a trailing, possibly incomplete UTF-8 sequence (0 if the end is complete).
fn incomplete_suffix(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=3.min(n) {
        let b = bytes[n - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte, keep looking for the lead byte
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return 0,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

/// Shortens `s` to at most `max` chars on a char boundary, with an ellipsis.
pub fn ellipsize(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Shortens `s` to at most `max` terminal columns, with an ellipsis: a CJK character
/// or an emoji takes two. For one line of text already made `inert`.
pub fn ellipsize_width(s: &str, max: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if s.width() <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max.saturating_sub(1) {
            break;
        }
        w += cw;
        out.push(c);
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// Text safe to print to a terminal: control characters (ESC, BEL, C1…) become visible
/// symbols, so agent output can never move the cursor, retitle the window or write the
/// clipboard; bidi overrides and zero-width characters become U+FFFD, so text cannot
/// read in another order than it is, or hide characters. Newlines and tabs stay.
pub fn inert(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            '\u{1b}' => '␛',
            '\r' => '␍',
            c if (c as u32) < 0x20 => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '␡',
            c if ('\u{80}'..='\u{9f}').contains(&c) => '\u{fffd}',
            c if hidden(c) => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// Zero-width, joiner, word-joiner, BOM, soft hyphen, invisible operators, tag
/// characters and the bidi marks, embeddings, overrides and isolates that reorder what
/// is displayed: characters that change how text reads or hide in it.
pub fn hidden(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{061C}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}'
        | '\u{206A}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{E0000}'..='\u{E007F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let mut c = Capture::new(8, 8);
        c.push(b"hello ");
        c.push(b"world");
        assert_eq!(c.render(), "hello world");
        assert_eq!(c.truncated(), 0);
        assert_eq!(c.complete_bytes().unwrap(), b"hello world");
    }

    #[test]
    fn flood_keeps_head_and_tail_with_marker() {
        let mut c = Capture::new(4, 4);
        for _ in 0..1000 {
            c.push(b"0123456789");
        }
        assert_eq!(c.total(), 10_000);
        assert_eq!(c.truncated(), 10_000 - 8);
        assert_eq!(c.render(), "0123\n…9992 bytes truncated…\n6789");
        assert!(c.complete_bytes().is_none());
    }

    #[test]
    fn push_reports_what_entered_the_head() {
        let mut c = Capture::new(3, 0);
        assert_eq!(c.push(b"ab"), b"ab");
        assert_eq!(c.push(b"cde"), b"c");
        assert_eq!(c.push(b"f"), b"");
    }

    #[test]
    fn invalid_utf8_and_nul_are_made_printable() {
        let mut c = Capture::new(64, 0);
        c.push(b"\xff\xfe\x00abc\r\n");
        assert_eq!(c.render(), "\u{fffd}\u{fffd}\u{2400}abc\r\n");
    }

    #[test]
    fn tail_never_starts_mid_character() {
        let mut c = Capture::new(0, 3);
        c.push("ééé".as_bytes()); // 6 bytes; tail keeps the last 3: [0xA9, 0xC3, 0xA9]
        assert!(c.render().ends_with("é"));
        assert!(!c.render().contains('\u{fffd}'));
    }

    #[test]
    fn utf8_stream_joins_split_characters() {
        let bytes = "añ€😀".as_bytes();
        for cut in 0..bytes.len() {
            let mut d = Utf8Stream::default();
            let mut s = d.push(&bytes[..cut]);
            s += &d.push(&bytes[cut..]);
            s += &d.finish();
            assert_eq!(s, "añ€😀", "cut at {cut}");
        }
    }

    #[test]
    fn out_03_inert_neutralises_escape_sequences() {
        let s = inert("a\x1b[2Jb\x1b]52;c;cHduZWQ=\x07c\r\n\td\u{9b}");
        assert_eq!(s, "a␛[2Jb␛]52;c;cHduZWQ=␇c␍\n\td\u{fffd}");
        assert!(!s.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
    }

    #[test]
    fn bidi_and_zero_width_characters_are_made_visible() {
        let s = inert("ad\u{202e}txt.exe\u{200b} ok\u{2066}x\u{2069}");
        assert_eq!(s, "ad\u{fffd}txt.exe\u{fffd} ok\u{fffd}x\u{fffd}");
        assert_eq!(inert("ümlaut 中文 é"), "ümlaut 中文 é");
    }

    #[test]
    fn ellipsize_counts_chars() {
        assert_eq!(ellipsize("héllo", 10), "héllo");
        assert_eq!(ellipsize("héllo world", 5), "héll…");
        // Bug 21: a character at a time comes out a line at a time.
        let mut b = Batcher::default();
        let sent: Vec<String> = "..F.\nok\ntail"
            .chars()
            .filter_map(|c| b.push(&c.to_string()))
            .collect();
        assert_eq!(sent, ["..F.\n", "ok\n"]);
        assert_eq!(b.finish().as_deref(), Some("tail"));
        assert_eq!(b.finish(), None);
        assert_eq!(ellipsize_width("修复登录页面", 7), "修复登…");
        assert_eq!(ellipsize_width("🚀 ship it", 4), "🚀 …");
    }
}
