use super::is_permit;
use crate::check::hir::{Rule, RuleId};
use crate::diagnostic::Severity;
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use crate::span::Span;
use crate::syntax::lexer::{lex, Tok};

finding!(
    WildcardAction,
    JIT008,
    "wildcard-action",
    Warning,
    "a permit to `*` or `ns.*` actions; an error for `*` on `*`",
    r#"# JIT008 wildcard-action (warning; error for `*` on `*`)

## What it catches
A `permit` whose actions are `*` (every action) or `ns.*` (every action of
a namespace). `permit ... to * on *` is full administration and is
reported as an error.

## Why it matters
A wildcard grants actions nobody has reviewed yet: an action added to the
schema next month is granted the day it appears, with no policy change in
review.

## Example
```jitp
task incident {
  ttl 1h
  permit Operator to hosts.* on Host
}
```

## How to fix
List the actions the task needs: `to hosts.ssh, hosts.restart on Host`.
"#
);

impl Lint for WildcardAction {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_rule(&self, cx: &Context<'_>, _: RuleId, r: &Rule, out: &mut Vec<Draft>) {
        if !is_permit(r) {
            return;
        }
        let Some((span, full)) = wildcard_in_head(cx, r) else {
            return;
        };
        let admin = full && r.resource.is_none();
        let mut d = if admin {
            draft(
                &Self::INFO,
                span,
                format!("{} grants every action on every resource", cx.rule_name(r)),
                "full administration",
            )
            .with_help("list the actions and resource types the work needs")
        } else if full {
            draft(
                &Self::INFO,
                span,
                format!("{} grants every action", cx.rule_name(r)),
                "every action, including ones declared later",
            )
            .with_help("list the actions the work needs")
        } else {
            let pattern = cx.sources.snippet(span).to_string();
            draft(
                &Self::INFO,
                span,
                format!(
                    "{} grants every action matching `{pattern}`",
                    cx.rule_name(r)
                ),
                "every action of the namespace, including ones declared later",
            )
            .with_help("list the actions the work needs")
        };
        if admin {
            d.severity = Severity::Error;
        }
        out.push(Draft {
            diagnostic: d,
            subject: r.span,
            key: Key::rule(&r.id),
        });
    }
}

/// The span of the first wildcard among the head's actions, and whether it
/// is `*` (rather than `ns.*`).
fn wildcard_in_head(cx: &Context<'_>, r: &Rule) -> Option<(Span, bool)> {
    let text = cx.sources.get(r.head.file)?.text.as_str();
    let head = text.get(r.head.range())?;
    let lexed = lex(r.head.file, head);
    let toks: Vec<(usize, &Tok, usize)> =
        lexed.tokens.iter().map(|(l, t, e)| (*l, t, *e)).collect();
    let to = toks.iter().position(|(_, t, _)| matches!(t, Tok::To))?;
    let mut start_of_item = to + 1;
    for k in (to + 1)..toks.len() {
        let (l, t, e) = toks.get(k)?;
        match t {
            Tok::On => break,
            Tok::Comma => start_of_item = k + 1,
            Tok::Star => {
                let first = toks.get(start_of_item).map_or(*l, |x| x.0);
                let base = r.head.start as usize;
                return Some((
                    Span::new(r.head.file, base + first..base + e),
                    start_of_item == k,
                ));
            }
            _ => {}
        }
    }
    None
}
