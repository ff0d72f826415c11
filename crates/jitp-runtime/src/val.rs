//! Runtime values of the VM: small, `Copy`, allocation-free.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use crate::value::Cidr;
use std::net::IpAddr;

/// Where a set's elements live.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arena {
    /// The bundle's constant set arena.
    Const,
    /// The bound request's set arena.
    Request,
}

/// A set: a range of elements in an arena.
///
/// A set of the request arena is sorted by `Val`'s order and has no
/// duplicates (binding makes it so), which set operations use to run in
/// `n log n`; a constant set is searched without that assumption.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetRef {
    /// Which arena.
    pub arena: Arena,
    /// First element.
    pub start: u32,
    /// Number of elements.
    pub len: u32,
}

/// A runtime value.
///
/// Strings are ids: below the bundle's string count they name a bundle
/// string, above it a string of the request (binding interns both, so equal
/// strings have equal ids and string equality is an integer compare).
///
/// The order (variant, then contents; strings by id) is total and agrees
/// with equality; it has no meaning beyond sorting sets for search.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Val {
    /// An absent optional.
    Absent,
    /// The presence marker of a record (a slot that heads a record's fields).
    Present,
    /// Bool.
    Bool(bool),
    /// Int.
    Int(i64),
    /// String id.
    Str(u32),
    /// Time in microseconds since the epoch.
    Time(i64),
    /// Duration in microseconds.
    Dur(i64),
    /// Decimal in millionths (see [`crate::value::Decimal`]).
    Dec(i64),
    /// Ip.
    Ip(IpAddr),
    /// Net.
    Net(Cidr),
    /// Enum variant index.
    Enum(u32),
    /// Set.
    Set(SetRef),
    /// A record, by the slot of its presence marker.
    Rec(u32),
}

impl Val {
    /// Whether the value is absent.
    pub fn is_absent(&self) -> bool {
        matches!(self, Val::Absent)
    }
}

/// Why evaluating a condition failed. Failing conditions never grant:
/// a failing guard denies, a failing permit does not apply.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    /// Integer, time, duration or decimal arithmetic overflowed.
    Overflow,
    /// A value had an unexpected type (only possible with a corrupt bundle).
    Type,
    /// An index out of range (only possible with a corrupt bundle).
    Index,
}

impl EvalError {
    /// A short description.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalError::Overflow => "arithmetic overflow",
            EvalError::Type => "value of unexpected type",
            EvalError::Index => "index out of range",
        }
    }
}
