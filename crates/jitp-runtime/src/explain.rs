//! Explanations: for each candidate rule of a request, what decided its
//! fate and where in the source. Slower than [`Bundle::decide`] and
//! allocating; meant for operators, the CLI's `--explain` and tests.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use crate::bind::BoundRequest;
use crate::bundle::{Bundle, SrcSpan};
use crate::decision::DecisionRecord;
use crate::exec::{Applies, Machine};
use crate::value::Time;
use serde::Serialize;

/// What happened to one candidate rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleTrace {
    /// The rule id.
    pub rule: String,
    /// `guard` or `permit`.
    pub kind: &'static str,
    /// What decided it, in words.
    pub outcome: String,
    /// Where: the deciding condition, or the rule.
    pub span: SrcSpan,
    /// The source file of `span`.
    pub file: String,
}

/// A decision with the trace of every candidate rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The decision (identical to [`Bundle::decide`]'s).
    pub decision: DecisionRecord,
    /// Candidate rules in the order they were considered.
    pub rules: Vec<RuleTrace>,
}

impl Serialize for SrcSpan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("span", 4)?;
        st.serialize_field("start", &self.start)?;
        st.serialize_field("end", &self.end)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("column", &self.col)?;
        st.end()
    }
}

impl Bundle {
    /// Decides `req` and explains every candidate rule.
    pub fn explain(&self, req: &BoundRequest) -> Explanation {
        let decision = self.decide(req).to_record();
        let mut m = Machine::new(self);
        let mut rules = Vec::new();
        let file = |s: &SrcSpan| {
            self.img
                .files
                .get(s.file as usize)
                .cloned()
                .unwrap_or_default()
        };
        let mut trace =
            |rule: &crate::bundle::RuleMeta, kind: &'static str, outcome: String, span: SrcSpan| {
                rules.push(RuleTrace {
                    rule: self.string(rule.id).to_string(),
                    kind,
                    outcome,
                    span,
                    file: file(&span),
                });
            };
        let mut guards = Vec::new();
        self.for_each_candidate(req, true, |_, r| {
            guards.push(r.clone());
            false
        });
        for r in &guards {
            if r.resource
                .as_ref()
                .is_some_and(|t| !t.contains(&req.resource_type))
            {
                trace(
                    r,
                    "guard",
                    "does not apply to this resource type".into(),
                    r.span,
                );
                continue;
            }
            match self.applies(req, &mut m, r) {
                Applies::Yes => trace(
                    r,
                    "guard",
                    "holds: the request is forbidden".into(),
                    r.when.map_or(r.span, |b| b.span),
                ),
                Applies::WhenFalse => trace(
                    r,
                    "guard",
                    "`when` is false".into(),
                    r.when.map_or(r.span, |b| b.span),
                ),
                Applies::UnlessTrue => trace(
                    r,
                    "guard",
                    "`unless` holds".into(),
                    r.unless.map_or(r.span, |b| b.span),
                ),
                Applies::Error(e, b) => trace(
                    r,
                    "guard",
                    format!(
                        "failed to evaluate ({}): the request is forbidden",
                        e.as_str()
                    ),
                    b.map_or(r.span, |b| b.span),
                ),
            }
        }
        let mut permits = Vec::new();
        self.for_each_candidate(req, false, |_, r| {
            permits.push(r.clone());
            false
        });
        for r in &permits {
            if !self.types_match(req, r) {
                trace(
                    r,
                    "permit",
                    "principal or resource type does not match".into(),
                    r.span,
                );
                continue;
            }
            let (expires_at, early, over) = self.timing(req, r);
            match self.applies(req, &mut m, r) {
                Applies::WhenFalse => {
                    trace(
                        r,
                        "permit",
                        "`when` is false".into(),
                        r.when.map_or(r.span, |b| b.span),
                    );
                    continue;
                }
                Applies::UnlessTrue => {
                    trace(
                        r,
                        "permit",
                        "`unless` holds".into(),
                        r.unless.map_or(r.span, |b| b.span),
                    );
                    continue;
                }
                Applies::Error(e, b) => {
                    trace(
                        r,
                        "permit",
                        format!("failed to evaluate ({}): does not apply", e.as_str()),
                        b.map_or(r.span, |b| b.span),
                    );
                    continue;
                }
                Applies::Yes => {}
            }
            if early {
                trace(
                    r,
                    "permit",
                    format!(
                        "the task starts at {}: not yet active",
                        Time(req.started_at)
                    ),
                    r.span,
                );
                continue;
            }
            if over {
                let at = expires_at.map(|e| Time(e).to_string()).unwrap_or_default();
                trace(r, "permit", format!("expired at {at}"), r.span);
                continue;
            }
            let mut failed = Vec::new();
            let mut first_span = None;
            let mut error = None;
            for (b, label) in &r.requires {
                match self.run(req, &mut m, b) {
                    Ok(true) => {}
                    Ok(false) => {
                        failed.push(format!("`{}`", self.string(*label)));
                        first_span = first_span.or(Some(b.span));
                    }
                    Err(e) => {
                        error = Some((e, b.span));
                        break;
                    }
                }
            }
            if let Some((e, span)) = error {
                trace(
                    r,
                    "permit",
                    format!(
                        "a requirement failed to evaluate ({}): does not apply",
                        e.as_str()
                    ),
                    span,
                );
            } else if failed.is_empty() {
                let until = expires_at.map_or_else(
                    || " (no expiry)".to_string(),
                    |e| format!(" until {}", Time(e)),
                );
                trace(
                    r,
                    "permit",
                    format!("applies and every requirement holds: grants{until}"),
                    r.when.map_or(r.span, |b| b.span),
                );
            } else {
                trace(
                    r,
                    "permit",
                    format!("applies but requires {}", failed.join(", ")),
                    first_span.unwrap_or(r.span),
                );
            }
        }
        Explanation { decision, rules }
    }
}
