//! Snapshot tests of the compiler's diagnostics.
//!
//! Each case is a small, realistic policy (a little schema and a rule) with
//! exactly one mistake. The snapshot shows the policy source, a `---` line,
//! then the uncoloured report exactly as `jitp check` prints it, so a
//! reviewer can judge the message, the span, the labels and the help.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitp::diagnostic::{Code, Diagnostic, Severity};
use jitp::driver::check_text;
use jitp::render;
use jitp::span::SourceMap;
use std::collections::HashSet;

/// The snapshot text: the source, a separator, then the rendered report.
fn snapshot_text(sources: &SourceMap, source: &str, diags: &[Diagnostic]) -> String {
    let report = render::terminal(sources, diags, false);
    format!("{source}\n---\n{report}")
}

/// Checks `source` (leading newline removed) as `policy.jitp`; returns the
/// snapshot text and the diagnostics.
fn run(source: &str) -> (String, Vec<Diagnostic>) {
    let source = source.strip_prefix('\n').unwrap_or(source);
    let (sources, program, diags) = check_text("policy.jitp", source);
    let has_error = diags.iter().any(Diagnostic::is_error);
    assert_eq!(
        program.is_none(),
        has_error,
        "a program must be returned exactly when there are no errors"
    );
    (snapshot_text(&sources, source, &diags), diags)
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code.as_str()).collect()
}

/// Checks one case: the report must match the snapshot, and the policy
/// must produce exactly the diagnostics `expected`, in this order. A case
/// with one mistake should produce one diagnostic; cases that currently
/// produce follow-on diagnostics are marked `FIXME` where they are listed.
fn case(name: &str, expected: &[Code], source: &str) {
    let (text, diags) = run(source);
    insta::assert_snapshot!(name, text);
    let want: Vec<&str> = expected.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes(&diags), want, "case `{name}`");
}

/// Declares one test per case, `name: [codes] => source;`, and a constant
/// `$group` listing the case names.
macro_rules! cases {
    ($group:ident; $($name:ident: [$($code:ident),+] => $src:expr;)*) => {
        $(
            #[test]
            fn $name() {
                case(stringify!($name), &[$(Code::$code),+], $src);
            }
        )*
        const $group: &[&str] = &[$(stringify!($name),)*];
    };
}

// ------------------------------------------------------------------ lexing

cases! { LEX_CASES;
    lex_double_ampersand: [E0001] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low

@standing("read-only")
permit ServiceAccount to secrets.read on Secret
  when principal.team == "platform" && resource.env == "prod"
"#;

    lex_single_quotes: [E0001] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low

@standing("read-only")
permit ServiceAccount to secrets.read on Secret
  when principal.team == 'platform'
"#;

    lex_bang: [E0001] => r#"
entity ServiceAccount { team: String }
entity Secret { revoked: Bool }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when !resource.revoked
}
"#;

    lex_semicolon: [E0001] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m;
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == "platform"
}
"#;

    lex_hash_comment: [E0001, E0101] => r#"
entity ServiceAccount { team: String }
# secrets live in the vault
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    lex_unterminated_string: [E0002] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  notify "secops
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    lex_backslash_before_closing_quote: [E0002, E0102] => r#"
entity ServiceAccount { team: String }
entity Secret { path: String }
action secrets.read on Secret sensitivity low

@standing("read-only")
permit ServiceAccount to secrets.read on Secret
  when resource.path.starts_with("C:\secrets\")
"#;

    lex_bad_escape: [E0003] => r#"
entity ServiceAccount { team: String }
entity Secret { path: String }
action secrets.read on Secret sensitivity low

@standing("read-only")
permit ServiceAccount to secrets.read on Secret
  when resource.path.starts_with("\prod/")
"#;

    lex_bad_unicode_escape: [E0003] => r#"
entity ServiceAccount { team: String }
action tickets.comment on ServiceAccount sensitivity low

task triage {
  ttl 1h
  notify "oncall \u{110000}"
}
"#;

    lex_integer_overflow: [E0004] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.read on Secret sensitivity low

forbid * when context.risk >= 99999999999999999999
"#;

    lex_bad_duration_order: [E0005] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 30m1h
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    lex_cidr_host_bits: [E0006] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { source_ip: Ip }
action secrets.read on Secret sensitivity low

forbid secrets.* when not (context.source_ip in 10.0.0.1/8)
"#;

    lex_bad_ip: [E0006] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { source_ip: Ip }
action secrets.read on Secret sensitivity low

forbid secrets.* when context.source_ip == 10.0.0.256
"#;

    lex_duration_unknown_unit: [E0005] => r#"
task rotate {
  ttl 30min
}
"#;

    lex_duration_weeks: [E0005] => r#"
task rotate {
  ttl 2weeks
}
"#;

    lex_decimal_too_precise: [E0008] => r#"
entity Agent { team: String }
entity Order { total: Decimal }
action orders.refund on Order sensitivity high

forbid orders.refund when resource.total < 0.0000001
"#;

    lex_decimal_out_of_range: [E0008] => r#"
const CEILING = 10000000000000.0
"#;
}

// ------------------------------------------------------------------ parsing

cases! { PARSE_CASES;
    // FIXME(compiler): recovery drops the unclosed entity, so the rule
    // then reports `ServiceAccount` as an unknown type.
    parse_missing_closing_brace: [E0101, E0203] => r#"
entity ServiceAccount {
  team: String

entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    parse_missing_to: [E0101] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount secrets.rotate on Secret
    when principal.team == "platform"
}
"#;

    parse_assign_instead_of_eq: [E0301, E0101] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team = "platform"
}
"#;

    parse_allow_instead_of_permit: [E0101] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  allow ServiceAccount to secrets.rotate on Secret
}
"#;

    parse_unexpected_eof: [E0102] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team =="#;

    parse_unknown_action_attribute: [E0101] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivty high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    parse_generic_not_set: [E0203] => r#"
entity ServiceAccount {
  team: String
  labels: List<String>
}
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    annotation_unknown: [E0103] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  @ids("rotate-prod")
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    annotation_duplicate_id: [E0201] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  @id("secrets-access")
  permit ServiceAccount to secrets.rotate on Secret
  @id("secrets-access")
  permit ServiceAccount to secrets.read on Secret
}
"#;

    annotation_given_twice: [E0104] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low

@standing("catalogue reads")
@standing("monitoring")
permit ServiceAccount to secrets.read on Secret
"#;

    annotation_standing_in_task: [E0104] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  @standing("rotation is routine")
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    annotation_empty_standing_reason: [E0307] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low

@standing("")
permit ServiceAccount to secrets.read on Secret
"#;

    clause_for_on_standing_rule: [E0402] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low

@standing("read-only")
permit ServiceAccount to secrets.read on Secret
  for 15m
  when principal.team == "platform"
"#;

    clause_for_longer_than_ttl: [E0402] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    for 1h
    when principal.team == "platform"
}
"#;

    clause_for_on_forbid: [E0105] => r#"
entity ServiceAccount { team: String }
entity Secret { revoked: Bool }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  forbid secrets.rotate on Secret for 5m when resource.revoked
}
"#;

    clause_duplicate_when: [E0105] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == "platform"
    when resource.env == "prod"
}
"#;

    clause_require_on_forbid: [E0105] => r#"
entity ServiceAccount { team: String }
entity Secret { revoked: Bool }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

forbid secrets.rotate on Secret
  when context.risk >= 80
  require resource.revoked else "not revoked"
"#;

    task_unknown_setting: [E0101] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  tll 5m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    task_two_ttls: [E0403] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  notify "secops"
  ttl 30m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    task_zero_ttl: [E0403] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 0s
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    package_not_first: [E0106] => r#"
use std.time

package acme.platform

entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;
}

// ------------------------------------------------------------- declarations

cases! { DECL_CASES;
    decl_entity_twice: [E0201] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
entity ServiceAccount { owner: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == "platform"
}
"#;

    decl_field_twice: [E0201] => r#"
entity ServiceAccount {
  team: String
  env: String
  team: String
}
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == "platform" and principal.env == resource.env
}
"#;

    decl_implicit_id_redeclared: [E0201] => r#"
entity ServiceAccount { team: String }
entity Secret {
  id: String
  env: String
}
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when resource.id.starts_with("db-")
}
"#;

    decl_enum_variant_twice: [E0201] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
enum TicketStatus { open, approved, closed, approved }
context { status: TicketStatus }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when context.status == TicketStatus.approved
}
"#;

    decl_task_twice: [E0201] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}

task rotate {
  ttl 30m
  permit ServiceAccount to secrets.rotate on Secret
    when resource.env == "staging"
}
"#;

    decl_action_twice: [E0201] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high
action secrets.rotate on Secret sensitivity critical

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    decl_reserved_name: [E0201] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

const now = 80

forbid * when context.risk >= 80
"#;

    decl_builtin_type_name: [E0201] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
record Time {
  hour: Int
  minute: Int
}
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    decl_unknown_sensitivity: [E0202] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity hihg

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    decl_action_without_namespace: [E0306] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action rotate on Secret sensitivity high

task rotate_secrets {
  ttl 15m
  permit ServiceAccount to rotate on Secret
}
"#;

    decl_action_on_record: [E0404] => r#"
entity ServiceAccount { team: String }
record Ticket { title: String }
action tickets.read on Ticket sensitivity low

@standing("ticket titles are public")
permit ServiceAccount to tickets.read on *
"#;

    decl_context_twice: [E0211] => r#"
context {
  risk: Int
}

entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

context {
  source_ip: Ip
}

forbid * when context.risk >= 80
"#;

    decl_unknown_grants_task: [E0212] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high grants rotate_secret

task rotate_secrets {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    decl_record_contains_itself: [E0209] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
record Approval {
  by: String
  previous: Approval?
}
context { approval: Approval? }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    require has context.approval else "approval"
}
"#;
}

// ------------------------------------------------------------------- types

cases! { TYPE_CASES;
    type_unknown_did_you_mean: [E0203] => r#"
entity ServiceAccount {
  team: Strng
}
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == "platform"
}
"#;

    type_entity_as_field: [E0306] => r#"
entity Team { name: String }
entity ServiceAccount {
  team: Team
}
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == "platform"
}
"#;

    type_set_of_optional: [E0306] => r#"
entity ServiceAccount {
  team: String
  ports: Set<Int?>
}
entity Secret { port: Int }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.ports.contains(resource.port)
}
"#;

    type_unknown_module_in_use: [E0207] => r#"
use std.tiem

entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    type_window_without_use: [E0207] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
enum TicketStatus { open, approved, closed }
record Ticket {
  status: TicketStatus
  window: time.Window
}
context { ticket: Ticket? }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when now in context.ticket?.window
}
"#;

    type_unknown_in_module: [E0203] => r#"
use std.time

entity ServiceAccount { team: String }
entity Secret { env: String }
record Ticket {
  id: String
  window: time.Windw
}
context { ticket: Ticket? }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when now in context.ticket?.window
}
"#;
}

// ----------------------------------------------------------------- names

cases! { NAME_CASES;
    name_null: [E0202] => r#"
entity ServiceAccount {}
entity Secret {}
context { ticket: String? }
action secrets.read on Secret

@standing("reads are audited elsewhere")
permit ServiceAccount to secrets.read on Secret when context.ticket != null
"#;

    name_unknown_did_you_mean: [E0202] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principl.team == "platform"
}
"#;

    name_unknown_constant: [E0202] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

const MAX_RISK = 60

forbid * when context.risk >= MAX_RSIK
"#;

    name_field_missing_on_some_principals: [E0204] => r#"
entity ServiceAccount { team: String }
entity Human {
  team: String
  email: String
}
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit * to secrets.rotate on Secret
    when principal.email.ends_with("@acme.com")
}
"#;

    name_unknown_field_after_non_ascii: [E0204] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  notify "sécops 🚨"
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == "plateforme 🚀" and resource.evn == "prod"
}
"#;

    name_unknown_field_did_you_mean: [E0204] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.taem == "platform"
}
"#;

    name_unknown_context_field: [E0204] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context {
  risk: Int
  source_ip: Ip
}
action secrets.rotate on Secret sensitivity high

forbid * when context.risk_score >= 80
"#;

    name_enum_variant_typo: [E0205] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
enum TicketStatus { open, approved, closed }
record Ticket { status: TicketStatus }
context { ticket: Ticket? }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when context.ticket?.status == TicketStatus.aproved
}
"#;

    name_unknown_action_did_you_mean: [E0206] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotat on Secret
}
"#;

    name_namespace_matches_nothing: [E0405] => r#"
entity ServiceAccount { team: String }
entity Secret { revoked: Bool }
action secrets.read on Secret sensitivity low
action secrets.rotate on Secret sensitivity high

forbid secret.* when resource.revoked
"#;

    name_action_not_on_resource: [E0401] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
entity Database { env: String }
action secrets.rotate on Secret sensitivity high
action db.query on Database sensitivity medium

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Database
}
"#;

    name_principal_not_entity: [E0404] => r#"
entity Secret { env: String }
record ServiceAccount { team: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
}
"#;

    name_task_outside_task: [E0210] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low

@standing("read-only")
permit ServiceAccount to secrets.read on Secret
  require task.approvals >= 1 else "approval"
"#;

    name_principal_in_fn: [E0210] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

fn is_platform(team: String) -> Bool = principal.team == "platform"
"#;

    name_context_in_const: [E0210] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

const HIGH_RISK = context.risk >= 80

forbid * when HIGH_RISK
"#;

    name_fn_used_as_value: [E0202] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

fn is_platform(team: String) -> Bool = team == "platform"

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when is_platform
}
"#;

    name_unknown_function: [E0202] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

fn is_platform(team: String) -> Bool = team == "platform"

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when is_platfrom(principal.team)
}
"#;

    name_module_missing_member: [E0202] => r#"
use std.net

entity ServiceAccount { team: String }
entity Secret { env: String }
context { source_ip: Ip }
action secrets.rotate on Secret sensitivity high

forbid * when not net.is_privat(context.source_ip)
"#;

    name_net_without_use: [E0207] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { source_ip: Ip }
action secrets.rotate on Secret sensitivity high

forbid * when not net.is_private(context.source_ip)
"#;
}

// ------------------------------------------------------------ expressions

cases! { EXPR_CASES;
    expr_string_vs_int: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

forbid * when context.risk == "high"
"#;

    expr_enum_vs_string: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
enum TicketStatus { open, approved, closed }
context { status: TicketStatus }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when context.status == "approved"
}
"#;

    expr_order_strings: [E0303] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { version: String }
action secrets.rotate on Secret sensitivity high

forbid * when context.version < "2.0"
"#;

    expr_compare_entities: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { owner: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal == resource
}
"#;

    expr_optional_arithmetic: [E0302] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context {
  risk: Int
  boost: Int?
}
action secrets.rotate on Secret sensitivity high

forbid * when context.risk + context.boost >= 80
"#;

    expr_field_of_optional: [E0302] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
enum TicketStatus { open, approved, closed }
record Ticket { status: TicketStatus }
context { ticket: Ticket? }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when context.ticket.status == TicketStatus.approved
}
"#;

    expr_method_on_optional: [E0302] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { branch: String? }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when context.branch.starts_with("release/")
}
"#;

    expr_optional_bool_condition: [E0302] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { injection_suspected: Bool? }
action secrets.rotate on Secret sensitivity high

forbid * when context.injection_suspected
"#;

    expr_non_bool_condition: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

forbid * when context.risk
"#;

    expr_has_on_required_field: [E0309] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when has principal.team
}
"#;

    expr_coalesce_non_optional: [E0303] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

forbid * when (context.risk ?? 0) >= 80
"#;

    expr_coalesce_wrong_default: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int? }
action secrets.rotate on Secret sensitivity high

forbid * when (context.risk ?? "high") >= 80
"#;

    expr_in_wrong_types: [E0303] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { source_ip: Ip }
action secrets.rotate on Secret sensitivity high

forbid * when not (context.source_ip in "10.0.0.0/8")
"#;

    expr_in_string_in_string: [E0303] => r#"
entity ServiceAccount { team: String }
entity Secret { path: String }
action secrets.rotate on Secret sensitivity high

forbid * when "prod" in resource.path
"#;

    expr_set_mixed_elements: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when resource.env in ["prod", "staging", 3]
}
"#;

    expr_string_concatenation: [E0303] => r#"
entity ServiceAccount { team: String }
entity Secret { path: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when resource.path == "/teams/" + principal.team
}
"#;

    expr_like_on_int: [E0303] => r#"
entity ServiceAccount { team: String }
entity Secret { version: Int }
action secrets.rotate on Secret sensitivity high

forbid * when resource.version like "1*"
"#;

    expr_unknown_method: [E0304] => r#"
entity ServiceAccount {
  team: String
  roles: Set<String>
}
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.roles.has("rotator")
}
"#;

    expr_method_typo: [E0304] => r#"
entity ServiceAccount { team: String }
entity Secret { path: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when resource.path.startswith("/prod/")
}
"#;

    expr_method_wrong_arg_count: [E0305] => r#"
entity ServiceAccount {
  team: String
  roles: Set<String>
}
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.roles.contains("rotator", "admin")
}
"#;

    expr_fn_wrong_arg_count: [E0305] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

fn same_team(a: String, b: String) -> Bool = a == b

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when same_team(principal.team)
}
"#;

    expr_fn_wrong_arg_type: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

fn is_platform(team: String) -> Bool = team == "platform"

forbid * when not is_platform(context.risk)
"#;

    expr_fn_body_wrong_type: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

fn too_risky(risk: Int) -> Bool = risk + 10

forbid * when too_risky(context.risk)
"#;

    expr_const_declared_type_mismatch: [E0301] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

const MAX_RISK: Int = "60"

forbid * when context.risk >= MAX_RISK
"#;

    expr_bad_time_literal: [E0307] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

const FREEZE_START = time("2026-13-21T00:00:00Z")
"#;

    expr_time_of_non_literal: [E0307] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { started: String }
action secrets.rotate on Secret sensitivity high

forbid * when now < time(context.started)
"#;

    expr_decimal_compared_with_int: [E0301] => r#"
entity Agent { team: String }
entity Order { customer: String }
context { amount: Decimal }
action orders.refund on Order sensitivity high

forbid orders.refund when context.amount > 10
"#;

    expr_decimal_plus_int_field: [E0303] => r#"
entity Agent { team: String }
entity Order { total: Decimal }
context { items: Int }
action orders.refund on Order sensitivity high

forbid orders.refund when resource.total + context.items > 100.0
"#;

    expr_decimal_times_decimal: [E0303] => r#"
entity Agent { team: String }
entity Order { total: Decimal }
context { rate: Decimal }
action orders.refund on Order sensitivity high

forbid orders.refund when resource.total * context.rate > 100.0
"#;

    expr_decimal_literal_for_int: [E0301] => r#"
const MAX_ITEMS: Int = 12.50
"#;

    expr_negate_string: [E0303] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

forbid * when -resource.env == "prod"
"#;

    expr_field_of_string: [E0204] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

forbid * when resource.env.name == "prod"
"#;
}

// -------------------------------------------------------------- recursion

cases! { RECURSION_CASES;
    recursive_function: [E0209] => r#"
entity ServiceAccount { team: String }
entity Secret { depth: Int }
action secrets.read on Secret sensitivity low

fn too_deep(n: Int) -> Bool = n > 10 or too_deep(n + 1)

forbid secrets.read when too_deep(resource.depth)
"#;

    recursive_constants: [E0209] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

const LOW_RISK = HIGH_RISK - 40
const HIGH_RISK = LOW_RISK + 40

forbid * when context.risk >= HIGH_RISK
"#;
}

// ---------------------------------------------- constants and build limits

cases! { LIMIT_CASES;
    const_overflows: [E0308] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

const MAX_RISK = 9223372036854775807
const NEXT_RISK = MAX_RISK + 1

forbid * when context.risk >= NEXT_RISK
"#;

    set_literal_reads_request: [E0308] => r#"
entity ServiceAccount {
  team: String
  roles: Set<String>
}
entity Secret { env: String }
action secrets.rotate on Secret sensitivity high

task rotate {
  ttl 15m
  permit ServiceAccount to secrets.rotate on Secret
    when principal.roles.contains_any([principal.team, "admin"])
}
"#;

    set_literal_overflows: [E0308] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

forbid * when context.risk in [100, 9223372036854775807 + 1]
"#;

    condition_too_large: [E0308] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
context { risk: Int }
action secrets.rotate on Secret sensitivity high

fn l0(x: Int) -> Bool = x > 0
fn l1(x: Int) -> Bool = l0(x) or l0(x - 1)
fn l2(x: Int) -> Bool = l1(x) or l1(x - 1)
fn l3(x: Int) -> Bool = l2(x) or l2(x - 1)
fn l4(x: Int) -> Bool = l3(x) or l3(x - 1)
fn l5(x: Int) -> Bool = l4(x) or l4(x - 1)
fn l6(x: Int) -> Bool = l5(x) or l5(x - 1)
fn l7(x: Int) -> Bool = l6(x) or l6(x - 1)
fn l8(x: Int) -> Bool = l7(x) or l7(x - 1)

forbid * when l8(context.risk)
"#;
}

/// A constant whose evaluation doubles at every level stops at the
/// evaluation budget, quickly, with an error.
#[test]
fn const_too_costly() {
    let mut source = String::from(
        "entity ServiceAccount { team: String }\nentity Secret { env: String }\n\
         context { risk: Int }\naction secrets.rotate on Secret sensitivity high\n\n\
         fn f0(x: Int) -> Int = x + 1\n",
    );
    for i in 1..=40 {
        source.push_str(&format!(
            "fn f{i}(x: Int) -> Int = f{p}(x) - f{p}(x)\n",
            p = i - 1
        ));
    }
    source.push_str("\nconst LIMIT = f40(1)\n\nforbid * when context.risk >= LIMIT\n");
    let started = std::time::Instant::now();
    let (text, diags) = run(&source);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(codes(&diags), ["E0308"]);
    insta::assert_snapshot!("const_too_costly", text);
}

/// More `require` clauses than a rule may have.
#[test]
fn rule_too_many_requires() {
    let mut source = String::from(
        "entity ServiceAccount { team: String }\nentity Secret { env: String }\n\
         context { risk: Int }\naction secrets.rotate on Secret sensitivity high\n\n\
         task rotate {\n  ttl 15m\n  permit ServiceAccount to secrets.rotate on Secret\n",
    );
    for i in 0..65 {
        source.push_str(&format!(
            "    require context.risk < {} else \"r{i}\"\n",
            100 + i
        ));
    }
    source.push_str("}\n");
    let (text, diags) = run(&source);
    assert_eq!(codes(&diags), ["E0105"]);
    insta::assert_snapshot!("rule_too_many_requires", text);
}

/// The checker counts a condition's stack and locals as lowering does:
/// exactly the conditions it accepts compile.
#[test]
fn checker_limits_match_lowering() {
    let head =
        "entity P { k: Int }\nentity R { k: Int }\ncontext { risk: Int }\naction r.go on R\n\
                fn f(x: Int) -> Int = x + 1\n";
    let mut accepted = [0usize; 2];
    for n in 240..270 {
        // a stack as deep as the nesting, then as many locals as calls
        let deep = format!(
            "{}context.risk{}",
            "context.risk + (".repeat(n),
            ")".repeat(n)
        );
        let calls = format!("{}context.risk{}", "f(".repeat(n), ")".repeat(n));
        for (which, e) in [deep, calls].into_iter().enumerate() {
            let source = format!("{head}forbid * when {e} > 0\n");
            let (sources, program, diags) = check_text("policy.jitp", &source);
            let compiled = program.as_ref().map(|p| jitp::lower::compile(p, &sources));
            match compiled {
                Some(Ok(_)) => accepted[which] = n,
                Some(Err(d)) => panic!("checks clean but does not build (n = {n}): {d:?}"),
                None => assert_eq!(codes(&diags), ["E0308"], "n = {n}"),
            }
        }
    }
    // both limits lie inside the range tried
    assert!(
        accepted.iter().all(|&n| (240..269).contains(&n)),
        "{accepted:?}"
    );
}

// -------------------------------------------------------------- warnings

// ------------------------------------------------- evidence, params, heads

cases! { EXTENSION_CASES;
    evidence_clashes_with_standard: [E0201] => r#"
entity Deployer { team: String }
entity Service { tier: String }
action deploy.run on Service sensitivity high

evidence {
  ticket: String?
}

task release {
  ttl 30m
  permit Deployer to deploy.run on Service
    when evidence.ticket == "CHG-1"
}
"#;

    evidence_field_not_optional: [E0306] => r#"
entity Deployer { team: String }
entity Service { tier: String }
action deploy.run on Service sensitivity high

evidence {
  ci_run_id: String
}

task release {
  ttl 30m
  permit Deployer to deploy.run on Service
    when evidence.ci_run_id?.starts_with("run-")
}
"#;

    evidence_block_twice: [E0211] => r#"
entity Deployer { team: String }
entity Service { tier: String }
action deploy.run on Service sensitivity high

evidence { ci_run_id: String? }
evidence { pipeline: String? }

task release {
  ttl 30m
  permit Deployer to deploy.run on Service
    when has evidence.ci_run_id
}
"#;

    params_outside_task: [E0210] => r#"
entity Agent { team: String }
entity Order { region: String }
action orders.view on Order sensitivity low

@standing("support reads orders")
permit Agent to orders.view on Order
  when task.params.ticket like "T-*"
"#;

    params_undeclared: [E0204] => r#"
entity Agent { team: String }
entity Order { region: String }
action orders.refund on Order sensitivity high

task refund_case {
  ttl 30m
  params {
    ticket: String
    customer: String
  }
  permit Agent to orders.refund on Order
    when task.params.custmer == "c-1"
}
"#;

    params_task_declares_none: [E0204] => r#"
entity Agent { team: String }
entity Order { region: String }
action orders.refund on Order sensitivity high

task refund_case {
  ttl 30m
  permit Agent to orders.refund on Order
    when task.params.ticket like "T-*"
}
"#;

    params_block_twice: [E0211] => r#"
entity Agent { team: String }
entity Order { region: String }
action orders.refund on Order sensitivity high

task refund_case {
  ttl 30m
  params { ticket: String }
  params { customer: String }
  permit Agent to orders.refund on Order
    when task.params.ticket like "T-*"
}
"#;

    params_unknown_block: [E0101] => r#"
entity Agent { team: String }
entity Order { region: String }
action orders.refund on Order sensitivity high

task refund_case {
  ttl 30m
  parms { ticket: String }
  permit Agent to orders.refund on Order
}
"#;

    head_field_missing_on_one_type: [E0204] => r#"
entity Analyst { team: String  clearance: Int }
entity ReportingJob { team: String }
entity Report { owner: String }
action reports.read on Report sensitivity low

@standing("analysts read reports")
permit Analyst, ReportingJob to reports.read on Report
  when principal.clearance >= 2
"#;

    head_field_types_differ: [E0204] => r#"
entity Analyst { team: String  level: Int }
entity ReportingJob { team: String  level: String }
entity Report { owner: String }
action reports.read on Report sensitivity low

@standing("analysts read reports")
permit Analyst, ReportingJob to reports.read on Report
  when principal.level == 2
"#;

    head_type_listed_twice: [E0201] => r#"
entity Analyst { team: String }
entity Report { owner: String }
action reports.read on Report sensitivity low

@standing("analysts read reports")
permit Analyst, Analyst to reports.read on Report
  when principal.team == "bi"
"#;

    head_action_not_on_every_resource: [E0401] => r#"
entity Analyst { team: String }
entity Report { owner: String }
entity Dashboard { owner: String }
action reports.read on Report sensitivity low

@standing("analysts read reports")
permit Analyst to reports.read on Report, Dashboard
  when principal.team == "bi"
"#;
}

cases! { WARNING_CASES;
    warn_dangling_doc_comment: [W0001] => r#"
entity ServiceAccount { team: String }
entity Secret { env: String }
action secrets.read on Secret sensitivity low

@standing("read-only")
permit ServiceAccount to secrets.read on Secret

/// Production secrets are never read from outside the VPN.
"#;
}

// ------------------------------------------------------------ import cycle

#[test]
fn import_cycle() {
    use jitp::stdlib::MapLoader;
    let policy = "package acme.platform\n\nuse lib.a\n\nentity ServiceAccount { team: String }\n";
    let lib_a = "package lib.a\n\nuse lib.b\n\nconst A = 1\n";
    let lib_b = "package lib.b\n\nuse lib.a\n\nconst B = 2\n";
    let loader = MapLoader {
        modules: vec![
            ("lib.a".to_string(), lib_a.to_string()),
            ("lib.b".to_string(), lib_b.to_string()),
            // `std.nhi` is loaded implicitly for the evidence schema.
            (
                "std.nhi".to_string(),
                "record Evidence { mfa_at: Time? }\n".to_string(),
            ),
        ],
    };
    let mut sources = SourceMap::new();
    let file = sources.add("policy.jitp", policy);
    let (program, diags) = jitp::check::check(&mut sources, &[file], &loader);
    assert!(program.is_none());
    // The "source" shown is the policy followed by both library modules.
    let shown = format!("{policy}\n--- <lib.a>\n{lib_a}\n--- <lib.b>\n{lib_b}");
    let text = snapshot_text(&sources, &shown, &diags);
    insta::assert_snapshot!("import_cycle", text);
    assert_eq!(codes(&diags), vec!["E0208"]);
    let d = &diags[0];
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("`lib.a`") && n.contains("`lib.b`")),
        "the cycle note should name both modules: {:?}",
        d.notes
    );
}

// ------------------------------------------------------- many errors at once

#[test]
fn every_error_in_one_run() {
    let source = r#"
entity ServiceAccount {
  team: String
  roles: Set<String>
}
entity Secret {
  env: String
  revoked: Bool
}
context { risk: Int }

action secrets.read on Secret sensitivity low
action secrets.rotate on Secret sensitivity high

// a lexical error: `&&`
@standing("read-only")
permit ServiceAccount to secrets.read on Secret
  when principal.team == "platform" && resource.env == "prod"

// a syntax error in an item
entity Database {
  env String
}

task rotate {
  ttl 15m
  // a type error: String compared with Int
  permit ServiceAccount to secrets.rotate on Secret
    when principal.team == 42
  // a syntax error in another item
  permit ServiceAccount to on Secret
}

// a type error: unknown field
forbid * when resource.revokd
"#;
    let (text, diags) = run(source);
    insta::assert_snapshot!("every_error_in_one_run", text);
    let cs = codes(&diags);
    assert!(
        diags.iter().all(|d| d.severity == Severity::Error),
        "{cs:?}"
    );
    // exactly the five mistakes, no follow-on errors
    assert_eq!(cs, ["E0001", "E0101", "E0301", "E0101", "E0204"]);
    for want in ["E0001", "E0101", "E0301", "E0204"] {
        assert!(cs.contains(&want), "missing {want} in {cs:?}");
    }
    // the two syntax errors, in two different items
    let syntax: Vec<&Diagnostic> = diags.iter().filter(|d| d.code == Code::E0101).collect();
    assert!(syntax.len() >= 2, "expected two syntax errors: {cs:?}");
    let src = source.strip_prefix('\n').unwrap_or(source);
    let line_of = |d: &Diagnostic| src[..d.primary.span.start as usize].lines().count();
    let database_line = src
        .lines()
        .position(|l| l.contains("env String"))
        .map(|i| i + 1);
    let rule_line = src
        .lines()
        .position(|l| l.contains("to on Secret"))
        .map(|i| i + 1);
    assert!(
        syntax.iter().any(|d| Some(line_of(d)) == database_line),
        "{cs:?}"
    );
    assert!(
        syntax.iter().any(|d| Some(line_of(d)) == rule_line),
        "{cs:?}"
    );
    // diagnostics are sorted top to bottom
    let starts: Vec<u32> = diags.iter().map(|d| d.primary.span.start).collect();
    let mut sorted = starts.clone();
    sorted.sort_unstable();
    assert_eq!(starts, sorted);
}

// ---------------------------------------------------------- compiler limits

/// A schema whose records nest records many times over needs more request
/// slots than a bundle may have: the checker reports it, so a policy set
/// that checks clean also builds.
#[test]
fn e0310_schema_too_large() {
    let mut source = String::from("entity P { k: Int }\nentity R { k: Int }\naction r.go on R\n");
    for i in 0..17 {
        source.push_str(&format!("record R{i} {{ a: R{n}  b: R{n} }}\n", n = i + 1));
    }
    source.push_str(
        "record R17 { v: Int }\ncontext { r: R0 }\n@standing(\"test\")\npermit P to r.go on R\n",
    );
    let (sources, program, diags) = check_text("policy.jitp", &source);
    assert!(program.is_none(), "the checker rejects it");
    assert_eq!(codes(&diags), ["E0310"]);
    insta::assert_snapshot!(
        "e0310_schema_too_large",
        snapshot_text(&sources, &source, &diags)
    );
}

// ---------------------------------------------------------- code registry

#[test]
fn every_code_has_a_title_and_is_unique() {
    let mut seen = HashSet::new();
    for &code in Code::ALL {
        let s = code.as_str();
        assert!(seen.insert(s), "code {s} appears twice");
        // Compiler codes look like E0001 or W0001, lint codes like JIT001.
        let digits = if let Some(d) = s.strip_prefix("JIT") {
            assert_eq!(d.len(), 3, "lint code {s} should look like JIT001");
            d
        } else {
            assert_eq!(s.len(), 5, "code {s} should look like E0001");
            assert!(s.starts_with('E') || s.starts_with('W'), "code {s}");
            &s[1..]
        };
        assert!(digits.chars().all(|c| c.is_ascii_digit()), "code {s}");
        let title = code.title();
        assert!(!title.trim().is_empty(), "code {s} has no title");
        assert_eq!(
            title,
            title.to_lowercase(),
            "title of {s} should be lowercase"
        );
        assert!(
            !title.ends_with('.'),
            "title of {s} should not end with a period"
        );
    }
    let titles: HashSet<&str> = Code::ALL.iter().map(|c| c.title()).collect();
    assert_eq!(titles.len(), Code::ALL.len(), "two codes share a title");
    let mut sorted: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    sorted.sort_unstable();
    let listed: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(listed, sorted, "Code::ALL should be in numeric order");
}

#[test]
fn enough_distinct_cases() {
    let all: Vec<&str> = [
        LEX_CASES,
        PARSE_CASES,
        DECL_CASES,
        TYPE_CASES,
        NAME_CASES,
        EXPR_CASES,
        RECURSION_CASES,
        LIMIT_CASES,
        WARNING_CASES,
        EXTENSION_CASES,
    ]
    .concat();
    let unique: HashSet<&str> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len(), "case names must be distinct");
    assert!(all.len() >= 45, "only {} cases", all.len());
}
