//! Constants and functions: ordered by their references (the graph must be
//! acyclic), checked in that order, and each constant evaluated once (see
//! `fold`).

use super::hir::*;
use super::{expr, fold, Checker, Decl};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{Node, Span};
use crate::syntax::ast::{self, Item};
use petgraph::graphmap::DiGraphMap;

/// A constant or a function: a node of the reference graph.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Def {
    Const(u32),
    Fn(u32),
}

/// Which constants and functions refer to which, with where.
type RefGraph = DiGraphMap<Def, Span>;

/// The declaration of each constant and function, by id (`None` for one
/// whose name was taken, already reported).
struct Asts {
    consts: Vec<Option<ast::ConstDecl>>,
    fns: Vec<Option<ast::FnDecl>>,
}

impl Checker<'_> {
    /// Orders constants and functions by reference, reports cycles, then
    /// checks them in that order (and evaluates each constant).
    pub(super) fn check_consts_and_fns(&mut self) {
        let asts = self.const_and_fn_asts();
        let graph = self.reference_graph(&asts);
        // tarjan_scc returns components in reverse topological order: a
        // component comes after every component it refers to.
        let order = petgraph::algo::tarjan_scc(&graph);
        let mut cyclic: Vec<Def> = Vec::new();
        for scc in &order {
            let is_cycle = scc.len() > 1 || scc.first().is_some_and(|&n| graph.contains_edge(n, n));
            if is_cycle {
                cyclic.extend(scc.iter().copied());
                self.report_cycle(&graph, scc);
            }
        }
        // Signatures of every function first (bodies may call any of them).
        self.resolve_signatures(&asts.fns);
        for def in order.iter().flatten() {
            if cyclic.contains(def) {
                continue;
            }
            match *def {
                Def::Const(i) => {
                    if let Some(Some(c)) = asts.consts.get(i as usize) {
                        self.check_const(i, c);
                    }
                }
                Def::Fn(i) => {
                    if let Some(Some(f)) = asts.fns.get(i as usize) {
                        self.check_fn_body(i, f);
                    }
                }
            }
        }
    }

    /// Gathers the declaration of each constant and function.
    fn const_and_fn_asts(&self) -> Asts {
        let mut asts = Asts {
            consts: vec![None; self.program.consts.len()],
            fns: vec![None; self.program.fns.len()],
        };
        for m in &self.modules {
            for item in &m.items {
                match &item.node {
                    Item::Const(c) => {
                        if let Some((Decl::Const(id), span)) = m.names.get(&c.name.node) {
                            if *span == c.name.span {
                                asts.consts[id.index()] = Some(c.clone());
                            }
                        }
                    }
                    Item::Fn(f) => {
                        if let Some((Decl::Fn(id), span)) = m.names.get(&f.name.node) {
                            if *span == f.name.span {
                                asts.fns[id.index()] = Some(f.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        asts
    }

    /// The reference graph: an edge from each constant and function to each
    /// constant and function its expression names.
    fn reference_graph(&self, asts: &Asts) -> RefGraph {
        let mut graph: RefGraph = DiGraphMap::new();
        let consts = asts.consts.iter().enumerate().map(|(i, c)| {
            let body = c.as_ref().map(|c| (self.const_module[i], &c.value));
            (Def::Const(i as u32), body)
        });
        let fns = asts.fns.iter().enumerate().map(|(i, f)| {
            let body = f.as_ref().map(|f| (self.fn_module[i], &f.body));
            (Def::Fn(i as u32), body)
        });
        for (def, body) in consts.chain(fns) {
            graph.add_node(def);
            let Some((mi, e)) = body else { continue };
            for (target, span) in self.references(mi, e) {
                let t = match target {
                    Decl::Const(id) => Def::Const(id.0),
                    Decl::Fn(id) => Def::Fn(id.0),
                    _ => continue,
                };
                graph.add_edge(def, t, span);
            }
        }
        graph
    }

    /// Reports one cycle of the reference graph (a strongly connected
    /// component), walked from its first member.
    fn report_cycle(&mut self, graph: &RefGraph, scc: &[Def]) {
        let mut members = scc.to_vec();
        members.sort();
        let Some(&first) = members.first() else {
            return;
        };
        let name = |d: Def, p: &Program| match d {
            Def::Const(i) => format!("`{}`", p.consts[i as usize].name),
            Def::Fn(i) => format!("`{}`", p.fns[i as usize].name),
        };
        // Walk the cycle.
        let mut path = vec![first];
        let mut cur = first;
        while let Some(next) = graph
            .neighbors(cur)
            .filter(|n| members.contains(n))
            .min_by_key(|n| (*n != first, *n))
        {
            path.push(next);
            if next == first || path[..path.len() - 1].contains(&next) {
                break;
            }
            cur = next;
        }
        let chain: Vec<String> = path.iter().map(|d| name(*d, &self.program)).collect();
        let decl_span = match first {
            Def::Const(i) => self.program.consts[i as usize].span,
            Def::Fn(i) => self.program.fns[i as usize].span,
        };
        let kind = if matches!(first, Def::Fn(_)) {
            "function"
        } else {
            "constant"
        };
        let mut d = Diagnostic::error(
            Code::E0209,
            decl_span,
            format!("{kind} {} refers to itself", name(first, &self.program)),
            "recursive definition",
        )
        .with_note(format!("cycle: {}", chain.join(" -> ")))
        .with_help(
            "functions are inlined and constants evaluated at compile time, so neither may recurse",
        );
        for w in path.windows(2) {
            if let Some(s) = graph.edge_weight(w[0], w[1]) {
                d = d.with_label(
                    *s,
                    format!(
                        "{} uses {}",
                        name(w[0], &self.program),
                        name(w[1], &self.program)
                    ),
                );
            }
        }
        self.error(d);
    }

    /// Resolves the parameter and result types of every function.
    fn resolve_signatures(&mut self, fns: &[Option<ast::FnDecl>]) {
        for (i, f) in fns.iter().enumerate() {
            let Some(f) = f else { continue };
            let mi = self.fn_module[i];
            let mut params: Vec<(String, Type)> = Vec::new();
            for p in &f.params {
                let ty = self.resolve_type(mi, &p.ty);
                if params.iter().any(|(n, _)| *n == p.name.node) {
                    self.error(Diagnostic::error(
                        Code::E0201,
                        p.name.span,
                        format!("parameter `{}` is declared twice", p.name.node),
                        "duplicate parameter",
                    ));
                }
                params.push((p.name.node.clone(), ty));
            }
            let ret = self.resolve_type(mi, &f.ret);
            self.program.fns[i].params = params;
            self.program.fns[i].ret = ret;
        }
    }

    /// Checks constant `i` against its declared type, then, if that found
    /// no error, evaluates it once (lowering reads the value).
    fn check_const(&mut self, i: u32, c: &ast::ConstDecl) {
        let mi = self.const_module[i as usize];
        let declared = c.ty.as_ref().map(|t| self.resolve_type(mi, t));
        let mut cx = expr::Cx::constant(mi);
        let errors_before = self.diags.iter().filter(|d| d.is_error()).count();
        let value = self.check_expr(&mut cx, &c.value);
        // An expression the parser already rejected is not evaluated.
        let parsed = !matches!(value.kind, ExprKind::Error);
        let ty = match declared {
            Some(want) => {
                self.expect_type(&value, &want, "the constant's declared type");
                want
            }
            None => value.ty.clone(),
        };
        self.program.consts[i as usize].ty = ty;
        self.program.consts[i as usize].value = value;
        if parsed && self.diags.iter().filter(|d| d.is_error()).count() == errors_before {
            match fold::fold_const(&self.program, ConstId(i)) {
                Ok(v) => self.program.consts[i as usize].folded = Some(v),
                Err(e) => {
                    let name = self.program.consts[i as usize].name.clone();
                    self.error(const_error(&name, c.value.span, &e));
                }
            }
        }
    }

    /// Checks the body of function `i` against its result type.
    fn check_fn_body(&mut self, i: u32, f: &ast::FnDecl) {
        let mi = self.fn_module[i as usize];
        let params = self.program.fns[i as usize].params.clone();
        let mut cx = expr::Cx::function(mi, params);
        let body = self.check_expr(&mut cx, &f.body);
        let ret = self.program.fns[i as usize].ret.clone();
        self.expect_type(&body, &ret, "the function's declared result type");
        self.program.fns[i as usize].body = body;
    }

    /// The constants and functions an expression of module `mi` names.
    fn references(&self, mi: usize, e: &Node<ast::Expr>) -> Vec<(Decl, Span)> {
        let mut out = Vec::new();
        self.collect_refs(mi, e, &mut out);
        out
    }

    /// Adds to `out` the constants and functions `e` names.
    fn collect_refs(&self, mi: usize, e: &Node<ast::Expr>, out: &mut Vec<(Decl, Span)>) {
        use ast::Expr as E;
        if let Some((decl, span)) = self.path_decl(mi, e) {
            out.push((decl, span));
            return;
        }
        match &e.node {
            E::Set(items) => items.iter().for_each(|i| self.collect_refs(mi, i, out)),
            E::Field { base, .. } => self.collect_refs(mi, base, out),
            E::Call { callee, args } => {
                self.collect_refs(mi, callee, out);
                args.iter().for_each(|a| self.collect_refs(mi, a, out));
            }
            E::Unary(_, x) | E::Has(x) | E::Like(x, _) => self.collect_refs(mi, x, out),
            E::Binary(_, a, b) => {
                self.collect_refs(mi, a, out);
                self.collect_refs(mi, b, out);
            }
            _ => {}
        }
    }

    /// If `e` is a name or `module.name` denoting a declaration, that
    /// declaration.
    fn path_decl(&self, mi: usize, e: &Node<ast::Expr>) -> Option<(Decl, Span)> {
        match &e.node {
            ast::Expr::Name(n) => self.modules[mi]
                .names
                .get(&n.node)
                .map(|(d, _)| (*d, e.span)),
            ast::Expr::Field {
                base,
                name,
                optional: false,
            } => {
                let ast::Expr::Name(alias) = &base.node else {
                    return None;
                };
                let (m, _) = self.modules[mi].aliases.get(&alias.node)?;
                self.modules[*m]
                    .names
                    .get(&name.node)
                    .map(|(d, _)| (*d, e.span))
            }
            _ => None,
        }
    }
}

/// The report for a constant that cannot be evaluated.
fn const_error(name: &str, span: Span, e: &fold::FoldError) -> Diagnostic {
    let why = match e {
        fold::FoldError::Overflow => "its value overflows".to_string(),
        fold::FoldError::Internal(w) => format!("it cannot be evaluated ({w})"),
        fold::FoldError::TooCostly => {
            return Diagnostic::error(
                Code::E0308,
                span,
                format!("constant `{name}` is too costly to evaluate"),
                "evaluated when the policy compiles",
            )
            .with_help(format!(
                "evaluation stops after {} steps; a function that calls another more than once multiplies the work at every level",
                fold::MAX_STEPS
            ));
        }
    };
    Diagnostic::error(
        Code::E0308,
        span,
        format!("constant `{name}` is invalid: {why}"),
        "evaluated when the policy compiles",
    )
    .with_help("`Int` is 64-bit; overflow is an error, never a wrap-around")
}
