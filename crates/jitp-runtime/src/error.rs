//! Typed errors: why a bundle was rejected, why a request could not be
//! bound, and [`Error`], either of the two, for `?`.
//!
//! Each error carries a matchable kind and its message; `Display` prints
//! the message (the text jitp has always printed, which snapshots and
//! scripts may compare).

use std::fmt;

/// What was wrong with a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleErrorKind {
    /// The bytes do not start with the bundle magic: not a jitp bundle.
    NotABundle,
    /// The bundle was written in a format version this build cannot read.
    UnsupportedVersion {
        /// The version in the bundle.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The checksum does not match: the bundle is corrupt or truncated.
    Checksum,
    /// The bytes end early, or a length points past their end.
    Truncated,
    /// The checksum matches but the bytes are not a valid encoding (an
    /// unknown tag or opcode, invalid UTF-8, trailing bytes, …).
    Malformed,
    /// The encoding is valid but the contents fail verification (an index
    /// out of range, a jump out of its block, an inconsistent layout, …).
    Invalid,
    /// The bundle file could not be read.
    Io,
    /// A signed bundle was required and this one carries no signature.
    Unsigned,
    /// The bundle is signed by a key that is not trusted.
    UnknownKey,
    /// The signature does not verify: the bundle (or its envelope) changed
    /// after it was signed, or the signature is not the key's.
    BadSignature,
}

/// Why a bundle was rejected.
///
/// `Display` prints `invalid bundle: ` and [`BundleError::message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    /// What kind of problem it is.
    pub kind: BundleErrorKind,
    /// Where, for problems of the encoding: a byte offset counted from the
    /// start of the body, which follows the 36-byte header (magic, version,
    /// checksum, builder), as the message counts. `None` for problems that have no
    /// single position (a bad header, a failed verification, I/O).
    pub offset: Option<usize>,
    message: String,
}

impl BundleError {
    pub(crate) fn new(
        kind: BundleErrorKind,
        offset: Option<usize>,
        message: impl Into<String>,
    ) -> BundleError {
        BundleError {
            kind,
            offset,
            message: message.into(),
        }
    }

    /// What was wrong, without the `invalid bundle: ` prefix of `Display`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid bundle: {}", self.message)
    }
}

impl std::error::Error for BundleError {}

/// What was wrong with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestErrorKind {
    /// The request text is longer than [`crate::MAX_REQUEST_BYTES`].
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request nests deeper than [`crate::MAX_REQUEST_DEPTH`].
    TooDeep {
        /// The limit in levels.
        limit: usize,
    },
    /// An object of the request repeats a key. A reader that keeps the
    /// first of two `risk` keys and one that keeps the last would decide
    /// different requests, so jitp refuses both.
    DuplicateKey,
    /// The request text is not valid JSON.
    Syntax {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        col: usize,
    },
    /// A field the policy requires is missing.
    MissingField,
    /// A field the policy does not declare.
    UnknownField,
    /// A value of the wrong JSON type.
    WrongType {
        /// What was expected, as the message says it (`a string`, `an
        /// object`, …).
        expected: &'static str,
    },
    /// `null` where a value is required.
    Null,
    /// A value of the right JSON type that does not parse or is not
    /// allowed: a malformed time, duration, address or network, a string
    /// that is not a variant of its enum, or an identity (`subject.id`,
    /// `resource.id`, `task.approvals[i].by`) that is empty or has
    /// surrounding whitespace or invisible characters.
    InvalidValue,
    /// An entity type, action or task the policy does not declare.
    UnknownName,
    /// The action does not apply to the resource's type.
    NotApplicable,
    /// The bundle's layout disagrees with itself (impossible for a verified
    /// bundle).
    Inconsistent,
}

/// Why a request could not be bound. `Display` prints the message, which
/// names the offending field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    /// Where in the request: a dotted path from the request's root, with
    /// array indices in brackets, such as `context.ticket.status`,
    /// `subject.properties.team` or `task.approvals[0].by` (no leading `$`).
    /// Empty when the problem is the request as a whole (too large, too
    /// deep, not JSON, not an object).
    pub path: String,
    /// What kind of problem it is.
    pub kind: RequestErrorKind,
    message: String,
}

impl RequestError {
    pub(crate) fn new(
        kind: RequestErrorKind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> RequestError {
        RequestError {
            path: path.into(),
            kind,
            message: message.into(),
        }
    }

    /// The message (the same text as `Display`).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

/// Any error of the runtime, so an embedder can `?` loading and binding in
/// one function.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A bundle was rejected.
    Bundle(BundleError),
    /// A request could not be bound.
    Request(RequestError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bundle(e) => e.fmt(f),
            Error::Request(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bundle(e) => Some(e),
            Error::Request(e) => Some(e),
        }
    }
}

impl From<BundleError> for Error {
    fn from(e: BundleError) -> Error {
        Error::Bundle(e)
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Error {
        Error::Request(e)
    }
}
