//! Horizons: how long a condition that depends on `now` keeps its value.
//!
//! A grant lasts until the earliest instant at which the rule that decided
//! it stops applying. Besides the task's end, that is the first instant at
//! which one of the `now` comparisons on the deciding path changes value,
//! with everything else in the request fixed. Both the VM (in its tracked
//! mode, `exec.rs`) and the reference interpreter use these functions, so
//! they agree to the microsecond.
//!
//! Values derived from `now` carry a *slope*: how fast they move as time
//! passes (`now` and `now + 1h` move at 1, `t - now` at -1, a constant at
//! 0). A comparison of two values whose slopes differ changes value at a
//! computable instant; one whose slopes are equal never changes as time
//! passes. Booleans carry a *horizon*: the first instant after `now` at
//! which they may change value ([`NEVER`] when time cannot change them).
//!
//! `and` and `or` combine horizons as [`combine`] says; `not` keeps its
//! operand's horizon.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use crate::bytecode::{cmp, CmpOp};
use crate::value::Time;

/// The horizon of a condition time cannot change.
pub const NEVER: i64 = i64::MAX;

/// The slope of a value whose dependence on `now` overflowed the slope
/// arithmetic (absurd expressions only): its comparisons are not bounded.
pub const UNKNOWN_SLOPE: i32 = i32::MIN;

/// How many short-circuited operands may be evaluated one inside another
/// to look for a longer horizon (see [`combine`]); deeper ones are not
/// evaluated, which only ever shortens a grant.
pub const MAX_SPECULATION: u32 = 16;

/// The slope of `a + b`.
pub fn slope_add(a: i32, b: i32) -> i32 {
    if a == UNKNOWN_SLOPE || b == UNKNOWN_SLOPE {
        return UNKNOWN_SLOPE;
    }
    a.checked_add(b)
        .filter(|s| *s != UNKNOWN_SLOPE)
        .unwrap_or(UNKNOWN_SLOPE)
}

/// The slope of `a - b`.
pub fn slope_sub(a: i32, b: i32) -> i32 {
    slope_add(a, slope_neg(b))
}

/// The slope of `-a`.
pub fn slope_neg(a: i32) -> i32 {
    a.checked_neg().unwrap_or(UNKNOWN_SLOPE)
}

/// The first instant after `now` at which `x <op> y` changes value, where
/// `x` and `y` are the values (µs) of two operands moving at slopes `sx`
/// and `sy`; [`NEVER`] when it keeps its value for ever. A finite horizon
/// is capped at [`Time::LATEST`], like a task's end.
///
/// `now < T` changes at `T`; `now <= T` at `T` plus one microsecond (the
/// resolution of time in jitp: it still holds at `T`); `now > T` and
/// `now >= T`, once true, never change.
pub fn compare(now: i64, op: CmpOp, x: i64, sx: i32, y: i64, sy: i32) -> i64 {
    if sx == UNKNOWN_SLOPE || sy == UNKNOWN_SLOPE {
        return NEVER;
    }
    let d = i128::from(sx) - i128::from(sy);
    if d == 0 {
        return NEVER;
    }
    // diff(e) = (x - y) + d·e after e microseconds; make d positive.
    let mut diff = i128::from(x) - i128::from(y);
    let mut op = op;
    if d < 0 {
        diff = -diff;
        op = match op {
            cmp::LT => cmp::GT,
            cmp::LE => cmp::GE,
            cmp::GT => cmp::LT,
            cmp::GE => cmp::LE,
            o => o,
        };
    }
    let d = d.abs();
    let ceil = |n: i128| (n + d - 1) / d; // n > 0
    let elapsed = match op {
        // `diff < 0` and `diff >= 0` change when diff reaches 0
        cmp::LT | cmp::GE if diff < 0 => ceil(-diff),
        // `diff <= 0` and `diff > 0` change when diff passes 0
        cmp::LE | cmp::GT if diff <= 0 => -diff / d + 1,
        cmp::EQ | cmp::NE if diff == 0 => 1,
        cmp::EQ | cmp::NE if diff < 0 && (-diff) % d == 0 => -diff / d,
        _ => return NEVER,
    };
    let at = i128::from(now) + elapsed;
    i64::try_from(at.min(i128::from(Time::LATEST.0))).unwrap_or(Time::LATEST.0)
}

/// The horizon of `a and b` (`short` false) or `a or b` (`short` true),
/// given `a`'s value and horizon and, for `b`:
///
/// - when `a` is the short-circuiting value, the result is `a`'s. `b` is
///   still evaluated (a failure is ignored): if it has the same value, the
///   result lasts as long as the longer of the two (an `or` holds while
///   either disjunct does); otherwise as long as `a`.
/// - otherwise the result is `b`'s: if `b` is the short-circuiting value,
///   it lasts as long as `b`; if not (both true under `and`, both false
///   under `or`), as long as the shorter of the two.
///
/// `b` is `Some((value, horizon))` when it evaluated to a `Bool`. The
/// second element of each horizon is an opaque source (which condition
/// bounds it), kept from the operand that decides; ties go to `a`.
pub fn combine<S: Copy>(short: bool, a: (bool, (i64, S)), b: Option<(bool, (i64, S))>) -> (i64, S) {
    let (va, ha) = a;
    let max = |x: (i64, S), y: (i64, S)| if y.0 > x.0 { y } else { x };
    let min = |x: (i64, S), y: (i64, S)| if y.0 < x.0 { y } else { x };
    match b {
        Some((vb, hb)) if va == short => {
            if vb == short {
                max(ha, hb)
            } else {
                ha
            }
        }
        None if va == short => ha,
        Some((vb, hb)) if vb == short => hb,
        Some((_, hb)) => min(ha, hb),
        None => ha,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_with_now() {
        let n = 1_000;
        assert_eq!(compare(n, cmp::LT, n, 1, 5_000, 0), 5_000);
        assert_eq!(compare(n, cmp::LE, n, 1, 5_000, 0), 5_001);
        assert_eq!(compare(n, cmp::GT, n, 1, 5_000, 0), 5_001);
        assert_eq!(compare(n, cmp::GE, n, 1, 5_000, 0), 5_000);
        assert_eq!(compare(n, cmp::GT, n, 1, 500, 0), NEVER);
        assert_eq!(compare(n, cmp::GE, n, 1, 500, 0), NEVER);
        assert_eq!(compare(n, cmp::LT, n, 1, 500, 0), NEVER);
        // T > now is now < T
        assert_eq!(compare(n, cmp::GT, 5_000, 0, n, 1), 5_000);
        // equality changes when reached and right after
        assert_eq!(compare(n, cmp::EQ, n, 1, 5_000, 0), 5_000);
        assert_eq!(compare(n, cmp::EQ, n, 1, n, 0), n + 1);
        assert_eq!(compare(n, cmp::NE, n, 1, 10, 0), NEVER);
        // now - t <= 15: holds until t + 15 inclusive
        assert_eq!(compare(n, cmp::LE, n - 990, 1, 15, 0), 1_006);
        // equal slopes never cross
        assert_eq!(compare(n, cmp::LT, n, 1, n + 5, 1), NEVER);
        // slope 2 (now - t) + (now - t) < 10 with t = now - 1: diff = -8
        assert_eq!(compare(n, cmp::LT, 2, 2, 10, 0), n + 4);
        assert_eq!(compare(n, cmp::LT, n, UNKNOWN_SLOPE, 5_000, 0), NEVER);
        // capped
        assert_eq!(compare(n, cmp::LE, n, 1, Time::LATEST.0, 0), Time::LATEST.0);
    }

    #[test]
    fn and_or() {
        let h = |v: bool, t: i64| (v, (t, t));
        // and: both true, the shorter
        assert_eq!(combine(false, h(true, 5), Some(h(true, 3))).0, 3);
        // and: a false, b false too: the longer (both must flip)
        assert_eq!(combine(false, h(false, 5), Some(h(false, 9))).0, 9);
        assert_eq!(combine(false, h(false, 5), Some(h(true, 9))).0, 5);
        assert_eq!(combine(false, h(false, 5), None).0, 5);
        // and: a true, b false: b's
        assert_eq!(combine(false, h(true, 5), Some(h(false, 9))).0, 9);
        // or: either holding keeps it
        assert_eq!(combine(true, h(true, 5), Some(h(true, 9))).0, 9);
        assert_eq!(combine(true, h(true, 5), Some(h(false, 2))).0, 5);
        assert_eq!(combine(true, h(false, 2), Some(h(true, 7))).0, 7);
        assert_eq!(combine(true, h(false, 2), Some(h(false, 7))).0, 2);
        assert_eq!(slope_add(i32::MAX, 1), UNKNOWN_SLOPE);
        assert_eq!(slope_neg(UNKNOWN_SLOPE), UNKNOWN_SLOPE);
        assert_eq!(slope_sub(1, 1), 0);
    }
}
