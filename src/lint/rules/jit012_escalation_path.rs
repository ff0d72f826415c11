use super::{actions_of, most_sensitive};
use crate::check::hir::EntityId;
use crate::lint::graph::PrivilegeGraph;
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};

finding!(
    EscalationPath,
    JIT012,
    "escalation-path",
    Error,
    "a chain of `grants` by which a holder obtains high or critical actions",
    r#"# JIT012 escalation-path (error)

## What it catches
A path in the privilege graph: a principal type holds a permit to an
action declared `grants task_x`; performing it activates `task_x`, whose
permits apply to the same principal type; and somewhere along the chain
(which may pass through several tasks) a permit reaches a `high` or
`critical` action. Every hop is shown. Such a chain is also a
self-approval, reported as JIT013 as well.

## Why it matters
Whoever holds the first grant can give themselves the later ones: the
task boundary that was meant to need someone else's decision is
self-service, and the end of the chain is sensitive.

## Example
```jitp
action tasks.approve on TaskRequest sensitivity medium grants rotate_keys
task triage {
  ttl 1h
  permit Agent to tasks.approve on TaskRequest when context.risk < 50
}
task rotate_keys {
  ttl 15m
  permit Agent to keys.rotate on Key when context.risk < 50
}
```

## How to fix
Let a different principal type approve the task (a human approver), or
remove the `grants` declaration; require an approval by someone other
than the holder (`require task.approvals >= 1`) in the granted task.
"#
);

impl Lint for EscalationPath {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_program(&self, cx: &Context<'_>, out: &mut Vec<Draft>) {
        report(cx, out, true);
    }
}

/// Reports grant chains: those reaching a sensitive action (`sensitive`,
/// JIT012) or the others (JIT013).
pub(crate) fn report(cx: &Context<'_>, out: &mut Vec<Draft>, sensitive: bool) {
    let p = cx.program;
    if !p.actions.iter().any(|a| a.grants.is_some()) {
        return;
    }
    let graph = PrivilegeGraph::new(p);
    // Per principal type, the shortest chains, computed once.
    let chains: Vec<_> = (0..p.entities.len() as u32)
        .map(|t| graph.shortest(EntityId(t)))
        .collect();
    for (i, r) in cx.rules() {
        if !super::is_permit(r) || !cx.is_user(r.span) {
            continue;
        }
        let granting: Vec<_> = actions_of(p, r)
            .into_iter()
            .filter(|a| p.actions.get(a.index()).is_some_and(|d| d.grants.is_some()))
            .collect();
        if granting.is_empty() {
            continue;
        }
        for who in 0..p.entities.len() as u32 {
            let who = EntityId(who);
            if !r.principal.as_ref().is_none_or(|ps| ps.contains(&who)) {
                continue;
            }
            let Some(c) = chains.get(who.index()) else {
                continue;
            };
            let found = granting
                .iter()
                .filter_map(|a| {
                    if sensitive {
                        c.to_sensitive(p, *a)
                    } else {
                        c.self_approval(p, *a)
                    }
                })
                .min_by_key(Vec::len);
            let Some(chain) = found else { continue };
            let chain = &chain;
            let hops = graph.hops(i, who, chain);
            let who_name = p.entities.get(who.index()).map_or("?", |e| e.name.as_str());
            let Some((first, rest)) = hops.split_first() else {
                continue;
            };
            let end = chain
                .last()
                .and_then(|(_, t, q)| Some((p.tasks.get(t.index())?, p.rules.get(q.index())?)));
            let Some((task, last)) = end else { continue };
            let info = if sensitive {
                &EscalationPath::INFO
            } else {
                &super::jit013_self_approval_loop::SelfApprovalLoop::INFO
            };
            let message = if sensitive {
                let top = most_sensitive(p, &actions_of(p, last)).map_or("?", |(_, n)| n);
                format!("`{who_name}` can obtain `{top}` through {}: the grant of {} leads to task `{}`", plural_hops(chain.len()), cx.rule_name(r), task.name)
            } else {
                format!(
                    "`{who_name}` can activate task `{}` for itself through {}",
                    task.name,
                    cx.rule_name(r)
                )
            };
            let mut d = draft(info, first.span, message, first.label.clone()).with_help(
                "let a different principal type approve the task, or drop the `grants` declaration",
            );
            for h in rest {
                d = d.with_label(h.span, h.label.clone());
            }
            out.push(Draft {
                diagnostic: d,
                subject: r.span,
                key: Key::chain(&r.id, who_name, &task.name),
            });
        }
    }
}

fn plural_hops(n: usize) -> String {
    if n == 1 {
        "one task".into()
    } else {
        format!("{n} tasks")
    }
}
