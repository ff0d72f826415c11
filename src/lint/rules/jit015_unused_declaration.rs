use crate::check::hir::{
    ActionId, ConstId, EntityId, EnumId, Expr, ExprKind, FnId, Literal, Program, RecordId, Type,
};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use crate::span::Span;
use std::collections::HashSet;

finding!(
    UnusedDeclaration,
    JIT015,
    "unused-declaration",
    Note,
    "a type, action, constant or function that nothing uses",
    r#"# JIT015 unused-declaration (note)

## What it catches
An entity, record or enum type, an action, a constant or a function that
is declared in the policy set and used nowhere: by no rule, field,
parameter, action, constant or function. An action counts as used when
a rule names it, or a permit's `*` or `ns.*` covers it (a guard on `*`
does not count). Declarations of the standard
library are not reported.

## Why it matters
Unused declarations are noise in review and often a sign of a rule that
was meant to exist (an action nobody grants) or was deleted half-way.

## Example
```jitp
action reports.export on Report sensitivity high   // granted by no rule
```

## How to fix
Delete the declaration, or write the rule that was meant to use it.
"#
);

#[derive(Default)]
struct Used {
    entities: HashSet<EntityId>,
    records: HashSet<RecordId>,
    enums: HashSet<EnumId>,
    consts: HashSet<ConstId>,
    fns: HashSet<FnId>,
}

impl Used {
    fn ty(&mut self, t: &Type) {
        match t {
            Type::Set(x) | Type::Optional(x) => self.ty(x),
            Type::Record(r) => {
                self.records.insert(*r);
            }
            Type::Enum(e) => {
                self.enums.insert(*e);
            }
            Type::Entity(es) => self.entities.extend(es.iter().copied()),
            _ => {}
        }
    }

    fn expr(&mut self, e: &Expr) {
        self.ty(&e.ty);
        match &e.kind {
            ExprKind::Lit(Literal::Enum(id, _)) => {
                self.enums.insert(*id);
            }
            ExprKind::Const(c) => {
                self.consts.insert(*c);
            }
            ExprKind::Call(f, args) => {
                self.fns.insert(*f);
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Set(xs) => xs.iter().for_each(|a| self.expr(a)),
            ExprKind::Field { base, .. } => self.expr(base),
            ExprKind::Method { recv, args, .. } => {
                self.expr(recv);
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Not(x) | ExprKind::Neg(x) | ExprKind::Has(x) | ExprKind::Like(x, _) => {
                self.expr(x)
            }
            ExprKind::And(a, b)
            | ExprKind::Or(a, b)
            | ExprKind::Cmp(_, a, b)
            | ExprKind::Arith(_, a, b)
            | ExprKind::In(a, b)
            | ExprKind::Default(a, b) => {
                self.expr(a);
                self.expr(b);
            }
            _ => {}
        }
    }
}

fn usage(p: &Program) -> (Used, HashSet<ActionId>) {
    let mut u = Used::default();
    u.records.insert(p.context);
    u.records.insert(p.evidence);
    for d in &p.entities {
        d.fields.iter().for_each(|f| u.ty(&f.ty));
    }
    for d in &p.records {
        d.fields.iter().for_each(|f| u.ty(&f.ty));
    }
    for a in &p.actions {
        u.entities.extend(a.on.iter().copied());
    }
    for c in &p.consts {
        u.ty(&c.ty);
        u.expr(&c.value);
    }
    for f in &p.fns {
        f.params.iter().for_each(|(_, t)| u.ty(t));
        u.ty(&f.ret);
        u.expr(&f.body);
    }
    let mut actions = HashSet::new();
    for r in &p.rules {
        for list in [&r.principal, &r.resource].into_iter().flatten() {
            u.entities.extend(list.iter().copied());
        }
        // A guard on `*` protects actions; it does not use them.
        if r.effect == crate::syntax::ast::Effect::Permit || !r.wildcard_action {
            actions.extend(super::actions_of(p, r));
        }
        for e in [&r.when, &r.unless].into_iter().flatten() {
            u.expr(e);
        }
        r.requires.iter().for_each(|q| u.expr(&q.cond));
    }
    (u, actions)
}

impl Lint for UnusedDeclaration {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_program(&self, cx: &Context<'_>, out: &mut Vec<Draft>) {
        let p = cx.program;
        let (u, actions) = usage(p);
        let mut report = |kind: &str, name: &str, span: Span, used: bool| {
            if used || !cx.is_user(span) {
                return;
            }
            out.push(Draft {
                diagnostic: draft(
                    &Self::INFO,
                    span,
                    format!("{kind} `{name}` is never used"),
                    "declared here, used nowhere",
                )
                .with_help("delete it, or write the rule that was meant to use it"),
                subject: span,
                key: Key::declaration(kind, name),
            });
        };
        for (i, d) in p.entities.iter().enumerate() {
            report(
                "entity",
                &d.name,
                d.span,
                u.entities.contains(&EntityId(i as u32)),
            );
        }
        for (i, d) in p.records.iter().enumerate() {
            report(
                "record",
                &d.name,
                d.span,
                u.records.contains(&RecordId(i as u32)),
            );
        }
        for (i, d) in p.enums.iter().enumerate() {
            report("enum", &d.name, d.span, u.enums.contains(&EnumId(i as u32)));
        }
        for (i, d) in p.actions.iter().enumerate() {
            report(
                "action",
                &d.name,
                d.span,
                actions.contains(&ActionId(i as u32)),
            );
        }
        for (i, d) in p.consts.iter().enumerate() {
            report(
                "constant",
                &d.name,
                d.span,
                u.consts.contains(&ConstId(i as u32)),
            );
        }
        for (i, d) in p.fns.iter().enumerate() {
            report("function", &d.name, d.span, u.fns.contains(&FnId(i as u32)));
        }
    }
}
