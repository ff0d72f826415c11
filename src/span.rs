//! Source locations: files, byte spans and AST nodes that carry them.
//!
//! Spans are deliberately kept out of node equality ([`Node`]'s `PartialEq`
//! compares only the value), so two trees that differ only in layout compare
//! equal.

use std::fmt;
use std::ops::Range;

/// Index of a source file in a [`SourceMap`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A half-open byte range `start..end` in one source file.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    /// The file the span points into.
    pub file: FileId,
    /// Byte offset of the first byte.
    pub start: u32,
    /// Byte offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// A span over `range` in `file`; offsets beyond `u32::MAX` saturate.
    pub fn new(file: FileId, range: Range<usize>) -> Span {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            file,
            start: clamp(range.start),
            end: clamp(range.end.max(range.start)),
        }
    }

    /// The smallest span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// The byte range of the span.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A value with the span it was written at. Equality and hashing ignore the span.
#[derive(Clone)]
pub struct Node<T> {
    /// The value.
    pub node: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Node<T> {
    /// Wraps `node` with `span`.
    pub fn new(node: T, span: Span) -> Node<T> {
        Node { node, span }
    }

    /// Maps the value, keeping the span.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Node<U> {
        Node {
            node: f(self.node),
            span: self.span,
        }
    }
}

impl<T: PartialEq> PartialEq for Node<T> {
    fn eq(&self, other: &Self) -> bool {
        self.node == other.node
    }
}

impl<T: Eq> Eq for Node<T> {}

impl<T: std::hash::Hash> std::hash::Hash for Node<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.node.hash(state)
    }
}

impl<T: fmt::Debug> fmt::Debug for Node<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.node.fmt(f)
    }
}

impl<T> std::ops::Deref for Node<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.node
    }
}

/// One source file: a display name (usually its path) and its text.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics.
    pub name: String,
    /// The full text.
    pub text: String,
    /// Byte offset of the start of every line, for `line_col`.
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// The text of 1-based line `n`, without its line end; lines end
    /// where [`is_line_end`] says, as everywhere else in jitp.
    pub fn line(&self, n: usize) -> Option<&str> {
        let start = *self.line_starts.get(n.checked_sub(1)?)?;
        let end = self.line_starts.get(n).copied().unwrap_or(self.text.len());
        let line = self.text.get(start..end)?;
        Some(line.trim_end_matches(is_line_end))
    }
}

/// All source files of a compilation, indexed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// The policy sources a bundle embeds, with file ids matching the
    /// bundle's spans.
    pub fn of_bundle(bundle: &jitp_runtime::Bundle) -> SourceMap {
        let mut sources = SourceMap::new();
        for (name, text) in bundle.sources() {
            sources.add(name.to_string(), text.to_string());
        }
        sources
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        let text = text.into();
        let line_starts = line_starts(&text);
        self.files.push(SourceFile {
            name: name.into(),
            text,
            line_starts,
        });
        id
    }

    /// The id of a file with this name and text, adding it if there is none.
    pub fn find_or_add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        let (name, text) = (name.into(), text.into());
        let found = self
            .iter()
            .find(|(_, f)| f.name == name && f.text == text)
            .map(|(id, _)| id);
        found.unwrap_or_else(|| self.add(name, text))
    }

    /// The file with id `id`, if any.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// All files with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    /// The text a span covers, or `""` if it is out of range.
    pub fn snippet(&self, span: Span) -> &str {
        self.get(span.file)
            .and_then(|f| f.text.get(span.range()))
            .unwrap_or("")
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: u32) -> (usize, usize) {
        let Some(f) = self.get(file) else {
            return (1, 1);
        };
        let offset = (offset as usize).min(f.text.len());
        // the last line starting at or before `offset` (line 0 starts at 0)
        let line = f
            .line_starts
            .partition_point(|&start| start <= offset)
            .max(1);
        let line_start = f.line_starts.get(line - 1).copied().unwrap_or(0);
        let col = f
            .text
            .get(line_start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, col)
    }
}

/// Whether `c` ends a line. jitp follows Unicode (UAX #14's mandatory
/// breaks): LF, CR, VT, FF, NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR
/// all end a line (CR LF counts once), so a `//` comment ends wherever an
/// editor or a diff viewer shows the line ending — text after a lone CR is
/// code, never hidden in the comment.
pub fn is_line_end(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// Byte offsets at which the lines of `text` start (the first is 0).
fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !is_line_end(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\r' {
            if let Some((j, '\n')) = chars.peek().copied() {
                chars.next();
                end = j + 1;
            }
        }
        starts.push(end);
    }
    starts
}

/// Runs `f` on a thread with a large stack (the front end and the compiler
/// recurse over expressions, whose nesting the parser bounds), or on the
/// current thread if no thread can be started.
pub fn with_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    const STACK: usize = 256 * 1024 * 1024;
    let job = std::sync::Mutex::new(Some(f));
    let take = || job.lock().ok().and_then(|mut slot| slot.take());
    let result = std::thread::scope(|s| {
        let spawned = std::thread::Builder::new()
            .name("jitp-compile".into())
            .stack_size(STACK)
            .spawn_scoped(s, || take().map(|f| f()));
        match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        }
    });
    match result {
        Some(r) => r,
        None => match take() {
            Some(f) => f(),
            None => unreachable!("the job ran on the spawned thread"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let mut m = SourceMap::new();
        let f = m.add("a.jitp", "ab\n\ncé d\nlast");
        let at = |o: u32| m.line_col(f, o);
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(2), (1, 3)); // the newline itself
        assert_eq!(at(3), (2, 1)); // an empty line
        assert_eq!(at(4), (3, 1));
        assert_eq!(at(7), (3, 3)); // after the two-byte `é`
        assert_eq!(at(10), (4, 1));
        assert_eq!(at(14), (4, 5)); // end of text
        assert_eq!(at(999), (4, 5)); // clamped
        assert_eq!(m.line_col(FileId(7), 0), (1, 1)); // unknown file
    }
}
