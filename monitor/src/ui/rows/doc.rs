//! A document of lines, some of them links (a target Enter goes to): the details of an
//! object or process, and the Problems view. Built from the model like the rows; the app
//! reads the links from here, the views draw it.
use crate::ui::{theme::Tone, view::Target};

/// A piece of a line and how it looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub tone: Tone,
}

/// A line: its pieces, where it leads, and whether it goes on the link of the line before
/// (an entry of several lines is one link).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocLine {
    pub spans: Vec<Span>,
    pub target: Option<Target>,
    pub cont: bool,
}

impl DocLine {
    pub fn plain(s: impl Into<String>) -> Self {
        Self::toned(s, Tone::Plain)
    }

    pub fn toned(s: impl Into<String>, tone: Tone) -> Self {
        Self {
            spans: vec![Span {
                text: s.into(),
                tone,
            }],
            ..Self::default()
        }
    }

    pub fn of(spans: Vec<(String, Tone)>) -> Self {
        Self {
            spans: spans
                .into_iter()
                .map(|(text, tone)| Span { text, tone })
                .collect(),
            ..Self::default()
        }
    }

    pub fn push(&mut self, s: impl Into<String>, tone: Tone) {
        self.spans.push(Span {
            text: s.into(),
            tone,
        });
    }

    /// The line's text.
    pub fn text(&self) -> String {
        self.spans.iter().map(|s| s.text.as_str()).collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Doc {
    pub title: String,
    pub lines: Vec<DocLine>,
}

impl Doc {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            lines: Vec::new(),
        }
    }

    pub fn text(&mut self, s: impl Into<String>) {
        self.lines.push(DocLine::plain(s));
    }

    pub fn toned(&mut self, s: impl Into<String>, tone: Tone) {
        self.lines.push(DocLine::toned(s, tone));
    }

    pub fn line(&mut self, l: DocLine) {
        self.lines.push(l);
    }

    /// A heading, after an empty line.
    pub fn head(&mut self, s: &str) {
        self.lines.push(DocLine::plain(""));
        self.lines.push(DocLine::toned(s, Tone::Title));
    }

    /// A link: `  > text`, Enter goes to `t`.
    pub fn link(&mut self, t: Target, s: impl Into<String>) {
        let mut l = DocLine::toned("  > ", Tone::Key);
        l.push(s, Tone::Plain);
        l.target = Some(t);
        self.lines.push(l);
    }

    /// An entry of several lines that leads to `t` (or nowhere).
    pub fn entry(&mut self, t: Option<Target>, lines: Vec<DocLine>) {
        for (i, mut l) in lines.into_iter().enumerate() {
            l.target = t;
            l.cont = i > 0 && t.is_some();
            self.lines.push(l);
        }
    }

    /// The links in order (an entry of several lines once).
    pub fn links(&self) -> Vec<Target> {
        self.lines
            .iter()
            .filter(|l| !l.cont)
            .filter_map(|l| l.target)
            .collect()
    }

    /// The entries whose text contains `filter` (case aside; every one when empty), with
    /// the headings and the empty lines: an entry is a line and the lines that go on its
    /// link.
    pub fn filtered(&self, filter: &str) -> Doc {
        if filter.is_empty() {
            return self.clone();
        }
        let needle = filter.to_lowercase();
        let mut out = Doc::new(self.title.clone());
        let mut i = 0;
        while i < self.lines.len() {
            let end = i + 1 + self.lines[i + 1..].iter().take_while(|l| l.cont).count();
            let item = &self.lines[i..end];
            let first = &item[0];
            let heading = first.spans.first().is_some_and(|s| s.tone == Tone::Title);
            let text = item.iter().map(DocLine::text).collect::<Vec<_>>().join(" ");
            if heading || text.trim().is_empty() || text.to_lowercase().contains(&needle) {
                out.lines.extend_from_slice(item);
            }
            i = end;
        }
        out
    }

    /// The whole text, a line each.
    pub fn plain_text(&self) -> String {
        self.lines
            .iter()
            .map(DocLine::text)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
