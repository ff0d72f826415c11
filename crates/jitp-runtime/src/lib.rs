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

#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

mod bind;
pub mod bundle;
pub mod bytecode;
pub mod decision;
mod disasm;
mod exec;
mod explain;
mod json;
pub mod val;
pub mod value;

pub use bind::{BoundRequest, RequestError, MAX_REQUEST_BYTES, MAX_REQUEST_DEPTH};
pub use bundle::{Bundle, BundleError};
pub use decision::{DecisionRecord, Effect, Obligation, Reason};
pub use explain::{Explanation, RuleTrace};

use crate::value::Time;
use val::EvalError;

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
            .and_then(|r| b.rules.get(r as usize))
            .map(|r| b.string(r.id))
    }

    /// The task of the deciding rule.
    pub fn task(&self) -> Option<&'a str> {
        let b = self.bundle;
        self.rule
            .and_then(|r| b.rules.get(r as usize))
            .and_then(|r| r.task)
            .and_then(|t| b.tasks.get(t as usize))
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
            .and_then(|r| b.rules.get(r as usize))
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
                .and_then(|r| b.rules.get(r as usize))
                .and_then(|r| r.task)
                .and_then(|t| b.tasks.get(t as usize))
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

impl Bundle {
    /// Parses, binds and decides a JSON request in one call. An invalid
    /// request is a deny with reason `invalid_request`.
    pub fn decide_json(&self, text: &str) -> DecisionRecord {
        match self.bind_str(text) {
            Ok(req) => self.decide(&req).to_record(),
            Err(e) => DecisionRecord::invalid(e.message),
        }
    }
}
