//! Request binding: AuthZEN-shaped JSON to a [`BoundRequest`] of slots.
//!
//! Binding resolves every field to its slot once, interns strings against
//! the bundle (equal strings get equal ids, so comparing them is an integer
//! compare), dedupes sets and checks every type. An ill-typed or incomplete
//! request is an error naming the offending field; deciding it gives
//! `deny` / `invalid_request`.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

use crate::bundle::{Bundle, FieldLayout, TypeDesc, MAX_SLOTS};
use crate::error::{RequestError, RequestErrorKind as K};
use crate::json::{too_deep, within_depth, At, Json, JsonObject};
use crate::val::{Arena, SetRef, Val};
use crate::value::{
    approver_key, canonical_identity, parse_ip, Cidr, Clip, Decimal, Duration, Time,
};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Largest request text accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Deepest nesting of objects and arrays accepted in a request.
pub const MAX_REQUEST_DEPTH: usize = 32;

/// A request bound to one bundle's slots. Deciding it allocates nothing.
#[derive(Clone, Debug)]
pub struct BoundRequest {
    pub(crate) fingerprint: u64,
    pub(crate) slots: Vec<Val>,
    /// The strings the request brings that the bundle lacks, one after
    /// the other (one allocation rather than one each); string id
    /// `bundle strings + i` is `text[spans[i].0..spans[i].1]`.
    pub(crate) text: String,
    pub(crate) spans: Vec<(usize, usize)>,
    pub(crate) sets: Vec<Val>,
    pub(crate) principal_type: u32,
    pub(crate) resource_type: u32,
    pub(crate) action: u32,
    pub(crate) task: Option<u32>,
    pub(crate) started_at: i64,
    pub(crate) now: i64,
}

type R<T> = Result<T, RequestError>;

/// The error for a fact verification guarantees (a layout that disagrees
/// with itself): a bug in jitp if it happens, asserted in debug builds.
fn inconsistent(path: impl Into<String>, message: impl Into<String>) -> RequestError {
    let message = message.into();
    invariant!(false, "a verified bundle is inconsistent: {message}");
    RequestError::new(K::Inconsistent, path, message)
}

/// The kind of error for a required value that is not of the expected
/// type: missing when absent or null, else of the wrong type.
fn kind_of(v: Option<&Json<'_>>, expected: &'static str) -> K {
    match v {
        None | Some(Json::Null) => K::MissingField,
        Some(_) => K::WrongType { expected },
    }
}

/// `; did you mean `x`?` when one of `candidates` is within a small edit
/// distance of the unknown name `name`, else empty (names over 64
/// characters are not compared: the cost stays bounded whatever the
/// request holds). The decision service suggests task and type names with
/// it too.
pub fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    const LONGEST: usize = 64;
    let name: Vec<char> = name.chars().collect();
    if name.is_empty() || name.len() > LONGEST {
        return String::new();
    }
    let allowed = (name.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let other: Vec<char> = c.chars().collect();
        if other.len() > LONGEST || other.len().abs_diff(name.len()) > allowed {
            continue;
        }
        let d = edit_distance(&name, &other);
        if d <= allowed && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map_or(String::new(), |(_, c)| format!("; did you mean `{c}`?"))
}

/// Levenshtein distance, one row at a time.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = i;
        let mut left = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let up = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let here = if ca == cb {
                diagonal
            } else {
                diagonal.min(up).min(left).saturating_add(1)
            };
            diagonal = up;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = here;
            }
            left = here;
        }
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
    }
    row.last().copied().unwrap_or(0)
}

/// The error for member `key` of the object at `parent` (the request
/// itself when empty), which the schema does not have; `candidates` are
/// the members it does have, for a did-you-mean.
fn unknown_field<'a, T>(
    parent: &str,
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> R<T> {
    let hint = suggestion(key, candidates);
    let key = Clip(key);
    if parent.is_empty() {
        fail(
            K::UnknownField,
            key.to_string(),
            format!("unknown request field `{key}`{hint}"),
        )
    } else {
        fail(
            K::UnknownField,
            format!("{parent}.{key}"),
            format!("unknown field `{parent}.{key}`{hint}"),
        )
    }
}

fn fail<T>(kind: K, path: impl Into<String>, message: impl Into<String>) -> R<T> {
    Err(RequestError::new(kind, path, message))
}

/// The request's top-level object, or the error for a request that is
/// not one.
fn request_object<'j, 'a>(json: &'j Json<'a>) -> R<&'j JsonObject<'a>> {
    json.as_object().ok_or_else(|| {
        RequestError::new(
            K::WrongType {
                expected: "an object",
            },
            "",
            "the request must be a JSON object",
        )
    })
}

/// [`canonical_identity`] of the identity at `path`, or the error naming
/// it.
fn identity<'s>(s: &'s str, path: impl Fn() -> String) -> R<Cow<'s, str>> {
    canonical_identity(s).map_err(|why| {
        let path = path();
        RequestError::new(
            K::InvalidValue,
            path.clone(),
            format!("`{path}` is not a valid identity: {why}"),
        )
    })
}

/// Sorts the set that starts at `start` (the arena's tail) and drops its
/// duplicates: request sets are kept sorted so set operations can search
/// them.
fn sort_dedup_tail(arena: &mut Vec<Val>, start: usize) {
    let Some(tail) = arena.get_mut(start..) else {
        return;
    };
    tail.sort_unstable();
    let mut kept = 0usize;
    for read in 0..tail.len() {
        let cur = tail.get(read).copied();
        let prev = kept.checked_sub(1).and_then(|p| tail.get(p)).copied();
        if let Some(cur) = cur.filter(|c| prev != Some(*c)) {
            if let Some(slot) = tail.get_mut(kept) {
                *slot = cur;
            }
            kept += 1;
        }
    }
    arena.truncate(start + kept);
}

/// Up to this many request-only strings are deduplicated by a scan, which
/// is faster than hashing for the handful a typical request carries.
const LOCAL_SCAN_LIMIT: usize = 16;

/// The members a request may have.
const REQUEST_MEMBERS: [&str; 7] = [
    "subject", "action", "resource", "context", "task", "evidence", "now",
];

/// A request's top-level members: its own, then each member of the
/// defaults it does not set (an AuthZEN batch item and the batch's shared
/// members).
#[derive(Copy, Clone)]
struct Members<'j, 'a> {
    own: &'j JsonObject<'a>,
    defaults: Option<&'j JsonObject<'a>>,
}

impl<'j, 'a> Members<'j, 'a> {
    fn get(self, key: &str) -> Option<&'j Json<'a>> {
        self.own
            .get(key)
            .or_else(|| self.defaults.and_then(|d| d.get(key)))
    }

    /// Every key, own and default (a key in both comes twice).
    fn keys(self) -> impl Iterator<Item = &'j str> {
        self.own
            .iter()
            .chain(self.defaults.into_iter().flat_map(|d| d.iter()))
            .map(|(k, _)| k.as_ref())
    }
}

struct Binder<'a> {
    bundle: &'a Bundle,
    req: BoundRequest,
    /// Index of the strings the request brings that the bundle lacks
    /// (`req.strings`), built once there are more than
    /// [`LOCAL_SCAN_LIMIT`]; fewer are found by a scan. The request fills
    /// this table, so it uses the standard keyed hasher: with an unkeyed
    /// one, crafted colliding strings would make binding quadratic.
    local_strings: HashMap<String, u32>,
}

impl Bundle {
    /// Parses and binds a request given as JSON text. An object that
    /// repeats a key, at any level, is refused
    /// ([`RequestErrorKind::DuplicateKey`](crate::RequestErrorKind)).
    pub fn bind_str(&self, text: &str) -> Result<BoundRequest, RequestError> {
        if text.len() > MAX_REQUEST_BYTES {
            return fail(
                K::TooLarge {
                    limit: MAX_REQUEST_BYTES,
                },
                "",
                format!("the request is larger than {MAX_REQUEST_BYTES} bytes"),
            );
        }
        let json = Json::parse(text, MAX_REQUEST_DEPTH)?;
        self.bind_tree(&json)
    }

    /// Binds a request parsed with [`Json::parse`] (and perhaps edited
    /// since). Nesting deeper than [`MAX_REQUEST_DEPTH`] is refused, as
    /// [`Bundle::bind_str`] refuses it.
    pub fn bind_json(&self, json: &Json<'_>) -> Result<BoundRequest, RequestError> {
        // An object holds no repeated key (parsing refused them, and
        // `JsonObject::insert` replaces): only the depth is left to check.
        if !within_depth(json, MAX_REQUEST_DEPTH) {
            return Err(too_deep(MAX_REQUEST_DEPTH));
        }
        self.bind_tree(json)
    }

    /// Binds an item of an AuthZEN batch (`/access/v1/evaluations`):
    /// the members `item` sets, and each member of `defaults` it does not
    /// set, taken whole (`item`'s `resource` replaces the default
    /// `resource`; nothing is merged inside a member). The same as binding
    /// the combined request with [`Bundle::bind_json`], without building it.
    pub fn bind_json_with_defaults(
        &self,
        item: &Json<'_>,
        defaults: &JsonObject<'_>,
    ) -> Result<BoundRequest, RequestError> {
        let own = request_object(item)?;
        // A default member sits one level below the request's root. One
        // the item replaces is not part of the request; an item with more
        // keys than there are members is refused anyway, so its defaults
        // are all checked rather than searched for one by one.
        let replaced = |k: &str| own.len() <= REQUEST_MEMBERS.len() && own.contains_key(k);
        if !within_depth(item, MAX_REQUEST_DEPTH)
            || defaults
                .iter()
                .any(|(k, v)| !replaced(k) && !within_depth(v, MAX_REQUEST_DEPTH - 1))
        {
            return Err(too_deep(MAX_REQUEST_DEPTH));
        }
        self.bind_members(Members {
            own,
            defaults: Some(defaults),
        })
    }

    /// Binds a parsed request.
    ///
    /// A `serde_json::Value` cannot hold a repeated key: its parser kept
    /// the last one silently, so this cannot refuse
    /// `{"risk": 99, "risk": 10}` the way [`Bundle::bind_str`] does. A
    /// caller that parses request JSON itself owns that check (a proxy and
    /// jitp reading different `risk`s decide different requests); pass the
    /// text to `bind_str` to have jitp make it, or parse it with
    /// [`Json::parse`] and bind it with [`Bundle::bind_json`]. Nesting
    /// deeper than [`MAX_REQUEST_DEPTH`] is refused before anything else
    /// reads the value, however deep it is.
    ///
    /// A `serde_json::Value` keeps a number with a fraction as a binary
    /// floating-point value, so a `Decimal` given as a JSON number is read
    /// from its shortest floating-point form: `1.5e2` reads as `150.0`, and
    /// a number with more than 15 significant digits may already have been
    /// rounded by the parser. [`Bundle::bind_str`] reads the number as
    /// written; here, give decimals as strings (`"12.50"`) to keep them
    /// exact.
    pub fn bind(&self, json: &serde_json::Value) -> Result<BoundRequest, RequestError> {
        // A `Value` holds no repeated key, and the conversion bounds the
        // depth: nothing is left to check.
        let Some(json) = Json::from_value(json, MAX_REQUEST_DEPTH) else {
            return Err(too_deep(MAX_REQUEST_DEPTH));
        };
        self.bind_tree(&json)
    }

    /// Binds a tree whose shape is checked (no repeated key, bounded depth).
    fn bind_tree(&self, json: &Json<'_>) -> Result<BoundRequest, RequestError> {
        self.bind_members(Members {
            own: request_object(json)?,
            defaults: None,
        })
    }

    /// Binds a request given as its members.
    fn bind_members(&self, json: Members<'_, '_>) -> Result<BoundRequest, RequestError> {
        let mut b = Binder {
            bundle: self,
            req: BoundRequest {
                fingerprint: self.lookup.fingerprint,
                slots: vec![Val::Absent; self.img.schema.slot_count.min(MAX_SLOTS) as usize],
                // Room for the handful of strings a typical request brings.
                text: String::with_capacity(256),
                spans: Vec::new(),
                sets: Vec::new(),
                principal_type: 0,
                resource_type: 0,
                action: 0,
                task: None,
                started_at: 0,
                now: 0,
            },
            local_strings: HashMap::new(),
        };
        b.request(json)?;
        Ok(b.req)
    }
}

impl Binder<'_> {
    fn set(&mut self, slot: u32, v: Val) -> R<()> {
        match self.req.slots.get_mut(slot as usize) {
            Some(s) => {
                *s = v;
                Ok(())
            }
            None => Err(inconsistent("", "the bundle's layout is inconsistent")),
        }
    }

    fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.bundle.string_id(s) {
            return id;
        }
        let base = self.bundle.img.strings.len();
        let BoundRequest { text, spans, .. } = &mut self.req;
        let local = |&(start, end): &(usize, usize)| text.get(start..end).unwrap_or_default();
        let found = if spans.len() <= LOCAL_SCAN_LIMIT {
            spans
                .iter()
                .position(|sp| local(sp) == s)
                .map(|i| (base + i) as u32)
        } else {
            self.local_strings.get(s).copied()
        };
        if let Some(id) = found {
            return id;
        }
        let id = (base + spans.len()) as u32;
        let start = text.len();
        text.push_str(s);
        spans.push((start, text.len()));
        if spans.len() > LOCAL_SCAN_LIMIT {
            // Index what is not yet indexed: everything when crossing the
            // limit, the new string after that.
            let indexed = self.local_strings.len();
            for (i, sp) in spans.iter().enumerate().skip(indexed) {
                let t = text.get(sp.0..sp.1).unwrap_or_default();
                self.local_strings.insert(t.to_string(), (base + i) as u32);
            }
        }
        id
    }

    fn request(&mut self, json: Members<'_, '_>) -> R<()> {
        for k in json.keys() {
            if !REQUEST_MEMBERS.contains(&k) {
                return unknown_field("", k, REQUEST_MEMBERS);
            }
        }
        let (ptype, principal_id) = self.entity(json.get("subject"), "subject", true)?;
        let action_obj = json
            .get("action")
            .filter(|a| a.as_object().is_some())
            .ok_or_else(|| {
                RequestError::new(
                    kind_of(json.get("action"), "an object"),
                    "action",
                    "`action` must be an object with a `name`",
                )
            })?;
        if let Some((k, _)) = action_obj
            .as_object()
            .map(JsonObject::entries)
            .unwrap_or(&[])
            .iter()
            .find(|(k, _)| k != "name")
        {
            return unknown_field("action", k, []);
        }
        let action_name = action_obj
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| {
                RequestError::new(
                    kind_of(action_obj.get("name"), "a string"),
                    "action.name",
                    "`action.name` must be a string",
                )
            })?;
        let bundle = self.bundle;
        let action = bundle.named(1, action_name).ok_or_else(|| {
            RequestError::new(
                K::UnknownName,
                "action.name",
                format!("unknown action `{}`", Clip(action_name)),
            )
        })?;
        let (rtype, _) = self.entity(json.get("resource"), "resource", false)?;
        let meta = bundle
            .img
            .actions
            .get(action as usize)
            .ok_or_else(|| inconsistent("", "the bundle's actions are inconsistent"))?;
        if !meta.on.contains(&rtype) {
            let rname = bundle
                .img
                .schema
                .entities
                .get(rtype as usize)
                .map_or("", |e| bundle.string(e.name));
            invariant!(!rname.is_empty(), "resource type {rtype} out of range");
            return fail(
                K::NotApplicable,
                "action.name",
                format!("action `{action_name}` does not apply to resource type `{rname}`"),
            );
        }
        self.req.principal_type = ptype;
        self.req.resource_type = rtype;
        self.req.action = action;
        let sp = bundle.img.schema.special.clone();
        self.set(sp.action, Val::Str(meta.name))?;

        let empty = Json::Obj(JsonObject::new());
        let (ctx_rec, ctx_base) = bundle.img.schema.context;
        let ctx = json
            .get("context")
            .filter(|c| !c.is_null())
            .unwrap_or(&empty);
        self.record(ctx_rec, ctx, ctx_base, &At::Root("context"))?;
        let (ev_rec, ev_base) = bundle.img.schema.evidence;
        let ev = json
            .get("evidence")
            .filter(|c| !c.is_null())
            .unwrap_or(&empty);
        self.record(ev_rec, ev, ev_base, &At::Root("evidence"))?;

        let now = json.get("now").and_then(Json::as_str).ok_or_else(|| {
            RequestError::new(
                kind_of(json.get("now"), "an RFC 3339 time string"),
                "now",
                "`now` must be an RFC 3339 time string",
            )
        })?;
        let now = Time::parse(now)
            .map_err(|e| RequestError::new(K::InvalidValue, "now", format!("`now`: {e}")))?
            .0;
        self.req.now = now;
        self.set(sp.now, Val::Time(now))?;

        match json.get("task") {
            None | Some(Json::Null) => {}
            Some(t) => self.task(t, &approver_key(&principal_id))?,
        }
        Ok(())
    }

    /// Binds `task.params` against the named task's declared parameters: a
    /// task without `params` takes none; one with them requires its
    /// non-optional parameters (an absent `params` is an empty object).
    fn task_params(&mut self, t: &Json, task: u32, tname: u32) -> R<()> {
        let bundle = self.bundle;
        let given = t.get("params").filter(|p| !p.is_null());
        let entry = bundle
            .img
            .schema
            .task_params
            .iter()
            .find(|(tk, _, _)| *tk == task);
        match (entry, given) {
            (Some(&(_, rec, base)), given) => {
                let empty = Json::Obj(JsonObject::new());
                self.record(rec, given.unwrap_or(&empty), base, &At::Root("task.params"))
            }
            (None, None) => Ok(()),
            (None, Some(p)) if p.as_object().is_some_and(|o| o.is_empty()) => Ok(()),
            (None, Some(_)) => fail(
                K::UnknownField,
                "task.params",
                format!(
                    "task `{}` declares no parameters",
                    Clip(bundle.string(tname))
                ),
            ),
        }
    }

    /// Binds `task`; `principal_key` is the principal's [`approver_key`].
    fn task(&mut self, t: &Json, principal_key: &str) -> R<()> {
        let entries = t.as_object().ok_or_else(|| {
            RequestError::new(
                K::WrongType {
                    expected: "an object",
                },
                "task",
                "`task` must be an object",
            )
        })?;
        for (k, _) in entries {
            const KEYS: [&str; 5] = ["name", "id", "started_at", "approvals", "params"];
            if !KEYS.contains(&k.as_ref()) {
                return unknown_field("task", k, KEYS);
            }
        }
        let name = t.get("name").and_then(Json::as_str).ok_or_else(|| {
            RequestError::new(
                kind_of(t.get("name"), "a string"),
                "task.name",
                "`task.name` must be a string",
            )
        })?;
        let task = self.bundle.named(2, name).ok_or_else(|| {
            RequestError::new(
                K::UnknownName,
                "task.name",
                format!("unknown task `{}`", Clip(name)),
            )
        })?;
        let id = match t.get("id") {
            None | Some(Json::Null) => "",
            Some(Json::Str(s)) => s.as_ref(),
            Some(_) => {
                return fail(
                    K::WrongType {
                        expected: "a string",
                    },
                    "task.id",
                    "`task.id` must be a string",
                )
            }
        };
        let started = t.get("started_at").and_then(Json::as_str).ok_or_else(|| {
            RequestError::new(
                kind_of(t.get("started_at"), "an RFC 3339 time string"),
                "task.started_at",
                "`task.started_at` must be an RFC 3339 time string",
            )
        })?;
        let started_at = Time::parse(started).map_err(|e| {
            RequestError::new(
                K::InvalidValue,
                "task.started_at",
                format!("`task.started_at`: {e}"),
            )
        })?;
        let mut approvers: Vec<u32> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut seen: Option<HashSet<String>> = match t.get("approvals") {
            Some(Json::Arr(items)) if items.len() > 16 => Some(HashSet::new()),
            _ => None,
        };
        match t.get("approvals") {
            None | Some(Json::Null) => {}
            Some(Json::Arr(items)) => {
                for (i, a) in items.iter().enumerate() {
                    let entries = a.as_object().ok_or_else(|| {
                        RequestError::new(
                            K::WrongType {
                                expected: "an object",
                            },
                            format!("task.approvals[{i}]"),
                            format!("`task.approvals[{i}]` must be an object"),
                        )
                    })?;
                    if let Some((k, _)) = entries.iter().find(|(k, _)| k != "by" && k != "at") {
                        return unknown_field(&format!("task.approvals[{i}]"), k, []);
                    }
                    let by = a.get("by").and_then(Json::as_str).ok_or_else(|| {
                        RequestError::new(
                            kind_of(a.get("by"), "a string"),
                            format!("task.approvals[{i}].by"),
                            format!("`task.approvals[{i}].by` must be a string"),
                        )
                    })?;
                    if let Some(at) = a.get("at") {
                        let at = at.as_str().ok_or_else(|| {
                            RequestError::new(
                                K::WrongType {
                                    expected: "a time string",
                                },
                                format!("task.approvals[{i}].at"),
                                format!("`task.approvals[{i}].at` must be a time string"),
                            )
                        })?;
                        Time::parse(at).map_err(|e| {
                            RequestError::new(
                                K::InvalidValue,
                                format!("task.approvals[{i}].at"),
                                format!("`task.approvals[{i}].at`: {e}"),
                            )
                        })?;
                    }
                    let by = identity(by, || format!("task.approvals[{i}].by"))?;
                    // Self-approval never counts, nor a second approval by
                    // the same approver (both compared by approver_key).
                    let key = approver_key(&by);
                    if key != principal_key {
                        let fresh = match &mut seen {
                            Some(set) => set.insert(key),
                            None if keys.contains(&key) => false,
                            None => {
                                keys.push(key);
                                true
                            }
                        };
                        if fresh {
                            approvers.push(self.intern(&by));
                        }
                    }
                }
            }
            Some(_) => {
                return fail(
                    K::WrongType {
                        expected: "an array",
                    },
                    "task.approvals",
                    "`task.approvals` must be an array",
                )
            }
        }
        let sp = self.bundle.img.schema.special.clone();
        let tname = self
            .bundle
            .img
            .tasks
            .get(task as usize)
            .map_or(0, |t| t.name);
        self.set(sp.task_name, Val::Str(tname))?;
        let id = self.intern(id);
        self.set(sp.task_id, Val::Str(id))?;
        self.set(sp.task_started_at, Val::Time(started_at.0))?;
        self.set(sp.task_approvals, Val::Int(approvers.len() as i64))?;
        let start = self.req.sets.len() as u32;
        let len = approvers.len() as u32;
        self.req.sets.extend(approvers.into_iter().map(Val::Str));
        sort_dedup_tail(&mut self.req.sets, start as usize);
        self.set(
            sp.task_approvers,
            Val::Set(SetRef {
                arena: Arena::Request,
                start,
                len,
            }),
        )?;
        self.task_params(t, task, tname)?;
        self.req.task = Some(task);
        self.req.started_at = started_at.0;
        Ok(())
    }

    /// Binds `subject` or `resource`; returns the type and the id.
    fn entity(&mut self, json: Option<&Json<'_>>, role: &str, principal: bool) -> R<(u32, String)> {
        let obj = json.filter(|j| j.as_object().is_some()).ok_or_else(|| {
            RequestError::new(
                kind_of(json, "an object"),
                role,
                format!("`{role}` must be an object with `type` and `id`"),
            )
        })?;
        if let Some((k, _)) = obj
            .as_object()
            .map(JsonObject::entries)
            .unwrap_or(&[])
            .iter()
            .find(|(k, _)| !["type", "id", "properties"].contains(&k.as_ref()))
        {
            return unknown_field(role, k, []);
        }
        let ty = obj.get("type").and_then(Json::as_str).ok_or_else(|| {
            RequestError::new(
                kind_of(obj.get("type"), "a string"),
                format!("{role}.type"),
                format!("`{role}.type` must be a string"),
            )
        })?;
        let bundle = self.bundle;
        let eid = bundle.named(0, ty).ok_or_else(|| {
            RequestError::new(
                K::UnknownName,
                format!("{role}.type"),
                format!("unknown entity type `{}` in `{role}.type`", Clip(ty)),
            )
        })?;
        let id = obj.get("id").and_then(Json::as_str).ok_or_else(|| {
            RequestError::new(
                kind_of(obj.get("id"), "a string"),
                format!("{role}.id"),
                format!("`{role}.id` must be a string"),
            )
        })?;
        let id = identity(id, || format!("{role}.id"))?;
        let empty = Json::Obj(JsonObject::new());
        let props = match obj.get("properties") {
            None | Some(Json::Null) => &empty,
            Some(p @ Json::Obj(_)) => p,
            Some(_) => {
                return fail(
                    K::WrongType {
                        expected: "an object",
                    },
                    format!("{role}.properties"),
                    format!("`{role}.properties` must be an object"),
                )
            }
        };
        let layout = bundle
            .img
            .schema
            .entities
            .get(eid as usize)
            .ok_or_else(|| inconsistent("", "the bundle's entities are inconsistent"))?;
        let fields: &[FieldLayout] = if principal {
            &layout.as_principal
        } else {
            &layout.as_resource
        };
        for (k, _) in props.as_object().map(JsonObject::entries).unwrap_or(&[]) {
            let known = fields.iter().skip(1).any(|f| bundle.string(f.name) == k);
            if !known {
                let k = Clip(k);
                return fail(
                    K::UnknownField,
                    format!("{role}.properties.{k}"),
                    format!("unknown property `{role}.properties.{k}` of `{ty}`"),
                );
            }
        }
        let mut fields_iter = fields.iter();
        if let Some(idf) = fields_iter.next() {
            let s = self.intern(&id);
            self.set(idf.slot, Val::Str(s))?;
        }
        let root = At::Root(role);
        let at = At::Key(&root, "properties");
        for f in fields_iter {
            let name = bundle.string(f.name);
            self.value(&f.ty, props.get(name), f.slot, &At::Key(&at, name))?;
        }
        Ok((eid, id.to_string()))
    }

    fn record(&mut self, rec: u32, json: &Json<'_>, base: u32, path: &At<'_>) -> R<()> {
        let bundle = self.bundle;
        let layout = bundle
            .img
            .schema
            .records
            .get(rec as usize)
            .ok_or_else(|| inconsistent("", "the bundle's records are inconsistent"))?;
        let entries = json.as_object().ok_or_else(|| {
            RequestError::new(
                K::WrongType {
                    expected: "an object",
                },
                path.to_string(),
                format!("`{path}` must be an object"),
            )
        })?;
        for (k, _) in entries {
            if !layout.fields.iter().any(|f| bundle.string(f.name) == k) {
                return unknown_field(
                    &path.to_string(),
                    k,
                    layout.fields.iter().map(|f| bundle.string(f.name)),
                );
            }
        }
        self.set(base, Val::Present)?;
        for f in &layout.fields {
            let name = bundle.string(f.name);
            let slot = base
                .checked_add(f.slot)
                .ok_or_else(|| inconsistent("", "the bundle's layout is inconsistent"))?;
            self.value(&f.ty, json.get(name), slot, &At::Key(path, name))?;
        }
        Ok(())
    }

    fn value(&mut self, ty: &TypeDesc, json: Option<&Json<'_>>, slot: u32, path: &At<'_>) -> R<()> {
        let json = match (json, ty) {
            (None | Some(Json::Null), TypeDesc::Optional(_)) => return Ok(()),
            (None, _) => {
                return fail(
                    K::MissingField,
                    path.to_string(),
                    format!("missing `{path}`"),
                )
            }
            (Some(Json::Null), _) => {
                return fail(
                    K::Null,
                    path.to_string(),
                    format!("`{path}` must not be null"),
                )
            }
            (Some(j), _) => j,
        };
        match ty {
            TypeDesc::Optional(inner) => self.value(inner, Some(json), slot, path),
            TypeDesc::Record(r) => self.record(*r, json, slot, path),
            TypeDesc::Set(elem) => {
                let items = json.as_array().ok_or_else(|| {
                    RequestError::new(
                        K::WrongType {
                            expected: "an array",
                        },
                        path.to_string(),
                        format!("`{path}` must be an array"),
                    )
                })?;
                // Elements go straight into the arena, then are sorted and
                // deduplicated there: set operations search request sets.
                let start = self.req.sets.len();
                for (i, item) in items.iter().enumerate() {
                    let v = self.scalar(elem, item, &At::Index(path, i))?;
                    self.req.sets.push(v);
                }
                sort_dedup_tail(&mut self.req.sets, start);
                let len = (self.req.sets.len() - start) as u32;
                self.set(
                    slot,
                    Val::Set(SetRef {
                        arena: Arena::Request,
                        start: start as u32,
                        len,
                    }),
                )
            }
            _ => {
                let v = self.scalar(ty, json, path)?;
                self.set(slot, v)
            }
        }
    }

    fn scalar(&mut self, ty: &TypeDesc, json: &Json<'_>, path: &At<'_>) -> R<Val> {
        let want = |what: &'static str| {
            RequestError::new(
                K::WrongType { expected: what },
                path.to_string(),
                format!("`{path}` must be {what}"),
            )
        };
        Ok(match ty {
            TypeDesc::Bool => Val::Bool(json.as_bool().ok_or_else(|| want("a boolean"))?),
            TypeDesc::Int => Val::Int(json.as_i64().ok_or_else(|| want("a 64-bit integer"))?),
            TypeDesc::String => {
                let s = json.as_str().ok_or_else(|| want("a string"))?;
                Val::Str(self.intern(s))
            }
            TypeDesc::Time => {
                let s = json
                    .as_str()
                    .ok_or_else(|| want("an RFC 3339 time string"))?;
                Val::Time(
                    Time::parse(s)
                        .map_err(|e| {
                            RequestError::new(
                                K::InvalidValue,
                                path.to_string(),
                                format!("`{path}`: {e}"),
                            )
                        })?
                        .0,
                )
            }
            TypeDesc::Duration => {
                let s = json
                    .as_str()
                    .ok_or_else(|| want("a duration string such as \"15m\""))?;
                Val::Dur(
                    Duration::parse(s)
                        .map_err(|e| {
                            RequestError::new(
                                K::InvalidValue,
                                path.to_string(),
                                format!("`{path}`: {e}"),
                            )
                        })?
                        .0,
                )
            }
            TypeDesc::Decimal => {
                let invalid = |text: &str, e| {
                    RequestError::new(
                        K::InvalidValue,
                        path.to_string(),
                        format!("`{path}`: {}", Decimal::error_message(text, &e)),
                    )
                };
                let d = match json {
                    Json::Int(i) => Decimal::from_int(*i).ok_or_else(|| {
                        invalid(&i.to_string(), crate::value::DecimalError::OutOfRange)
                    })?,
                    Json::Number(n) => {
                        let text = n.as_str();
                        Decimal::parse(text).map_err(|e| invalid(text, e))?
                    }
                    Json::Str(text) => Decimal::parse(text).map_err(|e| invalid(text, e))?,
                    _ => return Err(want("a decimal: a number or a string such as \"12.50\"")),
                };
                Val::Dec(d.0)
            }
            TypeDesc::Ip => {
                let s = json.as_str().ok_or_else(|| want("an ip address string"))?;
                Val::Ip(parse_ip(s).map_err(|e| {
                    RequestError::new(K::InvalidValue, path.to_string(), format!("`{path}`: {e}"))
                })?)
            }
            TypeDesc::Net => {
                let s = json
                    .as_str()
                    .ok_or_else(|| want("a network string such as \"10.0.0.0/8\""))?;
                Val::Net(Cidr::parse(s).map_err(|e| {
                    RequestError::new(K::InvalidValue, path.to_string(), format!("`{path}`: {e}"))
                })?)
            }
            TypeDesc::Enum(e) => {
                let bundle = self.bundle;
                let (name, variants) = bundle
                    .img
                    .schema
                    .enums
                    .get(*e as usize)
                    .ok_or_else(|| inconsistent("", "the bundle's enums are inconsistent"))?;
                let s = json.as_str().ok_or_else(|| {
                    RequestError::new(
                        K::WrongType {
                            expected: "a variant name",
                        },
                        path.to_string(),
                        format!(
                            "`{path}` must be one of the `{}` variants",
                            bundle.string(*name)
                        ),
                    )
                })?;
                let v = variants
                    .iter()
                    .position(|v| bundle.string(*v) == s)
                    .ok_or_else(|| {
                        let all: Vec<&str> = variants.iter().map(|v| bundle.string(*v)).collect();
                        RequestError::new(
                            K::InvalidValue,
                            path.to_string(),
                            format!(
                                "`{path}`: `{}` is not a variant of `{}` ({})",
                                Clip(s),
                                bundle.string(*name),
                                all.join(", ")
                            ),
                        )
                    })?;
                Val::Enum(v as u32)
            }
            TypeDesc::Set(_) | TypeDesc::Optional(_) | TypeDesc::Record(_) => {
                return Err(inconsistent(
                    path.to_string(),
                    format!("`{path}` has an unsupported type"),
                ))
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn bundle() -> Bundle {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/rotate_secrets.jitb"
        );
        Bundle::from_file(path).expect("the fixture loads")
    }

    fn valid() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/rotate_secrets/requests/allow-rotate-in-change-window.json"
        );
        let text = std::fs::read_to_string(path).expect("request readable");
        serde_json::from_str(&text).expect("valid JSON")
    }

    /// Binds `valid()` edited by `edit`; returns the error.
    fn error(b: &Bundle, edit: impl FnOnce(&mut serde_json::Value)) -> RequestError {
        let mut v = valid();
        edit(&mut v);
        b.bind(&v).expect_err("binding should fail")
    }

    #[test]
    fn errors_carry_a_kind_and_the_path_the_message_names() {
        let b = bundle();
        b.bind(&valid()).expect("the valid request binds");
        type Edit = fn(&mut serde_json::Value);
        let cases: Vec<(Edit, K, &str)> = vec![
            (|v| v["color"] = "red".into(), K::UnknownField, "color"),
            (
                |v| v["action"]["name"] = "secrets.nuke".into(),
                K::UnknownName,
                "action.name",
            ),
            (
                |v| v["action"] = serde_json::Value::Null,
                K::MissingField,
                "action",
            ),
            (
                |v| v["action"] = 3.into(),
                K::WrongType {
                    expected: "an object",
                },
                "action",
            ),
            (
                |v| v["subject"]["type"] = "Robot".into(),
                K::UnknownName,
                "subject.type",
            ),
            (
                |v| v["subject"]["properties"]["team"] = 7.into(),
                K::WrongType {
                    expected: "a string",
                },
                "subject.properties.team",
            ),
            (
                |v| v["resource"]["properties"]["colour"] = "x".into(),
                K::UnknownField,
                "resource.properties.colour",
            ),
            (
                |v| {
                    v["context"].as_object_mut().map(|c| c.remove("risk"));
                },
                K::MissingField,
                "context.risk",
            ),
            (
                |v| v["context"]["ticket"]["status"] = "pending".into(),
                K::InvalidValue,
                "context.ticket.status",
            ),
            (
                |v| v["context"]["source_ip"] = "10.1.2".into(),
                K::InvalidValue,
                "context.source_ip",
            ),
            (
                |v| v["context"]["risk"] = serde_json::Value::Null,
                K::Null,
                "context.risk",
            ),
            (
                |v| v["task"]["approvals"][0]["by"] = 1.into(),
                K::WrongType {
                    expected: "a string",
                },
                "task.approvals[0].by",
            ),
            (|v| v["now"] = "soon".into(), K::InvalidValue, "now"),
        ];
        for (edit, kind, path) in cases {
            let e = error(&b, edit);
            assert_eq!((e.kind, e.path.as_str()), (kind, path), "{e}");
            assert_eq!(e.message(), e.to_string());
        }
    }

    #[test]
    fn whole_request_errors_have_an_empty_path() {
        let b = bundle();
        let e = b.bind_str("{\"subject\": ").expect_err("not JSON");
        assert!(matches!(e.kind, K::Syntax { line: 1, .. }), "{e:?}");
        assert_eq!(e.path, "");
        let e = b.bind_str("[1]").expect_err("not an object");
        assert_eq!(
            e.kind,
            K::WrongType {
                expected: "an object"
            }
        );
        assert_eq!(e.path, "");
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let e = b.bind_str(&deep).expect_err("too deep");
        assert_eq!(
            e.kind,
            K::TooDeep {
                limit: MAX_REQUEST_DEPTH
            }
        );
        let big = " ".repeat(MAX_REQUEST_BYTES + 1);
        let e = b.bind_str(&big).expect_err("too large");
        assert_eq!(
            e.kind,
            K::TooLarge {
                limit: MAX_REQUEST_BYTES
            }
        );
        let any: crate::Error = e.into();
        assert!(matches!(any, crate::Error::Request(_)));
    }

    #[test]
    fn a_repeated_key_is_a_duplicate_key_error_at_its_path() {
        let b = bundle();
        let text = valid().to_string();
        let risk = text.replacen("\"risk\":10", "\"risk\":99,\"risk\":10", 1);
        assert_ne!(risk, text);
        let e = b.bind_str(&risk).expect_err("repeated key");
        assert_eq!((e.kind, e.path.as_str()), (K::DuplicateKey, "context.risk"));
        assert_eq!(e.message(), "duplicate key `risk` in `context`");
        let top = format!("{{\"now\":\"x\",{}", &text[1..]);
        let e = b.bind_str(&top).expect_err("repeated key");
        assert_eq!((e.kind, e.path.as_str()), (K::DuplicateKey, "now"));
        assert_eq!(e.message(), "duplicate key `now` in the request");
    }

    #[test]
    fn identities_are_nfc_and_refuse_invisible_spellings() {
        let path = || "subject.id".to_string();
        assert_eq!(identity("bob", path).ok(), Some(Cow::Borrowed("bob")));
        assert_eq!(
            identity("bo\u{308}b", path).ok().as_deref(),
            Some("b\u{f6}b")
        );
        assert_eq!(
            identity("Bob Smith", path).ok().as_deref(),
            Some("Bob Smith")
        );
        for bad in [
            "",
            " bob",
            "bob ",
            "bob\t",
            "bob\u{0}",
            "b\u{7f}ob",
            "b\u{200b}ob",
            "b\u{2060}ob",
            "b\u{202e}ob",
            "\u{feff}bob",
            "b\u{ad}ob",
            "b\u{34f}ob",
            "b\u{e0041}ob",
            "b\u{3000}ob",
            "b\u{85}ob",
        ] {
            let e = identity(bad, path).expect_err(bad);
            assert_eq!(
                (e.kind, e.path.as_str()),
                (K::InvalidValue, "subject.id"),
                "{bad:?}"
            );
            assert!(
                e.message()
                    .starts_with("`subject.id` is not a valid identity: "),
                "{bad:?}: {e}"
            );
        }
        assert_eq!(approver_key("BoB"), approver_key("bob"));
        assert_ne!(approver_key("bob"), approver_key("rob"));
    }

    #[test]
    fn request_sets_are_sorted_and_deduplicated() {
        let mut arena = vec![
            Val::Int(7),
            Val::Int(3),
            Val::Int(1),
            Val::Int(3),
            Val::Int(1),
        ];
        sort_dedup_tail(&mut arena, 1);
        assert_eq!(arena, vec![Val::Int(7), Val::Int(1), Val::Int(3)]);
        let mut empty: Vec<Val> = vec![Val::Int(1)];
        sort_dedup_tail(&mut empty, 1);
        assert_eq!(empty, vec![Val::Int(1)]);
        let b = bundle();
        let mut v = valid();
        v["subject"]["properties"]["roles"] = serde_json::json!(["z", "a", "z", "m", "a"]);
        let approvers = v["task"]["approvals"].as_array().map_or(0, Vec::len);
        let req = b.bind(&v).expect("binds");
        // three distinct roles, then the approvers
        assert_eq!(req.sets.len(), 3 + approvers);
        let roles = &req.sets[..3];
        assert!(roles.is_sorted(), "{roles:?}");
    }
}
