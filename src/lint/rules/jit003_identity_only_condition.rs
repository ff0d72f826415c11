use super::is_permit;
use crate::check::hir::{Expr, ExprKind, Program, Rule, RuleId, Var};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};

finding!(
    IdentityOnlyCondition,
    JIT003,
    "identity-only-condition",
    Error,
    "a permit whose conditions read no live signal",
    r#"# JIT003 identity-only-condition (error)

## What it catches
A `permit` whose `when`, `unless` and `require` clauses read only static
identity attributes (fields of `principal` and `resource`, constants),
never a live signal: `context`, `now`, `task` or `evidence`. A permit
outside any task that carries an accepted `@standing` reason is left to
JIT001.

## Why it matters
"For as long as you are on team X" is standing privilege: nothing about
the moment of the request (an approved ticket, a change window, fresh
evidence, an approval) has to be true. Inside a task it still means that
anyone who can start the task gets the grant with nothing else checked.

## Example
```jitp
task deploy {
  ttl 1h
  permit ServiceAccount to app.deploy on App
    when principal.team == resource.owner
}
```

## How to fix
Tie the grant to something live: an approved ticket or change window in
the context, an approval on the task, fresh evidence.

```jitp
    when principal.team == resource.owner
     and context.change?.status == ChangeStatus.approved
    require task.approvals >= 1 else "approval"
```
"#
);

impl Lint for IdentityOnlyCondition {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_rule(&self, cx: &Context<'_>, _: RuleId, r: &Rule, out: &mut Vec<Draft>) {
        if !is_permit(r) || (r.task.is_none() && r.standing_reason.is_some()) {
            return;
        }
        let p = cx.program;
        let mut depth = 0;
        let live = r
            .when
            .as_ref()
            .is_some_and(|e| reads_live(p, e, &mut depth))
            || r.unless
                .as_ref()
                .is_some_and(|e| reads_live(p, e, &mut depth))
            || r.requires
                .iter()
                .any(|q| reads_live(p, &q.cond, &mut depth));
        if live {
            return;
        }
        let label = if r.when.is_none() && r.unless.is_none() && r.requires.is_empty() {
            "no conditions at all"
        } else {
            "conditions read only identity attributes"
        };
        out.push(Draft {
            diagnostic: draft(
                &Self::INFO,
                r.head,
                format!("{} depends on no live signal", cx.rule_name(r)),
                label,
            )
            .with_help("require something of the moment: a `context` field (ticket, change window), `now`, `task.approvals` or `evidence`"),
            subject: r.span,
            key: Key::rule(&r.id),
        });
    }
}

/// Whether `e` reads `context`, `now`, `task` or `evidence`, looking
/// through constants and function bodies.
fn reads_live(p: &Program, e: &Expr, depth: &mut usize) -> bool {
    if *depth > 64 {
        // Function bodies nest only as deep as the (acyclic) call graph;
        // past this, say "live" so nothing is reported.
        return true;
    }
    let any = |xs: &[&Expr], depth: &mut usize| xs.iter().any(|x| reads_live(p, x, depth));
    match &e.kind {
        ExprKind::Var(Var::Context | Var::Now | Var::Task | Var::Evidence | Var::TaskParams(_))
        | ExprKind::TaskField(_) => true,
        ExprKind::Var(_) | ExprKind::Lit(_) | ExprKind::Error => false,
        ExprKind::Const(c) => p.consts.get(c.index()).is_some_and(|d| {
            *depth += 1;
            let r = reads_live(p, &d.value, depth);
            *depth -= 1;
            r
        }),
        ExprKind::Call(f, args) => {
            if args.iter().any(|a| reads_live(p, a, depth)) {
                return true;
            }
            p.fns.get(f.index()).is_some_and(|d| {
                *depth += 1;
                let r = reads_live(p, &d.body, depth);
                *depth -= 1;
                r
            })
        }
        ExprKind::Set(items) => items.iter().any(|x| reads_live(p, x, depth)),
        ExprKind::Field { base, .. } => reads_live(p, base, depth),
        ExprKind::Method { recv, args, .. } => {
            reads_live(p, recv, depth) || args.iter().any(|a| reads_live(p, a, depth))
        }
        ExprKind::Not(x) | ExprKind::Neg(x) | ExprKind::Has(x) | ExprKind::Like(x, _) => {
            reads_live(p, x, depth)
        }
        ExprKind::And(a, b)
        | ExprKind::Or(a, b)
        | ExprKind::Cmp(_, a, b)
        | ExprKind::Arith(_, a, b)
        | ExprKind::In(a, b)
        | ExprKind::Default(a, b) => any(&[a, b], depth),
    }
}
