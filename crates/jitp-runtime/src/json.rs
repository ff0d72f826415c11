//! A borrowed JSON tree for request binding: strings without escapes point
//! into the request text and objects are small vectors, so parsing a
//! request allocates far less than a `serde_json::Value` would.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A JSON value borrowing from its text where it can.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum J<'a> {
    Null,
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// Any other number (not accepted where an `Int` is expected), with
    /// its text: as written when parsed from text ([`fill_number_text`]),
    /// else the parser's shortest form of the binary floating-point value.
    OtherNumber(Cow<'a, str>),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    /// Entries in document order. Parsing keeps a repeated key;
    /// [`check_shape`] refuses it before anything reads the object.
    Obj(Vec<(Cow<'a, str>, J<'a>)>),
}

impl<'a> J<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            J::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            J::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[J<'a>]> {
        match self {
            J::Arr(items) => Some(items),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, J<'a>)]> {
        match self {
            J::Obj(entries) => Some(entries),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }
    /// The value of `key` in an object (keys are unique once
    /// [`check_shape`] passed).
    pub fn get(&self, key: &str) -> Option<&J<'a>> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Converts a `serde_json::Value`, borrowing its strings; `None` when
    /// it is nested deeper than `limit` levels (a scalar is one level), so
    /// the recursion is bounded whatever the value.
    pub fn from_value(v: &'a serde_json::Value, limit: usize) -> Option<J<'a>> {
        if limit == 0 {
            return None;
        }
        Some(match v {
            serde_json::Value::Null => J::Null,
            serde_json::Value::Bool(b) => J::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => J::Int(i),
                None if n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) => J::Int(0),
                None => J::OtherNumber(Cow::Owned(n.to_string())),
            },
            serde_json::Value::String(s) => J::Str(Cow::Borrowed(s)),
            serde_json::Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(J::from_value(i, limit - 1)?);
                }
                J::Arr(out)
            }
            serde_json::Value::Object(m) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    out.push((Cow::Borrowed(k.as_str()), J::from_value(v, limit - 1)?));
                }
                J::Obj(out)
            }
        })
    }
}

/// Object keys, borrowed where possible.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct JVisitor;
        impl<'de> Visitor<'de> for JVisitor {
            type Value = J<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<J<'de>, E> {
                Ok(J::Null)
            }
            fn visit_none<E>(self) -> Result<J<'de>, E> {
                Ok(J::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<J<'de>, E> {
                Ok(J::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<J<'de>, E> {
                Ok(J::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<J<'de>, E> {
                Ok(i64::try_from(v)
                    .map_or_else(|_| J::OtherNumber(Cow::Owned(v.to_string())), J::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<J<'de>, E> {
                // serde_json reads `-0` as a float to keep its sign; it is
                // the integer zero (so is `-0.0`, which is exactly zero).
                // Any other fraction or exponent is not an integer.
                Ok(if v == 0.0 && v.is_sign_negative() {
                    J::Int(0)
                } else {
                    J::OtherNumber(Cow::Owned(v.to_string()))
                })
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<J<'de>, E> {
                Ok(J::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<J<'de>, E> {
                Ok(J::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<J<'de>, E> {
                Ok(J::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(v) = seq.next_element()? {
                    items.push(v);
                }
                Ok(J::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, J<'de>>()? {
                    entries.push((k, v));
                }
                Ok(J::Obj(entries))
            }
        }
        d.deserialize_any(JVisitor)
    }
}

/// The number tokens of JSON `text`, in document order, as written. The
/// text must be valid JSON (it parsed): outside strings a number is the
/// only token that starts with `-` or a digit.
struct NumberTokens<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for NumberTokens<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        let mut in_string = false;
        while let Some(&b) = bytes.get(self.at) {
            if in_string {
                match b {
                    b'\\' => self.at += 1,
                    b'"' => in_string = false,
                    _ => {}
                }
                self.at += 1;
            } else if b == b'"' {
                in_string = true;
                self.at += 1;
            } else if b == b'-' || b.is_ascii_digit() {
                let start = self.at;
                while bytes
                    .get(self.at)
                    .is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    self.at += 1;
                }
                return self.text.get(start..self.at);
            } else {
                self.at += 1;
            }
        }
        None
    }
}

/// Gives every non-integer number of `root`, parsed from `text`, the text
/// it was written with (the parser only kept a binary floating-point
/// value), so that a `Decimal` is read exactly and `1.5e2` or a fraction
/// with too many digits is refused rather than rounded. Numbers are met in
/// document order, the order of their tokens in the text. Recursive: call
/// it after [`check_shape`] bounded the depth.
pub(crate) fn fill_number_text<'a>(root: &mut J<'a>, text: &'a str) {
    fn walk<'a>(v: &mut J<'a>, tokens: &mut NumberTokens<'a>) {
        match v {
            J::Int(_) => {
                tokens.next();
            }
            J::OtherNumber(raw) => {
                if let Some(t) = tokens.next() {
                    *raw = Cow::Borrowed(t);
                }
            }
            J::Arr(items) => items.iter_mut().for_each(|i| walk(i, tokens)),
            J::Obj(entries) => entries.iter_mut().for_each(|(_, v)| walk(v, tokens)),
            J::Null | J::Bool(_) | J::Str(_) => {}
        }
    }
    walk(root, &mut NumberTokens { text, at: 0 });
}

/// What [`check_shape`] found wrong with a parsed request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A value nests deeper than the limit.
    TooDeep,
    /// An object repeats a key: `key` (as written) in the object at `at`,
    /// a request path (`context.ticket`, `task.approvals[0]`; empty for the
    /// request itself).
    DuplicateKey { key: String, at: String },
}

/// Objects up to this size are searched for repeated keys pair by pair,
/// larger ones with a hash set.
const PAIRWISE_KEYS: usize = 16;

/// The index of the first entry whose key an earlier entry already has.
fn first_duplicate(entries: &[(Cow<'_, str>, J<'_>)]) -> Option<usize> {
    if entries.len() <= PAIRWISE_KEYS {
        (1..entries.len()).find(|&i| {
            let key = entries.get(i).map(|(k, _)| k);
            entries.iter().take(i).any(|(k, _)| Some(k) == key)
        })
    } else {
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        entries.iter().position(|(k, _)| !seen.insert(k.as_ref()))
    }
}

/// One open container of the walk, with the index of the child being
/// visited.
enum Frame<'j, 'a> {
    Arr(&'j [J<'a>], usize),
    Obj(&'j [(Cow<'a, str>, J<'a>)], usize),
}

/// Checks a parsed request before binding reads it: no value deeper than
/// `limit` (the root is at depth 1) and no object with a repeated key, at
/// any level. Iterative, so hostile nesting cannot overflow the stack;
/// linear in the size of the tree.
pub(crate) fn check_shape(root: &J<'_>, limit: usize) -> Result<(), Shape> {
    let mut stack: Vec<Frame<'_, '_>> = Vec::new();
    let mut next = Some(root);
    loop {
        if let Some(v) = next.take() {
            if stack.len() + 1 > limit {
                return Err(Shape::TooDeep);
            }
            match v {
                J::Arr(items) => stack.push(Frame::Arr(items, 0)),
                J::Obj(entries) => {
                    if let Some(i) = first_duplicate(entries) {
                        let key = entries.get(i).map_or("", |(k, _)| k.as_ref());
                        return Err(Shape::DuplicateKey {
                            key: key.to_string(),
                            at: frames_path(&stack),
                        });
                    }
                    stack.push(Frame::Obj(entries, 0));
                }
                _ => {}
            }
        }
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        let child = match top {
            Frame::Arr(items, i) => {
                *i += 1;
                items.get(*i - 1)
            }
            Frame::Obj(entries, i) => {
                *i += 1;
                entries.get(*i - 1).map(|(_, v)| v)
            }
        };
        match child {
            Some(c) => next = Some(c),
            None => {
                stack.pop();
            }
        }
    }
}

/// The request path of the container the walk is in: each open frame's
/// current child, keys dotted and indices in brackets.
fn frames_path(stack: &[Frame<'_, '_>]) -> String {
    let mut out = String::new();
    for f in stack {
        match f {
            Frame::Arr(_, i) => out.push_str(&format!("[{}]", i.saturating_sub(1))),
            Frame::Obj(entries, i) => {
                let k = entries.get(i.saturating_sub(1)).map_or("", |(k, _)| k);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&crate::value::Clip(k).to_string());
            }
        }
    }
    out
}

/// Parses JSON `text` into a `serde_json::Value` like `serde_json` does,
/// except that an object repeating a key is an error naming the key and
/// where it is (`duplicate key `risk` in `context``; `root` names the
/// top level, e.g. `the suite`). `serde_json` keeps the last of two equal
/// keys without a word, so a proxy that read the first and jitp would
/// decide different requests; every document jitp reads that way (suites,
/// server bodies, entity data) goes through here. Trailing data is
/// refused. The error carries serde_json's line and column.
pub fn parse_unique(text: &str, root: &str) -> Result<serde_json::Value, serde_json::Error> {
    use serde::de::DeserializeSeed as _;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Unique {
        at: &At::Root(""),
        root,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Where a value sits in a document, for error messages: a chain of
/// borrowed segments built on the reader's stack, formatted only when
/// something is wrong. `Root` names the top (`context`, or empty for a
/// whole document, whose keys then print without a leading dot).
#[derive(Copy, Clone)]
pub(crate) enum At<'p> {
    Root(&'p str),
    Key(&'p At<'p>, &'p str),
    Index(&'p At<'p>, usize),
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root(s) => f.write_str(s),
            At::Key(At::Root(""), k) => f.write_str(k),
            At::Key(parent, k) => write!(f, "{parent}.{k}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// The seed of [`parse_unique`]: where the value being read is.
struct Unique<'p> {
    at: &'p At<'p>,
    root: &'p str,
}

impl<'de> serde::de::DeserializeSeed<'de> for Unique<'_> {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<serde_json::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique<'_> {
    type Value = serde_json::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<serde_json::Value, E> {
        Ok(serde_json::Number::from_f64(v)
            .map_or(serde_json::Value::Null, serde_json::Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<serde_json::Value, E> {
        Ok(serde_json::Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<serde_json::Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let at = At::Index(self.at, items.len());
            match seq.next_element_seed(Unique {
                at: &at,
                root: self.root,
            })? {
                Some(v) => items.push(v),
                None => return Ok(serde_json::Value::Array(items)),
            }
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<serde_json::Value, A::Error> {
        use serde_json::map::Entry;
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            // One search per key: the slot is taken before the value is read.
            match out.entry(k) {
                Entry::Occupied(o) => {
                    let place = match self.at {
                        At::Root(_) => self.root.to_string(),
                        at => format!("`{at}`"),
                    };
                    return Err(serde::de::Error::custom(format!(
                        "duplicate key `{}` in {place}",
                        o.key()
                    )));
                }
                Entry::Vacant(slot) => {
                    let at = At::Key(self.at, slot.key());
                    let v = map.next_value_seed(Unique {
                        at: &at,
                        root: self.root,
                    })?;
                    slot.insert(v);
                }
            }
        }
        Ok(serde_json::Value::Object(out))
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn shape(text: &str) -> Result<(), Shape> {
        let j: J<'_> = serde_json::from_str(text).expect("JSON");
        check_shape(&j, 32)
    }

    fn dup(key: &str, at: &str) -> Result<(), Shape> {
        Err(Shape::DuplicateKey {
            key: key.into(),
            at: at.into(),
        })
    }

    #[test]
    fn repeated_keys_are_found_at_every_level_with_their_path() {
        assert_eq!(shape(r#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#), Ok(()));
        assert_eq!(shape(r#"{"now": 1, "now": 2}"#), dup("now", ""));
        assert_eq!(
            shape(r#"{"context": {"risk": 99, "risk": 10}}"#),
            dup("risk", "context")
        );
        assert_eq!(
            shape(r#"{"a": {}, "task": {"approvals": [{"by": "x"}, {"by": "x", "by": "y"}]}}"#),
            dup("by", "task.approvals[1]")
        );
        // escapes spell the same key
        assert_eq!(shape(r#"{"k": 1, "\u006b": 2}"#), dup("k", ""));
        // large objects take the hashed path
        let many: Vec<String> = (0..100).map(|i| format!("\"k{i}\": {i}")).collect();
        let text = format!("{{{}, \"k7\": 0}}", many.join(", "));
        assert_eq!(shape(&text), dup("k7", ""));
        let text = format!("{{{}}}", many.join(", "));
        assert_eq!(shape(&text), Ok(()));
    }

    #[test]
    fn numbers_get_their_written_text() {
        let text =
            r#"{"a": [1, 2.50, "x\"-3.5", -0.1e1], "b": {"c": 18446744073709551616, "d": 0.10}}"#;
        let mut j: J<'_> = serde_json::from_str(text).expect("JSON");
        fill_number_text(&mut j, text);
        let a = j.get("a").and_then(J::as_array).expect("array");
        assert_eq!(a[1], J::OtherNumber(Cow::Borrowed("2.50")));
        assert_eq!(a[3], J::OtherNumber(Cow::Borrowed("-0.1e1")));
        let b = j.get("b").expect("object");
        assert_eq!(
            b.get("c"),
            Some(&J::OtherNumber(Cow::Borrowed("18446744073709551616")))
        );
        assert_eq!(b.get("d"), Some(&J::OtherNumber(Cow::Borrowed("0.10"))));
    }

    #[test]
    fn depth_counts_the_root_as_one() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(shape(&nested(32)), Ok(()));
        assert_eq!(shape(&nested(33)), Err(Shape::TooDeep));
        let mut v = serde_json::Value::Null;
        for _ in 0..31 {
            v = serde_json::Value::Array(vec![v]);
        }
        assert!(J::from_value(&v, 32).is_some());
        assert!(J::from_value(&serde_json::Value::Array(vec![v]), 32).is_none());
    }
}
