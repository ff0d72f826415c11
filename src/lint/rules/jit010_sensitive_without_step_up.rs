use super::{actions_of, is_permit, is_sensitive, most_sensitive};
use crate::check::hir::{Rule, RuleId};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};

finding!(
    SensitiveWithoutStepUp,
    JIT010,
    "sensitive-without-step-up",
    Warning,
    "a high or critical action granted with no `require`",
    r#"# JIT010 sensitive-without-step-up (warning)

## What it catches
A `permit` that grants a `high` or `critical` sensitivity action without
any `require` clause.

## Why it matters
Step-up is how just-in-time authorisation asks for stronger evidence only
when it matters: an approval, a justification, a fresh workload
assertion. A sensitive action granted on the rule's conditions alone never
asks.

## Example
```jitp
task rotate {
  ttl 15m
  permit Service to secrets.rotate on Secret
    when context.ticket?.status == TicketStatus.approved
}
```

## How to fix
Add a requirement: `require task.approvals >= 1 else "approval"`, or
`require has evidence.justification else "justification"`.
"#
);

impl Lint for SensitiveWithoutStepUp {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_rule(&self, cx: &Context<'_>, _: RuleId, r: &Rule, out: &mut Vec<Draft>) {
        if !is_permit(r) || !r.requires.is_empty() {
            return;
        }
        let actions = actions_of(cx.program, r);
        let Some((s, name)) =
            most_sensitive(cx.program, &actions).filter(|(s, _)| is_sensitive(*s))
        else {
            return;
        };
        let level = if s == crate::syntax::ast::Sensitivity::Critical {
            "critical"
        } else {
            "high"
        };
        out.push(Draft {
            diagnostic: draft(
                &Self::INFO,
                r.head,
                format!(
                    "{} grants {level}-sensitivity `{name}` without step-up",
                    cx.rule_name(r)
                ),
                "no `require`",
            )
            .with_help("add a requirement such as `require task.approvals >= 1 else \"approval\"`"),
            subject: r.span,
            key: Key::rule(&r.id),
        });
    }
}
