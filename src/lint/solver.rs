//! A small, sound decision procedure over the condition fragment.
//!
//! The fragment: comparisons of request paths (`principal.team`,
//! `context.risk`, `task.approvals`, `now`, …) with constants (integers
//! and negative integers, strings, enum variants, times, durations,
//! booleans, and named constants by their folded values), equality and
//! inequality of two paths, membership of a path in a literal or constant
//! set, boolean paths (also as `flag == true`), optional paths with their
//! presence (`has`, `?.`, `x ?? CONST`), `task.name` inside its own task,
//! and `and`, `or`, `not`. Anything else is an *opaque atom*: a boolean
//! the solver knows nothing about, except that structurally identical
//! atoms have the same value (so `now in context.change?.window` in two
//! rules is one proposition).
//!
//! Evaluation is three-valued, as in the reference interpreter: a
//! condition is true, false, or fails (only arithmetic can fail, and task
//! fields outside a task). A comparison, `in` or `has` on an absent
//! optional is false, never a failure. Each condition is translated into
//! two formulas, "evaluates to true" and "evaluates to false", following
//! the interpreter's left-to-right short-circuit order; an atom that can
//! fail gets a second proposition, "evaluates without failing". Findings
//! ask questions about these formulas: a permit applies when its guard is
//! *true*, a forbid denies unless its guard is *false*.
//!
//! Questions are answered by case analysis over a disjunctive normal form
//! with a size budget, and per conjunction by interval, (in)equality and
//! union–find reasoning. The answers are sound: [`Verdict::Always`],
//! [`Verdict::Never`] and [`Answer::Yes`] are only given when they hold
//! for every request the schema admits; whatever the solver cannot decide
//! (past the budget) is [`Verdict::Unknown`], and the linter reports
//! nothing for it. A witness is *exact* ([`exact_example`]) only when it
//! involves no opaque atom and no relation the solver does not model.

use crate::check::hir::{
    CmpOp, ConstValue, Expr, ExprKind, Literal, Program, Rule, TaskField, TaskId, Type, Var,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How many conjunctions a normal form may have before the solver gives up.
const BUDGET: usize = 512;

/// How many formula nodes one translation may build before it gives up.
const SIZE_BUDGET: usize = 1 << 16;

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
            if value == ABSENT {
                write!(f, "`{path}` absent")?;
            } else {
                write!(f, "`{path} = {value}`")?;
            }
        }
        Ok(())
    }
}

/// How a witness shows an absent optional.
const ABSENT: &str = "\u{0}absent";

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
    /// Strings.
    Str,
    /// An enum with these variant names.
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
    Bool(bool),
}

/// What kind of value an integer-domain path holds, for printing.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum IntKind {
    Int,
    Time,
    Duration,
    /// A `Decimal`, by its count of millionths (ordered exactly as the
    /// decimals are).
    Decimal,
}

/// What the solver knows about a path: its domain, how to print it, and
/// whether it hangs below an optional (its presence then depends on
/// another path's, which the solver does not model).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PathInfo {
    dom: Domain,
    kind: IntKind,
    nested: bool,
}

/// One atomic proposition.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    /// The path's value `op` the constant (for an absent optional, a
    /// value nothing depends on).
    Cmp(String, CmpOp, Val),
    /// The path's value is one of these.
    In(String, Vec<Val>),
    /// A boolean path is true.
    Bool(String),
    /// An optional path is present.
    Present(String),
    /// Two paths (in order) have equal values.
    EqPath(String, String),
    /// Anything else, by canonical text.
    Opaque(String),
    /// The opaque atom of this text evaluates without failing.
    Defined(String),
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

/// `a op b` on two constants of one domain, if defined.
fn eval_op(op: CmpOp, a: &Val, b: &Val) -> Option<bool> {
    Some(match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        _ => {
            let (Val::Int(x), Val::Int(y)) = (a, b) else {
                return None;
            };
            match op {
                CmpOp::Lt => x < y,
                CmpOp::Le => x <= y,
                CmpOp::Gt => x > y,
                _ => x >= y,
            }
        }
    })
}

/// A formula in negation normal form over interned atoms.
#[derive(Clone, Debug)]
enum F {
    Const(bool),
    Lit(usize, bool),
    And(Vec<F>),
    Or(Vec<F>),
}

/// `a and b`, folding constants and flattening nested conjunctions (so a
/// chain of `and`s is one node, whose translation and normal form cost
/// what its length does).
fn and(a: F, b: F) -> F {
    match (a, b) {
        (F::Const(false), _) | (_, F::Const(false)) => F::Const(false),
        (F::Const(true), x) | (x, F::Const(true)) => x,
        (F::And(mut xs), F::And(ys)) => {
            xs.extend(ys);
            F::And(xs)
        }
        (F::And(mut xs), y) => {
            xs.push(y);
            F::And(xs)
        }
        (x, F::And(mut ys)) => {
            ys.insert(0, x);
            F::And(ys)
        }
        (a, b) => F::And(vec![a, b]),
    }
}

/// `a or b`, folding constants and flattening nested disjunctions.
fn or(a: F, b: F) -> F {
    match (a, b) {
        (F::Const(true), _) | (_, F::Const(true)) => F::Const(true),
        (F::Const(false), x) | (x, F::Const(false)) => x,
        (F::Or(mut xs), F::Or(ys)) => {
            xs.extend(ys);
            F::Or(xs)
        }
        (F::Or(mut xs), y) => {
            xs.push(y);
            F::Or(xs)
        }
        (x, F::Or(mut ys)) => {
            ys.insert(0, x);
            F::Or(ys)
        }
        (a, b) => F::Or(vec![a, b]),
    }
}

fn size(f: &F) -> usize {
    match f {
        F::Const(_) | F::Lit(..) => 1,
        F::And(xs) | F::Or(xs) => 1 + xs.iter().map(size).sum::<usize>(),
    }
}

/// A condition translated for the solver: when it evaluates to true, when
/// to false (neither: it fails), over its atoms.
#[derive(Clone, Debug)]
pub struct Formula {
    t: F,
    f: F,
    atoms: Atoms,
    total: bool,
    /// Past the size budget: every question is unknown.
    big: bool,
}

#[derive(Clone, Debug, Default)]
struct Atoms {
    list: Vec<Atom>,
    index: BTreeMap<Atom, usize>,
    paths: BTreeMap<String, PathInfo>,
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

/// One side of a comparison.
enum Operand {
    /// A request path: text, what it holds, whether optional.
    Path(String, PathInfo, bool),
    /// An optional path with a constant default (`x ?? C`).
    Default(String, PathInfo, Val),
    /// A constant.
    Value(Val, Domain, IntKind),
}

/// A translated condition: true-formula, false-formula, and whether it
/// can never fail.
struct Tv {
    t: F,
    f: F,
    total: bool,
}

impl Tv {
    fn total(t: F) -> Tv {
        let f = negate(&t);
        Tv { t, f, total: true }
    }
}

/// Translates expressions of one program.
struct Tr<'p> {
    program: &'p Program,
    task: Option<TaskId>,
    atoms: Atoms,
    nodes: usize,
}

impl Formula {
    /// The condition under which `rule` applies: `when` (true if absent)
    /// holds and `unless` does not. Its "false" side is when the rule
    /// certainly does not apply; neither (a failure) denies.
    pub fn guard(program: &Program, rule: &Rule) -> Formula {
        let mut tr = Tr::new(program, rule.task);
        let when = rule
            .when
            .as_ref()
            .map_or(Tv::total(F::Const(true)), |e| tr.expr(e));
        let unless = rule
            .unless
            .as_ref()
            .map_or(Tv::total(F::Const(false)), |e| tr.expr(e));
        // `when` first; `unless` only when `when` held.
        let t = and(when.t.clone(), unless.f.clone());
        let f = if when.total {
            or(when.f, unless.t)
        } else {
            or(when.f, and(when.t, unless.t))
        };
        tr.finish(Tv {
            t,
            f,
            total: when.total && unless.total,
        })
    }

    /// When `rule` (a permit) allows, as far as its conditions go: it
    /// applies and every `require` holds. (Its "false" side is not
    /// meaningful.)
    pub fn allow(program: &Program, rule: &Rule) -> Formula {
        let mut g = Formula::guard(program, rule);
        for q in &rule.requires {
            let c = Formula::condition(program, rule, &q.cond);
            g = g.and(&c);
        }
        g
    }

    /// One condition (`when`, `unless` or `require`) of `rule`.
    pub fn condition(program: &Program, rule: &Rule, expr: &Expr) -> Formula {
        let mut tr = Tr::new(program, rule.task);
        let tv = tr.expr(expr);
        tr.finish(tv)
    }

    /// A single condition of a rule in some task (`in_task`) or not. Inside
    /// a task `task.name` is not known here; [`Formula::condition`] knows it.
    pub fn of(program: &Program, expr: &Expr, in_task: bool) -> Formula {
        // An id past every task: task fields are present, the name unknown.
        let task = in_task.then_some(TaskId(u32::MAX));
        let mut tr = Tr::new(program, task);
        let tv = tr.expr(expr);
        tr.finish(tv)
    }

    /// `task.approvals == 0`, for a rule in a task.
    pub fn no_approvals() -> Formula {
        let mut atoms = Atoms::default();
        atoms.paths.insert(
            "task.approvals".into(),
            PathInfo {
                dom: Domain::Int,
                kind: IntKind::Int,
                nested: false,
            },
        );
        let i = atoms.intern(Atom::Cmp("task.approvals".into(), CmpOp::Eq, Val::Int(0)));
        Formula {
            t: F::Lit(i, true),
            f: F::Lit(i, false),
            atoms,
            total: true,
            big: false,
        }
    }

    /// Both hold (evaluated one after the other, each on its own: the
    /// conjunction of their "true" sides).
    pub fn and(&self, other: &Formula) -> Formula {
        let mut both = self.clone();
        let (t, f) = both.import(other);
        both.t = and(both.t.clone(), t);
        both.f = or(both.f.clone(), f);
        both.total &= other.total;
        both.big |= other.big;
        both
    }

    /// The formula that holds when this one is not false: for a guard,
    /// when it denies (a failing guard denies too).
    pub fn fires(&self) -> Formula {
        let mut g = self.clone();
        g.t = negate(&self.f);
        g.f = self.f.clone();
        g
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
        self.atoms.paths.keys().cloned().collect()
    }

    /// Rewrites `other`'s atoms into this formula's atom table, so the two
    /// can be combined; its true and false sides.
    fn import(&mut self, other: &Formula) -> (F, F) {
        let map: Vec<usize> = other
            .atoms
            .list
            .iter()
            .map(|a| self.atoms.intern(a.clone()))
            .collect();
        for (k, v) in &other.atoms.paths {
            self.atoms
                .paths
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
        (re(&other.t, &map), re(&other.f, &map))
    }
}

impl<'p> Tr<'p> {
    fn new(program: &'p Program, task: Option<TaskId>) -> Tr<'p> {
        Tr {
            program,
            task,
            atoms: Atoms::default(),
            nodes: 0,
        }
    }

    fn finish(self, tv: Tv) -> Formula {
        let big = self.nodes > SIZE_BUDGET;
        Formula {
            t: if big { F::Const(false) } else { tv.t },
            f: if big { F::Const(false) } else { tv.f },
            atoms: self.atoms,
            total: tv.total,
            big,
        }
    }

    /// Records what path `p` holds (the same for every mention of it).
    fn note_path(&mut self, p: &str, info: &PathInfo) {
        if !self.atoms.paths.contains_key(p) {
            self.atoms.paths.insert(p.to_string(), info.clone());
        }
    }

    fn lit(&mut self, a: Atom) -> F {
        F::Lit(self.atoms.intern(a), true)
    }

    /// The true and false sides of a boolean expression.
    fn expr(&mut self, e: &Expr) -> Tv {
        if self.nodes > SIZE_BUDGET {
            return Tv::total(F::Const(false));
        }
        let tv = self.expr_inner(e);
        self.nodes += size(&tv.t) + size(&tv.f);
        tv
    }

    fn expr_inner(&mut self, e: &Expr) -> Tv {
        match &e.kind {
            ExprKind::Lit(Literal::Bool(b)) => Tv::total(F::Const(*b)),
            ExprKind::Const(_) => match self.value(e) {
                Some((Val::Bool(b), _, _)) => Tv::total(F::Const(b)),
                _ => self.opaque(e),
            },
            ExprKind::Not(x) => {
                let x = self.expr(x);
                Tv {
                    t: x.f,
                    f: x.t,
                    total: x.total,
                }
            }
            ExprKind::And(a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                let total = a.total && b.total;
                // `b` is only evaluated when `a` is true.
                let f = if a.total {
                    or(a.f, b.f)
                } else {
                    or(a.f, and(a.t.clone(), b.f))
                };
                Tv {
                    t: and(a.t, b.t),
                    f,
                    total,
                }
            }
            ExprKind::Or(a, b) => {
                let (a, b) = (self.expr(a), self.expr(b));
                let total = a.total && b.total;
                let t = if a.total {
                    or(a.t, b.t)
                } else {
                    or(a.t, and(a.f.clone(), b.t))
                };
                Tv {
                    t,
                    f: and(a.f, b.f),
                    total,
                }
            }
            ExprKind::Cmp(op, l, r) => match (self.operand(l), self.operand(r)) {
                (Some(a), Some(b)) => self.compare(*op, a, b).unwrap_or_else(|| self.opaque(e)),
                _ => self.opaque(e),
            },
            ExprKind::In(l, r) => match (self.operand(l), self.set(r)) {
                (Some(a), Some(vals)) => self.member(a, vals).unwrap_or_else(|| self.opaque(e)),
                _ => self.opaque(e),
            },
            ExprKind::Has(x) => match self.operand(x) {
                Some(Operand::Path(p, info, true)) => {
                    self.note_path(&p, &info);
                    Tv::total(self.lit(Atom::Present(p)))
                }
                Some(Operand::Path(_, _, false)) => Tv::total(F::Const(true)),
                _ => self.opaque(e),
            },
            // A boolean field, or `x ?? C` of an optional boolean one: the
            // comparison with `true`.
            _ if e.ty == Type::Bool => match self.operand(e) {
                Some(
                    o @ (Operand::Path(
                        _,
                        PathInfo {
                            dom: Domain::Bool, ..
                        },
                        false,
                    )
                    | Operand::Default(
                        _,
                        PathInfo {
                            dom: Domain::Bool, ..
                        },
                        _,
                    )),
                ) => {
                    let yes = Operand::Value(Val::Bool(true), Domain::Bool, IntKind::Int);
                    self.compare(CmpOp::Eq, o, yes)
                        .unwrap_or_else(|| self.opaque(e))
                }
                _ => self.opaque(e),
            },
            _ => self.opaque(e),
        }
    }

    fn opaque(&mut self, e: &Expr) -> Tv {
        let text = canon(e);
        let a = self.lit(Atom::Opaque(text.clone()));
        if total(e, self.task.is_some()) {
            return Tv::total(a);
        }
        let d = self.lit(Atom::Defined(text));
        Tv {
            t: and(d.clone(), a.clone()),
            f: and(d, negate(&a)),
            total: false,
        }
    }

    /// `a op b`, if both are in the fragment and of one domain.
    fn compare(&mut self, op: CmpOp, a: Operand, b: Operand) -> Option<Tv> {
        use Operand::*;
        match (a, b) {
            (Value(x, dx, _), Value(y, dy, _)) => {
                if dx != dy {
                    return None;
                }
                Some(Tv::total(F::Const(eval_op(op, &x, &y)?)))
            }
            (Value(v, d, k), other) => self.compare(flip_op(op), other, Value(v, d, k)),
            (Path(p, info, optional), Value(v, dom, kind)) => {
                if info.dom != dom || (dom == Domain::Int && info.kind != kind) {
                    return None;
                }
                let atom = self.value_atom(&p, &info, op, v)?;
                Some(self.present_and(&p, optional, atom))
            }
            (Default(p, info, dflt), Value(v, dom, kind)) => {
                if info.dom != dom || (dom == Domain::Int && info.kind != kind) {
                    return None;
                }
                let k = eval_op(op, &dflt, &v)?;
                let atom = self.value_atom(&p, &info, op, v)?;
                Some(self.present_or_default(&p, atom, k))
            }
            (Path(p, ip, op_p), Path(q, iq, op_q)) => {
                if ip.dom != iq.dom || ip.kind != iq.kind || !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return None;
                }
                if p == q {
                    // `x == x`: true when present.
                    self.note_path(&p, &ip);
                    let t = F::Const(op == CmpOp::Eq);
                    return Some(self.present_and(&p, op_p, t));
                }
                let boolean = ip.dom == Domain::Bool;
                self.note_path(&p, &ip);
                self.note_path(&q, &iq);
                let (px, py) = (self.presence(&p, op_p), self.presence(&q, op_q));
                let eq = if boolean {
                    // Two booleans are equal when both hold or neither does.
                    let (a, b) = (self.lit(Atom::Bool(p)), self.lit(Atom::Bool(q)));
                    or(and(a.clone(), b.clone()), and(negate(&a), negate(&b)))
                } else {
                    let (x, y) = if p < q { (p, q) } else { (q, p) };
                    self.lit(Atom::EqPath(x, y))
                };
                let atom = if op == CmpOp::Eq { eq } else { negate(&eq) };
                let both = and(px, py);
                Some(Tv {
                    t: and(both.clone(), atom.clone()),
                    f: or(negate(&both), negate(&atom)),
                    total: true,
                })
            }
            _ => None,
        }
    }

    /// The atom `path op v` over the path's value (a boolean path
    /// compared with `true` or `false` is the path or its negation).
    fn value_atom(&mut self, p: &str, info: &PathInfo, op: CmpOp, v: Val) -> Option<F> {
        let ordered = info.dom == Domain::Int;
        if !ordered && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            return None;
        }
        self.note_path(p, info);
        if info.dom == Domain::Bool {
            let Val::Bool(b) = v else { return None };
            let positive = b == (op == CmpOp::Eq);
            let a = self.lit(Atom::Bool(p.to_string()));
            return Some(if positive { a } else { negate(&a) });
        }
        Some(self.lit(Atom::Cmp(p.to_string(), op, v)))
    }

    /// The presence of a path: a proposition if optional, else true.
    fn presence(&mut self, p: &str, optional: bool) -> F {
        if optional {
            self.lit(Atom::Present(p.to_string()))
        } else {
            F::Const(true)
        }
    }

    /// An atom over an optional path's value: false when absent.
    fn present_and(&mut self, p: &str, optional: bool, atom: F) -> Tv {
        if !optional {
            return Tv::total(atom);
        }
        let present = self.presence(p, true);
        Tv {
            t: and(present.clone(), atom.clone()),
            f: or(negate(&present), negate(&atom)),
            total: true,
        }
    }

    /// An atom over `p ?? C`: the atom when present, `k` (the constant's
    /// answer) when absent.
    fn present_or_default(&mut self, p: &str, atom: F, k: bool) -> Tv {
        let present = self.presence(p, true);
        Tv {
            t: or(
                and(present.clone(), atom.clone()),
                and(negate(&present), F::Const(k)),
            ),
            f: or(
                and(present.clone(), negate(&atom)),
                and(negate(&present), F::Const(!k)),
            ),
            total: true,
        }
    }

    /// `a in {vals}`.
    fn member(&mut self, a: Operand, vals: Vec<(Val, Domain, IntKind)>) -> Option<Tv> {
        let fits = |info: &PathInfo, vals: &[(Val, Domain, IntKind)]| {
            info.dom != Domain::Bool
                && vals
                    .iter()
                    .all(|(_, d, k)| *d == info.dom && (*d != Domain::Int || *k == info.kind))
        };
        let sorted = |vals: Vec<(Val, Domain, IntKind)>| {
            let mut v: Vec<Val> = vals.into_iter().map(|v| v.0).collect();
            v.sort();
            v.dedup();
            v
        };
        match a {
            Operand::Value(v, d, _) => {
                if vals.iter().any(|(_, e, _)| *e != d) {
                    return None;
                }
                Some(Tv::total(F::Const(vals.iter().any(|(x, _, _)| *x == v))))
            }
            Operand::Path(p, info, optional) => {
                if !fits(&info, &vals) {
                    return None;
                }
                self.note_path(&p, &info);
                let atom = self.lit(Atom::In(p.clone(), sorted(vals)));
                Some(self.present_and(&p, optional, atom))
            }
            Operand::Default(p, info, d) => {
                if !fits(&info, &vals) {
                    return None;
                }
                let k = vals.iter().any(|(x, _, _)| *x == d);
                self.note_path(&p, &info);
                let atom = self.lit(Atom::In(p.clone(), sorted(vals)));
                Some(self.present_or_default(&p, atom, k))
            }
        }
    }

    /// The values of a literal or constant set of constants.
    fn set(&self, e: &Expr) -> Option<Vec<(Val, Domain, IntKind)>> {
        match &e.kind {
            ExprKind::Set(items) => items.iter().map(|i| self.value(i)).collect(),
            ExprKind::Const(c) => {
                let def = self.program.consts.get(c.index())?;
                let (ConstValue::Set(items), Type::Set(elem)) = (def.folded.as_ref()?, &def.ty)
                else {
                    return None;
                };
                items.iter().map(|v| self.const_value(v, elem)).collect()
            }
            _ => None,
        }
    }

    /// One side of a comparison, if in the fragment.
    fn operand(&self, e: &Expr) -> Option<Operand> {
        if let Some((v, d, k)) = self.value(e) {
            return Some(Operand::Value(v, d, k));
        }
        if let ExprKind::Default(a, b) = &e.kind {
            let (p, info, optional) = self.path(a)?;
            let (v, _, _) = self.value(b)?;
            return optional.then_some(Operand::Default(p, info, v));
        }
        let (p, info, optional) = self.path(e)?;
        Some(Operand::Path(p, info, optional))
    }

    fn domain(&self, ty: &Type) -> Option<(Domain, IntKind)> {
        Some(match ty {
            Type::Int => (Domain::Int, IntKind::Int),
            Type::Time => (Domain::Int, IntKind::Time),
            Type::Duration => (Domain::Int, IntKind::Duration),
            Type::Decimal => (Domain::Int, IntKind::Decimal),
            Type::String => (Domain::Str, IntKind::Int),
            Type::Bool => (Domain::Bool, IntKind::Int),
            Type::Enum(id) => (
                Domain::Enum(self.program.enums.get(id.index())?.variants.clone()),
                IntKind::Int,
            ),
            _ => return None,
        })
    }

    /// A request path with its domain and whether it is optional.
    fn path(&self, e: &Expr) -> Option<(String, PathInfo, bool)> {
        let (dom, kind) = self.domain(e.ty.unwrap_optional())?;
        let (text, nested) = path_text(e, self.task.is_some())?;
        Some((text, PathInfo { dom, kind, nested }, e.ty.is_optional()))
    }

    /// A constant of the fragment: a literal, a negated literal, a named
    /// constant's folded value, or `task.name` inside its task.
    fn value(&self, e: &Expr) -> Option<(Val, Domain, IntKind)> {
        match &e.kind {
            ExprKind::Lit(l) => Some(match l {
                Literal::Int(i) => (Val::Int(*i), Domain::Int, IntKind::Int),
                Literal::Time(t) => (Val::Int(t.0), Domain::Int, IntKind::Time),
                Literal::Duration(d) => (Val::Int(d.0), Domain::Int, IntKind::Duration),
                Literal::Decimal(d) => (Val::Int(d.0), Domain::Int, IntKind::Decimal),
                Literal::Str(s) => (Val::Str(s.clone()), Domain::Str, IntKind::Int),
                Literal::Bool(b) => (Val::Bool(*b), Domain::Bool, IntKind::Int),
                Literal::Enum(id, v) => (
                    Val::Enum(*v),
                    Domain::Enum(self.program.enums.get(id.index())?.variants.clone()),
                    IntKind::Int,
                ),
                _ => return None,
            }),
            ExprKind::Const(c) => {
                let def = self.program.consts.get(c.index())?;
                self.const_value(def.folded.as_ref()?, &def.ty)
            }
            ExprKind::Neg(x) => match self.value(x)? {
                (
                    Val::Int(n),
                    Domain::Int,
                    k @ (IntKind::Int | IntKind::Duration | IntKind::Decimal),
                ) => Some((Val::Int(n.checked_neg()?), Domain::Int, k)),
                _ => None,
            },
            ExprKind::TaskField(TaskField::Name) => {
                let t = self.program.tasks.get(self.task?.index())?;
                Some((Val::Str(t.name.clone()), Domain::Str, IntKind::Int))
            }
            _ => None,
        }
    }

    fn const_value(&self, v: &ConstValue, ty: &Type) -> Option<(Val, Domain, IntKind)> {
        Some(match (v, ty) {
            (ConstValue::Bool(b), _) => (Val::Bool(*b), Domain::Bool, IntKind::Int),
            (ConstValue::Int(i), _) => (Val::Int(*i), Domain::Int, IntKind::Int),
            (ConstValue::Time(t), _) => (Val::Int(*t), Domain::Int, IntKind::Time),
            (ConstValue::Dur(d), _) => (Val::Int(*d), Domain::Int, IntKind::Duration),
            (ConstValue::Dec(d), _) => (Val::Int(*d), Domain::Int, IntKind::Decimal),
            (ConstValue::Str(s), _) => (Val::Str(s.clone()), Domain::Str, IntKind::Int),
            (ConstValue::Enum(i), Type::Enum(id)) => (
                Val::Enum(*i),
                Domain::Enum(self.program.enums.get(id.index())?.variants.clone()),
                IntKind::Int,
            ),
            _ => return None,
        })
    }
}

/// The text of a request path, if `e` is one, and whether a path above it
/// is optional (its presence then depends on that one's).
fn path_text(e: &Expr, in_task: bool) -> Option<(String, bool)> {
    match &e.kind {
        ExprKind::Var(Var::Now) => Some(("now".into(), false)),
        ExprKind::Var(Var::Principal) => Some(("principal".into(), false)),
        ExprKind::Var(Var::Resource) => Some(("resource".into(), false)),
        ExprKind::Var(Var::Context) => Some(("context".into(), false)),
        ExprKind::Var(Var::Evidence) => Some(("evidence".into(), false)),
        ExprKind::Var(Var::TaskParams(_)) if in_task => Some(("task.params".into(), false)),
        // Outside a task a request may carry no task at all.
        ExprKind::TaskField(f) if in_task => TaskField::ALL
            .iter()
            .find(|(g, _)| g == f)
            .map(|(_, n)| (format!("task.{n}"), false)),
        ExprKind::Field {
            base,
            name,
            optional,
        } => {
            let (text, nested) = path_text(base, in_task)?;
            let dot = if *optional { "?." } else { "." };
            Some((
                format!("{text}{dot}{name}"),
                nested || base.ty.is_optional(),
            ))
        }
        _ => None,
    }
}

/// Whether evaluating `e` can never fail. Only arithmetic can (overflow),
/// and task fields outside a task (no task in the request); absent
/// optionals make comparisons false, not failures. Calls are not looked
/// into.
fn total(e: &Expr, in_task: bool) -> bool {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Const(_) => true,
        ExprKind::Var(v) => !matches!(v, Var::Param(_) | Var::Task),
        ExprKind::TaskField(_) => in_task,
        ExprKind::Field { base, .. } => total(base, in_task),
        ExprKind::Set(items) => items.iter().all(|i| total(i, in_task)),
        ExprKind::Method { recv, args, .. } => {
            total(recv, in_task) && args.iter().all(|a| total(a, in_task))
        }
        ExprKind::Not(x) | ExprKind::Has(x) | ExprKind::Like(x, _) => total(x, in_task),
        ExprKind::Neg(x) => matches!(x.kind, ExprKind::Lit(_)),
        ExprKind::And(a, b)
        | ExprKind::Or(a, b)
        | ExprKind::Cmp(_, a, b)
        | ExprKind::In(a, b)
        | ExprKind::Default(a, b) => total(a, in_task) && total(b, in_task),
        ExprKind::Arith(..) | ExprKind::Call(..) | ExprKind::Error => false,
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
///
/// Nested `and`s are flattened first and every conjunct whose form is a
/// single conjunction (a literal, most often) joins one shared prefix, so
/// only the conjuncts that really branch are multiplied out: a chain of
/// `a and b and (c or d)` costs two conjunctions, not one copy per level.
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
            let mut prefix: Conj = Vec::new();
            let mut branching: Vec<Vec<Conj>> = Vec::new();
            if !conjuncts_into(xs, &mut prefix, &mut branching)? {
                return Some(Vec::new());
            }
            let mut acc: Vec<Conj> = vec![prefix];
            for d in branching {
                if acc.len().saturating_mul(d.len()) > BUDGET {
                    return None;
                }
                let mut next = Vec::with_capacity(acc.len() * d.len());
                for a in &acc {
                    for b in &d {
                        let mut c = Vec::with_capacity(a.len() + b.len());
                        c.extend_from_slice(a);
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

/// Sorts the conjuncts `xs` (flattening nested `and`s) into literals that
/// always hold together (`prefix`) and normal forms with several cases
/// (`branching`). `Some(false)` when a conjunct is false; `None` past the
/// budget.
fn conjuncts_into(xs: &[F], prefix: &mut Conj, branching: &mut Vec<Vec<Conj>>) -> Option<bool> {
    for x in xs {
        match x {
            F::Const(true) => {}
            F::Const(false) => return Some(false),
            F::Lit(i, p) => prefix.push((*i, *p)),
            F::And(ys) => {
                if !conjuncts_into(ys, prefix, branching)? {
                    return Some(false);
                }
            }
            F::Or(_) => {
                let mut d = dnf(x)?;
                match d.len() {
                    0 => return Some(false),
                    1 => prefix.extend(d.pop().unwrap_or_default()),
                    _ => branching.push(d),
                }
            }
        }
    }
    Some(true)
}

fn negate(f: &F) -> F {
    match f {
        F::Const(b) => F::Const(!b),
        F::Lit(i, p) => F::Lit(*i, !p),
        F::And(xs) => F::Or(xs.iter().map(negate).collect()),
        F::Or(xs) => F::And(xs.iter().map(negate).collect()),
    }
}

/// Constraints on one path (or one class of equal paths) within a
/// conjunction.
#[derive(Clone)]
struct PathState {
    lo: i128,
    hi: i128,
    allowed: Option<BTreeSet<Val>>,
    excluded: BTreeSet<Val>,
    truth: Option<bool>,
}

impl PathState {
    fn fresh(path: &str) -> PathState {
        PathState {
            // Counts are never negative.
            lo: if path == "task.approvals" {
                0
            } else {
                i64::MIN as i128
            },
            hi: i64::MAX as i128,
            allowed: None,
            excluded: BTreeSet::new(),
            truth: None,
        }
    }

    fn allow(&mut self, set: BTreeSet<Val>) {
        self.allowed = Some(match self.allowed.take() {
            Some(a) => a.intersection(&set).cloned().collect(),
            None => set,
        });
    }

    /// Both constraints at once (two paths found equal).
    fn merge(&mut self, o: PathState) -> bool {
        self.lo = self.lo.max(o.lo);
        self.hi = self.hi.min(o.hi);
        if let Some(a) = o.allowed {
            self.allow(a);
        }
        self.excluded.extend(o.excluded);
        match (self.truth, o.truth) {
            (Some(a), Some(b)) if a != b => return false,
            (None, b) => self.truth = b,
            _ => {}
        }
        true
    }
}

/// What one conjunction is.
enum ConjResult {
    /// Satisfiable: a witness, and whether it is exact (no opaque atom,
    /// no relation the solver does not model).
    Sat(Witness, bool, Option<Model>),
    /// Unsatisfiable.
    Unsat,
    /// Could not tell.
    Unknown,
}

fn find(parent: &mut BTreeMap<String, String>, x: &str) -> String {
    let mut cur = x.to_string();
    let mut seen = Vec::new();
    while let Some(p) = parent.get(&cur) {
        if *p == cur {
            break;
        }
        seen.push(cur.clone());
        cur = p.clone();
    }
    for s in seen {
        parent.insert(s, cur.clone());
    }
    cur
}

/// Whether the conjunction `c` over `atoms` is satisfiable.
fn sat_conj(c: &Conj, atoms: &Atoms) -> ConjResult {
    sat_conj_model(c, atoms, false).0
}

/// [`sat_conj`], and the assignment it found (values picked at the upper
/// ends of ranges if `high`).
fn sat_conj_model(c: &Conj, atoms: &Atoms, high: bool) -> (ConjResult, Option<Model>) {
    let r = sat_conj_inner(c, atoms, high);
    match r {
        ConjResult::Sat(w, e, m) => (ConjResult::Sat(w, e, None), m),
        other => (other, None),
    }
}

fn sat_conj_inner(c: &Conj, atoms: &Atoms, high: bool) -> ConjResult {
    let mut paths: BTreeMap<&str, PathState> = BTreeMap::new();
    let mut props: BTreeMap<usize, bool> = BTreeMap::new();
    let mut present: BTreeMap<&str, bool> = BTreeMap::new();
    let mut eqs: Vec<(&str, &str)> = Vec::new();
    let mut nes: Vec<(&str, &str)> = Vec::new();
    let mut exact = true;
    for &(i, pos) in c {
        let Some(atom) = atoms.list.get(i) else {
            return ConjResult::Unknown;
        };
        // The path's constraints, updated in place.
        macro_rules! st {
            ($p:expr) => {
                paths
                    .entry($p.as_str())
                    .or_insert_with(|| PathState::fresh($p))
            };
        }
        match atom {
            Atom::Opaque(_) | Atom::Defined(_) => {
                exact = false;
                if *props.entry(i).or_insert(pos) != pos {
                    return ConjResult::Unsat;
                }
            }
            Atom::Present(p) => {
                if *present.entry(p).or_insert(pos) != pos {
                    return ConjResult::Unsat;
                }
            }
            Atom::EqPath(p, q) => {
                if pos {
                    eqs.push((p, q));
                } else {
                    nes.push((p, q));
                }
            }
            Atom::Bool(p) => {
                if *st!(p).truth.get_or_insert(pos) != pos {
                    return ConjResult::Unsat;
                }
            }
            Atom::Cmp(p, op, v) => {
                let s = st!(p);
                let op = if pos { *op } else { negate_op(*op) };
                match (op, v) {
                    (CmpOp::Eq, v) => s.allow([v.clone()].into()),
                    (CmpOp::Ne, v) => {
                        s.excluded.insert(v.clone());
                    }
                    (CmpOp::Lt, Val::Int(n)) => s.hi = s.hi.min(*n as i128 - 1),
                    (CmpOp::Le, Val::Int(n)) => s.hi = s.hi.min(*n as i128),
                    (CmpOp::Gt, Val::Int(n)) => s.lo = s.lo.max(*n as i128 + 1),
                    (CmpOp::Ge, Val::Int(n)) => s.lo = s.lo.max(*n as i128),
                    _ => return ConjResult::Unknown,
                }
            }
            Atom::In(p, vals) => {
                let s = st!(p);
                if pos {
                    s.allow(vals.iter().cloned().collect());
                } else {
                    s.excluded.extend(vals.iter().cloned());
                }
            }
        }
    }
    // Classes of equal paths.
    for (p, q) in eqs.iter().chain(nes.iter()) {
        for x in [*p, *q] {
            paths.entry(x).or_insert_with(|| PathState::fresh(x));
        }
    }
    let mut parent: BTreeMap<String, String> = BTreeMap::new();
    if !eqs.is_empty() || !nes.is_empty() {
        for p in paths.keys() {
            parent.insert(p.to_string(), p.to_string());
        }
    }
    let root = |parent: &mut BTreeMap<String, String>, p: &str| -> String {
        if parent.is_empty() {
            p.to_string()
        } else {
            find(parent, p)
        }
    };
    for (p, q) in &eqs {
        let (a, b) = (root(&mut parent, p), root(&mut parent, q));
        if a != b {
            parent.insert(b.clone(), a.clone());
            let Some(sb) = paths.get(b.as_str()).cloned() else {
                return ConjResult::Unknown;
            };
            let Some(sa) = paths.get_mut(a.as_str()) else {
                return ConjResult::Unknown;
            };
            if !sa.merge(sb) {
                return ConjResult::Unsat;
            }
        }
    }
    let mut apart: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (p, q) in &nes {
        let (a, b) = (root(&mut parent, p), root(&mut parent, q));
        if a == b {
            return ConjResult::Unsat;
        }
        apart.entry(a.clone()).or_default().insert(b.clone());
        apart.entry(b).or_default().insert(a);
    }
    // A value per class, apart from the values of the classes it must
    // differ from: greedily first (values near 0 read best), then, if
    // that fails, by a bounded search over the few candidate values each
    // class needs.
    let names: Vec<&str> = paths.keys().copied().collect();
    let mut roots: Vec<String> = Vec::new();
    for p in &names {
        let r = root(&mut parent, p);
        if !roots.contains(&r) {
            roots.push(r);
        }
    }
    let mut chosen: BTreeMap<String, Picked> = BTreeMap::new();
    let mut greedy_failed = false;
    for r in &roots {
        let Some(info) = atoms.paths.get(r) else {
            return ConjResult::Unknown;
        };
        let Some(mut st) = paths.get(r.as_str()).cloned() else {
            return ConjResult::Unknown;
        };
        // Unsatisfiable on its own: the conjunction is.
        if pick(&info.dom, &st).is_none() {
            return ConjResult::Unsat;
        }
        for o in apart.get(r).into_iter().flatten() {
            if let Some(Picked::Val(v)) = chosen.get(o) {
                st.excluded.insert(v.clone());
            }
        }
        match pick_at(&info.dom, &st, high) {
            Some(v) => {
                chosen.insert(r.clone(), v);
            }
            None => {
                greedy_failed = true;
                break;
            }
        }
    }
    if greedy_failed {
        match colour(&roots, &paths, &apart, atoms) {
            Colouring::Found(c) => chosen = c,
            Colouring::Impossible => return ConjResult::Unsat,
            Colouring::TooLarge => return ConjResult::Unknown,
        }
    }
    let mut witness = Vec::new();
    let mut mentioned: BTreeSet<&str> = BTreeSet::new();
    for p in &names {
        let Some(info) = atoms.paths.get(*p) else {
            return ConjResult::Unknown;
        };
        exact &= !info.nested;
        mentioned.insert(p);
        let shown = if present.get(p) == Some(&false) {
            ABSENT.to_string()
        } else {
            let r = root(&mut parent, p);
            match chosen.get(&r) {
                Some(v) => show(v, &info.dom, info.kind),
                None => return ConjResult::Unknown,
            }
        };
        witness.push((p.to_string(), shown));
    }
    for (p, is) in &present {
        if let Some(info) = atoms.paths.get(*p) {
            exact &= !info.nested;
        } else {
            // A presence atom of a path whose value nothing reads (`has`):
            // it may hang below an optional.
            exact &= !p.contains("?.");
        }
        if mentioned.contains(p) {
            continue;
        }
        if !is {
            witness.push((p.to_string(), ABSENT.to_string()));
            continue;
        }
        // Present, whatever its value: show one.
        let shown = atoms.paths.get(*p).and_then(|info| {
            Some(show(
                &pick(&info.dom, &PathState::fresh(p))?,
                &info.dom,
                info.kind,
            ))
        });
        match shown {
            Some(v) => witness.push((p.to_string(), v)),
            None => exact = false,
        }
    }
    // The task's start and `now` are related through its ttl.
    if mentioned.contains("now") && mentioned.contains("task.started_at") {
        exact = false;
    }
    witness.sort();
    let mut model = Model::default();
    for p in &names {
        let r = root(&mut parent, p);
        if let Some(v) = chosen.get(&r) {
            model.vals.insert(p.to_string(), v.clone());
        }
    }
    for (p, is) in present {
        model.present.insert(p.to_string(), is);
    }
    for (i, v) in props {
        if let Some(a) = atoms.list.get(i) {
            model.props.insert(a.clone(), v);
        }
    }
    ConjResult::Sat(Witness(witness), exact, Some(model))
}

/// How many assignments [`colour`] may try before it gives up.
const COLOUR_BUDGET: usize = 4096;

enum Colouring {
    Found(BTreeMap<String, Picked>),
    Impossible,
    TooLarge,
}

/// Values for the classes `roots` (each meeting its own constraints)
/// such that classes that must differ do: an exhaustive, bounded search.
/// A class with more candidate values than classes it must differ from
/// always has one left, so each class needs at most that many candidates
/// plus one, and the search over them is complete.
fn colour(
    roots: &[String],
    paths: &BTreeMap<&str, PathState>,
    apart: &BTreeMap<String, BTreeSet<String>>,
    atoms: &Atoms,
) -> Colouring {
    let mut cands: Vec<Vec<Picked>> = Vec::new();
    for r in roots {
        let (Some(info), Some(st)) = (atoms.paths.get(r), paths.get(r.as_str())) else {
            return Colouring::TooLarge;
        };
        let need = apart.get(r).map_or(0, BTreeSet::len) + 1;
        let mut st = st.clone();
        let mut list = Vec::new();
        while list.len() < need {
            match pick(&info.dom, &st) {
                Some(Picked::Val(v)) => {
                    st.excluded.insert(v.clone());
                    list.push(Picked::Val(v));
                }
                Some(b @ Picked::Bool(_)) => {
                    list.push(b);
                    break;
                }
                None => break,
            }
        }
        if list.is_empty() {
            return Colouring::Impossible;
        }
        cands.push(list);
    }
    let index: BTreeMap<&str, usize> = roots
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let mut at = vec![0usize; roots.len()];
    let mut k = 0usize;
    let mut steps = 0usize;
    // Depth-first: class `k` takes its `at[k]`-th candidate if no earlier
    // class it must differ from has that value.
    loop {
        if k == roots.len() {
            let found = roots
                .iter()
                .zip(&at)
                .zip(&cands)
                .filter_map(|((r, &i), c)| Some((r.clone(), c.get(i)?.clone())))
                .collect();
            return Colouring::Found(found);
        }
        steps += 1;
        if steps > COLOUR_BUDGET {
            return Colouring::TooLarge;
        }
        let Some(v) = cands.get(k).and_then(|c| c.get(at[k])) else {
            // Exhausted: back up.
            at[k] = 0;
            if k == 0 {
                return Colouring::Impossible;
            }
            k -= 1;
            at[k] += 1;
            continue;
        };
        let clash = apart
            .get(&roots[k])
            .into_iter()
            .flatten()
            .filter_map(|o| index.get(o.as_str()))
            .filter(|&&j| j < k)
            .any(|&j| cands[j].get(at[j]).is_some_and(|w| same(w, v)));
        if clash {
            at[k] += 1;
        } else {
            k += 1;
        }
    }
}

fn same(a: &Picked, b: &Picked) -> bool {
    match (a, b) {
        (Picked::Val(x), Picked::Val(y)) => x == y,
        (Picked::Bool(x), Picked::Bool(y)) => x == y,
        _ => false,
    }
}

#[derive(Clone)]
enum Picked {
    Val(Val),
    Bool(bool),
}

/// A value of `dom` meeting `st`, if there is one: near 0, or (`high`)
/// the largest integer allowed.
fn pick_at(dom: &Domain, st: &PathState, high: bool) -> Option<Picked> {
    if high && *dom == Domain::Int && st.allowed.is_none() {
        let top = (st.hi..=st.hi).chain(st.excluded.iter().rev().filter_map(|v| match v {
            Val::Int(n) => Some(*n as i128 - 1),
            _ => None,
        }));
        let found = top
            .filter(|n| st.lo <= *n && *n <= st.hi)
            .filter_map(|n| i64::try_from(n).ok())
            .map(Val::Int)
            .find(|v| !st.excluded.contains(v));
        if let Some(v) = found {
            return Some(Picked::Val(v));
        }
    }
    pick(dom, st)
}

/// A value of `dom` meeting `st`, if there is one.
fn pick(dom: &Domain, st: &PathState) -> Option<Picked> {
    let in_range = |v: &Val| match v {
        Val::Int(n) => (st.lo..=st.hi).contains(&(*n as i128)),
        _ => true,
    };
    if *dom == Domain::Bool {
        return Some(Picked::Bool(st.truth.unwrap_or(true)));
    }
    if let Some(allowed) = &st.allowed {
        return allowed
            .iter()
            .find(|v| in_range(v) && !st.excluded.contains(*v))
            .cloned()
            .map(Picked::Val);
    }
    match dom {
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
        Domain::Bool => None,
    }
}

fn show(p: &Picked, dom: &Domain, kind: IntKind) -> String {
    match p {
        Picked::Bool(b) => b.to_string(),
        Picked::Val(Val::Bool(b)) => b.to_string(),
        Picked::Val(Val::Int(n)) => match kind {
            IntKind::Int => n.to_string(),
            IntKind::Time => jitp_runtime::value::Time(*n).to_string(),
            IntKind::Duration => jitp_runtime::value::Duration(*n).to_string(),
            IntKind::Decimal => jitp_runtime::value::Decimal(*n).to_string(),
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

/// What a formula's satisfiability is.
enum Sat {
    /// Satisfiable: a witness (exact if one was found).
    Yes(Witness),
    /// Unsatisfiable.
    No,
    /// Cannot tell.
    Unknown,
}

fn satisfiable(f: &F, atoms: &Atoms, big: bool) -> Sat {
    if big {
        return Sat::Unknown;
    }
    let Some(d) = dnf(f) else {
        return Sat::Unknown;
    };
    let mut unknown = false;
    let mut inexact = None;
    for c in &d {
        match sat_conj(c, atoms) {
            ConjResult::Sat(w, true, _) => return Sat::Yes(w),
            ConjResult::Sat(w, false, _) => {
                inexact.get_or_insert(w);
            }
            ConjResult::Unsat => {}
            ConjResult::Unknown => unknown = true,
        }
    }
    match inexact {
        Some(w) => Sat::Yes(w),
        None if unknown => Sat::Unknown,
        None => Sat::No,
    }
}

/// Classifies a formula: whether it evaluates to true for every request,
/// for none, or for some.
pub fn classify(f: &Formula) -> Verdict {
    let witness = match satisfiable(&f.t, &f.atoms, f.big) {
        Sat::Unknown => return Verdict::Unknown,
        Sat::No => return Verdict::Never,
        Sat::Yes(w) => w,
    };
    match satisfiable(&negate(&f.t), &f.atoms, f.big) {
        Sat::No => Verdict::Always,
        Sat::Unknown => Verdict::Unknown,
        Sat::Yes(_) => Verdict::Sometimes(witness),
    }
}

/// A request (as far as the formula's paths go) that makes `f` true, if
/// the solver can find one. It may assume opaque atoms true that no
/// request makes true; see [`exact_example`].
pub fn example(f: &Formula) -> Option<Witness> {
    match satisfiable(&f.t, &f.atoms, f.big) {
        Sat::Yes(w) => Some(w),
        _ => None,
    }
}

/// A request that certainly makes `f` true: found without opaque atoms
/// and without relations the solver does not model, so a request with
/// these values (and any others) exists.
pub fn exact_example(f: &Formula) -> Option<Witness> {
    let d = (!f.big).then(|| dnf(&f.t)).flatten()?;
    d.iter().find_map(|c| match sat_conj(c, &f.atoms) {
        ConjResult::Sat(w, true, _) => Some(w),
        _ => None,
    })
}

/// Whether every request on which `premise` is true makes `conclusion`
/// true (evaluated, not failing).
pub fn implies(premise: &Formula, conclusion: &Formula) -> Answer {
    let mut both = premise.clone();
    let (t, _) = both.import(conclusion);
    let query = and(both.t.clone(), negate(&t));
    match satisfiable(&query, &both.atoms, premise.big || conclusion.big) {
        Sat::No => Answer::Yes,
        Sat::Yes(w) => Answer::No(w),
        Sat::Unknown => Answer::Unknown,
    }
}

/// Whether every request on which `premise` is true makes `conclusion`
/// true or fail: for a guard, failing denies too.
pub fn implies_or_fails(premise: &Formula, conclusion: &Formula) -> bool {
    let mut both = premise.clone();
    let (_, f) = both.import(conclusion);
    let query = and(both.t.clone(), f);
    matches!(
        satisfiable(&query, &both.atoms, premise.big || conclusion.big),
        Sat::No
    )
}

// ------------------------------------------------------------ prefiltering

/// One assignment the solver found for a formula: values of paths,
/// presence of optionals, truth of opaque atoms. Every path, presence or
/// atom it does not mention is completed with one fixed value, so it is a
/// whole assignment in the solver's own terms. If a formula is false in a
/// model of another, the solver cannot prove that the other implies it:
/// [`holds_in`] is a cheap, sound filter before [`implies`].
#[derive(Clone, Debug, Default)]
pub struct Model {
    vals: BTreeMap<String, Picked>,
    present: BTreeMap<String, bool>,
    props: BTreeMap<Atom, bool>,
}

impl fmt::Debug for Picked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Picked::Val(v) => write!(f, "{v:?}"),
            Picked::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A value no constant of a program is likely to be, for paths a model
/// does not mention (any value of the domain is a valid completion; this
/// one is non-negative, as counts are).
const FRESH_INT: i64 = (1 << 52) + 7;

impl Model {
    fn int(&self, p: &str) -> i64 {
        match self.vals.get(p) {
            Some(Picked::Val(Val::Int(n))) => *n,
            _ => FRESH_INT,
        }
    }

    fn val(&self, p: &str) -> Val {
        match self.vals.get(p) {
            Some(Picked::Val(v)) => v.clone(),
            Some(Picked::Bool(b)) => Val::Bool(*b),
            // Strings and enums alike: a value no constant equals for
            // strings; for an enum, variant 0 (`Val::Enum(0)` below).
            None => Val::Str("\u{0}fresh".into()),
        }
    }

    fn atom(&self, a: &Atom, atoms: &Atoms) -> bool {
        let enum_fresh = |p: &str, v: Val| -> Val {
            match (&v, atoms.paths.get(p).map(|i| &i.dom)) {
                (Val::Str(s), Some(Domain::Enum(_))) if s == "\u{0}fresh" => Val::Enum(0),
                _ => v,
            }
        };
        match a {
            Atom::Cmp(p, op, v) => {
                let x = match v {
                    Val::Int(_) => Val::Int(self.int(p)),
                    _ => enum_fresh(p, self.val(p)),
                };
                eval_op(*op, &x, v).unwrap_or(false)
            }
            Atom::In(p, vals) => {
                let x = match vals.first() {
                    Some(Val::Int(_)) => Val::Int(self.int(p)),
                    _ => enum_fresh(p, self.val(p)),
                };
                vals.contains(&x)
            }
            Atom::Bool(p) => matches!(self.vals.get(p), Some(Picked::Bool(true))),
            Atom::Present(p) => self.present.get(p).copied().unwrap_or(true),
            // Unmentioned paths all have the fresh value of their domain.
            Atom::EqPath(p, q) => match atoms.paths.get(p).map(|i| &i.dom) {
                Some(Domain::Int) => self.int(p) == self.int(q),
                _ => enum_fresh(p, self.val(p)) == enum_fresh(q, self.val(q)),
            },
            Atom::Opaque(_) | Atom::Defined(_) => self.props.get(a).copied().unwrap_or(false),
        }
    }
}

fn eval_in(f: &F, m: &Model, atoms: &Atoms) -> bool {
    match f {
        F::Const(b) => *b,
        F::Lit(i, p) => atoms.list.get(*i).is_some_and(|a| m.atom(a, atoms)) == *p,
        F::And(xs) => xs.iter().all(|x| eval_in(x, m, atoms)),
        F::Or(xs) => xs.iter().any(|x| eval_in(x, m, atoms)),
    }
}

/// Up to `n` models of `f` (from different cases of its normal form, with
/// values near 0 and at the upper ends of ranges). None when the solver
/// cannot tell.
pub fn models(f: &Formula, n: usize) -> Vec<Model> {
    let Some(d) = (!f.big).then(|| dnf(&f.t)).flatten() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in &d {
        for high in [false, true] {
            if let (ConjResult::Sat(..), Some(m)) = sat_conj_model(c, &f.atoms, high) {
                out.push(m);
            }
        }
        if out.len() >= n {
            break;
        }
    }
    out.truncate(n);
    out
}

/// Whether `f` is true in model `m`. `false` means the formula `m` came
/// from does not imply `f` (the solver would answer no).
pub fn holds_in(f: &Formula, m: &Model) -> bool {
    f.big || eval_in(&f.t, m, &f.atoms)
}

/// Whether `f`'s false side holds in `m` (for a guard: `m` is a request
/// it lets through).
pub fn false_in(f: &Formula, m: &Model) -> bool {
    !f.big && eval_in(&f.f, m, &f.atoms)
}

/// A top-level conjunct of `f` that pins one path to a few values
/// (`path == v`, `path in [...]`, or an `or` of those on one path;
/// integers and strings): the path and the values, as keys. A model in
/// which the path has none of them makes `f` false.
pub fn required_eq(f: &Formula) -> Option<(String, Vec<String>)> {
    let key = |v: &Val| match v {
        Val::Int(_) | Val::Str(_) => Some(format!("{v:?}")),
        _ => None,
    };
    fn lit<'a>(
        f: &'a Formula,
        x: &F,
        key: &impl Fn(&Val) -> Option<String>,
    ) -> Option<(&'a str, Vec<String>)> {
        match x {
            F::Lit(i, true) => match f.atoms.list.get(*i)? {
                Atom::Cmp(p, CmpOp::Eq, v) => Some((p.as_str(), vec![key(v)?])),
                Atom::In(p, vals) => {
                    Some((p.as_str(), vals.iter().map(key).collect::<Option<_>>()?))
                }
                _ => None,
            },
            F::Or(xs) => {
                let mut path: Option<&str> = None;
                let mut out = Vec::new();
                for x in xs {
                    let (p, vs) = lit(f, x, key)?;
                    if path.is_some_and(|q| q != p) {
                        return None;
                    }
                    path = Some(p);
                    out.extend(vs);
                }
                Some((path?, out))
            }
            _ => None,
        }
    }
    fn conjuncts<'a>(x: &'a F, out: &mut Vec<&'a F>) {
        match x {
            F::And(xs) => xs.iter().for_each(|x| conjuncts(x, out)),
            x => out.push(x),
        }
    }
    let mut all = Vec::new();
    conjuncts(&f.t, &mut all);
    let found = all.into_iter().find_map(|x| lit(f, x, &key));
    found.map(|(p, mut vs)| {
        vs.sort();
        vs.dedup();
        (p.to_string(), vs)
    })
}

/// The key [`required_eq`] gives for a model's value of `path`, if the
/// model mentions it.
pub fn model_key(m: &Model, path: &str) -> Option<String> {
    match m.vals.get(path)? {
        Picked::Val(v @ (Val::Int(_) | Val::Str(_))) => Some(format!("{v:?}")),
        _ => None,
    }
}

// ---------------------------------------------------------------- budgets

/// Whether [`classify`] decides `f` within the solver's size budgets:
/// inside the fragment, an "unknown" verdict on a formula that fits is a
/// gap in the solver (the differential oracle checks there is none).
pub fn classify_fits(f: &Formula) -> bool {
    !f.big && dnf(&f.t).is_some() && dnf(&negate(&f.t)).is_some()
}

/// Whether [`implies`] decides `premise` ⇒ `conclusion` within the
/// solver's size budgets (see [`classify_fits`]).
pub fn implies_fits(premise: &Formula, conclusion: &Formula) -> bool {
    let mut both = premise.clone();
    let (t, _) = both.import(conclusion);
    !premise.big && !conclusion.big && dnf(&and(both.t.clone(), negate(&t))).is_some()
}
