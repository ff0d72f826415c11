//! Custom evidence fields, typed task parameters and rule heads with
//! several types, as `jitp eval` users see them: what binds, what is
//! refused (with the path and a did-you-mean), and which types a head
//! admits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{code, examples_dir, jitp, scratch, stdout};
use serde_json::{json, Value};

fn policy() -> std::path::PathBuf {
    examples_dir().join("refund_case/policy.jitp")
}

/// The example's allowed request.
fn base() -> Value {
    let text = std::fs::read_to_string(
        examples_dir().join("refund_case/requests/allow-refund-case-customer.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Decides `request` with `jitp eval` on the example policy; returns the
/// decision JSON.
fn eval(name: &str, request: &Value) -> Value {
    let dir = scratch(name);
    let path = dir.join("request.json");
    std::fs::write(&path, request.to_string()).unwrap();
    let out = jitp()
        .args(["eval", "--policy"])
        .arg(policy())
        .arg("--request")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout(&out)).unwrap()
}

fn refused(d: &Value) -> String {
    assert_eq!(d["decision"], "deny", "{d}");
    assert_eq!(d["reason"], "invalid_request", "{d}");
    d["error"].as_str().unwrap_or_default().to_string()
}

#[test]
fn declared_params_and_evidence_bind_and_allow() {
    let d = eval("ext_allow", &base());
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["rule"], "refund");
}

#[test]
fn a_missing_required_param_is_refused() {
    let mut r = base();
    r["task"]["params"]
        .as_object_mut()
        .unwrap()
        .remove("customer");
    let e = refused(&eval("ext_missing_param", &r));
    assert!(e.contains("task.params.customer"), "{e}");
}

#[test]
fn an_optional_param_may_be_absent_or_given() {
    let mut r = base();
    r["task"]["params"]["note"] = json!("duplicate charge");
    assert_eq!(eval("ext_optional_param", &r)["decision"], "allow");
}

#[test]
fn an_undeclared_param_is_refused_with_a_suggestion() {
    let mut r = base();
    r["task"]["params"]["custmer"] = json!("c-7");
    let e = refused(&eval("ext_undeclared_param", &r));
    assert!(e.contains("`task.params.custmer`"), "{e}");
    assert!(e.contains("did you mean `customer`"), "{e}");
}

#[test]
fn a_param_of_the_wrong_type_is_refused() {
    let mut r = base();
    r["task"]["params"]["ticket"] = json!(1042);
    let e = refused(&eval("ext_param_type", &r));
    assert!(e.contains("task.params.ticket"), "{e}");
}

#[test]
fn params_that_are_not_an_object_are_refused() {
    let mut r = base();
    r["task"]["params"] = json!(["T-1042"]);
    let e = refused(&eval("ext_params_array", &r));
    assert!(e.contains("task.params"), "{e}");
}

#[test]
fn a_misspelt_task_member_suggests_params() {
    let mut r = base();
    let p = r["task"].as_object_mut().unwrap().remove("params").unwrap();
    r["task"]["parms"] = p;
    let e = refused(&eval("ext_parms", &r));
    assert!(e.contains("did you mean `params`"), "{e}");
}

#[test]
fn custom_and_standard_evidence_are_checked_alike() {
    let mut r = base();
    r["evidence"]["ticket"] = json!("T-1042"); // standard nhi.Evidence field
    assert_eq!(eval("ext_std_evidence", &r)["decision"], "allow");
    let mut r = base();
    r["evidence"]["ci_run_id"] = json!(88);
    let e = refused(&eval("ext_evidence_type", &r));
    assert!(e.contains("evidence.ci_run_id"), "{e}");
    let mut r = base();
    r["evidence"]["ci_rn_id"] = json!("run-1");
    let e = refused(&eval("ext_evidence_unknown", &r));
    assert!(e.contains("did you mean `ci_run_id`"), "{e}");
}

#[test]
fn absent_custom_evidence_asks_for_step_up_not_allow() {
    let mut r = base();
    r.as_object_mut().unwrap().remove("evidence");
    let d = eval("ext_no_evidence", &r);
    assert_eq!(d["decision"], "step_up", "{d}");
}

#[test]
fn every_listed_type_is_admitted_and_no_other() {
    // principal types Agent and RefundBot, resource types Order and Invoice
    for (who, what) in [
        ("Agent", "Order"),
        ("RefundBot", "Invoice"),
        ("Agent", "Invoice"),
    ] {
        let mut r = base();
        r["subject"]["type"] = json!(who);
        if who == "Agent" {
            r["subject"]["properties"]["customer_ids"] = json!([]);
        }
        r["resource"]["type"] = json!(what);
        let d = eval(&format!("ext_types_{who}_{what}"), &r);
        assert_eq!(d["decision"], "allow", "{who} on {what}: {d}");
    }
}

#[test]
fn params_of_a_task_without_params_are_refused() {
    let dir = scratch("ext_no_params_task");
    let policy = dir.join("p.jitp");
    std::fs::write(
        &policy,
        "package t\nentity A { team: String }\nentity R { env: String }\n\
         action r.use on R sensitivity high\n\
         task plain {\n  ttl 5m\n  permit A to r.use on R\n    when principal.team == \"x\"\n}\n",
    )
    .unwrap();
    let req = json!({
        "subject": {"type": "A", "id": "a", "properties": {"team": "x"}},
        "action": {"name": "r.use"},
        "resource": {"type": "R", "id": "r", "properties": {"env": "p"}},
        "task": {"name": "plain", "id": "1", "started_at": "2026-01-01T00:00:00Z", "params": {"ticket": "T-1"}},
        "now": "2026-01-01T00:01:00Z"
    });
    let path = dir.join("r.json");
    std::fs::write(&path, req.to_string()).unwrap();
    let out = jitp()
        .args(["eval", "--policy"])
        .arg(&policy)
        .arg("--request")
        .arg(&path)
        .output()
        .unwrap();
    let d: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let e = refused(&d);
    assert!(e.contains("task `plain` declares no parameters"), "{e}");
}
