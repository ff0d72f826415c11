use super::{is_permit, is_sensitive};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};

finding!(
    MissingGuard,
    JIT014,
    "missing-guard",
    Note,
    "high or critical actions and no guard that covers them",
    r#"# JIT014 missing-guard (note)

## What it catches
A policy set that declares `high` or `critical` actions but has no
`forbid` guard covering any of them: no risk ceiling, no revocation check,
no network rule.

## Why it matters
Guards are the circuit breakers of just-in-time authorisation: whatever
the permits say, a session flagged as risky or a revoked credential is
refused. Without one, every sensitive grant depends only on its own
conditions.

## Example
```jitp
action secrets.rotate on Secret sensitivity high
task rotate { ttl 15m  permit Service to secrets.rotate on Secret
                         when context.ticket_approved }
```

## How to fix
```jitp
forbid * when context.risk >= 80
forbid secrets.* when resource.revoked
```
"#
);

impl Lint for MissingGuard {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_program(&self, cx: &Context<'_>, out: &mut Vec<Draft>) {
        let p = cx.program;
        let Some((first, _)) = p
            .actions
            .iter()
            .enumerate()
            .find(|(_, a)| is_sensitive(a.sensitivity) && cx.is_user(a.span))
        else {
            return;
        };
        let guarded = p.rules.iter().filter(|r| !is_permit(r)).any(|r| {
            r.actions.iter().any(|a| {
                p.actions
                    .get(a.index())
                    .is_some_and(|d| is_sensitive(d.sensitivity))
            })
        });
        if guarded {
            return;
        }
        let Some(action) = p.actions.get(first) else {
            return;
        };
        out.push(Draft {
            diagnostic: draft(
                &Self::INFO,
                action.span,
                "the policy set has sensitive actions but no guard covers them",
                format!(
                    "`{}` is {} sensitivity",
                    action.name,
                    if action.sensitivity == crate::syntax::ast::Sensitivity::Critical {
                        "critical"
                    } else {
                        "high"
                    }
                ),
            )
            .with_help("add a guard such as `forbid * when context.risk >= 80`"),
            subject: action.span,
            key: Key::policy_set(),
        });
    }
}
