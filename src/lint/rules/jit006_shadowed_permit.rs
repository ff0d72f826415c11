use super::{covers, is_permit, ttl_at_least};
use crate::check::hir::{ActionId, RuleId, TaskId};
use crate::lint::solver::{canon, exact_example, implies, Answer, Formula};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use std::collections::HashMap;

finding!(
    ShadowedPermit,
    JIT006,
    "shadowed-permit",
    Warning,
    "a permit implied by another permit of the same task",
    r#"# JIT006 shadowed-permit (warning)

## What it catches
A `permit` that another permit of the same task (or of the standing
rules) makes redundant, so that deleting it changes no decision: the
other one covers the same principals, actions and resources or more
(wildcards as the checker expanded them), applies whenever this one
does, allows whenever this one allows (its `require`s follow from this
one's conditions: `task.approvals >= 2` implies `>= 1`), and lasts at
least as long. Decided over the analyser's condition fragment; anything
it cannot decide is not reported.

## Why it matters
Redundant grants hide what a task really allows. Tightening the narrow
rule later changes nothing, because the broad one still grants, and
reviewers are misled into thinking it did.

## Example
```jitp
task deploy {
  ttl 1h
  permit Service to app.deploy on App when context.risk < 50
  permit Service to app.deploy on App when context.risk < 20
}
```

## How to fix
Delete the narrower permit, or narrow the broader one if it grants more
than intended.
"#
);

impl Lint for ShadowedPermit {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_program(&self, cx: &Context<'_>, out: &mut Vec<Draft>) {
        // Permits by (task, action), over the expanded action sets.
        let mut by_action: HashMap<(Option<TaskId>, ActionId), Vec<RuleId>> = HashMap::new();
        for (i, r) in cx.rules().filter(|(_, r)| is_permit(r)) {
            for a in &r.actions {
                by_action.entry((r.task, *a)).or_default().push(i);
            }
        }
        // When each permit allows: it applies and its `require`s hold.
        let allows: Vec<Option<Formula>> = cx
            .rules()
            .map(|(_, r)| is_permit(r).then(|| Formula::allow(cx.program, r)))
            .collect();
        let allow = |i: RuleId| allows.get(i.index()).and_then(Option::as_ref);
        for (i, p1) in cx.rules() {
            if !is_permit(p1) || !cx.is_user(p1.span) {
                continue;
            }
            let scope = p1.task;
            let mut candidates: Vec<RuleId> = Vec::new();
            if let Some(first) = p1.actions.first() {
                candidates.extend(by_action.get(&(scope, *first)).into_iter().flatten());
            }
            candidates.sort_unstable();
            candidates.dedup();
            let shadowing = candidates.into_iter().find(|&j| {
                j != i && shadows(cx, &allow, j, i) && (j < i || !shadows(cx, &allow, i, j))
            });
            let Some(j) = shadowing else { continue };
            let Some(p2) = cx.rule(j) else { continue };
            out.push(Draft {
                diagnostic: draft(
                    &Self::INFO,
                    p1.head,
                    format!(
                        "{} is redundant: {} grants everything it does",
                        cx.rule_name(p1),
                        cx.rule_name(p2)
                    ),
                    "never makes a difference",
                )
                .with_label(
                    p2.head,
                    "this permit holds whenever the other does, and asks no more",
                )
                .with_help("delete the redundant permit, or narrow the broader one")
                .with_note_opt(
                    allow(i)
                        .and_then(exact_example)
                        .map(|w| format!("e.g. a request with {w} is allowed by both")),
                ),
                subject: p1.span,
                key: Key::rule_pair(&p1.id, &p2.id),
            });
        }
    }
}

/// Whether permit `j` makes permit `i` redundant: deleting `i` changes
/// no decision. `j` covers `i`'s principals, actions and resources and
/// lasts as long; it applies whenever `i` does, so where `i` asks for
/// step-up `j` allows or asks too; it allows whenever `i` allows (its
/// `require`s are implied by `i`'s conditions, so `>= 2` approvals
/// implies `>= 1`); and none of its `require`s can fail where `i`'s
/// conditions evaluate (each that could is one of `i`'s own).
fn shadows<'f>(
    cx: &Context<'_>,
    allow: &impl Fn(RuleId) -> Option<&'f Formula>,
    j: RuleId,
    i: RuleId,
) -> bool {
    let (Some(p2), Some(p1)) = (cx.rule(j), cx.rule(i)) else {
        return false;
    };
    if !covers(p2, p1) || !ttl_at_least(p2.ttl, p1.ttl) {
        return false;
    }
    let asked: Vec<String> = p1.requires.iter().map(|q| canon(&q.cond)).collect();
    let may_fail = p2.requires.iter().any(|q| {
        !Formula::condition(cx.program, p2, &q.cond).is_total() && !asked.contains(&canon(&q.cond))
    });
    if may_fail {
        return false;
    }
    let guards = match (cx.guard(i), cx.guard(j)) {
        (Some(g1), Some(g2)) => implies(g1, g2) == Answer::Yes,
        _ => false,
    };
    guards
        && match (allow(i), allow(j)) {
            (Some(a1), Some(a2)) => implies(a1, a2) == Answer::Yes,
            _ => false,
        }
}
