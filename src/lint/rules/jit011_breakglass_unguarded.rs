use super::is_permit;
use crate::check::hir::{Expr, ExprKind, TaskDef, TaskField, TaskId};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use crate::syntax::ast::TaskKind;

finding!(
    BreakglassUnguarded,
    JIT011,
    "breakglass-unguarded",
    Error,
    "break-glass without a required approval or without `notify`",
    r#"# JIT011 breakglass-unguarded (error)

## What it catches
A `breakglass` block that does not `notify` anyone, or has a permit that
does not `require` at least one approval (a condition on
`task.approvals` or `task.approvers`). A break-glass ttl above
`max_breakglass_ttl` is reported as JIT002.

## Why it matters
Break-glass bypasses the normal path in an emergency. What keeps it from
becoming a standing back door is that someone else approves each use and
that the right people hear about it at once.

## Example
```jitp
breakglass incident {
  ttl 1h
  permit Operator to hosts.ssh on Host when principal.oncall
}
```

## How to fix
```jitp
breakglass incident {
  ttl 1h
  notify "secops"
  permit Operator to hosts.ssh on Host
    when principal.oncall
    require task.approvals >= 1 else "peer approval"
}
```
"#
);

impl Lint for BreakglassUnguarded {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_task(&self, cx: &Context<'_>, task: TaskId, t: &TaskDef, out: &mut Vec<Draft>) {
        if t.kind != TaskKind::Breakglass {
            return;
        }
        if t.notify.is_empty() {
            out.push(Draft {
                diagnostic: draft(
                    &Self::INFO,
                    t.span,
                    format!("break-glass `{}` notifies no one", t.name),
                    "no `notify`",
                )
                .with_help(
                    "add `notify \"secops\"` (or the channel that must hear about every use)",
                ),
                subject: t.span,
                key: Key::task(&t.name),
            });
        }
        for r in cx
            .program
            .rules
            .iter()
            .filter(|r| is_permit(r) && r.task == Some(task))
        {
            if r.requires.iter().any(|q| reads_approvals(&q.cond)) {
                continue;
            }
            out.push(Draft {
                diagnostic: draft(
                    &Self::INFO,
                    r.head,
                    format!(
                        "{} in break-glass `{}` requires no approval",
                        cx.rule_name(r),
                        t.name
                    ),
                    "no `require` on `task.approvals`",
                )
                .with_label(t.span, "break-glass declared here")
                .with_help("add `require task.approvals >= 1 else \"peer approval\"`"),
                subject: r.span,
                key: Key::rule(&r.id),
            });
        }
    }
}

fn reads_approvals(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::TaskField(TaskField::Approvals | TaskField::Approvers) => true,
        ExprKind::Not(x) | ExprKind::Neg(x) | ExprKind::Has(x) | ExprKind::Like(x, _) => {
            reads_approvals(x)
        }
        ExprKind::Field { base, .. } => reads_approvals(base),
        ExprKind::Method { recv, args, .. } => {
            reads_approvals(recv) || args.iter().any(reads_approvals)
        }
        ExprKind::And(a, b)
        | ExprKind::Or(a, b)
        | ExprKind::Cmp(_, a, b)
        | ExprKind::Arith(_, a, b)
        | ExprKind::In(a, b)
        | ExprKind::Default(a, b) => reads_approvals(a) || reads_approvals(b),
        ExprKind::Call(_, args) | ExprKind::Set(args) => args.iter().any(reads_approvals),
        _ => false,
    }
}
