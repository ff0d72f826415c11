//! The checker's constant evaluator: folds constants and set literals that
//! read no request values into [`ConstValue`]s.
//!
//! It follows the language's semantics exactly as the reference interpreter
//! does, but is written separately, so that the differential test (the VM,
//! which runs on these folded values, against the reference interpreter,
//! which evaluates the expressions itself) covers folding too.
//!
//! Evaluation is bounded: every evaluated node costs one step, and a
//! constant that needs more than [`MAX_STEPS`] (a function calling another
//! twice, many levels deep) is an error rather than a hang.

use super::hir::*;
use std::collections::BTreeSet;

/// Most evaluation steps (expression nodes evaluated) one constant or set
/// literal may take.
pub const MAX_STEPS: u64 = 1_000_000;

/// Why folding failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FoldError {
    /// Arithmetic overflow.
    Overflow,
    /// More than [`MAX_STEPS`] steps.
    TooCostly,
    /// Something that checking rules out (a bug, or an expression that
    /// already has an error).
    Internal(String),
}

type R<T> = Result<T, FoldError>;

fn internal<T>(what: &str) -> R<T> {
    Err(FoldError::Internal(what.to_string()))
}

/// Evaluates constant `c` of `p` from its expression. Constants it refers
/// to are taken from their folded values when those exist.
pub fn fold_const(p: &Program, c: ConstId) -> R<ConstValue> {
    let mut f = Folder { p, steps: 0 };
    f.constant(c)
}

/// Evaluates an expression that reads no request names and no parameters.
pub fn fold_closed(p: &Program, e: &Expr) -> R<ConstValue> {
    let mut f = Folder { p, steps: 0 };
    f.eval(&[], e)
}

struct Folder<'p> {
    p: &'p Program,
    steps: u64,
}

impl Folder<'_> {
    fn constant(&mut self, c: ConstId) -> R<ConstValue> {
        let Some(def) = self.p.consts.get(c.index()) else {
            return internal("unknown constant");
        };
        match &def.folded {
            Some(v) => Ok(v.clone()),
            None => self.eval(&[], &def.value),
        }
    }

    fn eval(&mut self, params: &[ConstValue], e: &Expr) -> R<ConstValue> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(FoldError::TooCostly);
        }
        Ok(match &e.kind {
            ExprKind::Lit(l) => match l {
                Literal::Bool(b) => ConstValue::Bool(*b),
                Literal::Int(i) => ConstValue::Int(*i),
                Literal::Str(s) => ConstValue::Str(s.clone()),
                Literal::Time(t) => ConstValue::Time(t.0),
                Literal::Duration(d) => ConstValue::Dur(d.0),
                Literal::Decimal(d) => ConstValue::Dec(d.0),
                Literal::Ip(ip) => ConstValue::Ip(*ip),
                Literal::Net(n) => ConstValue::Net(*n),
                Literal::Enum(_, v) => ConstValue::Enum(*v),
            },
            ExprKind::Set(items) => {
                let mut set = BTreeSet::new();
                for i in items {
                    set.insert(self.eval(params, i)?);
                }
                ConstValue::Set(set)
            }
            ExprKind::Var(Var::Param(i)) => {
                return params
                    .get(*i as usize)
                    .cloned()
                    .map_or_else(|| internal("parameter"), Ok);
            }
            ExprKind::Var(_) => return internal("request name in a constant"),
            ExprKind::Const(c) => self.constant(*c)?,
            ExprKind::Field { base, .. } => match self.eval(params, base)? {
                ConstValue::Absent => ConstValue::Absent,
                _ => return internal("field of a non-record"),
            },
            ExprKind::TaskField(_) => return internal("task field without a task"),
            ExprKind::Call(f, args) => {
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.eval(params, a)?);
                }
                let Some(def) = self.p.fns.get(f.index()) else {
                    return internal("unknown function");
                };
                self.eval(&values, &def.body)?
            }
            ExprKind::Method { method, recv, args } => {
                let r = self.eval(params, recv)?;
                let mut a = Vec::with_capacity(args.len());
                for x in args {
                    a.push(self.eval(params, x)?);
                }
                if r == ConstValue::Absent || a.contains(&ConstValue::Absent) {
                    return Ok(if method.is_predicate() {
                        ConstValue::Bool(false)
                    } else {
                        ConstValue::Absent
                    });
                }
                method_value(*method, &r, a.first())?
            }
            ExprKind::Not(x) => match self.eval(params, x)? {
                ConstValue::Bool(b) => ConstValue::Bool(!b),
                _ => return internal("not"),
            },
            ExprKind::Neg(x) => match self.eval(params, x)? {
                ConstValue::Int(i) => ConstValue::Int(i.checked_neg().ok_or(FoldError::Overflow)?),
                ConstValue::Dur(d) => ConstValue::Dur(d.checked_neg().ok_or(FoldError::Overflow)?),
                ConstValue::Dec(d) => ConstValue::Dec(d.checked_neg().ok_or(FoldError::Overflow)?),
                _ => return internal("neg"),
            },
            ExprKind::And(a, b) => match self.eval(params, a)? {
                ConstValue::Bool(false) => ConstValue::Bool(false),
                ConstValue::Bool(true) => self.eval(params, b)?,
                _ => return internal("and"),
            },
            ExprKind::Or(a, b) => match self.eval(params, a)? {
                ConstValue::Bool(true) => ConstValue::Bool(true),
                ConstValue::Bool(false) => self.eval(params, b)?,
                _ => return internal("or"),
            },
            ExprKind::Cmp(op, a, b) => {
                let x = self.eval(params, a)?;
                let y = self.eval(params, b)?;
                compare(*op, &x, &y)?
            }
            ExprKind::Arith(op, a, b) => {
                let x = self.eval(params, a)?;
                let y = self.eval(params, b)?;
                arith(*op, x, y)?
            }
            ExprKind::In(a, b) => {
                let x = self.eval(params, a)?;
                if let ExprKind::Set(items) = &b.kind {
                    // A set literal is tried item by item, left to right, up
                    // to the first match (like `or`); nothing when `x` is
                    // absent.
                    if x == ConstValue::Absent {
                        return Ok(ConstValue::Bool(false));
                    }
                    for item in items {
                        let found = match (&x, self.eval(params, item)?) {
                            (ConstValue::Ip(ip), ConstValue::Net(n)) => n.contains(*ip),
                            (x, y) => *x == y,
                        };
                        if found {
                            return Ok(ConstValue::Bool(true));
                        }
                    }
                    return Ok(ConstValue::Bool(false));
                }
                let y = self.eval(params, b)?;
                membership(&x, &y)?
            }
            ExprKind::Like(a, pat) => match self.eval(params, a)? {
                ConstValue::Absent => ConstValue::Bool(false),
                ConstValue::Str(s) => ConstValue::Bool(pat.matches(&s)),
                _ => return internal("like"),
            },
            ExprKind::Default(a, b) => match self.eval(params, a)? {
                ConstValue::Absent => self.eval(params, b)?,
                v => v,
            },
            ExprKind::Has(x) => ConstValue::Bool(self.eval(params, x)? != ConstValue::Absent),
            ExprKind::Error => return internal("error node"),
        })
    }
}

/// A method on present operands.
fn method_value(m: Method, r: &ConstValue, arg: Option<&ConstValue>) -> R<ConstValue> {
    use ConstValue as V;
    Ok(match (m, r, arg) {
        (Method::StartsWith, V::Str(s), Some(V::Str(x))) => V::Bool(s.starts_with(x.as_str())),
        (Method::EndsWith, V::Str(s), Some(V::Str(x))) => V::Bool(s.ends_with(x.as_str())),
        (Method::StrContains, V::Str(s), Some(V::Str(x))) => V::Bool(s.contains(x.as_str())),
        (Method::Contains, V::Set(s), Some(x)) => V::Bool(s.contains(x)),
        (Method::ContainsAny, V::Set(s), Some(V::Set(x))) => {
            V::Bool(x.iter().any(|v| s.contains(v)))
        }
        (Method::ContainsAll, V::Set(s), Some(V::Set(x))) => {
            V::Bool(x.iter().all(|v| s.contains(v)))
        }
        (Method::IsEmpty, V::Set(s), None) => V::Bool(s.is_empty()),
        (Method::Len, V::Set(s), None) => V::Int(s.len() as i64),
        _ => return internal("method operands"),
    })
}

/// A comparison; false when an operand is absent.
fn compare(op: CmpOp, x: &ConstValue, y: &ConstValue) -> R<ConstValue> {
    use ConstValue as V;
    if *x == V::Absent || *y == V::Absent {
        return Ok(V::Bool(false));
    }
    Ok(V::Bool(match op {
        CmpOp::Eq => x == y,
        CmpOp::Ne => x != y,
        _ => {
            let ord = match (x, y) {
                (V::Int(a), V::Int(b))
                | (V::Time(a), V::Time(b))
                | (V::Dur(a), V::Dur(b))
                | (V::Dec(a), V::Dec(b)) => a.cmp(b),
                _ => return internal("ordering"),
            };
            match op {
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Le => ord.is_le(),
                CmpOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            }
        }
    }))
}

/// Checked `+` and `-` on Int, Time, Duration and Decimal, and `*` of a
/// Decimal by an Int.
fn arith(op: ArithOp, x: ConstValue, y: ConstValue) -> R<ConstValue> {
    use ConstValue as V;
    let over = FoldError::Overflow;
    if op == ArithOp::Mul {
        return match (x, y) {
            (V::Dec(a), V::Int(b)) | (V::Int(b), V::Dec(a)) => {
                Ok(V::Dec(a.checked_mul(b).ok_or(over)?))
            }
            _ => internal("multiplication"),
        };
    }
    let add = op == ArithOp::Add;
    let f = |a: i64, b: i64| {
        if add {
            a.checked_add(b)
        } else {
            a.checked_sub(b)
        }
    };
    Ok(match (x, y) {
        (V::Int(a), V::Int(b)) => V::Int(f(a, b).ok_or(over)?),
        (V::Time(a), V::Dur(b)) => V::Time(f(a, b).ok_or(over)?),
        (V::Dur(a), V::Time(b)) if add => V::Time(a.checked_add(b).ok_or(over)?),
        (V::Time(a), V::Time(b)) if !add => V::Dur(a.checked_sub(b).ok_or(over)?),
        (V::Dur(a), V::Dur(b)) => V::Dur(f(a, b).ok_or(over)?),
        (V::Dec(a), V::Dec(b)) => V::Dec(f(a, b).ok_or(over)?),
        _ => return internal("arithmetic"),
    })
}

/// `x in y` where `y` is not a set literal; false when an operand is absent.
fn membership(x: &ConstValue, y: &ConstValue) -> R<ConstValue> {
    use ConstValue as V;
    Ok(V::Bool(match (x, y) {
        (V::Absent, _) | (_, V::Absent) => false,
        (V::Ip(ip), V::Net(n)) => n.contains(*ip),
        (V::Ip(ip), V::Set(s)) if s.iter().all(|v| matches!(v, V::Net(_))) && !s.is_empty() => {
            s.iter().any(|v| matches!(v, V::Net(n) if n.contains(*ip)))
        }
        (x, V::Set(s)) => s.contains(x),
        _ => return internal("in"),
    }))
}
