use super::is_permit;
use crate::check::hir::{Rule, RuleId};
use crate::lint::solver::{classify, Formula, Verdict};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};

finding!(
    UnsatisfiableRule,
    JIT005,
    "unsatisfiable-rule",
    Warning,
    "a rule that can never apply, or a permit that can never allow",
    r#"# JIT005 unsatisfiable-rule (warning)

## What it catches
A rule whose `when` and `unless` together can hold for no request, and a
permit with a `require` that can never hold (it can only ever ask for
step-up). Decided over the analyser's condition fragment; anything it
cannot decide is not reported.

## Why it matters
Dead policy misleads reviewers: a rule that reads as a grant or a guard
does nothing. It is usually a typo (`<` for `>`) or two conditions that
contradict each other, and the rule the author meant is missing.

## Example
```jitp
forbid * when context.risk > 80 and context.risk < 20
```

## How to fix
Correct the condition (`context.risk > 80 or context.risk < 20`), or
delete the rule.
"#
);

impl Lint for UnsatisfiableRule {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_rule(&self, cx: &Context<'_>, id: RuleId, r: &Rule, out: &mut Vec<Draft>) {
        let Some(guard) = cx.guard(id) else {
            return;
        };
        // A permit applies when its conditions are true; a guard denies
        // unless they are false (a failing guard denies too).
        let never = if is_permit(r) {
            cx.guard_verdict(id) == Verdict::Never
        } else {
            classify(&guard.fires()) == Verdict::Never
        };
        if never {
            let span = r.when.as_ref().map_or(r.head, |w| w.span);
            out.push(Draft {
                diagnostic: draft(
                    &Self::INFO,
                    span,
                    format!(
                        "{} can never apply: its conditions hold for no request",
                        cx.rule_name(r)
                    ),
                    "never true",
                )
                .with_help("the conditions contradict each other; correct them or delete the rule"),
                subject: r.span,
                key: Key::rule(&r.id),
            });
            return;
        }
        if !is_permit(r) {
            return;
        }
        for q in &r.requires {
            if classify(&Formula::condition(cx.program, r, &q.cond)) == Verdict::Never {
                out.push(Draft {
                    diagnostic: draft(
                        &Self::INFO,
                        q.cond.span,
                        format!(
                            "{} can never allow: `require ... else \"{}\"` holds for no request",
                            cx.rule_name(r),
                            q.label
                        ),
                        "never true",
                    )
                    .with_help("the rule can only ever ask for step-up; correct the requirement"),
                    subject: r.span,
                    key: Key::rule(&r.id).part("require").part(&q.label),
                });
            }
        }
    }
}
