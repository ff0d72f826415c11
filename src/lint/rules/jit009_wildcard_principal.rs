use super::is_permit;
use crate::check::hir::{Rule, RuleId};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};

finding!(
    WildcardPrincipal,
    JIT009,
    "wildcard-principal",
    Warning,
    "a permit to `*` principals",
    r#"# JIT009 wildcard-principal (warning)

## What it catches
A `permit *` : a grant to every principal type, present and future.

## Why it matters
A new kind of workload or agent added to the schema inherits the grant
without anyone deciding it should. Grants should name who they are for.

## Example
```jitp
task read_reports {
  ttl 1h
  permit * to reports.read on Report
}
```

## How to fix
Name the principal types: `permit Analyst, ReportingJob to reports.read
on Report`.
"#
);

impl Lint for WildcardPrincipal {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_rule(&self, cx: &Context<'_>, _: RuleId, r: &Rule, out: &mut Vec<Draft>) {
        if !is_permit(r) || r.principal.is_some() {
            return;
        }
        out.push(Draft {
            diagnostic: draft(
                &Self::INFO,
                r.head,
                format!("{} is granted to every principal type", cx.rule_name(r)),
                "`*` principals",
            )
            .with_help("name the principal types the grant is for"),
            subject: r.span,
            key: Key::rule(&r.id),
        });
    }
}
