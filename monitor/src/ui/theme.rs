//! How things look: the 16 ANSI colours only (or none with `NO_COLOR`), and borders, arrows
//! and bars in plain ASCII when the locale is not UTF-8.
use ratatui::{
    style::{Color, Modifier, Style},
    symbols::border,
};

/// What a piece of text is, for its looks: the row model says it, the theme styles it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Tone {
    #[default]
    Plain,
    Title,
    Dim,
    Alert,
    Warn,
    Good,
    Key,
}

/// The looks of one session, decided once from the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    /// Colours allowed (`NO_COLOR` unset). Only the 16 ANSI colours are used.
    pub color: bool,
    /// Unicode borders, arrows and bars (the locale is UTF-8).
    pub unicode: bool,
}

const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

impl Default for Theme {
    fn default() -> Self {
        Self {
            color: true,
            unicode: true,
        }
    }
}

/// Whether a locale string names UTF-8 ("en_US.UTF-8", "C.utf8").
fn is_utf8(locale: &str) -> bool {
    let l = locale.to_ascii_lowercase();
    l.contains("utf-8") || l.contains("utf8")
}

impl Theme {
    /// From the environment: `NO_COLOR` (any non-empty value) turns colours off; the first
    /// set of `LC_ALL`, `LC_CTYPE`, `LANG` decides UTF-8 (unset: the C locale, ASCII); a DEC
    /// VT terminal (`TERM=vt100`, …) gets neither colours nor Unicode.
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        // DEC VT terminals (vt52 … vt520) have no colours and no UTF-8.
        let vt = get("TERM").is_some_and(|t| t.starts_with("vt"));
        let color = !vt && get("NO_COLOR").is_none_or(|v| v.is_empty());
        let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
            .iter()
            .find_map(|k| get(k).filter(|v| !v.is_empty()))
            .unwrap_or_default();
        Self {
            color,
            unicode: !vt && is_utf8(&locale),
        }
    }

    pub fn border(&self) -> border::Set<'static> {
        if self.unicode {
            border::PLAIN
        } else {
            ASCII_BORDER
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    /// The style of a tone.
    pub fn style(&self, tone: Tone) -> Style {
        match tone {
            Tone::Plain => Style::new(),
            Tone::Title => self.title(),
            Tone::Dim => self.dim(),
            Tone::Alert => self.alert(),
            Tone::Warn => self.warn(),
            Tone::Good => self.good(),
            Tone::Key => self.key(),
        }
    }

    /// Microseconds: `µs`, or `us` in ASCII.
    pub fn micro(&self) -> &'static str {
        if self.unicode {
            "µs"
        } else {
            "us"
        }
    }

    /// Alerts that must catch the eye (deadlocks, drops).
    pub fn alert(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Something to look at (leaks, long waits).
    pub fn warn(&self) -> Style {
        if self.color {
            self.fg(Color::Yellow)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    pub fn good(&self) -> Style {
        self.fg(Color::Green)
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        if self.color {
            self.fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn header_row(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    /// The selected row (reversed: visible without colours).
    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    /// The current tab.
    pub fn tab(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn arrow(&self) -> &'static str {
        if self.unicode {
            " → "
        } else {
            " -> "
        }
    }

    pub fn sep(&self) -> &'static str {
        if self.unicode {
            " │ "
        } else {
            " | "
        }
    }

    pub fn ellipsis(&self) -> &'static str {
        if self.unicode {
            "…"
        } else {
            "~"
        }
    }

    pub fn down(&self) -> &'static str {
        if self.unicode {
            "↓"
        } else {
            "v"
        }
    }

    /// "At least", one way per charset: `≥` or `>=`.
    pub fn at_least(&self) -> &'static str {
        if self.unicode {
            "≥"
        } else {
            ">="
        }
    }

    /// The mark of the sorted column.
    pub fn sort_mark(&self, desc: bool) -> &'static str {
        match (self.unicode, desc) {
            (true, true) => "▼",
            (true, false) => "▲",
            (false, true) => "v",
            (false, false) => "^",
        }
    }

    pub fn up(&self) -> &'static str {
        if self.unicode {
            "↑"
        } else {
            "^"
        }
    }

    /// A child row's branch.
    pub fn branch(&self, last: bool) -> &'static str {
        match (self.unicode, last) {
            (true, false) => "├ ",
            (true, true) => "└ ",
            (false, false) => "|-",
            (false, true) => "`-",
        }
    }

    /// Sparkline levels, lowest first.
    pub fn levels(&self) -> &'static [&'static str] {
        if self.unicode {
            &[" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
        } else {
            &[" ", ".", ".", "-", "-", "=", "=", "#", "#"]
        }
    }

    /// A fill bar of `width` cells, `ratio` full.
    pub fn bar(&self, ratio: f64, width: usize) -> String {
        let n = ((ratio.clamp(0.0, 1.0) * width as f64).round() as usize).min(width);
        let (full, empty) = if self.unicode {
            ("█", "░")
        } else {
            ("#", ".")
        };
        format!("{}{}", full.repeat(n), empty.repeat(width - n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theme(vars: &[(&str, &str)]) -> Theme {
        Theme::from_vars(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn locale_and_no_color() {
        assert_eq!(
            theme(&[("LANG", "en_US.UTF-8")]),
            Theme {
                color: true,
                unicode: true
            }
        );
        // LC_ALL wins over LANG; C is ASCII.
        assert!(!theme(&[("LC_ALL", "C"), ("LANG", "en_US.UTF-8")]).unicode);
        assert!(theme(&[("LC_CTYPE", "C.utf8")]).unicode);
        // Empty values are skipped; nothing set means the C locale.
        assert!(theme(&[("LC_ALL", ""), ("LANG", "de_DE.utf8")]).unicode);
        assert!(!theme(&[]).unicode);
        assert!(!theme(&[("NO_COLOR", "1")]).color);
        assert!(theme(&[("NO_COLOR", "")]).color);
        let plain = theme(&[("NO_COLOR", "1")]);
        assert_eq!(plain.alert().fg, None);
        assert_eq!(plain.border().top_left, "+");
    }
}
