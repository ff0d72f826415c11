use super::is_permit;
use crate::check::hir::{Expr, ExprKind, TaskDef, TaskField, TaskId};
use crate::lint::solver::{classify, exact_example, Formula, Verdict};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use crate::syntax::ast::TaskKind;

finding!(
    BreakglassUnguarded,
    JIT011,
    "breakglass-unguarded",
    Error,
    "break-glass that allows with no approval, notifies no one, or lives too long",
    r#"# JIT011 breakglass-unguarded (error)

## What it catches
A `breakglass` block that does not `notify` anyone, whose `ttl` is longer
than `max_breakglass_ttl` (default 1h, set in `jitp.toml`), or with a
permit that can allow a request carrying no approval at all. The last is
decided over the permit's conditions: `require task.approvals <= 3`,
`require task.approvals >= 0`, or an `or` that bypasses the approval all
admit zero approvals, and the finding shows such a request. A permit
whose conditions the analyser cannot decide is reported only when none of
them reads `task.approvals` or `task.approvers`.

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
        let max = cx.config.max_breakglass_ttl;
        if let Some(ttl) = t.ttl.filter(|ttl| *ttl > max) {
            out.push(Draft {
                diagnostic: draft(
                    &Self::INFO,
                    t.span,
                    format!(
                        "break-glass `{}` lives {ttl}, longer than the maximum of {max}",
                        t.name
                    ),
                    format!("ttl {ttl}"),
                )
                .with_help(format!(
                    "shorten the ttl to {max} or less, or raise `max_breakglass_ttl` in `jitp.toml`"
                )),
                subject: t.span,
                key: Key::task(&t.name).part("ttl"),
            });
        }
        let none = Formula::no_approvals();
        for r in cx
            .program
            .rules
            .iter()
            .filter(|r| is_permit(r) && r.task == Some(task))
        {
            // Does the permit allow some request that carries no approval?
            let zero = Formula::allow(cx.program, r).and(&none);
            let label = match exact_example(&zero) {
                Some(w) => format!("allows with no approval, e.g. {w}"),
                // Cannot tell: then only a permit whose conditions never
                // look at approvals (and that can allow at all) is reported.
                None if reads_any_approvals(r) || classify(&zero) == Verdict::Never => continue,
                None => "no condition on `task.approvals`".to_string(),
            };
            out.push(Draft {
                diagnostic: draft(
                    &Self::INFO,
                    r.head,
                    format!(
                        "{} in break-glass `{}` requires no approval",
                        cx.rule_name(r),
                        t.name
                    ),
                    label,
                )
                .with_label(t.span, "break-glass declared here")
                .with_help("add `require task.approvals >= 1 else \"peer approval\"`"),
                subject: r.span,
                key: Key::rule(&r.id),
            });
        }
    }
}

/// Whether any condition of `r` reads the task's approvals.
fn reads_any_approvals(r: &crate::check::hir::Rule) -> bool {
    r.when.iter().chain(r.unless.iter()).any(reads_approvals)
        || r.requires.iter().any(|q| reads_approvals(&q.cond))
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
