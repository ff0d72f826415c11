//! Suite files: reading them, their fixtures, and building each case's
//! request (fixtures merged under defaults and overrides) while recording
//! where in the suite every value of the request came from.

use super::json_pos::{key, path_string, push_key, with, JPath, Seg};
use super::{effect_str, quoted, Expectation, SuiteError, MAX_SUITE_BYTES, SUITE_SUFFIX};
use crate::diagnostic::did_you_mean;
use jitp_runtime::decision::{Effect, Obligation, Reason};
use jitp_runtime::value::Time;
use jitp_runtime::Bundle;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Deepest chain of fixtures extending fixtures.
const MAX_FIXTURE_DEPTH: usize = 16;

/// The fixture kinds: suite key, request key, singular noun.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Subject,
    Resource,
    Context,
    Task,
    Evidence,
}

const KINDS: [Kind; 5] = [
    Kind::Subject,
    Kind::Resource,
    Kind::Context,
    Kind::Task,
    Kind::Evidence,
];

impl Kind {
    fn fixtures_key(self) -> &'static str {
        match self {
            Kind::Subject => "subjects",
            Kind::Resource => "resources",
            Kind::Context => "contexts",
            Kind::Task => "tasks",
            Kind::Evidence => "evidence",
        }
    }

    fn request_key(self) -> &'static str {
        match self {
            Kind::Subject => "subject",
            Kind::Resource => "resource",
            Kind::Context => "context",
            Kind::Task => "task",
            Kind::Evidence => "evidence",
        }
    }

    fn of_request_key(k: &str) -> Option<Kind> {
        KINDS.into_iter().find(|kind| kind.request_key() == k)
    }
}

/// The path of the fixtures of `kind`: `fixtures.subjects`, ...
fn fixtures_path(kind: Kind) -> JPath {
    key(&[Seg::Key("fixtures".into())], kind.fixtures_key())
}

/// The path of fixture `name` of `kind`.
fn fixture_path(kind: Kind, name: &str) -> JPath {
    key(&fixtures_path(kind), name)
}

/// Where each value of a built request came from, by request path.
pub(super) type Origins = BTreeMap<String, JPath>;

fn child(req_path: &str, k: &str) -> String {
    let mut p = req_path.to_string();
    push_key(&mut p, k);
    p
}

fn record(v: &Value, req_path: &str, origin: &[Seg], origins: &mut Origins) {
    origins.insert(req_path.to_string(), origin.to_vec());
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                record(x, &child(req_path, k), &key(origin, k), origins);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                record(
                    x,
                    &format!("{req_path}[{i}]"),
                    &with(origin, Seg::Index(i)),
                    origins,
                );
            }
        }
        _ => {}
    }
}

fn forget(origins: &mut Origins, req_path: &str) {
    origins.retain(|k, _| {
        !(k == req_path
            || k.strip_prefix(req_path)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('[')))
    });
}

/// Deep merge: objects merge key by key, anything else replaces.
fn merge(base: &mut Value, over: &Value, over_path: &[Seg], req_path: &str, origins: &mut Origins) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                let rp = child(req_path, k);
                let op = key(over_path, k);
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => {
                        merge(slot, v, &op, &rp, origins)
                    }
                    _ => {
                        forget(origins, &rp);
                        record(v, &rp, &op, origins);
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => {
            forget(origins, req_path);
            record(o, req_path, over_path, origins);
            *b = o.clone();
        }
    }
}

/// A problem found while reading a suite, before its file and location
/// are attached.
pub(super) struct Problem {
    pub(super) path: JPath,
    pub(super) message: String,
    pub(super) help: Option<String>,
}

pub(super) fn problem(path: JPath, message: impl Into<String>) -> Problem {
    Problem {
        path,
        message: message.into(),
        help: None,
    }
}

/// A parsed case, ready to run.
pub(super) struct Case {
    pub(super) name: String,
    pub(super) path: JPath,
    pub(super) request: Value,
    pub(super) origins: Origins,
    pub(super) expect: Expectation,
}

/// The suite file, parsed.
pub(super) struct Suite<'a> {
    pub(super) file: String,
    pub(super) text: &'a str,
    /// Where each value of `text` is, built on the first error.
    pub(super) positions: std::cell::OnceCell<super::json_pos::Index>,
    pub(super) root: &'a Map<String, Value>,
    pub(super) fixtures: BTreeMap<&'static str, &'a Map<String, Value>>,
}

impl<'a> Suite<'a> {
    pub(super) fn error(&self, p: Problem) -> SuiteError {
        let pos = self
            .positions
            .get_or_init(|| super::json_pos::Index::build(self.text))
            .line_col(self.text, &p.path);
        SuiteError {
            file: self.file.clone(),
            path: path_string(&p.path),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            message: p.message,
            help: p.help,
        }
    }

    /// Resolves a request part: a fixture reference (a name, or an object
    /// with `$fixture` plus overrides) or a literal object.
    fn part(
        &self,
        kind: Kind,
        spec: &Value,
        spec_path: &[Seg],
        req_path: &str,
        origins: &mut Origins,
        depth: usize,
    ) -> Result<Value, Problem> {
        let (name, name_path, overrides) = match spec {
            Value::String(s) => (s.as_str(), spec_path.to_vec(), None),
            Value::Object(o) if o.contains_key("$fixture") => match o.get("$fixture") {
                Some(Value::String(s)) => (s.as_str(), key(spec_path, "$fixture"), Some(o)),
                _ => {
                    return Err(problem(
                        key(spec_path, "$fixture"),
                        "`$fixture` must be the name of a fixture (a string)",
                    ))
                }
            },
            other => {
                record(other, req_path, spec_path, origins);
                return Ok(other.clone());
            }
        };
        if depth > MAX_FIXTURE_DEPTH {
            return Err(problem(
                name_path,
                format!("fixture `{name}` extends itself (directly or through others)"),
            ));
        }
        let map = self.fixtures.get(kind.fixtures_key());
        let Some(fixture) = map.and_then(|m| m.get(name)) else {
            let mut p = problem(
                name_path,
                format!("unknown {} fixture `{name}`", kind.request_key()),
            );
            p.help = match map {
                Some(m) => did_you_mean(name, m.keys().map(String::as_str)),
                None => Some(format!(
                    "define it under `fixtures.{}`",
                    kind.fixtures_key()
                )),
            };
            return Err(p);
        };
        let mut base = self.part(
            kind,
            fixture,
            &fixture_path(kind, name),
            req_path,
            origins,
            depth + 1,
        )?;
        if let Some(o) = overrides {
            for (k, v) in o.iter().filter(|(k, _)| k.as_str() != "$fixture") {
                let over = json!({ k.clone(): v.clone() });
                merge(&mut base, &over, spec_path, req_path, origins);
            }
        }
        Ok(base)
    }

    /// Adds one top-level request key to `req`.
    fn place(
        &self,
        req: &mut Map<String, Value>,
        k: &str,
        v: &Value,
        path: &[Seg],
        origins: &mut Origins,
    ) -> Result<(), Problem> {
        if k == "now" {
            let mut p = problem(path.to_vec(), "`now` does not go in the request");
            p.help = Some("set `now` on the case or on the suite".into());
            return Err(p);
        }
        if v.is_null() {
            req.remove(k);
            forget(origins, k);
            return Ok(());
        }
        if let Some(kind) = Kind::of_request_key(k) {
            let is_ref = v.is_string() || v.get("$fixture").is_some();
            match req.get_mut(k) {
                Some(existing) if !is_ref && v.is_object() && existing.is_object() => {
                    merge(existing, v, path, k, origins);
                }
                _ => {
                    forget(origins, k);
                    let value = self.part(kind, v, path, k, origins, 0)?;
                    req.insert(k.to_string(), value);
                }
            }
            return Ok(());
        }
        forget(origins, k);
        let value = match (k, v) {
            ("action", Value::String(name)) => {
                origins.insert("action".into(), path.to_vec());
                origins.insert("action.name".into(), path.to_vec());
                json!({ "name": name })
            }
            _ => {
                record(v, k, path, origins);
                v.clone()
            }
        };
        req.insert(k.to_string(), value);
        Ok(())
    }

    /// Reads the fixtures and checks the shape of `defaults` and `now`,
    /// adding what is wrong to `errors`; returns the cases (none when
    /// `cases` is not an array of them).
    pub(super) fn read_body(&mut self, errors: &mut Vec<SuiteError>) -> &'a [Value] {
        let root = self.root;
        // Fixtures.
        match root.get("fixtures") {
            None => {}
            Some(Value::Object(f)) => {
                let kinds: Vec<&str> = KINDS.iter().map(|k| k.fixtures_key()).collect();
                if let Err(p) = check_keys(f, &kinds, &[Seg::Key("fixtures".into())], "`fixtures`")
                {
                    errors.push(self.error(p));
                }
                for kind in KINDS {
                    match f.get(kind.fixtures_key()) {
                        None => {}
                        Some(Value::Object(m)) => {
                            for (n, v) in m {
                                if !v.is_object() {
                                    errors.push(self.error(problem(
                                        fixture_path(kind, n),
                                        format!("fixture `{n}` must be an object"),
                                    )));
                                }
                            }
                            self.fixtures.insert(kind.fixtures_key(), m);
                        }
                        Some(_) => errors.push(self.error(problem(
                            fixtures_path(kind),
                            "must be an object of named fixtures",
                        ))),
                    }
                }
            }
            Some(_) => errors.push(self.error(problem(
                vec![Seg::Key("fixtures".into())],
                "`fixtures` must be an object",
            ))),
        }
        if root.get("defaults").is_some_and(|d| !d.is_object()) {
            errors.push(self.error(problem(
                vec![Seg::Key("defaults".into())],
                "`defaults` must be an object (a partial request)",
            )));
        }
        if root.get("now").is_some_and(|n| !n.is_string()) {
            errors.push(self.error(problem(
                vec![Seg::Key("now".into())],
                "`now` must be an RFC 3339 time string",
            )));
        }
        match root.get("cases") {
            Some(Value::Array(c)) => c.as_slice(),
            other => {
                errors.push(self.error(problem(
                    if other.is_some() {
                        vec![Seg::Key("cases".into())]
                    } else {
                        Vec::new()
                    },
                    "a suite needs `cases`, an array of cases",
                )));
                &[]
            }
        }
    }
}

pub(super) fn check_keys(
    o: &Map<String, Value>,
    allowed: &[&str],
    path: &[Seg],
    what: &str,
) -> Result<(), Problem> {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            let mut p = problem(key(path, k), format!("unknown key `{k}` in {what}"));
            p.help = did_you_mean(k, allowed.iter().copied())
                .or_else(|| Some(format!("expected one of {}", quoted(allowed))));
            return Err(p);
        }
    }
    Ok(())
}

const REASONS: [Reason; 7] = [
    Reason::Granted,
    Reason::RequirementsMissing,
    Reason::InvalidRequest,
    Reason::Forbidden,
    Reason::Expired,
    Reason::NotYetActive,
    Reason::NoMatchingRule,
];

fn string_list(v: &Value, path: &[Seg]) -> Result<Vec<String>, Problem> {
    let Value::Array(items) = v else {
        return Err(problem(path.to_vec(), "must be an array of strings"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| problem(with(path, Seg::Index(i)), "must be a string"))
        })
        .collect()
}

fn parse_expect(v: &Value, path: &[Seg], bundle: &Bundle) -> Result<Expectation, Problem> {
    let Value::Object(o) = v else {
        return Err(problem(
            path.to_vec(),
            "`expect` must be an object with a `decision`",
        ));
    };
    check_keys(
        o,
        &[
            "decision",
            "reason",
            "rule",
            "task",
            "needs",
            "expires_at",
            "obligations",
        ],
        path,
        "`expect`",
    )?;
    let mut e = Expectation::default();
    let decision_path = key(path, "decision");
    e.decision = Some(match o.get("decision").and_then(Value::as_str) {
        Some("allow") => Effect::Allow,
        Some("deny") => Effect::Deny,
        Some("step_up") => Effect::StepUp,
        Some(other) => {
            let mut p = problem(decision_path, format!("unknown decision `{other}`"));
            p.help = did_you_mean(other, ["allow", "deny", "step_up"])
                .or_else(|| Some("expected `allow`, `deny` or `step_up`".into()));
            return Err(p);
        }
        None => {
            return Err(problem(
                if o.contains_key("decision") {
                    decision_path
                } else {
                    path.to_vec()
                },
                "`expect.decision` must be `allow`, `deny` or `step_up`",
            ))
        }
    });
    if let Some(r) = o.get("reason") {
        let rp = key(path, "reason");
        let name = r
            .as_str()
            .ok_or_else(|| problem(rp.clone(), "`reason` must be a string"))?;
        let Some(reason) = REASONS.into_iter().find(|x| x.as_str() == name) else {
            let mut p = problem(rp, format!("unknown reason `{name}`"));
            p.help = did_you_mean(name, REASONS.iter().map(|r| r.as_str()));
            return Err(p);
        };
        let fits = matches!(
            (e.decision, reason),
            (Some(Effect::Allow), Reason::Granted)
                | (Some(Effect::StepUp), Reason::RequirementsMissing)
                | (
                    Some(Effect::Deny),
                    Reason::InvalidRequest
                        | Reason::Forbidden
                        | Reason::Expired
                        | Reason::NotYetActive
                        | Reason::NoMatchingRule
                )
        );
        if !fits {
            return Err(problem(
                rp,
                format!(
                    "reason `{name}` never comes with decision `{}`",
                    e.decision.map_or("", effect_str)
                ),
            ));
        }
        e.reason = Some(reason);
    }
    if let Some(r) = o.get("rule") {
        let ids = bundle.rule_ids();
        e.rule = Some(declared_name(r, key(path, "rule"), "rule", ids)?);
    }
    if let Some(t) = o.get("task") {
        let img = bundle.image();
        let names = img.tasks.iter().map(|t| img.string(t.name));
        e.task = Some(declared_name(t, key(path, "task"), "task", names)?);
    }
    if let Some(n) = o.get("needs") {
        e.needs = Some(string_list(n, &key(path, "needs"))?);
    }
    if let Some(x) = o.get("expires_at") {
        let xp = key(path, "expires_at");
        e.expires_at = Some(match x {
            Value::Null => None,
            Value::String(s) => {
                Time::parse(s).map_err(|m| problem(xp.clone(), m))?;
                Some(s.clone())
            }
            _ => {
                return Err(problem(
                    xp,
                    "`expires_at` must be an RFC 3339 time or `null`",
                ))
            }
        });
    }
    if let Some(ob) = o.get("obligations") {
        let op = key(path, "obligations");
        let Value::Array(items) = ob else {
            return Err(problem(op, "`obligations` must be an array"));
        };
        let mut list = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let ip = with(&op, Seg::Index(i));
            let Value::Object(io) = item else {
                return Err(problem(
                    ip,
                    "an obligation is `{\"kind\": ..., \"target\": ...}`",
                ));
            };
            check_keys(io, &["kind", "target"], &ip, "an obligation")?;
            let field = |f: &str| {
                io.get(f)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| problem(key(&ip, f), format!("`{f}` must be a string")))
            };
            list.push(Obligation {
                kind: field("kind")?,
                target: field("target")?,
            });
        }
        e.obligations = Some(list);
    }
    Ok(e)
}

/// `v` as the name of one of the policy's rules or tasks (`what`), with a
/// did-you-mean when it names none of `declared`.
fn declared_name<'b>(
    v: &Value,
    path: JPath,
    what: &str,
    declared: impl Iterator<Item = &'b str>,
) -> Result<String, Problem> {
    let Some(name) = v.as_str() else {
        return Err(problem(
            path,
            format!("`{what}` must be a string naming a {what}"),
        ));
    };
    let declared: Vec<&str> = declared.collect();
    if declared.contains(&name) {
        return Ok(name.to_string());
    }
    let mut p = problem(path, format!("the policy has no {what} `{name}`"));
    p.help = did_you_mean(name, declared.iter().copied());
    Err(p)
}

/// The origin of `req_path` (or its closest recorded ancestor).
pub(super) fn origin_of(origins: &Origins, req_path: &str) -> Option<JPath> {
    let mut p = req_path.to_string();
    loop {
        if let Some(o) = origins.get(&p) {
            return Some(o.clone());
        }
        let cut = p.rfind(['.', '['])?;
        p.truncate(cut);
    }
}

pub(super) fn parse_case(
    suite: &Suite<'_>,
    i: usize,
    v: &Value,
    bundle: &Bundle,
    names: &mut BTreeSet<String>,
) -> Result<Case, (String, Problem)> {
    let path = vec![Seg::Key("cases".into()), Seg::Index(i)];
    let fallback = format!("cases[{i}]");
    let Value::Object(o) = v else {
        return Err((
            fallback,
            problem(
                path,
                "a case must be an object with `name`, `request` and `expect`",
            ),
        ));
    };
    let name = match o.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => {
            return Err((
                fallback,
                problem(key(&path, "name"), "`name` must be a non-empty string"),
            ))
        }
        None => return Err((fallback, problem(path, "the case has no `name`"))),
    };
    let err = |p: Problem| (name.clone(), p);
    check_keys(
        o,
        &["name", "description", "now", "request", "expect"],
        &path,
        "a case",
    )
    .map_err(err)?;
    if !names.insert(name.clone()) {
        return Err(err(problem(
            key(&path, "name"),
            format!("another case is already named `{name}`"),
        )));
    }
    let expect = match o.get("expect") {
        Some(e) => parse_expect(e, &key(&path, "expect"), bundle).map_err(err)?,
        None => return Err(err(problem(path, "the case has no `expect`"))),
    };
    let mut origins = Origins::new();
    let mut req = Map::new();
    if let Some(Value::Object(d)) = suite.root.get("defaults") {
        for (k, v) in d {
            suite
                .place(
                    &mut req,
                    k,
                    v,
                    &[Seg::Key("defaults".into()), Seg::Key(k.clone())],
                    &mut origins,
                )
                .map_err(err)?;
        }
    }
    let rpath = key(&path, "request");
    match o.get("request") {
        Some(Value::Object(r)) => {
            for (k, v) in r {
                suite
                    .place(&mut req, k, v, &key(&rpath, k), &mut origins)
                    .map_err(err)?;
            }
        }
        Some(_) => return Err(err(problem(rpath, "`request` must be an object"))),
        None => {
            if !suite.root.contains_key("defaults") {
                return Err(err(problem(path, "the case has no `request`")));
            }
        }
    }
    let now = match (o.get("now"), suite.root.get("now")) {
        (Some(n), _) => (n, key(&path, "now")),
        (None, Some(n)) => (n, vec![Seg::Key("now".into())]),
        (None, None) => {
            let mut p = problem(path, "the case has no `now`");
            p.help = Some("set `now` on the case or on the suite".into());
            return Err(err(p));
        }
    };
    if !now.0.is_string() {
        return Err(err(problem(now.1, "`now` must be an RFC 3339 time string")));
    }
    origins.insert("now".into(), now.1);
    req.insert("now".into(), now.0.clone());
    Ok(Case {
        name,
        path,
        request: Value::Object(req),
        origins,
        expect,
    })
}

/// The keys a suite may have.
pub(super) const SUITE_KEYS: [&str; 7] = [
    "name",
    "description",
    "package",
    "now",
    "fixtures",
    "defaults",
    "cases",
];

/// The suite's text as a JSON object, or the 1-based line and column and
/// the message of why it is not one (not JSON, or an object repeats a
/// key).
pub(super) fn parse_suite(text: &str) -> Result<Map<String, Value>, (usize, usize, String)> {
    match jitp_runtime::parse_unique(text, "the suite") {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err((
            1,
            1,
            "a suite must be a JSON object with `cases`".to_string(),
        )),
        // serde_json counts the position after a final newline as
        // column 0; columns here are 1-based.
        Err(e) => Err((
            e.line().max(1),
            e.column().max(1),
            format!("the suite is not valid JSON: {}", strip_position(&e)),
        )),
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

pub(super) fn suite_name(path: &Path, given: Option<&str>) -> String {
    given.map(str::to_string).unwrap_or_else(|| {
        let n = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        n.strip_suffix(SUITE_SUFFIX).unwrap_or(n).to_string()
    })
}

pub(super) fn read_suite(path: &Path) -> Result<String, String> {
    // Only a regular file, and never more than the cap, whatever it claims.
    let bytes = crate::driver::read_capped(path, MAX_SUITE_BYTES).map_err(|e| e.message)?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the suite is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}
