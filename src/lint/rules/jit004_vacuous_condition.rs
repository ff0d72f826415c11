use super::is_permit;
use crate::check::hir::{Rule, RuleId};
use crate::lint::solver::{classify, Formula, Verdict};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};

finding!(
    VacuousCondition,
    JIT004,
    "vacuous-condition",
    Error,
    "a permit's `when` that holds for every request, or a `require` that cannot fail",
    r#"# JIT004 vacuous-condition (error)

## What it catches
A `permit` whose `when` is true for every request the schema admits, or
a `require` that can never fail, so it never asks for step-up. The
analyser decides this only for conditions in its fragment (comparisons of
request fields with constants, membership in literal sets, `and`, `or`,
`not`); for anything else it stays silent.

## Why it matters
A condition that always holds grants unconditionally: the rule reads as
guarded, but it is standing privilege. A `require` that cannot fail
promises step-up that never happens.

## Example
```jitp
permit Agent to tickets.read on Ticket
  when context.risk < 50 or context.risk >= 50
require task.approvals >= 0 else "approval"
```

## How to fix
Write the condition you meant (`context.risk < 50`); require at least
one approval (`task.approvals >= 1`).
"#
);

impl Lint for VacuousCondition {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_rule(&self, cx: &Context<'_>, id: RuleId, r: &Rule, out: &mut Vec<Draft>) {
        if !is_permit(r) {
            return;
        }
        if let Some(when) = &r.when {
            // Without `unless`, the guard is the `when`: translated and
            // classified once, for every finding.
            let (verdict, f) = match (&r.unless, cx.guard(id)) {
                (None, Some(g)) => (cx.guard_verdict(id), std::borrow::Cow::Borrowed(g)),
                _ => {
                    let f = Formula::condition(cx.program, r, when);
                    (classify(&f), std::borrow::Cow::Owned(f))
                }
            };
            if verdict == Verdict::Always {
                out.push(Draft {
                    diagnostic: whatever(&f, draft(
                        &Self::INFO,
                        when.span,
                        format!("the `when` of {} holds for every request", cx.rule_name(r)),
                        "always true",
                    )
                    .with_help("a condition that always holds guards nothing; write the condition you meant")),
                    subject: r.span,
                    key: Key::rule(&r.id).part("when"),
                });
            }
        }
        for q in &r.requires {
            let f = Formula::condition(cx.program, r, &q.cond);
            if classify(&f) == Verdict::Always {
                out.push(Draft {
                    diagnostic: whatever(&f, draft(
                        &Self::INFO,
                        q.cond.span,
                        format!("`require ... else \"{}\"` of {} can never fail", q.label, cx.rule_name(r)),
                        "always true",
                    )
                    .with_help("a requirement that always holds never asks for step-up; require something that must be presented, e.g. `task.approvals >= 1`")),
                    subject: r.span,
                    key: Key::rule(&r.id).part("require").part(&q.label),
                });
            }
        }
    }
}

/// Adds which request fields the condition holds for, whatever they are.
fn whatever(f: &Formula, d: crate::diagnostic::Diagnostic) -> crate::diagnostic::Diagnostic {
    let paths: Vec<String> = f.paths().iter().map(|p| format!("`{p}`")).collect();
    if paths.is_empty() {
        return d;
    }
    d.with_note(format!(
        "it holds whatever {} {}",
        paths.join(", "),
        if paths.len() == 1 { "is" } else { "are" }
    ))
}
