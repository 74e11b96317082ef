//! Terminal key events → the keymap's `Key`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::keymap::{Code, Key};

pub fn key_of(ev: &KeyEvent) -> Option<Key> {
    let code = match ev.code {
        KeyCode::Char(c) => Code::Char(c),
        KeyCode::Enter => Code::Enter,
        KeyCode::Esc => Code::Esc,
        KeyCode::Tab => Code::Tab,
        KeyCode::BackTab => Code::BackTab,
        KeyCode::Backspace => Code::Backspace,
        KeyCode::Delete => Code::Delete,
        KeyCode::Up => Code::Up,
        KeyCode::Down => Code::Down,
        KeyCode::Left => Code::Left,
        KeyCode::Right => Code::Right,
        KeyCode::PageUp => Code::PageUp,
        KeyCode::PageDown => Code::PageDown,
        KeyCode::Home => Code::Home,
        KeyCode::End => Code::End,
        KeyCode::F(n) => Code::F(n),
        _ => return None,
    };
    let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
    let code = match code {
        // Terminals report ctrl-S as ctrl + 's' or 'S' depending on shift state.
        Code::Char(c) if ctrl => Code::Char(c.to_ascii_lowercase()),
        c => c,
    };
    let is_char = matches!(code, Code::Char(_));
    Some(Key {
        code,
        ctrl,
        alt: ev.modifiers.contains(KeyModifiers::ALT),
        // A shifted character already is its shifted form.
        shift: !is_char && ev.modifiers.contains(KeyModifiers::SHIFT) && code != Code::BackTab,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_letters_and_ctrl_keys() {
        let k = key_of(&KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT)).unwrap();
        assert_eq!(k, Key::char('R'));
        let k = key_of(&KeyEvent::new(
            KeyCode::Char('S'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT,
        ))
        .unwrap();
        assert_eq!(k, Key::parse("ctrl-s").unwrap());
        let k = key_of(&KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)).unwrap();
        assert_eq!(k, Key::parse("backtab").unwrap());
    }
}
