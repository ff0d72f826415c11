use super::{covers, is_permit};
use crate::check::hir::{ActionId, RuleId};
use crate::lint::solver::{
    exact_example, false_in, implies_or_fails, model_key, required_eq, Verdict,
};
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
        // Guards by action, over the expanded action sets; a guard that
        // cannot fail and holds only when some `path == value` also by that
        // equality (elsewhere it is false, so it overrides nothing).
        let mut general: HashMap<ActionId, Vec<RuleId>> = HashMap::new();
        let mut by_eq: HashMap<(ActionId, String, String), Vec<RuleId>> = HashMap::new();
        let mut eq_paths: HashMap<ActionId, Vec<String>> = HashMap::new();
        for (i, r) in cx.rules().filter(|(_, r)| !is_permit(r)) {
            let eq = cx.guard(i).filter(|g| g.is_total()).and_then(required_eq);
            for a in &r.actions {
                match &eq {
                    Some((path, values)) => {
                        for value in values {
                            by_eq
                                .entry((*a, path.clone(), value.clone()))
                                .or_default()
                                .push(i);
                        }
                        let paths = eq_paths.entry(*a).or_default();
                        if !paths.contains(path) {
                            paths.push(path.clone());
                        }
                    }
                    None => general.entry(*a).or_default().push(i),
                }
            }
        }
        for (i, p) in cx.rules() {
            if !is_permit(p) || !cx.is_user(p.span) {
                continue;
            }
            let Some(gp) = cx.guard(i) else { continue };
            // A permit that never applies is JIT005's.
            let Some(first) = p.actions.first() else {
                continue;
            };
            // Requests the permit applies to: a guard false on one of them
            // does not override it.
            let sample = cx.guard_models(i);
            if sample.is_empty() && cx.guard_verdict(i) == Verdict::Never {
                continue;
            }
            let mut candidates: Vec<RuleId> = general.get(first).cloned().unwrap_or_default();
            for path in eq_paths.get(first).into_iter().flatten() {
                match sample.first() {
                    Some(m) => {
                        if let Some(v) = model_key(m, path) {
                            candidates.extend(
                                by_eq.get(&(*first, path.clone(), v)).into_iter().flatten(),
                            );
                        }
                    }
                    None => candidates.extend(
                        by_eq
                            .iter()
                            .filter(|((a, q, _), _)| a == first && q == path)
                            .flat_map(|(_, v)| v.iter().copied()),
                    ),
                }
            }
            candidates.sort_unstable();
            candidates.dedup();
            let found = candidates.into_iter().find(|&j| {
                let Some(f) = cx.rule(j) else { return false };
                let Some(gf) = cx.guard(j) else { return false };
                // A task's guard only sees requests of that task; a
                // standing permit is also used outside every task.
                let same_scope = f.task.is_none() || f.task == p.task;
                same_scope
                    && covers(f, p)
                    && !sample.iter().any(|m| false_in(gf, m))
                    && implies_or_fails(gp, gf)
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
