use super::{covers, is_permit, ttl_at_least};
use crate::check::hir::{ActionId, RuleId, TaskId};
use crate::lint::solver::{
    canon, exact_example, holds_in, implies, model_key, models, required_eq, Answer, Formula, Model,
};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use std::borrow::Cow;
use std::cell::OnceCell;
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
        // When each permit allows: it applies and its `require`s hold; and
        // a few requests it allows (models), to rule out most pairs cheaply.
        // Both computed on first use: a permit alone on its action needs
        // neither.
        let allows: Vec<OnceCell<Option<Cow<'_, Formula>>>> =
            cx.rules().map(|_| OnceCell::new()).collect();
        let allow = |i: RuleId| {
            allows.get(i.index()).and_then(|c| {
                c.get_or_init(|| cx.rule(i).filter(|r| is_permit(r)).map(|r| cx.allow(i, r)))
                    .as_deref()
            })
        };
        let samples: Vec<OnceCell<Vec<Model>>> = cx.rules().map(|_| OnceCell::new()).collect();
        let sample = |i: RuleId| {
            samples.get(i.index()).map_or(&[][..], |c| {
                c.get_or_init(|| match cx.rule(i) {
                    // Without `require`s it allows where it applies.
                    Some(r) if r.requires.is_empty() => cx.guard_models(i).to_vec(),
                    _ => allow(i).map_or(Vec::new(), |a| models(a, 4)),
                })
                .as_slice()
            })
        };
        // Permits by (task, action), over the expanded action sets; those
        // that allow only when some `path == value` also by that equality
        // (a permit can only shadow another if it allows in the other's
        // models).
        type Scope = (Option<TaskId>, ActionId);
        let mut general: HashMap<Scope, Vec<RuleId>> = HashMap::new();
        let mut by_eq: HashMap<(Scope, String, String), Vec<RuleId>> = HashMap::new();
        let mut eq_paths: HashMap<Scope, Vec<String>> = HashMap::new();
        let mut crowded: HashMap<Scope, usize> = HashMap::new();
        for (_, r) in cx.rules().filter(|(_, r)| is_permit(r)) {
            for a in &r.actions {
                *crowded.entry((r.task, *a)).or_default() += 1;
            }
        }
        for (i, r) in cx.rules().filter(|(_, r)| is_permit(r)) {
            // Alone on all its actions: no pair to index.
            let alone = r
                .actions
                .iter()
                .all(|a| crowded.get(&(r.task, *a)).copied().unwrap_or(0) <= 1);
            let eq = if alone {
                None
            } else {
                allow(i).and_then(required_eq)
            };
            for a in &r.actions {
                let scope = (r.task, *a);
                match &eq {
                    Some((path, values)) => {
                        for value in values {
                            by_eq
                                .entry((scope, path.clone(), value.clone()))
                                .or_default()
                                .push(i);
                        }
                        let paths = eq_paths.entry(scope).or_default();
                        if !paths.contains(path) {
                            paths.push(path.clone());
                        }
                    }
                    None => general.entry(scope).or_default().push(i),
                }
            }
        }
        for (i, p1) in cx.rules() {
            if !is_permit(p1) || !cx.is_user(p1.span) {
                continue;
            }
            let Some(first) = p1.actions.first() else {
                continue;
            };
            let scope = (p1.task, *first);
            let mut candidates: Vec<RuleId> = general.get(&scope).cloned().unwrap_or_default();
            for path in eq_paths.get(&scope).into_iter().flatten() {
                match sample(i).first() {
                    // Only permits whose equality holds in the model can
                    // allow there.
                    Some(m) => {
                        if let Some(v) = model_key(m, path) {
                            candidates
                                .extend(by_eq.get(&(scope, path.clone(), v)).into_iter().flatten());
                        }
                    }
                    // No model (never allows, or undecided): every permit.
                    None => candidates.extend(
                        by_eq
                            .iter()
                            .filter(|((s, p, _), _)| *s == scope && p == path)
                            .flat_map(|(_, v)| v.iter().copied()),
                    ),
                }
            }
            candidates.sort_unstable();
            candidates.dedup();
            let shadowing = candidates.into_iter().find(|&j| {
                j != i
                    && shadows(cx, &allow, &sample, j, i)
                    && (j < i || !shadows(cx, &allow, &sample, i, j))
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
    sample: &impl Fn(RuleId) -> &'f [Model],
    j: RuleId,
    i: RuleId,
) -> bool {
    let (Some(p2), Some(p1)) = (cx.rule(j), cx.rule(i)) else {
        return false;
    };
    if !covers(p2, p1) || !ttl_at_least(p2.ttl, p1.ttl) {
        return false;
    }
    // A request `i` allows that `j` does not: the solver would say no.
    if let Some(a2) = allow(j) {
        if sample(i).iter().any(|m| !holds_in(a2, m)) {
            return false;
        }
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
