//! A borrowed JSON tree for request binding: strings without escapes point
//! into the request text and objects are small vectors, so parsing a
//! request allocates far less than a `serde_json::Value` would.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A JSON value borrowing from the text it was parsed from where it can:
/// what binding reads ([`Bundle::bind_json`](crate::Bundle::bind_json)).
///
/// A service that edits a request before binding it (merging attributes
/// it holds, filling in `now`) parses the body once with [`Json::parse`],
/// edits the tree and binds it, without building a `serde_json::Value`.
/// Unlike a `serde_json::Value`, the tree keeps a number as it was written
/// (so a `Decimal` is read exactly), and an object never holds a key
/// twice: [`Json::parse`] refuses a repeated key and [`JsonObject::insert`]
/// replaces.
#[derive(Clone, Debug, PartialEq)]
pub enum Json<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits in `i64`.
    Int(i64),
    /// Any other number (not accepted where an integer is expected).
    Number(JsonNumber<'a>),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Json<'a>>),
    /// An object.
    Obj(JsonObject<'a>),
}

/// A JSON number that is not an `i64`, with its text: as written when
/// parsed from text, else `serde_json`'s form of the number. Only the
/// parsers make one, so the text is always a JSON number.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonNumber<'a>(Cow<'a, str>);

impl JsonNumber<'_> {
    /// The number's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A JSON object: entries in document order, no key twice.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JsonObject<'a> {
    /// Parsing may push a repeated key; [`check_shape`] refuses it before
    /// the tree leaves the parser.
    entries: Vec<(Cow<'a, str>, Json<'a>)>,
}

impl<'a> JsonObject<'a> {
    /// An empty object.
    pub fn new() -> JsonObject<'a> {
        JsonObject::default()
    }

    /// An empty object with room for `n` entries.
    pub fn with_capacity(n: usize) -> JsonObject<'a> {
        JsonObject {
            entries: Vec::with_capacity(n),
        }
    }

    /// The entries, in order.
    pub fn entries(&self) -> &[(Cow<'a, str>, Json<'a>)] {
        &self.entries
    }

    /// The entries, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, (Cow<'a, str>, Json<'a>)> {
        self.entries.iter()
    }

    /// How many entries the object holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json<'a>> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether the object has `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, in place when the key is there (returning
    /// the old value), else at the end.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: Json<'a>) -> Option<Json<'a>> {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Adds `key` with `value` unless the object has the key already: then
    /// nothing changes and `value` comes back.
    pub fn insert_new(
        &mut self,
        key: impl Into<Cow<'a, str>>,
        value: Json<'a>,
    ) -> Result<(), Json<'a>> {
        let key = key.into();
        if self.contains_key(&key) {
            return Err(value);
        }
        self.entries.push((key, value));
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Json<'a>> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }
}

impl<'o, 'a> IntoIterator for &'o JsonObject<'a> {
    type Item = &'o (Cow<'a, str>, Json<'a>);
    type IntoIter = std::slice::Iter<'o, (Cow<'a, str>, Json<'a>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl<'a> IntoIterator for JsonObject<'a> {
    type Item = (Cow<'a, str>, Json<'a>);
    type IntoIter = std::vec::IntoIter<(Cow<'a, str>, Json<'a>)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> Json<'a> {
    /// Parses JSON `text`, keeping numbers as written. Refused, with the
    /// error's path: invalid JSON (with its line and column), trailing
    /// data, an object repeating a key at any level, nesting deeper than
    /// `max_depth` levels (the root is level 1; `serde_json` itself stops
    /// at 128). No size limit: the caller bounds the text.
    pub fn parse(text: &'a str, max_depth: usize) -> Result<Json<'a>, crate::RequestError> {
        use crate::error::{RequestError, RequestErrorKind as K};
        let mut json: Json<'a> = serde_json::from_str(text).map_err(|e| {
            RequestError::new(
                K::Syntax {
                    line: e.line(),
                    col: e.column(),
                },
                "",
                format!("the request is not valid JSON: {e}"),
            )
        })?;
        check(&json, max_depth)?;
        fill_number_text(&mut json, text);
        Ok(json)
    }

    /// Converts a `serde_json::Value`, borrowing its strings; `None` when
    /// it is nested deeper than `max_depth` levels (a scalar is one
    /// level), so the recursion is bounded whatever the value.
    pub fn from_value(v: &'a serde_json::Value, max_depth: usize) -> Option<Json<'a>> {
        if max_depth == 0 {
            return None;
        }
        Some(match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Json::Int(i),
                None if n.as_f64().is_some_and(|f| f == 0.0 && f.is_sign_negative()) => {
                    Json::Int(0)
                }
                None => Json::Number(JsonNumber(Cow::Owned(n.to_string()))),
            },
            serde_json::Value::String(s) => Json::Str(Cow::Borrowed(s)),
            serde_json::Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(Json::from_value(i, max_depth - 1)?);
                }
                Json::Arr(out)
            }
            serde_json::Value::Object(m) => {
                let mut entries = Vec::with_capacity(m.len());
                for (k, v) in m {
                    entries.push((
                        Cow::Borrowed(k.as_str()),
                        Json::from_value(v, max_depth - 1)?,
                    ));
                }
                // A map holds each key once.
                Json::Obj(JsonObject { entries })
            }
        })
    }

    /// The same tree owning all its strings.
    pub fn into_owned(self) -> Json<'static> {
        match self {
            Json::Null => Json::Null,
            Json::Bool(b) => Json::Bool(b),
            Json::Int(i) => Json::Int(i),
            Json::Number(n) => Json::Number(JsonNumber(Cow::Owned(n.0.into_owned()))),
            Json::Str(s) => Json::Str(Cow::Owned(s.into_owned())),
            Json::Arr(items) => Json::Arr(items.into_iter().map(Json::into_owned).collect()),
            Json::Obj(o) => Json::Obj(JsonObject {
                entries: o
                    .entries
                    .into_iter()
                    .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                    .collect(),
            }),
        }
    }

    /// The tree as a `serde_json::Value`. A number `serde_json` cannot
    /// hold (beyond the range of `f64`) becomes its text as a string.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Int(i) => Value::from(*i),
            Json::Number(n) => n
                .as_str()
                .parse::<serde_json::Number>()
                .map_or_else(|_| Value::String(n.as_str().to_string()), Value::Number),
            Json::Str(s) => Value::String(s.to_string()),
            Json::Arr(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Json::Obj(o) => Value::Object(
                o.entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The integer, if this is one that fits in `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Json<'a>]> {
        match self {
            Json::Arr(items) => Some(items),
            _ => None,
        }
    }
    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&JsonObject<'a>> {
        match self {
            Json::Obj(o) => Some(o),
            _ => None,
        }
    }
    /// The object, if this is one, to change it.
    pub fn as_object_mut(&mut self) -> Option<&mut JsonObject<'a>> {
        match self {
            Json::Obj(o) => Some(o),
            _ => None,
        }
    }
    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }
    /// The value of `key`, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object()?.get(key)
    }
    /// The value of `key`, if this is an object that has it, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json<'a>> {
        self.as_object_mut()?.get_mut(key)
    }
}

/// Whether no value of `root` nests deeper than `limit` levels (the root
/// is level 1). The recursion stops at `limit` levels, so it is bounded
/// whatever the tree (the limits used are small: [`MAX_REQUEST_DEPTH`]).
///
/// [`MAX_REQUEST_DEPTH`]: crate::MAX_REQUEST_DEPTH
pub(crate) fn within_depth(root: &Json<'_>, limit: usize) -> bool {
    if limit == 0 {
        return false;
    }
    match root {
        Json::Arr(items) => items.iter().all(|v| within_depth(v, limit - 1)),
        Json::Obj(o) => o.entries.iter().all(|(_, v)| within_depth(v, limit - 1)),
        _ => true,
    }
}

/// The error for a request nested deeper than `limit` levels.
pub(crate) fn too_deep(limit: usize) -> crate::RequestError {
    crate::RequestError::new(
        crate::RequestErrorKind::TooDeep { limit },
        "",
        format!("the request is nested deeper than {limit} levels"),
    )
}

/// [`check_shape`] as a request error: a repeated key names its path.
pub(crate) fn check(json: &Json<'_>, max_depth: usize) -> Result<(), crate::RequestError> {
    use crate::error::{RequestError, RequestErrorKind as K};
    match check_shape(json, max_depth) {
        Ok(()) => Ok(()),
        Err(Shape::TooDeep) => Err(too_deep(max_depth)),
        Err(Shape::DuplicateKey { key, at }) => {
            let key = crate::value::Clip(&key).to_string();
            let (path, place) = if at.is_empty() {
                (key.clone(), "the request".to_string())
            } else {
                (format!("{at}.{key}"), format!("`{at}`"))
            };
            Err(RequestError::new(
                K::DuplicateKey,
                path,
                format!("duplicate key `{key}` in {place}"),
            ))
        }
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

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct JVisitor;
        impl<'de> Visitor<'de> for JVisitor {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
                Ok(Json::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
                Ok(i64::try_from(v).map_or_else(
                    |_| Json::Number(JsonNumber(Cow::Owned(v.to_string()))),
                    Json::Int,
                ))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
                // serde_json reads `-0` as a float to keep its sign; it is
                // the integer zero (so is `-0.0`, which is exactly zero).
                // Any other fraction or exponent is not an integer.
                Ok(if v == 0.0 && v.is_sign_negative() {
                    Json::Int(0)
                } else {
                    Json::Number(JsonNumber(Cow::Owned(v.to_string())))
                })
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
                Ok(Json::Str(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(v) = seq.next_element()? {
                    items.push(v);
                }
                Ok(Json::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((Key(k), v)) = map.next_entry::<Key<'de>, Json<'de>>()? {
                    entries.push((k, v));
                }
                Ok(Json::Obj(JsonObject { entries }))
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
pub(crate) fn fill_number_text<'a>(root: &mut Json<'a>, text: &'a str) {
    fn walk<'a>(v: &mut Json<'a>, tokens: &mut NumberTokens<'a>) {
        match v {
            Json::Int(_) => {
                tokens.next();
            }
            Json::Number(JsonNumber(raw)) => {
                if let Some(t) = tokens.next() {
                    *raw = Cow::Borrowed(t);
                }
            }
            Json::Arr(items) => items.iter_mut().for_each(|i| walk(i, tokens)),
            Json::Obj(o) => o.entries.iter_mut().for_each(|(_, v)| walk(v, tokens)),
            Json::Null | Json::Bool(_) | Json::Str(_) => {}
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
fn first_duplicate(entries: &[(Cow<'_, str>, Json<'_>)]) -> Option<usize> {
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
    Arr(&'j [Json<'a>], usize),
    Obj(&'j [(Cow<'a, str>, Json<'a>)], usize),
}

/// Checks a parsed request before binding reads it: no value deeper than
/// `limit` (the root is at depth 1) and no object with a repeated key, at
/// any level. Iterative, so hostile nesting cannot overflow the stack;
/// linear in the size of the tree.
pub(crate) fn check_shape(root: &Json<'_>, limit: usize) -> Result<(), Shape> {
    let mut stack: Vec<Frame<'_, '_>> = Vec::new();
    let mut next = Some(root);
    loop {
        if let Some(v) = next.take() {
            if stack.len() + 1 > limit {
                return Err(Shape::TooDeep);
            }
            match v {
                Json::Arr(items) => stack.push(Frame::Arr(items, 0)),
                Json::Obj(JsonObject { entries }) => {
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
        let j: Json<'_> = serde_json::from_str(text).expect("JSON");
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
        let mut j: Json<'_> = serde_json::from_str(text).expect("JSON");
        fill_number_text(&mut j, text);
        let a = j.get("a").and_then(Json::as_array).expect("array");
        assert_eq!(a[1], Json::Number(JsonNumber(Cow::Borrowed("2.50"))));
        assert_eq!(a[3], Json::Number(JsonNumber(Cow::Borrowed("-0.1e1"))));
        let b = j.get("b").expect("object");
        assert_eq!(
            b.get("c"),
            Some(&Json::Number(JsonNumber(Cow::Borrowed(
                "18446744073709551616"
            ))))
        );
        assert_eq!(
            b.get("d"),
            Some(&Json::Number(JsonNumber(Cow::Borrowed("0.10"))))
        );
    }

    #[test]
    fn depth_counts_the_root_as_one() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(shape(&nested(32)), Ok(()));
        assert_eq!(shape(&nested(33)), Err(Shape::TooDeep));
        // The depth-only walk agrees with the full check, for arrays,
        // objects and scalars at the bottom, at and around the limit.
        for n in 0..40 {
            for (open, close) in [("[", "]"), ("{\"k\": ", "}")] {
                for leaf in ["1", "[]", "{}", "[1, 2]"] {
                    let text = format!("{}{leaf}{}", open.repeat(n), close.repeat(n));
                    let j: Json<'_> = serde_json::from_str(&text).expect("JSON");
                    for limit in [1, 2, 31, 32, 33] {
                        assert_eq!(
                            within_depth(&j, limit),
                            check_shape(&j, limit).is_ok(),
                            "{text} at {limit}"
                        );
                    }
                }
            }
        }
        let mut v = serde_json::Value::Null;
        for _ in 0..31 {
            v = serde_json::Value::Array(vec![v]);
        }
        assert!(Json::from_value(&v, 32).is_some());
        assert!(Json::from_value(&serde_json::Value::Array(vec![v]), 32).is_none());
    }
}
