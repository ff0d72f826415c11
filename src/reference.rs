//! The reference interpreter: the semantics of jitp, written to be
//! obviously right rather than fast.
//!
//! It reads the request JSON directly against the checked program's types
//! and evaluates the typed expressions by walking them. The VM must give
//! the same decision for every (policy, request) pair; property tests check
//! that. It evaluates constants from their expressions each time they are
//! used, and never reads the values the checker folded, so that the
//! differential test covers constant folding too.

use crate::check::hir::*;
use crate::syntax::ast::{Effect as RuleEffect, TaskKind};
use jitp_runtime::decision::{DecisionRecord, Effect, Obligation, Reason};
use jitp_runtime::format::horizon;
use jitp_runtime::value::{
    approver_key, canonical_identity, parse_ip, Cidr, Decimal, Duration, Time,
};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// A value of the language.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// An absent optional.
    Absent,
    /// Bool.
    Bool(bool),
    /// Int.
    Int(i64),
    /// String.
    Str(String),
    /// Time (µs since the epoch).
    Time(i64),
    /// Duration (µs).
    Dur(i64),
    /// Decimal (millionths).
    Dec(i64),
    /// Ip.
    Ip(IpAddr),
    /// Net.
    Net(Cidr),
    /// Enum variant index.
    Enum(u32),
    /// Set.
    Set(BTreeSet<Value>),
    /// Record or entity: fields by name.
    Record(BTreeMap<String, Value>),
}

/// Why an evaluation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    /// Arithmetic overflow.
    Overflow,
    /// Something the checker rules out happened (a bug).
    Internal(String),
}

type R<T> = Result<T, EvalError>;

fn internal<T>(what: &str) -> R<T> {
    Err(EvalError::Internal(what.to_string()))
}

/// A request validated against the program's schema.
#[derive(Clone, Debug)]
pub struct Request {
    /// Principal type.
    pub principal_type: EntityId,
    /// Principal fields, `id` included.
    pub principal: Value,
    /// Action.
    pub action: ActionId,
    /// Resource type.
    pub resource_type: EntityId,
    /// Resource fields, `id` included.
    pub resource: Value,
    /// Context record.
    pub context: Value,
    /// Evidence record (all fields optional).
    pub evidence: Value,
    /// The task the request is made in.
    pub task: Option<TaskInfo>,
    /// The request time.
    pub now: i64,
}

/// The task a request names.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    /// Which task.
    pub task: TaskId,
    /// Its run id.
    pub id: String,
    /// When it started.
    pub started_at: i64,
    /// Distinct approvers other than the principal.
    pub approvers: BTreeSet<String>,
    /// `task.params`, if the task declares parameters.
    pub params: Value,
}

// ---------------------------------------------------------------- requests

/// Validates a request JSON document against `p`'s schema.
pub fn parse_request(p: &Program, json: &Json) -> Result<Request, String> {
    let limit = jitp_runtime::MAX_REQUEST_DEPTH;
    if deeper_than(json, limit) {
        return Err(format!("the request is nested deeper than {limit} levels"));
    }
    let obj = json
        .as_object()
        .ok_or("the request must be a JSON object")?;
    for k in obj.keys() {
        if ![
            "subject", "action", "resource", "context", "task", "evidence", "now",
        ]
        .contains(&k.as_str())
        {
            return Err(format!("unknown request field `{k}`"));
        }
    }
    let (principal_type, principal) = entity(p, obj.get("subject"), "subject")?;
    let action_obj = obj
        .get("action")
        .and_then(Json::as_object)
        .ok_or("`action` must be an object with a `name`")?;
    for k in action_obj.keys() {
        if k != "name" {
            return Err(format!("unknown field `action.{k}`"));
        }
    }
    let action_name = action_obj
        .get("name")
        .and_then(Json::as_str)
        .ok_or("`action.name` must be a string")?;
    let action = p
        .action_by_name(action_name)
        .ok_or_else(|| format!("unknown action `{action_name}`"))?;
    let (resource_type, resource) = entity(p, obj.get("resource"), "resource")?;
    if !p.action(action).on.contains(&resource_type) {
        return Err(format!(
            "action `{action_name}` does not apply to resource type `{}`",
            p.entity(resource_type).name
        ));
    }
    let empty = Json::Object(Default::default());
    let context = record(
        p,
        p.context,
        obj.get("context")
            .filter(|c| !c.is_null())
            .unwrap_or(&empty),
        "context",
    )?;
    let evidence = record(
        p,
        p.evidence,
        obj.get("evidence")
            .filter(|c| !c.is_null())
            .unwrap_or(&empty),
        "evidence",
    )?;
    let now = obj
        .get("now")
        .and_then(Json::as_str)
        .ok_or("`now` must be an RFC 3339 time string")?;
    let now = Time::parse(now).map_err(|e| format!("`now`: {e}"))?.0;
    let principal_id = match &principal {
        Value::Record(f) => match f.get("id") {
            Some(Value::Str(s)) => s.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let task = match obj.get("task") {
        None | Some(Json::Null) => None,
        Some(t) => {
            let t = t.as_object().ok_or("`task` must be an object")?;
            for k in t.keys() {
                if !["name", "id", "started_at", "approvals", "params"].contains(&k.as_str()) {
                    return Err(format!("unknown field `task.{k}`"));
                }
            }
            let name = t
                .get("name")
                .and_then(Json::as_str)
                .ok_or("`task.name` must be a string")?;
            let task = p
                .task_by_name(name)
                .ok_or_else(|| format!("unknown task `{name}`"))?;
            let id = match t.get("id") {
                None | Some(Json::Null) => String::new(),
                Some(Json::String(s)) => s.clone(),
                Some(_) => return Err("`task.id` must be a string".into()),
            };
            let started = t
                .get("started_at")
                .and_then(Json::as_str)
                .ok_or("`task.started_at` must be an RFC 3339 time string")?;
            let started_at = Time::parse(started)
                .map_err(|e| format!("`task.started_at`: {e}"))?
                .0;
            // Approvers are told apart, and from the principal, by
            // approver_key; the set keeps the first spelling of each.
            let principal_key = approver_key(&principal_id);
            let mut keys = BTreeSet::new();
            let mut approvers = BTreeSet::new();
            match t.get("approvals") {
                None | Some(Json::Null) => {}
                Some(Json::Array(items)) => {
                    for (i, a) in items.iter().enumerate() {
                        let a = a
                            .as_object()
                            .ok_or_else(|| format!("`task.approvals[{i}]` must be an object"))?;
                        for k in a.keys() {
                            if k != "by" && k != "at" {
                                return Err(format!("unknown field `task.approvals[{i}].{k}`"));
                            }
                        }
                        let by = a
                            .get("by")
                            .and_then(Json::as_str)
                            .ok_or_else(|| format!("`task.approvals[{i}].by` must be a string"))?;
                        if let Some(at) = a.get("at") {
                            let at = at.as_str().ok_or_else(|| {
                                format!("`task.approvals[{i}].at` must be a time string")
                            })?;
                            Time::parse(at)
                                .map_err(|e| format!("`task.approvals[{i}].at`: {e}"))?;
                        }
                        let by = canonical_identity(by).map_err(|why| {
                            format!("`task.approvals[{i}].by` is not a valid identity: {why}")
                        })?;
                        let key = approver_key(&by);
                        if key != principal_key && keys.insert(key) {
                            approvers.insert(by.into_owned());
                        }
                    }
                }
                Some(_) => return Err("`task.approvals` must be an array".into()),
            }
            let given = t.get("params").filter(|p| !p.is_null());
            let params = match (p.task(task).params, given) {
                (Some(r), given) => {
                    let empty = Json::Object(Default::default());
                    record(p, r, given.unwrap_or(&empty), "task.params")?
                }
                (None, None) => Value::Absent,
                (None, Some(Json::Object(o))) if o.is_empty() => Value::Absent,
                (None, Some(_)) => {
                    return Err(format!("task `{name}` declares no parameters"));
                }
            };
            Some(TaskInfo {
                task,
                id,
                started_at,
                approvers,
                params,
            })
        }
    };
    Ok(Request {
        principal_type,
        principal,
        action,
        resource_type,
        resource,
        context,
        evidence,
        task,
        now,
    })
}

fn entity(p: &Program, json: Option<&Json>, role: &str) -> Result<(EntityId, Value), String> {
    let obj = json
        .and_then(Json::as_object)
        .ok_or_else(|| format!("`{role}` must be an object with `type` and `id`"))?;
    for k in obj.keys() {
        if !["type", "id", "properties"].contains(&k.as_str()) {
            return Err(format!("unknown field `{role}.{k}`"));
        }
    }
    let ty = obj
        .get("type")
        .and_then(Json::as_str)
        .ok_or_else(|| format!("`{role}.type` must be a string"))?;
    let eid = p
        .entity_by_name(ty)
        .ok_or_else(|| format!("unknown entity type `{ty}` in `{role}.type`"))?;
    let id = obj
        .get("id")
        .and_then(Json::as_str)
        .ok_or_else(|| format!("`{role}.id` must be a string"))?;
    let id = canonical_identity(id)
        .map_err(|why| format!("`{role}.id` is not a valid identity: {why}"))?;
    let empty = serde_json::Map::new();
    let props = match obj.get("properties") {
        None | Some(Json::Null) => &empty,
        Some(Json::Object(m)) => m,
        Some(_) => return Err(format!("`{role}.properties` must be an object")),
    };
    let def = p.entity(eid);
    let mut fields = BTreeMap::new();
    fields.insert("id".to_string(), Value::Str(id.to_string()));
    for k in props.keys() {
        if k == "id" || !def.fields.iter().any(|f| f.name == *k) {
            return Err(format!(
                "unknown property `{role}.properties.{k}` of `{}`",
                def.name
            ));
        }
    }
    for f in def.fields.iter().skip(1) {
        let v = value(
            p,
            &f.ty,
            props.get(&f.name),
            &format!("{role}.properties.{}", f.name),
        )?;
        fields.insert(f.name.clone(), v);
    }
    Ok((eid, Value::Record(fields)))
}

/// Whether a JSON document nests deeper than `limit` levels (the document
/// itself is level 1), as the request contract limits it.
fn deeper_than(json: &Json, limit: usize) -> bool {
    let mut stack = vec![(json, 1usize)];
    while let Some((v, d)) = stack.pop() {
        if d > limit {
            return true;
        }
        match v {
            Json::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Json::Object(m) => stack.extend(m.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    false
}

fn record(p: &Program, r: RecordId, json: &Json, path: &str) -> Result<Value, String> {
    let obj = json
        .as_object()
        .ok_or_else(|| format!("`{path}` must be an object"))?;
    let def = p.record(r);
    for k in obj.keys() {
        if !def.fields.iter().any(|f| f.name == *k) {
            return Err(format!("unknown field `{path}.{k}`"));
        }
    }
    let mut fields = BTreeMap::new();
    for f in &def.fields {
        let v = value(p, &f.ty, obj.get(&f.name), &format!("{path}.{}", f.name))?;
        fields.insert(f.name.clone(), v);
    }
    Ok(Value::Record(fields))
}

fn value(p: &Program, ty: &Type, json: Option<&Json>, path: &str) -> Result<Value, String> {
    let json = match (json, ty) {
        (None | Some(Json::Null), Type::Optional(_)) => return Ok(Value::Absent),
        (None, _) => return Err(format!("missing `{path}`")),
        (Some(Json::Null), _) => return Err(format!("`{path}` must not be null")),
        (Some(j), _) => j,
    };
    let want = |what: &str| format!("`{path}` must be {what}");
    Ok(match ty {
        Type::Optional(inner) => value(p, inner, Some(json), path)?,
        Type::Bool => Value::Bool(json.as_bool().ok_or_else(|| want("a boolean"))?),
        Type::Int => Value::Int(
            json.as_i64()
                // `-0` reaches serde_json's tree as a float: it is zero.
                .or_else(|| {
                    json.as_f64()
                        .filter(|f| *f == 0.0 && f.is_sign_negative())
                        .map(|_| 0)
                })
                .ok_or_else(|| want("a 64-bit integer"))?,
        ),
        Type::String => Value::Str(json.as_str().ok_or_else(|| want("a string"))?.to_string()),
        Type::Time => {
            let s = json
                .as_str()
                .ok_or_else(|| want("an RFC 3339 time string"))?;
            Value::Time(Time::parse(s).map_err(|e| format!("`{path}`: {e}"))?.0)
        }
        Type::Duration => {
            let s = json
                .as_str()
                .ok_or_else(|| want("a duration string such as \"15m\""))?;
            Value::Dur(Duration::parse(s).map_err(|e| format!("`{path}`: {e}"))?.0)
        }
        Type::Decimal => {
            // The text of a number as serde_json keeps it: integers exactly,
            // other numbers in their shortest floating-point form.
            let text = match json {
                Json::Number(n) => n.to_string(),
                Json::String(s) => s.clone(),
                _ => return Err(want("a decimal: a number or a string such as \"12.50\"")),
            };
            let d = match json.as_i64() {
                Some(i) => {
                    Decimal::from_int(i).ok_or(jitp_runtime::value::DecimalError::OutOfRange)
                }
                None => Decimal::parse(&text),
            };
            Value::Dec(
                d.map_err(|e| format!("`{path}`: {}", Decimal::error_message(&text, &e)))?
                    .0,
            )
        }
        Type::Ip => {
            let s = json.as_str().ok_or_else(|| want("an ip address string"))?;
            Value::Ip(parse_ip(s).map_err(|e| format!("`{path}`: {e}"))?)
        }
        Type::Net => {
            let s = json
                .as_str()
                .ok_or_else(|| want("a network string such as \"10.0.0.0/8\""))?;
            Value::Net(Cidr::parse(s).map_err(|e| format!("`{path}`: {e}"))?)
        }
        Type::Enum(e) => {
            let def = p.enum_def(*e);
            let s = json
                .as_str()
                .ok_or_else(|| want(&format!("one of the `{}` variants", def.name)))?;
            let v = def.variants.iter().position(|v| v == s).ok_or_else(|| {
                format!(
                    "`{path}`: `{s}` is not a variant of `{}` ({})",
                    def.name,
                    def.variants.join(", ")
                )
            })?;
            Value::Enum(v as u32)
        }
        Type::Set(elem) => {
            let items = json.as_array().ok_or_else(|| want("an array"))?;
            let mut set = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                set.insert(value(p, elem, Some(item), &format!("{path}[{i}]"))?);
            }
            Value::Set(set)
        }
        Type::Record(r) => record(p, *r, json, path)?,
        Type::Entity(_) | Type::Task | Type::Never | Type::Error => {
            return Err(format!("`{path}` has an unsupported type"))
        }
    })
}

// ---------------------------------------------------------------- evaluation

/// What names evaluate to.
#[derive(Clone)]
struct Env<'a> {
    req: Option<&'a Request>,
    params: Vec<(Value, M)>,
    /// How many speculative evaluations (see [`horizon::combine`]) this one
    /// is inside.
    depth: u32,
}

/// What evaluation knows about a value besides itself: how fast it moves
/// with `now` (its slope) and, for a `Bool`, the first instant at which it
/// may change (its horizon), as in `jitp_runtime::format::horizon`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct M {
    slope: i32,
    hz: i64,
}

const PLAIN: M = M {
    slope: 0,
    hz: horizon::NEVER,
};

fn slope(slope: i32) -> M {
    M { slope, ..PLAIN }
}

fn hz(hz: i64) -> M {
    M { slope: 0, hz }
}

fn cmp_code(op: CmpOp) -> jitp_runtime::format::CmpOp {
    use jitp_runtime::format::cmp;
    match op {
        CmpOp::Eq => cmp::EQ,
        CmpOp::Ne => cmp::NE,
        CmpOp::Lt => cmp::LT,
        CmpOp::Le => cmp::LE,
        CmpOp::Gt => cmp::GT,
        CmpOp::Ge => cmp::GE,
    }
}

/// The horizon of `x <op> y`: only values time can order have one.
fn cmp_horizon(now: i64, op: CmpOp, x: &Value, mx: M, y: &Value, my: M) -> M {
    match (x, y) {
        (Value::Time(a), Value::Time(b))
        | (Value::Dur(a), Value::Dur(b))
        | (Value::Int(a), Value::Int(b)) => hz(horizon::compare(
            now,
            cmp_code(op),
            *a,
            mx.slope,
            *b,
            my.slope,
        )),
        _ => PLAIN,
    }
}

/// Evaluates `e`, speculatively (a failure is no answer), one level deeper.
fn speculate(p: &Program, env: &Env<'_>, e: &Expr) -> Option<(bool, (i64, ()))> {
    if env.depth >= horizon::MAX_SPECULATION {
        return None;
    }
    let inner = Env {
        depth: env.depth + 1,
        ..env.clone()
    };
    match eval_m(p, &inner, e) {
        Ok((Value::Bool(b), m)) => Some((b, (m.hz, ()))),
        _ => None,
    }
}

/// `a and b` (`short` false) or `a or b` (`short` true), with horizons.
fn logic(p: &Program, env: &Env<'_>, short: bool, a: &Expr, b: &Expr) -> R<(Value, M)> {
    let (va, ma) = eval_m(p, env, a)?;
    let Value::Bool(va) = va else {
        return internal("and/or");
    };
    if va == short {
        let h = horizon::combine(short, (va, (ma.hz, ())), speculate(p, env, b));
        return Ok((Value::Bool(va), hz(h.0)));
    }
    let (vb, mb) = eval_m(p, env, b)?;
    let Value::Bool(vb) = vb else {
        return internal("and/or");
    };
    let h = horizon::combine(short, (va, (ma.hz, ())), Some((vb, (mb.hz, ()))));
    Ok((Value::Bool(vb), hz(h.0)))
}

/// `x in [items]` with request values: `x == item` for each item, left to
/// right up to the first match, as the VM runs it (a right-nested `or`).
fn in_items(p: &Program, env: &Env<'_>, x: &(Value, M), items: &[Expr]) -> R<(Value, M)> {
    let Some((item, rest)) = items.split_first() else {
        return Ok((Value::Bool(false), PLAIN));
    };
    let (y, my) = eval_m(p, env, item)?;
    let now = env.req.map_or(0, |r| r.now);
    let (found, m) = match (&x.0, &y) {
        (Value::Absent, _) | (_, Value::Absent) => (false, PLAIN),
        (Value::Ip(ip), Value::Net(n)) => (n.contains(*ip), PLAIN),
        (a, b) => (*a == *b, cmp_horizon(now, CmpOp::Eq, a, x.1, b, my)),
    };
    if rest.is_empty() {
        return Ok((Value::Bool(found), m));
    }
    if found {
        let other = if env.depth >= horizon::MAX_SPECULATION {
            None
        } else {
            let inner = Env {
                depth: env.depth + 1,
                ..env.clone()
            };
            match in_items(p, &inner, x, rest) {
                Ok((Value::Bool(b), mb)) => Some((b, (mb.hz, ()))),
                _ => None,
            }
        };
        let h = horizon::combine(true, (true, (m.hz, ())), other);
        return Ok((Value::Bool(true), hz(h.0)));
    }
    let (vb, mb) = in_items(p, env, x, rest)?;
    let Value::Bool(vb) = vb else {
        return internal("in");
    };
    let h = horizon::combine(true, (false, (m.hz, ())), Some((vb, (mb.hz, ()))));
    Ok((Value::Bool(vb), hz(h.0)))
}

/// Evaluates a constant from its defining expression.
fn eval_const(p: &Program, c: ConstId) -> R<Value> {
    let env = Env {
        req: None,
        params: Vec::new(),
        depth: 0,
    };
    match p.consts.get(c.index()) {
        Some(def) => eval(p, &env, &def.value),
        None => internal("unknown constant"),
    }
}

fn eval(p: &Program, env: &Env<'_>, e: &Expr) -> R<Value> {
    eval_m(p, env, e).map(|(v, _)| v)
}

/// Evaluates `e` with its slope and horizon.
fn eval_m(p: &Program, env: &Env<'_>, e: &Expr) -> R<(Value, M)> {
    let now = env.req.map_or(0, |r| r.now);
    Ok((
        match &e.kind {
            ExprKind::Lit(l) => match l {
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Int(i) => Value::Int(*i),
                Literal::Str(s) => Value::Str(s.clone()),
                Literal::Time(t) => Value::Time(t.0),
                Literal::Duration(d) => Value::Dur(d.0),
                Literal::Decimal(d) => Value::Dec(d.0),
                Literal::Ip(ip) => Value::Ip(*ip),
                Literal::Net(n) => Value::Net(*n),
                Literal::Enum(_, v) => Value::Enum(*v),
            },
            ExprKind::Set(items) => {
                Value::Set(items.iter().map(|i| eval(p, env, i)).collect::<R<_>>()?)
            }
            ExprKind::Var(v) => {
                if let Var::Param(i) = v {
                    return env
                        .params
                        .get(*i as usize)
                        .cloned()
                        .map_or_else(|| internal("parameter"), Ok);
                }
                if let (Var::Now, Some(req)) = (v, env.req) {
                    return Ok((Value::Time(req.now), slope(1)));
                }
                let Some(req) = env.req else {
                    return internal("request name in a constant");
                };
                match v {
                    Var::Principal => req.principal.clone(),
                    Var::Resource => req.resource.clone(),
                    Var::Context => req.context.clone(),
                    Var::Evidence => req.evidence.clone(),
                    Var::TaskParams(_) => match &req.task {
                        Some(t) => t.params.clone(),
                        None => return internal("task parameters outside a task"),
                    },
                    Var::Now => Value::Time(req.now),
                    Var::Action => Value::Str(p.action(req.action).name.clone()),
                    Var::Task | Var::Param(_) => return internal("bare task"),
                }
            }
            ExprKind::Const(c) => eval_const(p, *c)?,
            ExprKind::Field { base, name, .. } => match eval(p, env, base)? {
                Value::Absent => Value::Absent,
                Value::Record(fields) => fields.get(name).cloned().unwrap_or(Value::Absent),
                _ => return internal("field of a non-record"),
            },
            ExprKind::TaskField(f) => {
                let Some(t) = env.req.and_then(|r| r.task.as_ref()) else {
                    return internal("task field without a task");
                };
                match f {
                    TaskField::Name => Value::Str(p.task(t.task).name.clone()),
                    TaskField::Id => Value::Str(t.id.clone()),
                    TaskField::StartedAt => Value::Time(t.started_at),
                    TaskField::Approvals => Value::Int(t.approvers.len() as i64),
                    TaskField::Approvers => {
                        Value::Set(t.approvers.iter().map(|a| Value::Str(a.clone())).collect())
                    }
                }
            }
            ExprKind::Call(f, args) => {
                let params = args
                    .iter()
                    .map(|a| eval_m(p, env, a))
                    .collect::<R<Vec<_>>>()?;
                let inner = Env {
                    req: env.req,
                    params,
                    depth: env.depth,
                };
                return eval_m(p, &inner, &p.fns[f.index()].body);
            }
            ExprKind::Method { method, recv, args } => {
                let r = eval(p, env, recv)?;
                let a = args
                    .iter()
                    .map(|a| eval(p, env, a))
                    .collect::<R<Vec<_>>>()?;
                if r == Value::Absent || a.contains(&Value::Absent) {
                    return Ok((
                        if method.is_predicate() {
                            Value::Bool(false)
                        } else {
                            Value::Absent
                        },
                        PLAIN,
                    ));
                }
                match (method, &r, a.first()) {
                    (Method::StartsWith, Value::Str(s), Some(Value::Str(x))) => {
                        Value::Bool(s.starts_with(x.as_str()))
                    }
                    (Method::EndsWith, Value::Str(s), Some(Value::Str(x))) => {
                        Value::Bool(s.ends_with(x.as_str()))
                    }
                    (Method::StrContains, Value::Str(s), Some(Value::Str(x))) => {
                        Value::Bool(s.contains(x.as_str()))
                    }
                    (Method::Contains, Value::Set(s), Some(x)) => Value::Bool(s.contains(x)),
                    (Method::ContainsAny, Value::Set(s), Some(Value::Set(x))) => {
                        Value::Bool(x.iter().any(|v| s.contains(v)))
                    }
                    (Method::ContainsAll, Value::Set(s), Some(Value::Set(x))) => {
                        Value::Bool(x.iter().all(|v| s.contains(v)))
                    }
                    (Method::IsEmpty, Value::Set(s), None) => Value::Bool(s.is_empty()),
                    (Method::Len, Value::Set(s), None) => Value::Int(s.len() as i64),
                    _ => return internal("method operands"),
                }
            }
            ExprKind::Not(x) => match eval_m(p, env, x)? {
                (Value::Bool(b), m) => return Ok((Value::Bool(!b), m)),
                _ => return internal("not"),
            },
            ExprKind::Neg(x) => match eval_m(p, env, x)? {
                (Value::Int(i), _) => Value::Int(i.checked_neg().ok_or(EvalError::Overflow)?),
                (Value::Dur(d), m) => {
                    let d = Value::Dur(d.checked_neg().ok_or(EvalError::Overflow)?);
                    return Ok((d, slope(horizon::slope_neg(m.slope))));
                }
                (Value::Dec(d), _) => Value::Dec(d.checked_neg().ok_or(EvalError::Overflow)?),
                _ => return internal("neg"),
            },
            ExprKind::And(a, b) => return logic(p, env, false, a, b),
            ExprKind::Or(a, b) => return logic(p, env, true, a, b),
            ExprKind::Cmp(op, a, b) => {
                let ((x, mx), (y, my)) = (eval_m(p, env, a)?, eval_m(p, env, b)?);
                if x == Value::Absent || y == Value::Absent {
                    return Ok((Value::Bool(false), PLAIN));
                }
                let m = cmp_horizon(now, *op, &x, mx, &y, my);
                return Ok((
                    Value::Bool(match op {
                        CmpOp::Eq => x == y,
                        CmpOp::Ne => x != y,
                        _ => {
                            let ord = match (&x, &y) {
                                (Value::Int(a), Value::Int(b))
                                | (Value::Time(a), Value::Time(b))
                                | (Value::Dur(a), Value::Dur(b))
                                | (Value::Dec(a), Value::Dec(b)) => a.cmp(b),
                                _ => return internal("ordering"),
                            };
                            match op {
                                CmpOp::Lt => ord.is_lt(),
                                CmpOp::Le => ord.is_le(),
                                CmpOp::Gt => ord.is_gt(),
                                _ => ord.is_ge(),
                            }
                        }
                    }),
                    m,
                ));
            }
            ExprKind::Arith(op, a, b) => {
                let ((x, mx), (y, my)) = (eval_m(p, env, a)?, eval_m(p, env, b)?);
                if *op == ArithOp::Mul {
                    // A decimal never moves with `now`.
                    return match (x, y) {
                        (Value::Dec(a), Value::Int(b)) | (Value::Int(b), Value::Dec(a)) => Ok((
                            Value::Dec(a.checked_mul(b).ok_or(EvalError::Overflow)?),
                            PLAIN,
                        )),
                        _ => internal("multiplication"),
                    };
                }
                let add = *op == ArithOp::Add;
                let m = slope(if add {
                    horizon::slope_add(mx.slope, my.slope)
                } else {
                    horizon::slope_sub(mx.slope, my.slope)
                });
                let f = |a: i64, b: i64| {
                    if add {
                        a.checked_add(b)
                    } else {
                        a.checked_sub(b)
                    }
                };
                let v = match (x, y) {
                    (Value::Int(a), Value::Int(b)) => {
                        Value::Int(f(a, b).ok_or(EvalError::Overflow)?)
                    }
                    (Value::Time(a), Value::Dur(b)) => {
                        Value::Time(f(a, b).ok_or(EvalError::Overflow)?)
                    }
                    (Value::Dur(a), Value::Time(b)) if add => {
                        Value::Time(a.checked_add(b).ok_or(EvalError::Overflow)?)
                    }
                    (Value::Time(a), Value::Time(b)) if !add => {
                        Value::Dur(a.checked_sub(b).ok_or(EvalError::Overflow)?)
                    }
                    (Value::Dur(a), Value::Dur(b)) => {
                        Value::Dur(f(a, b).ok_or(EvalError::Overflow)?)
                    }
                    (Value::Dec(a), Value::Dec(b)) => {
                        Value::Dec(f(a, b).ok_or(EvalError::Overflow)?)
                    }
                    _ => return internal("arithmetic"),
                };
                return Ok((v, m));
            }
            ExprKind::In(a, b) => {
                let (x, mx) = eval_m(p, env, a)?;
                if let ExprKind::Set(items) = &b.kind {
                    if !b.is_closed() {
                        // As lowered: tried item by item, left to right, up to
                        // the first match (like `or`); nothing when `x` is absent.
                        if x == Value::Absent {
                            return Ok((Value::Bool(false), PLAIN));
                        }
                        return in_items(p, env, &(x, mx), items);
                    }
                }
                let y = eval(p, env, b)?;
                Value::Bool(match (&x, &y) {
                    (Value::Absent, _) | (_, Value::Absent) => false,
                    (Value::Ip(ip), Value::Net(n)) => n.contains(*ip),
                    (Value::Ip(ip), Value::Set(s))
                        if s.iter().all(|v| matches!(v, Value::Net(_))) && !s.is_empty() =>
                    {
                        s.iter()
                            .any(|v| matches!(v, Value::Net(n) if n.contains(*ip)))
                    }
                    (Value::Time(t), Value::Record(w)) => match (w.get("start"), w.get("end")) {
                        (Some(Value::Time(s)), Some(Value::Time(e))) => {
                            // start <= t and t < end, both evaluated
                            let ge = cmp_code(CmpOp::Ge);
                            let c1 = horizon::compare(now, ge, *t, mx.slope, *s, 0);
                            let c2 =
                                horizon::compare(now, cmp_code(CmpOp::Lt), *t, mx.slope, *e, 0);
                            let h = horizon::combine(
                                false,
                                (s <= t, (c1, ())),
                                Some((t < e, (c2, ()))),
                            );
                            return Ok((Value::Bool(s <= t && t < e), hz(h.0)));
                        }
                        _ => return internal("window"),
                    },
                    (x, Value::Set(s)) => s.contains(x),
                    _ => return internal("in"),
                })
            }
            ExprKind::Like(a, pat) => match eval(p, env, a)? {
                Value::Absent => Value::Bool(false),
                Value::Str(s) => Value::Bool(pat.matches(&s)),
                _ => return internal("like"),
            },
            ExprKind::Default(a, b) => match eval_m(p, env, a)? {
                (Value::Absent, _) => return eval_m(p, env, b),
                v => return Ok(v),
            },
            ExprKind::Has(x) => Value::Bool(eval(p, env, x)? != Value::Absent),
            ExprKind::Error => return internal("error node"),
        },
        PLAIN,
    ))
}

fn holds(p: &Program, req: &Request, e: &Expr) -> R<bool> {
    holds_h(p, req, e, 0).map(|(b, _)| b)
}

/// A condition's value and horizon, evaluated `depth` speculations deep.
fn holds_h(p: &Program, req: &Request, e: &Expr, depth: u32) -> R<(bool, i64)> {
    let env = Env {
        req: Some(req),
        params: Vec::new(),
        depth,
    };
    match eval_m(p, &env, e)? {
        (Value::Bool(b), m) => Ok((b, m.hz)),
        _ => internal("condition is not a Bool"),
    }
}

/// The horizon of a permit that allows: the shortest of its `when`,
/// `unless` and `require`s (an `and` of them all).
fn permit_horizon(p: &Program, req: &Request, r: &Rule) -> i64 {
    r.when
        .iter()
        .chain(r.unless.iter())
        .chain(r.requires.iter().map(|q| &q.cond))
        .filter_map(|e| holds_h(p, req, e, 0).ok())
        .map(|(_, h)| h)
        .min()
        .unwrap_or(horizon::NEVER)
}

/// The horizon of a guard that does not hold: when it may start to.
fn guard_horizon(p: &Program, req: &Request, r: &Rule) -> i64 {
    let when = match &r.when {
        Some(w) => match holds_h(p, req, w, 0) {
            Ok(v) => v,
            Err(_) => return horizon::NEVER,
        },
        None => (true, horizon::NEVER),
    };
    let Some(u) = &r.unless else {
        return when.1;
    };
    let depth = u32::from(!when.0);
    let other = if depth < horizon::MAX_SPECULATION {
        holds_h(p, req, u, depth).ok().map(|(v, h)| (!v, (h, ())))
    } else {
        None
    };
    horizon::combine(false, (when.0, (when.1, ())), other).0
}

/// `when` holds and `unless` does not.
fn applies(p: &Program, req: &Request, r: &Rule) -> R<bool> {
    if let Some(w) = &r.when {
        if !holds(p, req, w)? {
            return Ok(false);
        }
    }
    match &r.unless {
        Some(u) => Ok(!holds(p, req, u)?),
        None => Ok(true),
    }
}

fn rule_task(p: &Program, r: &Rule) -> Option<String> {
    r.task.map(|t| p.task(t).name.clone())
}

/// Decides a request given as JSON.
pub fn decide_json(p: &Program, json: &Json) -> DecisionRecord {
    match parse_request(p, json) {
        Ok(req) => decide(p, &req),
        Err(e) => DecisionRecord::invalid(e),
    }
}

/// Decides a validated request, following the brief's procedure step by step.
pub fn decide(p: &Program, req: &Request) -> DecisionRecord {
    let in_scope = |r: &Rule| match r.task {
        None => true,
        Some(t) => req.task.as_ref().is_some_and(|rt| rt.task == t),
    };
    let base = |decision, reason, r: Option<&Rule>| DecisionRecord {
        decision,
        reason,
        rule: r.map(|r| r.id.clone()),
        task: r.and_then(|r| rule_task(p, r)),
        expires_at: None,
        needs: Vec::new(),
        obligations: Vec::new(),
        error: None,
    };
    // Guards.
    for r in &p.rules {
        let matches = r.effect == RuleEffect::Forbid
            && r.actions.contains(&req.action)
            && r.resource
                .as_ref()
                .is_none_or(|t| t.contains(&req.resource_type))
            && in_scope(r);
        if !matches {
            continue;
        }
        match applies(p, req, r) {
            Ok(false) => {}
            Ok(true) => return base(Effect::Deny, Reason::Forbidden, Some(r)),
            Err(e) => {
                let mut d = base(Effect::Deny, Reason::Forbidden, Some(r));
                d.error = Some(format!("the guard failed to evaluate: {}", error_text(&e)));
                return d;
            }
        }
    }
    // Candidates.
    let mut allowed: Option<(&Rule, Option<i64>)> = None;
    let mut stepped: Option<(&Rule, Vec<String>)> = None;
    let mut expired: Option<&Rule> = None;
    let mut early: Option<&Rule> = None;
    for r in &p.rules {
        let matches = r.effect == RuleEffect::Permit
            && r.actions.contains(&req.action)
            && r.principal
                .as_ref()
                .is_none_or(|t| t.contains(&req.principal_type))
            && r.resource
                .as_ref()
                .is_none_or(|t| t.contains(&req.resource_type))
            && in_scope(r);
        if !matches {
            continue;
        }
        let started = req.task.as_ref().map(|t| t.started_at);
        let expires_at = match (r.task, started, r.ttl) {
            (Some(_), Some(s), Some(ttl)) => Some(Time(s).grant_expiry(ttl).0),
            _ => None,
        };
        let not_yet = r.task.is_some() && started.is_some_and(|s| req.now < s);
        let over = expires_at.is_some_and(|e| req.now >= e);
        if !matches!(applies(p, req, r), Ok(true)) {
            continue;
        }
        if not_yet {
            early = early.or(Some(r));
            continue;
        }
        if over {
            expired = expired.or(Some(r));
            continue;
        }
        let mut missing = Vec::new();
        let mut failed = false;
        for q in &r.requires {
            match holds(p, req, &q.cond) {
                Ok(true) => {}
                Ok(false) => missing.push(q.label.clone()),
                Err(_) => failed = true,
            }
        }
        if failed {
            continue;
        }
        if missing.is_empty() {
            let h = permit_horizon(p, req, r);
            let expires_at = match expires_at {
                _ if h == horizon::NEVER => expires_at,
                Some(e) if e <= h => Some(e),
                _ => Some(h),
            };
            let better = match &allowed {
                None => true,
                Some((_, best)) => match (best, expires_at) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(b), Some(e)) => e > *b,
                },
            };
            if better {
                allowed = Some((r, expires_at));
            }
        } else if stepped
            .as_ref()
            .is_none_or(|(_, m)| missing.len() < m.len())
        {
            stepped = Some((r, missing));
        }
    }
    if let Some((r, mut expires_at)) = allowed {
        // A guard for this request that will start to hold ends the grant.
        for g in &p.rules {
            let matches = g.effect == RuleEffect::Forbid
                && g.actions.contains(&req.action)
                && g.resource
                    .as_ref()
                    .is_none_or(|t| t.contains(&req.resource_type))
                && in_scope(g);
            if matches {
                let h = guard_horizon(p, req, g);
                if h != horizon::NEVER {
                    expires_at = Some(expires_at.map_or(h, |e| e.min(h)));
                }
            }
        }
        let mut d = base(Effect::Allow, Reason::Granted, Some(r));
        d.expires_at = expires_at.map(|e| Time(e).to_string());
        if let Some(t) = r.task {
            let task = p.task(t);
            d.obligations = task
                .notify
                .iter()
                .map(|n| Obligation {
                    kind: "notify".into(),
                    target: n.clone(),
                })
                .collect();
            if task.kind == TaskKind::Breakglass {
                d.obligations.push(Obligation {
                    kind: "audit".into(),
                    target: "breakglass".into(),
                });
            }
        }
        return d;
    }
    if let Some((r, missing)) = stepped {
        let mut d = base(Effect::StepUp, Reason::RequirementsMissing, Some(r));
        d.needs = missing;
        return d;
    }
    if let Some(r) = expired {
        return base(Effect::Deny, Reason::Expired, Some(r));
    }
    if let Some(r) = early {
        return base(Effect::Deny, Reason::NotYetActive, Some(r));
    }
    base(Effect::Deny, Reason::NoMatchingRule, None)
}

fn error_text(e: &EvalError) -> String {
    match e {
        EvalError::Overflow => "arithmetic overflow".into(),
        EvalError::Internal(w) => format!("internal error ({w})"),
    }
}
