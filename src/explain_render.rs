//! Terminal rendering of decision explanations with ariadne: one report
//! per candidate rule, pointing at the condition that decided it.

use crate::span::{FileId, SourceMap, Span};
use jitp_runtime::decision::Effect;
use jitp_runtime::Explanation;
use std::fmt::Write as _;

/// Renders `e` for a terminal. Where the source text is not available
/// (a bundle whose files are gone), rules are listed with their locations.
pub fn render(sources: &SourceMap, e: &Explanation, color: bool) -> String {
    let d = &e.decision;
    let mut out = String::new();
    let verdict = match d.decision {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
        Effect::StepUp => "step_up",
    };
    let _ = write!(out, "decision: {verdict} ({})", d.reason.as_str());
    if let Some(r) = &d.rule {
        let _ = write!(out, " by rule `{r}`");
    }
    if let Some(t) = &d.expires_at {
        let _ = write!(out, ", expires at {t}");
    }
    if !d.needs.is_empty() {
        let _ = write!(
            out,
            ", needs {}",
            d.needs
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(err) = &d.error {
        let _ = write!(out, ": {err}");
    }
    out.push('\n');
    if e.rules.is_empty() {
        out.push_str("no rule applies to this action and task\n");
        return out;
    }
    for t in &e.rules {
        let file = FileId(t.span.file);
        let has_text = sources
            .get(file)
            .is_some_and(|f| !f.text.is_empty() && f.text.len() >= t.span.end as usize);
        let decisive = d.rule.as_deref() == Some(t.rule.as_str());
        let title = format!("`{}`: {}", t.rule, t.outcome);
        if !has_text {
            let _ = writeln!(
                out,
                "{}:{}:{}: {} {title}",
                t.file, t.span.line, t.span.col, t.kind
            );
            continue;
        }
        let span = Span::new(file, t.span.start as usize..t.span.end as usize);
        let label = if decisive {
            "this decided the request"
        } else {
            "evaluated here"
        };
        out.push_str(&crate::render::annotation(
            sources, t.kind, &title, span, label, color,
        ));
    }
    out
}
