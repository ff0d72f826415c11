//! Rendering a [`Report`](super::Report): the human-readable report
//! (`human`), one JSON document (`json`) and JUnit XML (`junit`), plus
//! the descriptions of expected and actual decisions they share.

mod human;
mod json;
pub(super) mod junit;

use super::{effect_str, quoted, Expectation};
use crate::decision::{DecisionRecord, Effect, Obligation};
use std::fmt::Write as _;

impl Expectation {
    /// The expectation in words, as failure reports show it.
    fn describe(&self) -> String {
        let mut s = self.decision.map_or("any decision", effect_str).to_string();
        if let Some(r) = self.reason {
            let _ = write!(s, " ({})", r.as_str());
        }
        if let Some(r) = &self.rule {
            let _ = write!(s, " by rule `{r}`");
        }
        if let Some(t) = &self.task {
            let _ = write!(s, " in task `{t}`");
        }
        if let Some(e) = &self.expires_at {
            match e {
                Some(e) => {
                    let _ = write!(s, ", expires at {e}");
                }
                None => s.push_str(", no expiry"),
            }
        }
        if let Some(n) = &self.needs {
            let _ = write!(s, ", needs [{}]", quoted(n));
        }
        if let Some(o) = &self.obligations {
            let _ = write!(s, ", obligations [{}]", obligations_text(o));
        }
        s
    }
}

fn obligations_text(o: &[Obligation]) -> String {
    o.iter()
        .map(|o| format!("{} `{}`", o.kind, o.target))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The actual decision in words, as failure reports show it.
fn describe_actual(d: &DecisionRecord) -> String {
    let mut s = format!("{} ({})", effect_str(d.decision), d.reason.as_str());
    if let Some(r) = &d.rule {
        let _ = write!(s, " by rule `{r}`");
    }
    if let Some(t) = &d.task {
        let _ = write!(s, " in task `{t}`");
    }
    if let Some(e) = &d.expires_at {
        let _ = write!(s, ", expires at {e}");
    } else if d.decision == Effect::Allow {
        s.push_str(", no expiry");
    }
    if !d.needs.is_empty() {
        let _ = write!(s, ", needs [{}]", quoted(&d.needs));
    }
    if !d.obligations.is_empty() {
        let _ = write!(s, ", obligations [{}]", obligations_text(&d.obligations));
    }
    if let Some(e) = &d.error {
        let _ = write!(s, ": {e}");
    }
    s
}
