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

use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Node};
use crate::syntax::ast::*;
use crate::syntax::lexer::lex;
use crate::syntax::parser::parse;
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

// ------------------------------------------------------------------ documents

/// A layout document in the style of Wadler's "prettier printer": text,
/// optional line breaks and groups that break as a whole when they do not
/// fit. Containers record whether they hold a forced break (a hard line or
/// a comment), so such groups never lay out flat.
#[derive(Debug)]
enum Doc {
    Text(String),
    /// A space when flat, a newline when broken.
    Line,
    /// Nothing when flat, a newline when broken.
    SoftLine,
    /// Always a newline.
    HardLine,
    /// Indent by a (possibly negative) amount.
    Nest(i32, Box<Doc>, bool),
    /// Indent to the current column.
    Align(Box<Doc>, bool),
    Group(Box<Doc>, bool),
    Concat(Vec<Doc>, bool),
    /// The first document when the enclosing group breaks, the second when flat.
    IfBreak(Box<Doc>, Box<Doc>),
    /// A comment: appended to the current (or previous) line when
    /// `trailing`, else on a line of its own. A newline always follows.
    Comment {
        text: String,
        trailing: bool,
    },
}

impl Doc {
    fn forces(&self) -> bool {
        match self {
            Doc::HardLine | Doc::Comment { .. } => true,
            Doc::Nest(_, _, b) | Doc::Align(_, b) | Doc::Group(_, b) | Doc::Concat(_, b) => *b,
            Doc::IfBreak(a, b) => a.forces() || b.forces(),
            _ => false,
        }
    }
}

fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

fn cat(v: Vec<Doc>) -> Doc {
    let b = v.iter().any(Doc::forces);
    Doc::Concat(v, b)
}

fn nest(i: i32, d: Doc) -> Doc {
    let b = d.forces();
    Doc::Nest(i, Box::new(d), b)
}

fn align(d: Doc) -> Doc {
    let b = d.forces();
    Doc::Align(Box::new(d), b)
}

fn group(d: Doc) -> Doc {
    let b = d.forces();
    Doc::Group(Box::new(d), b)
}

fn if_break(broken: Doc, flat: Doc) -> Doc {
    Doc::IfBreak(Box::new(broken), Box::new(flat))
}

#[derive(Copy, Clone, PartialEq)]
enum Mode {
    Flat,
    Break,
}

struct Renderer {
    out: String,
    /// Byte offset of the start of the current line in `out`.
    line_start: usize,
    /// Columns (characters) on the current line.
    col: usize,
    /// A comment ended the current line: the next text starts a new one.
    need_newline: bool,
    /// Nothing but line breaks came out since the last comment.
    after_comment: bool,
}

impl Renderer {
    fn trim_line_end(&mut self) {
        let keep = self.out.trim_end_matches(' ').len().max(self.line_start);
        self.out.truncate(keep);
    }

    fn newline(&mut self, indent: i32) {
        self.trim_line_end();
        self.out.push('\n');
        self.line_start = self.out.len();
        let n = usize::try_from(indent).unwrap_or(0);
        self.out.extend(std::iter::repeat_n(' ', n));
        self.col = n;
        self.need_newline = false;
    }

    fn line_is_blank(&self) -> bool {
        slice(&self.out, self.line_start..self.out.len())
            .trim()
            .is_empty()
    }

    fn push(&mut self, s: &str, indent: i32) {
        if s.is_empty() {
            return;
        }
        if self.need_newline {
            self.newline(indent);
        }
        self.out.push_str(s);
        self.col += s.chars().count();
        self.after_comment = false;
    }
}

/// Lays `doc` out within `width` columns.
fn render(doc: &Doc, width: usize) -> String {
    let mut r = Renderer {
        out: String::new(),
        line_start: 0,
        col: 0,
        need_newline: false,
        after_comment: false,
    };
    let mut stack: Vec<(i32, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, d)) = stack.pop() {
        match d {
            Doc::Text(s) => r.push(s, indent),
            Doc::Line | Doc::SoftLine => {
                if mode == Mode::Break || r.need_newline {
                    r.newline(indent);
                } else if matches!(d, Doc::Line) {
                    r.push(" ", indent);
                }
            }
            Doc::HardLine => r.newline(indent),
            Doc::Nest(i, inner, _) => stack.push((indent + i, mode, inner)),
            Doc::Align(inner, _) => {
                let col = i32::try_from(r.col).unwrap_or(i32::MAX);
                stack.push((col, mode, inner));
            }
            Doc::Group(inner, forced) => {
                let m = if *forced {
                    Mode::Break
                } else if mode == Mode::Flat {
                    Mode::Flat
                } else {
                    let room = width as i64 - r.col as i64;
                    if !r.need_newline && fits((indent, Mode::Flat, inner), &stack, room) {
                        Mode::Flat
                    } else {
                        Mode::Break
                    }
                };
                stack.push((indent, m, inner));
            }
            Doc::Concat(v, _) => {
                for c in v.iter().rev() {
                    stack.push((indent, mode, c));
                }
            }
            Doc::IfBreak(b, f) => {
                stack.push((indent, mode, if mode == Mode::Break { b } else { f }))
            }
            Doc::Comment { text, trailing } => {
                // A trailing comment right after another comment (the code
                // it followed came out earlier) goes on a line of its own.
                if *trailing && !r.after_comment {
                    r.trim_line_end();
                    if r.line_is_blank() && r.line_start > 0 {
                        // The line so far is only indentation: the comment
                        // belongs to the end of the previous line.
                        r.out.truncate(r.line_start - 1);
                        r.line_start = r.out.rfind('\n').map_or(0, |i| i + 1);
                        r.trim_line_end();
                    }
                    r.out.push(' ');
                    r.out.push_str(text);
                } else {
                    if r.line_is_blank() {
                        r.out.truncate(r.line_start);
                        let n = usize::try_from(indent).unwrap_or(0);
                        r.out.extend(std::iter::repeat_n(' ', n));
                    } else {
                        r.newline(indent);
                    }
                    r.out.push_str(text);
                }
                r.need_newline = true;
                r.after_comment = true;
            }
        }
    }
    r.trim_line_end();
    r.out
}

/// Whether `next` laid out flat, followed by the rest of the line from
/// `rest`, fits in `room` columns.
fn fits(next: (i32, Mode, &Doc), rest: &[(i32, Mode, &Doc)], mut room: i64) -> bool {
    let mut todo: Vec<(Mode, &Doc)> = vec![(next.1, next.2)];
    let mut rest_idx = rest.len();
    loop {
        if room < 0 {
            return false;
        }
        let Some((mode, d)) = todo.pop() else {
            if rest_idx == 0 {
                return true;
            }
            rest_idx -= 1;
            match rest.get(rest_idx) {
                Some((_, m, d)) => todo.push((*m, d)),
                None => return true,
            }
            continue;
        };
        match d {
            Doc::Text(s) => room -= s.chars().count() as i64,
            Doc::Line | Doc::SoftLine => {
                if mode == Mode::Break {
                    return true;
                }
                if matches!(d, Doc::Line) {
                    room -= 1;
                }
            }
            Doc::HardLine => return true,
            Doc::Comment { .. } => return mode == Mode::Break,
            Doc::Nest(_, inner, _) | Doc::Align(inner, _) => todo.push((mode, inner)),
            Doc::Group(inner, forced) => {
                let m = if *forced { Mode::Break } else { mode };
                todo.push((m, inner));
            }
            Doc::Concat(v, _) => {
                for c in v.iter().rev() {
                    todo.push((mode, c));
                }
            }
            Doc::IfBreak(b, f) => todo.push((mode, if mode == Mode::Break { b } else { f })),
        }
    }
}

// ------------------------------------------------------------------ comments

struct Comment {
    start: usize,
    text: String,
    /// Written at the end of a line that holds code.
    trailing: bool,
    /// A blank line separates it from what comes before.
    blank_before: bool,
}

/// Builds the document for one file, handing out comments in source order.
struct Builder<'a> {
    src: &'a str,
    /// Every token's byte range, in order.
    tokens: Vec<(usize, usize)>,
    /// Every token's and comment's byte range, in order.
    lexemes: Vec<(usize, usize)>,
    comments: Vec<Comment>,
    /// Index of the first comment not yet placed.
    next: usize,
}

type R<T> = Result<T, FmtError>;

/// One entry of a block: where it starts in the source, and how to lay it
/// out once the comments before it are placed.
type Entry<'e, 'a> = (usize, Box<dyn FnOnce(&mut Builder<'a>) -> R<Doc> + 'e>);

fn internal<T>(what: &str) -> R<T> {
    Err(FmtError::Internal(format!(
        "unexpected {what} in a parsed file"
    )))
}

impl<'a> Builder<'a> {
    fn new(file: FileId, src: &'a str) -> Builder<'a> {
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
                    trailing: gap.is_some_and(|g| !g.contains('\n')),
                    blank_before: gap.is_some_and(|g| g.matches('\n').count() >= 2),
                }
            })
            .collect();
        b
    }

    /// The whitespace between `pos` and the token or comment before it
    /// (`None` at the start of the file).
    fn gap_before(&self, pos: usize) -> Option<&'a str> {
        let i = self.lexemes.partition_point(|&(s, _)| s < pos);
        let prev = i.checked_sub(1).and_then(|i| self.lexemes.get(i))?;
        Some(slice(self.src, prev.1..pos))
    }

    fn blank_before(&self, pos: usize) -> bool {
        self.gap_before(pos)
            .is_some_and(|g| g.matches('\n').count() >= 2)
    }

    /// The first token starting at or after `pos`.
    fn token_from(&self, pos: usize) -> Option<(usize, usize)> {
        let i = self.tokens.partition_point(|&(s, _)| s < pos);
        self.tokens.get(i).copied()
    }

    /// The start of the last token before `pos`.
    fn token_before(&self, pos: usize) -> Option<usize> {
        let i = self.tokens.partition_point(|&(s, _)| s < pos);
        let (s, _) = self.tokens.get(i.checked_sub(1)?)?;
        Some(*s)
    }

    /// The first token at or after `pos` whose text is `t`.
    fn find_token(&self, pos: usize, t: &str) -> Option<usize> {
        let i = self.tokens.partition_point(|&(s, _)| s < pos);
        self.tokens
            .get(i..)?
            .iter()
            .find(|&&(s, e)| slice(self.src, s..e) == t)
            .map(|&(s, _)| s)
    }

    fn token_text(&self, pos: usize) -> &'a str {
        match self.token_from(pos) {
            Some((s, e)) => slice(self.src, s..e),
            None => "",
        }
    }

    fn has_comment_in(&self, from: usize, to: usize) -> bool {
        self.comments
            .iter()
            .any(|c| c.start >= from && c.start < to)
    }

    /// Every comment not yet placed that starts before `pos`, placed here.
    fn flush(&mut self, pos: usize) -> Doc {
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
    fn tok(&mut self, pos: usize, t: impl Into<String>) -> Doc {
        cat(vec![self.flush(pos), text(t)])
    }

    /// The source text of the literal token inside `span` (which may include
    /// parentheses), after the comments before it.
    fn literal(&mut self, span: crate::span::Span) -> Doc {
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

    // -------------------------------------------------------------- blocks

    /// Lays out a sequence of entries (items, fields, task items) one per
    /// line, with the comments before and among them, keeping at most one
    /// blank line where the source had any. `entries` are (start, doc
    /// builder) pairs; `end` is where the block ends.
    fn block(&mut self, entries: Vec<Entry<'_, 'a>>, end: usize, top: bool) -> R<Doc> {
        let mut v: Vec<Doc> = Vec::new();
        let mut first = true;
        let lines = |b: &mut Self, v: &mut Vec<Doc>, first: &mut bool, pos: usize| {
            while let Some(c) = b.comments.get(b.next) {
                if c.start >= pos {
                    break;
                }
                if c.trailing && !(*first && top) {
                    v.push(Doc::Comment {
                        text: c.text.clone(),
                        trailing: true,
                    });
                } else {
                    if !(*first && top) {
                        v.push(Doc::HardLine);
                    }
                    if c.blank_before && !*first {
                        v.push(Doc::HardLine);
                    }
                    v.push(Doc::Comment {
                        text: c.text.clone(),
                        trailing: false,
                    });
                    *first = false;
                }
                b.next += 1;
            }
        };
        for (pos, build) in entries {
            lines(self, &mut v, &mut first, pos);
            if !(first && top) {
                v.push(Doc::HardLine);
            }
            if !first && self.blank_before(pos) {
                v.push(Doc::HardLine);
            }
            first = false;
            v.push(build(self)?);
        }
        lines(self, &mut v, &mut first, end);
        Ok(cat(v))
    }

    /// `{ entries }` as a block indented by two, or `{}` when empty.
    fn braced(&mut self, entries: Vec<Entry<'_, 'a>>, end: usize) -> R<Doc> {
        let empty =
            entries.is_empty() && self.comments.get(self.next).is_none_or(|c| c.start >= end);
        if empty {
            return Ok(text("{}"));
        }
        let inner = self.block(entries, end, false)?;
        Ok(cat(vec![
            text("{"),
            nest(2, inner),
            Doc::HardLine,
            text("}"),
        ]))
    }

    // -------------------------------------------------------------- items

    fn file(&mut self, f: &File) -> R<Doc> {
        let items = &f.items;
        let aligned = self.action_runs(items);
        let mut entries: Vec<Entry<'_, 'a>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let pre = aligned.get(i).cloned().flatten();
            entries.push((
                item.span.start as usize,
                Box::new(move |b: &mut Self| match pre {
                    Some(line) => Ok(text(line)),
                    None => b.item(item),
                }),
            ));
        }
        let end = self.src.len();
        self.block(entries, end, true)
    }

    /// For runs of two or more consecutive one-line `action` declarations
    /// (no comments in or between them, no blank line between them), the
    /// lines with their `on` and attribute columns aligned.
    fn action_runs(&self, items: &[Node<Item>]) -> Vec<Option<String>> {
        let mut out: Vec<Option<String>> = vec![None; items.len()];
        let alignable = |it: &Node<Item>| {
            matches!(it.node, Item::Action(_))
                && !self.has_comment_in(it.span.start as usize, it.span.end as usize)
        };
        let mut i = 0;
        while i < items.len() {
            let mut j = i;
            while items.get(j).is_some_and(alignable) {
                let next = j + 1;
                let joined = match (items.get(j), items.get(next)) {
                    (Some(a), Some(b)) if alignable(b) => {
                        !self.has_comment_in(a.span.end as usize, b.span.start as usize)
                            && !self.blank_before(b.span.start as usize)
                    }
                    _ => false,
                };
                j = next;
                if !joined {
                    break;
                }
            }
            if j - i >= 2 {
                let run: Vec<(String, String, String)> = items
                    .get(i..j)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|it| match &it.node {
                        Item::Action(a) => Some(action_parts(a)),
                        _ => None,
                    })
                    .collect();
                let nw = run.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
                let ow = run
                    .iter()
                    .filter(|r| !r.2.is_empty())
                    .map(|r| r.1.chars().count())
                    .max()
                    .unwrap_or(0);
                for (k, (n, on, attrs)) in run.into_iter().enumerate() {
                    let line = format!("action {n:<nw$} on {on:<ow$} {attrs}");
                    if let Some(slot) = out.get_mut(i + k) {
                        *slot = Some(line.trim_end().to_string());
                    }
                }
            }
            i = j.max(i + 1);
        }
        out
    }

    fn item(&mut self, item: &Node<Item>) -> R<Doc> {
        let start = item.span.start as usize;
        let close = (item.span.end as usize).saturating_sub(1);
        Ok(match &item.node {
            Item::Package(_, p) => cat(vec![self.tok(start, "package "), self.path(&p.node)]),
            Item::Use(p) => cat(vec![self.tok(start, "use "), self.path(&p.node)]),
            Item::Entity(d) | Item::Record(d) => {
                let kw = if matches!(item.node, Item::Entity(_)) {
                    "entity "
                } else {
                    "record "
                };
                let head = cat(vec![
                    self.tok(start, kw),
                    self.tok(d.name.span.start as usize, d.name.node.clone()),
                    text(" "),
                ]);
                let body = self.fields_block(&d.fields, close)?;
                cat(vec![head, body])
            }
            Item::Context(_, fields) => {
                let head = self.tok(start, "context ");
                let body = self.fields_block(fields, close)?;
                cat(vec![head, body])
            }
            Item::Enum(e) => {
                let head = cat(vec![
                    self.tok(start, "enum "),
                    self.tok(e.name.span.start as usize, e.name.node.clone()),
                    text(" "),
                ]);
                let body = self.enum_body(&e.variants, close);
                cat(vec![head, body])
            }
            Item::Action(a) => self.action(start, a),
            Item::Const(c) => {
                let mut head = vec![
                    self.tok(start, "const "),
                    self.tok(c.name.span.start as usize, c.name.node.clone()),
                ];
                if let Some(t) = &c.ty {
                    head.push(text(": "));
                    head.push(self.ty(t));
                }
                head.push(text(" ="));
                let value = self.expr(&c.value, true)?;
                after_equals(cat(head), value)
            }
            Item::Fn(f) => {
                let mut head = vec![
                    self.tok(start, "fn "),
                    self.tok(f.name.span.start as usize, f.name.node.clone()),
                    text("("),
                ];
                let mut params = Vec::new();
                for (i, p) in f.params.iter().enumerate() {
                    if i > 0 {
                        params.push(text(","));
                        params.push(Doc::Line);
                    }
                    params.push(self.field(p));
                }
                let close_paren = self.find_token(
                    f.params.last().map_or(f.name.span.end, |p| p.ty.span.end) as usize,
                    ")",
                );
                let tail = close_paren.map_or_else(|| cat(vec![]), |p| self.flush(p));
                head.push(group(cat(vec![
                    nest(
                        2,
                        cat(vec![
                            Doc::SoftLine,
                            cat(params),
                            if_break(text(if f.params.is_empty() { "" } else { "," }), text("")),
                            tail,
                        ]),
                    ),
                    Doc::SoftLine,
                ])));
                head.push(text(") -> "));
                head.push(self.ty(&f.ret));
                head.push(text(" ="));
                let body = self.expr(&f.body, true)?;
                after_equals(cat(head), body)
            }
            Item::Task(t) => {
                let kw = match t.kind {
                    TaskKind::Task => "task ",
                    TaskKind::Breakglass => "breakglass ",
                };
                let head = cat(vec![
                    self.tok(start, kw),
                    self.tok(t.name.span.start as usize, t.name.node.clone()),
                    text(" "),
                ]);
                let mut entries: Vec<Entry<'_, 'a>> = Vec::new();
                for ti in &t.items {
                    entries.push((
                        ti.span.start as usize,
                        Box::new(move |b: &mut Self| b.task_item(ti)),
                    ));
                }
                let body = self.braced(entries, close)?;
                cat(vec![head, body])
            }
            Item::Rule(r) => self.rule(r)?,
            Item::Error => return internal("error node"),
        })
    }

    fn task_item(&mut self, ti: &Node<TaskItem>) -> R<Doc> {
        let start = ti.span.start as usize;
        Ok(match &ti.node {
            TaskItem::Ttl(d) => cat(vec![self.tok(start, "ttl "), self.literal(d.span)]),
            TaskItem::Notify(s) => cat(vec![self.tok(start, "notify "), self.literal(s.span)]),
            TaskItem::Unknown(key) => {
                let value_pos = key.span.end as usize;
                let value = match self.token_from(value_pos) {
                    Some((s, _)) => s,
                    None => return internal("task setting"),
                };
                let v = self.token_text(value_pos).to_string();
                cat(vec![
                    self.tok(start, key.node.clone()),
                    text(" "),
                    self.tok(value, v),
                ])
            }
            TaskItem::Rule(r) => self.rule(r)?,
            TaskItem::Error => return internal("error node"),
        })
    }

    fn fields_block(&mut self, fields: &[Field], close: usize) -> R<Doc> {
        let mut entries: Vec<Entry<'_, 'a>> = Vec::new();
        for f in fields {
            entries.push((
                f.name.span.start as usize,
                Box::new(move |b: &mut Self| Ok(b.field(f))),
            ));
        }
        self.braced(entries, close)
    }

    fn field(&mut self, f: &Field) -> Doc {
        cat(vec![
            self.tok(f.name.span.start as usize, f.name.node.clone()),
            text(": "),
            self.ty(&f.ty),
        ])
    }

    fn enum_body(&mut self, variants: &[Ident], close: usize) -> Doc {
        if variants.is_empty() && self.comment_pos() >= close {
            return text("{}");
        }
        let mut inner = Vec::new();
        for (i, v) in variants.iter().enumerate() {
            let pos = v.span.start as usize;
            if i > 0 {
                inner.push(if_break(text(""), text(",")));
            }
            inner.push(self.flush(pos));
            inner.push(Doc::Line);
            inner.push(text(v.node.clone()));
        }
        inner.push(self.flush(close));
        group(cat(vec![
            text("{"),
            nest(2, cat(inner)),
            Doc::Line,
            text("}"),
        ]))
    }

    fn comment_pos(&self) -> usize {
        self.comments.get(self.next).map_or(usize::MAX, |c| c.start)
    }

    fn action(&mut self, start: usize, a: &ActionDecl) -> Doc {
        let mut v = vec![self.tok(start, "action "), self.path_node(&a.name)];
        for (i, p) in a.on.iter().enumerate() {
            v.push(text(if i == 0 { " on " } else { ", " }));
            v.push(self.path_node(p));
        }
        for attr in &a.attrs {
            let (k, val) = match &attr.node {
                ActionAttr::Sensitivity(s) => ("sensitivity ", s),
                ActionAttr::Grants(t) => ("grants ", t),
            };
            v.push(text(" "));
            v.push(self.tok(attr.span.start as usize, k));
            v.push(self.tok(val.span.start as usize, val.node.clone()));
        }
        cat(v)
    }

    fn path(&mut self, p: &Path) -> Doc {
        let mut v = Vec::new();
        for (i, seg) in p.0.iter().enumerate() {
            if i > 0 {
                v.push(text("."));
            }
            v.push(self.tok(seg.span.start as usize, seg.node.clone()));
        }
        cat(v)
    }

    fn path_node(&mut self, p: &Node<Path>) -> Doc {
        self.path(&p.node)
    }

    fn ty(&mut self, t: &Node<TypeExpr>) -> Doc {
        match &t.node {
            TypeExpr::Named(p) => self.path(p),
            TypeExpr::Set(inner) => {
                let head = self.tok(t.span.start as usize, "Set<");
                let inner = self.ty(inner);
                cat(vec![head, inner, text(">")])
            }
            TypeExpr::Optional(inner) => {
                // `T??` would read as the `??` operator.
                let sep = if matches!(inner.node, TypeExpr::Optional(_)) {
                    " ?"
                } else {
                    "?"
                };
                cat(vec![self.ty(inner), text(sep)])
            }
        }
    }

    // -------------------------------------------------------------- rules

    fn rule(&mut self, r: &Rule) -> R<Doc> {
        let mut v = Vec::new();
        for a in &r.annotations {
            let name = a.name.span.start as usize;
            let at = self.token_before(name).unwrap_or(name);
            v.push(self.tok(at, "@"));
            v.push(self.tok(name, a.name.node.clone()));
            let open = self
                .find_token(a.name.span.end as usize, "(")
                .unwrap_or(name);
            v.push(self.tok(open, "("));
            v.push(self.literal(a.arg.span));
            v.push(text(")"));
            v.push(Doc::HardLine);
        }
        let mut head = Vec::new();
        match r.effect.node {
            Effect::Permit => head.push(self.tok(r.effect.span.start as usize, "permit ")),
            Effect::Forbid => head.push(self.tok(r.effect.span.start as usize, "forbid ")),
        }
        if let Some(p) = &r.principal {
            head.push(self.type_pattern(p));
            head.push(text(" to "));
        }
        let mut acts = Vec::new();
        for (i, a) in r.actions.iter().enumerate() {
            if i > 0 {
                acts.push(text(","));
                acts.push(Doc::Line);
            }
            acts.push(match &a.node {
                ActionPattern::Any => self.tok(a.span.start as usize, "*"),
                ActionPattern::Exact(p) => self.path(p),
                ActionPattern::Namespace(p) => cat(vec![self.path(p), text(".*")]),
            });
        }
        head.push(group(nest(4, cat(acts))));
        if let Some(res) = &r.resource {
            head.push(text(" on "));
            head.push(self.type_pattern(res));
        }
        v.push(cat(head));
        let inline = r.effect.node == Effect::Forbid
            && r.clauses.len() == 1
            && !r
                .clauses
                .iter()
                .any(|c| self.has_comment_in(r.head.end as usize, c.span.start as usize))
            && r.clauses
                .iter()
                .all(|c| matches!(c.node, Clause::When(_) | Clause::Unless(_)));
        let mut clauses = Vec::new();
        for c in &r.clauses {
            clauses.push(if inline { Doc::Line } else { Doc::HardLine });
            clauses.push(self.clause(c)?);
        }
        // A lone `when`/`unless` of a `forbid` stays on the head line when
        // the whole rule fits there.
        let body = nest(2, cat(clauses));
        v.push(if inline { group(body) } else { body });
        Ok(cat(v))
    }

    fn type_pattern(&mut self, p: &Node<TypePattern>) -> Doc {
        match &p.node {
            TypePattern::Any => self.tok(p.span.start as usize, "*"),
            TypePattern::Named(path) => self.path(path),
        }
    }

    fn clause(&mut self, c: &Node<Clause>) -> R<Doc> {
        let start = c.span.start as usize;
        Ok(match &c.node {
            Clause::For(d) => cat(vec![self.tok(start, "for "), self.literal(d.span)]),
            Clause::When(e) => cat(vec![self.tok(start, "when "), self.top_expr(e)?]),
            Clause::Unless(e) => cat(vec![self.tok(start, "unless "), self.top_expr(e)?]),
            Clause::Require(e, label) => {
                let kw = self.tok(start, "require ");
                let cond = self.top_expr(e)?;
                match label {
                    None => cat(vec![kw, cond]),
                    Some(l) => {
                        let else_pos = self
                            .find_token(e.span.end as usize, "else")
                            .unwrap_or(l.span.start as usize);
                        let before = self.flush(else_pos);
                        let lit = self.literal(l.span);
                        group(cat(vec![
                            kw,
                            cond,
                            before,
                            nest(2, cat(vec![Doc::Line, text("else "), lit])),
                        ]))
                    }
                }
            }
        })
    }

    // -------------------------------------------------------------- expressions

    /// An expression in a position of its own (a clause, a value, a body).
    fn top_expr(&mut self, e: &Node<Expr>) -> R<Doc> {
        self.expr(e, false)
    }

    /// `nested`: the expression is an operand of an `or` chain, so a broken
    /// `and` chain hangs instead of aligning with the `or`.
    fn expr(&mut self, e: &Node<Expr>, nested: bool) -> R<Doc> {
        let pos = e.span.start as usize;
        Ok(match &e.node {
            Expr::Bool(_)
            | Expr::Int(_)
            | Expr::Str(_)
            | Expr::Duration(_)
            | Expr::Ip(_)
            | Expr::Net(_) => self.literal(e.span),
            Expr::Name(n) => self.tok(n.span.start as usize, n.node.clone()),
            Expr::Set(items) => {
                let close = self
                    .find_token(items.last().map_or(pos, |i| i.span.end as usize), "]")
                    .unwrap_or(e.span.end as usize);
                self.list("[", items, "]", close)?
            }
            Expr::Field {
                base,
                name,
                optional,
            } => {
                let b = self.child(base, 8, nested)?;
                let dot = if *optional { "?." } else { "." };
                cat(vec![
                    b,
                    self.tok(name.span.start as usize, format!("{dot}{}", name.node)),
                ])
            }
            Expr::Call { callee, args } => {
                let c = self.child(callee, 8, nested)?;
                let after = args
                    .last()
                    .map_or(callee.span.end as usize, |a| a.span.end as usize);
                let close = self.find_token(after, ")").unwrap_or(e.span.end as usize);
                let l = match args.as_slice() {
                    // `f([a, b])`: a lone set argument hugs the parentheses.
                    [one] if matches!(&one.node, Expr::Set(items) if !items.is_empty()) => {
                        let set = self.expr(one, false)?;
                        let end = self.flush(close);
                        cat(vec![text("("), set, end, text(")")])
                    }
                    _ => self.list("(", args, ")", close)?,
                };
                cat(vec![c, l])
            }
            Expr::Unary(UnOp::Not, x) => {
                let kw = self.tok(pos, "not ");
                // `not (a == b)` and `not (a ?? b)`: clearer than without.
                let min = match prec(&x.node) {
                    4 | 5 => 6,
                    _ => 3,
                };
                cat(vec![kw, self.child(x, min, nested)?])
            }
            Expr::Unary(UnOp::Neg, x) => {
                let kw = self.tok(pos, "-");
                cat(vec![kw, self.child(x, 7, nested)?])
            }
            Expr::Has(x) => {
                let kw = self.tok(pos, "has ");
                cat(vec![kw, self.child(x, 8, nested)?])
            }
            Expr::Like(x, pat) => {
                // `(a ?? b) like ...`: clearer than `a ?? b like ...`.
                let l = self.child(x, 6, nested)?;
                let like = self.find_token(x.span.end as usize, "like").unwrap_or(pos);
                let kw = self.tok(like, " like ");
                let p = self.literal(pat.span);
                cat(vec![l, kw, p])
            }
            Expr::Binary(op @ (BinOp::Or | BinOp::And), _, _) => self.chain(e, *op, nested)?,
            Expr::Binary(op, l, r) => {
                let (lmin, rmin) = match op {
                    BinOp::Default => (6, 5),
                    BinOp::Add | BinOp::Sub => (6, 7),
                    // Comparisons: `(a ?? b) == c` is clearer than `a ?? b == c`.
                    _ => (6, 6),
                };
                let ld = self.child(l, lmin, nested)?;
                let op_pos = self
                    .find_token(l.span.end as usize, op.as_str())
                    .unwrap_or(r.span.start as usize);
                let od = self.tok(op_pos, format!(" {} ", op.as_str()));
                let rd = self.child(r, rmin, nested)?;
                cat(vec![ld, od, rd])
            }
            Expr::Error => return internal("error node"),
        })
    }

    /// An operand, parenthesised when its precedence is below `min`.
    fn child(&mut self, e: &Node<Expr>, min: u8, nested: bool) -> R<Doc> {
        if prec(&e.node) >= min {
            return self.expr(e, nested);
        }
        let open = self.tok(e.span.start as usize, "(");
        let inner = self.expr(e, false)?;
        Ok(cat(vec![open, inner, text(")")]))
    }

    /// A left-leaning chain of `and` or `or`: flat when it fits, else one
    /// operand per line with the operators right-aligned before them (or
    /// hanging by two when the chain is itself an operand of `or`).
    fn chain(&mut self, e: &Node<Expr>, op: BinOp, nested: bool) -> R<Doc> {
        let mut operands: Vec<&Node<Expr>> = Vec::new();
        let mut cur = e;
        while let Expr::Binary(o, l, r) = &cur.node {
            if *o != op {
                break;
            }
            operands.push(r);
            cur = l;
        }
        operands.push(cur);
        operands.reverse();
        let (min_first, min_rest) = match op {
            BinOp::Or => (1, 2),
            _ => (2, 3),
        };
        // `a and (b ?? false)`: clearer than `a and b ?? false`.
        let min = |x: &Node<Expr>, m: u8| if prec(&x.node) == 5 { 6 } else { m };
        let word = op.as_str();
        let offset = -(word.len() as i32 + 1);
        let mut v = Vec::new();
        let mut prev_end = 0usize;
        for (i, x) in operands.iter().enumerate() {
            let inner_nested = op == BinOp::Or;
            if i == 0 {
                v.push(self.child(x, min(x, min_first), inner_nested)?);
            } else {
                let op_pos = self
                    .find_token(prev_end, word)
                    .unwrap_or(x.span.start as usize);
                v.push(self.flush(op_pos));
                v.push(if nested {
                    nest(2, Doc::Line)
                } else {
                    nest(offset, Doc::Line)
                });
                v.push(text(format!("{word} ")));
                v.push(self.child(x, min(x, min_rest), inner_nested)?);
            }
            prev_end = x.span.end as usize;
        }
        Ok(group(align(cat(v))))
    }

    /// `open items close` on one line when it fits, else one item per line
    /// with a trailing comma.
    fn list(&mut self, open: &str, items: &[Node<Expr>], close: &str, close_pos: usize) -> R<Doc> {
        if items.is_empty() {
            let c = self.flush(close_pos);
            return Ok(cat(vec![text(open), nest(2, c), text(close)]));
        }
        let mut inner = Vec::new();
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                inner.push(text(","));
            }
            inner.push(self.flush(x.span.start as usize));
            inner.push(if i == 0 { Doc::SoftLine } else { Doc::Line });
            inner.push(self.expr(x, false)?);
        }
        inner.push(if_break(text(","), text("")));
        inner.push(self.flush(close_pos));
        Ok(group(cat(vec![
            text(open),
            nest(2, cat(inner)),
            Doc::SoftLine,
            text(close),
        ])))
    }
}

/// `head = value`: the value on the head line when it fits there or holds
/// comments (which break it anyway), else on the next line indented by two.
fn after_equals(head: Doc, value: Doc) -> Doc {
    if value.forces() {
        cat(vec![head, text(" "), value])
    } else {
        group(cat(vec![head, nest(2, cat(vec![Doc::Line, value]))]))
    }
}

/// The pieces of a one-line action declaration: name, `on` list, attributes.
fn action_parts(a: &ActionDecl) -> (String, String, String) {
    let on: Vec<String> = a.on.iter().map(|p| p.node.text()).collect();
    let attrs: Vec<String> = a
        .attrs
        .iter()
        .map(|at| match &at.node {
            ActionAttr::Sensitivity(s) => format!("sensitivity {}", s.node),
            ActionAttr::Grants(t) => format!("grants {}", t.node),
        })
        .collect();
    (a.name.node.text(), on.join(", "), attrs.join(" "))
}

/// Binding strength, from 1 (`or`) to 9 (atoms); see the language reference §8.1.
fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Binary(BinOp::Or, ..) => 1,
        Expr::Binary(BinOp::And, ..) => 2,
        Expr::Unary(UnOp::Not, _) => 3,
        Expr::Binary(BinOp::Default, ..) => 5,
        Expr::Binary(BinOp::Add | BinOp::Sub, ..) => 6,
        Expr::Binary(..) | Expr::Like(..) => 4,
        Expr::Unary(UnOp::Neg, _) | Expr::Has(_) => 7,
        Expr::Field { .. } | Expr::Call { .. } => 8,
        _ => 9,
    }
}

// ------------------------------------------------------------------ diffs

/// A unified diff (three lines of context) from `old` to `new`, with
/// `name` in the `---`/`+++` headers; empty when the texts are equal.
pub fn unified_diff(name: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = diff_lines(&a, &b);
    // Group the edits into hunks with up to three lines of context.
    const CONTEXT: usize = 3;
    let mut out = format!("--- {name}\n+++ {name} (formatted)\n");
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Same(..)))
        .map(|(i, _)| i)
        .collect();
    let mut k = 0;
    while let Some(&first) = changed.get(k) {
        let start = first.saturating_sub(CONTEXT);
        let mut last = first;
        k += 1;
        while let Some(&next) = changed.get(k) {
            if next - last > 2 * CONTEXT {
                break;
            }
            last = next;
            k += 1;
        }
        let end = (last + CONTEXT + 1).min(ops.len());
        let hunk = ops.get(start..end).unwrap_or(&[]);
        let (mut a0, mut b0) = (None, None);
        let (mut an, mut bn) = (0, 0);
        let mut body = String::new();
        for op in hunk {
            match *op {
                Op::Same(i, j) => {
                    a0.get_or_insert(i);
                    b0.get_or_insert(j);
                    an += 1;
                    bn += 1;
                    body.push_str(&format!(" {}\n", a.get(i).unwrap_or(&"")));
                }
                Op::Del(i, j) => {
                    a0.get_or_insert(i);
                    b0.get_or_insert(j);
                    an += 1;
                    body.push_str(&format!("-{}\n", a.get(i).unwrap_or(&"")));
                }
                Op::Add(i, j) => {
                    a0.get_or_insert(i);
                    b0.get_or_insert(j);
                    bn += 1;
                    body.push_str(&format!("+{}\n", b.get(j).unwrap_or(&"")));
                }
            }
        }
        let line = |start: Option<usize>, n: usize| match (start, n) {
            (Some(s), 0) => format!("{s},0"),
            (Some(s), n) => format!("{},{n}", s + 1),
            (None, _) => "0,0".to_string(),
        };
        out.push_str(&format!("@@ -{} +{} @@\n", line(a0, an), line(b0, bn)));
        out.push_str(&body);
    }
    out
}

/// One step of a line diff: indices into the old and new lines (for an
/// insertion or deletion, the position in the other text).
#[derive(Clone, Copy, Debug)]
enum Op {
    Same(usize, usize),
    Del(usize, usize),
    Add(usize, usize),
}

/// A shortest edit script by longest common subsequence, after trimming
/// the common prefix and suffix. Very large differing middles are shown
/// as one replacement rather than compared line by line.
fn diff_lines(a: &[&str], b: &[&str]) -> Vec<Op> {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let max_suf = a.len().min(b.len()) - pre;
    let suf = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suf)
        .take_while(|(x, y)| x == y)
        .count();
    let am = a.get(pre..a.len() - suf).unwrap_or(&[]);
    let bm = b.get(pre..b.len() - suf).unwrap_or(&[]);
    let mut ops: Vec<Op> = (0..pre).map(|i| Op::Same(i, i)).collect();
    let (n, m) = (am.len(), bm.len());
    if n.saturating_mul(m) > 4_000_000 {
        ops.extend((0..n).map(|i| Op::Del(pre + i, pre)));
        ops.extend((0..m).map(|j| Op::Add(pre + n, pre + j)));
    } else {
        // lcs[i][j]: length of the LCS of am[i..] and bm[j..].
        let w = m + 1;
        let mut lcs = vec![0u32; (n + 1) * w];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                let v = if am.get(i) == bm.get(j) {
                    lcs.get((i + 1) * w + j + 1).copied().unwrap_or(0) + 1
                } else {
                    let down = lcs.get((i + 1) * w + j).copied().unwrap_or(0);
                    let right = lcs.get(i * w + j + 1).copied().unwrap_or(0);
                    down.max(right)
                };
                if let Some(cell) = lcs.get_mut(i * w + j) {
                    *cell = v;
                }
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            let at = |i: usize, j: usize| lcs.get(i * w + j).copied().unwrap_or(0);
            if i < n && j < m && am.get(i) == bm.get(j) {
                ops.push(Op::Same(pre + i, pre + j));
                i += 1;
                j += 1;
            } else if i < n && (j == m || at(i + 1, j) >= at(i, j + 1)) {
                ops.push(Op::Del(pre + i, pre + j));
                i += 1;
            } else {
                ops.push(Op::Add(pre + i, pre + j));
                j += 1;
            }
        }
    }
    let (a_end, b_end) = (a.len() - suf, b.len() - suf);
    ops.extend((0..suf).map(|k| Op::Same(a_end + k, b_end + k)));
    ops
}
