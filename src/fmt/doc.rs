//! The layout document and its printer: text, optional line breaks and
//! groups that break as a whole when they do not fit.

use super::slice;

/// A layout document in the style of Wadler's "prettier printer": text,
/// optional line breaks and groups that break as a whole when they do not
/// fit. Containers record whether they hold a forced break (a hard line or
/// a comment), so such groups never lay out flat.
#[derive(Debug)]
pub(super) enum Doc {
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
    pub(super) fn forces(&self) -> bool {
        match self {
            Doc::HardLine | Doc::Comment { .. } => true,
            Doc::Nest(_, _, b) | Doc::Align(_, b) | Doc::Group(_, b) | Doc::Concat(_, b) => *b,
            Doc::IfBreak(a, b) => a.forces() || b.forces(),
            _ => false,
        }
    }
}

pub(super) fn text(s: impl Into<String>) -> Doc {
    Doc::Text(s.into())
}

pub(super) fn cat(v: Vec<Doc>) -> Doc {
    let b = v.iter().any(Doc::forces);
    Doc::Concat(v, b)
}

pub(super) fn nest(i: i32, d: Doc) -> Doc {
    let b = d.forces();
    Doc::Nest(i, Box::new(d), b)
}

pub(super) fn align(d: Doc) -> Doc {
    let b = d.forces();
    Doc::Align(Box::new(d), b)
}

pub(super) fn group(d: Doc) -> Doc {
    let b = d.forces();
    Doc::Group(Box::new(d), b)
}

pub(super) fn if_break(broken: Doc, flat: Doc) -> Doc {
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
pub(super) fn render(doc: &Doc, width: usize) -> String {
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
