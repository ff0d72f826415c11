//! JSON paths and locations: the path of a value in a suite (such as
//! `cases[2].request.context.risk`), its text form, and its line and
//! column in the suite's source text, so that errors point at the value.

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

pub(super) type JPath = Vec<Seg>;

pub(super) fn path_string(p: &[Seg]) -> String {
    let mut s = String::new();
    for seg in p {
        match seg {
            Seg::Key(k) => push_key(&mut s, k),
            Seg::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

/// Appends member `k` to the path text `s` (`a` and `b` give `a.b`; the
/// empty path and `b` give `b`), as in [`path_string`] and request paths.
pub(super) fn push_key(s: &mut String, k: &str) {
    if !s.is_empty() {
        s.push('.');
    }
    s.push_str(k);
}

pub(super) fn with(p: &[Seg], seg: Seg) -> JPath {
    let mut v = p.to_vec();
    v.push(seg);
    v
}

pub(super) fn key(p: &[Seg], k: &str) -> JPath {
    with(p, Seg::Key(k.to_string()))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The end (exclusive) of the string starting at `i`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The end (exclusive) of the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// The byte offset, in well-formed JSON `text`, of the value at `path`
/// (of its key, for an object member): one walk per question, the oracle
/// the [`Index`] is tested against.
#[cfg(test)]
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    let mut at = i;
    for seg in path {
        i = skip_ws(b, i);
        match (seg, b.get(i)?) {
            (Seg::Key(want), b'{') => {
                i += 1;
                loop {
                    i = skip_ws(b, i);
                    let start = i;
                    let end = skip_string(b, i)?;
                    let k: String = serde_json::from_str(text.get(start..end)?).ok()?;
                    i = skip_ws(b, end);
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i = skip_ws(b, i + 1);
                    if k == *want {
                        at = start;
                        break;
                    }
                    i = skip_ws(b, skip_value(b, i)?);
                    if b.get(i) != Some(&b',') {
                        return None;
                    }
                    i += 1;
                }
            }
            (Seg::Index(n), b'[') => {
                i = skip_ws(b, i + 1);
                for _ in 0..*n {
                    i = skip_ws(b, skip_value(b, i)?);
                    if b.get(i) != Some(&b',') {
                        return None;
                    }
                    i = skip_ws(b, i + 1);
                }
                at = i;
            }
            _ => return None,
        }
    }
    Some(at)
}

/// Where every value of one JSON text is, found in one pass: so that a
/// suite with thousands of problems locates each in logarithmic time
/// rather than walking the text again for every one.
#[derive(Debug, Default)]
pub(super) struct Index {
    /// `path_string` of each value -> its offset ([`locate`]'s answer).
    at: std::collections::HashMap<String, usize>,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl Index {
    /// Indexes well-formed JSON `text` (nesting is bounded by the parser
    /// that accepted it).
    pub(super) fn build(text: &str) -> Index {
        let b = text.as_bytes();
        let mut index = Index {
            at: std::collections::HashMap::new(),
            line_starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        };
        let start = skip_ws(b, 0);
        index.at.insert(String::new(), start);
        index.value(text, start, &mut String::new());
        index
    }

    /// Records the members of the value at `i` (whose path is `path`);
    /// returns the end of the value.
    fn value(&mut self, text: &str, i: usize, path: &mut String) -> Option<usize> {
        let b = text.as_bytes();
        match b.get(i)? {
            b'{' => {
                let mut i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b'}') {
                    return Some(i + 1);
                }
                loop {
                    let start = i;
                    let end = skip_string(b, i)?;
                    let k: String = serde_json::from_str(text.get(start..end)?).ok()?;
                    i = skip_ws(b, end);
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i = skip_ws(b, i + 1);
                    let len = path.len();
                    push_key(path, &k);
                    // The first occurrence wins, as `locate` finds it.
                    self.at.entry(path.clone()).or_insert(start);
                    let after = self.value(text, i, path);
                    path.truncate(len);
                    i = skip_ws(b, after?);
                    match b.get(i)? {
                        b',' => i = skip_ws(b, i + 1),
                        b'}' => return Some(i + 1),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                let mut i = skip_ws(b, i + 1);
                if b.get(i) == Some(&b']') {
                    return Some(i + 1);
                }
                let mut n = 0usize;
                loop {
                    let len = path.len();
                    let _ = write!(path, "[{n}]");
                    self.at.entry(path.clone()).or_insert(i);
                    let after = self.value(text, i, path);
                    path.truncate(len);
                    i = skip_ws(b, after?);
                    match b.get(i)? {
                        b',' => i = skip_ws(b, i + 1),
                        b']' => return Some(i + 1),
                        _ => return None,
                    }
                    n += 1;
                }
            }
            _ => skip_value(b, i),
        }
    }

    /// 1-based line and column of the value at `path`, if it is in the text.
    pub(super) fn line_col(&self, text: &str, path: &[Seg]) -> Option<(usize, usize)> {
        let offset = *self.at.get(&path_string(path))?;
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = *self.line_starts.get(line - 1)?;
        let col = text.get(start..offset)?.chars().count() + 1;
        Some((line, col))
    }
}

/// 1-based line and column (in characters) of byte `offset`.
#[cfg(test)]
fn line_col(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..)?.chars().count() + 1;
    Some((line, col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_nested_values() {
        let text = "{\n  \"a\": [1, {\"b\": \"x\"}],\n  \"c\": {\"d\": 2}\n}";
        let p = vec![Seg::Key("a".into()), Seg::Index(1), Seg::Key("b".into())];
        let off = locate(text, &p).unwrap();
        assert_eq!(line_col(text, off), Some((2, 13)));
        let p = vec![Seg::Key("c".into()), Seg::Key("d".into())];
        assert_eq!(line_col(text, locate(text, &p).unwrap()), Some((3, 9)));
        assert_eq!(locate(text, &[Seg::Key("zz".into())]), None);
    }

    #[test]
    fn the_index_agrees_with_locate() {
        let text =
            "{\n  \"a\": [1, {\"b\": \"x\"}, [], {}],\n  \"c\": {\"d\": 2, \"e\\u0041\": [3]}\n}";
        let index = Index::build(text);
        let paths = [
            vec![],
            vec![Seg::Key("a".into())],
            vec![Seg::Key("a".into()), Seg::Index(0)],
            vec![Seg::Key("a".into()), Seg::Index(1), Seg::Key("b".into())],
            vec![Seg::Key("a".into()), Seg::Index(2)],
            vec![Seg::Key("a".into()), Seg::Index(3)],
            vec![Seg::Key("c".into()), Seg::Key("d".into())],
            vec![Seg::Key("c".into()), Seg::Key("eA".into()), Seg::Index(0)],
            vec![Seg::Key("zz".into())],
        ];
        for p in paths {
            assert_eq!(
                index.line_col(text, &p),
                locate(text, &p).and_then(|o| line_col(text, o)),
                "{p:?}"
            );
        }
    }
}
