//! Rule and task-outcome coverage: which rules decided some case, and
//! which of the outcomes a task's rules can produce some case saw.

use jitp_runtime::decision::{DecisionRecord, Effect, Reason};
use jitp_runtime::Bundle;

/// A decision outcome as tracked by coverage.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// allow (granted).
    Allow,
    /// step_up (requirements_missing).
    StepUp,
    /// deny forbidden.
    Forbidden,
    /// deny expired.
    Expired,
    /// deny not_yet_active.
    NotYetActive,
    /// deny no_matching_rule.
    NoMatchingRule,
}

impl Outcome {
    /// The outcome as written in reports: `allow`, `step_up` or the deny reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::StepUp => "step_up",
            Outcome::Forbidden => "forbidden",
            Outcome::Expired => "expired",
            Outcome::NotYetActive => "not_yet_active",
            Outcome::NoMatchingRule => "no_matching_rule",
        }
    }

    /// The names of `outcomes`, as reports write them.
    pub(super) fn names(outcomes: &[Outcome]) -> Vec<&'static str> {
        outcomes.iter().map(|o| o.as_str()).collect()
    }

    pub(super) fn of(d: &DecisionRecord) -> Option<Outcome> {
        Some(match (d.decision, d.reason) {
            (Effect::Allow, _) => Outcome::Allow,
            (Effect::StepUp, _) => Outcome::StepUp,
            (_, Reason::Forbidden) => Outcome::Forbidden,
            (_, Reason::Expired) => Outcome::Expired,
            (_, Reason::NotYetActive) => Outcome::NotYetActive,
            (_, Reason::NoMatchingRule) => Outcome::NoMatchingRule,
            _ => return None,
        })
    }
}

/// Coverage of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCoverage {
    /// The rule id.
    pub id: String,
    /// `permit` or `forbid`.
    pub kind: &'static str,
    /// The rule's task, if it is task-scoped.
    pub task: Option<String>,
    /// How many cases it decided.
    pub cases: usize,
}

/// Outcome coverage of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCoverage {
    /// The task name.
    pub task: String,
    /// The outcomes the task's rules can produce.
    pub applicable: Vec<Outcome>,
    /// The applicable outcomes some case saw.
    pub seen: Vec<Outcome>,
}

impl TaskCoverage {
    /// Applicable outcomes no case saw.
    pub fn missing(&self) -> Vec<Outcome> {
        self.applicable
            .iter()
            .copied()
            .filter(|o| !self.seen.contains(o))
            .collect()
    }
}

/// Rule and task-outcome coverage of one policy set.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Every rule, in source order.
    pub rules: Vec<RuleCoverage>,
    /// Every task, in declaration order.
    pub tasks: Vec<TaskCoverage>,
}

impl Coverage {
    /// Rules that decided at least one case.
    pub fn exercised(&self) -> usize {
        self.rules.iter().filter(|r| r.cases > 0).count()
    }
}

/// What one decided case tells coverage.
#[derive(Clone, Debug)]
pub(super) struct Observation {
    pub(super) rule: Option<String>,
    pub(super) request_task: Option<String>,
    pub(super) rule_task: Option<String>,
    pub(super) outcome: Option<Outcome>,
}

pub(super) fn coverage(bundle: &Bundle, obs: &[Observation]) -> Coverage {
    let bundle = bundle.image();
    let task_name = |t: Option<u32>| {
        t.and_then(|t| bundle.tasks.get(t as usize))
            .map(|t| bundle.string(t.name).to_string())
    };
    let rules = bundle
        .rules
        .iter()
        .map(|r| {
            let id = bundle.string(r.id).to_string();
            RuleCoverage {
                cases: obs
                    .iter()
                    .filter(|o| o.rule.as_deref() == Some(id.as_str()))
                    .count(),
                id,
                kind: if r.forbid { "forbid" } else { "permit" },
                task: task_name(r.task),
            }
        })
        .collect();
    let has_global_guard = bundle.rules.iter().any(|r| r.forbid && r.task.is_none());
    let tasks = bundle
        .tasks
        .iter()
        .enumerate()
        .map(|(ti, t)| {
            let name = bundle.string(t.name).to_string();
            let own = || {
                bundle
                    .rules
                    .iter()
                    .filter(move |r| r.task == u32::try_from(ti).ok())
            };
            let permits = own().any(|r| !r.forbid);
            let mut applicable = Vec::new();
            if permits {
                applicable.push(Outcome::Allow);
            }
            if own().any(|r| !r.forbid && !r.requires.is_empty()) {
                applicable.push(Outcome::StepUp);
            }
            if has_global_guard || own().any(|r| r.forbid) {
                applicable.push(Outcome::Forbidden);
            }
            if own().any(|r| !r.forbid && (r.ttl.is_some() || t.ttl.is_some())) {
                applicable.push(Outcome::Expired);
            }
            if permits {
                applicable.push(Outcome::NotYetActive);
            }
            applicable.push(Outcome::NoMatchingRule);
            let mut seen: Vec<Outcome> = obs
                .iter()
                .filter(|o| o.request_task.as_deref() == Some(name.as_str()))
                .filter_map(|o| {
                    let out = o.outcome?;
                    let by_own = o.rule_task.as_deref() == Some(name.as_str());
                    match out {
                        Outcome::Allow
                        | Outcome::StepUp
                        | Outcome::Expired
                        | Outcome::NotYetActive => by_own.then_some(out),
                        Outcome::Forbidden | Outcome::NoMatchingRule => Some(out),
                    }
                })
                .filter(|o| applicable.contains(o))
                .collect();
            seen.sort();
            seen.dedup();
            TaskCoverage {
                task: name,
                applicable,
                seen,
            }
        })
        .collect();
    Coverage { rules, tasks }
}
