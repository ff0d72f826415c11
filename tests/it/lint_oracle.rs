//! A differential oracle for the analyser's solver.
//!
//! Generated pairs of rules (a `when`, sometimes an `unless` and
//! `require`s each) over a few request fields are put to the solver
//! ([`classify`], [`implies`], [`implies_or_fails`], [`exact_example`]),
//! and every answer is checked against an independent decision method:
//! this file's own evaluator of the generated conditions, run on *every*
//! assignment of the fields involved over small finite domains. The
//! domains are large enough to be exhaustive: integers and times take
//! every value within a window around the constants the conditions
//! mention (as many values beyond each constant as there are fields of
//! that kind, so any request can be mapped to one in the window that
//! keeps every comparison), strings the constants and fresh values,
//! enums and booleans every value, optional fields also "absent". The
//! evaluator itself is checked against the reference interpreter on
//! sampled assignments, so its semantics are the language's.
//!
//! Inside the fragment (no string methods, no ordering between fields)
//! every answer must be exactly right and never "unknown"; outside it the
//! solver may say "unknown", but every claim it makes (always, never,
//! implied, an example request) must still hold.
//!
//! `JITP_ORACLE_CASES=N` runs N pairs (default 1,500); `JITP_SEED=random`
//! or `JITP_SEED=N` (see `support::seed`) picks the seed, printed when not
//! the default.

use crate::support::seed;
use jitp::check::hir::Program;
use jitp::driver::check_text;
use jitp::lint::solver::{
    classify, classify_fits, exact_example, implies, implies_fits, implies_or_fails, Answer,
    Formula, Verdict, Witness,
};
use jitp_runtime::value::Time as Instant;
use serde_json::{json, Map, Value};

// ------------------------------------------------------------ the schema

const SCHEMA: &str = r#"package o

enum Tier { gold, silver, bronze }
enum Mode { up, down }
entity P {
  team: String
  level: Int
  admin: Bool
  tier: Tier
}
entity R {
  team: String
  level: Int
  tier: Tier
}
context {
  risk: Int
  zone: String
  flag: Bool
  m1: Mode
  m2: Mode
  m3: Mode
  note: String?
  lvl: Int?
  grade: Tier?
  ok: Bool?
  at: Time
}
action a.do on R sensitivity low
action b.do on R sensitivity low
const LIMIT = 40 + 10
const NEG = 0 - 3
const BIG = 9223372036854775807
const NAME = "a"
const ON = true
const T0 = time("2026-01-01T00:00:00Z")
const WARM = [Tier.gold, Tier.silver]
const SMALL = [0, 1, LIMIT]
const NAMES = ["a", NAME, "b"]
"#;

/// The time of `T0`, in microseconds.
const T0: i64 = 1_767_225_600_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    Time,
    Str,
    Tier,
    Mode,
    Bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Root {
    Principal,
    Resource,
    Context,
    Now,
    Approvals,
}

struct Field {
    /// As written in a condition and in a witness.
    path: &'static str,
    root: Root,
    name: &'static str,
    kind: Kind,
    optional: bool,
}

const fn f(
    path: &'static str,
    root: Root,
    name: &'static str,
    kind: Kind,
    optional: bool,
) -> Field {
    Field {
        path,
        root,
        name,
        kind,
        optional,
    }
}

use Kind::*;
use Root::*;

const FIELDS: [Field; 20] = [
    f("principal.team", Principal, "team", Str, false),
    f("principal.level", Principal, "level", Int, false),
    f("principal.admin", Principal, "admin", Bool, false),
    f("principal.tier", Principal, "tier", Tier, false),
    f("resource.team", Resource, "team", Str, false),
    f("resource.level", Resource, "level", Int, false),
    f("resource.tier", Resource, "tier", Tier, false),
    f("context.risk", Context, "risk", Int, false),
    f("context.zone", Context, "zone", Str, false),
    f("context.flag", Context, "flag", Bool, false),
    f("context.m1", Context, "m1", Mode, false),
    f("context.m2", Context, "m2", Mode, false),
    f("context.m3", Context, "m3", Mode, false),
    f("context.note", Context, "note", Str, true),
    f("context.lvl", Context, "lvl", Int, true),
    f("context.grade", Context, "grade", Tier, true),
    f("context.ok", Context, "ok", Bool, true),
    f("context.at", Context, "at", Time, false),
    f("now", Now, "now", Time, false),
    f("task.approvals", Approvals, "approvals", Int, false),
];

const TIERS: [&str; 3] = ["gold", "silver", "bronze"];
const MODES: [&str; 2] = ["up", "down"];

// ------------------------------------------------------- the conditions

/// A value of a field (an enum by variant index).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    I(i64),
    S(String),
    E(u32),
    B(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }

    fn flip(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Gt => Op::Lt,
            Op::Ge => Op::Le,
            o => o,
        }
    }

    fn holds(self, a: &V, b: &V) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            _ => {
                let (V::I(x), V::I(y)) = (a, b) else {
                    panic!("ordering on non-integers: {a:?} {b:?}")
                };
                match self {
                    Op::Lt => x < y,
                    Op::Le => x <= y,
                    Op::Gt => x > y,
                    _ => x >= y,
                }
            }
        }
    }
}

/// One side of a comparison.
#[derive(Clone, Debug)]
enum Opd {
    Field(usize),
    /// `field ?? constant`.
    Default(usize, V, String),
    /// A constant: its value and how it is written.
    Const(V, String),
}

#[derive(Clone, Debug)]
enum E {
    Lit(bool),
    Cmp(Opd, Op, Opd),
    In(Opd, Vec<V>, String),
    Has(usize),
    /// A boolean field, or `field ?? constant` of a boolean one.
    Flag(Opd),
    /// `field.starts_with("a")`: outside the fragment.
    Starts(usize),
    /// `field op field` on integers: outside the fragment.
    Order(usize, Op, usize),
    Not(Box<E>),
    And(Box<E>, Box<E>),
    Or(Box<E>, Box<E>),
}

fn opd_text(o: &Opd) -> String {
    match o {
        Opd::Field(i) => FIELDS[*i].path.to_string(),
        Opd::Default(i, _, c) => format!("({} ?? {c})", FIELDS[*i].path),
        Opd::Const(_, c) => c.clone(),
    }
}

fn text(e: &E) -> String {
    match e {
        E::Lit(b) => b.to_string(),
        E::Cmp(a, op, b) => format!("{} {} {}", opd_text(a), op.text(), opd_text(b)),
        E::In(a, _, set) => format!("{} in {set}", opd_text(a)),
        E::Has(i) => format!("has {}", FIELDS[*i].path),
        E::Flag(o) => opd_text(o),
        E::Starts(i) => format!("{}.starts_with(\"a\")", FIELDS[*i].path),
        E::Order(i, op, j) => format!("{} {} {}", FIELDS[*i].path, op.text(), FIELDS[*j].path),
        E::Not(x) => format!("not ({})", text(x)),
        E::And(a, b) => format!("({} and {})", text(a), text(b)),
        E::Or(a, b) => format!("({} or {})", text(a), text(b)),
    }
}

/// An assignment: a value per field, `None` for an absent optional.
type Assignment = Vec<Option<V>>;

fn value(o: &Opd, a: &Assignment) -> Option<V> {
    match o {
        Opd::Field(i) => a[*i].clone(),
        Opd::Default(i, c, _) => Some(a[*i].clone().unwrap_or_else(|| c.clone())),
        Opd::Const(v, _) => Some(v.clone()),
    }
}

/// The language's semantics, written out for this fragment: a
/// comparison, `in` or method on an absent optional is false.
fn eval(e: &E, a: &Assignment) -> bool {
    match e {
        E::Lit(b) => *b,
        E::Cmp(l, op, r) => match (value(l, a), value(r, a)) {
            (Some(x), Some(y)) => op.holds(&x, &y),
            _ => false,
        },
        E::In(l, set, _) => value(l, a).is_some_and(|v| set.contains(&v)),
        E::Has(i) => a[*i].is_some(),
        E::Flag(o) => value(o, a) == Some(V::B(true)),
        E::Starts(i) => matches!(&a[*i], Some(V::S(s)) if s.starts_with('a')),
        E::Order(i, op, j) => match (&a[*i], &a[*j]) {
            (Some(x), Some(y)) => op.holds(x, y),
            _ => false,
        },
        E::Not(x) => !eval(x, a),
        E::And(x, y) => eval(x, a) && eval(y, a),
        E::Or(x, y) => eval(x, a) || eval(y, a),
    }
}

fn in_fragment(e: &E) -> bool {
    match e {
        E::Starts(_) | E::Order(..) => false,
        E::Not(x) => in_fragment(x),
        E::And(x, y) | E::Or(x, y) => in_fragment(x) && in_fragment(y),
        _ => true,
    }
}

// ------------------------------------------------------------ generation

use crate::differential::gen::Rng;

/// A constant of `kind`: its value and its text (literals, negative
/// literals, folded named constants, `task.name` inside task `t`).
fn constant(r: &mut Rng, kind: Kind) -> (V, String) {
    let (v, t): (V, &str) = match kind {
        Int => r.pick_cloned(&[
            (V::I(0), "0"),
            (V::I(1), "1"),
            (V::I(2), "2"),
            (V::I(-1), "-1"),
            (V::I(-3), "-3"),
            (V::I(50), "LIMIT"),
            (V::I(49), "49"),
            (V::I(-50), "-LIMIT"),
            (V::I(-3), "NEG"),
            (V::I(i64::MAX), "BIG"),
            (V::I(i64::MAX - 1), "9223372036854775806"),
            (V::I(-i64::MAX), "-BIG"),
        ]),
        Time => r.pick_cloned(&[
            (V::I(T0), "T0"),
            (V::I(T0), "time(\"2026-01-01T00:00:00Z\")"),
            (V::I(T0 + 1), "time(\"2026-01-01T00:00:00.000001Z\")"),
            (V::I(T0 - 1_000_000), "time(\"2025-12-31T23:59:59Z\")"),
        ]),
        Str => r.pick_cloned(&[
            (V::S("a".into()), "\"a\""),
            (V::S("a".into()), "NAME"),
            (V::S("b".into()), "\"b\""),
            (V::S(String::new()), "\"\""),
            (V::S("t".into()), "task.name"),
            (V::S("t".into()), "\"t\""),
            (V::S("ab".into()), "\"ab\""),
        ]),
        Tier => {
            let i = r.below(3);
            return (V::E(i as u32), format!("Tier.{}", TIERS[i]));
        }
        Mode => {
            let i = r.below(2);
            return (V::E(i as u32), format!("Mode.{}", MODES[i]));
        }
        Bool => r.pick_cloned(&[
            (V::B(true), "true"),
            (V::B(false), "false"),
            (V::B(true), "ON"),
        ]),
    };
    (v, t.to_string())
}

/// A set of constants of `kind`, and its text.
fn set(r: &mut Rng, kind: Kind) -> Option<(Vec<V>, String)> {
    Some(match kind {
        Int if r.chance(30) => (vec![V::I(0), V::I(1), V::I(50)], "SMALL".into()),
        Str if r.chance(30) => (vec![V::S("a".into()), V::S("b".into())], "NAMES".into()),
        Tier if r.chance(30) => (vec![V::E(0), V::E(1)], "WARM".into()),
        Int | Str | Tier | Mode | Time => {
            let items: Vec<(V, String)> = (0..1 + r.below(3)).map(|_| constant(r, kind)).collect();
            let t = items.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>();
            let vals = items.iter().map(|(v, _)| v.clone()).collect();
            (vals, format!("[{}]", t.join(", ")))
        }
        Bool => return None,
    })
}

/// An atom over one of `fields` (indices into [`FIELDS`]).
fn atom(r: &mut Rng, fields: &[usize], opaque: bool) -> E {
    if r.chance(3) {
        return E::Lit(r.chance(50));
    }
    let i = r.pick_cloned(fields);
    let fd = &FIELDS[i];
    let kind = fd.kind;
    let ordered = matches!(kind, Int | Time);
    let same: Vec<usize> = fields
        .iter()
        .copied()
        .filter(|&j| FIELDS[j].kind == kind)
        .collect();
    let op = |r: &mut Rng| {
        if ordered {
            r.pick_cloned(&[Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge])
        } else {
            r.pick_cloned(&[Op::Eq, Op::Ne])
        }
    };
    let subject = |r: &mut Rng| {
        if fd.optional && r.chance(35) {
            let (c, t) = constant(r, kind);
            Opd::Default(i, c, t)
        } else {
            Opd::Field(i)
        }
    };
    match r.below(10) {
        0 if fd.optional => E::Has(i),
        1 if opaque && kind == Str && !fd.optional => E::Starts(i),
        2 if opaque && ordered && !fd.optional => {
            let j = r.pick_cloned(&same);
            if FIELDS[j].optional {
                E::Starts(0)
            } else {
                E::Order(i, r.pick_cloned(&[Op::Lt, Op::Le, Op::Gt, Op::Ge]), j)
            }
        }
        3 | 4 if kind == Bool => {
            let s = subject(r);
            if matches!(s, Opd::Field(_)) && fd.optional {
                // A bare optional boolean is not a condition.
                let (c, t) = constant(r, kind);
                E::Flag(Opd::Default(i, c, t))
            } else {
                E::Flag(s)
            }
        }
        5 => {
            // Two fields of one kind.
            let j = r.pick_cloned(&same);
            E::Cmp(
                Opd::Field(i),
                r.pick_cloned(&[Op::Eq, Op::Ne]),
                Opd::Field(j),
            )
        }
        6 if kind != Bool => match set(r, kind) {
            Some((vals, t)) => E::In(subject(r), vals, t),
            None => E::Has(i),
        },
        _ => {
            let (c, t) = constant(r, kind);
            let op = op(r);
            if r.chance(25) {
                E::Cmp(Opd::Const(c, t), op.flip(), subject(r))
            } else {
                E::Cmp(subject(r), op, Opd::Const(c, t))
            }
        }
    }
}

fn expr(r: &mut Rng, fields: &[usize], opaque: bool, depth: usize) -> E {
    if depth == 0 || r.chance(30) {
        return atom(r, fields, opaque);
    }
    let sub = |r: &mut Rng| Box::new(expr(r, fields, opaque, depth - 1));
    match r.below(5) {
        0 => E::Not(sub(r)),
        1 | 2 => E::And(sub(r), sub(r)),
        _ => E::Or(sub(r), sub(r)),
    }
}

/// One generated permit.
struct Side {
    when: Option<E>,
    unless: Option<E>,
    requires: Vec<E>,
}

impl Side {
    fn gen(r: &mut Rng, fields: &[usize], opaque: bool) -> Side {
        let e = |r: &mut Rng, d| expr(r, fields, opaque, d);
        Side {
            when: r.chance(90).then(|| e(r, 3)),
            unless: r.chance(25).then(|| e(r, 2)),
            requires: (0..r.pick_cloned(&[0, 0, 1, 2])).map(|_| e(r, 1)).collect(),
        }
    }

    /// A variant of `base`: stronger or weaker, so that implications hold
    /// often.
    fn derive(r: &mut Rng, base: &Side, fields: &[usize], opaque: bool) -> Side {
        let e = |r: &mut Rng, d| expr(r, fields, opaque, d);
        let when = base.when.clone().map(|w| match r.below(3) {
            0 => E::And(Box::new(w), Box::new(e(r, 1))),
            1 => E::Or(Box::new(w), Box::new(e(r, 1))),
            _ => w,
        });
        let mut requires = base.requires.clone();
        if r.chance(50) {
            requires.push(e(r, 1));
        } else if !requires.is_empty() && r.chance(50) {
            requires.pop();
        }
        Side {
            when,
            unless: if r.chance(50) {
                base.unless.clone()
            } else {
                r.chance(25).then(|| e(r, 1))
            },
            requires,
        }
    }

    fn rule(&self, id: &str, action: &str) -> String {
        let mut t = format!("  @id({id:?})\n  permit P to {action} on R\n");
        if let Some(w) = &self.when {
            t.push_str(&format!("    when {}\n", text(w)));
        }
        if let Some(u) = &self.unless {
            t.push_str(&format!("    unless {}\n", text(u)));
        }
        for (k, q) in self.requires.iter().enumerate() {
            t.push_str(&format!("    require {} else \"q{k}\"\n", text(q)));
        }
        t
    }

    fn guard(&self, a: &Assignment) -> bool {
        self.when.as_ref().is_none_or(|w| eval(w, a))
            && !self.unless.as_ref().is_some_and(|u| eval(u, a))
    }

    fn allow(&self, a: &Assignment) -> bool {
        self.guard(a) && self.requires.iter().all(|q| eval(q, a))
    }

    fn exprs(&self) -> impl Iterator<Item = &E> {
        self.when
            .iter()
            .chain(self.unless.iter())
            .chain(self.requires.iter())
    }

    fn in_fragment(&self) -> bool {
        self.exprs().all(in_fragment)
    }
}

// ---------------------------------------------------------------- domains

fn constants(e: &E, kind: Kind, out: &mut Vec<i64>) {
    let mut push = |v: &V| {
        if let V::I(n) = v {
            out.push(*n);
        }
    };
    let opd = |o: &Opd, push: &mut dyn FnMut(&V)| match o {
        Opd::Default(i, c, _) if FIELDS[*i].kind == kind => push(c),
        Opd::Const(..) | Opd::Default(..) | Opd::Field(_) => {}
    };
    match e {
        E::Cmp(l, _, r) => {
            let k = [l, r].iter().find_map(|o| match o {
                Opd::Field(i) | Opd::Default(i, ..) => Some(FIELDS[*i].kind),
                Opd::Const(..) => None,
            });
            opd(l, &mut push);
            opd(r, &mut push);
            if k == Some(kind) {
                for o in [l, r] {
                    if let Opd::Const(v, _) = o {
                        push(v);
                    }
                }
            }
        }
        E::In(l, vals, _) => {
            let k = match l {
                Opd::Field(i) | Opd::Default(i, ..) => FIELDS[*i].kind,
                Opd::Const(..) => return,
            };
            opd(l, &mut push);
            if k == kind {
                vals.iter().for_each(push);
            }
        }
        E::Not(x) => constants(x, kind, out),
        E::And(x, y) | E::Or(x, y) => {
            constants(x, kind, out);
            constants(y, kind, out);
        }
        _ => {}
    }
}

fn strings(e: &E, out: &mut Vec<String>) {
    let mut push = |v: &V| {
        if let V::S(s) = v {
            out.push(s.clone());
        }
    };
    let mut opd = |o: &Opd| match o {
        Opd::Default(_, c, _) | Opd::Const(c, _) => push(c),
        Opd::Field(_) => {}
    };
    match e {
        E::Cmp(l, _, r) => {
            opd(l);
            opd(r);
        }
        E::In(l, vals, _) => {
            opd(l);
            vals.iter().for_each(push);
        }
        E::Not(x) => strings(x, out),
        E::And(x, y) | E::Or(x, y) => {
            strings(x, out);
            strings(y, out);
        }
        _ => {}
    }
}

/// The values each field takes in the enumeration: exhaustive for the
/// conditions of `sides` over `fields` (see the module documentation).
fn domains(sides: &[&Side], fields: &[usize]) -> Vec<Vec<Option<V>>> {
    let count = |k: Kind| fields.iter().filter(|&&i| FIELDS[i].kind == k).count() as i64;
    let window = |k: Kind, base: i64| -> Vec<i64> {
        let mut cs = vec![base];
        for s in sides {
            for e in s.exprs() {
                constants(e, k, &mut cs);
            }
        }
        let n = count(k) + 1;
        let mut vals: Vec<i64> = cs
            .iter()
            .flat_map(|&c| (-n..=n).filter_map(move |d| c.checked_add(d)))
            .collect();
        vals.sort_unstable();
        vals.dedup();
        vals
    };
    let ints = window(Int, 0);
    let times = window(Time, T0);
    let mut strs = Vec::new();
    for s in sides {
        for e in s.exprs() {
            strings(e, &mut strs);
        }
    }
    for k in 0..count(Str) {
        strs.push(format!("~{k}"));
        strs.push(format!("a~{k}"));
    }
    strs.sort();
    strs.dedup();
    FIELDS
        .iter()
        .enumerate()
        .map(|(i, fd)| {
            if !fields.contains(&i) {
                // Not read: one value (fixed, present).
                return vec![Some(match fd.kind {
                    Int | Time => V::I(if fd.kind == Time { T0 } else { 0 }),
                    Str => V::S("~".into()),
                    Tier | Mode => V::E(0),
                    Bool => V::B(false),
                })];
            }
            let mut d: Vec<Option<V>> = match fd.kind {
                Int if fd.root == Approvals => ints
                    .iter()
                    .filter(|&&n| n >= 0)
                    .map(|&n| Some(V::I(n)))
                    .collect(),
                Int => ints.iter().map(|&n| Some(V::I(n))).collect(),
                Time => times.iter().map(|&n| Some(V::I(n))).collect(),
                Str => strs.iter().map(|s| Some(V::S(s.clone()))).collect(),
                Tier => (0..3).map(|v| Some(V::E(v))).collect(),
                Mode => (0..2).map(|v| Some(V::E(v))).collect(),
                Bool => vec![Some(V::B(false)), Some(V::B(true))],
            };
            if fd.optional {
                d.push(None);
            }
            d
        })
        .collect()
}

/// Calls `visit` on every assignment of `doms` until it returns false.
fn each(doms: &[Vec<Option<V>>], mut visit: impl FnMut(&Assignment) -> bool) {
    let mut idx = vec![0usize; doms.len()];
    let mut a: Assignment = doms.iter().map(|d| d[0].clone()).collect();
    loop {
        if !visit(&a) {
            return;
        }
        let mut k = 0;
        loop {
            if k == doms.len() {
                return;
            }
            idx[k] += 1;
            if idx[k] < doms[k].len() {
                a[k] = doms[k][idx[k]].clone();
                break;
            }
            idx[k] = 0;
            a[k] = doms[k][0].clone();
            k += 1;
        }
    }
}

fn size(doms: &[Vec<Option<V>>]) -> usize {
    doms.iter()
        .map(Vec::len)
        .fold(1usize, |a, b| a.saturating_mul(b))
}

// ------------------------------------------------------------- witnesses

/// The domains with the fields a solver witness names fixed to its
/// values; `None` if the witness names a field no condition reads or a
/// value that is not of its field's kind.
fn fix(doms: &[Vec<Option<V>>], w: &Witness) -> Result<Vec<Vec<Option<V>>>, String> {
    let mut doms = doms.to_vec();
    for (path, shown) in &w.0 {
        let i = FIELDS
            .iter()
            .position(|fd| fd.path == path)
            .ok_or_else(|| format!("the witness names `{path}`, which no condition reads"))?;
        let fd = &FIELDS[i];
        let v = if shown.starts_with('\u{0}') {
            if !fd.optional {
                return Err(format!("the witness says `{path}` is absent"));
            }
            None
        } else {
            let bad = || format!("the witness gives `{path}` the value `{shown}`");
            Some(match fd.kind {
                Int => V::I(shown.parse().map_err(|_| bad())?),
                Time => V::I(Instant::parse(shown).map_err(|_| bad())?.0),
                Str => V::S(serde_json::from_str(shown).map_err(|_| bad())?),
                Tier => V::E(TIERS.iter().position(|t| t == shown).ok_or_else(bad)? as u32),
                Mode => V::E(MODES.iter().position(|t| t == shown).ok_or_else(bad)? as u32),
                Bool => V::B(shown.parse().map_err(|_| bad())?),
            })
        };
        if fd.root == Approvals && matches!(v, Some(V::I(n)) if n < 0) {
            return Err(format!("the witness gives `{path}` a negative count"));
        }
        doms[i] = vec![v];
    }
    Ok(doms)
}

/// Whether `holds` is true on every completion of the witness `w`.
fn witness_holds(
    doms: &[Vec<Option<V>>],
    w: &Witness,
    holds: impl Fn(&Assignment) -> bool,
) -> Result<(), String> {
    let doms = fix(doms, w)?;
    let mut bad = None;
    each(&doms, |a| {
        if holds(a) {
            true
        } else {
            bad = Some(a.clone());
            false
        }
    });
    match bad {
        None => Ok(()),
        Some(a) => Err(format!(
            "the witness {w} does not make it true: {}",
            show(&a)
        )),
    }
}

fn show(a: &Assignment) -> String {
    FIELDS
        .iter()
        .zip(a)
        .map(|(fd, v)| format!("{}={v:?}", fd.path))
        .collect::<Vec<_>>()
        .join(" ")
}

// ------------------------------------------------ the reference interpreter

fn json_value(fd: &Field, v: &V) -> Value {
    match v {
        V::I(n) if fd.kind == Time => json!(Instant(*n).to_string()),
        V::I(n) => json!(n),
        V::S(s) => json!(s),
        V::E(e) if fd.kind == Tier => json!(TIERS[*e as usize]),
        V::E(e) => json!(MODES[*e as usize]),
        V::B(b) => json!(b),
    }
}

/// The request an assignment describes, for `action`.
fn request(a: &Assignment, action: &str) -> Value {
    let (mut p, mut r, mut c) = (Map::new(), Map::new(), Map::new());
    let mut now = json!(Instant(T0).to_string());
    let mut approvals = Vec::new();
    for (fd, v) in FIELDS.iter().zip(a) {
        let Some(v) = v else { continue };
        let j = json_value(fd, v);
        match fd.root {
            Principal => {
                p.insert(fd.name.into(), j);
            }
            Resource => {
                r.insert(fd.name.into(), j);
            }
            Context => {
                c.insert(fd.name.into(), j);
            }
            Now => now = j,
            Approvals => {
                let V::I(n) = v else { unreachable!() };
                approvals = (0..*n)
                    .map(|k| json!({"by": format!("approver{k}")}))
                    .collect();
            }
        }
    }
    json!({
        "subject": {"type": "P", "id": "p1", "properties": p},
        "action": {"name": action},
        "resource": {"type": "R", "id": "r1", "properties": r},
        "context": c,
        "task": {"name": "t", "id": "run", "started_at": now.clone(), "approvals": approvals},
        "now": now,
    })
}

fn allowed(p: &Program, req: &Value) -> bool {
    let d = jitp::reference::decide_json(p, req);
    assert_ne!(
        d.reason,
        jitp_runtime::decision::Reason::InvalidRequest,
        "generated request is invalid: {req}"
    );
    format!("{:?}", d.decision) == "Allow"
}

// ----------------------------------------------------------------- checks

/// What the enumeration found about a pair.
#[derive(Default)]
struct Truth {
    guard_true: bool,
    guard_false: bool,
    guards_implied: bool,
    allows_implied: bool,
    allow_sat: bool,
    allow_zero: bool,
    /// Per `require` of the first side: ever true, ever false.
    requires: Vec<(bool, bool)>,
}

fn oracle(x: &Side, y: &Side, doms: &[Vec<Option<V>>]) -> Truth {
    let approvals = FIELDS
        .iter()
        .position(|fd| fd.root == Approvals)
        .expect("approvals field");
    let mut t = Truth {
        guards_implied: true,
        allows_implied: true,
        requires: vec![(false, false); x.requires.len()],
        ..Truth::default()
    };
    let zero_possible = doms[approvals].contains(&Some(V::I(0)));
    each(doms, |a| {
        let (gx, ax) = (x.guard(a), x.allow(a));
        if gx {
            t.guard_true = true;
            if !y.guard(a) {
                t.guards_implied = false;
            }
        } else {
            t.guard_false = true;
        }
        if ax {
            t.allow_sat = true;
            if !y.allow(a) {
                t.allows_implied = false;
            }
            // Approvals not read: any count, zero among them.
            if a[approvals] == Some(V::I(0)) || !zero_possible {
                t.allow_zero = true;
            }
        }
        for (q, seen) in x.requires.iter().zip(t.requires.iter_mut()) {
            if eval(q, a) {
                seen.0 = true;
            } else {
                seen.1 = true;
            }
        }
        true
    });
    t
}

fn verdict_ok(v: &Verdict, any_true: bool, any_false: bool, exact: bool) -> Result<(), String> {
    let truth = match (any_true, any_false) {
        (true, false) => "always true",
        (false, true) => "never true",
        _ => "sometimes true",
    };
    let ok = match v {
        Verdict::Always => !any_false,
        Verdict::Never => !any_true,
        Verdict::Sometimes(_) => !exact || (any_true && any_false),
        Verdict::Unknown => !exact,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("the solver says {v:?}; it is {truth}"))
    }
}

fn answer_ok(ans: &Answer, implied: bool, exact: bool) -> Result<(), String> {
    let ok = match ans {
        Answer::Yes => implied,
        Answer::No(_) => !exact || !implied,
        Answer::Unknown => !exact,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the solver says {ans:?}; the implication {}",
            if implied { "holds" } else { "does not hold" }
        ))
    }
}

/// Checks one pair; `Err` describes a disagreement.
fn check_pair(x: &Side, y: &Side, fields: &[usize], r: &mut Rng) -> Result<Counts, String> {
    let text = format!(
        "{SCHEMA}\ntask t {{\n  ttl 1h\n{}{}}}\n",
        x.rule("x", "a.do"),
        y.rule("y", "b.do")
    );
    let (sources, program, diags) = check_text("o.jitp", &text);
    let Some(p) = program else {
        panic!(
            "generated policy does not check:\n{text}\n{}",
            jitp::render::terminal(&sources, &diags, false)
        );
    };
    let within = |e: Result<(), String>, what: &str| e.map_err(|m| format!("{what}: {m}\n{text}"));
    let doms = domains(&[x, y], fields);
    let truth = oracle(x, y, &doms);
    // The evaluator is the language's: sampled assignments decided by the
    // reference interpreter agree with it.
    for _ in 0..2 {
        let a: Assignment = doms.iter().map(|d| r.pick_cloned(d)).collect();
        // A request cannot carry a huge number of approvals.
        if matches!(a[FIELDS.len() - 1], Some(V::I(n)) if n > 64) {
            continue;
        }
        for (side, action) in [(x, "a.do"), (y, "b.do")] {
            let req = request(&a, action);
            assert_eq!(
                allowed(&p, &req),
                side.allow(&a),
                "the oracle's evaluator disagrees with the reference interpreter on {action}\n{text}\nrequest: {req}"
            );
        }
    }
    let (rx, ry) = (&p.rules[0], &p.rules[1]);
    let exact_x = x.in_fragment();
    let exact = exact_x && y.in_fragment();
    let (gx, gy) = (Formula::guard(&p, rx), Formula::guard(&p, ry));
    let (ax, ay) = (Formula::allow(&p, rx), Formula::allow(&p, ry));
    let mut n = Counts::default();

    let v = classify(&gx);
    let fits = classify_fits(&gx);
    n.budget += usize::from(!fits && v == Verdict::Unknown);
    within(
        verdict_ok(&v, truth.guard_true, truth.guard_false, exact_x && fits),
        "classify(guard x)",
    )?;
    if let Verdict::Sometimes(w) = &v {
        if exact_x {
            within(witness_holds(&doms, w, |a| x.guard(a)), "classify(guard x)")?;
        }
    }
    n.claims += usize::from(matches!(v, Verdict::Always | Verdict::Never));
    n.unknown += usize::from(v == Verdict::Unknown);

    for (q, (qt, qf)) in rx.requires.iter().zip(&truth.requires) {
        let c = Formula::condition(&p, rx, &q.cond);
        let v = classify(&c);
        let fits = classify_fits(&c);
        n.budget += usize::from(!fits && v == Verdict::Unknown);
        within(
            verdict_ok(&v, *qt, *qf, exact_x && fits),
            "classify(require of x)",
        )?;
        n.claims += usize::from(matches!(v, Verdict::Always | Verdict::Never));
    }

    for (what, ans, fits, implied, holds) in [
        (
            "implies(guard x, guard y)",
            implies(&gx, &gy),
            implies_fits(&gx, &gy),
            truth.guards_implied,
            &(|a: &Assignment| x.guard(a) && !y.guard(a)) as &dyn Fn(&Assignment) -> bool,
        ),
        (
            "implies(allow x, allow y)",
            implies(&ax, &ay),
            implies_fits(&ax, &ay),
            truth.allows_implied,
            &|a: &Assignment| x.allow(a) && !y.allow(a),
        ),
    ] {
        n.budget += usize::from(!fits && ans == Answer::Unknown);
        within(answer_ok(&ans, implied, exact && fits), what)?;
        if let (Answer::No(w), true) = (&ans, exact) {
            within(witness_holds(&doms, w, holds), what)?;
        }
        n.claims += usize::from(ans == Answer::Yes);
        n.unknown += usize::from(ans == Answer::Unknown);
        n.implied += usize::from(implied);
    }

    let overrides = implies_or_fails(&gx, &gy);
    let fits = implies_fits(&gx, &gy);
    if overrides && !truth.guards_implied || exact && fits && !overrides && truth.guards_implied {
        return Err(format!(
            "implies_or_fails(guard x, guard y) says {overrides}; the implication {}\n{text}",
            if truth.guards_implied {
                "holds"
            } else {
                "does not hold"
            }
        ));
    }

    for (what, f, sat, holds) in [
        (
            "exact_example(allow x)",
            ax.clone(),
            truth.allow_sat,
            &(|a: &Assignment| x.allow(a)) as &dyn Fn(&Assignment) -> bool,
        ),
        (
            "exact_example(allow x, no approvals)",
            ax.and(&Formula::no_approvals()),
            truth.allow_zero,
            &|a: &Assignment| {
                x.allow(a) && a[FIELDS.len() - 1].as_ref().is_none_or(|v| *v == V::I(0))
            },
        ),
    ] {
        match exact_example(&f) {
            Some(w) => {
                within(witness_holds(&doms, &w, holds), what)?;
                n.examples += 1;
            }
            None if exact && sat && classify_fits(&f) => {
                return Err(format!("{what}: no example, but one exists\n{text}"));
            }
            None => {}
        }
    }
    n.exact += usize::from(exact);
    Ok(n)
}

#[derive(Default)]
struct Counts {
    exact: usize,
    claims: usize,
    examples: usize,
    implied: usize,
    unknown: usize,
    /// Unknown answers to questions past the solver's size budget.
    budget: usize,
}

fn cases() -> usize {
    std::env::var("JITP_ORACLE_CASES")
        .ok()
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("JITP_ORACLE_CASES must be a number, not `{s}`"))
        })
        .unwrap_or(1_500)
}

/// The fields of one pair: up to four, at most two of each kind, so the
/// enumeration stays small.
fn pick_fields(r: &mut Rng) -> Vec<usize> {
    let n = 1 + r.below(4);
    let mut out: Vec<usize> = Vec::new();
    while out.len() < n {
        let i = r.below(FIELDS.len());
        let kind = FIELDS[i].kind;
        if !out.contains(&i) && out.iter().filter(|&&j| FIELDS[j].kind == kind).count() < 3 {
            out.push(i);
        }
    }
    out.sort_unstable();
    out
}

#[test]
fn the_solver_agrees_with_exhaustive_enumeration() {
    let cases = cases();
    let mut r = Rng::new(seed() ^ 0x0_7ac1e);
    let mut total = Counts::default();
    let mut failures = Vec::new();
    let mut done = 0;
    while done < cases {
        let fields = pick_fields(&mut r);
        let opaque = r.chance(20);
        let x = Side::gen(&mut r, &fields, opaque);
        let y = if r.chance(50) {
            Side::derive(&mut r, &x, &fields, opaque)
        } else {
            Side::gen(&mut r, &fields, opaque)
        };
        if size(&domains(&[&x, &y], &fields)) > 40_000 {
            continue;
        }
        done += 1;
        match check_pair(&x, &y, &fields, &mut r) {
            Ok(n) => {
                total.exact += n.exact;
                total.claims += n.claims;
                total.examples += n.examples;
                total.implied += n.implied;
                total.unknown += n.unknown;
                total.budget += n.budget;
            }
            Err(e) => {
                failures.push(e);
                if failures.len() >= 5 {
                    break;
                }
            }
        }
    }
    eprintln!(
        "oracle: {done} pairs ({} inside the fragment), {} claims, {} examples, {} implications that hold, {} unknown answers ({} past the size budget), {} disagreements",
        total.exact,
        total.claims,
        total.examples,
        total.implied,
        total.unknown,
        total.budget,
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "the solver disagrees with enumeration:\n\n{}",
        failures.join("\n\n")
    );
    // The test must not pass by the solver saying nothing.
    assert!(total.exact * 2 > done, "too few pairs inside the fragment");
    assert!(total.claims * 4 > done, "only {} claims", total.claims);
    assert!(
        total.examples * 2 > done,
        "only {} examples",
        total.examples
    );
    assert!(
        total.implied * 10 > done,
        "only {} implications",
        total.implied
    );
}
