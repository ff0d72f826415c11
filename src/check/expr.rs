//! Type checking of expressions.

use super::hir::*;
use super::{error_expr, Checker, Decl};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{Node, Span};
use crate::syntax::ast::{self, BinOp, UnOp};
use jitp_runtime::value::Time;

/// What an expression may see.
pub(super) struct Cx {
    /// The module whose names are in scope.
    pub module: usize,
    kind: CxKind,
}

enum CxKind {
    /// A constant: literals, constants and functions only.
    Const,
    /// A function body: its parameters too.
    Function(Vec<(String, Type)>),
    /// A rule condition: the request names.
    Rule {
        principal: Type,
        resource: Type,
        in_task: bool,
        /// The task the rule belongs to.
        task: Option<TaskId>,
    },
}

impl Cx {
    pub fn constant(module: usize) -> Cx {
        Cx {
            module,
            kind: CxKind::Const,
        }
    }
    pub fn function(module: usize, params: Vec<(String, Type)>) -> Cx {
        Cx {
            module,
            kind: CxKind::Function(params),
        }
    }
    pub fn rule(principal: Type, resource: Type, task: Option<TaskId>) -> Cx {
        Cx {
            module: 0,
            kind: CxKind::Rule {
                principal,
                resource,
                in_task: task.is_some(),
                task,
            },
        }
    }
}

fn mk(kind: ExprKind, ty: Type, span: Span) -> Expr {
    Expr { kind, ty, span }
}

const VAR_NAMES: [&str; 7] = [
    "principal",
    "resource",
    "action",
    "context",
    "now",
    "task",
    "evidence",
];

/// What a dotted path names when it is not a value.
enum PathTarget {
    Module(usize),
    Decl(Decl),
}

impl Checker<'_> {
    /// Reports a mismatch unless `e`'s type fits `want`.
    pub(super) fn expect_type(&mut self, e: &Expr, want: &Type, what: &str) {
        if e.ty.fits(want) {
            return;
        }
        let got = self.program.type_name(&e.ty);
        let wanted = self.program.type_name(want);
        if let Type::Optional(inner) = &e.ty {
            if inner.fits(want) {
                self.error(optional_as_value(e.span, &got, &wanted));
                return;
            }
        }
        self.error(
            Diagnostic::error(
                Code::E0301,
                e.span,
                format!("expected `{wanted}`, found `{got}`"),
                format!("this is `{got}`"),
            )
            .with_note(format!("`{wanted}` is {what}")),
        );
    }

    /// Checks a condition: it must be a present `Bool`.
    pub(super) fn check_condition(&mut self, cx: &mut Cx, e: &Node<ast::Expr>) -> Expr {
        let c = self.check_expr(cx, e);
        match &c.ty {
            Type::Bool | Type::Error => {}
            Type::Optional(inner) if **inner == Type::Bool => {
                self.error(
                    Diagnostic::error(
                        Code::E0302,
                        c.span,
                        "condition may be absent",
                        "this is `Bool?`",
                    )
                    .with_help("an absent value is neither true nor false: write `(...) ?? false` or compare with `== true`"),
                );
            }
            other => {
                let got = self.program.type_name(other);
                self.error(Diagnostic::error(
                    Code::E0301,
                    c.span,
                    format!("a condition must be `Bool`, found `{got}`"),
                    format!("this is `{got}`"),
                ));
            }
        }
        c
    }

    /// What a name or `module.name` path denotes, if it is not a value name.
    fn path_target(&self, cx: &Cx, e: &Node<ast::Expr>) -> Option<PathTarget> {
        match &e.node {
            ast::Expr::Name(n) => {
                if self.is_value_name(cx, &n.node) {
                    return None;
                }
                if let Some((d, _)) = self.modules[cx.module].names.get(&n.node) {
                    return Some(PathTarget::Decl(*d));
                }
                self.modules[cx.module]
                    .aliases
                    .get(&n.node)
                    .map(|(m, _)| PathTarget::Module(*m))
            }
            ast::Expr::Field {
                base,
                name,
                optional: false,
            } => match self.path_target(cx, base)? {
                PathTarget::Module(m) => self.modules[m]
                    .names
                    .get(&name.node)
                    .map(|(d, _)| PathTarget::Decl(*d)),
                PathTarget::Decl(_) => None,
            },
            _ => None,
        }
    }

    fn is_value_name(&self, cx: &Cx, name: &str) -> bool {
        match &cx.kind {
            CxKind::Rule { .. } => VAR_NAMES.contains(&name),
            CxKind::Function(params) => params.iter().any(|(p, _)| p == name),
            CxKind::Const => false,
        }
    }

    /// Type-checks an expression.
    pub(super) fn check_expr(&mut self, cx: &mut Cx, e: &Node<ast::Expr>) -> Expr {
        use ast::Expr as E;
        let span = e.span;
        match &e.node {
            E::Bool(b) => mk(ExprKind::Lit(Literal::Bool(*b)), Type::Bool, span),
            E::Int(i) => mk(ExprKind::Lit(Literal::Int(*i)), Type::Int, span),
            E::Str(s) => mk(ExprKind::Lit(Literal::Str(s.clone())), Type::String, span),
            E::Duration(d) => mk(ExprKind::Lit(Literal::Duration(*d)), Type::Duration, span),
            E::Decimal(d) => mk(ExprKind::Lit(Literal::Decimal(*d)), Type::Decimal, span),
            E::Ip(ip) => mk(ExprKind::Lit(Literal::Ip(*ip)), Type::Ip, span),
            E::Net(n) => mk(ExprKind::Lit(Literal::Net(*n)), Type::Net, span),
            E::Error => error_expr(span),
            E::Set(items) => self.check_set(cx, items, span),
            E::Name(n) => self.check_name(cx, n, span),
            E::Field {
                base,
                name,
                optional,
            } => self.check_field(cx, base, name, *optional, span),
            E::Call { callee, args } => self.check_call(cx, callee, args, span),
            E::Unary(UnOp::Not, x) => {
                let x = self.check_condition(cx, x);
                mk(ExprKind::Not(Box::new(x)), Type::Bool, span)
            }
            E::Unary(UnOp::Neg, x) => {
                let x = self.check_expr(cx, x);
                let ty = match &x.ty {
                    Type::Int | Type::Duration | Type::Decimal | Type::Error => x.ty.clone(),
                    Type::Optional(_) => {
                        let got = self.program.type_name(&x.ty);
                        self.error(optional_as_value(x.span, &got, "a number"));
                        Type::Error
                    }
                    other => {
                        let got = self.program.type_name(other);
                        self.error(Diagnostic::error(
                            Code::E0303,
                            x.span,
                            format!("cannot negate `{got}`"),
                            "expected `Int`, `Duration` or `Decimal`",
                        ));
                        Type::Error
                    }
                };
                mk(ExprKind::Neg(Box::new(x)), ty, span)
            }
            E::Binary(op, a, b) => self.check_binary(cx, *op, a, b, span),
            E::Has(x) => self.check_has(cx, x, span),
            E::Like(x, pat) => {
                let x = self.check_expr(cx, x);
                match x.ty.unwrap_optional() {
                    Type::String | Type::Error => {}
                    other => {
                        let got = self.program.type_name(other);
                        self.error(Diagnostic::error(
                            Code::E0303,
                            x.span,
                            format!("`like` matches strings, found `{got}`"),
                            format!("this is `{got}`"),
                        ));
                    }
                }
                mk(
                    ExprKind::Like(Box::new(x), Pattern::parse(&pat.node)),
                    Type::Bool,
                    span,
                )
            }
        }
    }

    fn check_set(&mut self, cx: &mut Cx, items: &[Node<ast::Expr>], span: Span) -> Expr {
        let mut elem = Type::Never;
        let mut first_span = span;
        let mut out = Vec::new();
        // An element with an error makes the whole set an error, so the
        // sets around it do not report it again.
        let mut poisoned = false;
        for item in items {
            let x = self.check_expr(cx, item);
            match (&x.ty, &elem) {
                (Type::Error, _) => poisoned = true,
                (Type::Optional(_), _) => {
                    let got = self.program.type_name(&x.ty);
                    self.error(
                        Diagnostic::error(
                            Code::E0302,
                            x.span,
                            "set elements cannot be absent",
                            format!("this is `{got}`"),
                        )
                        .with_help("give a default with `??`"),
                    );
                }
                (Type::Set(_) | Type::Record(_) | Type::Entity(_) | Type::Task, _) => {
                    let got = self.program.type_name(&x.ty);
                    self.error(Diagnostic::error(
                        Code::E0306,
                        x.span,
                        format!("a set cannot hold `{got}` values"),
                        "unsupported element",
                    ));
                    poisoned = true;
                }
                (t, Type::Never) => {
                    elem = t.clone();
                    first_span = x.span;
                }
                (t, want) if !t.fits(want) => {
                    let got = self.program.type_name(t);
                    let wanted = self.program.type_name(want);
                    self.error(
                        Diagnostic::error(
                            Code::E0301,
                            x.span,
                            format!("set elements must all have one type: expected `{wanted}`, found `{got}`"),
                            format!("this is `{got}`"),
                        )
                        .with_label(first_span, format!("the first element is `{wanted}`")),
                    );
                }
                _ => {}
            }
            out.push(x);
        }
        if poisoned {
            return error_expr(span);
        }
        mk(ExprKind::Set(out), Type::Set(Box::new(elem)), span)
    }

    fn check_name(&mut self, cx: &mut Cx, n: &Node<String>, span: Span) -> Expr {
        let name = n.node.as_str();
        match &cx.kind {
            CxKind::Rule {
                principal,
                resource,
                in_task,
                ..
            } => {
                let var = match name {
                    "principal" => Some((Var::Principal, principal.clone())),
                    "resource" => Some((Var::Resource, resource.clone())),
                    "action" => Some((Var::Action, Type::String)),
                    "context" => Some((Var::Context, Type::Record(self.program.context))),
                    "now" => Some((Var::Now, Type::Time)),
                    "evidence" => Some((Var::Evidence, Type::Record(self.program.evidence))),
                    "task" if *in_task => Some((Var::Task, Type::Task)),
                    "task" => {
                        self.error(
                            Diagnostic::error(
                                Code::E0210,
                                span,
                                "`task` is not in scope here",
                                "this rule is not inside a task",
                            )
                            .with_help("`task` is available in rules inside `task` and `breakglass` blocks"),
                        );
                        return error_expr(span);
                    }
                    _ => None,
                };
                if let Some((v, ty)) = var {
                    return mk(ExprKind::Var(v), ty, span);
                }
            }
            CxKind::Function(params) => {
                if let Some(i) = params.iter().position(|(p, _)| p == name) {
                    let ty = params[i].1.clone();
                    return mk(ExprKind::Var(Var::Param(i as u32)), ty, span);
                }
            }
            CxKind::Const => {}
        }
        if VAR_NAMES.contains(&name) {
            let (what, help) = match cx.kind {
                CxKind::Function(_) => (
                    "functions see only their parameters",
                    format!("pass `{name}` (or the part you need) as a parameter"),
                ),
                _ => (
                    "constants are evaluated when the policy is compiled",
                    "use a function, or write the expression in the rule".to_string(),
                ),
            };
            self.error(
                Diagnostic::error(
                    Code::E0210,
                    span,
                    format!("`{name}` is not in scope here"),
                    what,
                )
                .with_help(help),
            );
            return error_expr(span);
        }
        match self.modules[cx.module].names.get(name).map(|(d, _)| *d) {
            Some(Decl::Const(c)) => {
                let ty = self.program.consts[c.index()].ty.clone();
                return mk(ExprKind::Const(c), ty, span);
            }
            Some(d) => {
                let help = match d {
                    Decl::Fn(_) => Some(format!("call it: `{name}(...)`")),
                    Decl::Enum(_) => Some(format!("name a variant: `{name}.variant`")),
                    _ => None,
                };
                self.error(
                    Diagnostic::error(
                        Code::E0202,
                        span,
                        format!("`{name}` is {}, not a value", d.describe()),
                        "not a value",
                    )
                    .with_help_opt(help),
                );
                return error_expr(span);
            }
            None => {}
        }
        if self.modules[cx.module].aliases.contains_key(name) {
            self.error(Diagnostic::error(
                Code::E0202,
                span,
                format!("`{name}` is a module, not a value"),
                "not a value",
            ));
            return error_expr(span);
        }
        if name == "null" {
            self.error(
                Diagnostic::error(
                    Code::E0202,
                    span,
                    "jitp has no `null`",
                    "not a value",
                )
                .with_help("an optional field is absent or present: test it with `has` (`has context.ticket`), or give a default with `??` (`context.risk ?? 100`)"),
            );
            return error_expr(span);
        }
        if ["time", "net", "nhi"].contains(&name) {
            let d = self.unknown_module(cx.module, name, span);
            self.error(d);
            return error_expr(span);
        }
        let mut candidates: Vec<String> = Vec::new();
        if self.suggestions.spent() {
            // No suggestion can be made: do not gather the candidates.
        } else if let CxKind::Rule { in_task, .. } = cx.kind {
            candidates.extend(
                VAR_NAMES
                    .iter()
                    .filter(|v| in_task || **v != "task")
                    .map(|s| s.to_string()),
            );
        }
        if let CxKind::Function(params) = &cx.kind {
            candidates.extend(params.iter().map(|(p, _)| p.clone()));
        }
        if !self.suggestions.spent() {
            for (n, (d, _)) in &self.modules[cx.module].names {
                if matches!(d, Decl::Const(_)) {
                    candidates.push(n.clone());
                }
            }
        }
        candidates.sort();
        let d = Diagnostic::error(
            Code::E0202,
            span,
            format!("unknown name `{name}`"),
            "not declared",
        )
        .with_help_opt(
            self.suggestions
                .did_you_mean(name, candidates.iter().map(String::as_str)),
        );
        self.error(d);
        error_expr(span)
    }

    fn check_field(
        &mut self,
        cx: &mut Cx,
        base: &Node<ast::Expr>,
        name: &Node<String>,
        optional: bool,
        span: Span,
    ) -> Expr {
        match self.path_target(cx, base) {
            Some(PathTarget::Decl(Decl::Enum(id))) => {
                let def = &self.program.enums[id.index()];
                if let Some(v) = def.variants.iter().position(|v| *v == name.node) {
                    return mk(
                        ExprKind::Lit(Literal::Enum(id, v as u32)),
                        Type::Enum(id),
                        span,
                    );
                }
                let d = Diagnostic::error(
                    Code::E0205,
                    name.span,
                    format!("enum `{}` has no variant `{}`", def.name, name.node),
                    "unknown variant",
                )
                .with_label(def.span, format!("`{}` is declared here", def.name))
                .with_help_opt(
                    self.suggestions
                        .did_you_mean(&name.node, def.variants.iter().map(String::as_str)),
                )
                .with_note(format!("variants: {}", def.variants.join(", ")));
                self.error(d);
                return error_expr(span);
            }
            Some(PathTarget::Module(m)) => {
                let names = &self.modules[m].names;
                return match names.get(&name.node).map(|(d, _)| *d) {
                    Some(Decl::Const(c)) => {
                        let ty = self.program.consts[c.index()].ty.clone();
                        mk(ExprKind::Const(c), ty, span)
                    }
                    Some(d) => {
                        self.error(Diagnostic::error(
                            Code::E0202,
                            span,
                            format!("`{}` is {}, not a value", name.node, d.describe()),
                            "not a value",
                        ));
                        error_expr(span)
                    }
                    None => {
                        let mut cands: Vec<&str> = if self.suggestions.spent() {
                            Vec::new()
                        } else {
                            names.keys().map(String::as_str).collect()
                        };
                        cands.sort_unstable();
                        let path = self.modules[m].path.clone();
                        let d = Diagnostic::error(
                            Code::E0202,
                            name.span,
                            format!("module `{path}` has no `{}`", name.node),
                            "not declared in the module",
                        )
                        .with_help_opt(self.suggestions.did_you_mean(&name.node, cands));
                        self.error(d);
                        error_expr(span)
                    }
                };
            }
            Some(PathTarget::Decl(d)) => {
                self.error(Diagnostic::error(
                    Code::E0202,
                    base.span,
                    format!("{} has no members", d.describe()),
                    "not a value",
                ));
                return error_expr(span);
            }
            None => {}
        }
        if let ast::Expr::Name(n) = &base.node {
            let known = self.is_value_name(cx, &n.node)
                || self.modules[cx.module].names.contains_key(&n.node)
                || VAR_NAMES.contains(&n.node.as_str());
            if !known && ["time", "net", "nhi"].contains(&n.node.as_str()) {
                let d = self.unknown_module(cx.module, &n.node, n.span);
                self.error(d);
                return error_expr(span);
            }
        }
        if let (ast::Expr::Name(n), "params", CxKind::Rule { task: Some(t), .. }) =
            (&base.node, name.node.as_str(), &cx.kind)
        {
            if n.node == "task" {
                let t = *t;
                let def = &self.program.tasks[t.index()];
                return match def.params {
                    Some(rec) => mk(ExprKind::Var(Var::TaskParams(t)), Type::Record(rec), span),
                    None => {
                        let tname = def.name.clone();
                        let tspan = def.span;
                        self.error(
                            Diagnostic::error(
                                Code::E0204,
                                name.span,
                                format!("task `{tname}` declares no parameters"),
                                "no `params` block",
                            )
                            .with_label(tspan, format!("`{tname}` is declared here"))
                            .with_help("declare them in the task: `params { ticket: String }`"),
                        );
                        error_expr(span)
                    }
                };
            }
        }
        let b = self.check_expr(cx, base);
        let (inner, absent) = match &b.ty {
            Type::Optional(t) => ((**t).clone(), true),
            t => (t.clone(), false),
        };
        if absent && !optional {
            let got = self.program.type_name(&b.ty);
            self.error(
                Diagnostic::error(
                    Code::E0302,
                    name.span.to(b.span),
                    format!("`{got}` may be absent"),
                    "reading a field of an optional value",
                )
                .with_help(format!(
                    "use optional chaining: `{}?.{}`",
                    self.sources.snippet(b.span),
                    name.node
                )),
            );
            return error_expr(span);
        }
        let field_ty = match self.field_type(&inner, name) {
            Some(t) => t,
            None => return error_expr(span),
        };
        if let Type::Task = inner {
            let field = TaskField::ALL
                .iter()
                .find(|(_, n)| *n == name.node)
                .map(|(f, _)| *f)
                .unwrap_or(TaskField::Name);
            return mk(ExprKind::TaskField(field), field_ty, span);
        }
        let ty = if absent || optional && b.ty.is_optional() {
            field_ty.optional()
        } else {
            field_ty
        };
        mk(
            ExprKind::Field {
                base: Box::new(b),
                name: name.node.clone(),
                optional: absent,
            },
            ty,
            span,
        )
    }

    /// The type of field `name` of a value of type `ty`, reporting unknown fields.
    fn field_type(&mut self, ty: &Type, name: &Node<String>) -> Option<Type> {
        let n = name.node.as_str();
        let (fields, owner, decl_span): (Vec<(String, Type)>, String, Option<Span>) = match ty {
            Type::Error => return None,
            Type::Record(r) => {
                let def = &self.program.records[r.index()];
                (
                    def.fields
                        .iter()
                        .map(|f| (f.name.clone(), f.ty.clone()))
                        .collect(),
                    def.name.clone(),
                    Some(def.span),
                )
            }
            Type::Entity(ids) => {
                // Fields every listed entity type has, with the same type.
                let mut common: Vec<(String, Type)> = vec![("id".into(), Type::String)];
                if let Some(first) = ids.first() {
                    common = self.program.entities[first.index()]
                        .fields
                        .iter()
                        .map(|f| (f.name.clone(), f.ty.clone()))
                        .collect();
                    for other in &ids[1..] {
                        let of = &self.program.entities[other.index()].fields;
                        common.retain(|(n, t)| of.iter().any(|f| f.name == *n && f.ty == *t));
                    }
                }
                if let [one] = ids.as_slice() {
                    let def = &self.program.entities[one.index()];
                    (common, def.name.clone(), Some(def.span))
                } else {
                    let present: Vec<&str> = ids
                        .iter()
                        .filter(|i| {
                            self.program.entities[i.index()]
                                .fields
                                .iter()
                                .any(|f| f.name == n)
                        })
                        .map(|i| self.program.entities[i.index()].name.as_str())
                        .collect();
                    if !common.iter().any(|(f, _)| f == n) && !present.is_empty() {
                        let all = self.program.type_name(ty);
                        let lacking: Vec<String> = ids
                            .iter()
                            .map(|i| &self.program.entities[i.index()])
                            .filter(|e| !e.fields.iter().any(|f| f.name == n))
                            .map(|e| format!("`{}`", e.name))
                            .collect();
                        let note = if lacking.is_empty() {
                            format!(
                                "every type has `{n}`, but not with one type: {}",
                                ids.iter()
                                    .filter_map(|i| {
                                        let e = &self.program.entities[i.index()];
                                        let f = e.fields.iter().find(|f| f.name == n)?;
                                        Some(format!(
                                            "`{}` in `{}`",
                                            self.program.type_name(&f.ty),
                                            e.name
                                        ))
                                    })
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        } else {
                            format!(
                                "{} {} no field `{n}`",
                                lacking.join(", "),
                                if lacking.len() == 1 { "has" } else { "have" }
                            )
                        };
                        self.error(
                            Diagnostic::error(
                                Code::E0204,
                                name.span,
                                format!("not every type in `{all}` has a field `{n}`"),
                                "field missing from some of the possible types",
                            )
                            .with_note(note)
                            .with_help("read only fields every listed type declares with the same type, or split the rule"),
                        );
                        return None;
                    }
                    (common, self.program.type_name(ty), None)
                }
            }
            Type::Task => (
                TaskField::ALL
                    .iter()
                    .map(|(f, n)| (n.to_string(), f.ty()))
                    .collect(),
                "task".into(),
                None,
            ),
            other => {
                let got = self.program.type_name(other);
                self.error(Diagnostic::error(
                    Code::E0204,
                    name.span,
                    format!("`{got}` has no field `{n}`"),
                    format!("`{got}` has no fields"),
                ));
                return None;
            }
        };
        if let Some((_, t)) = fields.iter().find(|(f, _)| f == n) {
            return Some(t.clone());
        }
        let mut d = Diagnostic::error(
            Code::E0204,
            name.span,
            format!("`{owner}` has no field `{n}`"),
            "unknown field",
        )
        .with_help_opt(
            self.suggestions
                .did_you_mean(n, fields.iter().map(|(f, _)| f.as_str())),
        );
        if let Some(s) = decl_span.filter(|s| *s != Span::default()) {
            d = d.with_label(s, format!("`{owner}` is declared here"));
        }
        if d.help.is_none() && !fields.is_empty() {
            let list: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
            d = d.with_note(format!("fields: {}", list.join(", ")));
        }
        self.error(d);
        None
    }

    fn check_call(
        &mut self,
        cx: &mut Cx,
        callee: &Node<ast::Expr>,
        args: &[Node<ast::Expr>],
        span: Span,
    ) -> Expr {
        // time("...") literal, unless a function named `time` exists.
        if let ast::Expr::Name(n) = &callee.node {
            if n.node == "time" && !self.modules[cx.module].names.contains_key("time") {
                return self.check_time_literal(args, span);
            }
            if n.node == "decimal" && !self.modules[cx.module].names.contains_key("decimal") {
                return self.check_decimal_call(cx, callee, args, span);
            }
        }
        match self.path_target(cx, callee) {
            Some(PathTarget::Decl(Decl::Fn(f))) => {
                return self.check_fn_call(cx, f, callee, args, span)
            }
            Some(PathTarget::Decl(d)) => {
                self.error(Diagnostic::error(
                    Code::E0202,
                    callee.span,
                    format!(
                        "`{}` is {}, not a function",
                        self.sources.snippet(callee.span),
                        d.describe()
                    ),
                    "cannot be called",
                ));
                return error_expr(span);
            }
            Some(PathTarget::Module(_)) => {
                self.error(Diagnostic::error(
                    Code::E0202,
                    callee.span,
                    "a module cannot be called",
                    "not a function",
                ));
                return error_expr(span);
            }
            None => {}
        }
        match &callee.node {
            ast::Expr::Field { base, name, .. }
                if matches!(self.path_target(cx, base), Some(PathTarget::Module(_))) =>
            {
                let Some(PathTarget::Module(m)) = self.path_target(cx, base) else {
                    return error_expr(span);
                };
                let mut cands: Vec<&str> = self.modules[m]
                    .names
                    .iter()
                    .filter(|_| !self.suggestions.spent())
                    .filter(|(_, (d, _))| matches!(d, Decl::Fn(_)))
                    .map(|(n, _)| n.as_str())
                    .collect();
                cands.sort_unstable();
                let path = self.modules[m].path.clone();
                let d = Diagnostic::error(
                    Code::E0202,
                    name.span,
                    format!("module `{path}` has no function `{}`", name.node),
                    "not declared in the module",
                )
                .with_help_opt(self.suggestions.did_you_mean(&name.node, cands));
                self.error(d);
                for a in args {
                    self.check_expr(cx, a);
                }
                error_expr(span)
            }
            ast::Expr::Field {
                base,
                name,
                optional,
            } => self.check_method(cx, base, name, *optional, args, span),
            ast::Expr::Name(n) => {
                // Unknown function: suggest functions in scope.
                let mut cands: Vec<&str> = self.modules[cx.module]
                    .names
                    .iter()
                    .filter(|_| !self.suggestions.spent())
                    .filter(|(_, (d, _))| matches!(d, Decl::Fn(_)))
                    .map(|(n, _)| n.as_str())
                    .collect();
                cands.sort_unstable();
                let d = Diagnostic::error(
                    Code::E0202,
                    n.span,
                    format!("unknown function `{}`", n.node),
                    "not declared",
                )
                .with_help_opt(self.suggestions.did_you_mean(&n.node, cands));
                self.error(d);
                for a in args {
                    self.check_expr(cx, a);
                }
                error_expr(span)
            }
            _ => {
                self.error(Diagnostic::error(
                    Code::E0202,
                    callee.span,
                    "this expression cannot be called",
                    "not a function",
                ));
                error_expr(span)
            }
        }
    }

    fn check_time_literal(&mut self, args: &[Node<ast::Expr>], span: Span) -> Expr {
        match args {
            [Node {
                node: ast::Expr::Str(s),
                span: sspan,
            }] => match Time::parse(s) {
                Ok(t) => mk(ExprKind::Lit(Literal::Time(t)), Type::Time, span),
                Err(msg) => {
                    self.error(
                        Diagnostic::error(Code::E0307, *sspan, msg, "invalid time")
                            .with_help("write an RFC 3339 time such as `2026-11-22T10:00:00Z`"),
                    );
                    error_expr(span)
                }
            },
            _ => {
                self.error(
                    Diagnostic::error(
                        Code::E0307,
                        span,
                        "`time(...)` takes one string literal",
                        "expected `time(\"2026-11-22T10:00:00Z\")`",
                    )
                    .with_help("times are checked when the policy compiles, so the argument must be a literal"),
                );
                error_expr(span)
            }
        }
    }

    /// `decimal(i)`: the `Decimal` equal to the `Int` `i`, computed as
    /// `i * 1.0` (so out of range is the overflow of a product).
    fn check_decimal_call(
        &mut self,
        cx: &mut Cx,
        callee: &Node<ast::Expr>,
        args: &[Node<ast::Expr>],
        span: Span,
    ) -> Expr {
        let [arg] = args else {
            self.error(Diagnostic::error(
                Code::E0305,
                callee.span.to(span),
                format!("`decimal` takes 1 argument, {} given", args.len()),
                "expected `decimal(an Int)`",
            ));
            for a in args {
                self.check_expr(cx, a);
            }
            return error_expr(span);
        };
        let x = self.check_expr(cx, arg);
        match &x.ty {
            Type::Int => {}
            Type::Error => return error_expr(span),
            Type::Optional(_) => {
                let got = self.program.type_name(&x.ty);
                self.error(optional_as_value(x.span, &got, "an integer"));
                return error_expr(span);
            }
            other => {
                let got = self.program.type_name(other);
                self.error(Diagnostic::error(
                    Code::E0301,
                    x.span,
                    format!("`decimal(...)` converts an `Int`, found `{got}`"),
                    format!("this is `{got}`"),
                ));
                return error_expr(span);
            }
        }
        let one = mk(
            ExprKind::Lit(Literal::Decimal(jitp_runtime::value::Decimal(
                jitp_runtime::value::Decimal::SCALE,
            ))),
            Type::Decimal,
            span,
        );
        mk(
            ExprKind::Arith(ArithOp::Mul, Box::new(x), Box::new(one)),
            Type::Decimal,
            span,
        )
    }

    fn check_fn_call(
        &mut self,
        cx: &mut Cx,
        f: FnId,
        callee: &Node<ast::Expr>,
        args: &[Node<ast::Expr>],
        span: Span,
    ) -> Expr {
        let def = &self.program.fns[f.index()];
        let params = def.params.clone();
        let ret = def.ret.clone();
        let fname = def.name.clone();
        let fspan = def.span;
        if params.len() != args.len() {
            let sig: Vec<String> = params
                .iter()
                .map(|(n, t)| format!("{n}: {}", self.program.type_name(t)))
                .collect();
            self.error(
                Diagnostic::error(
                    Code::E0305,
                    callee.span.to(span),
                    format!(
                        "`{fname}` takes {} argument{}, {} given",
                        params.len(),
                        if params.len() == 1 { "" } else { "s" },
                        args.len()
                    ),
                    "wrong number of arguments",
                )
                .with_label(
                    fspan,
                    format!("`{fname}({})` is declared here", sig.join(", ")),
                ),
            );
            for a in args {
                self.check_expr(cx, a);
            }
            return error_expr(span);
        }
        let mut out = Vec::new();
        for (a, (pname, pty)) in args.iter().zip(&params) {
            let x = self.check_expr(cx, a);
            self.expect_type(
                &x,
                pty,
                &format!("the type of parameter `{pname}` of `{fname}`"),
            );
            out.push(x);
        }
        mk(ExprKind::Call(f, out), ret, span)
    }

    fn check_method(
        &mut self,
        cx: &mut Cx,
        base: &Node<ast::Expr>,
        name: &Node<String>,
        optional: bool,
        args: &[Node<ast::Expr>],
        span: Span,
    ) -> Expr {
        let recv = self.check_expr(cx, base);
        let absent = recv.ty.is_optional();
        if absent && !optional {
            let got = self.program.type_name(&recv.ty);
            self.error(
                Diagnostic::error(
                    Code::E0302,
                    recv.span,
                    format!("`{got}` may be absent"),
                    "calling a method on an optional value",
                )
                .with_help(format!(
                    "use optional chaining: `{}?.{}(...)`",
                    self.sources.snippet(recv.span),
                    name.node
                )),
            );
            return error_expr(span);
        }
        let inner = recv.ty.unwrap_optional().clone();
        let checked: Vec<Expr> = args.iter().map(|a| self.check_expr(cx, a)).collect();
        let (method, params, ret): (Method, Vec<Type>, Type) = match (&inner, name.node.as_str()) {
            (Type::Error, _) => return error_expr(span),
            (Type::String, "starts_with") => (Method::StartsWith, vec![Type::String], Type::Bool),
            (Type::String, "ends_with") => (Method::EndsWith, vec![Type::String], Type::Bool),
            (Type::String, "contains") => (Method::StrContains, vec![Type::String], Type::Bool),
            (Type::Set(t), "contains") => (Method::Contains, vec![(**t).clone()], Type::Bool),
            (Type::Set(t), "contains_any") => {
                (Method::ContainsAny, vec![Type::Set(t.clone())], Type::Bool)
            }
            (Type::Set(t), "contains_all") => {
                (Method::ContainsAll, vec![Type::Set(t.clone())], Type::Bool)
            }
            (Type::Set(_), "is_empty") => (Method::IsEmpty, vec![], Type::Bool),
            (Type::Set(_), "len") => (Method::Len, vec![], Type::Int),
            (t, m) => {
                let got = self.program.type_name(t);
                let methods: &[&str] = match t {
                    Type::String => &["starts_with", "ends_with", "contains"],
                    Type::Set(_) => &[
                        "contains",
                        "contains_any",
                        "contains_all",
                        "is_empty",
                        "len",
                    ],
                    _ => &[],
                };
                let mut d = Diagnostic::error(
                    Code::E0304,
                    name.span,
                    format!("`{got}` has no method `{m}`"),
                    "unknown method",
                )
                .with_help_opt(self.suggestions.did_you_mean(m, methods.iter().copied()));
                if methods.is_empty() {
                    d = d.with_note(format!("`{got}` has no methods; strings and sets do"));
                } else if d.help.is_none() {
                    d = d.with_note(format!("methods of `{got}`: {}", methods.join(", ")));
                }
                self.error(d);
                return error_expr(span);
            }
        };
        if checked.len() != params.len() {
            self.error(Diagnostic::error(
                Code::E0305,
                name.span.to(span),
                format!(
                    "`{}` takes {} argument{}, {} given",
                    method.as_str(),
                    params.len(),
                    if params.len() == 1 { "" } else { "s" },
                    checked.len()
                ),
                "wrong number of arguments",
            ));
            return error_expr(span);
        }
        for (a, want) in checked.iter().zip(&params) {
            // Predicates accept absent arguments (they are then false).
            let ty = if method.is_predicate() {
                a.ty.unwrap_optional().clone()
            } else {
                a.ty.clone()
            };
            let probe = Expr {
                kind: ExprKind::Error,
                ty,
                span: a.span,
            };
            self.expect_type(
                &probe,
                want,
                &format!("the argument type of `{}`", method.as_str()),
            );
        }
        let ty = if absent && !method.is_predicate() {
            ret.optional()
        } else {
            ret
        };
        mk(
            ExprKind::Method {
                method,
                recv: Box::new(recv),
                args: checked,
            },
            ty,
            span,
        )
    }

    fn check_has(&mut self, cx: &mut Cx, x: &Node<ast::Expr>, span: Span) -> Expr {
        let inner = self.check_expr(cx, x);
        match (&inner.kind, &inner.ty) {
            (_, Type::Error) => {}
            (ExprKind::Field { .. }, Type::Optional(_)) => {}
            (ExprKind::Field { .. }, t) => {
                let got = self.program.type_name(t);
                self.error(
                    Diagnostic::error(
                        Code::E0309,
                        inner.span,
                        format!("`has` on a field that is always present (`{got}`)"),
                        "never absent",
                    )
                    .with_help("only optional fields (`T?`) can be absent; remove the `has` test"),
                );
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        Code::E0309,
                        inner.span,
                        "`has` tests a field",
                        "not a field access",
                    )
                    .with_help("write `has value.field`"),
                );
            }
        }
        mk(ExprKind::Has(Box::new(inner)), Type::Bool, span)
    }

    fn check_binary(
        &mut self,
        cx: &mut Cx,
        op: BinOp,
        a: &Node<ast::Expr>,
        b: &Node<ast::Expr>,
        span: Span,
    ) -> Expr {
        match op {
            BinOp::And | BinOp::Or => {
                let l = self.check_condition(cx, a);
                let r = self.check_condition(cx, b);
                let kind = if op == BinOp::And {
                    ExprKind::And(Box::new(l), Box::new(r))
                } else {
                    ExprKind::Or(Box::new(l), Box::new(r))
                };
                mk(kind, Type::Bool, span)
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let l = self.check_expr(cx, a);
                let r = self.check_expr(cx, b);
                let cmp = match op {
                    BinOp::Eq => CmpOp::Eq,
                    BinOp::Ne => CmpOp::Ne,
                    BinOp::Lt => CmpOp::Lt,
                    BinOp::Le => CmpOp::Le,
                    BinOp::Gt => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                let lt = l.ty.unwrap_optional().clone();
                let rt = r.ty.unwrap_optional().clone();
                let ordered = matches!(cmp, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge);
                let ok_kind = |t: &Type| {
                    if ordered {
                        matches!(
                            t,
                            Type::Int | Type::Time | Type::Duration | Type::Decimal | Type::Error
                        )
                    } else {
                        !matches!(t, Type::Record(_) | Type::Entity(_) | Type::Task)
                    }
                };
                if !lt.fits(&rt) {
                    let (ln, rn) = (self.program.type_name(&l.ty), self.program.type_name(&r.ty));
                    let mut d = Diagnostic::error(
                        Code::E0301,
                        span,
                        format!("cannot compare `{ln}` with `{rn}`"),
                        "mismatched types",
                    )
                    .with_label(l.span, format!("this is `{ln}`"))
                    .with_label(r.span, format!("this is `{rn}`"));
                    if let (Type::Enum(e), Type::String) = (&lt, &rt) {
                        let def = &self.program.enums[e.index()];
                        d = d.with_help(format!(
                            "compare with a variant, e.g. `{}.{}`",
                            def.name,
                            def.variants.first().map_or("variant", String::as_str)
                        ));
                    }
                    if let Some(help) = int_decimal_help(&lt, &l, &rt, &r) {
                        d = d.with_help(help);
                    }
                    self.error(d);
                } else if !ok_kind(&lt) {
                    let ln = self.program.type_name(&lt);
                    let d = if ordered {
                        Diagnostic::error(
                            Code::E0303,
                            span,
                            format!("`{}` cannot order `{ln}` values", cmp.as_str()),
                            format!("`{ln}` has no order"),
                        )
                        .with_help(
                            "`<`, `<=`, `>`, `>=` compare `Int`, `Time`, `Duration` and `Decimal`",
                        )
                    } else {
                        let help = match lt {
                            Type::Entity(_) => "compare their ids: `principal.id == ...`",
                            _ => "compare the fields you care about",
                        };
                        Diagnostic::error(
                            Code::E0303,
                            span,
                            format!("`{ln}` values cannot be compared with `{}`", cmp.as_str()),
                            "not comparable",
                        )
                        .with_help(help)
                    };
                    self.error(d);
                }
                mk(
                    ExprKind::Cmp(cmp, Box::new(l), Box::new(r)),
                    Type::Bool,
                    span,
                )
            }
            BinOp::In => {
                let l = self.check_expr(cx, a);
                let r = self.check_expr(cx, b);
                let lt = l.ty.unwrap_optional().clone();
                let rt = r.ty.unwrap_optional().clone();
                let ok = match (&lt, &rt) {
                    (Type::Error, _) | (_, Type::Error) => true,
                    (Type::Ip, Type::Net) => true,
                    (Type::Ip, Type::Set(e)) if **e == Type::Net => true,
                    (Type::Time, Type::Record(w)) => Some(*w) == self.window,
                    (x, Type::Set(e)) => x.fits(e) && !matches!(x, Type::Set(_) | Type::Record(_)),
                    _ => false,
                };
                if !ok {
                    let (ln, rn) = (self.program.type_name(&l.ty), self.program.type_name(&r.ty));
                    let mut d = Diagnostic::error(
                        Code::E0303,
                        span,
                        format!("cannot test whether `{ln}` is in `{rn}`"),
                        "invalid `in`",
                    )
                    .with_label(l.span, format!("this is `{ln}`"))
                    .with_label(r.span, format!("this is `{rn}`"))
                    .with_help("`in` tests an element in a `Set`, an `Ip` in a `Net` (or a `Set<Net>`), or a `Time` in a `time.Window`");
                    if let (Type::String, Type::String) = (&lt, &rt) {
                        d = d.with_help("to search a string, use `.contains(...)`");
                    }
                    self.error(d);
                }
                mk(ExprKind::In(Box::new(l), Box::new(r)), Type::Bool, span)
            }
            BinOp::Default => {
                let l = self.check_expr(cx, a);
                let r = self.check_expr(cx, b);
                if !l.ty.is_optional() && l.ty != Type::Error {
                    let ln = self.program.type_name(&l.ty);
                    self.error(
                        Diagnostic::error(
                            Code::E0303,
                            l.span,
                            format!("`??` needs an optional value on its left, found `{ln}`"),
                            "never absent",
                        )
                        .with_help("remove `?? ...`: the value is always present"),
                    );
                    return mk(
                        ExprKind::Default(Box::new(l), Box::new(r)),
                        Type::Error,
                        span,
                    );
                }
                let inner = l.ty.unwrap_optional().clone();
                if !r.ty.unwrap_optional().fits(&inner) {
                    let (ln, rn) = (self.program.type_name(&l.ty), self.program.type_name(&r.ty));
                    self.error(
                        Diagnostic::error(
                            Code::E0301,
                            r.span,
                            format!(
                                "the default must be `{}`, found `{rn}`",
                                self.program.type_name(&inner)
                            ),
                            format!("this is `{rn}`"),
                        )
                        .with_label(l.span, format!("this is `{ln}`")),
                    );
                }
                let ty = if r.ty.is_optional() {
                    inner.optional()
                } else if inner == Type::Never {
                    r.ty.clone()
                } else {
                    inner
                };
                mk(ExprKind::Default(Box::new(l), Box::new(r)), ty, span)
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul => {
                let l = self.check_expr(cx, a);
                let r = self.check_expr(cx, b);
                let sym = op.as_str();
                for x in [&l, &r] {
                    if x.ty.is_optional() {
                        let got = self.program.type_name(&x.ty);
                        self.error(optional_as_value(x.span, &got, "a number"));
                        return error_expr(span);
                    }
                }
                let ty = match (&l.ty, &r.ty, op) {
                    (Type::Error, _, _) | (_, Type::Error, _) => Type::Error,
                    (Type::Decimal, Type::Int, BinOp::Mul)
                    | (Type::Int, Type::Decimal, BinOp::Mul) => Type::Decimal,
                    (lt, rt, BinOp::Mul) => {
                        let (ln, rn) = (self.program.type_name(lt), self.program.type_name(rt));
                        let help = match (lt, rt) {
                            (Type::Decimal, Type::Decimal) => "a `Decimal` can only be multiplied by an `Int` (`amount * 3`): the product of two decimals would need more than six fractional digits, and decimals are never rounded",
                            (Type::Int, Type::Int) => "`*` multiplies a `Decimal` by an `Int`; integers are not multiplied: write the product as a constant",
                            _ => "`*` multiplies a `Decimal` by an `Int`, in either order (`amount * 3`); there is no division",
                        };
                        self.error(
                            Diagnostic::error(
                                Code::E0303,
                                span,
                                format!("cannot compute `{ln} * {rn}`"),
                                "unsupported operands",
                            )
                            .with_label(l.span, format!("this is `{ln}`"))
                            .with_label(r.span, format!("this is `{rn}`"))
                            .with_help(help),
                        );
                        Type::Error
                    }
                    (Type::Int, Type::Int, _) => Type::Int,
                    (Type::Time, Type::Duration, _) => Type::Time,
                    (Type::Duration, Type::Time, BinOp::Add) => Type::Time,
                    (Type::Time, Type::Time, BinOp::Sub) => Type::Duration,
                    (Type::Duration, Type::Duration, _) => Type::Duration,
                    (Type::Decimal, Type::Decimal, BinOp::Add | BinOp::Sub) => Type::Decimal,
                    (lt, rt, _) => {
                        let (ln, rn) = (self.program.type_name(lt), self.program.type_name(rt));
                        let mut d = Diagnostic::error(
                            Code::E0303,
                            span,
                            format!("cannot compute `{ln} {sym} {rn}`"),
                            "unsupported operands",
                        )
                        .with_label(l.span, format!("this is `{ln}`"))
                        .with_label(r.span, format!("this is `{rn}`"));
                        d = d.with_help(if matches!((lt, rt), (Type::String, Type::String)) {
                            "strings cannot be concatenated; compare with `starts_with`, `ends_with` or `like`".to_string()
                        } else if let Some(help) = int_decimal_help(lt, &l, rt, &r) {
                            help
                        } else {
                            "`+` and `-` work on `Int`, `Time ± Duration`, `Time - Time`, `Duration ± Duration` and `Decimal ± Decimal`".to_string()
                        });
                        self.error(d);
                        Type::Error
                    }
                };
                let aop = match op {
                    BinOp::Add => ArithOp::Add,
                    BinOp::Mul => ArithOp::Mul,
                    _ => ArithOp::Sub,
                };
                mk(ExprKind::Arith(aop, Box::new(l), Box::new(r)), ty, span)
            }
        }
    }
}

/// The help for an `Int` where a `Decimal` is wanted (or the other way
/// round): there is no implicit conversion, so an integer literal is
/// written with a fraction, and any other integer is converted.
fn int_decimal_help(lt: &Type, l: &Expr, rt: &Type, r: &Expr) -> Option<String> {
    let int = match (lt, rt) {
        (Type::Decimal, Type::Int) => r,
        (Type::Int, Type::Decimal) => l,
        _ => return None,
    };
    Some(match &int.kind {
        ExprKind::Lit(Literal::Int(i)) => {
            format!("an `Int` is not a `Decimal`: write the decimal literal `{i}.0`")
        }
        _ => "an `Int` is not a `Decimal`: convert it with `decimal(...)`".to_string(),
    })
}

fn optional_as_value(span: Span, got: &str, wanted: &str) -> Diagnostic {
    Diagnostic::error(
        Code::E0302,
        span,
        format!("`{got}` may be absent where {} is needed", if wanted.starts_with('a') { wanted.to_string() } else { format!("`{wanted}`") }),
        "optional value",
    )
    .with_help("give a default with `?? value`; a `has` test elsewhere in the condition does not make the value present")
}
