//! The endpoints: AuthZEN 1.0 (`/access/v1/...`, discovery), jitp's own
//! (`/v1/decide`, `/v1/bundle`) and operations (`/healthz`, `/readyz`,
//! `/metrics`). Pure functions of the state and the request; the HTTP
//! plumbing is in `http.rs`.

use crate::{strict, tasks, Decided, Loaded, Member, State};
use hyper::header::{HeaderName, ALLOW, WWW_AUTHENTICATE};
use jitp_runtime::{Effect, Json, JsonObject};
use serde_json::{json, Map, Value};

/// An answer: status, content type, body and extra headers.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(HeaderName, String)>,
}

/// `jitp-bundle-revision`: the revision of the bundle that answered.
const REVISION: HeaderName = HeaderName::from_static("jitp-bundle-revision");
/// `jitp-decision-id` on `/v1/decide`.
const DECISION_ID: HeaderName = HeaderName::from_static("jitp-decision-id");

impl Answer {
    fn json(status: u16, v: &Value) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(v).unwrap_or_default(),
            headers: Vec::new(),
        }
    }
}

/// An AuthZEN-shaped error body: `{"error": {"status", "message"}}`.
pub fn error(status: u16, message: impl Into<String>) -> Answer {
    Answer::json(
        status,
        &json!({"error": {"status": status, "message": message.into()}}),
    )
}

/// What the request looks like, after the HTTP layer read it.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub authorization: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// Whether a path's requests carry a body to read.
pub fn wants_body(path: &str) -> bool {
    matches!(
        path,
        "/access/v1/evaluation" | "/access/v1/evaluations" | "/v1/decide" | "/v1/tasks"
    ) || path.starts_with("/v1/tasks/")
}

/// Whether answering a path may call the task store (which blocks): the
/// HTTP layer then answers it on the blocking pool.
pub fn touches_store(path: &str) -> bool {
    wants_body(path)
}

/// Whether a path answers without a token (the probes).
pub fn public(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz")
}

/// Routes and answers one request.
pub fn handle(state: &State, req: &Incoming<'_>, base_url: &str) -> Answer {
    let caller = if public(req.path) {
        None
    } else {
        match state.caller(req.authorization) {
            Some(who) => who,
            None => {
                let mut a = error(401, "a valid bearer token is required");
                a.headers.push((WWW_AUTHENTICATE, "Bearer".into()));
                return a;
            }
        }
    };
    let post = |f: &dyn Fn(Json<'_>) -> Answer| -> Answer {
        if req.method != "POST" {
            return method_not_allowed("POST");
        }
        if !is_json(req.content_type) {
            return error(
                415,
                "the request body must be JSON (`content-type: application/json`)",
            );
        }
        match strict::parse_request(req.body) {
            Ok(v) => f(v),
            Err(e) => error(400, e),
        }
    };
    let get = |f: &dyn Fn() -> Answer| -> Answer {
        if req.method != "GET" && req.method != "HEAD" {
            return method_not_allowed("GET");
        }
        f()
    };
    if req.path == "/v1/tasks" || req.path.starts_with("/v1/tasks/") {
        return task_endpoint(state, req, caller.as_ref());
    }
    match req.path {
        "/access/v1/evaluation" => post(&|v| evaluation(state, v)),
        "/access/v1/evaluations" => post(&|v| evaluations(state, v)),
        "/v1/decide" => post(&|v| decide(state, v, explain_requested(req.query))),
        "/v1/bundle" => get(&|| bundle(state)),
        "/.well-known/authzen-configuration" => get(&|| discovery(base_url)),
        "/healthz" => get(&|| Answer::json(200, &json!({"status": "ok"}))),
        "/readyz" => get(&|| {
            let l = state.current();
            match state.sink().health() {
                Ok(()) => Answer::json(200, &json!({"status": "ready", "revision": l.revision})),
                Err(e) => Answer::json(
                    503,
                    &json!({"status": "not_ready", "revision": l.revision, "reason": e}),
                ),
            }
        }),
        "/v1/log/head" => get(&|| match state.sink().head() {
            Some(h) => Answer::json(200, &h),
            None => error(404, "no decision log is configured (start with `--log`)"),
        }),
        "/metrics" => get(&|| {
            let l = state.current();
            Answer {
                status: 200,
                content_type: "text/plain; version=0.0.4",
                body: (state.metrics.render(l.bundle.name(), &l.revision)
                    + &state.sink().metrics())
                    .into_bytes(),
                headers: Vec::new(),
            }
        }),
        _ => error(404, format!("no endpoint at `{}`", req.path)),
    }
}

/// `/v1/tasks`, `/v1/tasks/{id}`, `/v1/tasks/{id}/approve`,
/// `/v1/tasks/{id}/end`.
fn task_endpoint(
    state: &State,
    req: &Incoming<'_>,
    caller: Option<&jitp_store::Principal>,
) -> Answer {
    let rest = req.path.strip_prefix("/v1/tasks").unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    let is_get = req.method == "GET" || req.method == "HEAD";
    let is_post = req.method == "POST";
    // A POST body: JSON, or nothing at all where the body is optional.
    let body = |optional: bool| -> Result<Value, Answer> {
        if optional && req.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Map::new()));
        }
        if !is_json(req.content_type) {
            return Err(error(
                415,
                "the request body must be JSON (`content-type: application/json`)",
            ));
        }
        strict::parse(req.body)
            .map_err(|e| error(400, format!("the request body is not valid JSON: {e}")))
    };
    if state.store().is_none() && matches!(parts.as_slice(), [] | [_] | [_, "approve" | "end"]) {
        return tasks::no_store();
    }
    match parts.as_slice() {
        [] if is_post => match body(false) {
            Ok(v) => tasks::request(state, caller, &v),
            Err(a) => a,
        },
        [] if is_get => tasks::list(state, req.query),
        [] => method_not_allowed("GET, POST"),
        [id] if is_get && !id.is_empty() => tasks::show(state, id),
        [id] if !id.is_empty() => method_not_allowed("GET"),
        [id, "approve"] if is_post => match body(true) {
            Ok(v) => tasks::approve(state, caller, id, &v),
            Err(a) => a,
        },
        [id, "end"] if is_post => match body(true) {
            Ok(v) => tasks::end(state, caller, id, &v),
            Err(a) => a,
        },
        [_, "approve" | "end"] => method_not_allowed("POST"),
        _ => error(404, format!("no endpoint at `{}`", req.path)),
    }
}

fn method_not_allowed(allowed: &'static str) -> Answer {
    let mut a = error(405, format!("this endpoint accepts only {allowed}"));
    a.headers.push((ALLOW, allowed.into()));
    a
}

fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn explain_requested(query: &str) -> bool {
    query
        .split('&')
        .any(|kv| kv == "explain=true" || kv == "explain=1" || kv == "explain")
}

/// Writes the AuthZEN response for one decision: `{"decision", "context"}`
/// with jitp's detail in `context` (docs/server.md). Written directly
/// rather than through a derived `Serialize`: keys are fixed text and most
/// values need no escaping, and this runs once per decision.
fn write_authzen(out: &mut Vec<u8>, d: &Decided) {
    let r = &d.record;
    out.extend_from_slice(if r.decision == Effect::Allow {
        br#"{"decision":true,"context":{"decision_id":"#
    } else {
        br#"{"decision":false,"context":{"decision_id":"#
    });
    json_str(out, &d.id);
    out.extend_from_slice(br#","reason":"#);
    json_str(out, r.reason.as_str());
    out.extend_from_slice(br#","effect":"#);
    json_str(out, r.decision.as_str());
    out.extend_from_slice(br#","rule":"#);
    json_opt(out, r.rule.as_deref());
    out.extend_from_slice(br#","task":"#);
    json_opt(out, r.task.as_deref());
    out.extend_from_slice(br#","expires_at":"#);
    json_opt(out, r.expires_at.as_deref());
    out.extend_from_slice(br#","needs":["#);
    for (i, n) in r.needs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str(out, n);
    }
    out.extend_from_slice(br#"],"obligations":"#);
    json_value(out, &r.obligations);
    if let Some(e) = &r.error {
        out.extend_from_slice(br#","error":"#);
        json_str(out, e);
    }
    if let Some(w) = &d.workload {
        out.extend_from_slice(br#","workload_identity":"#);
        json_value(out, w);
    }
    out.extend_from_slice(b"}}");
}

/// A JSON string: copied when nothing in it needs escaping, else
/// escaped by `serde_json`.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        json_value(out, s);
    }
}

fn json_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn json_value(out: &mut Vec<u8>, v: &(impl serde::Serialize + ?Sized)) {
    // Writing to a `Vec` fails only for a value that cannot be JSON
    // (none of these): then `null`.
    let at = out.len();
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.truncate(at);
        out.extend_from_slice(b"null");
    }
}

/// The 200 answer of AuthZEN decisions: `body` and the bundle's revision.
fn authzen(body: Vec<u8>, loaded: &Loaded) -> Answer {
    Answer {
        status: 200,
        content_type: "application/json",
        body,
        headers: vec![(REVISION, loaded.revision.clone())],
    }
}

fn evaluation(state: &State, body: Json<'_>) -> Answer {
    let loaded = state.current();
    let now = crate::now_rfc3339();
    match state.decide_one(&loaded, body, &now, false) {
        Ok(d) => {
            let mut body = Vec::with_capacity(256);
            write_authzen(&mut body, &d);
            authzen(body, &loaded)
        }
        Err(e) => error(e.status, e.message),
    }
}

/// Most JSON values a batch's shared members may hold, times its items.
pub const MAX_SHARED_VALUES: usize = 1_000_000;

/// How many JSON values `v` holds, itself included. Recursive: the body's
/// depth is bounded by its parser.
fn values_in(v: &Json<'_>) -> usize {
    1 + match v {
        Json::Arr(items) => items.iter().map(values_in).sum(),
        Json::Obj(o) => o.iter().map(|(_, v)| values_in(v)).sum(),
        _ => 0,
    }
}

#[derive(Copy, Clone, PartialEq)]
enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

fn evaluations(state: &State, body: Json<'_>) -> Answer {
    let Json::Obj(mut top) = body else {
        return error(400, "the request must be a JSON object");
    };
    let semantic = match top.remove("options") {
        None | Some(Json::Null) => Semantic::ExecuteAll,
        Some(Json::Obj(o)) => match o.get("evaluations_semantic") {
            None | Some(Json::Null) => Semantic::ExecuteAll,
            Some(Json::Str(s)) => match s.as_ref() {
                "execute_all" => Semantic::ExecuteAll,
                "deny_on_first_deny" => Semantic::DenyOnFirstDeny,
                "permit_on_first_permit" => Semantic::PermitOnFirstPermit,
                other => {
                    return error(
                        400,
                        format!("unknown `options.evaluations_semantic` `{other}`; expected `execute_all`, `deny_on_first_deny` or `permit_on_first_permit`"),
                    )
                }
            },
            Some(_) => return error(400, "`options.evaluations_semantic` must be a string"),
        },
        Some(_) => return error(400, "`options` must be an object"),
    };
    let items = match top.remove("evaluations") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Arr(items)) => items,
        Some(_) => return error(400, "`evaluations` must be an array"),
    };
    if items.len() > state.config.max_batch {
        return error(
            413,
            format!(
                "the batch holds {} evaluations; at most {} are accepted",
                items.len(),
                state.config.max_batch
            ),
        );
    }
    // Every item binds the shared members it takes again, so a small body
    // could ask for much work: a 600 KB set shared by a thousand items.
    let shared: usize = top.iter().map(|(_, v)| values_in(v)).sum();
    if shared.saturating_mul(items.len().max(1)) > MAX_SHARED_VALUES {
        return error(
            413,
            format!(
                "the batch's shared members hold {shared} JSON values, bound again for each of its {} evaluations; at most {MAX_SHARED_VALUES} in all are accepted\nhelp: send fewer evaluations in one batch, or move what only some of them need into those items",
                items.len()
            ),
        );
    }
    let loaded = state.current();
    // No items: the top level is the one evaluation.
    let items = if items.is_empty() {
        vec![Json::Obj(JsonObject::new())]
    } else {
        items
    };
    // One clock reading for the whole batch.
    let now = crate::now_rfc3339();
    // One store read per distinct task id.
    let mut held = tasks::Held::default();
    let mut prepared = [false; 3];
    let mut answers = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Json::Obj(item) = item else {
            return error(400, format!("`evaluations[{i}]` must be an object"));
        };
        // The defaults' members the item does not replace are prepared
        // (namespace, entity data) once for the whole batch.
        for (member, done) in [Member::Action, Member::Subject, Member::Resource]
            .into_iter()
            .zip(prepared.iter_mut())
        {
            if !item.contains_key(member.key()) && !*done {
                if let Err(e) = state.prepare(&loaded, &mut top, member) {
                    return error(e.status, format!("`evaluations[{i}]`: {}", e.message));
                }
                *done = true;
            }
        }
        let how = crate::How {
            explain: false,
            namespace: true,
            held: Some(&mut held),
        };
        // An item's member replaces the default whole.
        let d = match state.decide_with(&loaded, Json::Obj(item), Some(&top), &now, how) {
            Ok(d) => d,
            Err(e) => return error(e.status, format!("`evaluations[{i}]`: {}", e.message)),
        };
        let allow = d.record.decision == Effect::Allow;
        answers.push(d);
        let stop = match semantic {
            Semantic::ExecuteAll => false,
            Semantic::DenyOnFirstDeny => !allow,
            Semantic::PermitOnFirstPermit => allow,
        };
        if stop {
            break;
        }
    }
    let mut body = Vec::with_capacity(64 + 256 * answers.len());
    body.extend_from_slice(br#"{"evaluations":["#);
    for (i, d) in answers.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        write_authzen(&mut body, d);
    }
    body.extend_from_slice(b"]}");
    authzen(body, &loaded)
}

fn decide(state: &State, body: Json<'_>, explain: bool) -> Answer {
    let loaded = state.current();
    let now = crate::now_rfc3339();
    match state.decide_one(&loaded, body, &now, explain) {
        Ok(d) => {
            let mut doc = d.record.to_json();
            if let Value::Object(o) = &mut doc {
                if let Some(w) = d.workload {
                    o.insert("workload_identity".into(), w);
                }
                if let Some(rules) = d.explanation {
                    o.insert("explanation".into(), rules);
                }
            }
            let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
            text.push('\n');
            let mut a = Answer {
                status: 200,
                content_type: "application/json",
                body: text.into_bytes(),
                headers: vec![(DECISION_ID, d.id)],
            };
            a.headers.push((REVISION, loaded.revision.clone()));
            a
        }
        Err(e) => error(e.status, e.message),
    }
}

fn bundle(state: &State) -> Answer {
    let l = state.current();
    Answer::json(
        200,
        &json!({
            "package": l.bundle.name(),
            "revision": l.revision,
            "key_id": l.key_id,
            "loaded_at": l.loaded_at,
            "rules": l.bundle.rule_count(),
            "entities": l.entities.len(),
        }),
    )
}

fn discovery(base: &str) -> Answer {
    Answer::json(
        200,
        &json!({
            "policy_decision_point": base,
            "access_evaluation_endpoint": format!("{base}/access/v1/evaluation"),
            "access_evaluations_endpoint": format!("{base}/access/v1/evaluations"),
        }),
    )
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::write_authzen;
    use crate::Decided;
    use jitp_runtime::{DecisionRecord, Effect, Obligation, Reason};
    use serde_json::{json, Value};

    /// The answer as a derived `Serialize` would write it: the reference
    /// the direct writer must agree with.
    fn reference(d: &Decided) -> Value {
        let r = &d.record;
        let mut context = json!({
            "decision_id": d.id,
            "reason": r.reason.as_str(),
            "effect": r.decision,
            "rule": r.rule,
            "task": r.task,
            "expires_at": r.expires_at,
            "needs": r.needs,
            "obligations": r.obligations,
        });
        if let Some(e) = &r.error {
            context["error"] = json!(e);
        }
        if let Some(w) = &d.workload {
            context["workload_identity"] = w.clone();
        }
        json!({"decision": r.decision == Effect::Allow, "context": context})
    }

    fn decided(record: DecisionRecord, workload: Option<Value>) -> Decided {
        Decided {
            id: "18ed391a63da8696-0000002a".into(),
            record,
            explanation: None,
            workload,
        }
    }

    #[test]
    fn the_direct_writer_agrees_with_serde() {
        let allow = DecisionRecord {
            decision: Effect::Allow,
            reason: Reason::Granted,
            rule: Some("update-own-todo".into()),
            task: Some("rotate_secrets".into()),
            expires_at: Some("2026-12-01T10:00:00Z".into()),
            needs: Vec::new(),
            obligations: vec![Obligation {
                kind: "audit".into(),
                target: "breakglass \"now\"".into(),
            }],
            error: None,
        };
        let step_up = DecisionRecord {
            decision: Effect::StepUp,
            reason: Reason::RequirementsMissing,
            needs: vec!["mfa".into(), "ticket \\ \u{1}".into(), "é".into()],
            ..DecisionRecord::deny(Reason::RequirementsMissing, None)
        };
        let invalid = DecisionRecord::invalid("`context.risk`: must be\nan \"integer\"\t");
        let workload = Some(json!({"verified": false, "code": "expired", "error": "x\u{7f}"}));
        for d in [
            decided(allow, None),
            decided(step_up, None),
            decided(invalid.clone(), None),
            decided(invalid, workload),
        ] {
            let mut out = Vec::new();
            write_authzen(&mut out, &d);
            let written: Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(written, reference(&d), "{}", String::from_utf8_lossy(&out));
        }
    }
}
