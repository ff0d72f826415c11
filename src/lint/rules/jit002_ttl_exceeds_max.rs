use crate::check::hir::{Rule, RuleId, TaskDef, TaskId};
use crate::lint::{draft, Context, Draft, Key, Lint, LintInfo};
use crate::syntax::ast::TaskKind;

finding!(
    TtlExceedsMax,
    JIT002,
    "ttl-exceeds-max",
    Error,
    "a task ttl or a rule's `for` above the configured maximum",
    r#"# JIT002 ttl-exceeds-max (error)

## What it catches
A `task` whose `ttl` is longer than `max_ttl` (default 8h), and a rule
whose `for` makes it live longer than that (its task has no ttl, or a
longer one that is not itself reported). Set `max_ttl` in `jitp.toml`
beside the policies. A `breakglass` block whose `ttl` is longer than
`max_breakglass_ttl` is reported as JIT011, with the other break-glass
findings; a rule's `for` in a break-glass block is measured against
`max_breakglass_ttl` here.

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
        // Break-glass lifetimes are JIT011's.
        if t.kind != TaskKind::Task {
            return;
        }
        let Some(ttl) = t.ttl else { return };
        let max = cx.config.max_ttl;
        if ttl <= max {
            return;
        }
        out.push(Draft {
            diagnostic: draft(
                &Self::INFO,
                t.span,
                format!(
                    "task `{}` lives {ttl}, longer than the maximum of {max}",
                    t.name
                ),
                format!("ttl {ttl}"),
            )
            .with_help(format!(
                "shorten the ttl to {max} or less, or raise `max_ttl` in `jitp.toml`"
            )),
            subject: t.span,
            key: Key::task(&t.name),
        });
    }

    fn check_rule(&self, cx: &Context<'_>, _: RuleId, r: &Rule, out: &mut Vec<Draft>) {
        let (Some(f), Some(task)) = (
            r.for_ttl,
            r.task.and_then(|t| cx.program.tasks.get(t.index())),
        ) else {
            return;
        };
        let (max, key) = match task.kind {
            TaskKind::Task => (cx.config.max_ttl, "max_ttl"),
            TaskKind::Breakglass => (cx.config.max_breakglass_ttl, "max_breakglass_ttl"),
        };
        // The rule lives for the shorter of its `for` and the task's ttl;
        // only a `for` that is that lifetime, and too long, is reported here
        // (a task ttl above the maximum is reported on the task).
        let lifetime_is_for = task.ttl.is_none_or(|t| f < t);
        if f <= max || !lifetime_is_for {
            return;
        }
        out.push(Draft {
            diagnostic: draft(
                &Self::INFO,
                r.head,
                format!(
                    "{} lives {f} (its `for`), longer than the maximum of {max}",
                    cx.rule_name(r)
                ),
                format!("for {f}"),
            )
            .with_help(format!(
                "shorten the `for` to {max} or less, or raise `{key}` in `jitp.toml`"
            )),
            subject: r.span,
            key: Key::rule(&r.id).part("for"),
        });
    }
}
