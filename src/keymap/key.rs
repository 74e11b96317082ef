//! Key names as written in keymap files ("ctrl-s", "R", "pagedown") and as pressed.
//!
//! Terminal-library free: the UI converts its key events into `Key`, so the keymap can be
//! parsed and tested without a terminal.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    F(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub code: Code,
    pub ctrl: bool,
    pub alt: bool,
    /// Only for non-character keys; a shifted letter is its uppercase char.
    pub shift: bool,
}

impl Key {
    pub const fn plain(code: Code) -> Key {
        Key {
            code,
            ctrl: false,
            alt: false,
            shift: false,
        }
    }

    pub const fn char(c: char) -> Key {
        Key::plain(Code::Char(c))
    }

    /// Parses a key name; `None` for anything unknown.
    pub fn parse(name: &str) -> Option<Key> {
        let mut key = Key::plain(Code::Esc);
        let mut rest = name;
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                key.ctrl = true;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                key.alt = true;
                rest = &rest[4..];
            } else if lower.starts_with("shift-") && rest.len() > 6 {
                key.shift = true;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        key.code = match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => {
                if key.shift && c.is_ascii_alphabetic() {
                    key.shift = false;
                    Code::Char(c.to_ascii_uppercase())
                } else if key.ctrl && c.is_ascii_alphabetic() {
                    // Terminals cannot tell ctrl-S from ctrl-s.
                    Code::Char(c.to_ascii_lowercase())
                } else {
                    Code::Char(c)
                }
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => Code::Enter,
                "esc" | "escape" => Code::Esc,
                "tab" => Code::Tab,
                "backtab" => Code::BackTab,
                "backspace" => Code::Backspace,
                "delete" | "del" => Code::Delete,
                "up" => Code::Up,
                "down" => Code::Down,
                "left" => Code::Left,
                "right" => Code::Right,
                "pageup" | "pgup" => Code::PageUp,
                "pagedown" | "pgdn" => Code::PageDown,
                "home" => Code::Home,
                "end" => Code::End,
                "space" => Code::Char(' '),
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n @ 1..=12) => Code::F(n),
                    _ => return None,
                },
                _ => return None,
            },
        };
        if key.shift && key.code == Code::Tab {
            key.shift = false;
            key.code = Code::BackTab;
        }
        Some(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        if self.shift {
            f.write_str("shift-")?;
        }
        match self.code {
            Code::Char(' ') => f.write_str("space"),
            Code::Char(c) => write!(f, "{c}"),
            Code::Enter => f.write_str("enter"),
            Code::Esc => f.write_str("esc"),
            Code::Tab => f.write_str("tab"),
            Code::BackTab => f.write_str("shift-tab"),
            Code::Backspace => f.write_str("backspace"),
            Code::Delete => f.write_str("del"),
            Code::Up => f.write_str("↑"),
            Code::Down => f.write_str("↓"),
            Code::Left => f.write_str("←"),
            Code::Right => f.write_str("→"),
            Code::PageUp => f.write_str("pgup"),
            Code::PageDown => f.write_str("pgdn"),
            Code::Home => f.write_str("home"),
            Code::End => f.write_str("end"),
            Code::F(n) => write!(f, "f{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_normalise() {
        assert_eq!(Key::parse("a"), Some(Key::char('a')));
        assert_eq!(Key::parse("R"), Some(Key::char('R')));
        assert_eq!(Key::parse("shift-r"), Some(Key::char('R')));
        assert_eq!(Key::parse("/"), Some(Key::char('/')));
        assert_eq!(Key::parse("space"), Some(Key::char(' ')));
        let ctrl_s = Key {
            ctrl: true,
            ..Key::char('s')
        };
        assert_eq!(Key::parse("ctrl-s"), Some(ctrl_s));
        assert_eq!(Key::parse("Ctrl-S"), Some(ctrl_s));
        assert_eq!(Key::parse("pagedown"), Some(Key::plain(Code::PageDown)));
        assert_eq!(Key::parse("shift-tab"), Some(Key::plain(Code::BackTab)));
        assert_eq!(Key::parse("f5"), Some(Key::plain(Code::F(5))));
        assert_eq!(Key::parse("alt-enter").map(|k| k.alt), Some(true));
    }

    #[test]
    fn bad_names_are_none() {
        for bad in ["", "ctrl-", "hyper-x", "f13", "f0", "enterr", "ab"] {
            assert_eq!(Key::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for name in ["a", "R", "ctrl-s", "pgdn", "esc", "space", "f2", "alt-x"] {
            let k = Key::parse(name).unwrap();
            assert_eq!(Key::parse(&k.to_string()).unwrap_or(k), k, "{name}");
        }
    }
}
