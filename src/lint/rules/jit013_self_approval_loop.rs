use crate::lint::{Context, Draft, Lint, LintInfo};

finding!(
    SelfApprovalLoop,
    JIT013,
    "self-approval-loop",
    Error,
    "a principal type that can grant a task whose permits apply to itself",
    r#"# JIT013 self-approval-loop (error)

## What it catches
A principal type holding a permit to an action declared `grants task_x`,
where `task_x` has a permit that applies to the same principal type: it
can approve its own task, whatever the sensitivity of what the task
grants. When the chain also reaches a `high` or `critical` action it is
reported as JIT012 as well, with every hop.

## Why it matters
Approval only means something when it comes from someone else. A
workload that can activate its own task turns every task-scoped grant in
it into standing privilege.

## Example
```jitp
action tasks.approve on TaskRequest sensitivity medium grants report_run
task report_run {
  ttl 1h
  permit Agent to tasks.approve on TaskRequest when context.risk < 50
  permit Agent to reports.read on Report when context.risk < 50
}
```

## How to fix
Give the approving action to a different principal type (a human
approver), or remove the `grants` declaration.
"#
);

impl Lint for SelfApprovalLoop {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }

    fn check_program(&self, cx: &Context<'_>, out: &mut Vec<Draft>) {
        super::jit012_escalation_path::report(cx, out, false);
    }
}
