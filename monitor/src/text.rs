//! Text from outside shown inert. Process names (comm, which any process sets with
//! `prctl(PR_SET_NAME)`), command lines, paths, host names and a recording's fields are
//! untrusted: printed raw to an admin's terminal, `ESC[2J` clears it, `ESC]0;…BEL` retitles
//! it, OSC 52 writes the clipboard. Like strace and ps, every control character is shown as
//! an escape instead: `\n`, `\t`, `\r`, `\e`-style bytes as `\x1b`, C1 controls and the
//! Unicode direction overrides as `\u{9b}`; a backslash doubles, so the result reads back
//! unambiguously.
use std::{borrow::Cow, fmt::Write as _};

/// Whether `c` must not reach a terminal as is.
fn hostile(c: char) -> bool {
    c.is_control()
        // Bidirectional overrides and isolates: reorder what the admin reads.
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `s` with every character `bad` says is hostile written by `push`; borrowed when there is
/// none.
fn replace_where(
    s: &str,
    bad: impl Fn(char) -> bool,
    push: impl Fn(&mut String, char),
) -> Cow<'_, str> {
    if !s.chars().any(&bad) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            push(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One untrusted field (a comm, a command line, a path, a host name): control characters,
/// direction overrides and backslashes escaped. Borrows when there is nothing to escape.
pub fn escape(s: &str) -> Cow<'_, str> {
    replace_where(s, |c| c == '\\' || hostile(c), push_escaped)
}

/// A path, as shown in a message: escaped like any untrusted field.
pub fn path(p: &std::path::Path) -> String {
    escape(&p.display().to_string()).into_owned()
}

/// A whole text document ipctop wrote (which has no control characters but its newlines):
/// a last line of defence at the print site, escaping any control character other than
/// `\n` that a field brought in. Backslashes are left alone (the fields are escaped already).
pub fn inert(s: &str) -> Cow<'_, str> {
    replace_where(s, |c| c != '\n' && hostile(c), push_escaped)
}

/// A JSON document: serde_json escapes C0 controls but writes C1 controls (U+0080–U+009F,
/// which some terminals obey) and direction overrides raw; they can only be inside strings,
/// where `\uXXXX` means the same character, so the document's meaning is unchanged.
/// Newlines are a pretty document's layout (inside strings serde_json escapes them).
pub fn json_inert(s: &str) -> Cow<'_, str> {
    replace_where(
        s,
        |c| c != '\n' && hostile(c),
        |out, c| {
            let _ = write!(out, "\\u{:04x}", c as u32);
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape("\x1b[2J\x1b]0;PWN\x07"), "\\x1b[2J\\x1b]0;PWN\\x07");
        assert_eq!(escape("a\nb\tc\rd\\e\x7f"), "a\\nb\\tc\\rd\\\\e\\x7f");
        assert_eq!(escape("\u{9b}31m\u{202e}txt"), "\\u{9b}31m\\u{202e}txt");
    }

    #[test]
    fn leaves_ordinary_text_borrowed() {
        for s in [
            "worker",
            "ipcdemo-ab",
            "/usr/bin/postgres -D /var/lib",
            "héllo wörld ✓",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(_)), "{s}");
            assert!(matches!(inert(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn json_stays_json_with_the_same_meaning() {
        let v = serde_json::json!({"comm": "a\u{9b}2J\u{202e}\x1b"});
        let raw = serde_json::to_string_pretty(&v).unwrap();
        let safe = json_inert(&raw);
        assert!(!safe.chars().any(|c| c != '\n' && hostile(c)), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn inert_keeps_newlines_only() {
        assert_eq!(inert("a\nb\x1b[2J\\x\n"), "a\nb\\x1b[2J\\x\n");
    }
}
