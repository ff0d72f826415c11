//! Tasks the server holds (`--tasks`): the task API (`/v1/tasks`), the
//! approval decision, and the facts a request naming a held task gets from
//! the store (docs/tasks.md is the reference).
//!
//! Every function here calls the store, which blocks: the HTTP layer runs
//! them on tokio's blocking pool, never on an async worker.

use crate::api::{error, Answer};
use crate::{Failure, How, State, TaskRecord};
use jitp_runtime::value::{approver_key, canonical_identity};
use jitp_runtime::{DecisionRecord, Effect, Json, JsonObject, Reason};
use jitp_store::{Principal, Refusal, Task, TaskState, TaskStore, UpdateError, MAX_TEXT};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// Longest task id looked up (ids are 32 hex digits).
const MAX_ID: usize = 128;
/// Most tasks `GET /v1/tasks` lists.
const MAX_LIST: usize = 1000;

/// The tasks one request (or batch) has read: one store read per distinct
/// id.
#[derive(Default)]
pub(crate) struct Held {
    seen: HashMap<String, Option<Task>>,
}

impl Held {
    fn get(&mut self, store: &dyn TaskStore, id: &str) -> Result<Option<Task>, Failure> {
        if let Some(t) = self.seen.get(id) {
            return Ok(t.clone());
        }
        let t = store.get(id).map_err(unavailable)?;
        self.seen.insert(id.to_string(), t.clone());
        Ok(t)
    }
}

fn unavailable(e: jitp_store::StoreError) -> Failure {
    tracing::error!(error = %e, "the task store failed");
    Failure {
        status: 503,
        message: format!("the task store cannot be read: {e}"),
    }
}

/// Microseconds since the epoch of an RFC 3339 time.
pub(crate) fn micros(t: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

fn is_set(v: Option<&Json<'_>>) -> bool {
    v.is_some_and(|v| !v.is_null())
}

/// The key a principal is compared by: the runtime's [`approver_key`] of
/// its canonical id (the runtime compares approvers to the principal by id
/// alone, so the store does too).
pub(crate) fn key_of(id: &str) -> String {
    approver_key(id)
}

/// Whether `who` is the task's principal: the same type and key.
fn is_principal(task: &Task, ty: &str, id: &str) -> bool {
    let id = canonical_identity(id).map_or_else(|_| id.to_string(), |c| c.into_owned());
    task.principal.ty == ty && key_of(&id) == task.principal_key
}

/// Finds the held task a request names (`task.id`, or `context.jitp_task_id`
/// for AuthZEN PEPs, removed from the context) and either fills in its
/// facts (returning the task) or answers the deny that stands in for the
/// decision. A request without a task id passes through, unless it
/// asserts a task itself: with a store, task facts come only from it.
/// `subject` is the request's subject (its own or its batch's), which must
/// be the task's principal.
pub(crate) fn resolve(
    store: &dyn TaskStore,
    held: &mut Held,
    obj: &mut JsonObject<'_>,
    subject: Option<&Json<'_>>,
    now: &str,
) -> Result<(Option<Task>, Option<DecisionRecord>), Failure> {
    let from_context = match obj.get_mut("context").and_then(Json::as_object_mut) {
        Some(c) => c.remove("jitp_task_id"),
        None => None,
    };
    let from_context = match from_context {
        None | Some(Json::Null) => None,
        Some(Json::Str(s)) => Some(s.into_owned()),
        Some(_) => return Err(Failure::bad("`context.jitp_task_id` must be a string")),
    };
    let asserted = obj.get("task").filter(|t| !t.is_null());
    let from_task = match asserted.map(|t| t.get("id")) {
        None | Some(None) | Some(Some(Json::Null)) => None,
        Some(Some(Json::Str(s))) => Some(s.to_string()),
        Some(Some(_)) => return Err(Failure::bad("`task.id` must be a string")),
    };
    let id = match (from_task, from_context) {
        (Some(a), Some(b)) if a != b => {
            return Err(Failure::bad(format!(
                "`task.id` `{a}` and `context.jitp_task_id` `{b}` name different tasks"
            )))
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) if asserted.is_some() => {
            return Err(Failure::bad(
                "this server holds tasks: name one with `task.id` (or `context.jitp_task_id`); a request cannot assert a task's facts\nhelp: request the task with `POST /v1/tasks` and send its id",
            ))
        }
        (None, None) => return Ok((None, None)),
    };
    let mut params = None;
    let mut named = None;
    if let Some(t) = asserted {
        let Some(t) = t.as_object() else {
            return Err(Failure::bad("`task` must be an object"));
        };
        for k in ["started_at", "approvals"] {
            if is_set(t.get(k)) {
                return Err(Failure::bad(format!(
                    "the request names held task `{id}` and also asserts `task.{k}`; the server's task store holds it\nhelp: send only `task.id` (and `task.params`)"
                )));
            }
        }
        if let Some((k, _)) = t
            .iter()
            .find(|(k, _)| !["id", "name", "params"].contains(&k.as_ref()))
        {
            return Err(Failure::bad(format!(
                "unknown field `task.{k}`; a request naming a held task sends `id`, `name` and `params`"
            )));
        }
        params = t.get("params").cloned();
        named = t.get("name").cloned();
    }
    let task = if id.len() > MAX_ID {
        None
    } else {
        held.get(store, &id)?
    };
    let Some(task) = task else {
        return Ok((
            None,
            Some(DecisionRecord {
                error: Some(format!("the server holds no task `{id}`")),
                ..DecisionRecord::invalid("")
            }),
        ));
    };
    match named {
        None | Some(Json::Null) => {}
        Some(Json::Str(n)) if n == task.name => {}
        Some(_) => {
            return Err(Failure::bad(format!(
                "`task.name` is not the name of held task `{id}` (`{}`)",
                task.name
            )))
        }
    }
    let now_us = micros(now)
        .ok_or_else(|| Failure::bad(format!("`now` `{now}` is not an RFC 3339 time")))?;
    let name = Some(task.name.clone());
    let ty = subject.and_then(|s| s.get("type")).and_then(Json::as_str);
    let sid = subject.and_then(|s| s.get("id")).and_then(Json::as_str);
    if let (Some(ty), Some(sid)) = (ty, sid) {
        if !is_principal(&task, ty, sid) {
            return Ok((
                None,
                Some(DecisionRecord {
                    error: Some(format!("the subject is not the principal of task `{id}`")),
                    ..DecisionRecord::deny(Reason::NoMatchingRule, name)
                }),
            ));
        }
    }
    match task.state_at(now_us) {
        TaskState::Requested => {
            return Ok((None, Some(DecisionRecord::deny(Reason::NotYetActive, name))))
        }
        TaskState::Ended | TaskState::Rejected => {
            return Ok((None, Some(DecisionRecord::deny(Reason::TaskEnded, name))))
        }
        TaskState::Active => {}
    }
    let text = |s: String| Json::Str(Cow::Owned(s));
    let mut facts = JsonObject::with_capacity(5);
    facts.insert("name", text(task.name.clone()));
    facts.insert("id", text(task.id.clone()));
    facts.insert(
        "started_at",
        text(jitp_store::rfc3339(task.started_at.unwrap_or(now_us))),
    );
    let approvals = task
        .approvals
        .iter()
        .map(|a| {
            let mut o = JsonObject::with_capacity(2);
            o.insert("by", text(a.by.id.clone()));
            o.insert("at", text(jitp_store::rfc3339(a.at)));
            Json::Obj(o)
        })
        .collect();
    facts.insert("approvals", Json::Arr(approvals));
    if let Some(p) = params {
        facts.insert("params", p);
    }
    obj.insert("task", Json::Obj(facts));
    Ok((Some(task), None))
}

/// Caps an allow's `expires_at` at the held task's expiry.
pub(crate) fn clamp_expiry(record: &mut DecisionRecord, task: &Task) {
    let Some(end) = task.expires_at() else {
        return;
    };
    if record.decision != Effect::Allow {
        return;
    }
    let later = match record.expires_at.as_deref().map(micros) {
        Some(Some(e)) => e > end,
        _ => true,
    };
    if later {
        record.expires_at = Some(jitp_store::rfc3339(end));
    }
}

fn time_or_null(us: Option<i64>) -> Value {
    us.map_or(Value::Null, |u| jitp_store::rfc3339(u).into())
}

fn principal_json(p: &Principal) -> Value {
    json!({"type": p.ty, "id": p.id})
}

/// A task as the API shows it, with its state as of `now` (µs).
pub(crate) fn task_json(t: &Task, now: i64) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "principal": principal_json(&t.principal),
        "state": t.state_at(now).as_str(),
        "justification": t.justification,
        "ticket": t.ticket,
        "requested_by": t.requested_by.as_ref().map(principal_json),
        "needed": t.needed,
        "approvals": t.approvals.iter().map(|a| json!({
            "by": principal_json(&a.by),
            "at": jitp_store::rfc3339(a.at),
        })).collect::<Vec<_>>(),
        "started_at": time_or_null(t.started_at),
        "expires_at": time_or_null(t.expires_at()),
        "ended_at": time_or_null(t.ended_at),
        "events": t.events.iter().map(|e| json!({
            "kind": e.kind,
            "by": e.by.as_ref().map(principal_json),
            "at": jitp_store::rfc3339(e.at),
        })).collect::<Vec<_>>(),
        "version": t.version,
    })
}

fn answer(status: u16, v: &Value) -> Answer {
    let mut text = serde_json::to_string_pretty(v).unwrap_or_default();
    text.push('\n');
    Answer {
        status,
        content_type: "application/json",
        body: text.into_bytes(),
        headers: Vec::new(),
    }
}

fn failed(f: Failure) -> Answer {
    error(f.status, f.message)
}

/// The answer when the server holds no tasks.
pub(crate) fn no_store() -> Answer {
    error(
        404,
        "this server holds no tasks\nhelp: start it with `--tasks sqlite:PATH` (or `--tasks postgres://...`)",
    )
}

/// Writes a transition to the decision log and answers with the task.
fn committed(
    state: &State,
    status: u16,
    task: &Task,
    events_before: usize,
    by: Option<&Principal>,
    decision_id: Option<&str>,
) -> Answer {
    state
        .metrics
        .task_transitions
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = jitp_store::now_micros();
    let doc = task_json(task, now);
    let events: Value = task
        .events
        .iter()
        .skip(events_before)
        .map(|e| {
            json!({"kind": e.kind, "by": e.by.as_ref().map(principal_json), "at": jitp_store::rfc3339(e.at)})
        })
        .collect();
    let time = jitp_store::rfc3339(now);
    let by = by.map_or(Value::Null, principal_json);
    let record = TaskRecord {
        time: &time,
        task_id: &task.id,
        events: &events,
        by: &by,
        decision_id,
        task: &doc,
    };
    match state.sink().transition(&record) {
        Ok(()) => answer(status, &doc),
        Err(e) => {
            tracing::error!(error = %e, task = %task.id, "a task transition was committed but its record could not be written");
            error(
                503,
                format!(
                    "the transition was committed to the task store, but its decision-log record could not be written: {e}"
                ),
            )
        }
    }
}

/// Checks a body's top-level keys: only `allowed`, each at most once
/// (duplicates were refused when it was parsed).
fn fields<'a>(body: &'a Value, allowed: &[&str]) -> Result<&'a Map<String, Value>, String> {
    let Some(obj) = body.as_object() else {
        return Err("the request body must be a JSON object".into());
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        let expected: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        return Err(format!(
            "unknown field `{k}`; expected {}",
            expected.join(", ")
        ));
    }
    Ok(obj)
}

fn text(obj: &Map<String, Value>, key: &str, required: bool) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) if required => Err(format!("`{key}` is required")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if required && s.trim().is_empty() => {
            Err(format!("`{key}` must not be empty"))
        }
        Some(Value::String(s)) if s.len() > MAX_TEXT => Err(format!(
            "`{key}` is {} bytes long; at most {MAX_TEXT} are accepted",
            s.len()
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

/// `POST /v1/tasks`: requests a task.
pub(crate) fn request(state: &State, caller: Option<&Principal>, body: &Value) -> Answer {
    let Some(store) = state.store() else {
        return no_store();
    };
    let obj = match fields(body, &["name", "principal", "justification", "ticket"]) {
        Ok(o) => o,
        Err(e) => return error(400, e),
    };
    let loaded = state.current();
    let bundle = &loaded.bundle;
    let name = match obj.get("name") {
        Some(Value::String(n)) => n.clone(),
        None | Some(Value::Null) => {
            return error(400, "`name` is required: the task's name in the policy")
        }
        Some(_) => return error(400, "`name` must be a string"),
    };
    let Some(meta) = bundle.task(&name) else {
        let names: Vec<&str> = bundle.tasks().map(|t| t.name).collect();
        return error(
            400,
            format!(
                "unknown task `{name}` in `name`{}",
                jitp_runtime::suggestion(&name, names.iter().copied())
            ),
        );
    };
    let principal = match obj.get("principal") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => {
            return error(400, "`principal` is required: `{\"type\", \"id\"}`")
        }
        Some(_) => return error(400, "`principal` must be an object with `type` and `id`"),
    };
    if let Some(k) = principal.keys().find(|k| *k != "type" && *k != "id") {
        return error(
            400,
            format!("unknown field `principal.{k}`; expected `type`, `id`"),
        );
    }
    let (Some(Value::String(ty)), Some(Value::String(pid))) =
        (principal.get("type"), principal.get("id"))
    else {
        return error(400, "`principal.type` and `principal.id` must be strings");
    };
    let pid = match canonical_identity(pid) {
        Ok(c) => c.into_owned(),
        Err(e) => return error(400, format!("`principal.id` is not a valid id: {e}")),
    };
    // The principal's type must be one the task's permits apply to.
    let declared: Vec<&str> = bundle.entity_types().collect();
    if !declared.contains(&ty.as_str()) {
        return error(
            400,
            format!(
                "unknown entity type `{ty}` in `principal.type`{}",
                jitp_runtime::suggestion(ty, declared.iter().copied())
            ),
        );
    }
    if let Some(types) = meta
        .principal_types
        .as_ref()
        .filter(|t| !t.contains(&ty.as_str()))
    {
        let list: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
        return error(
            400,
            format!(
                "task `{name}` grants nothing to `{ty}`; its permits apply to {}",
                if list.is_empty() {
                    "no one".to_string()
                } else {
                    list.join(", ")
                }
            ),
        );
    }
    let justification = match text(obj, "justification", true) {
        Ok(j) => j.unwrap_or_default(),
        Err(e) => return error(400, e),
    };
    let ticket = match text(obj, "ticket", false) {
        Ok(t) => t,
        Err(e) => return error(400, e),
    };
    let id = match jitp_store::new_id() {
        Ok(id) => id,
        Err(e) => return error(503, e.to_string()),
    };
    let now = jitp_store::now_micros();
    let task = Task::new(
        id,
        name,
        Principal {
            ty: ty.clone(),
            id: pid.clone(),
        },
        key_of(&pid),
        justification,
        ticket,
        caller.cloned(),
        meta.approvals,
        meta.ttl_micros,
        now,
    );
    drop(loaded);
    if let Err(e) = store.create(&task) {
        return failed(unavailable(e));
    }
    committed(state, 201, &task, 0, caller, None)
}

/// `GET /v1/tasks`: the active tasks, oldest first.
pub(crate) fn list(state: &State, query: &str) -> Answer {
    let Some(store) = state.store() else {
        return no_store();
    };
    let mut limit = 100;
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        match kv.split_once('=') {
            Some(("limit", n)) => match n.parse::<usize>() {
                Ok(n) if (1..=MAX_LIST).contains(&n) => limit = n,
                _ => {
                    return error(
                        400,
                        format!("`limit` must be a whole number from 1 to {MAX_LIST}, not `{n}`"),
                    )
                }
            },
            _ => {
                return error(
                    400,
                    format!("unknown query parameter `{kv}`; expected `limit`"),
                )
            }
        }
    }
    let now = jitp_store::now_micros();
    match store.list_active(now, limit) {
        Ok(tasks) => answer(
            200,
            &json!({"tasks": tasks.iter().map(|t| task_json(t, now)).collect::<Vec<_>>()}),
        ),
        Err(e) => failed(unavailable(e)),
    }
}

fn read(store: &dyn TaskStore, id: &str) -> Result<Task, Answer> {
    let found = if id.len() > MAX_ID {
        None
    } else {
        store.get(id).map_err(|e| failed(unavailable(e)))?
    };
    found.ok_or_else(|| error(404, format!("no task `{id}`")))
}

/// `GET /v1/tasks/{id}`.
pub(crate) fn show(state: &State, id: &str) -> Answer {
    let Some(store) = state.store() else {
        return no_store();
    };
    match read(&**store, id) {
        Ok(t) => answer(200, &task_json(&t, jitp_store::now_micros())),
        Err(a) => a,
    }
}

/// What an approval decision answered.
enum Verdict {
    /// Granted, with the decision's id.
    Granted(String),
    /// Refused: the status and message to answer with.
    Refused(Failure),
}

/// Decides whether `who` may approve task `task`: the bundle's decision on
/// the action declared `grants <task>`, on a resource of that action's
/// type whose id is the task's name.
fn may_approve(
    state: &State,
    who: &Principal,
    task: &Task,
    context: Option<&Value>,
    evidence: Option<&Value>,
) -> Verdict {
    let loaded = state.current();
    let Some(meta) = loaded.bundle.task(&task.name) else {
        return Verdict::Refused(Failure {
            status: 409,
            message: format!(
                "task `{}` is not in the bundle now served (revision `{}`), so no approval can be decided",
                task.name, loaded.revision
            ),
        });
    };
    let granting = &meta.granted_by;
    if granting.is_empty() {
        return Verdict::Refused(Failure {
            status: 403,
            message: format!(
                "no action grants task `{}`, so no one can approve it\nhelp: declare `action tasks.approve_{} on TaskRequest sensitivity low grants {}` and permit the approvers that action",
                task.name, task.name, task.name
            ),
        });
    }
    let now = crate::now_rfc3339();
    let mut first_refusal = None;
    for action in granting {
        let resource_type = action.resource_types.first().copied().unwrap_or("");
        let mut request = json!({
            "subject": {"type": who.ty, "id": who.id},
            "action": {"name": action.name},
            "resource": {"type": resource_type, "id": task.name},
        });
        if let Value::Object(o) = &mut request {
            if let Some(c) = context {
                o.insert("context".into(), c.clone());
            }
            if let Some(e) = evidence {
                o.insert("evidence".into(), e.clone());
            }
        }
        let how = How {
            explain: false,
            namespace: false,
            held: None,
        };
        let Some(request) = Json::from_value(&request, jitp_runtime::MAX_REQUEST_DEPTH) else {
            return Verdict::Refused(Failure::bad(format!(
                "the approval's context or evidence is nested deeper than {} levels",
                jitp_runtime::MAX_REQUEST_DEPTH
            )));
        };
        match state.decide_with(&loaded, request, None, &now, how) {
            Ok(d) if d.record.decision == Effect::Allow => return Verdict::Granted(d.id),
            Ok(d) => {
                first_refusal.get_or_insert_with(|| {
                    let why = d
                        .record
                        .error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default();
                    Failure {
                        status: 403,
                        message: format!(
                            "the policy does not permit `{}` `{}` to approve task `{}` (`{}` on `{resource_type}`): {}{why} (decision `{}`)",
                            who.ty,
                            who.id,
                            task.name,
                            action.name,
                            d.record.reason.as_str(),
                            d.id
                        ),
                    }
                });
            }
            Err(f) => {
                first_refusal.get_or_insert_with(|| Failure {
                    status: f.status,
                    message: format!("the approval cannot be decided: {}", f.message),
                });
            }
        }
    }
    Verdict::Refused(first_refusal.unwrap_or(Failure {
        status: 403,
        message: "the approval was not granted".into(),
    }))
}

fn refusal(r: &Refusal) -> Answer {
    match r {
        Refusal::SelfApproval => error(403, "the principal cannot approve its own task"),
        Refusal::Duplicate => error(409, r.to_string()),
        Refusal::NotRequested(_) | Refusal::AlreadyEnded(_) | Refusal::TooManyApprovals => {
            error(409, r.to_string())
        }
    }
}

fn update_failed(e: UpdateError, id: &str) -> Answer {
    match e {
        UpdateError::NotFound => error(404, format!("no task `{id}`")),
        UpdateError::Refused(r) => refusal(&r),
        UpdateError::Store(e) => failed(unavailable(e)),
    }
}

fn needs_identity(what: &str) -> Answer {
    error(
        403,
        format!("{what} needs a caller identity, and this token has none\nhelp: give the token an identity in the tokens file: `TOKEN TYPE ID`"),
    )
}

/// `POST /v1/tasks/{id}/approve`, body `{"context", "evidence"}` (both
/// optional; the body may be empty).
pub(crate) fn approve(state: &State, caller: Option<&Principal>, id: &str, body: &Value) -> Answer {
    let Some(store) = state.store() else {
        return no_store();
    };
    let Some(who) = caller else {
        return needs_identity("approving a task");
    };
    let obj = match fields(body, &["context", "evidence"]) {
        Ok(o) => o,
        Err(e) => return error(400, e),
    };
    for k in ["context", "evidence"] {
        if obj.get(k).is_some_and(|v| !v.is_object() && !v.is_null()) {
            return error(400, format!("`{k}` must be an object"));
        }
    }
    let task = match read(&**store, id) {
        Ok(t) => t,
        Err(a) => return a,
    };
    if is_principal(&task, &who.ty, &who.id) || key_of(&who.id) == task.principal_key {
        return refusal(&Refusal::SelfApproval);
    }
    if task.state != TaskState::Requested {
        return refusal(&Refusal::NotRequested(
            task.state_at(jitp_store::now_micros()),
        ));
    }
    let key = key_of(&who.id);
    if task.approvals.iter().any(|a| a.key == key) {
        return refusal(&Refusal::Duplicate);
    }
    let ctx = obj.get("context").filter(|v| !v.is_null());
    let ev = obj.get("evidence").filter(|v| !v.is_null());
    let decision = match may_approve(state, who, &task, ctx, ev) {
        Verdict::Granted(d) => d,
        Verdict::Refused(f) => return failed(f),
    };
    let mut before = 0;
    let result = store.update(id, &mut |t: &mut Task| {
        before = t.events.len();
        t.approve(who, &key, jitp_store::now_micros())
    });
    match result {
        Ok(t) => committed(state, 200, &t, before, Some(who), Some(&decision)),
        Err(e) => update_failed(e, id),
    }
}

/// `POST /v1/tasks/{id}/end`: by the task's principal, or by anyone the
/// policy permits to approve it.
pub(crate) fn end(state: &State, caller: Option<&Principal>, id: &str, body: &Value) -> Answer {
    let Some(store) = state.store() else {
        return no_store();
    };
    let Some(who) = caller else {
        return needs_identity("ending a task");
    };
    let obj = match fields(body, &["context", "evidence"]) {
        Ok(o) => o,
        Err(e) => return error(400, e),
    };
    let task = match read(&**store, id) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let now = jitp_store::now_micros();
    if matches!(task.state_at(now), TaskState::Ended | TaskState::Rejected) {
        return refusal(&Refusal::AlreadyEnded(task.state_at(now)));
    }
    let decision = if is_principal(&task, &who.ty, &who.id) {
        None
    } else {
        let ctx = obj.get("context").filter(|v| !v.is_null());
        let ev = obj.get("evidence").filter(|v| !v.is_null());
        match may_approve(state, who, &task, ctx, ev) {
            Verdict::Granted(d) => Some(d),
            Verdict::Refused(f) if f.status == 403 => {
                return error(
                    403,
                    format!(
                        "only the task's principal or someone the policy permits to approve it can end it; {}",
                        f.message
                    ),
                )
            }
            Verdict::Refused(f) => return failed(f),
        }
    };
    let mut before = 0;
    let result = store.update(id, &mut |t: &mut Task| {
        before = t.events.len();
        t.end(Some(who), jitp_store::now_micros())
    });
    match result {
        Ok(t) => committed(state, 200, &t, before, Some(who), decision.as_deref()),
        Err(e) => update_failed(e, id),
    }
}
