//! The endpoints: AuthZEN 1.0 (`/access/v1/...`, discovery), jitp's own
//! (`/v1/decide`, `/v1/bundle`) and operations (`/healthz`, `/readyz`,
//! `/metrics`). Pure functions of the state and the request; the HTTP
//! plumbing is in `http.rs`.

use crate::{strict, tasks, Decided, Loaded, Member, State};
use jitp_runtime::{DecisionRecord, Effect};
use serde_json::{json, Map, Value};

/// An answer: status, content type, body and extra headers.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

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
                a.headers.push(("www-authenticate", "Bearer".into()));
                return a;
            }
        }
    };
    let post = |f: &dyn Fn(Value) -> Answer| -> Answer {
        if req.method != "POST" {
            return method_not_allowed("POST");
        }
        if !is_json(req.content_type) {
            return error(
                415,
                "the request body must be JSON (`content-type: application/json`)",
            );
        }
        match strict::parse(req.body) {
            Ok(v) => f(v),
            Err(e) => error(400, format!("the request body is not valid JSON: {e}")),
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
    a.headers.push(("allow", allowed.into()));
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

/// The AuthZEN response for one decision.
#[derive(serde::Serialize)]
struct AzAnswer<'a> {
    decision: bool,
    context: AzContext<'a>,
}

/// jitp's detail in an AuthZEN response's `context`.
#[derive(serde::Serialize)]
struct AzContext<'a> {
    decision_id: &'a str,
    reason: &'static str,
    effect: Effect,
    rule: Option<&'a str>,
    task: Option<&'a str>,
    expires_at: Option<&'a str>,
    needs: &'a [String],
    obligations: &'a [jitp_runtime::Obligation],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workload_identity: Option<&'a Value>,
}

fn authzen_answer(d: &Decided) -> AzAnswer<'_> {
    let r: &DecisionRecord = &d.record;
    AzAnswer {
        decision: r.decision == Effect::Allow,
        context: AzContext {
            decision_id: &d.id,
            reason: r.reason.as_str(),
            effect: r.decision,
            rule: r.rule.as_deref(),
            task: r.task.as_deref(),
            expires_at: r.expires_at.as_deref(),
            needs: &r.needs,
            obligations: &r.obligations,
            error: r.error.as_deref(),
            workload_identity: d.workload.as_ref(),
        },
    }
}

fn serialized(status: u16, v: &impl serde::Serialize) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: serde_json::to_vec(v).unwrap_or_default(),
        headers: Vec::new(),
    }
}

fn evaluation(state: &State, body: Value) -> Answer {
    let loaded = state.current();
    match state.decide_one(&loaded, body, &crate::now_rfc3339(), false) {
        Ok(d) => with_revision(serialized(200, &authzen_answer(&d)), &loaded),
        Err(e) => error(e.status, e.message),
    }
}

#[derive(Copy, Clone, PartialEq)]
enum Semantic {
    ExecuteAll,
    DenyOnFirstDeny,
    PermitOnFirstPermit,
}

fn evaluations(state: &State, body: Value) -> Answer {
    let Value::Object(mut top) = body else {
        return error(400, "the request must be a JSON object");
    };
    let semantic = match top.remove("options") {
        None | Some(Value::Null) => Semantic::ExecuteAll,
        Some(Value::Object(o)) => match o.get("evaluations_semantic") {
            None | Some(Value::Null) => Semantic::ExecuteAll,
            Some(Value::String(s)) => match s.as_str() {
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
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
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
    let loaded = state.current();
    // No items: the top level is the one evaluation.
    let items = if items.is_empty() {
        vec![Value::Object(Map::new())]
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
        let Value::Object(item) = item else {
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
            namespace: item.contains_key("action"),
            merged: [
                !item.contains_key("subject"),
                !item.contains_key("resource"),
            ],
            held: Some(&mut held),
        };
        // Defaults first; an item's member replaces the default whole.
        let mut req = top.clone();
        for (k, v) in item {
            req.insert(k, v);
        }
        let d = match state.decide_with(&loaded, Value::Object(req), &now, how) {
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
    #[derive(serde::Serialize)]
    struct Batch<'a> {
        evaluations: Vec<AzAnswer<'a>>,
    }
    let batch = Batch {
        evaluations: answers.iter().map(authzen_answer).collect(),
    };
    with_revision(serialized(200, &batch), &loaded)
}

fn decide(state: &State, body: Value, explain: bool) -> Answer {
    let loaded = state.current();
    match state.decide_one(&loaded, body, &crate::now_rfc3339(), explain) {
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
                headers: vec![("jitp-decision-id", d.id)],
            };
            a.headers
                .push(("jitp-bundle-revision", loaded.revision.clone()));
            a
        }
        Err(e) => error(e.status, e.message),
    }
}

fn with_revision(mut a: Answer, loaded: &Loaded) -> Answer {
    a.headers
        .push(("jitp-bundle-revision", loaded.revision.clone()));
    a
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
