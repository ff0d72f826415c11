use super::{covers, is_permit};
use crate::check::hir::{ActionId, RuleId};
use crate::lint::solver::{classify, exact_example, implies_or_fails, Verdict};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use std::collections::HashMap;

finding!(
    OverriddenPermit,
    JIT007,
    "overridden-permit",
    Warning,
    "a permit that a forbid always overrides",
    r#"# JIT007 overridden-permit (warning)

## What it catches
A `permit` that a `forbid` denies every time it could allow: the forbid
applies to the same requests (globally, or in the permit's task), covers
its principals, actions and resources, and its condition holds whenever
the permit's does. Decided over the analyser's condition fragment;
anything it cannot decide is not reported.

## Why it matters
The grant is dead: it can never be used. Either the guard is broader than
intended and blocks legitimate work, or the permit should go.

## Example
```jitp
task maintenance {
  ttl 1h
  permit Operator to hosts.ssh on Host when context.risk >= 90
}
forbid * when context.risk >= 80
```

## How to fix
Narrow the guard, correct the permit's condition, or delete the permit.
"#
);

impl Lint for OverriddenPermit {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_program(&self, cx: &Context<'_>, out: &mut Vec<Draft>) {
        // Guards by action, over the expanded action sets.
        let mut by_action: HashMap<ActionId, Vec<RuleId>> = HashMap::new();
        for (i, r) in cx.rules().filter(|(_, r)| !is_permit(r)) {
            for a in &r.actions {
                by_action.entry(*a).or_default().push(i);
            }
        }
        for (i, p) in cx.rules() {
            if !is_permit(p) || !cx.is_user(p.span) {
                continue;
            }
            // A permit that never applies is JIT005's.
            if cx.guard(i).is_none_or(|g| classify(g) == Verdict::Never) {
                continue;
            }
            let mut candidates: Vec<RuleId> = Vec::new();
            if let Some(first) = p.actions.first() {
                candidates.extend(by_action.get(first).into_iter().flatten());
            }
            candidates.sort_unstable();
            let found = candidates.into_iter().find(|&j| {
                let Some(f) = cx.rule(j) else { return false };
                // A task's guard only sees requests of that task; a
                // standing permit is also used outside every task.
                let same_scope = f.task.is_none() || f.task == p.task;
                same_scope
                    && covers(f, p)
                    && matches!((cx.guard(i), cx.guard(j)), (Some(gp), Some(gf)) if implies_or_fails(gp, gf))
            });
            let Some(f) = found.and_then(|j| cx.rule(j)) else {
                continue;
            };
            out.push(Draft {
                diagnostic: draft(
                    &Self::INFO,
                    p.head,
                    format!(
                        "{} can never allow: {} denies whenever it would apply",
                        cx.rule_name(p),
                        cx.rule_name(f)
                    ),
                    "always overridden",
                )
                .with_label(f.head, "this guard holds whenever the permit does")
                .with_help("narrow the guard, correct the permit's condition, or delete the permit")
                .with_note_opt(cx.guard(i).and_then(exact_example).map(|w| {
                    format!("e.g. a request with {w} meets the permit, and the guard denies it")
                })),
                subject: p.span,
                key: Key::rule_pair(&p.id, &f.id),
            });
        }
    }
}
