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
    /// Any other number (not accepted where an `Int` is expected).
    OtherNumber,
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    /// Entries in document order (a repeated key: the last one counts).
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
    /// The value of `key` in an object (the last one if repeated).
    pub fn get(&self, key: &str) -> Option<&J<'a>> {
        self.as_object()?
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Converts a `serde_json::Value`, borrowing its strings.
    pub fn from_value(v: &'a serde_json::Value) -> J<'a> {
        match v {
            serde_json::Value::Null => J::Null,
            serde_json::Value::Bool(b) => J::Bool(*b),
            serde_json::Value::Number(n) => n.as_i64().map_or(J::OtherNumber, J::Int),
            serde_json::Value::String(s) => J::Str(Cow::Borrowed(s)),
            serde_json::Value::Array(items) => J::Arr(items.iter().map(J::from_value).collect()),
            serde_json::Value::Object(m) => J::Obj(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), J::from_value(v)))
                    .collect(),
            ),
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
                Ok(i64::try_from(v).map_or(J::OtherNumber, J::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<J<'de>, E> {
                Ok(J::OtherNumber)
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
