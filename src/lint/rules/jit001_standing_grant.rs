use super::{actions_of, is_permit, most_sensitive};
use crate::check::hir::{CmpOp, Expr, ExprKind, Rule, RuleId, TaskDef, TaskId, Var};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use crate::syntax::ast::Sensitivity;

finding!(
    StandingGrant,
    JIT001,
    "standing-grant",
    Error,
    "a permit outside any task, or in a task without a ttl",
    r#"# JIT001 standing-grant (error)

## What it catches
A `permit` outside any `task` block, and a `task` without a `ttl` with a
permit that has no `for` of its own. Both grant a right that never
lapses. A permit outside a task is accepted when
it carries `@standing("why")` and every action it grants is `low`
sensitivity.

## Why it matters
A right that is valid forever is standing privilege: a stolen credential
or a confused agent can use it at any time, long after the work it was
for has ended.

## Example
```jitp
permit ServiceAccount to secrets.rotate on Secret
  when principal.team == "platform"
```

## How to fix
Move the permit into a task with a `ttl`, so it exists only while that
task runs:

```jitp
task rotate_secrets {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == "platform"
}
```

If the grant is a harmless read that must stay available, declare its
actions `sensitivity low` and say why with `@standing("public catalogue
reads")`.

A standing permit whose `when` is bounded by time (`now < T`, `now <=
T` or `now in W`, as a conjunct, on every side of an `or`, or through
`not` and `unless`, as in `unless now >= T`) does lapse, and its grants carry that
`expires_at`, but it is still a finding: nothing but the clock stands
between any principal that matches it and the right, with no task, no
approval and no `ttl`. The message says which kind of bound it has: a
fixed deadline (a constant or a literal), or one the caller supplies in
the request (`context.change.window`, `context.deadline`), which a
caller can simply set far in the future:

```jitp
// JIT001: lapses only when the caller-supplied window ends
permit Operator to db.write on Database
  when now in context.change?.window
```
"#
);

impl Lint for StandingGrant {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_task(&self, cx: &Context<'_>, task: TaskId, t: &TaskDef, out: &mut Vec<Draft>) {
        if t.ttl.is_some() {
            return;
        }
        let permits = cx
            .program
            .rules
            .iter()
            // A permit with a `for` lapses after it (JIT002 judges how long).
            .filter(|r| is_permit(r) && r.task == Some(task) && r.for_ttl.is_none())
            .count();
        if permits == 0 {
            return;
        }
        out.push(Draft {
            diagnostic: draft(
                &Self::INFO,
                t.span,
                if permits == 1 {
                    format!("task `{}` has no ttl, so its 1 permit never lapses", t.name)
                } else {
                    format!(
                        "task `{}` has no ttl, so its {permits} permits never lapse",
                        t.name
                    )
                },
                "no `ttl`",
            )
            .with_help("give the task a lifetime, e.g. `ttl 1h`"),
            subject: t.span,
            key: Key::task(&t.name),
        });
    }

    fn check_rule(&self, cx: &Context<'_>, _: RuleId, r: &Rule, out: &mut Vec<Draft>) {
        if !is_permit(r) || r.task.is_some() {
            return;
        }
        let actions = actions_of(cx.program, r);
        let top = most_sensitive(cx.program, &actions);
        let diagnostic = match &r.standing_reason {
            Some(_) => {
                // Over the expanded actions: `logs.*` on only low actions
                // is a low grant.
                let what = match top {
                    Some((Sensitivity::Low, _)) => return,
                    Some((s, name)) => format!("`{name}` is {} sensitivity", sensitivity(s)),
                    None => return,
                };
                draft(
                    &Self::INFO,
                    r.head,
                    format!("{} is a standing grant of more than low-sensitivity actions", cx.rule_name(r)),
                    format!("`@standing` only covers low-sensitivity actions; {what}"),
                )
                .with_help("move the permit into a task with a `ttl`")
            }
            None => draft(
                &Self::INFO,
                r.head,
                format!("{} is granted outside any task", cx.rule_name(r)),
                match rule_time_bound(r) {
                    Some(Bound::Fixed) => "lapses only at a fixed deadline",
                    Some(Bound::Caller) => "lapses only when the caller-supplied window ends",
                    None => "never lapses",
                },
            )
            .with_help("move it into a `task` block with a `ttl`; a harmless low-sensitivity read may instead say why with `@standing(\"...\")`"),
        };
        out.push(Draft {
            diagnostic,
            subject: r.span,
            key: Key::rule(&r.id),
        });
    }
}

/// What bounds a standing permit in time.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Bound {
    /// A constant or literal instant.
    Fixed,
    /// An instant or window from the request.
    Caller,
}

/// What bounds a rule in time when `e` must evaluate to `holds` for it to
/// apply: `now < T`, `now <= T`, `T > now`, `T >= now` or `now in W`
/// (and, when `e` must be false, `now >= T`, `now > T`, ...), through
/// `not`, every conjunct of an `and` (a fixed bound first), and an `or`
/// only when each side is bounded (by the caller if either side is).
fn time_bound(e: &Expr, holds: bool) -> Option<Bound> {
    let now = |x: &Expr| matches!(x.kind, ExprKind::Var(Var::Now));
    let kind = |t: &Expr| match t.kind {
        ExprKind::Const(_) | ExprKind::Lit(_) => Bound::Fixed,
        _ => Bound::Caller,
    };
    let any = |x: Option<Bound>, y: Option<Bound>| match (x, y) {
        (Some(Bound::Fixed), _) | (_, Some(Bound::Fixed)) => Some(Bound::Fixed),
        (x, y) => x.or(y),
    };
    let both = |x: Option<Bound>, y: Option<Bound>| match (x?, y?) {
        (Bound::Fixed, Bound::Fixed) => Some(Bound::Fixed),
        _ => Some(Bound::Caller),
    };
    match &e.kind {
        ExprKind::Not(x) => time_bound(x, !holds),
        // `a and b` true: both hold; false: either fails.
        ExprKind::And(a, b) if holds => any(time_bound(a, true), time_bound(b, true)),
        ExprKind::And(a, b) => both(time_bound(a, false), time_bound(b, false)),
        ExprKind::Or(a, b) if holds => both(time_bound(a, true), time_bound(b, true)),
        ExprKind::Or(a, b) => any(time_bound(a, false), time_bound(b, false)),
        ExprKind::Cmp(CmpOp::Lt | CmpOp::Le, a, t) if holds && now(a) => Some(kind(t)),
        ExprKind::Cmp(CmpOp::Gt | CmpOp::Ge, t, a) if holds && now(a) => Some(kind(t)),
        ExprKind::Cmp(CmpOp::Ge | CmpOp::Gt, a, t) if !holds && now(a) => Some(kind(t)),
        ExprKind::Cmp(CmpOp::Le | CmpOp::Lt, t, a) if !holds && now(a) => Some(kind(t)),
        ExprKind::In(a, w) if holds && now(a) && !matches!(w.kind, ExprKind::Set(_)) => {
            Some(kind(w))
        }
        _ => None,
    }
}

/// What bounds rule `r` in time: its `when` holding or its `unless` failing.
fn rule_time_bound(r: &Rule) -> Option<Bound> {
    let when = r.when.as_ref().and_then(|e| time_bound(e, true));
    let unless = r.unless.as_ref().and_then(|e| time_bound(e, false));
    match (when, unless) {
        (Some(Bound::Fixed), _) | (_, Some(Bound::Fixed)) => Some(Bound::Fixed),
        (x, y) => x.or(y),
    }
}

fn sensitivity(s: Sensitivity) -> &'static str {
    match s {
        Sensitivity::Low => "low",
        Sensitivity::Medium => "medium",
        Sensitivity::High => "high",
        Sensitivity::Critical => "critical",
    }
}
