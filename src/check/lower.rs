//! The static rules that lowering relies on, so that a program that checks
//! clean also builds.
//!
//! This pass runs once everything else has checked clean. It walks the rule
//! conditions exactly as lowering does (functions inlined at every call
//! site) and reports:
//!
//! - a set literal that reads request values anywhere but on the right of
//!   `in`, and a constant set literal whose value cannot be computed (the
//!   values of the others are stored in [`Program::closed_sets`]);
//! - expressions lowering has no instruction for;
//! - conditions that need a deeper stack, more locals or more code than a
//!   bundle allows, counted as lowering emits them;
//! - more `require` clauses than a rule may have;
//! - a request layout with more slots than a bundle may have.

use super::fold::{self, FoldError};
use super::hir::*;
use super::limits::{MAX_CODE, MAX_LOCALS, MAX_REQUIRES, MAX_SLOTS, MAX_STACK};
use super::Checker;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use std::collections::{HashMap, HashSet};

/// Request slots the layout always reserves (`now`, `action` and the task
/// fields).
const SPECIAL_SLOTS: u32 = 7;

impl Checker<'_> {
    /// Runs the pass (only on a program without errors, as lowering would).
    pub(super) fn check_lowering(&mut self) {
        if self.diags.iter().any(Diagnostic::is_error) {
            return;
        }
        let mut diags = Vec::new();
        if let Some(d) = layout_too_large(&self.program) {
            diags.push(d);
        }
        let mut sim = Sim::new(&self.program);
        for r in &self.program.rules {
            if let Some(e) = &r.when {
                sim.block(e);
            }
            if let Some(e) = &r.unless {
                sim.block(e);
            }
            for q in &r.requires {
                sim.block(&q.cond);
            }
            if r.requires.len() > MAX_REQUIRES {
                sim.report(Diagnostic::error(
                    Code::E0105,
                    r.head,
                    format!("a rule may have at most {MAX_REQUIRES} `require` clauses"),
                    "too many requirements",
                ));
            }
        }
        let Sim {
            diags: more,
            folded,
            ..
        } = sim;
        diags.extend(more);
        self.program.closed_sets = folded;
        self.diags.extend(diags);
    }
}

/// The size of each record's layout: a presence marker, then its fields (a
/// record field holds a copy of that record).
fn record_sizes(p: &Program) -> Vec<u32> {
    fn size(p: &Program, r: usize, sizes: &mut Vec<Option<u32>>, visiting: &mut Vec<bool>) -> u32 {
        if let Some(Some(s)) = sizes.get(r) {
            return *s;
        }
        let (Some(def), Some(false)) = (p.records.get(r), visiting.get(r).copied()) else {
            return 1; // a cycle, ruled out earlier
        };
        visiting[r] = true;
        let mut off = 1u32;
        for f in &def.fields {
            let s = match f.ty.unwrap_optional() {
                Type::Record(inner) => size(p, inner.index(), sizes, visiting),
                _ => 1,
            };
            off = off.saturating_add(s);
        }
        visiting[r] = false;
        sizes[r] = Some(off);
        off
    }
    let n = p.records.len();
    let mut sizes = vec![None; n];
    let mut visiting = vec![false; n];
    (0..n)
        .map(|r| size(p, r, &mut sizes, &mut visiting))
        .collect()
}

/// The E0310 report if the request layout needs more than [`MAX_SLOTS`]
/// slots: the special slots, the context, the evidence, then one copy of
/// every distinct entity field (name and type) as principal and another as
/// resource.
fn layout_too_large(p: &Program) -> Option<Diagnostic> {
    let sizes = record_sizes(p);
    let size_of = |t: &Type| match t.unwrap_optional() {
        Type::Record(r) => sizes.get(r.index()).copied().unwrap_or(1),
        _ => 1,
    };
    let (ctx, ev) = (p.context.index(), p.evidence.index());
    let mut slots = SPECIAL_SLOTS
        .saturating_add(sizes.get(ctx).copied().unwrap_or(1))
        .saturating_add(sizes.get(ev).copied().unwrap_or(1));
    for t in &p.tasks {
        if let Some(r) = t.params {
            slots = slots.saturating_add(sizes.get(r.index()).copied().unwrap_or(1));
        }
    }
    let mut seen: HashSet<(&str, &Type)> = HashSet::new();
    for e in &p.entities {
        for f in &e.fields {
            if seen.insert((f.name.as_str(), &f.ty)) {
                // once as the principal's field, once as the resource's
                slots = slots
                    .saturating_add(size_of(&f.ty))
                    .saturating_add(size_of(&f.ty));
            }
        }
    }
    if slots <= MAX_SLOTS {
        return None;
    }
    // the largest record, preferring a declared one to the context
    let largest = (0..p.records.len()).max_by_key(|&r| {
        (
            r != ctx && r != ev,
            sizes.get(r).copied().unwrap_or_default(),
        )
    });
    let span = largest
        .and_then(|r| p.records.get(r))
        .map(|r| r.span)
        .unwrap_or_default();
    Some(
        Diagnostic::error(
            Code::E0310,
            span,
            format!("the request layout of this policy set needs more than {MAX_SLOTS} slots"),
            "the largest record",
        )
        .with_help(
            "a record is copied into every field that holds it; \
             flatten records that nest other records many times",
        ),
    )
}

/// Walks conditions as lowering compiles them, counting what it would
/// emit: stack height, locals and instructions.
struct Sim<'p> {
    p: &'p Program,
    /// Entity fields by name and type (each has a slot as principal and as
    /// resource).
    entity_fields: HashSet<(&'p str, &'p Type)>,
    /// Instructions emitted so far, over all conditions.
    code: usize,
    height: u32,
    max_height: u32,
    locals: u32,
    max_locals: u32,
    folded: HashMap<Span, ConstValue>,
    /// Set literals whose folding failed (reported once).
    failed: HashSet<Span>,
    diags: Vec<Diagnostic>,
}

impl<'p> Sim<'p> {
    fn new(p: &'p Program) -> Sim<'p> {
        let entity_fields = p
            .entities
            .iter()
            .flat_map(|e| e.fields.iter().map(|f| (f.name.as_str(), &f.ty)))
            .collect();
        Sim {
            p,
            entity_fields,
            code: 0,
            height: 0,
            max_height: 0,
            locals: 0,
            max_locals: 0,
            folded: HashMap::new(),
            failed: HashSet::new(),
            diags: Vec::new(),
        }
    }

    /// Reports `d` unless the same report was made already (a function
    /// body is walked once per call).
    fn report(&mut self, d: Diagnostic) {
        let same = |o: &Diagnostic| {
            o.code == d.code && o.primary.span == d.primary.span && o.message == d.message
        };
        if !self.diags.iter().any(same) {
            self.diags.push(d);
        }
    }

    /// One instruction that pops `pop` values and pushes `push`.
    fn emit(&mut self, pop: u32, push: u32) {
        self.height = self.height.saturating_sub(pop) + push;
        self.max_height = self.max_height.max(self.height);
        self.code += 1;
    }

    fn new_local(&mut self) {
        self.locals += 1;
        self.max_locals = self.max_locals.max(self.locals);
    }

    /// A condition: its expression, then a return.
    fn block(&mut self, e: &Expr) {
        self.height = 0;
        self.locals = 0;
        self.expr(e);
        self.emit(1, 0);
        if self.max_height > MAX_STACK || self.max_locals > MAX_LOCALS || self.code > MAX_CODE {
            self.report(
                Diagnostic::error(
                    Code::E0308,
                    e.span,
                    "this condition is too large to compile",
                    "too deeply nested or too many inlined calls",
                )
                .with_help("split it into smaller functions or simplify the nesting"),
            );
            self.max_height = self.max_height.min(MAX_STACK);
            self.max_locals = self.max_locals.min(MAX_LOCALS);
        }
    }

    /// Whether a field access is a statically known path (one slot load).
    fn static_path(&self, e: &Expr) -> bool {
        let ExprKind::Field { base, name, .. } = &e.kind else {
            return false;
        };
        let has = |r: RecordId| {
            self.p
                .records
                .get(r.index())
                .is_some_and(|d| d.fields.iter().any(|f| f.name == *name))
        };
        match &base.kind {
            ExprKind::Var(Var::Principal | Var::Resource) => {
                self.entity_fields.contains(&(name.as_str(), &e.ty))
            }
            ExprKind::Var(Var::Context) => has(self.p.context),
            ExprKind::Var(Var::Evidence) => has(self.p.evidence),
            ExprKind::Var(Var::TaskParams(t)) => self
                .p
                .tasks
                .get(t.index())
                .and_then(|d| d.params)
                .is_some_and(has),
            _ => match base.ty.unwrap_optional() {
                Type::Record(r) => self.static_path(base) && has(*r),
                _ => false,
            },
        }
    }

    /// Whether a scalar expression is read from a slot directly.
    fn direct_slot(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Var(Var::Now | Var::Action) | ExprKind::TaskField(_) => true,
            _ if matches!(e.ty.unwrap_optional(), Type::Record(_)) => false,
            _ => self.static_path(e),
        }
    }

    /// A constant set literal: folded once.
    fn closed_set(&mut self, e: &Expr) {
        if self.folded.contains_key(&e.span) {
            self.emit(0, 1);
            return;
        }
        if self.failed.contains(&e.span) {
            return;
        }
        match fold::fold_closed(self.p, e) {
            Ok(v) => {
                self.folded.insert(e.span, v);
                self.emit(0, 1);
            }
            Err(err) => {
                self.failed.insert(e.span);
                let (message, label) = match err {
                    FoldError::TooCostly => {
                        ("this set literal is too costly to evaluate", "too costly")
                    }
                    FoldError::Overflow | FoldError::Internal(_) => {
                        ("this set literal cannot be evaluated", "overflows")
                    }
                };
                self.report(Diagnostic::error(Code::E0308, e.span, message, label));
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        let span = e.span;
        match &e.kind {
            ExprKind::Lit(_) | ExprKind::Const(_) | ExprKind::TaskField(_) => self.emit(0, 1),
            ExprKind::Set(_) => {
                if e.is_closed() {
                    self.closed_set(e);
                } else {
                    self.report(
                        Diagnostic::error(
                            Code::E0308,
                            span,
                            "a set literal here must contain only constants",
                            "reads request values",
                        )
                        .with_help(
                            "`x in [a, b]` may use request values; elsewhere build the set from constants",
                        ),
                    );
                }
            }
            ExprKind::Var(Var::Principal | Var::Resource | Var::Task) => {
                self.report(Diagnostic::error(
                    Code::E0308,
                    span,
                    "an entity or task cannot be used as a value",
                    "not a value",
                ));
            }
            ExprKind::Var(_) => self.emit(0, 1),
            ExprKind::Field { base, .. } => {
                if self.static_path(e) {
                    self.emit(0, 1);
                } else if matches!(base.ty.unwrap_optional(), Type::Record(_)) {
                    self.expr(base);
                    self.emit(1, 1);
                } else {
                    self.report(Diagnostic::error(
                        Code::E0308,
                        span,
                        "cannot compile this field access",
                        "unsupported",
                    ));
                }
            }
            ExprKind::Call(f, args) => {
                for a in args {
                    self.expr(a);
                    self.new_local();
                    self.emit(1, 0);
                }
                if self.code > MAX_CODE {
                    return;
                }
                if let Some(def) = self.p.fns.get(f.index()) {
                    self.expr(&def.body);
                }
            }
            ExprKind::Method { method, recv, args } => {
                self.expr(recv);
                for a in args {
                    self.expr(a);
                }
                let arity = match method {
                    Method::IsEmpty | Method::Len => 0,
                    _ => 1,
                };
                self.emit(1 + arity, 1);
            }
            ExprKind::Not(x) | ExprKind::Neg(x) | ExprKind::Has(x) | ExprKind::Like(x, _) => {
                self.expr(x);
                self.emit(1, 1);
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Default(a, b) => {
                self.expr(a);
                self.emit(1, 0); // the jump
                self.expr(b);
            }
            ExprKind::Cmp(_, a, b) => {
                // A slot compared with a literal, either way round, is one
                // fused instruction (the literal is emitted, then dropped).
                for (slot_side, lit_side) in [(a, b), (b, a)] {
                    if self.direct_slot(slot_side) && matches!(lit_side.kind, ExprKind::Lit(_)) {
                        self.emit(0, 1);
                        self.code -= 1;
                        self.height -= 1;
                        self.emit(0, 1);
                        return;
                    }
                }
                self.expr(a);
                self.expr(b);
                self.emit(2, 1);
            }
            ExprKind::Arith(_, a, b) => {
                self.expr(a);
                self.expr(b);
                self.emit(2, 1);
            }
            ExprKind::In(a, b) => {
                if let ExprKind::Set(items) = &b.kind {
                    if !b.is_closed() {
                        // tried item by item: `x == a or x == b`
                        self.expr(a);
                        self.new_local();
                        self.emit(1, 0);
                        if a.ty.is_optional() {
                            self.emit(0, 1);
                            self.emit(1, 1);
                            self.emit(1, 0);
                        }
                        for (n, item) in items.iter().enumerate() {
                            self.emit(0, 1);
                            self.expr(item);
                            self.emit(2, 1);
                            if n + 1 < items.len() {
                                self.emit(1, 0);
                            }
                        }
                        return;
                    }
                }
                self.expr(a);
                self.expr(b);
                self.emit(2, 1);
            }
            ExprKind::Error => {
                self.report(Diagnostic::error(
                    Code::E0308,
                    span,
                    "cannot compile an expression with errors",
                    "error",
                ));
            }
        }
    }
}
