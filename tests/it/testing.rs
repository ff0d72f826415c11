//! Tests of `jitp test`: the runner's reports (human, JSON, JUnit) for
//! passing, failing, uncovered and mistyped suites, and the command's exit
//! codes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use jitp::testing::{self, Report, Status};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const POLICY: &str = r#"package demo

entity Bot { team: String }
entity Doc { secret: Bool }

context { risk: Int }

action docs.read  on Doc sensitivity low
action docs.write on Doc sensitivity high

task edit {
  ttl 10m
  notify "docs"

  permit Bot to docs.write on Doc
    when principal.team == "docs"
    require task.approvals >= 1 else "approval"
}

@id("read")
@standing("reading docs is low-sensitivity")
permit Bot to docs.read on Doc
  when principal.team == "docs"

forbid * when context.risk >= 50
"#;

/// The suite's head: `now`, fixtures and defaults shared by every suite below.
const HEAD: &str = r#"
  "now": "2026-01-01T10:05:00Z",
  "fixtures": {
    "subjects": {"bot": {"type": "Bot", "id": "bot-1", "properties": {"team": "docs"}}},
    "resources": {"doc": {"type": "Doc", "id": "readme", "properties": {"secret": false}}},
    "contexts": {"calm": {"risk": 10}},
    "tasks": {"edit": {"name": "edit", "started_at": "2026-01-01T10:00:00Z", "approvals": [{"by": "ann"}]}}
  },
  "defaults": {"subject": "bot", "resource": "doc", "context": "calm", "action": "docs.read"},
"#;

const READ_CASE: &str = r#"{"name": "read is standing", "expect": {"decision": "allow", "rule": "read", "expires_at": null}}"#;

fn passing_suite() -> String {
    format!(
        r#"{{{HEAD}
  "cases": [
    {READ_CASE},
    {{"name": "write in the task", "request": {{"action": "docs.write", "task": "edit"}},
      "expect": {{"decision": "allow", "rule": "edit.permit1", "expires_at": "2026-01-01T10:10:00Z",
                 "obligations": [{{"kind": "notify", "target": "docs"}}]}}}},
    {{"name": "write at the boundary", "now": "2026-01-01T10:10:00Z", "request": {{"action": "docs.write", "task": "edit"}},
      "expect": {{"decision": "deny", "reason": "expired", "rule": "edit.permit1"}}}},
    {{"name": "risky", "request": {{"context": {{"$fixture": "calm", "risk": 50}}}},
      "expect": {{"decision": "deny", "reason": "forbidden", "rule": "global.forbid1"}}}},
    {{"name": "bad team type", "request": {{"subject": {{"properties": {{"team": 7}}}}}},
      "expect": {{"decision": "deny", "reason": "invalid_request"}}}}
  ]
}}"#
    )
}

fn failing_suite() -> String {
    format!(
        r#"{{{HEAD}
  "cases": [
    {READ_CASE},
    {{"name": "write <without> approval & \"quotes\"",
      "request": {{"action": "docs.write", "task": {{"$fixture": "edit", "approvals": []}}}},
      "expect": {{"decision": "allow", "rule": "edit.permit1"}}}}
  ]
}}"#
    )
}

fn uncovered_suite() -> String {
    format!(
        r#"{{{HEAD}
  "cases": [
    {READ_CASE}
  ]
}}"#
    )
}

fn typo_suite() -> String {
    format!(
        r#"{{{HEAD}
  "cases": [
    {READ_CASE},
    {{"name": "typo in the context",
      "request": {{"context": {{"rsik": 60}}}},
      "expect": {{"decision": "deny", "reason": "forbidden"}}}}
  ]
}}"#
    )
}

/// A fresh directory under the system temp dir holding the policy and
/// `tests/<name>.test.json`.
fn fixture_dir(name: &str, suite: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jitp-testing-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("policy.jitp"), POLICY).unwrap();
    std::fs::write(dir.join("tests").join(format!("{name}.test.json")), suite).unwrap();
    dir
}

fn run_suite(name: &str, suite: &str) -> (PathBuf, Report) {
    let dir = fixture_dir(name, suite);
    let report = testing::run(std::slice::from_ref(&dir)).unwrap();
    (dir, report)
}

/// Replaces the temp directory in `text` so snapshots are stable.
fn clean(dir: &Path, text: &str) -> String {
    text.replace(&dir.display().to_string(), "[dir]")
}

fn snapshot_all(name: &str, suite: &str, min: Option<f64>) -> Status {
    let (dir, report) = run_suite(name, suite);
    let human = clean(&dir, &report.human(false, true, min));
    let json = clean(
        &dir,
        &serde_json::to_string_pretty(&report.json(min)).unwrap(),
    );
    let junit = clean(&dir, &report.junit());
    insta::assert_snapshot!(format!("testing_{name}_human"), human);
    insta::assert_snapshot!(format!("testing_{name}_json"), json);
    insta::assert_snapshot!(format!("testing_{name}_junit"), junit);
    let _ = std::fs::remove_dir_all(&dir);
    report.status(min)
}

#[test]
fn testing_passing_suite() {
    assert_eq!(
        snapshot_all("pass", &passing_suite(), Some(100.0)),
        Status::Pass
    );
}

#[test]
fn testing_failing_suite() {
    assert_eq!(snapshot_all("fail", &failing_suite(), None), Status::Fail);
}

#[test]
fn testing_uncovered_rules() {
    assert_eq!(
        snapshot_all("uncovered", &uncovered_suite(), Some(50.0)),
        Status::Fail
    );
}

#[test]
fn testing_schema_typo() {
    assert_eq!(snapshot_all("typo", &typo_suite(), None), Status::Error);
}

#[test]
fn testing_junit_is_well_formed() {
    let (dir, report) = run_suite("junit", &failing_suite());
    let xml = report.junit();
    // Every element opened is closed, and the case name is escaped.
    assert_eq!(
        xml.matches("<testsuite ").count(),
        xml.matches("</testsuite>").count()
    );
    assert!(xml.contains("write &lt;without&gt; approval &amp; &quot;quotes&quot;"));
    assert!(!xml.contains('\u{1b}'));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn testing_typo_points_at_the_file_line_and_path() {
    let (dir, report) = run_suite("typo-location", &typo_suite());
    let err = report.sets[0].suites[0]
        .cases
        .iter()
        .find_map(|c| match &c.outcome {
            testing::CaseOutcome::Error(e) => Some(e.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(err.path, "cases[1].request.context.rsik");
    assert!(err.line.is_some() && err.column.is_some());
    assert!(err.file.ends_with("typo-location.test.json"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn jitp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jitp"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .args(args)
        .output()
        .expect("the jitp binary runs")
}

#[test]
fn testing_cli_examples_pass() {
    let out = jitp(&["test", "examples"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("test result: ok."), "{stdout}");
    let out = jitp(&["test", "--coverage", "--min-coverage", "100", "examples"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("minimum 100% met"), "{stdout}");
}

#[test]
fn testing_cli_formats_on_examples() {
    let out = jitp(&["test", "--format", "json", "examples"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "pass");
    assert_eq!(doc["coverage"]["percent"], 100.0);
    let out = jitp(&["test", "--format", "junit", "examples"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("<?xml"));
}

#[test]
fn testing_cli_exit_codes() {
    let dir = fixture_dir("cli-uncovered", &uncovered_suite());
    let d = dir.to_str().unwrap();
    assert_eq!(jitp(&["test", d]).status.code(), Some(0));
    assert_eq!(
        jitp(&["test", "--min-coverage", "100", d]).status.code(),
        Some(1)
    );
    let _ = std::fs::remove_dir_all(&dir);

    let dir = fixture_dir("cli-fail", &failing_suite());
    assert_eq!(
        jitp(&["test", dir.to_str().unwrap()]).status.code(),
        Some(1)
    );
    let _ = std::fs::remove_dir_all(&dir);

    let dir = fixture_dir("cli-malformed", "{\"cases\": [");
    let out = jitp(&["test", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not valid JSON"));
    let _ = std::fs::remove_dir_all(&dir);

    let out = jitp(&["test", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`no/such/dir`: no such file or directory"),
        "{err}"
    );

    let dir = fixture_dir("cli-policy-error", &uncovered_suite());
    std::fs::write(
        dir.join("policy.jitp"),
        "package demo\npermit Nope to x.y on Z\n",
    )
    .unwrap();
    assert_eq!(
        jitp(&["test", dir.to_str().unwrap()]).status.code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
