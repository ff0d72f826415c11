//! One module per finding. Each declares its registry entry with
//! [`finding!`], whose documentation text is both the module's rustdoc
//! and what `jitp lint --explain CODE` prints.

use super::Lint;

/// Declares a finding: a unit struct documented by `$doc`, with its
/// registry entry as `INFO`.
macro_rules! finding {
    ($ty:ident, $code:ident, $name:literal, $level:ident, $summary:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $ty;

        impl $ty {
            /// The registry entry.
            pub const INFO: $crate::lint::LintInfo = $crate::lint::LintInfo {
                code: $crate::diagnostic::Code::$code,
                name: $name,
                level: $crate::lint::Level::$level,
                summary: $summary,
                doc: $doc,
            };
        }
    };
}

/// JIT001 standing-grant.
pub mod jit001_standing_grant;
/// JIT002 ttl-exceeds-max.
pub mod jit002_ttl_exceeds_max;
/// JIT003 identity-only-condition.
pub mod jit003_identity_only_condition;
/// JIT004 vacuous-condition.
pub mod jit004_vacuous_condition;
/// JIT005 unsatisfiable-rule.
pub mod jit005_unsatisfiable_rule;
/// JIT006 shadowed-permit.
pub mod jit006_shadowed_permit;
/// JIT007 overridden-permit.
pub mod jit007_overridden_permit;
/// JIT008 wildcard-action.
pub mod jit008_wildcard_action;
/// JIT009 wildcard-principal.
pub mod jit009_wildcard_principal;
/// JIT010 sensitive-without-step-up.
pub mod jit010_sensitive_without_step_up;
/// JIT011 breakglass-unguarded.
pub mod jit011_breakglass_unguarded;
/// JIT012 escalation-path.
pub mod jit012_escalation_path;
/// JIT013 self-approval-loop.
pub mod jit013_self_approval_loop;
/// JIT014 missing-guard.
pub mod jit014_missing_guard;
/// JIT015 unused-declaration.
pub mod jit015_unused_declaration;
/// JIT016 invalid-suppression.
pub mod jit016_invalid_suppression;
/// JIT017 unused-suppression.
pub mod jit017_unused_suppression;

/// Every finding, in code order.
pub static ALL: &[&dyn Lint] = &[
    &jit001_standing_grant::StandingGrant,
    &jit002_ttl_exceeds_max::TtlExceedsMax,
    &jit003_identity_only_condition::IdentityOnlyCondition,
    &jit004_vacuous_condition::VacuousCondition,
    &jit005_unsatisfiable_rule::UnsatisfiableRule,
    &jit006_shadowed_permit::ShadowedPermit,
    &jit007_overridden_permit::OverriddenPermit,
    &jit008_wildcard_action::WildcardAction,
    &jit009_wildcard_principal::WildcardPrincipal,
    &jit010_sensitive_without_step_up::SensitiveWithoutStepUp,
    &jit011_breakglass_unguarded::BreakglassUnguarded,
    &jit012_escalation_path::EscalationPath,
    &jit013_self_approval_loop::SelfApprovalLoop,
    &jit014_missing_guard::MissingGuard,
    &jit015_unused_declaration::UnusedDeclaration,
    &jit016_invalid_suppression::InvalidSuppression,
    &jit017_unused_suppression::UnusedSuppression,
];

use crate::check::hir::{ActionId, Program, Rule};
use crate::syntax::ast::{Effect, Sensitivity};

/// Whether `rule` is a permit.
pub(crate) fn is_permit(rule: &Rule) -> bool {
    rule.effect == Effect::Permit
}

/// The actions a rule covers, exactly as the checker expanded its action
/// patterns and as lowering puts them into the bundle's rule index (which
/// the VM matches requests against): `ns.*` is the actions named `ns.…`,
/// `*` every action, both restricted to the actions declared `on` the
/// rule's resource types when it names them. Sorted, without duplicates.
///
/// Every finding and the privilege graph use this one set; a wildcard is
/// never taken to mean more.
pub(crate) fn actions_of(_program: &Program, rule: &Rule) -> Vec<ActionId> {
    let mut actions = rule.actions.clone();
    actions.sort_unstable();
    actions.dedup();
    actions
}

/// The highest sensitivity among `actions`, with the action's name.
pub(crate) fn most_sensitive<'p>(
    program: &'p Program,
    actions: &[ActionId],
) -> Option<(Sensitivity, &'p str)> {
    actions
        .iter()
        .filter_map(|a| program.actions.get(a.index()))
        .map(|a| (a.sensitivity, a.name.as_str()))
        .max_by_key(|(s, _)| *s)
}

/// Whether `s` is high or critical.
pub(crate) fn is_sensitive(s: Sensitivity) -> bool {
    matches!(s, Sensitivity::High | Sensitivity::Critical)
}

/// Whether `outer`'s principals, actions and resources include `inner`'s.
pub(crate) fn covers(outer: &Rule, inner: &Rule) -> bool {
    let types = |o: &Option<Vec<crate::check::hir::EntityId>>,
                 i: &Option<Vec<crate::check::hir::EntityId>>| match (o, i) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(o), Some(i)) => i.iter().all(|t| o.contains(t)),
    };
    // The expanded sets, never the patterns: `vault.*` on `Secret` covers
    // no action of another namespace or resource type.
    let actions = inner.actions.iter().all(|a| outer.actions.contains(a));
    actions && types(&outer.principal, &inner.principal) && types(&outer.resource, &inner.resource)
}

/// Whether lifetime `a` is at least `b` (`None`: no limit).
pub(crate) fn ttl_at_least(
    a: Option<jitp_runtime::value::Duration>,
    b: Option<jitp_runtime::value::Duration>,
) -> bool {
    match (a, b) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => a >= b,
    }
}
