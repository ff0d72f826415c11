//! jitp's runtime: load a verified [`Bundle`], bind requests, decide.
//!
//! This crate is what services embed. It depends only on what deciding
//! needs; the compiler, the analyser and the `jitp` command live in the
//! `jitp` crate, which builds on this one.
//!
//! ```no_run
//! use jitp_runtime::Bundle;
//! let bundle = Bundle::from_file("policy.jitb")?;
//! let request = bundle.bind_str(r#"{"subject": {"type": "ServiceAccount", "id": "bot"}, "...": 1}"#);
//! match request {
//!     Ok(bound) => println!("{}", bundle.decide(&bound).to_json()),
//!     Err(e) => println!("invalid request: {e}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Deciding a bound request allocates nothing (for conditions within the
//! inline stack limits) and takes `&self`: one bundle serves any number of
//! threads.
//!
//! Errors are typed: [`BundleError`] and [`RequestError`] carry a matchable
//! kind ([`BundleErrorKind`], [`RequestErrorKind`]) and print the same
//! messages the `jitp` command prints; [`Error`] is either, for `?`:
//!
//! ```no_run
//! use jitp_runtime::{Bundle, RequestErrorKind};
//! fn decide(path: &str, request: &str) -> Result<bool, jitp_runtime::Error> {
//!     let bundle = Bundle::from_file(path)?;
//!     let bound = match bundle.bind_str(request) {
//!         Err(e) if matches!(e.kind, RequestErrorKind::UnknownField) => {
//!             eprintln!("client sent an unknown field at `{}`", e.path);
//!             return Ok(false);
//!         }
//!         other => other?,
//!     };
//!     Ok(bundle.decide(&bound).is_allow())
//! }
//! ```
//!
//! # Stability
//!
//! The stable surface is what this page lists without a feature:
//!
//! - [`Bundle`]: [`Bundle::from_bytes`], [`Bundle::from_file`],
//!   [`Bundle::from_bytes_verified`], [`Bundle::from_file_verified`],
//!   [`Bundle::signer`] with the [`signature`] types ([`PublicKey`],
//!   [`KeyId`]),
//!   [`Bundle::to_bytes`], [`Bundle::bind`], [`Bundle::bind_str`],
//!   [`Bundle::bind_json`], [`Bundle::bind_json_with_defaults`],
//!   [`Bundle::decide`], [`Bundle::decide_json`], [`Bundle::explain`],
//!   [`Bundle::disassemble`], [`Bundle::sources`] and the descriptive
//!   accessors ([`Bundle::name`], [`Bundle::rule_count`],
//!   [`Bundle::action_count`], [`Bundle::task_count`], [`Bundle::rule_ids`],
//!   [`Bundle::checksum`], [`Bundle::revision`], [`Bundle::built_by`]);
//! - [`BoundRequest`], [`Decision`], [`Explanation`], [`RuleTrace`],
//!   [`SrcSpan`], [`EvalError`], the [`decision`] records and the [`value`]
//!   types; [`parse_unique`], the JSON reader that refuses repeated keys;
//!   [`Json`] ([`JsonObject`], [`JsonNumber`]), the request tree
//!   [`Json::parse`] reads, keeping numbers as written and refusing
//!   repeated keys, for a caller that edits a request before binding it;
//! - the errors ([`BundleError`], [`RequestError`], [`Error`] and their
//!   kinds; the kind enums are `#[non_exhaustive]`, so new kinds are not
//!   breaking) and the limits [`MAX_REQUEST_BYTES`], [`MAX_REQUEST_DEPTH`],
//!   [`MAX_BUNDLE_BYTES`];
//! - the text of error messages, decisions as JSON and the bundle format
//!   version a build reads: a build reads exactly one format version (4
//!   for this one); a bundle of another version is refused with
//!   [`BundleErrorKind::UnsupportedVersion`] and a message naming the
//!   `jitp` that built it and how to rebuild it, never misread. From
//!   format 4 on, the header (magic, version, checksum, builder) keeps its
//!   size and offsets, so every later build can name the builder of a
//!   bundle it refuses ([`Bundle::built_by`]). Bundles are build
//!   artefacts: rebuild them from their policies with the `jitp` that
//!   serves them.
//!
//! jitp is 0.x: a breaking change to this surface bumps the minor version
//! (0.1 to 0.2), anything else only the patch version.
//!
//! The `compiler` feature (off by default; the `jitp` crate enables it)
//! adds `format`, the unverified data model of a bundle, and
//! `Bundle::from_image` / `Bundle::image`. They follow the bundle format
//! and the compiler, change in any release and are **not covered** by the
//! promise above: services should not enable the feature.

#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

/// Asserts, in debug builds, a fact that verification guarantees, where
/// the code falls back to a harmless default if it is false anyway: a
/// violation is a bug in jitp, which debug builds (and the root crate's
/// tests) should report rather than hide. Not checked in this crate's own
/// tests, which break verified facts in memory on purpose to test the
/// fallbacks.
macro_rules! invariant {
    ($cond:expr, $($msg:tt)+) => {
        #[cfg(not(test))]
        debug_assert!($cond, $($msg)+);
    };
}

mod bind;
mod bundle;
mod bytecode;
pub mod decision;
mod disasm;
mod error;
mod exec;
mod explain;
mod horizon;
mod json;
pub mod signature;
mod val;
pub mod value;

pub use bind::{suggestion, BoundRequest, MAX_REQUEST_BYTES, MAX_REQUEST_DEPTH};
pub use bundle::{Bundle, GrantingAction, SrcSpan, TaskInfo, MAX_BUNDLE_BYTES};
pub use decision::{DecisionRecord, Effect, Obligation, Reason};
pub use error::{BundleError, BundleErrorKind, Error, RequestError, RequestErrorKind};
pub use explain::{Explanation, RuleTrace};
pub use json::{parse_unique, Json, JsonNumber, JsonObject};
pub use signature::{KeyId, PublicKey};
pub use val::EvalError;

use crate::value::Time;

/// The unverified bundle data model, for the jitp compiler: it assembles an
/// [`format::Image`] and turns it into a [`Bundle`] with
/// [`Bundle::from_image`], which verifies it exactly as loading does.
///
/// **Not covered by semver**: enabled by the `compiler` feature (off by
/// default), this module follows the bundle format and changes with it in
/// any release. Services that embed jitp do not need it.
#[cfg(feature = "compiler")]
pub mod format {
    /// Horizons of `now` comparisons, shared with the reference interpreter.
    pub mod horizon {
        pub use crate::horizon::*;
    }
    pub use crate::bundle::{
        checksum, ActionMeta, Block, EntityLayout, FieldLayout, Image, IndexEntry, RecordLayout,
        RuleMeta, Schema, SpecialSlots, SrcSpan, TaskMeta, TypeDesc, BUILDER_LEN, FORMAT_VERSION,
        HEADER_LEN, MAGIC, MAX_LOCALS, MAX_REQUIRES, MAX_SLOTS, MAX_STACK,
    };
    pub use crate::bytecode::{
        cmp, decode_all, encode_all, method, CmpOp, ConstIdx, DecodeError, FieldOff, Instr,
        JumpOff, LocalIdx, MethodId, PatternIdx, SlotIdx,
    };
    pub use crate::val::{Arena, SetRef, Val};
}

/// A decision that borrows from its bundle; converting it to an owned
/// [`DecisionRecord`] or JSON is the caller's choice (and allocates).
#[derive(Copy, Clone, Debug)]
pub struct Decision<'a> {
    bundle: &'a Bundle,
    /// allow, deny or step_up.
    pub effect: Effect,
    /// Why.
    pub reason: Reason,
    rule: Option<u32>,
    expires_at: Option<i64>,
    missing: u64,
    /// Set when a guard failed to evaluate (and therefore denied).
    pub error: Option<EvalError>,
}

#[deny(clippy::indexing_slicing, clippy::panic)]
impl<'a> Decision<'a> {
    fn new(bundle: &'a Bundle, effect: Effect, reason: Reason, rule: Option<u32>) -> Decision<'a> {
        Decision {
            bundle,
            effect,
            reason,
            rule,
            expires_at: None,
            missing: 0,
            error: None,
        }
    }

    /// Whether the request is allowed.
    pub fn is_allow(&self) -> bool {
        self.effect == Effect::Allow
    }

    /// The id of the deciding rule.
    pub fn rule_id(&self) -> Option<&'a str> {
        let b = self.bundle;
        self.rule
            .and_then(|r| b.img.rules.get(r as usize))
            .map(|r| b.string(r.id))
    }

    /// The task of the deciding rule.
    pub fn task(&self) -> Option<&'a str> {
        let b = self.bundle;
        self.rule
            .and_then(|r| b.img.rules.get(r as usize))
            .and_then(|r| r.task)
            .and_then(|t| b.img.tasks.get(t as usize))
            .map(|t| b.string(t.name))
    }

    /// When the grant lapses.
    pub fn expires_at(&self) -> Option<Time> {
        self.expires_at.map(Time)
    }

    /// For step_up: labels of the requirements still missing, in source order.
    pub fn needs(&self) -> impl Iterator<Item = &'a str> + 'a {
        let b = self.bundle;
        let missing = self.missing;
        let reqs: &'a [(crate::bundle::Block, u32)] = self
            .rule
            .and_then(|r| b.img.rules.get(r as usize))
            .map_or(&[], |r| r.requires.as_slice());
        reqs.iter()
            .enumerate()
            .filter(move |(i, _)| *i < 64 && missing & (1u64 << i) != 0)
            .map(move |(_, (_, label))| b.string(*label))
    }

    /// For allow: notifications to send and audits to record.
    pub fn obligations(&self) -> impl Iterator<Item = (&'static str, &'a str)> + 'a {
        let b = self.bundle;
        let task = if self.effect == Effect::Allow {
            self.rule
                .and_then(|r| b.img.rules.get(r as usize))
                .and_then(|r| r.task)
                .and_then(|t| b.img.tasks.get(t as usize))
        } else {
            None
        };
        let notify = task
            .into_iter()
            .flat_map(move |t| t.notify.iter().map(move |n| ("notify", b.string(*n))));
        let audit = task
            .filter(|t| t.breakglass)
            .map(|_| ("audit", "breakglass"));
        notify.chain(audit)
    }

    /// An owned copy of the decision.
    pub fn to_record(&self) -> DecisionRecord {
        DecisionRecord {
            decision: self.effect,
            reason: self.reason,
            rule: self.rule_id().map(str::to_string),
            task: self.task().map(str::to_string),
            expires_at: self.expires_at().map(|t| t.to_string()),
            needs: self.needs().map(str::to_string).collect(),
            obligations: self
                .obligations()
                .map(|(k, t)| Obligation {
                    kind: k.to_string(),
                    target: t.to_string(),
                })
                .collect(),
            error: self
                .error
                .map(|e| format!("the guard failed to evaluate: {}", e.as_str())),
        }
    }

    /// The decision as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        self.to_record().to_json()
    }
}

#[deny(clippy::indexing_slicing, clippy::panic)]
impl Bundle {
    /// Parses, binds and decides a JSON request in one call. An invalid
    /// request is a deny with reason `invalid_request`.
    pub fn decide_json(&self, text: &str) -> DecisionRecord {
        match self.bind_str(text) {
            Ok(req) => self.decide(&req).to_record(),
            Err(e) => DecisionRecord::invalid(e.to_string()),
        }
    }
}
