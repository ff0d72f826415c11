//! Decisions: what the VM and the reference interpreter answer, and its
//! JSON form.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use serde::Serialize;

/// The outcome kind.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The request is granted.
    Allow,
    /// The request is refused.
    Deny,
    /// The request could be granted with more evidence (see `needs`).
    StepUp,
}

impl Effect {
    /// The effect as written in decisions: `allow`, `deny` or `step_up`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::StepUp => "step_up",
        }
    }
}

/// Why the decision was made.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A permit applied and all its requirements held.
    Granted,
    /// A permit applied but some `require` clauses did not hold.
    RequirementsMissing,
    /// The request did not match the schema.
    InvalidRequest,
    /// A guard (`forbid`) held, or failed to evaluate.
    Forbidden,
    /// A task grant would have applied, but its time is over.
    Expired,
    /// A task grant would have applied, but the task has not started yet.
    NotYetActive,
    /// Nothing grants the request.
    NoMatchingRule,
    /// A grant with an audit obligation could not be written durably to
    /// the decision log, so it is denied (the decision service only: the
    /// VM never answers this).
    AuditUnavailable,
    /// The request names a task the decision service holds, and that task
    /// has ended: ended early, rejected, or past its ttl.
    TaskEnded,
}

impl Reason {
    /// The reason as written in decisions.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Granted => "granted",
            Reason::RequirementsMissing => "requirements_missing",
            Reason::InvalidRequest => "invalid_request",
            Reason::Forbidden => "forbidden",
            Reason::Expired => "expired",
            Reason::NotYetActive => "not_yet_active",
            Reason::NoMatchingRule => "no_matching_rule",
            Reason::AuditUnavailable => "audit_unavailable",
            Reason::TaskEnded => "task_ended",
        }
    }
}

/// An obligation the caller must fulfil when acting on an allow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Obligation {
    /// `notify` or `audit`.
    pub kind: String,
    /// The channel to notify, or the audit category (`breakglass`).
    pub target: String,
}

/// An owned decision, as returned by the CLI and compared in tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecisionRecord {
    /// allow, deny or step_up.
    pub decision: Effect,
    /// Why.
    pub reason: Reason,
    /// The rule that decided, if one did.
    pub rule: Option<String>,
    /// The task of that rule, if any.
    pub task: Option<String>,
    /// When the grant lapses (RFC 3339), for task grants with a ttl.
    pub expires_at: Option<String>,
    /// For step_up: the labels of the requirements still missing.
    pub needs: Vec<String>,
    /// For allow: what the caller must do.
    pub obligations: Vec<Obligation>,
    /// For invalid requests and failed guards: what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl DecisionRecord {
    /// A deny for an invalid request.
    pub fn invalid(message: impl Into<String>) -> DecisionRecord {
        DecisionRecord {
            decision: Effect::Deny,
            reason: Reason::InvalidRequest,
            rule: None,
            task: None,
            expires_at: None,
            needs: Vec::new(),
            obligations: Vec::new(),
            error: Some(message.into()),
        }
    }

    /// A deny for `reason`, decided before any rule ran (the decision
    /// service's task store answers `task_ended` and `not_yet_active` this
    /// way); `task` names the task.
    pub fn deny(reason: Reason, task: Option<String>) -> DecisionRecord {
        DecisionRecord {
            decision: Effect::Deny,
            reason,
            rule: None,
            task,
            expires_at: None,
            needs: Vec::new(),
            obligations: Vec::new(),
            error: None,
        }
    }

    /// The decision as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Whether the decision is an allow.
    pub fn is_allow(&self) -> bool {
        self.decision == Effect::Allow
    }
}
