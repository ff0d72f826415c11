use crate::lint::{Lint, LintInfo};

finding!(
    UnusedSuppression,
    JIT017,
    "unused-suppression",
    Warning,
    "a `jitp-allow` comment that suppresses nothing",
    r#"# JIT017 unused-suppression (warning)

## What it catches
A `// jitp-allow(JIT...)` comment that does not suppress any finding:
the rule after it no longer triggers that finding, or the comment is not
on the line before the rule (blank lines, comments, doc comments and
annotations may sit between them).

## Why it matters
A stale suppression silently exempts whatever is written there next.

## Example
```jitp
// jitp-allow(JIT009): every workload may read the catalogue
permit Service to catalogue.read on Catalogue
```

## How to fix
Delete the comment, or move it to the line before the rule it is meant
for.
"#
);

impl Lint for UnusedSuppression {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }
}
