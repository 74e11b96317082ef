//! Syntax highlighting for diff lines (syntect with bat's syntaxes and themes, via
//! two-face). Loaded once, on first use, so startup does not pay for it.

use std::sync::OnceLock;

use ratatui::style::{Color, Style};
use ratatui::text::Span;
use syntect::easy::HighlightLines;
use syntect::highlighting::Theme;
use syntect::parsing::{SyntaxReference, SyntaxSet};
use two_face::theme::EmbeddedThemeName;

struct Highlighter {
    syntaxes: SyntaxSet,
    theme: Theme,
}

fn get() -> &'static Highlighter {
    static H: OnceLock<Highlighter> = OnceLock::new();
    H.get_or_init(|| Highlighter {
        syntaxes: two_face::syntax::extra_newlines(),
        theme: two_face::theme::extra()
            .get(EmbeddedThemeName::OneHalfDark)
            .clone(),
    })
}

/// The syntax for a path, by extension or file name; `None` for plain text.
pub fn syntax_for(path: &str) -> Option<&'static SyntaxReference> {
    let h = get();
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or(name);
    h.syntaxes
        .find_syntax_by_extension(ext)
        .or_else(|| h.syntaxes.find_syntax_by_extension(name))
}

/// One line of code as coloured spans (state starts fresh: cost is per visible line).
pub fn line(code: &str, syntax: &'static SyntaxReference, bg: Option<Color>) -> Vec<Span<'static>> {
    let h = get();
    let mut hl = HighlightLines::new(syntax, &h.theme);
    let with_nl = format!("{code}\n");
    match hl.highlight_line(&with_nl, &h.syntaxes) {
        Ok(ranges) => ranges
            .into_iter()
            .map(|(style, text)| {
                let fg = Color::Rgb(style.foreground.r, style.foreground.g, style.foreground.b);
                let mut s = Style::default().fg(fg);
                if let Some(bg) = bg {
                    s = s.bg(bg);
                }
                Span::styled(text.trim_end_matches('\n').to_string(), s)
            })
            .collect(),
        Err(_) => vec![Span::raw(code.to_string())],
    }
}
