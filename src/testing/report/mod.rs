//! Rendering a [`Report`](super::Report): the human-readable report
//! (`human`), one JSON document (`json`) and JUnit XML (`junit`), plus
//! the descriptions of expected and actual decisions they share.

mod human;
mod json;
pub(super) mod junit;

use super::{effect_str, quoted, Expectation};
use jitp_runtime::decision::{DecisionRecord, Effect, Obligation};
use std::fmt::Write as _;

impl Expectation {
    /// The expectation in words, as failure reports show it.
    fn describe(&self) -> String {
        let mut s = self.decision.map_or("any decision", effect_str).to_string();
        if let Some(r) = self.reason {
            let _ = write!(s, " ({})", r.as_str());
        }
        describe_rest(
            &mut s,
            self.rule.as_deref(),
            self.task.as_deref(),
            self.expires_at.as_ref().map(Option::as_deref),
            self.needs.as_deref(),
            self.obligations.as_deref(),
        );
        s
    }
}

/// The actual decision in words, as failure reports show it.
fn describe_actual(d: &DecisionRecord) -> String {
    let mut s = format!("{} ({})", effect_str(d.decision), d.reason.as_str());
    let expiry = match &d.expires_at {
        Some(e) => Some(Some(e.as_str())),
        None => (d.decision == Effect::Allow).then_some(None),
    };
    describe_rest(
        &mut s,
        d.rule.as_deref(),
        d.task.as_deref(),
        expiry,
        (!d.needs.is_empty()).then_some(d.needs.as_slice()),
        (!d.obligations.is_empty()).then_some(d.obligations.as_slice()),
    );
    if let Some(e) = &d.error {
        let _ = write!(s, ": {e}");
    }
    s
}

/// Appends what follows the decision and reason in a description, for
/// the parts given: the rule, the task, the expiry (`Some(None)` says
/// there is none), the missing requirements and the obligations.
fn describe_rest(
    s: &mut String,
    rule: Option<&str>,
    task: Option<&str>,
    expiry: Option<Option<&str>>,
    needs: Option<&[String]>,
    obligations: Option<&[Obligation]>,
) {
    if let Some(r) = rule {
        let _ = write!(s, " by rule `{r}`");
    }
    if let Some(t) = task {
        let _ = write!(s, " in task `{t}`");
    }
    match expiry {
        Some(Some(e)) => {
            let _ = write!(s, ", expires at {e}");
        }
        Some(None) => s.push_str(", no expiry"),
        None => {}
    }
    if let Some(n) = needs {
        let _ = write!(s, ", needs [{}]", quoted(n));
    }
    if let Some(o) = obligations {
        let _ = write!(s, ", obligations [{}]", obligations_text(o));
    }
}

/// The expected and actual decision of a failed case and the fields that
/// differ, one line each after `indent`.
fn mismatch_lines(
    out: &mut String,
    indent: &str,
    expected: &Expectation,
    actual: &DecisionRecord,
    mismatches: &[&str],
) {
    let _ = writeln!(out, "{indent}expected: {}", expected.describe());
    let _ = writeln!(out, "{indent}actual:   {}", describe_actual(actual));
    let _ = writeln!(out, "{indent}differs in: {}", mismatches.join(", "));
}

fn obligations_text(o: &[Obligation]) -> String {
    o.iter()
        .map(|o| format!("{} `{}`", o.kind, o.target))
        .collect::<Vec<_>>()
        .join(", ")
}
