use crate::lint::{Lint, LintInfo};

finding!(
    InvalidSuppression,
    JIT016,
    "invalid-suppression",
    Warning,
    "a `jitp-allow` comment without a reason or naming an unknown finding",
    r#"# JIT016 invalid-suppression (warning)

## What it catches
A `// jitp-allow(...)` comment that does not parse, names a code or name
that is not a finding, or gives no reason after the colon. It does not
suppress anything. Suppression findings cannot themselves be suppressed.

## Why it matters
A suppression is a decision that a finding is acceptable; the reason is
what lets a reviewer check that decision later. Without it, suppressions
become a way to silence the analyser.

## Example
```jitp
// jitp-allow(JIT008)
permit Operator to hosts.* on Host
```

## How to fix
```jitp
// jitp-allow(JIT008): every hosts.* action is read-only inventory
permit Operator to hosts.* on Host
```
"#
);

impl Lint for InvalidSuppression {
    fn info(&self) -> &'static LintInfo {
        &Self::INFO
    }
}
