//! How long a grant lasts (`expires_at`): bounded by the task's end, a
//! `for`, the `now` conditions on the deciding path and the time guards
//! of the request; what `--explain` says about it and about the condition
//! that failed; and the refusal of a bundle of another format version.

use crate::support::{code, jitp, root, scratch, stderr, stdout};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const POLICY: &str = r#"package horizon
use std.time

entity User { team: String }
entity Doc { env: String  revoked: Bool }
record Change { id: String  window: time.Window }
context { change: Change?  deadline: Time?  risk: Int }
action doc.read on Doc sensitivity low
action doc.write on Doc sensitivity high
action doc.ddl on Doc sensitivity critical
action doc.admin on Doc sensitivity critical

/// Standing, but only inside the caller's change window.
@id("in-window")
permit User to doc.read on Doc
  when principal.team == "ops" and now in context.change?.window

/// Until a deadline the caller names, or when the risk is negligible.
@id("until-deadline")
permit User to doc.write on Doc
  when now < context.deadline or context.risk < 0
  unless resource.revoked

/// No writes from 10:40, for anyone.
@id("freeze")
forbid doc.write when now >= time("2026-11-22T10:40:00Z") and context.risk > 5

/// Up to and including the constant deadline.
@id("until-inclusive")
permit User to doc.admin on Doc when now <= time("2026-11-22T10:30:00Z")

task migration {
  ttl 2h
  @id("ddl-first-30m")
  permit User to doc.ddl on Doc
    for 30m
    when principal.team == "ops"
    require has evidence.mfa_at and time.fresh(evidence.mfa_at ?? now, now, 15m) else "fresh mfa"
}
"#;

fn setup() -> (PathBuf, PathBuf) {
    let dir = scratch("horizon");
    let policy = dir.join("policy.jitp");
    std::fs::write(&policy, POLICY).expect("write the policy");
    (dir, policy)
}

fn request(action: &str, context: Value, extra: &[(&str, Value)]) -> Value {
    let mut r = json!({
        "subject": {"type": "User", "id": "ana", "properties": {"team": "ops"}},
        "action": {"name": action},
        "resource": {"type": "Doc", "id": "d1", "properties": {"env": "prod", "revoked": false}},
        "context": context,
        "now": "2026-11-22T10:05:00Z"
    });
    for (k, v) in extra {
        r[*k] = v.clone();
    }
    r
}

fn eval(dir: &Path, policy: &Path, req: &Value, args: &[&str]) -> (i32, String, String) {
    let file = dir.join("request.json");
    std::fs::write(&file, req.to_string()).expect("write the request");
    // relative names, so that outputs do not depend on the scratch path
    let name = policy.file_name().expect("a file name");
    let out = jitp()
        .current_dir(dir)
        .arg("eval")
        .arg("--policy")
        .arg(name)
        .arg("-r")
        .arg("request.json")
        .args(args)
        .output()
        .expect("jitp runs");
    (code(&out), stdout(&out), stderr(&out))
}

fn decide(dir: &Path, policy: &Path, req: &Value) -> Value {
    let (status, out, err) = eval(dir, policy, req, &[]);
    assert_eq!(status, 0, "{err}");
    serde_json::from_str(&out).expect("a JSON decision")
}

fn window(start: &str, end: &str) -> Value {
    json!({"id": "CHG-1", "window": {"start": start, "end": end}})
}

#[test]
fn a_window_ends_a_standing_grant() {
    let (dir, policy) = setup();
    let ctx = json!({"change": window("2026-11-22T09:00:00Z", "2026-11-22T10:10:00Z"), "risk": 1});
    let d = decide(&dir, &policy, &request("doc.read", ctx, &[]));
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["rule"], "in-window");
    assert_eq!(d["expires_at"], "2026-11-22T10:10:00Z");
    // outside the window: no grant at all
    let ctx = json!({"change": window("2026-11-22T11:00:00Z", "2026-11-22T12:00:00Z"), "risk": 1});
    let d = decide(&dir, &policy, &request("doc.read", ctx, &[]));
    assert_eq!(d["decision"], "deny", "{d}");
}

#[test]
fn a_deadline_ends_a_grant_and_a_time_guard_ends_it_earlier() {
    let (dir, policy) = setup();
    // `now < deadline`: exactly at the deadline; the freeze does not apply
    // to a risk of 1 and so does not bound it
    let ctx = json!({"deadline": "2026-11-22T10:20:00Z", "risk": 1});
    let d = decide(&dir, &policy, &request("doc.write", ctx, &[]));
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["expires_at"], "2026-11-22T10:20:00Z");
    // the freeze starts at 10:40, before the deadline
    let ctx = json!({"deadline": "2026-11-22T11:00:00Z", "risk": 7});
    let d = decide(&dir, &policy, &request("doc.write", ctx, &[]));
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["expires_at"], "2026-11-22T10:40:00Z");
    // `or`: the disjunct that keeps holding longest wins; `risk < 0` is
    // not bounded by time, so neither is the grant (but the freeze is
    // not for this risk either)
    let ctx = json!({"deadline": "2026-11-22T10:20:00Z", "risk": -1});
    let d = decide(&dir, &policy, &request("doc.write", ctx, &[]));
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["expires_at"], Value::Null);
}

#[test]
fn now_at_most_t_lasts_through_t() {
    let (dir, policy) = setup();
    let d = decide(
        &dir,
        &policy,
        &request("doc.admin", json!({"risk": 1}), &[]),
    );
    assert_eq!(d["decision"], "allow", "{d}");
    // `now <= T` still holds at T: the grant lapses one microsecond later
    assert_eq!(d["expires_at"], "2026-11-22T10:30:00.000001Z");
}

#[test]
fn a_for_and_a_freshness_requirement_bound_a_task_grant() {
    let (dir, policy) = setup();
    let task = json!({"name": "migration", "id": "m1", "started_at": "2026-11-22T10:00:00Z"});
    // mfa at 10:01: fresh through 10:16, before the `for 30m` (10:30)
    let ev = json!({"mfa_at": "2026-11-22T10:01:00Z"});
    let req = request(
        "doc.ddl",
        json!({"risk": 1}),
        &[("task", task.clone()), ("evidence", ev)],
    );
    let d = decide(&dir, &policy, &req);
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["expires_at"], "2026-11-22T10:16:00.000001Z");
    // mfa at 10:04:59 would stay fresh until 10:19:59; at 10:28 the `for`
    // (10:30) comes first
    let ev = json!({"mfa_at": "2026-11-22T10:20:00Z"});
    let mut req = request(
        "doc.ddl",
        json!({"risk": 1}),
        &[("task", task), ("evidence", ev)],
    );
    req["now"] = json!("2026-11-22T10:28:00Z");
    let d = decide(&dir, &policy, &req);
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["expires_at"], "2026-11-22T10:30:00Z");
}

#[test]
fn explain_names_what_bounds_a_grant() {
    let (dir, policy) = setup();
    let ctx = json!({"deadline": "2026-11-22T11:00:00Z", "risk": 7});
    let req = request("doc.write", ctx, &[]);
    let (status, text, err) = eval(&dir, &policy, &req, &["--explain"]);
    assert_eq!(status, 0, "{err}");
    insta::assert_snapshot!("explain_bounded_by_guard", text);
    let ctx = json!({"change": window("2026-11-22T09:00:00Z", "2026-11-22T10:10:00Z"), "risk": 1});
    let (status, json_out, err) = eval(
        &dir,
        &policy,
        &request("doc.read", ctx, &[]),
        &["--explain", "--format", "json"],
    );
    assert_eq!(status, 0, "{err}");
    let v: Value = serde_json::from_str(&json_out).expect("JSON");
    insta::assert_json_snapshot!("explain_bounded_by_window_json", v["explanation"]);
}

#[test]
fn explain_points_at_the_failing_condition() {
    let (dir, policy) = setup();
    // `when` false because of its second conjunct only
    let mut req = request(
        "doc.read",
        json!({"change": window("2026-11-22T11:00:00Z", "2026-11-22T12:00:00Z"), "risk": 1}),
        &[],
    );
    let (status, text, err) = eval(&dir, &policy, &req, &["--explain"]);
    assert_eq!(status, 0, "{err}");
    insta::assert_snapshot!("explain_when_false_atom", text);
    let (_, json_out, _) = eval(&dir, &policy, &req, &["--explain", "--format", "json"]);
    let v: Value = serde_json::from_str(&json_out).expect("JSON");
    let span = &v["explanation"][0]["span"];
    let start = span["start"].as_u64().expect("start") as usize;
    let end = span["end"].as_u64().expect("end") as usize;
    assert_eq!(&POLICY[start..end], "now in context.change?.window", "{v}");
    // `unless` true
    req = request(
        "doc.write",
        json!({"deadline": "2026-11-22T11:00:00Z", "risk": 1}),
        &[],
    );
    req["resource"]["properties"]["revoked"] = json!(true);
    let (_, json_out, _) = eval(&dir, &policy, &req, &["--explain", "--format", "json"]);
    let v: Value = serde_json::from_str(&json_out).expect("JSON");
    let permit = v["explanation"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["rule"] == "until-deadline"))
        .expect("the permit is explained")
        .clone();
    insta::assert_json_snapshot!("explain_unless_true_json", permit);
    // a failing `require`: its failing conjunct
    let task = json!({"name": "migration", "started_at": "2026-11-22T10:00:00Z"});
    let ev = json!({"mfa_at": "2026-11-22T09:00:00Z"});
    let req = request(
        "doc.ddl",
        json!({"risk": 1}),
        &[("task", task), ("evidence", ev)],
    );
    let (_, text, _) = eval(&dir, &policy, &req, &["--explain"]);
    insta::assert_snapshot!("explain_require_atom", text);
}

#[test]
fn a_bundle_of_the_previous_format_is_refused_with_how_to_rebuild() {
    let old = root().join("crates/jitp-runtime/tests/data/previous/rotate_secrets.format4.jitb");
    let req = root().join("examples/rotate_secrets/requests/allow-rotate-in-change-window.json");
    let out = jitp()
        .arg("eval")
        .arg("--bundle")
        .arg(&old)
        .arg("-r")
        .arg(&req)
        .output()
        .expect("jitp runs");
    assert_eq!(code(&out), 2);
    let text = stderr(&out).replace(env!("CARGO_PKG_VERSION"), "<version>");
    insta::assert_snapshot!("previous_format_refused", text);
    // and the same policy, rebuilt, loads
    let dir = scratch("rebuild");
    let bundle = dir.join("rotate.jitb");
    let built = jitp()
        .arg("build")
        .arg(root().join("examples/rotate_secrets/policy.jitp"))
        .arg("-o")
        .arg(&bundle)
        .output()
        .expect("jitp runs");
    assert_eq!(code(&built), 0, "{}", stderr(&built));
    let out = jitp()
        .arg("eval")
        .arg("--bundle")
        .arg(&bundle)
        .arg("-r")
        .arg(&req)
        .output()
        .expect("jitp runs");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}
