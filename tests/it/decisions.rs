//! Decisions of the VM: every shipped example against its file-name
//! expectation and against the reference interpreter, then targeted
//! semantics on small inline policies.

use jitp_runtime::decision::{DecisionRecord, Effect, Reason};
use jitp_runtime::Bundle;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

// ------------------------------------------------------------------ helpers

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn example_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .expect("examples/ is readable")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.join("policy.jitp").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn request_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("requests"))
        .expect("requests/ is readable")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The expectation encoded in a request file name.
fn expected_from_name(file: &str) -> (Effect, Reason) {
    if file.starts_with("allow-") {
        return (Effect::Allow, Reason::Granted);
    }
    if file.starts_with("step_up-") {
        return (Effect::StepUp, Reason::RequirementsMissing);
    }
    let rest = file
        .strip_prefix("deny-")
        .unwrap_or_else(|| panic!("{file}: unknown outcome prefix"));
    for (prefix, reason) in [
        ("forbidden-", Reason::Forbidden),
        ("expired-", Reason::Expired),
        ("not_yet_active-", Reason::NotYetActive),
        ("no_matching_rule-", Reason::NoMatchingRule),
        ("invalid_request-", Reason::InvalidRequest),
    ] {
        if rest.starts_with(prefix) {
            return (Effect::Deny, reason);
        }
    }
    panic!("{file}: unknown deny reason");
}

/// Compiles policy text with the checker's program kept, so the reference
/// interpreter can run on the same program.
struct Both {
    program: jitp::check::hir::Program,
    bundle: Bundle,
}

fn compile_both(name: &str, text: &str) -> Both {
    let (sources, program, diags) = jitp::driver::check_text(name, text);
    let program = program.unwrap_or_else(|| panic!("{name} does not check: {diags:#?}"));
    let bundle = jitp::lower::compile(&program, &sources)
        .unwrap_or_else(|d| panic!("{name} does not compile: {d:#?}"));
    // Every bundle the tests use went through bytes and the loader.
    let bytes = bundle.to_bytes();
    let loaded = Bundle::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{name}: the bundle does not load: {e}"));
    assert_eq!(
        loaded.to_bytes(),
        bytes,
        "{name}: to_bytes/from_bytes is not a fixed point"
    );
    Both {
        program,
        bundle: loaded,
    }
}

fn compile(text: &str) -> Bundle {
    compile_both("test.jitp", text).bundle
}

fn without_error(mut d: DecisionRecord) -> DecisionRecord {
    d.error = None;
    d
}

/// Decides with the VM (through `decide_json`, and through `bind_str` +
/// `decide` + `to_record`) and with the reference interpreter; asserts all
/// agree and returns the VM's record.
fn decide_all(both: &Both, request: &str) -> DecisionRecord {
    let vm = both.bundle.decide_json(request);
    let direct = match both.bundle.bind_str(request) {
        Ok(bound) => {
            let d = both.bundle.decide(&bound);
            let rec = d.to_record();
            assert_eq!(d.effect, rec.decision);
            assert_eq!(d.reason, rec.reason);
            assert_eq!(d.rule_id().map(str::to_string), rec.rule);
            assert_eq!(d.needs().map(str::to_string).collect::<Vec<_>>(), rec.needs);
            assert_eq!(d.expires_at().map(|t| t.to_string()), rec.expires_at);
            // explain agrees with decide
            let ex = both.bundle.explain(&bound);
            assert_eq!(
                ex.decision, rec,
                "explain disagrees with decide for {request}"
            );
            rec
        }
        Err(e) => DecisionRecord::invalid(e.to_string()),
    };
    assert_eq!(
        vm, direct,
        "decide_json disagrees with bind_str+decide for {request}"
    );
    let json: Value = match serde_json::from_str(request) {
        Ok(v) => v,
        Err(_) => {
            assert_eq!(vm.reason, Reason::InvalidRequest);
            return vm;
        }
    };
    // binding a parsed `serde_json::Value` agrees with binding the text
    let via_value = match both.bundle.bind(&json) {
        Ok(bound) => both.bundle.decide(&bound).to_record(),
        Err(e) => DecisionRecord::invalid(e.to_string()),
    };
    assert_eq!(
        vm, via_value,
        "bind(&Value) disagrees with bind_str for {request}"
    );
    let reference = jitp::reference::decide_json(&both.program, &json);
    assert_eq!(
        without_error(vm.clone()),
        without_error(reference.clone()),
        "VM and reference interpreter disagree on {request}"
    );
    assert_eq!(
        vm.error.is_some(),
        reference.error.is_some(),
        "only one side reports an error on {request}: vm {vm:?} ref {reference:?}"
    );
    vm
}

// ------------------------------------------------------------------ examples

#[test]
fn every_example_request_decides_as_its_file_name_says() {
    let dirs = example_dirs();
    assert!(
        dirs.len() >= 8,
        "expected the eight shipped examples, found {}",
        dirs.len()
    );
    for dir in dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_string();
        let text = std::fs::read_to_string(dir.join("policy.jitp")).expect("policy readable");
        let both = compile_both(&format!("{name}/policy.jitp"), &text);
        let mut snapshot = serde_json::Map::new();
        let files = request_files(&dir);
        assert!(!files.is_empty(), "{name}: no requests");
        for file in files {
            let fname = file
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name")
                .to_string();
            let request = std::fs::read_to_string(&file).expect("request readable");
            let (effect, reason) = expected_from_name(&fname);
            let got = decide_all(&both, &request);
            assert_eq!(
                (got.decision, got.reason),
                (effect, reason),
                "{name}/{fname}: got {got:#?}"
            );
            match effect {
                Effect::Allow => assert!(
                    got.rule.is_some(),
                    "{name}/{fname}: an allow names its rule"
                ),
                Effect::StepUp => assert!(
                    !got.needs.is_empty(),
                    "{name}/{fname}: a step_up lists what it needs"
                ),
                Effect::Deny => {
                    assert!(
                        got.obligations.is_empty()
                            && got.needs.is_empty()
                            && got.expires_at.is_none()
                    );
                    if reason == Reason::InvalidRequest {
                        assert!(
                            got.error.as_deref().is_some_and(|e| !e.is_empty()),
                            "{name}/{fname}: invalid requests say why"
                        );
                    }
                }
            }
            snapshot.insert(fname.trim_end_matches(".json").to_string(), got.to_json());
        }
        insta::with_settings!({ snapshot_path => "snapshots_decisions", prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_json_snapshot!(format!("example_{name}"), Value::Object(snapshot));
        });
    }
}

// ------------------------------------------------------------------ inline policies

/// A small policy with one task, a breakglass task, standing rules and guards.
const BASE: &str = r#"
package t.base

use std.time

entity Svc {
  team: String
  roles: Set<String>
}

entity Doc {
  owner: String
  tags: Set<String>
  level: Int
}

entity Box {
  name: String
}

enum Status { open, approved, closed }

context {
  n: Int
  note: String?
  status: Status?
  window: time.Window?
}

action doc.read  on Doc sensitivity low
action doc.write on Doc sensitivity high
action doc.purge on Doc sensitivity critical
action box.open  on Box sensitivity medium

@id("standing-read")
@standing("reads are low sensitivity")
permit Svc to doc.read on Doc when principal.team == "reader"

task edit {
  ttl 15m
  notify "audit-log"
  notify "owners"

  @id("edit-write")
  permit Svc to doc.write on Doc
    when principal.team == "editors"
    require task.approvals >= 1 else "approval"

  @id("edit-read-short")
  permit Svc to doc.read on Doc
    for 5m
    when principal.team == "editors"
}

task other {
  ttl 1h

  @id("other-write")
  permit Svc to doc.write on Doc when principal.team == "others"
}

breakglass emergency {
  ttl 1h
  notify "secops"

  @id("bg-purge")
  permit Svc to doc.purge on Doc
    require task.approvals >= 2 else "two approvals"
}

@id("guard-tag")
forbid doc.* when resource.tags.contains("frozen")
"#;

const T0: &str = "2026-11-22T10:00:00Z";

struct Req {
    v: Value,
}

impl Req {
    fn new(team: &str, action: &str) -> Req {
        Req {
            v: json!({
                "subject": {"type": "Svc", "id": "bot", "properties": {"team": team, "roles": []}},
                "action": {"name": action},
                "resource": {"type": "Doc", "id": "d1", "properties": {"owner": "x", "tags": [], "level": 1}},
                "context": {"n": 0},
                "now": "2026-11-22T10:05:00Z"
            }),
        }
    }
    fn task(mut self, name: &str, approvers: &[&str]) -> Req {
        let approvals: Vec<Value> = approvers.iter().map(|a| json!({"by": a})).collect();
        self.v["task"] =
            json!({"name": name, "id": "run-1", "started_at": T0, "approvals": approvals});
        self
    }
    fn now(mut self, now: &str) -> Req {
        self.v["now"] = json!(now);
        self
    }
    fn set(mut self, path: &[&str], value: Value) -> Req {
        let mut at = &mut self.v;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = value;
        self
    }
    fn text(&self) -> String {
        self.v.to_string()
    }
}

fn base() -> Both {
    compile_both("base.jitp", BASE)
}

#[test]
fn allow_names_rule_task_and_expiry() {
    let b = base();
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.write")
            .task("edit", &["alice"])
            .text(),
    );
    assert_eq!(d.decision, Effect::Allow);
    assert_eq!(d.reason, Reason::Granted);
    assert_eq!(d.rule.as_deref(), Some("edit-write"));
    assert_eq!(d.task.as_deref(), Some("edit"));
    assert_eq!(d.expires_at.as_deref(), Some("2026-11-22T10:15:00Z"));
    assert!(d.needs.is_empty());
    assert!(d.error.is_none());
}

#[test]
fn for_shortens_the_task_ttl() {
    let b = base();
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.read")
            .task("edit", &[])
            .now("2026-11-22T10:01:00Z")
            .text(),
    );
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Effect::Allow, Some("edit-read-short"))
    );
    assert_eq!(d.expires_at.as_deref(), Some("2026-11-22T10:05:00Z"));
    // at started_at + for: expired although the task ttl is 15m
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.read")
            .task("edit", &[])
            .now("2026-11-22T10:05:00Z")
            .text(),
    );
    assert_eq!(
        (d.decision, d.reason, d.rule.as_deref()),
        (Effect::Deny, Reason::Expired, Some("edit-read-short"))
    );
}

#[test]
fn ttl_boundaries_to_the_microsecond() {
    let b = base();
    let at = |now: &str| {
        decide_all(
            &b,
            &Req::new("editors", "doc.write")
                .task("edit", &["alice"])
                .now(now)
                .text(),
        )
    };
    // started_at + ttl - 1µs: still allowed
    let d = at("2026-11-22T10:14:59.999999Z");
    assert_eq!(
        (d.decision, d.reason),
        (Effect::Allow, Reason::Granted),
        "{d:?}"
    );
    assert_eq!(d.expires_at.as_deref(), Some("2026-11-22T10:15:00Z"));
    // exactly started_at + ttl: expired
    let d = at("2026-11-22T10:15:00Z");
    assert_eq!(
        (d.decision, d.reason, d.rule.as_deref()),
        (Effect::Deny, Reason::Expired, Some("edit-write"))
    );
    assert!(d.expires_at.is_none() && d.obligations.is_empty());
    // sub-microsecond precision truncates toward the past: still inside
    let d = at("2026-11-22T10:14:59.9999999Z");
    assert_eq!(d.decision, Effect::Allow, "{d:?}");
    // the same instant in another offset
    let d = at("2026-11-22T11:15:00+01:00");
    assert_eq!(d.reason, Reason::Expired);
    // exactly started_at: active
    let d = at(T0);
    assert_eq!(d.decision, Effect::Allow);
    // one microsecond before started_at: not yet active
    let d = at("2026-11-22T09:59:59.999999Z");
    assert_eq!(
        (d.decision, d.reason, d.rule.as_deref()),
        (Effect::Deny, Reason::NotYetActive, Some("edit-write"))
    );
    // long before: not yet active as well
    let d = at("2020-01-01T00:00:00Z");
    assert_eq!(d.reason, Reason::NotYetActive);
}

#[test]
fn expired_or_not_yet_active_only_when_the_rule_would_otherwise_apply() {
    let b = base();
    // `when` false: no_matching_rule, not expired
    let d = decide_all(
        &b,
        &Req::new("nobody", "doc.write")
            .task("edit", &["alice"])
            .now("2026-11-22T11:00:00Z")
            .text(),
    );
    assert_eq!(d.reason, Reason::NoMatchingRule);
    let d = decide_all(
        &b,
        &Req::new("nobody", "doc.write")
            .task("edit", &["alice"])
            .now("2026-11-22T09:00:00Z")
            .text(),
    );
    assert_eq!(d.reason, Reason::NoMatchingRule);
    // missing approvals, expired: expired (requirements are not looked at)
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.write")
            .task("edit", &[])
            .now("2026-11-22T11:00:00Z")
            .text(),
    );
    assert_eq!(d.reason, Reason::Expired);
}

#[test]
fn forbid_overrides_a_permit() {
    let b = base();
    let r = Req::new("editors", "doc.write")
        .task("edit", &["alice"])
        .set(&["resource", "properties", "tags"], json!(["frozen"]));
    let d = decide_all(&b, &r.text());
    assert_eq!(
        (d.decision, d.reason, d.rule.as_deref()),
        (Effect::Deny, Reason::Forbidden, Some("guard-tag"))
    );
    assert!(d.error.is_none() && d.expires_at.is_none() && d.obligations.is_empty());
    // the standing read is forbidden too
    let r = Req::new("reader", "doc.read")
        .set(&["resource", "properties", "tags"], json!(["a", "frozen"]));
    assert_eq!(decide_all(&b, &r.text()).reason, Reason::Forbidden);
}

#[test]
fn forbid_beats_an_expired_or_missing_grant_too() {
    let b = base();
    let r =
        Req::new("nobody", "doc.write").set(&["resource", "properties", "tags"], json!(["frozen"]));
    assert_eq!(decide_all(&b, &r.text()).reason, Reason::Forbidden);
}

const OVERFLOW: &str = r#"
entity P { k: Int }
entity R { k: Int }
context { n: Int }
action r.go on R
action r.other on R

@id("std")
@standing("test")
permit P to r.go, r.other on R when principal.k == 1

@id("std-overflow")
@standing("test")
permit P to r.go on R when principal.k == 2 and context.n + 1 > 0

@id("guard-overflow")
forbid r.go when context.n + 1 > 0 and principal.k == 1
"#;

#[test]
fn an_erroring_guard_denies_with_an_error() {
    let b = compile_both("overflow.jitp", OVERFLOW);
    let req = |k: i64, n: i64, action: &str| {
        json!({
            "subject": {"type": "P", "id": "p", "properties": {"k": k}},
            "action": {"name": action},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "context": {"n": n},
            "now": T0
        })
        .to_string()
    };
    let d = decide_all(&b, &req(1, i64::MAX, "r.go"));
    assert_eq!(
        (d.decision, d.reason, d.rule.as_deref()),
        (Effect::Deny, Reason::Forbidden, Some("guard-overflow"))
    );
    let e = d.error.as_deref().expect("an error is reported");
    assert!(e.contains("overflow"), "{e}");
    // the typed API reports it as well
    let bound = b.bundle.bind_str(&req(1, i64::MAX, "r.go")).expect("binds");
    let dec = b.bundle.decide(&bound);
    assert!(dec.error.is_some());
    assert_eq!(dec.effect, Effect::Deny);
    // the guard errors even though its second conjunct would be false
    let d = decide_all(&b, &req(2, i64::MAX, "r.go"));
    assert_eq!(
        (d.reason, d.rule.as_deref()),
        (Reason::Forbidden, Some("guard-overflow"))
    );
    // without overflow the guard holds for k == 1 (n + 1 > 0), and not for k == 2
    let d = decide_all(&b, &req(2, 5, "r.go"));
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Effect::Allow, Some("std-overflow"))
    );
    assert!(d.error.is_none());
    // the other action is not guarded
    let d = decide_all(&b, &req(1, i64::MAX, "r.other"));
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Effect::Allow, Some("std"))
    );
}

#[test]
fn an_erroring_permit_condition_does_not_allow() {
    let src = r#"
entity P { k: Int }
entity R { k: Int }
context { n: Int }
action r.go on R

@id("overflowing")
@standing("test")
permit P to r.go on R when context.n + 1 > 0

@id("overflowing-unless")
@standing("test")
permit P to r.go on R when principal.k == 1 unless context.n + 1 < 0

@id("overflowing-require")
@standing("test")
permit P to r.go on R when principal.k == 2 require context.n + 1 > 0 else "n"
"#;
    let b = compile_both("p.jitp", src);
    for k in [0, 1, 2] {
        {
            let n = i64::MAX;
            let r = json!({
                "subject": {"type": "P", "id": "p", "properties": {"k": k}},
                "action": {"name": "r.go"},
                "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
                "context": {"n": n},
                "now": T0
            });
            let d = decide_all(&b, &r.to_string());
            assert_ne!(d.decision, Effect::Allow, "k={k} n={n}: {d:?}");
            assert_ne!(d.decision, Effect::StepUp, "k={k} n={n}: {d:?}");
        }
    }
}

const STEP: &str = r#"
entity P { k: Int }
entity R { k: Int }
context { a: Bool  b: Bool  c: Bool }
action r.go on R

task t {
  ttl 1h

  @id("three")
  permit P to r.go on R
    require context.a else "label-a"
    require context.b else "label-b"
    require context.c else "label-c"

  @id("two")
  permit P to r.go on R
    require context.c else "two-c"
    require context.b else "two-b"

  @id("also-two")
  permit P to r.go on R
    require context.c else "also-c"
    require context.a else "also-a"
}
"#;

fn step_req(a: bool, b: bool, c: bool) -> String {
    json!({
        "subject": {"type": "P", "id": "p", "properties": {"k": 0}},
        "action": {"name": "r.go"},
        "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
        "context": {"a": a, "b": b, "c": c},
        "task": {"name": "t", "started_at": T0},
        "now": T0
    })
    .to_string()
}

#[test]
fn step_up_lists_missing_labels_of_the_closest_candidate() {
    let b = compile_both("step.jitp", STEP);
    // all missing: `three` misses 3, `two` misses 2, `also-two` misses 2 -> `two` (source order tie)
    let d = decide_all(&b, &step_req(false, false, false));
    assert_eq!(
        (d.decision, d.reason),
        (Effect::StepUp, Reason::RequirementsMissing)
    );
    assert_eq!(d.rule.as_deref(), Some("two"));
    assert_eq!(d.needs, ["two-c", "two-b"], "labels in source order");
    assert_eq!(d.task.as_deref(), Some("t"));
    assert!(d.expires_at.is_none() && d.obligations.is_empty());
    // a only: three misses b, c (2); two misses c, b (2); also-two misses c (1)
    let d = decide_all(&b, &step_req(true, false, false));
    assert_eq!(d.rule.as_deref(), Some("also-two"));
    assert_eq!(d.needs, ["also-c"]);
    // a and c: three misses b; two misses b; also-two holds -> allow
    let d = decide_all(&b, &step_req(true, false, true));
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Effect::Allow, Some("also-two"))
    );
    // b only: three misses a, c; two misses c; also-two misses c, a
    let d = decide_all(&b, &step_req(false, true, false));
    assert_eq!(
        (d.rule.as_deref(), d.needs.as_slice()),
        (Some("two"), ["two-c".to_string()].as_slice())
    );
    // typed API: needs() iterates the same labels
    let bound = b
        .bundle
        .bind_str(&step_req(false, false, false))
        .expect("binds");
    let dec = b.bundle.decide(&bound);
    assert_eq!(dec.needs().collect::<Vec<_>>(), ["two-c", "two-b"]);
    assert_eq!(dec.obligations().count(), 0);
}

#[test]
fn step_up_labels_skip_satisfied_requirements_in_the_middle() {
    let src = r#"
entity P { k: Int }
entity R { k: Int }
context { a: Bool  b: Bool  c: Bool }
action r.go on R
task t {
  ttl 1h
  @id("only")
  permit P to r.go on R
    require context.a else "first"
    require context.b else "second"
    require context.c else "third"
}
"#;
    let b = compile_both("s.jitp", src);
    let d = decide_all(&b, &step_req(false, true, false));
    assert_eq!(d.needs, ["first", "third"]);
    let d = decide_all(&b, &step_req(true, true, false));
    assert_eq!(d.needs, ["third"]);
}

#[test]
fn self_approval_and_duplicate_approvers() {
    let b = base();
    let d = |approvers: &[&str]| {
        decide_all(
            &b,
            &Req::new("editors", "doc.purge")
                .task("emergency", approvers)
                .text(),
        )
    };
    assert_eq!(d(&["alice", "bob"]).decision, Effect::Allow);
    // the subject (`bot`) approving itself does not count
    let s = d(&["bot", "alice"]);
    assert_eq!(
        (s.decision, s.needs.as_slice()),
        (Effect::StepUp, ["two approvals".to_string()].as_slice())
    );
    // duplicates count once
    assert_eq!(d(&["alice", "alice", "alice"]).decision, Effect::StepUp);
    assert_eq!(
        d(&["alice", "bot", "alice", "bot"]).decision,
        Effect::StepUp
    );
    assert_eq!(d(&["alice", "bot", "carol"]).decision, Effect::Allow);
    // no approvals at all
    assert_eq!(d(&[]).decision, Effect::StepUp);
    // approvals may carry an `at`
    let r = Req::new("editors", "doc.purge").task("emergency", &[]).set(
        &["task", "approvals"],
        json!([{"by": "alice", "at": "2026-11-22T10:01:00Z"}, {"by": "bob", "at": "2026-11-22T10:02:00Z"}]),
    );
    assert_eq!(decide_all(&b, &r.text()).decision, Effect::Allow);
}

#[test]
fn task_approvers_contents() {
    let src = r#"
entity P { k: Int }
entity R { k: Int }
action r.go on R
task t {
  ttl 1h
  @id("alice-and-bob")
  permit P to r.go on R
    when task.approvers.contains("alice")
    require task.approvers.contains_all(["alice", "bob"]) else "bob"
    require not task.approvers.contains("p") else "never self"
    require task.approvers.len() == 2 else "exactly two"
    require task.name == "t" and task.id == "run-7" else "task fields"
}
"#;
    let b = compile_both("a.jitp", src);
    let r = |approvers: Value| {
        json!({
            "subject": {"type": "P", "id": "p", "properties": {"k": 0}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "task": {"name": "t", "id": "run-7", "started_at": T0, "approvals": approvers},
            "now": T0
        })
        .to_string()
    };
    // self-approval is not in `task.approvers`; duplicates collapse
    let d = decide_all(
        &b,
        &r(json!([{"by": "alice"}, {"by": "p"}, {"by": "bob"}, {"by": "alice"}])),
    );
    assert_eq!(d.decision, Effect::Allow, "{d:?}");
    let d = decide_all(&b, &r(json!([{"by": "alice"}, {"by": "p"}])));
    assert_eq!(d.decision, Effect::StepUp);
    assert_eq!(d.needs, ["bob", "exactly two"]);
    let d = decide_all(&b, &r(json!([{"by": "bob"}])));
    assert_eq!(d.reason, Reason::NoMatchingRule);
    let d = decide_all(
        &b,
        &r(json!([{"by": "alice"}, {"by": "bob"}, {"by": "carol"}])),
    );
    assert_eq!(d.needs, ["exactly two"]);
}

#[test]
fn obligations_notify_per_channel_and_breakglass_audit() {
    let b = base();
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.write")
            .task("edit", &["alice"])
            .text(),
    );
    let ob: Vec<(String, String)> = d
        .obligations
        .iter()
        .map(|o| (o.kind.clone(), o.target.clone()))
        .collect();
    assert_eq!(
        ob,
        [
            ("notify".to_string(), "audit-log".to_string()),
            ("notify".to_string(), "owners".to_string())
        ]
    );
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.purge")
            .task("emergency", &["alice", "bob"])
            .text(),
    );
    let ob: Vec<(String, String)> = d
        .obligations
        .iter()
        .map(|o| (o.kind.clone(), o.target.clone()))
        .collect();
    assert_eq!(
        ob,
        [
            ("notify".to_string(), "secops".to_string()),
            ("audit".to_string(), "breakglass".to_string())
        ]
    );
    assert_eq!(d.expires_at.as_deref(), Some("2026-11-22T11:00:00Z"));
    // typed API
    let bound = b
        .bundle
        .bind_str(
            &Req::new("editors", "doc.purge")
                .task("emergency", &["alice", "bob"])
                .text(),
        )
        .expect("binds");
    let dec = b.bundle.decide(&bound);
    assert_eq!(
        dec.obligations().collect::<Vec<_>>(),
        [("notify", "secops"), ("audit", "breakglass")]
    );
    // a task without notify and not breakglass: none
    let d = decide_all(
        &b,
        &Req::new("others", "doc.write").task("other", &[]).text(),
    );
    assert_eq!((d.decision, d.obligations.len()), (Effect::Allow, 0));
    // a standing grant: none, and no expiry
    let d = decide_all(&b, &Req::new("reader", "doc.read").text());
    assert_eq!(
        (
            d.decision,
            d.rule.as_deref(),
            d.task.as_deref(),
            d.expires_at.as_deref()
        ),
        (Effect::Allow, Some("standing-read"), None, None)
    );
    assert!(d.obligations.is_empty());
    // step_up and deny carry no obligations
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.purge")
            .task("emergency", &["alice"])
            .text(),
    );
    assert_eq!((d.decision, d.obligations.len()), (Effect::StepUp, 0));
    let bound = b
        .bundle
        .bind_str(
            &Req::new("editors", "doc.purge")
                .task("emergency", &["alice"])
                .text(),
        )
        .expect("binds");
    assert_eq!(b.bundle.decide(&bound).obligations().count(), 0);
}

#[test]
fn longest_lived_grant_wins() {
    let src = r#"
entity P { k: Int }
entity R { k: Int }
action r.go on R
action r.two on R

task t {
  ttl 1h
  @id("short")
  permit P to r.go, r.two on R for 10m
  @id("long")
  permit P to r.go, r.two on R for 50m
  @id("long-again")
  permit P to r.go on R for 50m
  @id("medium")
  permit P to r.go on R for 30m
}

@id("standing-two")
@standing("test")
permit P to r.two on R when principal.k == 1
"#;
    let b = compile_both("l.jitp", src);
    let r = |action: &str, k: i64, now: &str| {
        json!({
            "subject": {"type": "P", "id": "p", "properties": {"k": k}},
            "action": {"name": action},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "task": {"name": "t", "started_at": T0},
            "now": now
        })
        .to_string()
    };
    let d = decide_all(&b, &r("r.go", 0, T0));
    // ties by source order: `long` before `long-again`
    assert_eq!(
        (d.rule.as_deref(), d.expires_at.as_deref()),
        (Some("long"), Some("2026-11-22T10:50:00Z"))
    );
    // once `long` has expired nothing else is longer... but long-again has the same expiry
    let d = decide_all(&b, &r("r.go", 0, "2026-11-22T10:40:00Z"));
    assert_eq!(d.rule.as_deref(), Some("long"));
    let d = decide_all(&b, &r("r.go", 0, "2026-11-22T10:50:00Z"));
    assert_eq!((d.decision, d.reason), (Effect::Deny, Reason::Expired));
    assert_eq!(
        d.rule.as_deref(),
        Some("short"),
        "the first expired candidate is named"
    );
    // a standing grant beats a task grant, even one listed first
    let d = decide_all(&b, &r("r.two", 1, T0));
    assert_eq!(
        (
            d.rule.as_deref(),
            d.task.as_deref(),
            d.expires_at.as_deref()
        ),
        (Some("standing-two"), None, None)
    );
    assert!(d.obligations.is_empty());
    let d = decide_all(&b, &r("r.two", 0, T0));
    assert_eq!(d.rule.as_deref(), Some("long"));
    // the standing grant applies when the task ones have expired
    let d = decide_all(&b, &r("r.two", 1, "2026-11-22T12:00:00Z"));
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Effect::Allow, Some("standing-two"))
    );
}

#[test]
fn standing_grant_declared_first_beats_later_task_grants() {
    let src = r#"
entity P { k: Int }
entity R { k: Int }
action r.go on R

@id("standing")
@standing("test")
permit P to r.go on R

task t {
  ttl 1h
  @id("task")
  permit P to r.go on R
}
"#;
    let b = compile_both("s.jitp", src);
    let r = json!({
        "subject": {"type": "P", "id": "p", "properties": {"k": 0}},
        "action": {"name": "r.go"},
        "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
        "task": {"name": "t", "started_at": T0},
        "now": T0
    });
    let d = decide_all(&b, &r.to_string());
    assert_eq!((d.rule.as_deref(), d.expires_at), (Some("standing"), None));
}

#[test]
fn task_rules_only_apply_inside_their_task() {
    let b = base();
    // `edit-write` does not apply to a request made in task `other`
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.write")
            .task("other", &["alice"])
            .text(),
    );
    assert_eq!(d.reason, Reason::NoMatchingRule);
    // nor outside any task
    let d = decide_all(&b, &Req::new("editors", "doc.write").text());
    assert_eq!(d.reason, Reason::NoMatchingRule);
    // `other-write` applies only in `other`
    let d = decide_all(
        &b,
        &Req::new("others", "doc.write")
            .task("edit", &["alice"])
            .text(),
    );
    assert_eq!(d.reason, Reason::NoMatchingRule);
    let d = decide_all(
        &b,
        &Req::new("others", "doc.write").task("other", &[]).text(),
    );
    assert_eq!(
        (d.decision, d.rule.as_deref(), d.task.as_deref()),
        (Effect::Allow, Some("other-write"), Some("other"))
    );
    // a task's expiry does not leak to another task's request
    let d = decide_all(
        &b,
        &Req::new("editors", "doc.write")
            .task("other", &["alice"])
            .now("2026-11-22T12:00:00Z")
            .text(),
    );
    assert_eq!(d.reason, Reason::NoMatchingRule);
    // standing rules apply inside any task
    let d = decide_all(
        &b,
        &Req::new("reader", "doc.read").task("other", &[]).text(),
    );
    assert_eq!(
        (d.decision, d.rule.as_deref()),
        (Effect::Allow, Some("standing-read"))
    );
}

#[test]
fn task_scoped_guards_only_guard_their_task() {
    let src = r#"
entity P { k: Int }
entity R { k: Int }
action r.go on R

@id("standing")
@standing("test")
permit P to r.go on R

task t {
  ttl 1h
  @id("t-guard")
  forbid r.go when principal.k == 1
}
task u { ttl 1h }
"#;
    let b = compile_both("g.jitp", src);
    let r = |task: Option<&str>| {
        let mut v = json!({
            "subject": {"type": "P", "id": "p", "properties": {"k": 1}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "now": T0
        });
        if let Some(t) = task {
            v["task"] = json!({"name": t, "started_at": T0});
        }
        v.to_string()
    };
    assert_eq!(
        decide_all(&b, &r(Some("t"))).rule.as_deref(),
        Some("t-guard")
    );
    assert_eq!(decide_all(&b, &r(Some("u"))).decision, Effect::Allow);
    assert_eq!(decide_all(&b, &r(None)).decision, Effect::Allow);
}

// ------------------------------------------------------------------ expressions

/// Compiles a policy whose only permit has condition `cond` (over the
/// schema below) and decides `ctx` as the context; true when allowed.
const EXPR_SCHEMA: &str = r#"
use std.time
use std.net

entity P {
  name: String
  tags: Set<String>
  alt: String?
}

entity R {
  path: String
  level: Int
}

enum Color { red, green, blue }

record Inner {
  label: String
  score: Int?
  color: Color?
}

record Outer {
  inner: Inner?
  size: Int
}

context {
  s: String
  os: String?
  i: Int
  oi: Int?
  b: Bool?
  ob: Outer?
  ip: Ip
  oip: Ip?
  net: Net?
  nets: Set<Net>
  strs: Set<String>
  ints: Set<Int>
  colors: Set<Color>
  t: Time
  ot: Time?
  d: Duration?
  w: time.Window?
}

action r.go on R
"#;

fn expr_policy(cond: &str) -> Both {
    let text = format!(
        "{EXPR_SCHEMA}\n@id(\"x\")\n@standing(\"test\")\npermit P to r.go on R when {cond}\n"
    );
    compile_both("expr.jitp", &text)
}

fn expr_ctx() -> Value {
    json!({
        "s": "prod-db-1",
        "i": 5,
        "ip": "10.1.2.3",
        "nets": ["192.168.0.0/16", "10.0.0.0/8"],
        "strs": ["a", "b", "c"],
        "ints": [1, 2, 3],
        "colors": ["red"],
        "t": "2026-11-22T10:00:00Z"
    })
}

fn eval_with(b: &Both, ctx: &Value) -> bool {
    let r = json!({
        "subject": {"type": "P", "id": "me", "properties": {"name": "me", "tags": ["x", "y"]}},
        "action": {"name": "r.go"},
        "resource": {"type": "R", "id": "r1", "properties": {"path": "/apps/web", "level": 3}},
        "context": ctx,
        "now": "2026-11-22T10:05:00Z"
    });
    let d = decide_all(b, &r.to_string());
    assert_ne!(d.reason, Reason::InvalidRequest, "{d:?}");
    d.decision == Effect::Allow
}

fn check_exprs(cases: &[(&str, bool)], ctx: &Value) {
    for (cond, want) in cases {
        let b = expr_policy(cond);
        assert_eq!(
            eval_with(&b, ctx),
            *want,
            "`{cond}` should be {want} with context {ctx}"
        );
    }
}

#[test]
fn optional_semantics() {
    let ctx = expr_ctx();
    check_exprs(
        &[
            // absent comparisons are false, `not` of them true
            ("context.oi == 1", false),
            ("context.oi != 1", false),
            ("context.oi < 1", false),
            ("context.oi >= 1", false),
            ("not (context.oi == 1)", true),
            ("not (context.oi != 1)", true),
            ("not (context.oi < 1)", true),
            ("context.os == context.os", false),
            ("context.ob?.size > 0", false),
            ("context.ob?.inner?.label == \"x\"", false),
            ("not (context.ob?.inner?.score > 0)", true),
            ("context.ot < now", false),
            ("not (context.ot < now)", true),
            ("context.d < 1h", false),
            // ??
            ("(context.oi ?? 7) == 7", true),
            ("(context.os ?? \"dflt\") == \"dflt\"", true),
            ("context.b ?? true", true),
            ("not (context.b ?? false)", true),
            ("(context.ob?.inner?.score ?? 3) + context.i == 8", true),
            ("(context.ob?.size ?? context.i) == 5", true),
            // has
            ("has context.oi", false),
            ("not has context.oi", true),
            ("has context.ob", false),
            ("has context.ob?.inner", false),
            ("has principal.alt", false),
            // methods on absent receivers are false
            ("context.os?.starts_with(\"p\")", false),
            ("context.os like \"*\"", false),
            ("not (context.os like \"*\")", true),
            // in with absent is false
            ("context.oip in 10.0.0.0/8", false),
            ("context.ip in context.net", false),
            ("not (context.oip in context.nets)", true),
            ("context.ot in context.w", false),
            ("now in context.w", false),
            ("context.ob?.inner?.color in context.colors", false),
        ],
        &ctx,
    );
    let mut ctx2 = ctx.clone();
    ctx2["oi"] = json!(2);
    ctx2["os"] = json!("prod");
    ctx2["b"] = json!(false);
    ctx2["ob"] = json!({"size": 4, "inner": {"label": "x", "score": 9, "color": "red"}});
    ctx2["ot"] = json!("2026-11-22T10:00:00Z");
    ctx2["d"] = json!("30m");
    ctx2["net"] = json!("10.1.0.0/16");
    ctx2["w"] = json!({"start": "2026-11-22T10:00:00Z", "end": "2026-11-22T11:00:00Z"});
    check_exprs(
        &[
            ("context.oi == 2", true),
            ("context.oi < 1", false),
            ("context.os == context.os", true),
            ("context.ob?.size > 0", true),
            ("context.ob?.inner?.label == \"x\"", true),
            ("context.ob?.inner?.score > 0", true),
            ("context.ot < now", true),
            ("context.d < 1h", true),
            ("(context.oi ?? 7) == 2", true),
            ("context.b ?? true", false),
            ("(context.ob?.inner?.score ?? 3) + context.i == 14", true),
            ("has context.oi", true),
            ("has context.ob", true),
            ("has context.ob?.inner", true),
            ("has context.ob?.inner?.score", true),
            ("context.os?.starts_with(\"p\")", true),
            ("context.ip in context.net", true),
            ("now in context.w", true),
            ("context.ob?.inner?.color in context.colors", true),
            ("context.ob?.inner?.color == Color.red", true),
        ],
        &ctx2,
    );
    // explicit null is absent too
    let mut ctx3 = ctx.clone();
    ctx3["oi"] = Value::Null;
    ctx3["ob"] = json!({"size": 1, "inner": null});
    check_exprs(
        &[
            ("has context.oi", false),
            ("has context.ob", true),
            ("has context.ob?.inner", false),
            ("context.ob?.inner?.score == 1", false),
        ],
        &ctx3,
    );
}

#[test]
fn like_patterns() {
    let ctx = expr_ctx(); // s = "prod-db-1"
    check_exprs(
        &[
            ("context.s like \"prod-*\"", true),
            ("context.s like \"*-1\"", true),
            ("context.s like \"*db*\"", true),
            ("context.s like \"prod-db-1\"", true),
            ("context.s like \"prod\"", false),
            ("context.s like \"*\"", true),
            ("context.s like \"p*d*1\"", true),
            ("context.s like \"p*x*1\"", false),
            ("context.s like \"prod-*-2\"", false),
            ("context.s like \"*prod-db-1*\"", true),
            ("context.s like \"prod-db-1*x\"", false),
            ("context.s like \"**\"", true),
            ("context.s like \"prod-db-1-*\"", false),
            ("context.s like \"staging-*\"", false),
            // overlapping prefix and suffix must not share characters
            ("context.s like \"prod-db-1*1\"", false),
            ("context.s like \"pro*rod-db-1\"", false),
            ("resource.path like \"/apps/*\"", true),
        ],
        &ctx,
    );
    let mut ctx2 = ctx.clone();
    ctx2["s"] = json!("");
    check_exprs(
        &[
            ("context.s like \"*\"", true),
            ("context.s like \"\"", true),
            ("context.s like \"a*\"", false),
        ],
        &ctx2,
    );
    let mut ctx3 = ctx.clone();
    ctx3["s"] = json!("aa");
    check_exprs(
        &[
            ("context.s like \"a*a\"", true),
            ("context.s like \"aa*a\"", false),
            ("context.s like \"a*a*a\"", false),
        ],
        &ctx3,
    );
    let mut ctx4 = ctx.clone();
    ctx4["s"] = json!("héllo-wörld");
    check_exprs(
        &[
            ("context.s like \"h*ö*d\"", true),
            ("context.s like \"*wörld\"", true),
        ],
        &ctx4,
    );
}

#[test]
fn ip_and_networks() {
    let ctx = expr_ctx(); // ip 10.1.2.3; nets 192.168/16, 10/8
    check_exprs(
        &[
            ("context.ip in 10.0.0.0/8", true),
            ("context.ip in 10.1.2.3/32", true),
            ("context.ip in 10.1.2.0/31", false),
            ("context.ip in 11.0.0.0/8", false),
            ("context.ip in 0.0.0.0/0", true),
            ("context.ip in ::/0", false),
            ("context.ip in context.nets", true),
            ("context.ip in [192.168.0.0/16, 172.16.0.0/12]", false),
            ("context.ip in [192.168.0.0/16, 10.0.0.0/8]", true),
            ("net.is_private(context.ip)", true),
            ("net.in_any(context.ip, context.nets)", true),
            ("context.ip == 10.1.2.3", true),
            ("context.ip != 10.1.2.3", false),
        ],
        &ctx,
    );
    let mut ctx2 = ctx.clone();
    ctx2["ip"] = json!("fd12::1");
    ctx2["nets"] = json!([]);
    check_exprs(
        &[
            ("context.ip in fd00::/8", true),
            ("context.ip in 0.0.0.0/0", false),
            ("context.ip in context.nets", false),
            ("net.is_private(context.ip)", true),
        ],
        &ctx2,
    );
    // an IPv4-mapped IPv6 address is its IPv4 address
    let mut ctx3 = ctx.clone();
    ctx3["ip"] = json!("::ffff:10.1.2.3");
    check_exprs(
        &[
            ("context.ip in 10.0.0.0/8", true),
            ("context.ip in 11.0.0.0/8", false),
            ("context.ip in context.nets", true),
            ("context.ip in ::/0", false),
            ("context.ip == 10.1.2.3", true),
            ("context.ip == ::ffff:10.1.2.3", true),
            ("net.is_private(context.ip)", true),
        ],
        &ctx3,
    );
}

#[test]
fn times_and_windows() {
    let mut ctx = expr_ctx();
    ctx["w"] = json!({"start": "2026-11-22T10:05:00Z", "end": "2026-11-22T10:06:00Z"});
    // now = 10:05:00 = window start
    check_exprs(
        &[
            ("now in context.w", true),
            ("context.t in context.w", false),
            ("now - context.t == 5m", true),
            ("context.t + 5m == now", true),
            ("5m + context.t == now", true),
            ("now - 5m == context.t", true),
            ("now > context.t", true),
            ("time.between(now, context.t, now)", false),
            ("time.between(context.t, context.t, now)", true),
            ("time.fresh(context.t, now, 5m)", true),
            ("time.fresh(context.t, now, 4m59s)", false),
            ("now >= time(\"2026-11-22T10:05:00Z\")", true),
            ("now < time(\"2026-11-22T10:05:00Z\")", false),
            ("1h30m == 90m", true),
            ("-5m < 0s", true),
        ],
        &ctx,
    );
    // end is exclusive
    ctx["w"] = json!({"start": "2026-11-22T10:00:00Z", "end": "2026-11-22T10:05:00Z"});
    check_exprs(
        &[
            ("now in context.w", false),
            ("context.t in context.w", true),
        ],
        &ctx,
    );
    // an empty or inverted window contains nothing
    ctx["w"] = json!({"start": "2026-11-22T10:05:00Z", "end": "2026-11-22T10:05:00Z"});
    check_exprs(&[("now in context.w", false)], &ctx);
    ctx["w"] = json!({"start": "2026-11-22T11:00:00Z", "end": "2026-11-22T10:00:00Z"});
    check_exprs(&[("now in context.w", false)], &ctx);
}

#[test]
fn set_methods() {
    let ctx = expr_ctx(); // strs a b c; ints 1 2 3; tags x y
    check_exprs(
        &[
            ("context.strs.contains(\"a\")", true),
            ("context.strs.contains(\"z\")", false),
            ("context.strs.contains(context.s)", false),
            ("context.strs.contains_any([\"z\", \"c\"])", true),
            ("context.strs.contains_any([\"z\", \"q\"])", false),
            ("context.strs.contains_all([\"a\", \"c\"])", true),
            ("context.strs.contains_all([\"a\", \"z\"])", false),
            ("context.strs.contains_all(context.strs)", true),
            ("context.strs.contains_any(principal.tags)", false),
            ("principal.tags.contains_all([\"x\"])", true),
            ("context.strs.is_empty()", false),
            ("context.strs.len() == 3", true),
            ("context.ints.len() == 3", true),
            ("context.ints.contains(2)", true),
            ("context.ints.contains(context.i)", false),
            ("\"b\" in context.strs", true),
            ("\"q\" in context.strs", false),
            ("context.i in [1, 5, 9]", true),
            ("context.i in context.ints", false),
            ("context.colors.contains(Color.red)", true),
            ("Color.blue in context.colors", false),
            ("context.nets.len() == 2", true),
            // set equality ignores order
            ("context.strs == [\"c\", \"b\", \"a\"]", true),
            ("context.strs == [\"a\", \"b\"]", false),
            ("context.strs != [\"a\", \"b\"]", true),
            ("context.strs.contains_all([])", true),
            ("context.strs.contains_any([])", false),
            // `in [request values]` is desugared
            ("principal.name in [context.s, \"me\"]", true),
            ("principal.name in [context.s, \"you\"]", false),
            ("context.s in [principal.name, context.s]", true),
            ("context.os in [context.s, \"x\"]", false),
            ("not (context.os in [context.s, \"x\"])", true),
        ],
        &ctx,
    );
    // duplicates in a request set count once
    let mut ctx2 = ctx.clone();
    ctx2["strs"] = json!(["a", "a", "b", "a"]);
    ctx2["ints"] = json!([]);
    check_exprs(
        &[
            ("context.strs.len() == 2", true),
            ("context.strs == [\"a\", \"b\"]", true),
            ("context.ints.is_empty()", true),
            ("context.ints.len() == 0", true),
            ("context.ints.contains_all([])", true),
        ],
        &ctx2,
    );
}

#[test]
fn string_methods() {
    let ctx = expr_ctx(); // s = prod-db-1
    check_exprs(
        &[
            ("context.s.starts_with(\"prod\")", true),
            ("context.s.starts_with(\"db\")", false),
            ("context.s.starts_with(\"\")", true),
            ("context.s.ends_with(\"-1\")", true),
            ("context.s.ends_with(\"prod\")", false),
            ("context.s.contains(\"db\")", true),
            ("context.s.contains(\"xx\")", false),
            ("context.s.contains(context.s)", true),
            ("context.s.starts_with(principal.name)", false),
            ("resource.path.starts_with(\"/apps/\")", true),
            ("context.s == \"prod-db-1\"", true),
            ("context.s != \"prod-db-1\"", false),
            // strings the bundle has never seen compare by content
            ("context.s.contains(resource.path)", false),
        ],
        &ctx,
    );
}

#[test]
fn integers_and_arithmetic() {
    let ctx = expr_ctx(); // i = 5
    check_exprs(
        &[
            ("context.i + 1 == 6", true),
            ("context.i - 10 == -5", true),
            ("-context.i == -5", true),
            ("context.i > 4 and context.i <= 5", true),
            ("context.i < 5 or context.i >= 6", false),
            ("resource.level + context.i == 8", true),
        ],
        &ctx,
    );
    let mut ctx2 = ctx.clone();
    ctx2["i"] = json!(i64::MIN);
    // overflow in a permit: does not apply, and `or` short-circuits before it
    check_exprs(
        &[
            ("-context.i > 0", false),
            ("context.i - 1 < 0", false),
            ("true or context.i - 1 < 0", true),
            ("not (context.i - 1 < 0)", false),
        ],
        &ctx2,
    );
}

#[test]
fn functions_and_constants() {
    let src = r#"
entity P { name: String  n: Int }
entity R { k: Int }
context { a: Int  b: Int?  s: String }
action r.go on R

const LIMIT = 10
const NAMES = ["ann", "bob"]
fn within(x: Int, lo: Int, hi: Int) -> Bool = x >= lo and x <= hi
fn double(x: Int) -> Int = x + x
fn named(s: String) -> Bool = s in NAMES or s like "svc-*"
fn nested(x: Int, y: Int) -> Bool = within(double(x), y, LIMIT) and within(double(y), x, LIMIT)

@id("f")
@standing("test")
permit P to r.go on R
  when within(context.a, 1, LIMIT)
   and named(principal.name)
   and nested(context.a, context.b ?? 2)
   and double(principal.n) == principal.n + principal.n
"#;
    let b = compile_both("f.jitp", src);
    let r = |name: &str, a: i64, bb: Option<i64>| {
        let mut ctx = json!({"a": a, "s": "x"});
        if let Some(x) = bb {
            ctx["b"] = json!(x);
        }
        json!({
            "subject": {"type": "P", "id": "p", "properties": {"name": name, "n": 4}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "context": ctx,
            "now": T0
        })
        .to_string()
    };
    assert_eq!(decide_all(&b, &r("ann", 2, None)).decision, Effect::Allow);
    assert_eq!(
        decide_all(&b, &r("svc-x", 2, Some(3))).decision,
        Effect::Allow
    );
    assert_eq!(decide_all(&b, &r("carl", 2, None)).decision, Effect::Deny);
    assert_eq!(decide_all(&b, &r("ann", 11, None)).decision, Effect::Deny);
    assert_eq!(decide_all(&b, &r("ann", 3, Some(6))).decision, Effect::Deny); // double(6) = 12 > 10
    assert_eq!(
        decide_all(&b, &r("ann", 5, Some(5))).decision,
        Effect::Allow
    );
    assert_eq!(decide_all(&b, &r("ann", 5, Some(6))).decision, Effect::Deny);
}

// ------------------------------------------------------------------ invalid requests

fn rotate() -> Both {
    let text = std::fs::read_to_string(examples_dir().join("rotate_secrets/policy.jitp"))
        .expect("readable");
    compile_both("rotate_secrets/policy.jitp", &text)
}

fn rotate_request() -> Value {
    let text = std::fs::read_to_string(
        examples_dir().join("rotate_secrets/requests/allow-rotate-in-change-window.json"),
    )
    .expect("readable");
    serde_json::from_str(&text).expect("json")
}

fn edit(f: impl FnOnce(&mut Value)) -> String {
    let mut v = rotate_request();
    f(&mut v);
    v.to_string()
}

fn assert_invalid(b: &Both, request: &str, mentions: &[&str]) {
    let d = decide_all(b, request);
    assert_eq!(
        (d.decision, d.reason),
        (Effect::Deny, Reason::InvalidRequest),
        "{request}: {d:?}"
    );
    assert!(
        d.rule.is_none()
            && d.task.is_none()
            && d.needs.is_empty()
            && d.obligations.is_empty()
            && d.expires_at.is_none()
    );
    let e = d
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("{request}: no error text"));
    for m in mentions {
        assert!(e.contains(m), "error `{e}` should mention `{m}`");
    }
    // the typed API rejects it at bind time
    let err = b.bundle.bind_str(request).expect_err("binding fails");
    assert_eq!(err.message(), e);
    assert_eq!(err.to_string(), e);
    // and the reference interpreter also names the same thing
    if let Ok(json) = serde_json::from_str::<Value>(request) {
        let r = jitp::reference::decide_json(&b.program, &json);
        let re = r.error.unwrap_or_default();
        for m in mentions {
            assert!(
                re.contains(m),
                "reference error `{re}` should mention `{m}`"
            );
        }
    }
}

#[test]
fn the_valid_baseline_is_allowed() {
    let b = rotate();
    assert_eq!(
        decide_all(&b, &rotate_request().to_string()).decision,
        Effect::Allow
    );
}

#[test]
fn invalid_requests_are_denied_naming_the_field() {
    let b = rotate();
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            edit(|v| v["action"]["name"] = json!("secrets.delete")),
            vec!["secrets.delete"],
        ),
        (
            edit(|v| v["action"] = json!("secrets.read")),
            vec!["action"],
        ),
        (
            edit(|v| v["action"]["verb"] = json!("x")),
            vec!["action.verb"],
        ),
        (
            edit(|v| v["subject"]["type"] = json!("Robot")),
            vec!["Robot", "subject.type"],
        ),
        (
            edit(|v| v["resource"]["type"] = json!("Vault")),
            vec!["Vault", "resource.type"],
        ),
        (
            edit(
                |v| v["resource"] = json!({"type": "ServiceAccount", "id": "x", "properties": {"team": "a", "env": "b", "roles": []}}),
            ),
            vec!["secrets.rotate", "ServiceAccount"],
        ),
        (
            edit(|v| v["subject"]["properties"]["team"] = json!(7)),
            vec!["subject.properties.team", "string"],
        ),
        (
            edit(|v| v["subject"]["properties"]["roles"] = json!("deployer")),
            vec!["subject.properties.roles", "array"],
        ),
        (
            edit(|v| v["subject"]["properties"]["roles"] = json!(["a", 1])),
            vec!["subject.properties.roles[1]"],
        ),
        (
            edit(|v| v["resource"]["properties"]["revoked"] = json!("false")),
            vec!["resource.properties.revoked", "boolean"],
        ),
        (
            edit(|v| v["context"]["risk"] = json!("10")),
            vec!["context.risk", "integer"],
        ),
        (
            edit(|v| v["context"]["risk"] = json!(10.5)),
            vec!["context.risk", "integer"],
        ),
        (
            edit(|v| v["context"]["risk"] = json!(1e3)),
            vec!["context.risk"],
        ),
        (
            edit(|v| v["context"]["risk"] = json!(u64::MAX)),
            vec!["context.risk"],
        ),
        (
            edit(|v| v["context"]["risk"] = Value::Null),
            vec!["context.risk"],
        ),
        (
            edit(|v| v["context"]["source_ip"] = json!("10.1.2")),
            vec!["context.source_ip"],
        ),
        (
            edit(|v| v["context"]["source_ip"] = json!("10.0.0.0/8")),
            vec!["context.source_ip"],
        ),
        (
            edit(|v| v["context"]["ticket"]["status"] = json!("aproved")),
            vec!["context.ticket.status", "aproved"],
        ),
        (
            edit(|v| v["context"]["ticket"]["status"] = json!(1)),
            vec!["context.ticket.status"],
        ),
        (
            edit(|v| v["context"]["ticket"]["window"]["end"] = json!("tomorrow")),
            vec!["context.ticket.window.end"],
        ),
        (
            edit(|v| v["context"]["ticket"]["window"] = json!({"start": "2026-11-22T09:00:00Z"})),
            vec!["context.ticket.window.end"],
        ),
        (
            edit(|v| v["context"]["ticket"]["extra"] = json!(1)),
            vec!["context.ticket.extra"],
        ),
        (
            edit(|v| v["context"]["ticket"] = json!("CHG-1")),
            vec!["context.ticket"],
        ),
        (edit(|v| v["context"] = json!([])), vec!["context"]),
        (
            edit(|v| {
                v["context"].as_object_mut().expect("obj").remove("risk");
            }),
            vec!["missing", "context.risk"],
        ),
        (
            edit(|v| {
                v["subject"]["properties"]
                    .as_object_mut()
                    .expect("obj")
                    .remove("team");
            }),
            vec!["missing", "subject.properties.team"],
        ),
        (
            edit(|v| {
                v["resource"]["properties"]
                    .as_object_mut()
                    .expect("obj")
                    .remove("revoked");
            }),
            vec!["missing", "resource.properties.revoked"],
        ),
        (
            edit(|v| v["subject"]["properties"]["colour"] = json!("x")),
            vec!["subject.properties.colour"],
        ),
        (
            edit(|v| v["subject"]["properties"]["id"] = json!("x")),
            vec!["subject.properties.id"],
        ),
        (
            edit(|v| v["subject"]["kind"] = json!("x")),
            vec!["subject.kind"],
        ),
        (
            edit(|v| {
                v["subject"].as_object_mut().expect("obj").remove("id");
            }),
            vec!["subject.id"],
        ),
        (edit(|v| v["subject"]["id"] = json!(42)), vec!["subject.id"]),
        (
            edit(|v| v["context"]["colour"] = json!("x")),
            vec!["context.colour"],
        ),
        (
            edit(|v| v["evidence"]["mfa"] = json!("x")),
            vec!["evidence.mfa"],
        ),
        (
            edit(|v| v["evidence"]["mfa_at"] = json!("yesterday")),
            vec!["evidence.mfa_at"],
        ),
        (edit(|v| v["colour"] = json!("x")), vec!["colour"]),
        (
            edit(|v| v["task"]["name"] = json!("rotate_all_secrets")),
            vec!["rotate_all_secrets"],
        ),
        (edit(|v| v["task"]["name"] = json!(3)), vec!["task.name"]),
        (
            edit(|v| v["task"]["owner"] = json!("x")),
            vec!["task.owner"],
        ),
        (
            edit(|v| v["task"]["started_at"] = json!("2026-11-22 10:00")),
            vec!["task.started_at"],
        ),
        (
            edit(|v| {
                v["task"].as_object_mut().expect("obj").remove("started_at");
            }),
            vec!["task.started_at"],
        ),
        (
            edit(|v| v["task"]["approvals"] = json!("alice")),
            vec!["task.approvals"],
        ),
        (
            edit(|v| v["task"]["approvals"] = json!(["alice"])),
            vec!["task.approvals[0]"],
        ),
        (
            edit(|v| v["task"]["approvals"] = json!([{"by": "a"}, {"who": "b"}])),
            vec!["task.approvals[1]"],
        ),
        (
            edit(|v| v["task"]["approvals"] = json!([{"by": "a", "at": "noon"}])),
            vec!["task.approvals[0].at"],
        ),
        (edit(|v| v["task"]["id"] = json!(42)), vec!["task.id"]),
        (
            edit(|v| v["now"] = json!("2026-11-22T10:05:00")),
            vec!["now"],
        ),
        (edit(|v| v["now"] = json!("22/11/2026")), vec!["now"]),
        (edit(|v| v["now"] = json!(1_700_000_000)), vec!["now"]),
        (
            edit(|v| {
                v.as_object_mut().expect("obj").remove("now");
            }),
            vec!["now"],
        ),
        (
            edit(|v| {
                v.as_object_mut().expect("obj").remove("subject");
            }),
            vec!["subject"],
        ),
        (
            edit(|v| {
                v.as_object_mut().expect("obj").remove("resource");
            }),
            vec!["resource"],
        ),
        ("[]".to_string(), vec!["object"]),
        ("42".to_string(), vec!["object"]),
    ];
    for (request, mentions) in &cases {
        assert_invalid(&b, request, mentions);
    }
    // not JSON at all
    for bad in ["", "{", "{\"subject\": }", "nul"] {
        let d = b.bundle.decide_json(bad);
        assert_eq!(
            (d.decision, d.reason),
            (Effect::Deny, Reason::InvalidRequest),
            "{bad:?}"
        );
        assert!(
            d.error.as_deref().is_some_and(|e| e.contains("JSON")),
            "{d:?}"
        );
    }
}

#[test]
fn optional_fields_may_be_missing_or_null() {
    let b = rotate();
    // ticket absent: the rule does not apply
    let d = decide_all(
        &b,
        &edit(|v| {
            v["context"].as_object_mut().expect("obj").remove("ticket");
        }),
    );
    assert_eq!(d.reason, Reason::NoMatchingRule);
    let d = decide_all(&b, &edit(|v| v["context"]["ticket"] = Value::Null));
    assert_eq!(d.reason, Reason::NoMatchingRule);
    // evidence absent or null is fine
    let d = decide_all(
        &b,
        &edit(|v| {
            v.as_object_mut().expect("obj").remove("evidence");
        }),
    );
    assert_eq!(d.decision, Effect::Allow);
    let d = decide_all(&b, &edit(|v| v["evidence"] = Value::Null));
    assert_eq!(d.decision, Effect::Allow);
    // task null is no task
    let d = decide_all(&b, &edit(|v| v["task"] = Value::Null));
    assert_eq!(d.reason, Reason::NoMatchingRule);
    // properties may be omitted only when the entity needs none: here they are required
    let d = decide_all(
        &b,
        &edit(|v| {
            v["resource"]
                .as_object_mut()
                .expect("obj")
                .remove("properties");
        }),
    );
    assert_eq!(d.reason, Reason::InvalidRequest);
}

#[test]
fn invalid_json_numbers_and_huge_integers() {
    let b = rotate();
    // i64 limits bind
    let d = decide_all(&b, &edit(|v| v["context"]["risk"] = json!(i64::MAX)));
    assert_eq!(d.reason, Reason::Forbidden);
    let d = decide_all(&b, &edit(|v| v["context"]["risk"] = json!(i64::MIN)));
    assert_eq!(d.decision, Effect::Allow);
    // one past does not
    let text = rotate_request()
        .to_string()
        .replace("\"risk\":10", "\"risk\":9223372036854775808");
    assert!(text.contains("9223372036854775808"));
    assert_invalid(&b, &text, &["context.risk"]);
    let text = rotate_request()
        .to_string()
        .replace("\"risk\":10", "\"risk\":10.0");
    assert_invalid(&b, &text, &["context.risk"]);
}

#[test]
fn requests_nested_too_deeply_are_invalid() {
    let b = rotate();
    let mut deep = json!("x");
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let text = edit(|v| v["subject"]["properties"]["roles"] = deep.clone());
    let d = b.bundle.decide_json(&text);
    assert_eq!(
        (d.decision, d.reason),
        (Effect::Deny, Reason::InvalidRequest)
    );
    let e = d.error.expect("error");
    assert!(
        e.contains("nested") || e.contains("subject.properties.roles"),
        "{e}"
    );
    // very deep nesting (beyond serde_json's recursion limit) is rejected, not a crash
    let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let d = b.bundle.decide_json(&text);
    assert_eq!(d.reason, Reason::InvalidRequest);
    let text = format!(
        "{{\"context\": {}{}}}",
        "{\"a\":".repeat(5_000),
        "}".repeat(5_001)
    );
    let d = b.bundle.decide_json(&text);
    assert_eq!(d.reason, Reason::InvalidRequest);
}

#[test]
fn depth_limit_boundary() {
    // nesting exactly at the limit binds; one level more does not
    let limit = jitp_runtime::MAX_REQUEST_DEPTH;
    let b = rotate();
    let nest = |levels: usize| {
        // a value nested inside `levels` arrays, under request -> subject -> properties -> roles
        let mut deep = json!("x");
        for _ in 0..levels {
            deep = json!([deep]);
        }
        edit(|v| v["subject"]["properties"]["roles"] = deep.clone())
    };
    // request(1) subject(2) properties(3) roles array(4) ... the scalar at depth 3 + levels + 1
    let at_limit = nest(limit - 4);
    let over = nest(limit - 3);
    let e1 = b
        .bundle
        .bind_str(&at_limit)
        .expect_err("nested arrays are not strings");
    let e2 = b.bundle.bind_str(&over).expect_err("too deep");
    assert!(!e1.message().contains("nested deeper"), "{e1}");
    assert!(e2.message().contains("nested deeper"), "{e2}");
}

#[test]
fn requests_larger_than_a_mebibyte_are_invalid() {
    let b = rotate();
    let max = jitp_runtime::MAX_REQUEST_BYTES;
    assert_eq!(max, 1024 * 1024);
    let base = rotate_request().to_string();
    // pad with whitespace (valid JSON) to exactly the limit: accepted
    let padded = format!("{}{}", base, " ".repeat(max - base.len()));
    assert_eq!(padded.len(), max);
    assert_eq!(b.bundle.decide_json(&padded).decision, Effect::Allow);
    // one byte more: rejected before parsing
    let over = format!("{padded} ");
    let d = b.bundle.decide_json(&over);
    assert_eq!(
        (d.decision, d.reason),
        (Effect::Deny, Reason::InvalidRequest)
    );
    let e = d.error.expect("error");
    assert!(e.contains("larger") && e.contains(&max.to_string()), "{e}");
    // a large set inside the limit binds
    let many: Vec<String> = (0..20_000).map(|i| format!("role-{i}")).collect();
    let text = edit(|v| v["subject"]["properties"]["roles"] = json!(many));
    assert!(text.len() < max);
    assert_eq!(decide_all(&b, &text).decision, Effect::Allow);
}

#[test]
fn a_request_bound_to_another_bundle_is_invalid() {
    let a = rotate();
    let other = compile(
        &std::fs::read_to_string(examples_dir().join("guards/policy.jitp")).expect("readable"),
    );
    let bound = a
        .bundle
        .bind_str(&rotate_request().to_string())
        .expect("binds");
    assert_eq!(a.bundle.decide(&bound).effect, Effect::Allow);
    let d = other.decide(&bound);
    assert_eq!((d.effect, d.reason), (Effect::Deny, Reason::InvalidRequest));
    assert!(
        d.rule_id().is_none() && d.needs().next().is_none() && d.obligations().next().is_none()
    );
    // even a bundle that differs only slightly (one more guard)
    let text = std::fs::read_to_string(examples_dir().join("rotate_secrets/policy.jitp"))
        .expect("readable");
    let tweaked = compile(&format!("{text}\nforbid * when context.risk >= 99\n"));
    let d = tweaked.decide(&bound);
    assert_eq!(d.reason, Reason::InvalidRequest);
    // a bundle recompiled from the same source (and file name) is the same bundle
    let again = compile_both("rotate_secrets/policy.jitp", &text).bundle;
    assert_eq!(again.decide(&bound).effect, Effect::Allow);
    // and one that went through bytes too
    let reloaded = Bundle::from_bytes(&a.bundle.to_bytes()).expect("loads");
    assert_eq!(reloaded.decide(&bound).effect, Effect::Allow);
}

// ------------------------------------------------------------------ threads

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Bundle>();
    assert_send_sync::<jitp_runtime::BoundRequest>();
    assert_send_sync::<jitp_runtime::Decision<'static>>();
};

#[test]
fn deciding_from_many_threads_gives_the_same_answers() {
    let dirs = example_dirs();
    let mut work: Vec<(Bundle, Vec<(jitp_runtime::BoundRequest, DecisionRecord)>)> = Vec::new();
    for dir in &dirs {
        let bundle = compile(&std::fs::read_to_string(dir.join("policy.jitp")).expect("readable"));
        let mut reqs = Vec::new();
        for f in request_files(dir) {
            let text = std::fs::read_to_string(&f).expect("readable");
            if let Ok(bound) = bundle.bind_str(&text) {
                let expected = bundle.decide(&bound).to_record();
                reqs.push((bound, expected));
            }
        }
        work.push((bundle, reqs));
    }
    let work = &work;
    std::thread::scope(|s| {
        for t in 0..8 {
            s.spawn(move || {
                for round in 0..200 {
                    for (bundle, reqs) in work {
                        for (i, (bound, expected)) in reqs.iter().enumerate() {
                            if (i + round + t) % 3 == 0 {
                                continue;
                            }
                            assert_eq!(&bundle.decide(bound).to_record(), expected);
                        }
                    }
                }
            });
        }
    });
}

// ------------------------------------------------------------------ explanations

#[test]
fn explanations_name_the_failing_condition() {
    let b = rotate();
    let bound = b
        .bundle
        .bind_str(&edit(|v| v["task"]["approvals"] = json!([])))
        .expect("binds");
    let ex = b.bundle.explain(&bound);
    assert_eq!(ex.decision.decision, Effect::StepUp);
    let permit = ex
        .rules
        .iter()
        .find(|r| r.kind == "permit" && r.outcome.contains("approval"))
        .expect("the task permit is traced");
    assert!(permit.span.line > 0 && permit.span.start < permit.span.end);
    assert_eq!(permit.file, "rotate_secrets/policy.jitp");
    assert!(
        ex.rules.iter().filter(|r| r.kind == "guard").count() >= 3,
        "{:#?}",
        ex.rules
    );
    let bound = b
        .bundle
        .bind_str(&edit(|v| {
            v["resource"]["properties"]["revoked"] = json!(true)
        }))
        .expect("binds");
    let ex = b.bundle.explain(&bound);
    assert!(
        ex.rules
            .iter()
            .any(|r| r.kind == "guard" && r.outcome.contains("forbidden")),
        "{:#?}",
        ex.rules
    );
}

// ------------------------------------------------------------------ more expressions

#[test]
fn records_through_defaults_functions_and_stdlib() {
    let src = r#"
use std.time
use std.nhi

entity P { k: Int }
entity R { aud: String }
record Slot { label: String  w: time.Window }
context { a: Slot?  b: Slot  mark: Time? }
action r.go on R

fn label_of(s: Slot) -> String = s.label
fn open_at(s: Slot?, t: Time) -> Bool = t in s?.w

@id("rec")
@standing("test")
permit P to r.go on R
  when (context.a ?? context.b).label == "A"
   and label_of(context.a ?? context.b) == "A"
   and open_at(context.a, now)
   and action == "r.go" and action like "r.*" and action.starts_with("r.")
  require nhi.assertion_ok(evidence.workload, now, 5m, "iss", resource.aud) else "assertion"
  require (evidence.mfa_at ?? time("1970-01-01T00:00:00Z")) > now - 10m else "mfa"
  require has evidence.justification and (evidence.justification ?? "") like "INC-*" else "ticket"
"#;
    let b = compile_both("rec.jitp", src);
    let r = |a_label: Option<&str>, b_label: &str, evidence: Value| {
        let w = json!({"start": "2026-11-22T10:00:00Z", "end": "2026-11-22T11:00:00Z"});
        let mut ctx = json!({"b": {"label": b_label, "w": w}});
        if let Some(l) = a_label {
            ctx["a"] = json!({"label": l, "w": w});
        }
        json!({
            "subject": {"type": "P", "id": "p", "properties": {"k": 1}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"aud": "svc"}},
            "context": ctx,
            "evidence": evidence,
            "now": "2026-11-22T10:05:00Z"
        })
        .to_string()
    };
    let good = json!({
        "workload": {"issuer": "iss", "subject": "p", "audience": ["svc", "other"], "issued_at": "2026-11-22T10:01:00Z", "expires_at": "2026-11-22T10:30:00Z"},
        "mfa_at": "2026-11-22T10:00:00Z",
        "justification": "INC-42"
    });
    let d = decide_all(&b, &r(Some("A"), "B", good.clone()));
    assert_eq!(d.decision, Effect::Allow, "{d:?}");
    // `a` absent: the default `b` is used, and `open_at(absent)` is false
    assert_eq!(
        decide_all(&b, &r(None, "A", good.clone())).reason,
        Reason::NoMatchingRule
    );
    assert_eq!(
        decide_all(&b, &r(Some("B"), "A", good.clone())).reason,
        Reason::NoMatchingRule
    );
    // no evidence: every requirement is missing
    let d = decide_all(&b, &r(Some("A"), "B", json!({})));
    assert_eq!(d.needs, ["assertion", "mfa", "ticket"]);
    // a stale assertion, a wrong audience, an expired one
    let mut stale = good.clone();
    stale["workload"]["issued_at"] = json!("2026-11-22T09:59:59Z");
    assert_eq!(
        decide_all(&b, &r(Some("A"), "B", stale)).needs,
        ["assertion"]
    );
    let mut wrong = good.clone();
    wrong["workload"]["audience"] = json!(["other"]);
    assert_eq!(
        decide_all(&b, &r(Some("A"), "B", wrong)).needs,
        ["assertion"]
    );
    let mut expired = good.clone();
    expired["workload"]["expires_at"] = json!("2026-11-22T10:05:00Z");
    assert_eq!(
        decide_all(&b, &r(Some("A"), "B", expired)).needs,
        ["assertion"]
    );
    let mut bad_ticket = good.clone();
    bad_ticket["justification"] = json!("because");
    assert_eq!(
        decide_all(&b, &r(Some("A"), "B", bad_ticket)).needs,
        ["ticket"]
    );
}

#[test]
fn task_fields_and_guards_with_unless() {
    let src = r#"
entity P { k: Int }
entity R { k: Int }
action r.go on R
task t {
  ttl 1h
  @id("fresh-task")
  permit P to r.go on R
    when now - task.started_at < 10m and task.started_at <= now
    require task.approvals >= 1 or principal.k == 7 else "approval or k7"
  @id("task-guard")
  forbid r.go when principal.k > 100 unless task.id like "break-*"
}
"#;
    let b = compile_both("tf.jitp", src);
    let r = |k: i64, id: &str, now: &str, approvers: Value| {
        json!({
            "subject": {"type": "P", "id": "p", "properties": {"k": k}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "task": {"name": "t", "id": id, "started_at": T0, "approvals": approvers},
            "now": now
        })
        .to_string()
    };
    assert_eq!(
        decide_all(&b, &r(7, "run", "2026-11-22T10:09:59Z", json!([]))).decision,
        Effect::Allow
    );
    assert_eq!(
        decide_all(&b, &r(7, "run", "2026-11-22T10:10:00Z", json!([]))).reason,
        Reason::NoMatchingRule
    );
    assert_eq!(
        decide_all(&b, &r(1, "run", "2026-11-22T10:01:00Z", json!([]))).needs,
        ["approval or k7"]
    );
    assert_eq!(
        decide_all(
            &b,
            &r(1, "run", "2026-11-22T10:01:00Z", json!([{"by": "x"}]))
        )
        .decision,
        Effect::Allow
    );
    let d = decide_all(
        &b,
        &r(101, "run", "2026-11-22T10:01:00Z", json!([{"by": "x"}])),
    );
    assert_eq!(
        (d.reason, d.rule.as_deref()),
        (Reason::Forbidden, Some("task-guard"))
    );
    let d = decide_all(
        &b,
        &r(101, "break-1", "2026-11-22T10:01:00Z", json!([{"by": "x"}])),
    );
    assert_eq!(d.decision, Effect::Allow);
    // `task.id` may be omitted: it is the empty string
    let no_id = json!({
        "subject": {"type": "P", "id": "p", "properties": {"k": 7}},
        "action": {"name": "r.go"},
        "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
        "task": {"name": "t", "started_at": T0},
        "now": T0
    });
    assert_eq!(decide_all(&b, &no_id.to_string()).decision, Effect::Allow);
}

#[test]
fn like_with_an_escaped_star() {
    let src = r#"
entity P { name: String }
entity R { k: Int }
action r.go on R
@id("star")
@standing("test")
permit P to r.go on R when principal.name like "a\*b*"
"#;
    let Some(_) = jitp::driver::check_text("star.jitp", src).1 else {
        return; // escapes in strings may not be supported; nothing to compare then
    };
    let b = compile_both("star.jitp", src);
    let r = |name: &str| {
        json!({
            "subject": {"type": "P", "id": "p", "properties": {"name": name}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "now": T0
        })
        .to_string()
    };
    assert_eq!(decide_all(&b, &r("a*b")).decision, Effect::Allow);
    assert_eq!(decide_all(&b, &r("a*bcd")).decision, Effect::Allow);
    assert_eq!(decide_all(&b, &r("axb")).decision, Effect::Deny);
    assert_eq!(decide_all(&b, &r("ab")).decision, Effect::Deny);
}

#[test]
fn duplicate_keys_and_escapes_in_requests() {
    let b = rotate();
    let base = rotate_request().to_string();
    assert!(base.starts_with('{'));
    // a repeated key, at any level and whichever copy comes first: the
    // request is invalid (a reader keeping the other copy would decide
    // another request)
    let repeated = [
        format!("{{\"now\": \"garbage\", {}", &base[1..]),
        format!("{{\"now\": \"2020-01-01T00:00:00Z\", {}", &base[1..]),
        format!(
            "{}, \"now\": \"2020-01-01T00:00:00Z\"}}",
            &base[..base.len() - 1]
        ),
        format!("{}, \"now\": 5}}", &base[..base.len() - 1]),
        format!(
            "{}, \"context\": {{\"risk\": 99, \"source_ip\": \"10.0.0.1\"}}}}",
            &base[..base.len() - 1]
        ),
        base.replace("\"risk\":10", "\"risk\":\"ten\",\"risk\":10"),
        base.replace("\"risk\":10", "\"risk\":10,\"risk\":95"),
        base.replace(
            "\"team\":\"platform\"",
            "\"team\":\"platform\",\"team\":\"other\"",
        ),
        base.replace("\"team\":\"platform\"", "\"team\":7,\"team\":\"platform\""),
        base.replace(
            "{\"by\":\"alice\"}",
            "{\"by\":\"deploy-bot\",\"by\":\"alice\"}",
        ),
        base.replace(
            "{\"by\":\"alice\"}",
            "{\"by\":\"alice\",\"by\":\"deploy-bot\"}",
        ),
        base.replace(
            "\"type\":\"Secret\"",
            "\"type\":\"Nope\",\"type\":\"Secret\"",
        ),
        // an escape spells the same key
        base.replace("\"risk\":10", "\"risk\":10,\"ri\\u0073k\":10"),
    ];
    for c in &repeated {
        let d = b.bundle.decide_json(c);
        assert_eq!(
            (d.decision, d.reason),
            (Effect::Deny, Reason::InvalidRequest),
            "{c}"
        );
        assert!(
            d.error
                .as_deref()
                .is_some_and(|e| e.starts_with("duplicate key `")),
            "{d:?}"
        );
    }
    let cases = [
        // escapes decode before comparison
        base.replace("\"platform\"", "\"pla\\u0074form\""),
        base.replace("\"team\":", "\"te\\u0061m\":"),
        base.replace("\"secrets.rotate\"", "\"secrets\\u002erotate\""),
        base.replace("\"approved\"", "\"appro\\u0076ed\""),
        base.replace("{\"by\":\"alice\"}", "{\"by\":\"deploy\\u002dbot\"}"),
        // numbers
        base.replace("\"risk\":10", "\"risk\":-0"),
        base.replace("\"risk\":10", "\"risk\":1.0"),
        base.replace("\"risk\":10", "\"risk\":1e1"),
        base.replace("\"risk\":10", "\"risk\":-9223372036854775808"),
        base.replace("\"risk\":10", "\"risk\":18446744073709551615"),
    ];
    for c in &cases {
        let d = decide_all(&b, c);
        let _ = d;
    }
    assert_eq!(decide_all(&b, &cases[0]).decision, Effect::Allow);
    assert_eq!(decide_all(&b, &cases[1]).decision, Effect::Allow);
    assert_eq!(decide_all(&b, &cases[4]).decision, Effect::StepUp);
    // `-0` (cases[5]) is read by serde_json as a float: both sides reject it alike
}

// ------------------------------------------------------------------ regressions

/// `ip in [a, b]` whose elements read the request is compiled item by item;
/// for network elements each test is containment, not equality.
#[test]
fn ip_in_a_set_literal_of_request_networks() {
    let src = r#"
entity P { k: Int }
entity R { k: Int }
context { ip: Ip  n: Net  alt: Net? }
action r.go on R
@id("nets")
@standing("test")
permit P to r.go on R when context.ip in [context.n, 192.168.0.0/16]
@id("nets-default")
@standing("test")
permit P to r.go on R when principal.k == 2 and context.ip in [context.alt ?? 10.0.0.0/8]
"#;
    let b = compile_both("nets.jitp", src);
    for k in [1, 2] {
        let r = json!({
            "subject": {"type": "P", "id": "p", "properties": {"k": k}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "context": {"ip": "10.1.2.3", "n": if k == 1 { "10.0.0.0/8" } else { "172.16.0.0/12" }},
            "now": T0
        });
        let d = decide_all(&b, &r.to_string());
        assert_eq!(
            d.decision,
            Effect::Allow,
            "k={k}: 10.1.2.3 is in 10.0.0.0/8"
        );
    }
}

/// Both the VM and the reference interpreter limit the depth of the whole
/// JSON document (32 levels, the document itself being level 1), so deeply
/// nested records bind (or fail to) alike.
#[test]
fn deeply_nested_records_bind_the_same_in_vm_and_reference() {
    for n in 26..=33usize {
        let mut text = String::from("entity P { k: Int }\nentity R { k: Int }\naction r.go on R\n");
        for i in 0..n {
            if i + 1 < n {
                text.push_str(&format!("record R{i} {{ x: R{} }}\n", i + 1));
            } else {
                text.push_str(&format!("record R{i} {{ v: Int }}\n"));
            }
        }
        text.push_str("context { r: R0 }\n@standing(\"x\")\npermit P to r.go on R\n");
        let b = compile_both("deep.jitp", &text);
        let mut v = json!({"v": 1});
        for _ in 0..n - 1 {
            v = json!({ "x": v });
        }
        let r = json!({
            "subject": {"type": "P", "id": "p", "properties": {"k": 1}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
            "context": {"r": v},
            "now": T0
        });
        decide_all(&b, &r.to_string()); // asserts VM == reference
    }
}

/// A `ttl` so long that `started_at + ttl` overflows still gives a finite
/// expiry (capped at the last instant RFC 3339 can write), never a grant
/// without one.
#[test]
fn an_overflowing_expiry_does_not_grant_forever() {
    let src = "entity P { k: Int }\nentity R { k: Int }\naction r.go on R\ntask t {\n ttl 106751990d\n @id(\"x\")\n permit P to r.go on R\n}\n";
    let b = compile_both("t.jitp", src);
    let r = json!({
        "subject": {"type": "P", "id": "p", "properties": {"k": 1}},
        "action": {"name": "r.go"},
        "resource": {"type": "R", "id": "r", "properties": {"k": 0}},
        "task": {"name": "t", "started_at": T0},
        "now": "9999-12-31T23:59:59Z"
    });
    let d = decide_all(&b, &r.to_string());
    assert_eq!(d.decision, Effect::Allow, "{d:?}");
    assert_eq!(
        d.expires_at.as_deref(),
        Some("9999-12-31T23:59:59.999999Z"),
        "{d:?}"
    );
}

#[test]
fn request_strings_compare_equal_however_many_the_request_brings() {
    // Strings the bundle lacks get request-local ids: found by a scan while
    // there are few, through a hash table beyond that. Equal texts must get
    // equal ids on both sides of the switch.
    let src = r#"
entity P { roles: Set<String>  team: String }
entity R { owner: String }
action r.go on R
task t {
  ttl 1h
  @id("owner-in-roles")
  permit P to r.go on R
    when principal.roles.contains(resource.owner) and principal.team == resource.owner
}
"#;
    let b = compile_both("strings.jitp", src);
    let req = |roles: &[String], team: &str, owner: &str| {
        json!({
            "subject": {"type": "P", "id": "p", "properties": {"roles": roles, "team": team}},
            "action": {"name": "r.go"},
            "resource": {"type": "R", "id": "r", "properties": {"owner": owner}},
            "task": {"name": "t", "id": "run-1", "started_at": T0, "approvals": []},
            "now": "2026-11-22T10:05:00Z"
        })
        .to_string()
    };
    for n in [1, 15, 16, 17, 18, 40] {
        // every role twice, so duplicates are interned on both sides too
        let roles: Vec<String> = (0..n)
            .flat_map(|i| [format!("role-{i}"), format!("role-{i}")])
            .collect();
        for k in [0, n / 2, n - 1] {
            let owner = format!("role-{k}");
            let d = decide_all(&b, &req(&roles, &owner, &owner));
            assert_eq!(d.decision, Effect::Allow, "{n} roles, owner {owner}");
        }
        let d = decide_all(&b, &req(&roles, "role-0", "nobody"));
        assert_eq!(d.decision, Effect::Deny, "{n} roles, unknown owner");
        let d = decide_all(&b, &req(&roles, "role-0", &format!("role-{}", n - 1)));
        assert_eq!(
            d.decision,
            if n == 1 { Effect::Allow } else { Effect::Deny },
            "{n} roles, team differs from owner"
        );
    }
}

// ------------------------------------------------------------------ decimals

const DECIMALS: &str = r#"
entity Agent { limit: Decimal  rates: Set<Decimal> }
entity Order { total: Decimal  fee: Decimal? }
context { amount: Decimal  items: Int }
action orders.refund on Order
action orders.bulk on Order

const LIMIT = 500.00

@id("refund")
@standing("test")
permit Agent to orders.refund on Order
  when context.amount <= LIMIT
   and context.amount + (resource.fee ?? 0.0) <= principal.limit
   and context.amount - resource.total <= 0.0

@id("bulk")
@standing("test")
permit Agent to orders.bulk on Order
  when resource.total * context.items <= principal.limit
   and 2 * context.amount in principal.rates
   and decimal(context.items) > 1.5

@id("no-negative-refunds")
forbid orders.refund when -context.amount > 0.0
"#;

fn decimal_req(action: &str, amount: Value, items: i64, total: Value, fee: Value) -> String {
    json!({
        "subject": {"type": "Agent", "id": "ana",
                    "properties": {"limit": "1000.00", "rates": [25, "50.5", 99.999999]}},
        "action": {"name": action},
        "resource": {"type": "Order", "id": "o-1", "properties": {"total": total, "fee": fee}},
        "context": {"amount": amount, "items": items},
        "now": T0
    })
    .to_string()
}

#[test]
fn decimals_compare_and_add_exactly() {
    let b = compile_both("decimals.jitp", DECIMALS);
    let go = |amount: Value, total: Value, fee: Value| {
        let d = decide_all(&b, &decimal_req("orders.refund", amount, 1, total, fee));
        (d.decision, d.reason, d.rule)
    };
    let allow = (Effect::Allow, Reason::Granted, Some("refund".to_string()));
    let no_rule = (Effect::Deny, Reason::NoMatchingRule, None);
    // the limit itself, as a number, a string with trailing zeros, an integer
    assert_eq!(go(json!(500), json!(500), Value::Null), allow);
    assert_eq!(go(json!("500.000000"), json!("500.0"), Value::Null), allow);
    assert_eq!(go(json!(500.00), json!(600), Value::Null), allow);
    // one millionth above it
    assert_eq!(go(json!("500.000001"), json!(600), Value::Null), no_rule);
    // 0.1 + 0.2 is exactly 0.3, unlike in binary floating point
    let d = compile_both(
        "sum.jitp",
        r#"
entity Agent { a: Decimal  b: Decimal }
entity Order { c: Decimal }
action orders.refund on Order
@id("sum")
@standing("test")
permit Agent to orders.refund on Order when principal.a + principal.b == resource.c
"#,
    );
    let sum = |a: &str, b2: &str, c: Value| {
        let r = json!({
            "subject": {"type": "Agent", "id": "ana", "properties": {"a": a, "b": b2}},
            "action": {"name": "orders.refund"},
            "resource": {"type": "Order", "id": "o", "properties": {"c": c}},
            "now": T0
        });
        decide_all(&d, &r.to_string()).decision
    };
    assert_eq!(sum("0.1", "0.2", json!(0.3)), Effect::Allow);
    assert_eq!(sum("0.1", "0.2", json!("0.30")), Effect::Allow);
    assert_eq!(sum("0.1", "0.2", json!("0.300001")), Effect::Deny);
    // the optional fee counts when present
    assert_eq!(go(json!(400), json!(600), json!("600.01")), no_rule);
    assert_eq!(go(json!(400), json!(600), json!("600")), allow);
    // the amount must not exceed the order total
    assert_eq!(go(json!("12.5"), json!("12.49"), Value::Null), no_rule);
    // a negative amount is forbidden
    assert_eq!(
        go(json!("-0.000001"), json!(600), Value::Null),
        (
            Effect::Deny,
            Reason::Forbidden,
            Some("no-negative-refunds".to_string())
        )
    );
}

#[test]
fn decimals_multiply_by_ints_and_sit_in_sets() {
    let b = compile_both("decimals.jitp", DECIMALS);
    let go = |amount: Value, items: i64, total: Value| {
        decide_all(
            &b,
            &decimal_req("orders.bulk", amount, items, total, Value::Null),
        )
        .decision
    };
    // 2 * 12.5 = 25 is in the rates, 3 * 333.333333 <= 1000
    assert_eq!(go(json!(12.5), 3, json!("333.333333")), Effect::Allow);
    assert_eq!(go(json!("25.25"), 3, json!("333.333333")), Effect::Allow);
    assert_eq!(go(json!("49.9999995"), 3, json!(1)), Effect::Deny);
    // 3 * 333.333334 > 1000
    assert_eq!(go(json!(12.5), 3, json!("333.333334")), Effect::Deny);
    // 2 * 12.4 = 24.8 is not a rate
    assert_eq!(go(json!(12.4), 3, json!(1)), Effect::Deny);
    // decimal(1) is not > 1.5
    assert_eq!(go(json!(12.5), 1, json!(1)), Effect::Deny);
}

#[test]
fn decimal_overflow_is_an_evaluation_error_that_never_allows() {
    let b = compile_both("decimals.jitp", DECIMALS);
    // 9,000,000,000,000 * 2 overflows the product
    let d = decide_all(
        &b,
        &decimal_req(
            "orders.bulk",
            json!(12.5),
            2,
            json!("9000000000000"),
            Value::Null,
        ),
    );
    assert_eq!(
        (d.decision, d.reason),
        (Effect::Deny, Reason::NoMatchingRule)
    );
    // the sum overflows in a permit: it does not apply
    let d = decide_all(
        &b,
        &decimal_req(
            "orders.refund",
            json!(400),
            1,
            json!(600),
            json!("9223372036854.775807"),
        ),
    );
    assert_eq!(
        (d.decision, d.reason),
        (Effect::Deny, Reason::NoMatchingRule)
    );
    // negating the smallest decimal overflows in a guard: it denies, with the error
    let d = decide_all(
        &b,
        &decimal_req(
            "orders.refund",
            json!("-9223372036854.775808"),
            1,
            json!(600),
            Value::Null,
        ),
    );
    assert_eq!(
        (d.decision, d.reason, d.rule.as_deref()),
        (Effect::Deny, Reason::Forbidden, Some("no-negative-refunds"))
    );
    let e = d.error.as_deref().expect("an error is reported");
    assert!(e.contains("overflow"), "{e}");
}

#[test]
fn decimal_request_values_are_refused_rather_than_rounded() {
    let b = compile_both("decimals.jitp", DECIMALS);
    let refused = |amount: &str, mentions: &str| {
        let text = decimal_req("orders.refund", json!(0), 1, json!(600), Value::Null)
            .replace(r#""amount":0"#, &format!(r#""amount":{amount}"#));
        assert!(text.contains(amount), "{text}");
        let e = b.bundle.bind_str(&text).expect_err(amount);
        assert_eq!(e.path, "context.amount", "{amount}");
        let msg = e.to_string();
        assert!(msg.contains(mentions), "{amount}: {msg}");
        let d = b.bundle.decide_json(&text);
        assert_eq!(
            (d.decision, d.reason),
            (Effect::Deny, Reason::InvalidRequest)
        );
    };
    refused("12.5000001", "more than 6 fractional digits");
    refused(r#""12.5000001""#, "more than 6 fractional digits");
    refused("0.10000000000000000001", "more than 6 fractional digits");
    refused("1.25e1", "`1.25e1` is not a decimal");
    refused("1E3", "`1E3` is not a decimal");
    refused(r#""1e3""#, "`1e3` is not a decimal");
    refused(r#""12,50""#, "is not a decimal");
    refused(r#""+1""#, "is not a decimal");
    refused(r#"" 1""#, "is not a decimal");
    refused("9223372036855", "out of range");
    refused("9223372036854.775808", "out of range");
    refused(r#""-9223372036854.775809""#, "out of range");
    refused("true", "must be a decimal");
    refused("[1]", "must be a decimal");
    // the extremes themselves bind
    for ok in [
        r#""9223372036854.775807""#,
        "-9223372036854.775808",
        "0.000001",
        "-0",
    ] {
        let text = decimal_req("orders.refund", json!(0), 1, json!(600), Value::Null)
            .replace(r#""amount":0"#, &format!(r#""amount":{ok}"#));
        assert!(b.bundle.bind_str(&text).is_ok(), "{ok}");
    }
}
