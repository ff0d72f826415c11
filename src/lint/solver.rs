//! A small, sound decision procedure over the condition fragment.
//!
//! The fragment: comparisons of request paths (`principal.team`,
//! `context.risk`, `task.approvals`, `now`, …) with constants (integers,
//! strings, enum variants, times, durations, booleans), membership of a
//! path in a literal set, boolean paths, and `and`, `or`, `not`. Anything
//! else is an *opaque atom*: a boolean the solver knows nothing about,
//! except that two structurally identical atoms have the same value.
//!
//! Questions are answered by case analysis over a disjunctive normal form
//! with a size budget, and per path by interval and (in)equality
//! reasoning. The answers are sound: [`Verdict::Always`] and
//! [`Verdict::Never`] are only given when they hold for every request the
//! schema admits; everything the solver cannot decide is
//! [`Verdict::Unknown`], and the linter reports nothing for it.
//!
//! Errors matter for soundness. A non-optional request path is always
//! present (binding rejects a request without it), so atoms over such
//! paths never fail. Opaque atoms may fail (an absent optional, an
//! overflowing sum): a formula holding "always" is only claimed when every
//! atom is *total*.

use crate::check::hir::{CmpOp, ConstId, Expr, ExprKind, Literal, Program, TaskField, Type, Var};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How many conjunctions a normal form may have before the solver gives up.
const BUDGET: usize = 512;

/// What the solver can say about a formula.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// True for every request.
    Always,
    /// False for every request.
    Never,
    /// True for some requests and false for others; the witness makes it
    /// true.
    Sometimes(Witness),
    /// Outside the fragment, or too large to decide.
    Unknown,
}

/// A printable example assignment of request paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Witness(pub Vec<(String, String)>);

impl fmt::Display for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("any request");
        }
        for (i, (path, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "`{path} = {value}`")?;
        }
        Ok(())
    }
}

/// The answer to "does every request satisfying A satisfy B?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Yes.
    Yes,
    /// No, and this request shows it.
    No(Witness),
    /// Cannot tell.
    Unknown,
}

/// The value domain of a request path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Domain {
    /// Integers, times and durations (as microseconds).
    Int,
    /// Strings and entity ids.
    Str,
    /// An enum with this many variants (and these names).
    Enum(Vec<String>),
    /// Booleans.
    Bool,
}

/// A constant in the fragment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Val {
    Int(i64),
    Str(String),
    Enum(u32),
}

/// What kind of value an integer-domain path holds, for printing.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum IntKind {
    Int,
    Time,
    Duration,
}

/// One atomic proposition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    /// `path op value`.
    Cmp(String, CmpOp, Val),
    /// `path in {values}`.
    In(String, Vec<Val>),
    /// A boolean path is true.
    Bool(String),
    /// Anything else, by canonical text.
    Opaque(String),
}

/// The comparison that holds exactly when `op` does not.
fn negate_op(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

/// `c op x` as `x op' c`.
fn flip_op(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        o => o,
    }
}

/// A formula in negation normal form over interned atoms.
#[derive(Clone, Debug)]
enum F {
    Const(bool),
    Lit(usize, bool),
    And(Vec<F>),
    Or(Vec<F>),
}

/// A condition translated for the solver: the formula, its atoms, and
/// whether every atom is total (never fails to evaluate).
#[derive(Clone, Debug)]
pub struct Formula {
    f: F,
    atoms: Atoms,
    total: bool,
}

#[derive(Clone, Debug, Default)]
struct Atoms {
    list: Vec<Atom>,
    index: BTreeMap<Atom, usize>,
    domains: BTreeMap<String, (Domain, IntKind)>,
}

impl Atoms {
    fn intern(&mut self, a: Atom) -> usize {
        if let Some(&i) = self.index.get(&a) {
            return i;
        }
        let i = self.list.len();
        self.index.insert(a.clone(), i);
        self.list.push(a);
        i
    }
}

/// Translates expressions of one program.
struct Tr<'p> {
    program: &'p Program,
    in_task: bool,
    atoms: Atoms,
    total: bool,
}

impl Formula {
    /// The condition under which `rule` applies: `when` (true if absent)
    /// and not `unless`.
    pub fn guard(program: &Program, rule: &crate::check::hir::Rule) -> Formula {
        let mut tr = Tr::new(program, rule.task.is_some());
        let when = rule
            .when
            .as_ref()
            .map_or(F::Const(true), |e| tr.expr(e, true));
        let unless = rule
            .unless
            .as_ref()
            .map_or(F::Const(true), |e| tr.expr(e, false));
        tr.finish(F::And(vec![when, unless]))
    }

    /// A single condition (`when`, `unless` or `require`) of a rule in a
    /// task (`in_task`) or not.
    pub fn of(program: &Program, expr: &Expr, in_task: bool) -> Formula {
        let mut tr = Tr::new(program, in_task);
        let f = tr.expr(expr, true);
        tr.finish(f)
    }

    /// Whether no atom of the formula can fail to evaluate.
    pub fn is_total(&self) -> bool {
        self.total
    }

    /// Whether the formula has an atom outside the fragment.
    pub fn has_opaque(&self) -> bool {
        self.atoms.list.iter().any(|a| matches!(a, Atom::Opaque(_)))
    }

    /// The request paths the formula reads, in order.
    pub fn paths(&self) -> Vec<String> {
        self.atoms.domains.keys().cloned().collect()
    }

    /// Rewrites `other`'s atoms into this formula's atom table, so the two
    /// can be combined.
    fn import(&mut self, other: &Formula) -> F {
        let map: Vec<usize> = other
            .atoms
            .list
            .iter()
            .map(|a| self.atoms.intern(a.clone()))
            .collect();
        for (k, v) in &other.atoms.domains {
            self.atoms
                .domains
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        fn re(f: &F, map: &[usize]) -> F {
            match f {
                F::Const(b) => F::Const(*b),
                F::Lit(i, p) => F::Lit(map.get(*i).copied().unwrap_or(*i), *p),
                F::And(v) => F::And(v.iter().map(|x| re(x, map)).collect()),
                F::Or(v) => F::Or(v.iter().map(|x| re(x, map)).collect()),
            }
        }
        re(&other.f, &map)
    }
}

impl<'p> Tr<'p> {
    fn new(program: &'p Program, in_task: bool) -> Tr<'p> {
        Tr {
            program,
            in_task,
            atoms: Atoms::default(),
            total: true,
        }
    }

    fn finish(self, f: F) -> Formula {
        Formula {
            f,
            atoms: self.atoms,
            total: self.total,
        }
    }

    fn lit(&mut self, a: Atom, positive: bool) -> F {
        F::Lit(self.atoms.intern(a), positive)
    }

    /// `e` (if `pos`) or `not e`, in negation normal form.
    fn expr(&mut self, e: &Expr, pos: bool) -> F {
        match &e.kind {
            ExprKind::Lit(Literal::Bool(b)) => F::Const(*b == pos),
            ExprKind::Const(c) => match self.const_lit(*c) {
                Some(Literal::Bool(b)) => F::Const(b == pos),
                _ => self.opaque(e, pos),
            },
            ExprKind::Not(x) => self.expr(x, !pos),
            ExprKind::And(a, b) => {
                let (a, b) = (self.expr(a, pos), self.expr(b, pos));
                if pos {
                    F::And(vec![a, b])
                } else {
                    F::Or(vec![a, b])
                }
            }
            ExprKind::Or(a, b) => {
                let (a, b) = (self.expr(a, pos), self.expr(b, pos));
                if pos {
                    F::Or(vec![a, b])
                } else {
                    F::And(vec![a, b])
                }
            }
            ExprKind::Cmp(op, l, r) => {
                let op = *op;
                if let (Some(p), Some(v)) = (self.path(l), self.value(r)) {
                    if let Some(a) = self.cmp_atom(p, op, v) {
                        return self.lit(a, pos);
                    }
                }
                if let (Some(v), Some(p)) = (self.value(l), self.path(r)) {
                    if let Some(a) = self.cmp_atom(p, flip_op(op), v) {
                        return self.lit(a, pos);
                    }
                }
                self.opaque(e, pos)
            }
            ExprKind::In(l, r) => {
                // A literal set, or a constant whose value is one.
                let set = match &r.kind {
                    ExprKind::Set(items) => Some(items),
                    ExprKind::Const(c) => {
                        match self.program.consts.get(c.index()).map(|d| &d.value.kind) {
                            Some(ExprKind::Set(items)) => Some(items),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                if let (Some(p), Some(items)) = (self.path(l), set) {
                    let vals: Option<Vec<(Val, Domain, IntKind)>> =
                        items.iter().map(|i| self.value(i)).collect();
                    if let Some(vals) = vals {
                        if let Some(a) = self.in_atom(p, vals) {
                            return self.lit(a, pos);
                        }
                    }
                }
                self.opaque(e, pos)
            }
            _ if e.ty == Type::Bool => match self.path(e) {
                Some((p, Domain::Bool, k)) => {
                    self.atoms.domains.insert(p.clone(), (Domain::Bool, k));
                    self.lit(Atom::Bool(p), pos)
                }
                _ => self.opaque(e, pos),
            },
            _ => self.opaque(e, pos),
        }
    }

    fn opaque(&mut self, e: &Expr, pos: bool) -> F {
        if !total(e, self.in_task) {
            self.total = false;
        }
        self.lit(Atom::Opaque(canon(e)), pos)
    }

    fn cmp_atom(
        &mut self,
        p: (String, Domain, IntKind),
        op: CmpOp,
        v: (Val, Domain, IntKind),
    ) -> Option<Atom> {
        let (path, dom, kind) = p;
        if dom != v.1 || dom == Domain::Bool {
            return None;
        }
        // Only integers, times and durations are ordered.
        if dom != Domain::Int && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return None;
        }
        self.atoms.domains.insert(path.clone(), (dom, kind));
        Some(Atom::Cmp(path, op, v.0))
    }

    fn in_atom(
        &mut self,
        p: (String, Domain, IntKind),
        vals: Vec<(Val, Domain, IntKind)>,
    ) -> Option<Atom> {
        let (path, dom, kind) = p;
        if dom == Domain::Bool || vals.iter().any(|v| v.1 != dom) {
            return None;
        }
        self.atoms.domains.insert(path.clone(), (dom, kind));
        let mut vals: Vec<Val> = vals.into_iter().map(|v| v.0).collect();
        vals.sort();
        vals.dedup();
        Some(Atom::In(path, vals))
    }

    fn domain(&self, ty: &Type) -> Option<(Domain, IntKind)> {
        Some(match ty {
            Type::Int => (Domain::Int, IntKind::Int),
            Type::Time => (Domain::Int, IntKind::Time),
            Type::Duration => (Domain::Int, IntKind::Duration),
            Type::String => (Domain::Str, IntKind::Int),
            Type::Bool => (Domain::Bool, IntKind::Int),
            Type::Enum(id) => (
                Domain::Enum(self.program.enums.get(id.index())?.variants.clone()),
                IntKind::Int,
            ),
            _ => return None,
        })
    }

    /// A request path that is always present, with its domain.
    fn path(&self, e: &Expr) -> Option<(String, Domain, IntKind)> {
        let (dom, kind) = self.domain(&e.ty)?;
        Some((path_text(e, self.in_task)?, dom, kind))
    }

    fn const_lit(&self, c: ConstId) -> Option<Literal> {
        match &self.program.consts.get(c.index())?.value.kind {
            ExprKind::Lit(l) => Some(l.clone()),
            _ => None,
        }
    }

    /// A constant of the fragment.
    fn value(&self, e: &Expr) -> Option<(Val, Domain, IntKind)> {
        let lit = match &e.kind {
            ExprKind::Lit(l) => l.clone(),
            ExprKind::Const(c) => self.const_lit(*c)?,
            _ => return None,
        };
        Some(match lit {
            Literal::Int(i) => (Val::Int(i), Domain::Int, IntKind::Int),
            Literal::Time(t) => (Val::Int(t.0), Domain::Int, IntKind::Time),
            Literal::Duration(d) => (Val::Int(d.0), Domain::Int, IntKind::Duration),
            Literal::Str(s) => (Val::Str(s), Domain::Str, IntKind::Int),
            Literal::Enum(id, v) => (
                Val::Enum(v),
                Domain::Enum(self.program.enums.get(id.index())?.variants.clone()),
                IntKind::Int,
            ),
            _ => return None,
        })
    }
}

/// The dotted text of an always-present request path, if `e` is one.
fn path_text(e: &Expr, in_task: bool) -> Option<String> {
    if e.ty.is_optional() {
        return None;
    }
    match &e.kind {
        ExprKind::Var(Var::Now) => Some("now".into()),
        ExprKind::Var(Var::Principal) => Some("principal".into()),
        ExprKind::Var(Var::Resource) => Some("resource".into()),
        ExprKind::Var(Var::Context) => Some("context".into()),
        ExprKind::Var(Var::Evidence) => Some("evidence".into()),
        // Outside a task a request may carry no task at all.
        ExprKind::TaskField(f) if in_task => TaskField::ALL
            .iter()
            .find(|(g, _)| g == f)
            .map(|(_, n)| format!("task.{n}")),
        ExprKind::Field {
            base,
            name,
            optional: false,
        } => Some(format!("{}.{name}", path_text(base, in_task)?)),
        _ => None,
    }
}

/// Whether evaluating `e` can never fail: no optional values, no
/// arithmetic, no calls, only present request paths.
fn total(e: &Expr, in_task: bool) -> bool {
    if e.ty.is_optional() {
        return false;
    }
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Const(_) => true,
        ExprKind::Var(v) => !matches!(v, Var::Param(_) | Var::Task | Var::Action),
        ExprKind::TaskField(_) => in_task,
        ExprKind::Field { .. } => path_text(e, in_task).is_some(),
        ExprKind::Set(items) => items.iter().all(|i| total(i, in_task)),
        ExprKind::Method { recv, args, .. } => {
            total(recv, in_task) && args.iter().all(|a| total(a, in_task))
        }
        ExprKind::Not(x) => total(x, in_task),
        ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Cmp(_, a, b) | ExprKind::In(a, b) => {
            total(a, in_task) && total(b, in_task)
        }
        ExprKind::Like(x, _) => total(x, in_task),
        _ => false,
    }
}

/// A canonical, span-free text of an expression: equal texts mean
/// structurally equal expressions.
pub fn canon(e: &Expr) -> String {
    let mut s = String::new();
    canon_into(e, &mut s);
    s
}

fn canon_into(e: &Expr, s: &mut String) {
    use std::fmt::Write;
    let many = |s: &mut String, tag: &str, xs: &[&Expr]| {
        s.push('(');
        s.push_str(tag);
        for x in xs {
            s.push(' ');
            canon_into(x, s);
        }
        s.push(')');
    };
    match &e.kind {
        ExprKind::Lit(l) => {
            let _ = write!(s, "{l:?}");
        }
        ExprKind::Set(items) => {
            let v: Vec<&Expr> = items.iter().collect();
            many(s, "set", &v);
        }
        ExprKind::Var(v) => {
            let _ = write!(s, "{v:?}");
        }
        ExprKind::Const(c) => {
            let _ = write!(s, "(const {})", c.index());
        }
        ExprKind::Field {
            base,
            name,
            optional,
        } => {
            let tag = format!("{}{name}", if *optional { "?." } else { "." });
            many(s, &tag, &[base]);
        }
        ExprKind::TaskField(f) => {
            let _ = write!(s, "(task {f:?})");
        }
        ExprKind::Call(f, args) => {
            let v: Vec<&Expr> = args.iter().collect();
            many(s, &format!("call{}", f.index()), &v);
        }
        ExprKind::Method { method, recv, args } => {
            let mut v: Vec<&Expr> = vec![recv];
            v.extend(args.iter());
            many(s, &format!("{method:?}"), &v);
        }
        ExprKind::Not(x) => many(s, "not", &[x]),
        ExprKind::Neg(x) => many(s, "neg", &[x]),
        ExprKind::And(a, b) => many(s, "and", &[a, b]),
        ExprKind::Or(a, b) => many(s, "or", &[a, b]),
        ExprKind::Cmp(op, a, b) => many(s, op.as_str(), &[a, b]),
        ExprKind::Arith(op, a, b) => many(s, &format!("{op:?}"), &[a, b]),
        ExprKind::In(a, b) => many(s, "in", &[a, b]),
        ExprKind::Like(x, p) => many(s, &format!("like {p:?}"), &[x]),
        ExprKind::Default(a, b) => many(s, "??", &[a, b]),
        ExprKind::Has(x) => many(s, "has", &[x]),
        ExprKind::Error => s.push_str("(error)"),
    }
}

// ------------------------------------------------------------------ solving

/// A conjunction of literals.
type Conj = Vec<(usize, bool)>;

/// The disjunctive normal form of `f`, or `None` past the budget.
fn dnf(f: &F) -> Option<Vec<Conj>> {
    match f {
        F::Const(true) => Some(vec![Vec::new()]),
        F::Const(false) => Some(Vec::new()),
        F::Lit(i, p) => Some(vec![vec![(*i, *p)]]),
        F::Or(xs) => {
            let mut out = Vec::new();
            for x in xs {
                out.extend(dnf(x)?);
                if out.len() > BUDGET {
                    return None;
                }
            }
            Some(out)
        }
        F::And(xs) => {
            let mut acc: Vec<Conj> = vec![Vec::new()];
            for x in xs {
                let d = dnf(x)?;
                if acc.len().saturating_mul(d.len()) > BUDGET {
                    return None;
                }
                let mut next = Vec::with_capacity(acc.len() * d.len());
                for a in &acc {
                    for b in &d {
                        let mut c = a.clone();
                        c.extend_from_slice(b);
                        next.push(c);
                    }
                }
                acc = next;
            }
            Some(acc)
        }
    }
}

fn negate(f: &F) -> F {
    match f {
        F::Const(b) => F::Const(!b),
        F::Lit(i, p) => F::Lit(*i, !p),
        F::And(xs) => F::Or(xs.iter().map(negate).collect()),
        F::Or(xs) => F::And(xs.iter().map(negate).collect()),
    }
}

/// Constraints on one path within a conjunction.
#[derive(Default)]
struct PathState {
    lo: i128,
    hi: i128,
    allowed: Option<BTreeSet<Val>>,
    excluded: BTreeSet<Val>,
    truth: Option<bool>,
}

/// Whether the conjunction `c` over `atoms` is satisfiable; a witness if so.
fn sat_conj(c: &Conj, atoms: &Atoms) -> Option<Witness> {
    let mut paths: BTreeMap<&str, PathState> = BTreeMap::new();
    let mut opaque: BTreeMap<&str, bool> = BTreeMap::new();
    // Counts are never negative.
    let fresh = |path: &str| PathState {
        lo: if path == "task.approvals" {
            0
        } else {
            i64::MIN as i128
        },
        hi: i64::MAX as i128,
        ..PathState::default()
    };
    for &(i, pos) in c {
        let atom = atoms.list.get(i)?;
        match atom {
            Atom::Opaque(k) => {
                if *opaque.entry(k).or_insert(pos) != pos {
                    return None;
                }
            }
            Atom::Bool(p) => {
                let st = paths.entry(p).or_insert_with(|| fresh(p));
                if *st.truth.get_or_insert(pos) != pos {
                    return None;
                }
            }
            Atom::Cmp(p, op, v) => {
                let st = paths.entry(p).or_insert_with(|| fresh(p));
                let op = if pos { *op } else { negate_op(*op) };
                match (op, v) {
                    (CmpOp::Eq, v) => {
                        let one: BTreeSet<Val> = [v.clone()].into();
                        st.allowed = Some(match st.allowed.take() {
                            Some(a) => a.intersection(&one).cloned().collect(),
                            None => one,
                        });
                    }
                    (CmpOp::Ne, v) => {
                        st.excluded.insert(v.clone());
                    }
                    (CmpOp::Lt, Val::Int(n)) => st.hi = st.hi.min(*n as i128 - 1),
                    (CmpOp::Le, Val::Int(n)) => st.hi = st.hi.min(*n as i128),
                    (CmpOp::Gt, Val::Int(n)) => st.lo = st.lo.max(*n as i128 + 1),
                    (CmpOp::Ge, Val::Int(n)) => st.lo = st.lo.max(*n as i128),
                    _ => return None,
                }
            }
            Atom::In(p, vals) => {
                let st = paths.entry(p).or_insert_with(|| fresh(p));
                if pos {
                    let set: BTreeSet<Val> = vals.iter().cloned().collect();
                    st.allowed = Some(match st.allowed.take() {
                        Some(a) => a.intersection(&set).cloned().collect(),
                        None => set,
                    });
                } else {
                    st.excluded.extend(vals.iter().cloned());
                }
            }
        }
    }
    let mut witness = Vec::new();
    for (path, st) in &paths {
        let (dom, kind) = atoms.domains.get(*path)?;
        let value = pick(dom, st)?;
        witness.push((path.to_string(), show(&value, dom, *kind)));
    }
    Some(Witness(witness))
}

enum Picked {
    Val(Val),
    Bool(bool),
}

/// A value of `dom` meeting `st`, if there is one.
fn pick(dom: &Domain, st: &PathState) -> Option<Picked> {
    let in_range = |v: &Val| match v {
        Val::Int(n) => (st.lo..=st.hi).contains(&(*n as i128)),
        _ => true,
    };
    if let Some(allowed) = &st.allowed {
        return allowed
            .iter()
            .find(|v| in_range(v) && !st.excluded.contains(*v))
            .cloned()
            .map(Picked::Val);
    }
    match dom {
        Domain::Bool => Some(Picked::Bool(st.truth.unwrap_or(true))),
        Domain::Int => {
            // Prefer small, readable values: 0 if allowed, else the bound
            // nearest to it; skip excluded values (finitely many).
            let start = 0i128.clamp(st.lo, st.hi.max(st.lo));
            let mut candidates = vec![start];
            for v in &st.excluded {
                if let Val::Int(n) = v {
                    candidates.push(*n as i128 + 1);
                    candidates.push(*n as i128 - 1);
                }
            }
            candidates.push(st.lo);
            candidates.push(st.hi);
            candidates
                .into_iter()
                .filter(|n| st.lo <= *n && *n <= st.hi)
                .filter_map(|n| i64::try_from(n).ok())
                .map(Val::Int)
                .find(|v| !st.excluded.contains(v))
                .map(Picked::Val)
        }
        Domain::Str => {
            let mut i = 0usize;
            loop {
                let s = if i == 0 {
                    "x".to_string()
                } else {
                    format!("x{i}")
                };
                let v = Val::Str(s);
                if !st.excluded.contains(&v) {
                    return Some(Picked::Val(v));
                }
                i += 1;
            }
        }
        Domain::Enum(variants) => (0..variants.len() as u32)
            .map(Val::Enum)
            .find(|v| !st.excluded.contains(v))
            .map(Picked::Val),
    }
}

fn show(p: &Picked, dom: &Domain, kind: IntKind) -> String {
    match p {
        Picked::Bool(b) => b.to_string(),
        Picked::Val(Val::Int(n)) => match kind {
            IntKind::Int => n.to_string(),
            IntKind::Time => jitp_runtime::value::Time(*n).to_string(),
            IntKind::Duration => jitp_runtime::value::Duration(*n).to_string(),
        },
        Picked::Val(Val::Str(s)) => format!("{s:?}"),
        Picked::Val(Val::Enum(v)) => match dom {
            Domain::Enum(names) => names
                .get(*v as usize)
                .cloned()
                .unwrap_or_else(|| v.to_string()),
            _ => v.to_string(),
        },
    }
}

/// `Some(Some(w))` satisfiable, `Some(None)` unsatisfiable, `None` unknown.
fn satisfiable(f: &F, atoms: &Atoms) -> Option<Option<Witness>> {
    let d = dnf(f)?;
    Some(d.iter().find_map(|c| sat_conj(c, atoms)))
}

/// Classifies a formula.
pub fn classify(f: &Formula) -> Verdict {
    let Some(pos) = satisfiable(&f.f, &f.atoms) else {
        return Verdict::Unknown;
    };
    let Some(witness) = pos else {
        return Verdict::Never;
    };
    match satisfiable(&negate(&f.f), &f.atoms) {
        Some(None) if f.total => Verdict::Always,
        Some(None) | None => Verdict::Unknown,
        Some(Some(_)) => Verdict::Sometimes(witness),
    }
}

/// A request (as far as the formula's paths go) that satisfies `f`, if
/// the solver can find one.
pub fn example(f: &Formula) -> Option<Witness> {
    satisfiable(&f.f, &f.atoms).flatten()
}

/// Whether every request satisfying `premise` satisfies `conclusion`.
/// `Yes` also requires the conclusion to be total, so it cannot fail
/// where the premise holds.
pub fn implies(premise: &Formula, conclusion: &Formula) -> Answer {
    let mut both = premise.clone();
    let c = both.import(conclusion);
    let query = F::And(vec![both.f.clone(), negate(&c)]);
    match satisfiable(&query, &both.atoms) {
        Some(None) if conclusion.total => Answer::Yes,
        Some(Some(w)) => Answer::No(w),
        _ => Answer::Unknown,
    }
}

/// Whether the premise, wherever it holds, makes the conclusion true or
/// fail: for a guard, failing denies too, so totality is not needed.
pub fn implies_or_fails(premise: &Formula, conclusion: &Formula) -> bool {
    let mut both = premise.clone();
    let c = both.import(conclusion);
    let query = F::And(vec![both.f.clone(), negate(&c)]);
    matches!(satisfiable(&query, &both.atoms), Some(None))
}
