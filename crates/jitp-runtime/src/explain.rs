//! Explanations: for each candidate rule of a request, what decided its
//! fate and where in the source. Slower than [`Bundle::decide`] and
//! allocating; meant for operators, the CLI's `--explain` and tests.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use crate::bind::BoundRequest;
use crate::bundle::{Block, RuleMeta};
use crate::bundle::{Bundle, SrcSpan};
use crate::decision::DecisionRecord;
use crate::exec::{Applies, Machine, Track};
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
    /// The source text of `span` in backticks, shortened past 60
    /// characters, with its line and column.
    fn quote(&self, span: &SrcSpan) -> String {
        let text = self
            .img
            .sources
            .get(span.file as usize)
            .and_then(|t| t.get(span.start as usize..span.end as usize))
            .unwrap_or("");
        let mut one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if one.chars().count() > 60 {
            one = one.chars().take(59).collect::<String>() + "…";
        }
        format!("`{one}` (line {}, column {})", span.line, span.col)
    }

    /// The span of the condition inside `b` that gave it its value: the
    /// atom that made a `when` false, an `unless` true or a `require`
    /// fail (the whole block when no single atom did).
    fn blame(&self, req: &BoundRequest, m: &mut Machine, t: &mut Track, b: &Block) -> SrcSpan {
        match self.run_tracked(req, m, t, b, 0) {
            Ok((_, _, at)) => self.img.spans.get(at as usize).copied().unwrap_or(b.span),
            Err(_) => b.span,
        }
    }

    /// What bounds the grant of permit `i` (`r`), which allows until
    /// `until`: the task's end, one of its conditions, or a guard.
    fn bound_text(
        &self,
        req: &BoundRequest,
        m: &mut Machine,
        t: &mut Option<Track>,
        i: u32,
        r: &RuleMeta,
        task_end: Option<i64>,
    ) -> (Option<i64>, String) {
        let (mut until, src) = self.permit_expiry(req, m, t, i, r, task_end);
        let mut why = match (until, src) {
            (None, _) => String::new(),
            (Some(_), Some(at)) => match self.img.spans.get(at as usize) {
                Some(span) => format!(", when {} stops holding", self.quote(span)),
                None => String::new(),
            },
            (Some(_), None) => ", the end of the task".to_string(),
        };
        if let Some((h, g, at)) = self.guards_horizon(req, m, t) {
            if until.is_none_or(|e| h < e) {
                until = Some(h);
                let id = self
                    .img
                    .rules
                    .get(g as usize)
                    .map_or("", |g| self.string(g.id));
                why = match self.img.spans.get(at as usize) {
                    Some(span) => format!(
                        ", when guard `{id}` starts to hold ({} changes)",
                        self.quote(span)
                    ),
                    None => format!(", when guard `{id}` starts to hold"),
                };
            }
        }
        (until, why)
    }

    /// Decides `req` and explains every candidate rule.
    pub fn explain(&self, req: &BoundRequest) -> Explanation {
        let decision = self.decide(req).to_record();
        let mut m = Machine::new(self);
        let mut track = Track::new(self);
        let mut bounds: Option<Track> = None;
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
                Applies::WhenFalse => {
                    let span = r
                        .when
                        .map_or(r.span, |b| self.blame(req, &mut m, &mut track, &b));
                    trace(
                        r,
                        "guard",
                        format!("`when` is false: {} is false", self.quote(&span)),
                        span,
                    )
                }
                Applies::UnlessTrue => {
                    let span = r
                        .unless
                        .map_or(r.span, |b| self.blame(req, &mut m, &mut track, &b));
                    trace(
                        r,
                        "guard",
                        format!("`unless` holds: {} holds", self.quote(&span)),
                        span,
                    )
                }
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
        self.for_each_candidate(req, false, |i, r| {
            permits.push((i, r.clone()));
            false
        });
        for (i, r) in &permits {
            let (i, r) = (*i, r);
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
                    let span = r
                        .when
                        .map_or(r.span, |b| self.blame(req, &mut m, &mut track, &b));
                    trace(
                        r,
                        "permit",
                        format!("`when` is false: {} is false", self.quote(&span)),
                        span,
                    );
                    continue;
                }
                Applies::UnlessTrue => {
                    let span = r
                        .unless
                        .map_or(r.span, |b| self.blame(req, &mut m, &mut track, &b));
                    trace(
                        r,
                        "permit",
                        format!("`unless` holds: {} holds", self.quote(&span)),
                        span,
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
                        if first_span.is_none() {
                            first_span = Some(self.blame(req, &mut m, &mut track, b));
                        }
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
                let (until, why) = self.bound_text(req, &mut m, &mut bounds, i, r, expires_at);
                let until = until.map_or_else(
                    || " (no expiry)".to_string(),
                    |e| format!(" until {}{why}", Time(e)),
                );
                trace(
                    r,
                    "permit",
                    format!("applies and every requirement holds: grants{until}"),
                    r.when.map_or(r.span, |b| b.span),
                );
            } else {
                let span = first_span.unwrap_or(r.span);
                trace(
                    r,
                    "permit",
                    format!(
                        "applies but requires {}: {} is false",
                        failed.join(", "),
                        self.quote(&span)
                    ),
                    span,
                );
            }
        }
        Explanation { decision, rules }
    }
}
