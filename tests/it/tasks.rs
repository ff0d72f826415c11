//! Tasks held by `jitp serve --tasks`: the real binary on a loopback port,
//! the task API, approvals decided by the bundle, store-backed decisions,
//! durability across a SIGKILL, two replicas on one PostgreSQL, racing
//! transitions, and the example scripts.

use crate::serve::{agent, send, Server, TempDir};
use crate::support::{code, examples_dir, jitp, run, stderr};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The callers: token, and the identity the tokens file gives it.
const TOKENS: &str = "\
# token     type      id (columns may be aligned)
op-token    Operator  sre-ana
bob-token	Engineer	bob
bob-again Engineer BOB
chen-token Engineer chen
dan-token Engineer dan
erin-token Engineer erin
fay-token Engineer fay
gus-token Engineer gus
hal-token Engineer hal
anon-token
";

const ENTITIES: &str = r#"{
  "Operator": {"sre-ana": {"team": "sre", "oncall": true, "groups": ["sre"]},
               "sre-bo": {"team": "sre", "oncall": true, "groups": ["sre"]}},
  "Engineer": {"bob": {"oncall": true}, "chen": {"oncall": true}, "dan": {"oncall": false},
               "erin": {"oncall": true}, "fay": {"oncall": true}, "gus": {"oncall": true},
               "hal": {"oncall": true}},
  "Database": {"orders-db": {"env": "prod", "cluster": "orders-eu", "contains_pii": false}}
}"#;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn incident() -> Value {
    json!({
        "incident": {"id": "INC-881", "status": "open", "severity": "sev1",
                     "opened_at": "2026-11-22T03:02:00Z"},
        "risk": 30,
        "source_ip": "10.8.4.21"
    })
}

/// The body of an approval (or an end) by an approver.
fn approval() -> String {
    json!({"context": incident()}).to_string()
}

/// A break-glass database query naming held task `id`.
fn query(id: &str) -> String {
    json!({
        "subject": {"type": "Operator", "id": "sre-ana"},
        "action": {"name": "db.query"},
        "resource": {"type": "Database", "id": "orders-db"},
        "context": incident(),
        "evidence": {"justification": "INC-881: replica lag"},
        "task": {"id": id}
    })
    .to_string()
}

/// The same query in the AuthZEN shape: the task named in the context.
fn authzen_query(id: &str) -> String {
    let mut ctx = incident();
    ctx["jitp_task_id"] = id.into();
    json!({
        "subject": {"type": "Operator", "id": "sre-ana"},
        "action": {"name": "db.query"},
        "resource": {"type": "Database", "id": "orders-db"},
        "context": ctx,
        "evidence": {"justification": "INC-881: replica lag"}
    })
    .to_string()
}

struct Setup {
    dir: TempDir,
    tokens: PathBuf,
    entities: PathBuf,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = TempDir::new(tag);
        let tokens = dir.write("tokens", TOKENS);
        let entities = dir.write("entities.json", ENTITIES);
        Setup {
            dir,
            tokens,
            entities,
        }
    }

    fn sqlite(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("tasks.db").display())
    }

    /// The break-glass example served with tasks in `store`.
    fn server(&self, store: &str, extra: &[&str]) -> Server {
        let policy = examples_dir().join("breakglass").join("policy.jitp");
        let mut args = vec![
            "--policy",
            s(&policy),
            "--entities",
            s(&self.entities),
            "--tokens",
            s(&self.tokens),
            "--tasks",
            store,
        ];
        args.extend_from_slice(extra);
        Server::start(&args)
    }
}

/// POSTs `body` with `token`.
fn post(server: &Server, token: &str, path: &str, body: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    send(
        &agent(),
        "POST",
        &server.url(path),
        Some(body),
        &[("authorization", &auth)],
    )
}

fn get(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    send(
        &agent(),
        "GET",
        &server.url(path),
        None,
        &[("authorization", &auth)],
    )
}

/// Requests the break-glass task for `sre-ana`; its id.
fn request(server: &Server) -> String {
    let (st, t) = post(
        server,
        "op-token",
        "/v1/tasks",
        &json!({"name": "incident_response", "principal": {"type": "Operator", "id": "sre-ana"},
                "justification": "INC-881: replica lag", "ticket": "INC-881"})
        .to_string(),
    );
    assert_eq!(st, 201, "{t}");
    t["id"].as_str().unwrap().to_string()
}

fn approve(server: &Server, token: &str, id: &str) -> (u16, Value) {
    post(
        server,
        token,
        &format!("/v1/tasks/{id}/approve"),
        &approval(),
    )
}

fn end(server: &Server, token: &str, id: &str) -> (u16, Value) {
    post(server, token, &format!("/v1/tasks/{id}/end"), &approval())
}

/// A task or error with its ids and times replaced, for snapshots.
fn redact(v: &Value) -> Value {
    fn walk(v: &mut Value, key: Option<&str>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    walk(x, Some(k));
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, key)),
            Value::String(text) => {
                let placeholder = match key {
                    Some("id") if text.len() == 32 => Some("[task id]"),
                    Some("decision_id") => Some("[decision id]"),
                    Some("at" | "started_at" | "expires_at" | "ended_at" | "time") => {
                        Some("[time]")
                    }
                    _ => None,
                };
                if let Some(p) = placeholder {
                    *text = p.into();
                }
                // A decision id quoted in a message.
                if let Some((head, tail)) = text.split_once("(decision `") {
                    let rest = tail.split_once("`)").map_or("", |(_, r)| r);
                    *text = format!("{head}(decision `[decision id]`){rest}");
                }
            }
            _ => {}
        }
    }
    let mut v = v.clone();
    walk(&mut v, None);
    v
}

fn keygen(dir: &TempDir) -> (PathBuf, PathBuf) {
    let base = dir.path().join("log");
    let o = run(&["keygen", "-o", s(&base)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    (base.with_extension("key"), base.with_extension("pub"))
}

#[test]
fn a_task_is_requested_approved_used_and_ended() {
    let setup = Setup::new("tasks-life");
    let (key, public) = keygen(&setup.dir);
    let log = setup.dir.path().join("decisions");
    let server = setup.server(&setup.sqlite(), &["--log", s(&log), "--log-key", s(&key)]);
    let id = request(&server);
    let (_, requested) = get(&server, "anon-token", &format!("/v1/tasks/{id}"));
    insta::assert_json_snapshot!("task_requested", redact(&requested));

    // Requested: not yet active.
    let (st, d) = post(&server, "anon-token", "/v1/decide", &query(&id));
    assert_eq!(
        (st, d["reason"].as_str()),
        (200, Some("not_yet_active")),
        "{d}"
    );

    let (st, one) = approve(&server, "bob-token", &id);
    assert_eq!(
        (st, one["state"].as_str()),
        (200, Some("requested")),
        "{one}"
    );
    let (st, two) = approve(&server, "chen-token", &id);
    assert_eq!(st, 200, "{two}");
    insta::assert_json_snapshot!("task_active", redact(&two));

    // Active: granted, until the task's expiry at the latest.
    let (st, d) = post(&server, "anon-token", "/v1/decide", &query(&id));
    assert_eq!(st, 200);
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["expires_at"], two["expires_at"]);
    let (st, az) = post(
        &server,
        "anon-token",
        "/access/v1/evaluation",
        &authzen_query(&id),
    );
    assert_eq!((st, &az["decision"]), (200, &json!(true)), "{az}");

    let (st, list) = get(&server, "anon-token", "/v1/tasks");
    assert_eq!(st, 200);
    assert_eq!(list["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(list["tasks"][0]["id"], id.as_str());

    // The principal ends it; from then on every request is denied.
    let (st, ended) = post(&server, "op-token", &format!("/v1/tasks/{id}/end"), "");
    assert_eq!(st, 200, "{ended}");
    insta::assert_json_snapshot!("task_ended", redact(&ended));
    let (_, d) = post(&server, "anon-token", "/v1/decide", &query(&id));
    insta::assert_json_snapshot!("decision_task_ended", d);
    let (_, az) = post(
        &server,
        "anon-token",
        "/access/v1/evaluation",
        &authzen_query(&id),
    );
    assert_eq!(az["decision"], false);
    assert_eq!(az["context"]["reason"], "task_ended");
    let (st, again) = end(&server, "bob-token", &id);
    assert_eq!(st, 409, "{again}");
    insta::assert_json_snapshot!("end_twice", again);
    let (_, list) = get(&server, "anon-token", "/v1/tasks");
    assert_eq!(list["tasks"], json!([]));
    let (_, metrics) = get(&server, "anon-token", "/metrics");
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("\njitp_task_transitions_total 4\n"),
        "{metrics}"
    );

    // Every transition is in the log, chained and signed with the
    // decisions (the approvals' decisions included).
    drop(server);
    let text: String = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<String> = records
        .iter()
        .filter(|r| r["kind"] == "transition")
        .flat_map(|r| r["events"].as_array().unwrap().clone())
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["requested", "approved", "approved", "started", "ended"]
    );
    let approvals: Vec<&Value> = records
        .iter()
        .filter(|r| r["kind"] == "transition" && !r["decision_id"].is_null())
        .collect();
    assert_eq!(approvals.len(), 2);
    for a in approvals {
        let decision = records
            .iter()
            .find(|r| r["kind"] == "decision" && r["id"] == a["decision_id"])
            .expect("the approval's decision is logged");
        assert_eq!(
            decision["request"]["action"]["name"],
            "tasks.approve_incident"
        );
        assert_eq!(decision["decision"]["decision"], "allow");
    }
    let o = run(&["log", "verify", s(&log), "--key", s(&public)]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn approvals_count_only_when_the_policy_permits_a_peer_once() {
    let setup = Setup::new("tasks-approve");
    let server = setup.server(&setup.sqlite(), &[]);
    let id = request(&server);

    // The principal never approves its own task.
    let (st, e) = approve(&server, "op-token", &id);
    assert_eq!(st, 403);
    insta::assert_json_snapshot!("self_approval", e);
    // A token without an identity cannot approve.
    let (st, e) = approve(&server, "anon-token", &id);
    assert_eq!(st, 403);
    insta::assert_json_snapshot!("approval_without_identity", e);
    // An engineer who is not on call is not permitted by the policy.
    let (st, e) = approve(&server, "dan-token", &id);
    assert_eq!(st, 403);
    insta::assert_json_snapshot!("approval_not_permitted", redact(&e));
    // Without the context the policy reads, the approval is not decided
    // in the approver's favour either.
    let (st, _) = post(&server, "bob-token", &format!("/v1/tasks/{id}/approve"), "");
    assert_eq!(st, 403);

    let (st, _) = approve(&server, "bob-token", &id);
    assert_eq!(st, 200);
    // The same approver again, or in another case, counts once.
    for token in ["bob-token", "bob-again"] {
        let (st, e) = approve(&server, token, &id);
        assert_eq!(st, 409, "{token}: {e}");
        assert_eq!(
            e["error"]["message"],
            "this approver has already approved the task"
        );
    }
    let (_, t) = get(&server, "anon-token", &format!("/v1/tasks/{id}"));
    assert_eq!(t["state"], "requested");
    assert_eq!(t["version"], 2);
    let by: Vec<&Value> = t["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["by"]["id"])
        .collect();
    assert_eq!(by, [&json!("bob")]);

    // An approval is a decision: the next peer starts the task; then no
    // more approvals are taken.
    let (st, t) = approve(&server, "chen-token", &id);
    assert_eq!((st, t["state"].as_str()), (200, Some("active")));
    let (st, e) = approve(&server, "erin-token", &id);
    assert_eq!(st, 409);
    insta::assert_json_snapshot!("approval_of_active_task", e);
}

#[test]
fn requests_and_task_facts_are_checked() {
    let setup = Setup::new("tasks-check");
    let server = setup.server(&setup.sqlite(), &[]);
    let id = request(&server);
    for (name, body) in [
        (
            "request_unknown_task",
            json!({"name": "incident_respons", "principal": {"type": "Operator", "id": "sre-ana"}, "justification": "x"}),
        ),
        (
            "request_wrong_principal_type",
            json!({"name": "incident_response", "principal": {"type": "Engineer", "id": "bob"}, "justification": "x"}),
        ),
        (
            "request_unknown_key",
            json!({"name": "incident_response", "principal": {"type": "Operator", "id": "sre-ana"}, "justification": "x", "started_at": "2026-01-01T00:00:00Z"}),
        ),
        (
            "request_without_justification",
            json!({"name": "incident_response", "principal": {"type": "Operator", "id": "sre-ana"}}),
        ),
        (
            "request_justification_too_long",
            json!({"name": "incident_response", "principal": {"type": "Operator", "id": "sre-ana"}, "justification": "x".repeat(4097)}),
        ),
    ] {
        let (st, e) = post(&server, "op-token", "/v1/tasks", &body.to_string());
        assert_eq!(st, 400, "{name}: {e}");
        insta::assert_json_snapshot!(name, e);
    }
    // Duplicate keys are refused.
    let (st, e) = post(
        &server,
        "op-token",
        "/v1/tasks",
        r#"{"name": "incident_response", "name": "x", "principal": {"type": "Operator", "id": "a"}, "justification": "x"}"#,
    );
    assert_eq!(st, 400, "{e}");

    // Forged facts: a request naming a held task cannot assert them, nor
    // assert a task without naming a held one.
    bob_and_chen_approve(&server, &id);
    let mut forged: Value = serde_json::from_str(&query(&id)).unwrap();
    forged["task"]["approvals"] = json!([{"by": "x"}, {"by": "y"}]);
    let (st, e) = post(&server, "anon-token", "/v1/decide", &forged.to_string());
    assert_eq!(st, 400);
    insta::assert_json_snapshot!("forged_approvals", redact_message(&e, &id));
    let mut asserted: Value = serde_json::from_str(&query(&id)).unwrap();
    asserted["task"] = json!({"name": "incident_response", "started_at": "2026-12-01T00:00:00Z",
                              "approvals": [{"by": "x"}, {"by": "y"}]});
    let (st, e) = post(&server, "anon-token", "/v1/decide", &asserted.to_string());
    assert_eq!(st, 400);
    insta::assert_json_snapshot!("asserted_task", e);
    // A batch: the same refusal, naming the item.
    let batch = json!({"evaluations": [serde_json::from_str::<Value>(&authzen_query(&id)).unwrap(), forged]});
    let (st, e) = post(
        &server,
        "anon-token",
        "/access/v1/evaluations",
        &batch.to_string(),
    );
    assert_eq!(st, 400, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("`evaluations[1]`"));

    // An id the store does not hold is denied, never decided on facts.
    let (st, d) = post(
        &server,
        "anon-token",
        "/v1/decide",
        &query("0123456789abcdef0123456789abcdef"),
    );
    assert_eq!(st, 200);
    insta::assert_json_snapshot!("unknown_task_id", d);
    // Another subject cannot use the operator's task.
    let mut other: Value = serde_json::from_str(&query(&id)).unwrap();
    other["subject"]["id"] = "sre-bo".into();
    let (_, d) = post(&server, "anon-token", "/v1/decide", &other.to_string());
    assert_eq!(d["decision"], "deny");
    assert_eq!(d["reason"], "no_matching_rule");
    // The held task itself still grants (several items, one task).
    let batch = json!({"evaluations": [
        serde_json::from_str::<Value>(&authzen_query(&id)).unwrap(),
        serde_json::from_str::<Value>(&authzen_query(&id)).unwrap(),
    ]});
    let (st, b) = post(
        &server,
        "anon-token",
        "/access/v1/evaluations",
        &batch.to_string(),
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["evaluations"][0]["decision"], true, "{b}");
    assert_eq!(b["evaluations"][1]["decision"], true, "{b}");
    // Everything shared but the resource: each item finds the task in the
    // defaults' context (the first leaves it there for the second) and the
    // subject's entity data is merged once.
    let mut shared: Value = serde_json::from_str(&authzen_query(&id)).unwrap();
    let resource = shared.as_object_mut().unwrap().remove("resource").unwrap();
    shared["evaluations"] = json!([{"resource": resource}, {"resource": resource}, {}]);
    let (st, b) = post(
        &server,
        "anon-token",
        "/access/v1/evaluations",
        &shared.to_string(),
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["evaluations"][0]["decision"], true, "{b}");
    assert_eq!(b["evaluations"][1]["decision"], true, "{b}");
    // The last item has no resource at all.
    assert_eq!(b["evaluations"][2]["decision"], false, "{b}");
    assert_eq!(
        b["evaluations"][2]["context"]["reason"], "invalid_request",
        "{b}"
    );
}

/// The time `n` minutes ago, RFC 3339.
fn minutes_ago(n: i64) -> String {
    (time::OffsetDateTime::now_utc() - time::Duration::minutes(n))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

fn redact_message(e: &Value, id: &str) -> Value {
    let m = e["error"]["message"]
        .as_str()
        .unwrap()
        .replace(id, "[task id]");
    json!({"error": {"status": e["error"]["status"], "message": m}})
}

fn bob_and_chen_approve(server: &Server, id: &str) {
    for token in ["bob-token", "chen-token"] {
        let (st, t) = approve(server, token, id);
        assert_eq!(st, 200, "{token}: {t}");
    }
}

#[test]
fn without_a_store_the_task_api_says_how_to_get_one() {
    let setup = Setup::new("tasks-none");
    let policy = examples_dir().join("breakglass").join("policy.jitp");
    let server = Server::start(&["--policy", s(&policy), "--tokens", s(&setup.tokens)]);
    let (st, e) = get(&server, "anon-token", "/v1/tasks");
    assert_eq!(st, 404);
    insta::assert_json_snapshot!("no_store", e);
    // And a request still asserts its task facts itself.
    let mut asserted: Value = serde_json::from_str(&query("bg-1")).unwrap();
    asserted["subject"]["properties"] = json!({"team": "sre", "oncall": true, "groups": []});
    asserted["resource"]["properties"] =
        json!({"env": "prod", "cluster": "orders-eu", "contains_pii": false});
    asserted["task"] = json!({"name": "incident_response", "id": "bg-1",
        "started_at": minutes_ago(5), "approvals": [{"by": "bob"}, {"by": "chen"}]});
    let (st, d) = post(&server, "anon-token", "/v1/decide", &asserted.to_string());
    assert_eq!((st, &d["decision"]), (200, &json!("allow")), "{d}");
    // A bad tokens line is refused with its location.
    let bad = setup.dir.write("bad-tokens", "ok-token\nhalf Engineer\n");
    let o = jitp()
        .args([
            "serve",
            "--policy",
            s(&policy),
            "--tokens",
            s(&bad),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("bad-tokens`:2: expected `TOKEN` or `TOKEN TYPE ID`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_killed_server_loses_no_acknowledged_transition() {
    let setup = Setup::new("tasks-kill");
    let store = setup.sqlite();
    let mut server = setup.server(&store, &[]);
    let acked: Arc<Mutex<Vec<(String, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let url = server.base.clone();
    let worker = {
        let acked = acked.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            let call = |token: &str, path: &str, body: String| -> Option<Value> {
                let mut r = agent
                    .post(format!("{url}{path}"))
                    .header("content-type", "application/json")
                    .header("authorization", format!("Bearer {token}"))
                    .send(body)
                    .ok()?;
                if !r.status().is_success() {
                    return None;
                }
                serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()
            };
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"name": "incident_response",
                    "principal": {"type": "Operator", "id": "sre-ana"}, "justification": "load"});
                let Some(t) = call("op-token", "/v1/tasks", body.to_string()) else {
                    break;
                };
                let id = t["id"].as_str().unwrap().to_string();
                acked.lock().unwrap().push((id.clone(), 1));
                for token in ["bob-token", "chen-token"] {
                    let Some(t) = call(token, &format!("/v1/tasks/{id}/approve"), approval())
                    else {
                        return;
                    };
                    acked
                        .lock()
                        .unwrap()
                        .push((id.clone(), t["version"].as_u64().unwrap()));
                }
            }
        })
    };
    server.wait_for("30 acknowledged transitions", || {
        acked.lock().unwrap().len() >= 30
    });
    server.signal("KILL");
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    drop(server);

    let server = setup.server(&store, &[]);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 30);
    for (id, version) in &acked {
        let (st, t) = get(&server, "anon-token", &format!("/v1/tasks/{id}"));
        assert_eq!(st, 200, "task {id} was acknowledged but is lost");
        assert!(
            t["version"].as_u64().unwrap() >= *version,
            "task {id}: version {version} was acknowledged, the store holds {}",
            t["version"]
        );
    }
}

#[test]
fn racing_approvals_and_ends_leave_one_consistent_state() {
    let setup = Setup::new("tasks-race");
    let server = Arc::new(setup.server(&setup.sqlite(), &[]));
    for round in 0..3 {
        let id = request(&server);
        let tokens = [
            "bob-token",
            "chen-token",
            "erin-token",
            "fay-token",
            "gus-token",
            "hal-token",
        ];
        let mut threads = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            let server = server.clone();
            let id = id.clone();
            let token = token.to_string();
            threads.push(std::thread::spawn(move || {
                // Every third caller ends; the others approve.
                let ending = (i + round) % 3 == 0;
                let (st, _) = if ending {
                    end(&server, &token, &id)
                } else {
                    approve(&server, &token, &id)
                };
                (token, ending, st)
            }));
        }
        let outcomes: Vec<(String, bool, u16)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        let (_, t) = get(&server, "anon-token", &format!("/v1/tasks/{id}"));
        let approvers: Vec<String> = t["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["by"]["id"].as_str().unwrap().to_string())
            .collect();
        let ends: Vec<&(String, bool, u16)> =
            outcomes.iter().filter(|o| o.1 && o.2 == 200).collect();
        for (token, ending, st) in &outcomes {
            assert!(
                *st == 200 || *st == 409,
                "{token} (ending: {ending}) got {st}"
            );
            let who = token.trim_end_matches("-token");
            if !ending {
                assert_eq!(
                    *st == 200,
                    approvers.contains(&who.to_string()),
                    "an acknowledged approval is recorded, and only those"
                );
            }
        }
        // At most one end succeeds, and the history agrees with the state.
        assert!(ends.len() <= 1, "{outcomes:?}");
        let kinds: Vec<&str> = t["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        let finals = kinds
            .iter()
            .filter(|k| ["ended", "rejected"].contains(k))
            .count();
        assert_eq!(finals, ends.len(), "{kinds:?}");
        if finals == 1 {
            assert!(["ended", "rejected"].contains(kinds.last().unwrap()));
            assert_eq!(t["state"], *kinds.last().unwrap());
        }
        let started = kinds.iter().filter(|k| **k == "started").count();
        assert_eq!(started, usize::from(approvers.len() >= 2));
        assert!(approvers.len() <= 2, "no approval after the task started");
        assert_eq!(
            t["version"].as_u64().unwrap() as usize,
            1 + approvers.len() + finals
        );
    }
}

#[test]
fn two_replicas_on_postgres_share_tasks() {
    let Ok(base) = std::env::var("JITP_TEST_POSTGRES") else {
        eprintln!("note: JITP_TEST_POSTGRES is unset; skipping the PostgreSQL replicas test");
        return;
    };
    let schema = format!("jitp_it_tasks_{}", std::process::id());
    let sep = if base.contains('?') { '&' } else { '?' };
    let store = format!("{base}{sep}jitp_schema={schema}");
    let setup = Setup::new("tasks-pg");
    let a = setup.server(&store, &[]);
    let b = setup.server(&store, &[]);
    let id = request(&a);
    let (st, _) = approve(&a, "bob-token", &id);
    assert_eq!(st, 200);
    // An approval on one replica, the duplicate refused on the other.
    let (st, _) = approve(&b, "bob-token", &id);
    assert_eq!(st, 409);
    let (st, _) = approve(&b, "chen-token", &id);
    assert_eq!(st, 200);
    let (_, d) = post(&a, "anon-token", "/v1/decide", &query(&id));
    assert_eq!(d["decision"], "allow", "{d}");
    // Ended on one, denied on the other at once.
    let (st, _) = end(&a, "erin-token", &id);
    assert_eq!(st, 200);
    let (_, d) = post(&b, "anon-token", "/v1/decide", &query(&id));
    assert_eq!(d["reason"], "task_ended", "{d}");
    drop((a, b));
    let _ = std::process::Command::new("psql")
        .args([
            &base,
            "-q",
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
}

#[test]
fn the_task_command_talks_to_the_server() {
    let setup = Setup::new("tasks-cli");
    let server = setup.server(&setup.sqlite(), &[]);
    let op = setup.dir.write("op.token", "op-token\n");
    let bob = setup.dir.write("bob.token", "bob-token\n");
    let task = |token: &Path, args: &[&str]| {
        jitp()
            .args(["task", "--server", &server.base, "--token-file", s(token)])
            .args(args)
            .output()
            .unwrap()
    };
    let o = task(
        &op,
        &[
            "request",
            "incident_response",
            "--principal",
            "Operator:sre-ana",
            "--justification",
            "INC-881",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let t: Value = serde_json::from_slice(&o.stdout).unwrap();
    let id = t["id"].as_str().unwrap();
    let ctx = incident().to_string();
    let o = task(&op, &["approve", id, "--context", &ctx]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        "error: the server refused (403): the principal cannot approve its own task\n"
    );
    let o = task(&bob, &["approve", id, "--context", &ctx]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = jitp()
        .args(["task", "--server", &server.base, "show", id])
        .env("JITP_TOKEN", "chen-token")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let t: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(t["approvals"][0]["by"]["id"], "bob");
    let o = task(&op, &["list"]);
    assert_eq!(code(&o), 0);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "no active tasks\n");
    let o = task(&op, &["end", id]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = task(&op, &["end", id]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        "error: the server refused (409): the task is already `rejected`\n"
    );
    let o = jitp()
        .args(["task", "--server", "http://127.0.0.1:1", "show", id])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
}

/// Runs an example's end-to-end script with the built binary on `PATH`.
fn run_script(example: &str) {
    let script = examples_dir().join(example).join("run.sh");
    let bin = Path::new(env!("CARGO_BIN_EXE_jitp")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = std::process::Command::new("bash")
        .arg(&script)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{} failed:\n{}\n{}",
        script.display(),
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("task_ended"), "{out}");
}

#[test]
fn the_breakglass_script_runs() {
    run_script("breakglass");
}

#[test]
fn the_rotate_secrets_script_runs() {
    run_script("rotate_secrets");
}

#[test]
fn a_transition_whose_record_cannot_be_written_is_committed_and_says_so() {
    let setup = Setup::new("tasks-nolog");
    let (key, public) = keygen(&setup.dir);
    let log = setup.dir.path().join("decisions");
    // Every record gets a file of its own, so each needs a new file.
    let server = setup.server(
        &setup.sqlite(),
        &[
            "--log",
            s(&log),
            "--log-key",
            s(&key),
            "--log-max-bytes",
            "1",
        ],
    );
    let id = request(&server);
    // The log directory is replaced by a file: nothing can be created in it.
    std::fs::remove_dir_all(&log).unwrap();
    std::fs::write(&log, "not a directory").unwrap();
    let (st, e) = approve(&server, "bob-token", &id);
    assert_eq!(st, 503, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "the transition was committed to the task store, but its decision-log record could not be written"
        ),
        "{message}"
    );
    // It was committed: the store holds the approval, and a repeat is a
    // duplicate.
    let (_, t) = get(&server, "anon-token", &format!("/v1/tasks/{id}"));
    assert_eq!(t["approvals"][0]["by"]["id"], "bob", "{t}");
    let (st, _) = approve(&server, "bob-token", &id);
    assert_eq!(st, 409);
    let (st, _) = get(&server, "anon-token", "/readyz");
    assert_eq!(st, 503);
    // Once the directory is back, transitions are logged again, after a
    // `lost` record, and the chain verifies.
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    let (st, t) = approve(&server, "chen-token", &id);
    assert_eq!((st, t["state"].as_str()), (200, Some("active")), "{t}");
    drop(server);
    let o = run(&["log", "verify", s(&log), "--key", s(&public), "--partial"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text: String = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(text.contains(r#""kind":"lost""#), "{text}");
    assert!(text.contains(r#""kind":"transition""#), "{text}");
}
