//! The comment cursor: the source's tokens and comments, and the
//! comments handed out in source order as the layout reaches them.

use super::doc::{cat, text, Doc};
use super::{slice, FmtError};
use crate::span::{is_line_end, FileId};
use crate::syntax::lexer::lex;

pub(super) struct Comment {
    pub(super) start: usize,
    pub(super) text: String,
    /// Written at the end of a line that holds code.
    pub(super) trailing: bool,
    /// A blank line separates it from what comes before.
    pub(super) blank_before: bool,
}

/// Builds the document for one file, handing out comments in source order.
pub(super) struct Builder<'a> {
    pub(super) src: &'a str,
    /// Every token's byte range, in order.
    pub(super) tokens: Vec<(usize, usize)>,
    /// Every token's and comment's byte range, in order.
    pub(super) lexemes: Vec<(usize, usize)>,
    pub(super) comments: Vec<Comment>,
    /// Index of the first comment not yet placed.
    pub(super) next: usize,
}

pub(super) type R<T> = Result<T, FmtError>;

/// One entry of a block: where it starts in the source, and how to lay it
/// out once the comments before it are placed.
pub(super) type Entry<'e, 'a> = (usize, Box<dyn FnOnce(&mut Builder<'a>) -> R<Doc> + 'e>);

pub(super) fn internal<T>(what: &str) -> R<T> {
    Err(FmtError::Internal(format!(
        "unexpected {what} in a parsed file"
    )))
}

impl<'a> Builder<'a> {
    pub(super) fn new(file: FileId, src: &'a str) -> Builder<'a> {
        let lexed = lex(file, src);
        let tokens: Vec<(usize, usize)> = lexed.tokens.iter().map(|(l, _, r)| (*l, *r)).collect();
        let mut raw: Vec<(usize, usize)> = lexed
            .docs
            .iter()
            .map(|(s, _)| (s.start as usize, s.end as usize))
            .chain(
                lexed
                    .comments
                    .iter()
                    .map(|(s, _)| (s.start as usize, s.end as usize)),
            )
            .collect();
        raw.sort();
        let mut lexemes: Vec<(usize, usize)> = tokens.iter().chain(raw.iter()).copied().collect();
        lexemes.sort();
        let mut b = Builder {
            src,
            tokens,
            lexemes,
            comments: Vec::new(),
            next: 0,
        };
        b.comments = raw
            .iter()
            .map(|&(s, e)| {
                let gap = b.gap_before(s);
                Comment {
                    start: s,
                    text: slice(src, s..e).trim_end().to_string(),
                    trailing: gap.is_some_and(|g| !g.contains(is_line_end)),
                    blank_before: gap.is_some_and(|g| line_ends(g) >= 2),
                }
            })
            .collect();
        b
    }

    /// The whitespace between `pos` and the token or comment before it
    /// (`None` at the start of the file).
    pub(super) fn gap_before(&self, pos: usize) -> Option<&'a str> {
        let i = self.lexemes.partition_point(|&(s, _)| s < pos);
        let prev = i.checked_sub(1).and_then(|i| self.lexemes.get(i))?;
        Some(slice(self.src, prev.1..pos))
    }

    pub(super) fn blank_before(&self, pos: usize) -> bool {
        self.gap_before(pos).is_some_and(|g| line_ends(g) >= 2)
    }

    /// The first token starting at or after `pos`.
    pub(super) fn token_from(&self, pos: usize) -> Option<(usize, usize)> {
        let i = self.tokens.partition_point(|&(s, _)| s < pos);
        self.tokens.get(i).copied()
    }

    /// The start of the last token before `pos`.
    pub(super) fn token_before(&self, pos: usize) -> Option<usize> {
        let i = self.tokens.partition_point(|&(s, _)| s < pos);
        let (s, _) = self.tokens.get(i.checked_sub(1)?)?;
        Some(*s)
    }

    /// The first token at or after `pos` whose text is `t`.
    pub(super) fn find_token(&self, pos: usize, t: &str) -> Option<usize> {
        let i = self.tokens.partition_point(|&(s, _)| s < pos);
        self.tokens
            .get(i..)?
            .iter()
            .find(|&&(s, e)| slice(self.src, s..e) == t)
            .map(|&(s, _)| s)
    }

    pub(super) fn token_text(&self, pos: usize) -> &'a str {
        match self.token_from(pos) {
            Some((s, e)) => slice(self.src, s..e),
            None => "",
        }
    }

    pub(super) fn has_comment_in(&self, from: usize, to: usize) -> bool {
        self.comments
            .iter()
            .any(|c| c.start >= from && c.start < to)
    }

    /// Every comment not yet placed that starts before `pos`, placed here.
    pub(super) fn flush(&mut self, pos: usize) -> Doc {
        let mut v = Vec::new();
        while let Some(c) = self.comments.get(self.next) {
            if c.start >= pos {
                break;
            }
            v.push(Doc::Comment {
                text: c.text.clone(),
                trailing: c.trailing,
            });
            self.next += 1;
        }
        cat(v)
    }

    /// Text for the token at `pos`, after the comments before it.
    pub(super) fn tok(&mut self, pos: usize, t: impl Into<String>) -> Doc {
        cat(vec![self.flush(pos), text(t)])
    }

    /// Where the text of the expression spanning `span` starts, past the
    /// opening parentheses it starts with: `((a or b))` and `(a).f` start
    /// at `a`. The layout drops parentheses it does not need, so a comment
    /// among them is placed as if it preceded the expression; the
    /// formatted text, which may have no parenthesis there, places it the
    /// same way again.
    pub(super) fn content_start(&self, span: crate::span::Span) -> usize {
        let (from, to) = (span.start as usize, span.end as usize);
        let i = self.tokens.partition_point(|&(s, _)| s < from);
        self.tokens
            .get(i..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&(s, _)| s < to)
            .find(|&&(s, e)| slice(self.src, s..e) != "(")
            .map_or(from, |&(s, _)| s)
    }

    /// The source text of the literal token inside `span` (which may include
    /// parentheses), after the comments before it.
    pub(super) fn literal(&mut self, span: crate::span::Span) -> Doc {
        let from = span.start as usize;
        let i = self.tokens.partition_point(|&(s, _)| s < from);
        let found = self.tokens.get(i..).and_then(|ts| {
            ts.iter()
                .take_while(|&&(s, _)| s < span.end as usize)
                .find(|&&(s, e)| !matches!(slice(self.src, s..e), "(" | ")"))
                .copied()
        });
        match found {
            Some((s, e)) => self.tok(s, slice(self.src, s..e)),
            None => text(""),
        }
    }
}

/// How many line ends the whitespace `gap` holds (CR LF counts once).
fn line_ends(gap: &str) -> usize {
    gap.replace("\r\n", "\n").matches(is_line_end).count()
}
