//! The formatter behind `jitp fmt`: one canonical layout for policy files.
//!
//! [`format_source`] parses a file, lays it out again from its syntax tree
//! and keeps every `//` comment and `///` doc comment where the author put
//! it: before the item, field, clause or token it preceded, on its own line
//! or at the end of the line it ended. Before anything is returned the
//! output is parsed again and must give the same syntax tree (spans
//! ignored) and the same sequence of comments; otherwise the formatter
//! reports an internal error and the caller keeps the original text.
//!
//! The layout is described in `docs/fmt.md`. In short: two-space
//! indentation, one item per line, at most one blank line where the author
//! left blank lines, rule clauses on their own lines (a `forbid` with a
//! single `when`/`unless` keeps it on the head line), conditions longer
//! than [`WIDTH`] columns broken before `and`/`or` with the operands
//! aligned, and only the parentheses the precedence rules need, plus
//! those that keep two easily misread forms clear: a comparison under
//! `not` (`not (a in b)`) and a `??` under any other operator than `??`
//! (`(a ?? 0) > 5`, `a and (b ?? false)`).

mod comments;
mod diff;
mod doc;
mod layout;

pub use diff::unified_diff;

use crate::diagnostic::Diagnostic;
use crate::span::FileId;
use crate::syntax::ast::*;
use crate::syntax::lexer::lex;
use crate::syntax::parser::parse;
use comments::Builder;
use doc::render;
use std::fmt;

/// The line width the formatter aims to stay within.
pub const WIDTH: usize = 80;

/// Why a file was not formatted.
#[derive(Debug)]
pub enum FmtError {
    /// The file has syntax errors (or other errors found while parsing);
    /// these are its diagnostics.
    Syntax(Vec<Diagnostic>),
    /// The formatter could not produce a faithful layout. The message says
    /// what went wrong; the input should be left as it is.
    Internal(String),
}

impl fmt::Display for FmtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FmtError::Syntax(d) => write!(f, "the file has {} syntax error(s)", d.len()),
            FmtError::Internal(m) => write!(f, "internal formatter error: {m}"),
        }
    }
}

impl std::error::Error for FmtError {}

/// Formats the policy text of `file` (the id only labels diagnostics).
///
/// Returns the formatted text, which ends with one newline, or why the
/// text was not formatted. Formatting formatted text changes nothing.
pub fn format_source(file: FileId, text: &str) -> Result<String, FmtError> {
    let parsed = parse(file, text);
    let errors: Vec<Diagnostic> = parsed
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        return Err(FmtError::Syntax(errors));
    }
    let mut b = Builder::new(file, text);
    let doc = b.file(&parsed.file)?;
    let mut out = render(&doc, WIDTH);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if out.trim().is_empty() {
        out.clear();
    }
    verify(file, text, &parsed.file, &out)?;
    Ok(out)
}

/// The comments of `text` in order, as (doc comment?, text without
/// trailing whitespace).
pub fn comments(text: &str) -> Vec<(bool, String)> {
    let lexed = lex(FileId(0), text);
    let mut all: Vec<(u32, bool, String)> = lexed
        .docs
        .iter()
        .map(|(s, _)| (s.start, true, slice(text, s.range()).trim_end().to_string()))
        .chain(lexed.comments.iter().map(|(s, _)| {
            (
                s.start,
                false,
                slice(text, s.range()).trim_end().to_string(),
            )
        }))
        .collect();
    all.sort_by_key(|c| c.0);
    all.into_iter().map(|(_, d, t)| (d, t)).collect()
}

/// The safety check: `out` must parse cleanly to the same tree as the
/// input and keep the input's comments in order.
fn verify(file: FileId, input: &str, tree: &File, out: &str) -> Result<(), FmtError> {
    let reparsed = parse(file, out);
    if let Some(d) = reparsed.diagnostics.iter().find(|d| d.is_error()) {
        return Err(FmtError::Internal(format!(
            "the formatted text does not parse: {}",
            d.message
        )));
    }
    if !same_tree(&reparsed.file, tree) {
        return Err(FmtError::Internal(
            "the formatted text parses to a different syntax tree".into(),
        ));
    }
    if comments(input) != comments(out) {
        return Err(FmtError::Internal(
            "the formatted text does not keep every comment in order".into(),
        ));
    }
    Ok(())
}

/// Whether two trees are equal with every span ignored. Node spans are
/// outside equality already; a rule's head span is a plain field.
pub fn same_tree(a: &File, b: &File) -> bool {
    fn clear(f: &File) -> File {
        let mut f = f.clone();
        let blank = crate::span::Span::default();
        for item in &mut f.items {
            match &mut item.node {
                Item::Rule(r) => r.head = blank,
                Item::Task(t) => {
                    for ti in &mut t.items {
                        if let TaskItem::Rule(r) = &mut ti.node {
                            r.head = blank;
                        }
                    }
                }
                _ => {}
            }
        }
        f
    }
    clear(a) == clear(b)
}

fn slice(text: &str, r: std::ops::Range<usize>) -> &str {
    text.get(r).unwrap_or("")
}
