//! Tests of the formatter (`jitp fmt`): layout snapshots, idempotency and
//! tree preservation on every example, a property test over generated and
//! mutated policies, and the command line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{code, jitp, scratch};
use jitp::fmt::{comments, format_source, same_tree, unified_diff, FmtError};
use jitp::span::FileId;
use jitp::syntax::parser::parse;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// Formats `src`, checking the formatter's promises on the way.
fn fmt(src: &str) -> String {
    let out = match format_source(FileId(0), src) {
        Ok(out) => out,
        Err(FmtError::Syntax(d)) => panic!("syntax errors: {d:#?}\n{src}"),
        Err(FmtError::Internal(m)) => panic!("internal error: {m}\n{src}"),
    };
    assert_eq!(
        format_source(FileId(0), &out).unwrap(),
        out,
        "not idempotent; first output:\n{out}"
    );
    assert!(same_tree(
        &parse(FileId(0), src).file,
        &parse(FileId(0), &out).file
    ));
    assert_eq!(comments(src), comments(&out));
    out
}

/// A snapshot of an input and its formatted output.
fn pair(src: &str) -> String {
    format!("----- input\n{src}\n----- output\n{}", fmt(src))
}

#[test]
fn declarations() {
    insta::assert_snapshot!(
        "fmt_declarations",
        pair(
            r#"package   acme.demo
use std.time
use std.net
entity User { team: String, groups: Set<String>   age: Int? }
entity Empty { }
record Window{start:Time,end:Time,}
enum Tier { dev, staging ,production }
enum Long { alpha_variant, beta_variant, gamma_variant, delta_variant, epsilon_variant }
context { risk: Int  ticket: Window? nets: Set<Net>? }
action docs.read on Doc sensitivity low
action docs.write   on Doc, Folder sensitivity high grants edit
action docs.admin on Doc
const LIMIT = 10
const NETS: Set<Net> = [10.0.0.0/8, 192.168.0.0/16]
const NAMES = ["a very long name", "another very long name", "and a third long name here"]
fn in_window(w: Window, t: Time) -> Bool = t >= w.start and t < w.end
fn long_one(first_parameter: String, second_parameter: Int) -> Bool = first_parameter == "x" or second_parameter > 100
"#
        )
    );
}

#[test]
fn tasks_and_rules() {
    insta::assert_snapshot!(
        "fmt_tasks_and_rules",
        pair(
            r#"task edit { ttl 15m notify "docs-team"
@id("edit") permit User to docs.write, docs.read on Doc for 5m when principal.team == resource.team unless resource.locked require task.approvals >= 1 else "approval" require has evidence.ticket
forbid docs.admin }
breakglass emergency {
  ttl 1h


  permit * to * on *
}
task empty { }
@id("a") @standing("reads are harmless") permit User to docs.* on Doc
forbid * when context.risk > 90
forbid docs.write on Doc unless principal.team == "editors"
forbid * when context.risk > 90 and principal.team != "security" and not principal.groups.contains("sre")
permit User to docs.read on Doc require task.approvals >= 2 and has evidence.ticket_reference else "two approvals and a ticket"
"#
        )
    );
}

#[test]
fn evidence_params_and_several_types() {
    insta::assert_snapshot!(
        "fmt_evidence_params_and_several_types",
        pair(
            r#"evidence { ci_run_id: String?, change_approved_by: String? }
task refund_case { ttl 30m params { ticket: String customer: String, note: String? }
permit Agent,RefundBot to orders.refund on Order ,Invoice when task.params.ticket like "T-*" }
forbid orders.refund on Order,   Invoice when evidence.ci_run_id == "x"
"#
        )
    );
}

#[test]
fn expressions() {
    insta::assert_snapshot!(
        "fmt_expressions",
        pair(
            r#"forbid * when ((a)) or (b and c) or ((d or e) and f)
forbid * when not (a == b) and not (not c)
forbid * when not a in [1, 2] and not (x ?? false)
forbid * when (x ?? 0) > 5 and x ?? y ?? false and (x ?? y) ?? z
forbid * when a + (b - c) - (d + e) == -(-f) + -g
forbid * when has (context.ticket).id and (has a.b) == true
forbid * when (a.b).c(d)?.e == f(g)(h) and "x" like "y*" and (p ?? "") like "z*"
forbid * when context.ip in 10.0.0.0/8 and context.at > time("2026-01-01T00:00:00Z") - 1h30m
forbid * when [] == [[1], [2, 3],] and f() and action == context.action and task.approvals >= 0
"#
        )
    );
}

#[test]
fn decimals_keep_their_digits_and_products_their_precedence() {
    insta::assert_snapshot!(
        "fmt_decimals",
        pair(
            r#"const LIMIT = 500.00
const RATES: Set<Decimal> = [0.5, 12.500000,  0.000001]
forbid * when context.amount*3 + (resource.fee*2) > LIMIT - -1.5
forbid * when (a + b) * 2 == 2 * (c - d) and -(x * 2) < 0.0 and decimal(context.n) * 2 >= 1.0
"#
        )
    );
}

#[test]
fn long_conditions() {
    insta::assert_snapshot!(
        "fmt_long_conditions",
        pair(
            r#"permit Runner to deploy.apply on Environment
  when principal.repo == RELEASE_REPO and principal.labels.contains_any(["release", "protected"]) and context.git_ref.starts_with("refs/tags/")
  unless context.release?.frozen ?? true or context.release?.tag == "" and principal.labels.contains("untrusted") and context.risk > 50
  require task.approvals >= 1 or resource.tier != EnvTier.production else "release manager sign-off"
forbid * when context.session_identifier_for_this_request == "a long constant value" or principal.a.b.c.d
forbid * when principal.scopes.contains_any(["a:read", "b:read", "c:read", "d:read", "e:read", "f:read"])
forbid * when not (context.source_ip in (context.expected_net ?? CORP_NET)) or (context.some_flag_value and context.other_flag_value and context.third_flag_value)
"#
        )
    );
}

#[test]
fn comments_everywhere() {
    insta::assert_snapshot!(
        "fmt_comments",
        pair(
            r#"// File header.
// Second line of it.


/// The package.
package acme.c // trailing on package

// Before an entity.
entity User { // after the brace
  /// The team.
  team: String, // trailing on a field

  // Before a field after a blank line.
  groups: Set<String>
  // At the end of the entity.
}
enum E { a, // after a
  b }
context {
}
action a.b on User // trailing on an action
/// Documents the constant.
const S = [1, // one
  // before two
  2, 3 // three
]
task t {
  // First in the task.
  ttl 5m // five minutes

  /// A task rule.
  @id("x") // after the id
  // Between annotations.
  @standing("y")
  permit User to a.b on User
    // Before a clause.
    when principal.team == "x" // why
     and principal.groups.contains("y") // and this
    // Between clauses.
    require task.approvals >= 1 // before else
      else "approval"
  // Last in the task.
}
forbid * when a and // after and
  b or
  // own line inside
  c
forbid * when f(a, // arg
  b)
/// Not attached: a blank line follows.

const Z = 1
// End of file.
"#
        )
    );
}

/// Comments inside parentheses that the layout drops (around a call
/// argument, a set element, a parenthesised `and`/`or` chain) at several
/// depths, and trailing comments before a closing parenthesis. The first
/// one once formatted to text that formatting then changed again.
#[test]
fn comments_in_nested_calls_and_chains() {
    insta::assert_snapshot!(
        "fmt_comments_nested",
        pair(
            r#"forbid * when f((
  // either flag
  context.x or context.y))
forbid * when f(a, (
  // second argument
  context.x or context.y))
forbid * when f(g((
  // two calls deep
  context.x and context.y)))
forbid * when x.m(((
  // two parentheses deep
  a or b)))
forbid * when [(
  // in a set
  a or b), c]
forbid * when f(( // trailing after the parenthesis
  a or b))
forbid * when (
  // before a chain
  context.x or context.y)
forbid * when a and (
  // inside an or under and
  context.x or context.y)
forbid * when a or (
  // inside an and under or
  b and (
    // one deeper
    c or d))
forbid * when not (
  // under not
  a or b)
forbid * when f(a, b // before the closing parenthesis
)
forbid * when (a or b // before the closing parenthesis
)
forbid * when ((a or b // before an inner closing parenthesis
) and c)
forbid * when f((a // inside the argument
 or b))
"#
        )
    );
}

#[test]
fn blank_lines_and_alignment() {
    insta::assert_snapshot!(
        "fmt_blank_lines_and_alignment",
        pair(
            "\n\n\nentity A { }\n\n\n\nentity B { }\nentity C { }\naction x.read on A sensitivity low\naction x.write_all on A, B sensitivity high\naction x.admin on C\n\naction y.go on A sensitivity low\naction y.stop on A grants t\n\n\n",
        )
    );
}

#[test]
fn empty_and_comment_only_files() {
    assert_eq!(fmt(""), "");
    assert_eq!(fmt("\n\n  \n"), "");
    assert_eq!(
        fmt("// only\n\n\n// comments   \n"),
        "// only\n\n// comments\n"
    );
}

#[test]
fn syntax_errors_are_not_formatted() {
    match format_source(FileId(0), "entity { }") {
        Err(FmtError::Syntax(d)) => assert!(!d.is_empty()),
        other => panic!("expected syntax errors, got {other:?}"),
    }
}

#[test]
fn diff_is_unified() {
    let d = unified_diff("p.jitp", "a\nb\nc\n", "a\nB\nc\nd\n");
    assert_eq!(
        d,
        "--- p.jitp\n+++ p.jitp (formatted)\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n"
    );
    assert_eq!(unified_diff("p", "same\n", "same\n"), "");
}

fn example_policies() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("policy.jitp"))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    assert!(!out.is_empty());
    out
}

#[test]
fn examples_are_fmt_clean() {
    for path in example_policies() {
        let src = std::fs::read_to_string(&path).unwrap();
        let out = fmt(&src);
        assert_eq!(out, src, "{} is not fmt-clean", path.display());
    }
}

// ------------------------------------------------------------------ properties

/// A fully parenthesised random expression.
fn expr() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("a".to_string()),
        Just("context.risk".to_string()),
        Just("principal.groups".to_string()),
        Just("task".to_string()),
        (0i64..1000).prop_map(|n| n.to_string()),
        Just("\"s\\\"q\"".to_string()),
        Just("15m".to_string()),
        Just("true".to_string()),
        Just("10.0.0.1".to_string()),
        Just("::1".to_string()),
        Just("10.0.0.0/8".to_string()),
        Just("[]".to_string()),
    ];
    leaf.prop_recursive(5, 48, 3, |inner| {
        let ops = prop_oneof![
            Just("or"),
            Just("and"),
            Just("=="),
            Just("!="),
            Just("<"),
            Just("<="),
            Just(">"),
            Just(">="),
            Just("in"),
            Just("??"),
            Just("+"),
            Just("-"),
        ];
        prop_oneof![
            (inner.clone(), ops, inner.clone()).prop_map(|(l, o, r)| format!("({l} {o} {r})")),
            inner.clone().prop_map(|x| format!("(not {x})")),
            inner.clone().prop_map(|x| format!("(-{x})")),
            inner.clone().prop_map(|x| format!("(has ({x}).f)")),
            inner.clone().prop_map(|x| format!("({x} like \"p*\")")),
            inner.clone().prop_map(|x| format!("({x})?.g")),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| format!("({x}).m({y})")),
            (inner.clone(), inner.clone()).prop_map(|(x, y)| format!("f({x}, {y},)")),
            // Comments where parentheses the layout drops enclose them, in
            // call arguments and around chains, and before a closing
            // parenthesis.
            (inner.clone(), inner.clone())
                .prop_map(|(x, y)| format!("f((\n  // either\n  {x} or {y}))")),
            (inner.clone(), inner.clone())
                .prop_map(|(x, y)| format!("f({x}, ( // trailing\n  {y} and {x}))")),
            inner
                .clone()
                .prop_map(|x| format!("(\n  // own line\n  {x})")),
            inner
                .clone()
                .prop_map(|x| format!("({x} // before the parenthesis\n)")),
            prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
        ]
    })
}

/// A policy: a random example (or none) followed by rules and constants
/// over random expressions.
fn policy() -> impl Strategy<Value = String> {
    let examples: Vec<String> = example_policies()
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let n = examples.len();
    (
        0..=n,
        prop::collection::vec((0u8..4, expr(), expr()), 1..4),
    )
        .prop_map(move |(i, rules)| {
            let mut s = examples.get(i).cloned().unwrap_or_default();
            for (k, (kind, a, b)) in rules.into_iter().enumerate() {
                s.push_str(&match kind {
                    0 => format!("\nforbid * when {a}\n"),
                    1 => format!("\nconst C{k} = {a}\n"),
                    2 => format!("\nfn f{k}(x: Int, y: Set<Int>?) -> Bool = {a}\n"),
                    _ => format!(
                        "\ntask t{k} {{ ttl 5m\n permit A to b.c, d.* on E for 1m when {a} unless {b} require {b} else \"why\" }}\n"
                    ),
                });
            }
            s
        })
}

/// What to insert before a token.
#[derive(Clone, Debug)]
enum Insert {
    Trailing,
    OwnLine,
    BlankLine,
    Spaces,
    NoNewlines,
}

/// Applies `edits` (token index, insertion) to the token boundaries of
/// `src`: comments, blank lines and changes of spacing. Newlines between
/// tokens are turned into spaces by `NoNewlines`, which only joins lines
/// without comments in between.
fn mutate(src: &str, edits: &[(usize, Insert)]) -> String {
    let lexed = jitp::syntax::lexer::lex(FileId(0), src);
    let starts: Vec<(usize, usize)> = lexed.tokens.iter().map(|(l, _, r)| (*l, *r)).collect();
    let mut out = String::new();
    let mut last = 0;
    let mut n = 0;
    for (i, &(start, end)) in starts.iter().enumerate() {
        let gap = &src[last..start];
        let here: Vec<&Insert> = edits
            .iter()
            .filter(|(k, _)| k % starts.len().max(1) == i)
            .map(|(_, e)| e)
            .collect();
        let join = here.iter().any(|e| matches!(e, Insert::NoNewlines));
        if join && !gap.contains("//") && !gap.is_empty() {
            out.push(' ');
        } else {
            out.push_str(gap);
        }
        for e in here {
            n += 1;
            match e {
                Insert::Trailing => out.push_str(&format!(" // t{n}\n")),
                Insert::OwnLine => out.push_str(&format!("\n// o{n}\n")),
                Insert::BlankLine => out.push_str("\n\n"),
                Insert::Spaces => out.push_str("   "),
                Insert::NoNewlines => {}
            }
        }
        out.push_str(&src[start..end]);
        last = end;
    }
    out.push_str(&src[last..]);
    out
}

fn insert() -> impl Strategy<Value = Insert> {
    prop_oneof![
        Just(Insert::Trailing),
        Just(Insert::OwnLine),
        Just(Insert::BlankLine),
        Just(Insert::Spaces),
        Just(Insert::NoNewlines),
    ]
}

fn cases() -> u32 {
    std::env::var("JITP_FMT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(96)
}

/// Fixed-seed runs (see `support::seed`: `JITP_SEED=random` or `=N` on
/// demand) that never write a regressions file: the recorded cases in
/// `fmt.proptest-regressions` are run by `recorded_regressions` instead.
fn config() -> ProptestConfig {
    crate::support::proptest_config(cases(), 0xf0a7)
}

/// Checks what `formats_generated_policies` checks, for one input.
fn check_formats(src: &str) -> Result<(), TestCaseError> {
    let out = match format_source(FileId(0), src) {
        Ok(out) => out,
        Err(e) => {
            if let Some(p) = std::env::var_os("JITP_FMT_DUMP") {
                std::fs::write(p, src).unwrap();
            }
            return Err(TestCaseError::fail(format!("{e}\n{src}")));
        }
    };
    prop_assert!(same_tree(
        &parse(FileId(0), src).file,
        &parse(FileId(0), &out).file
    ));
    prop_assert_eq!(comments(src), comments(&out));
    let again = format_source(FileId(0), &out).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&again, &out, "not idempotent for\n{}", src);
    Ok(())
}

/// Reads a string literal as `Debug` writes it, from just after its
/// opening quote; returns the string and the rest after the closing quote.
fn debug_string(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                'u' => {
                    let rest = &s[chars.next()?.0 + 1..];
                    let end = rest.find('}')?;
                    out.push(char::from_u32(u32::from_str_radix(&rest[..end], 16).ok()?)?);
                    for _ in 0..=end {
                        chars.next();
                    }
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// The cases recorded in `tests/it/fmt.proptest-regressions` (from before
/// runs stopped writing it), as (source, edits).
fn recorded_cases() -> Vec<(String, Vec<(usize, Insert)>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fmt.proptest-regressions");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("cc ")) {
        let (_, rest) = line
            .split_once("src = \"")
            .expect("a recorded case has a `src`");
        let (src, rest) = debug_string(rest).expect("`src` is a string literal");
        let (_, list) = rest
            .split_once("edits = [")
            .expect("a recorded case has `edits`");
        let list = list
            .trim_end()
            .strip_suffix(']')
            .expect("`edits` is a list");
        let edits = list
            .split("), ")
            .map(|e| e.trim_matches(|c| c == '(' || c == ')'))
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (k, what) = e.split_once(", ").expect("an edit is a pair");
                let what = match what {
                    "Trailing" => Insert::Trailing,
                    "OwnLine" => Insert::OwnLine,
                    "BlankLine" => Insert::BlankLine,
                    "Spaces" => Insert::Spaces,
                    "NoNewlines" => Insert::NoNewlines,
                    other => panic!("unknown insertion `{other}`"),
                };
                (k.parse().expect("an edit's index is a number"), what)
            })
            .collect();
        out.push((src, edits));
    }
    out
}

/// Every case the property test once failed on still formats correctly.
#[test]
fn recorded_regressions() {
    let cases = recorded_cases();
    assert_eq!(cases.len(), 3, "tests/it/fmt.proptest-regressions changed");
    for (src, edits) in cases {
        let src = mutate(&src, &edits);
        if let Err(e) = check_formats(&src) {
            panic!("{e}");
        }
    }
}

/// The case behind the comment-in-nested-call fix, as the property test
/// would have generated it.
#[test]
fn comment_in_parenthesised_call_argument() {
    let src = "forbid * when f((\n  // either flag\n  context.x or context.y))\n";
    if let Err(e) = check_formats(src) {
        panic!("{e}");
    }
}

proptest! {
    #![proptest_config(config())]

    /// Formatting keeps the tree and the comments, and is idempotent.
    #[test]
    fn formats_generated_policies(
        src in policy(),
        edits in prop::collection::vec((0usize..10_000, insert()), 0..24),
    ) {
        check_formats(&mutate(&src, &edits))?;
    }
}

// ------------------------------------------------------------------ command line

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const MESSY: &str = "entity User {team:String}\nforbid * when (context.risk > 90)\n";
const TIDY: &str = "entity User {\n  team: String\n}\nforbid * when context.risk > 90\n";

#[test]
fn cli_formats_in_place() {
    let dir = scratch("in-place");
    let file = dir.join("a.jitp");
    std::fs::write(&file, MESSY).unwrap();
    std::fs::write(dir.join("b.jitp"), TIDY).unwrap();
    let o = jitp().arg("fmt").arg(&dir).output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), TIDY);
    assert!(text(&o.stderr).contains("1 of 2 files reformatted"));
}

#[test]
fn cli_check_lists_files_and_changes_nothing() {
    let dir = scratch("check");
    let messy = dir.join("messy.jitp");
    let tidy = dir.join("tidy.jitp");
    std::fs::write(&messy, MESSY).unwrap();
    std::fs::write(&tidy, TIDY).unwrap();
    let o = jitp().args(["fmt", "--check"]).arg(&dir).output().unwrap();
    assert_eq!(code(&o), 1);
    let out = text(&o.stdout);
    assert!(out.contains("messy.jitp"), "{out}");
    assert!(!out.contains("tidy.jitp"), "{out}");
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), MESSY);
    let o = jitp().args(["fmt", "--check"]).arg(&tidy).output().unwrap();
    assert_eq!(code(&o), 0);
    assert_eq!(text(&o.stdout), "");
}

#[test]
fn cli_diff_shows_changes() {
    let dir = scratch("diff");
    let file = dir.join("a.jitp");
    std::fs::write(&file, MESSY).unwrap();
    let o = jitp().args(["fmt", "--diff"]).arg(&file).output().unwrap();
    assert_eq!(code(&o), 0);
    let out = text(&o.stdout);
    assert!(out.contains("-forbid * when (context.risk > 90)"), "{out}");
    assert!(out.contains("+forbid * when context.risk > 90"), "{out}");
    assert!(out.contains("@@ -1,2 +1,4 @@"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), MESSY);
    let o = jitp()
        .args(["fmt", "--diff", "--check"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
}

#[test]
fn cli_stdin() {
    use std::io::Write;
    let mut child = jitp()
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MESSY.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), TIDY);
}

#[test]
fn cli_syntax_error_leaves_file_untouched() {
    let dir = scratch("syntax");
    let file = dir.join("bad.jitp");
    let bad = "entity User {team:String\nforbid * when\n";
    std::fs::write(&file, bad).unwrap();
    let o = jitp()
        .args(["fmt", "--color", "never"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&o), 1);
    let err = text(&o.stderr);
    assert!(err.contains("E01"), "{err}");
    assert!(
        err.contains("has syntax errors and was not formatted"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), bad);
}

#[test]
fn cli_missing_file() {
    let o = jitp()
        .args(["fmt", "does/not/exist.jitp"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(text(&o.stderr).contains("`does/not/exist.jitp`: no such file or directory"));
}
