use crate::check::hir::{TaskDef, TaskId};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use crate::syntax::ast::TaskKind;

finding!(
    TtlExceedsMax,
    JIT002,
    "ttl-exceeds-max",
    Error,
    "a task or break-glass ttl above the configured maximum",
    r#"# JIT002 ttl-exceeds-max (error)

## What it catches
A `task` whose `ttl` is longer than `max_ttl` (default 8h), or a
`breakglass` block whose `ttl` is longer than `max_breakglass_ttl`
(default 1h). Both are set in `jitp.toml` beside the policies.

## Why it matters
A grant that lives for days is standing privilege with extra steps. Short
windows limit what a leaked credential or a runaway job can do.

## Example
```jitp
task nightly_backup {
  ttl 7d
  permit BackupJob to backups.write on Bucket
}
```

## How to fix
Shorten the task to the time the work really takes (`ttl 4h`), and start a
new task for the next run. If the organisation accepts longer windows,
raise `max_ttl` in `jitp.toml` for everyone, visibly, in review.
"#
);

impl Lint for TtlExceedsMax {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_task(&self, cx: &Context<'_>, _: TaskId, t: &TaskDef, out: &mut Vec<Draft>) {
        let Some(ttl) = t.ttl else { return };
        let (max, key, kind) = match t.kind {
            TaskKind::Task => (cx.config.max_ttl, "max_ttl", "task"),
            TaskKind::Breakglass => (
                cx.config.max_breakglass_ttl,
                "max_breakglass_ttl",
                "break-glass",
            ),
        };
        if ttl <= max {
            return;
        }
        out.push(Draft {
            diagnostic: draft(
                &Self::INFO,
                t.span,
                format!(
                    "{kind} `{}` lives {ttl}, longer than the maximum of {max}",
                    t.name
                ),
                format!("ttl {ttl}"),
            )
            .with_help(format!(
                "shorten the ttl to {max} or less, or raise `{key}` in `jitp.toml`"
            )),
            subject: t.span,
            key: Key::task(&t.name),
        });
    }
}
