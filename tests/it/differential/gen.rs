//! The generator of the differential test: random, well-typed jitp policies
//! over a fixed but rich schema, and random AuthZEN requests for them.
//!
//! Everything is a function of one `u64` seed (a SplitMix64 stream), so a
//! case can be regenerated from its seed. Policies are kept as a small model
//! (declarations, rules, typed expression trees) rather than as text, so the
//! shrinker in `differential.rs` can take them apart structurally.

// `*rng.pick(..)` is needed for inference, whatever clippy suggests
#![allow(clippy::explicit_auto_deref)]

use jitp_runtime::value::{Duration, Time};
use serde_json::{json, Map, Value as Json};
use std::fmt::Write as _;

// ---------------------------------------------------------------- knobs

/// Generator features switched off by `JITP_DIFF_SKIP` (comma-separated),
/// so that once a disagreement is known, a run can look for others. By
/// default everything is generated.
///
/// - `ip-in-net-literal`: `ip in [net, ...]` with a request value or
///   parameter among the networks (and the `inside` helper, which does that).
/// - `failing-in-literal`: `x in [a, b]` (with request values) whose items
///   are more than leaves, so that one of them can fail to evaluate.
pub fn skip(feature: &str) -> bool {
    static SKIP: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SKIP.get_or_init(|| {
        std::env::var("JITP_DIFF_SKIP")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
    .iter()
    .any(|s| s == feature)
}

// ---------------------------------------------------------------- rng

/// SplitMix64: small, fast, seedable.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// [`Rng::pick`], cloned.
    pub fn pick_cloned<T: Clone>(&mut self, xs: &[T]) -> T {
        self.pick(xs).clone()
    }

    /// An index chosen with the given weights.
    pub fn weighted(&mut self, weights: &[usize]) -> usize {
        let total: usize = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }

    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------- types and schema

/// The types the generator reasons about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ty {
    Bool,
    Int,
    Str,
    Time,
    Dur,
    Dec,
    Ip,
    Net,
    SetStr,
    SetNet,
    Level,
    Status,
    Window,
    Ticket,
    Change,
    Opt(Box<Ty>),
}

impl Ty {
    pub fn opt(&self) -> Ty {
        match self {
            Ty::Opt(_) => self.clone(),
            t => Ty::Opt(Box::new(t.clone())),
        }
    }

    pub fn is_opt(&self) -> bool {
        matches!(self, Ty::Opt(_))
    }

    pub fn base(&self) -> &Ty {
        match self {
            Ty::Opt(t) => t,
            t => t,
        }
    }

    fn is_record(&self) -> bool {
        matches!(self, Ty::Window | Ty::Ticket | Ty::Change)
    }
}

/// The fixed part of every generated policy.
pub const SCHEMA: &str = r#"enum Level { low, mid, high }
enum Status { open, approved, closed }

/// A change request attached to a ticket.
record Change {
  window: time.Window
  approvers: Set<String>
  note: String?
}

record Ticket {
  id: String
  status: Status
  priority: Int
  change: Change?
}

entity Agent {
  team: String
  env: String
  level: Int
  active: Bool
  roles: Set<String>
  tier: Level
  nick: String?
  quota: Int?
}

entity Service {
  team: String
  env: String
  level: String
  active: Bool
  roles: Set<String>
  nick: String?
  home: Net
}

entity Secret {
  env: String
  path: String
  owner: String
  revoked: Bool
  tags: Set<String>
  tier: Level
  size: Int
  price: Decimal
  label: String?
  ticket: Ticket?
}

context {
  risk: Int
  source_ip: Ip
  office: Net
  nets: Set<Net>
  ticket: Ticket?
  fallback: Ticket?
  retries: Int?
  labels: Set<String>
  grace: Duration
  amount: Decimal
  maint: time.Window
  region: String?
}
"#;

pub const ENTITIES: [&str; 3] = ["Agent", "Service", "Secret"];

pub fn entity_fields(e: &str) -> Vec<(&'static str, Ty)> {
    use Ty::*;
    match e {
        "Agent" => vec![
            ("team", Str),
            ("env", Str),
            ("level", Int),
            ("active", Bool),
            ("roles", SetStr),
            ("tier", Level),
            ("nick", Opt(Box::new(Str))),
            ("quota", Opt(Box::new(Int))),
        ],
        "Service" => vec![
            ("team", Str),
            ("env", Str),
            ("level", Str),
            ("active", Bool),
            ("roles", SetStr),
            ("nick", Opt(Box::new(Str))),
            ("home", Net),
        ],
        "Secret" => vec![
            ("env", Str),
            ("path", Str),
            ("owner", Str),
            ("revoked", Bool),
            ("tags", SetStr),
            ("tier", Level),
            ("size", Int),
            ("price", Dec),
            ("label", Opt(Box::new(Str))),
            ("ticket", Opt(Box::new(Ticket))),
        ],
        _ => vec![],
    }
}

fn record_fields(t: &Ty) -> Vec<(&'static str, Ty)> {
    use Ty::*;
    match t {
        Ticket => vec![
            ("id", Str),
            ("status", Status),
            ("priority", Int),
            ("change", Opt(Box::new(Change))),
        ],
        Change => vec![
            ("window", Window),
            ("approvers", SetStr),
            ("note", Opt(Box::new(Str))),
        ],
        Window => vec![("start", Time), ("end", Time)],
        _ => vec![],
    }
}

fn context_fields() -> Vec<(&'static str, Ty)> {
    use Ty::*;
    vec![
        ("risk", Int),
        ("source_ip", Ip),
        ("office", Net),
        ("nets", SetNet),
        ("ticket", Opt(Box::new(Ticket))),
        ("fallback", Opt(Box::new(Ticket))),
        ("retries", Opt(Box::new(Int))),
        ("labels", SetStr),
        ("grace", Dur),
        ("amount", Dec),
        ("maint", Window),
        ("region", Opt(Box::new(Str))),
    ]
}

fn evidence_fields() -> Vec<(&'static str, Ty)> {
    use Ty::*;
    vec![
        ("mfa_at", Opt(Box::new(Time))),
        ("justification", Opt(Box::new(Str))),
        ("device_trusted", Opt(Box::new(Bool))),
        ("ticket", Opt(Box::new(Str))),
    ]
}

/// The fields every one of `types` has with the same type (`id` first).
pub fn common_fields(types: &[&str]) -> Vec<(&'static str, Ty)> {
    let mut common: Vec<(&'static str, Ty)> = vec![("id", Ty::Str)];
    if let Some(first) = types.first() {
        common.extend(entity_fields(first));
        for t in &types[1..] {
            let f = entity_fields(t);
            common.retain(|(n, ty)| *n == "id" || f.iter().any(|(m, u)| m == n && u == ty));
        }
    }
    common
}

// ---------------------------------------------------------------- value pools

pub const STRS: &[&str] = &[
    "platform",
    "prod",
    "dev",
    "alice",
    "bob",
    "",
    "a",
    "prod-db",
    "deploy-bot",
    "é",
    "*",
];
const TEAMS: &[&str] = &["platform", "data", "sec", ""];
const ENVS: &[&str] = &["prod", "dev", "staging"];
const PATHS: &[&str] = &["/db/main", "/app/x", "prod-db", "*"];
pub const IDS: &[&str] = &["alice", "bob", "deploy-bot", "svc-1", "platform", ""];
const ROLES: &[&str] = &["deployer", "admin", "reader", "platform", "alice"];
const PATTERNS: &[&str] = &[
    "prod*", "*-bot", "*", "", "p*", "*a*", "a*b*c", "\\*", "de*ot", "é*", "/db/*", "prod",
];
const INT_LITS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "5",
    "10",
    "50",
    "79",
    "80",
    "100",
    "-1",
    "-5",
    "9223372036854775807",
    "9223372036854775806",
    "-9223372036854775807",
    "4611686018427387904",
];
const INT_VALUES: &[i64] = &[
    0,
    1,
    2,
    3,
    5,
    10,
    50,
    79,
    80,
    100,
    -1,
    i64::MAX,
    i64::MIN,
    i64::MAX - 1,
    4611686018427387904,
];
const DUR_LITS: &[&str] = &[
    "0s",
    "1ms",
    "30s",
    "1m",
    "5m",
    "15m",
    "1h",
    "1h30m",
    "2h",
    "1d",
    "7d",
    "106751991d",
];
const DEC_LITS: &[&str] = &[
    "0.0",
    "0.000001",
    "1.5",
    "12.50",
    "99.99",
    "100.0",
    "500.00",
    "9223372036854.775807",
    "4611686018427.387904",
];
/// Request values of `Decimal` fields: numbers and strings, exact and at
/// the edges of the range (so that sums and products overflow).
fn dec_value(rng: &mut Rng) -> Json {
    match rng.below(4) {
        0 => json!(rng.pick(&[0, 1, 12, 100, 500, -3])),
        1 => json!(rng.pick(&[0.5, 12.5, 99.99, 500.01, -1.25])),
        _ => json!(rng.pick(&[
            "0",
            "0.000001",
            "12.50",
            "99.990000",
            "500",
            "500.000001",
            "-0.5",
            "9223372036854.775807",
            "-9223372036854.775808",
            "4611686018427.387904",
        ])),
    }
}
const DUR_VALUES: &[&str] = &[
    "0s",
    "500ms",
    "30s",
    "1m",
    "15m",
    "1h",
    "1h30m",
    "7d",
    "106751991d",
];
const IPS: &[&str] = &[
    "10.1.2.3",
    "10.0.0.1",
    "192.168.1.1",
    "172.16.5.4",
    "127.0.0.1",
    "8.8.8.8",
    "::1",
    "fd00::1",
];
const REQ_IPS: &[&str] = &[
    "10.1.2.3",
    "10.0.0.1",
    "192.168.1.1",
    "172.16.5.4",
    "127.0.0.1",
    "8.8.8.8",
    "::1",
    "fd00::1",
    "2001:db8::1",
    "::ffff:10.1.2.3",
];
const NETS: &[&str] = &[
    "10.0.0.0/8",
    "192.168.0.0/16",
    "172.16.0.0/12",
    "0.0.0.0/0",
    "10.1.2.3/32",
    "fd00::/8",
    "::/0",
];
const STD_NETS: &[&str] = &[
    "net.PRIVATE_10",
    "net.PRIVATE_172",
    "net.PRIVATE_192",
    "net.UNIQUE_LOCAL",
];
const LABELS: &[&str] = &["approval", "mfa", "two peers", "ticket", "approval"];
const TTLS: &[&str] = &["1m", "15m", "1h", "1h30m", "2h", "1d"];
const FORS: &[&str] = &["1ms", "30s", "1m", "5m", "15m", "1h", "1h30m", "2h", "1d"];

/// 2026-11-22T10:00:00Z in microseconds.
pub fn base_time() -> i64 {
    Time::parse("2026-11-22T10:00:00Z")
        .map(|t| t.0)
        .unwrap_or(0)
}

const SEC: i64 = 1_000_000;
const OFFSETS: &[i64] = &[
    -86_400 * SEC,
    -3_600 * SEC,
    -900 * SEC,
    -60 * SEC,
    -SEC,
    -1_000,
    0,
    1,
    1_000,
    SEC,
    30 * SEC,
    60 * SEC,
    299 * SEC,
    300 * SEC,
    301 * SEC,
    600 * SEC,
    900 * SEC,
    1_800 * SEC,
    3_600 * SEC,
    5_400 * SEC,
    7_200 * SEC,
    86_400 * SEC,
];

pub fn time_text(us: i64) -> String {
    Time(us).to_string()
}

pub fn dur_us(text: &str) -> i64 {
    Duration::parse(text).map(|d| d.0).unwrap_or(0)
}

fn instant(rng: &mut Rng) -> i64 {
    base_time() + *rng.pick(OFFSETS)
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------- expressions

/// A typed expression tree. Leaves are atoms (literals, paths, names);
/// nodes are text with sub-expressions, which are parenthesised when they
/// are nodes themselves, so precedence never matters.
#[derive(Clone, Debug)]
pub enum E {
    Leaf { text: String, ty: Ty },
    Node { ty: Ty, parts: Vec<Part> },
}

#[derive(Clone, Debug)]
pub enum Part {
    Text(String),
    Sub(E),
}

fn leaf(text: impl Into<String>, ty: Ty) -> E {
    E::Leaf {
        text: text.into(),
        ty,
    }
}

fn t(s: impl Into<String>) -> Part {
    Part::Text(s.into())
}

fn s(e: E) -> Part {
    Part::Sub(e)
}

fn node(ty: Ty, parts: Vec<Part>) -> E {
    E::Node { ty, parts }
}

impl E {
    pub fn ty(&self) -> &Ty {
        match self {
            E::Leaf { ty, .. } | E::Node { ty, .. } => ty,
        }
    }

    pub fn render(&self) -> String {
        match self {
            E::Leaf { text, .. } => text.clone(),
            E::Node { parts, .. } => {
                let mut out = String::new();
                for p in parts {
                    match p {
                        Part::Text(x) => out.push_str(x),
                        Part::Sub(e) => out.push_str(&e.operand()),
                    }
                }
                out
            }
        }
    }

    /// Whether the expression reads the request.
    pub fn is_open(&self) -> bool {
        match self {
            E::Leaf { text, .. } => {
                text == "now"
                    || text == "action"
                    || ["principal.", "resource.", "context.", "evidence.", "task."]
                        .iter()
                        .any(|p| text.starts_with(p))
            }
            E::Node { parts, .. } => parts
                .iter()
                .any(|p| matches!(p, Part::Sub(e) if e.is_open())),
        }
    }

    fn operand(&self) -> String {
        match self {
            E::Leaf { text, .. } => text.clone(),
            E::Node { .. } => format!("({})", self.render()),
        }
    }
}

// ---------------------------------------------------------------- the policy model

#[derive(Clone, Debug)]
pub struct ActionDecl {
    pub name: &'static str,
    pub on: Vec<&'static str>,
    pub sensitivity: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub struct ConstDecl {
    pub name: &'static str,
    pub ty: Ty,
    /// The declared type, when written (`const TEAM: String = ...`).
    pub annotation: Option<&'static str>,
    pub value: String,
}

#[derive(Clone, Debug)]
pub struct FnDecl {
    pub name: &'static str,
    pub params: Vec<Ty>,
    pub ret: Ty,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct TaskDecl {
    pub name: &'static str,
    pub breakglass: bool,
    pub ttl: Option<&'static str>,
    pub notify: Vec<&'static str>,
    /// Rendered before the standing rule with this index (or at the end).
    pub pos: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Res {
    /// `forbid A` without `on`.
    Omitted,
    /// `on *`
    Any,
    /// `on Type`
    Named(&'static str),
}

#[derive(Clone, Debug)]
pub struct RuleDecl {
    pub permit: bool,
    pub task: Option<usize>,
    pub id: Option<String>,
    pub standing: bool,
    pub doc: bool,
    pub principal: Option<&'static str>,
    pub actions: Vec<String>,
    pub resource: Res,
    pub for_ttl: Option<&'static str>,
    pub when: Option<E>,
    pub unless: Option<E>,
    pub requires: Vec<(E, Option<&'static str>)>,
    /// Render the clauses in another order.
    pub reorder: bool,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub actions: Vec<ActionDecl>,
    pub consts: Vec<ConstDecl>,
    pub fns: Vec<FnDecl>,
    pub tasks: Vec<TaskDecl>,
    pub rules: Vec<RuleDecl>,
}

impl Policy {
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("/// Generated by tests/differential.rs\npackage gen.diff\n\nuse std.time\nuse std.net\n\n");
        out.push_str(SCHEMA);
        out.push('\n');
        for a in &self.actions {
            let _ = write!(out, "action {} on {}", a.name, a.on.join(", "));
            if let Some(sv) = a.sensitivity {
                let _ = write!(out, " sensitivity {sv}");
            }
            out.push('\n');
        }
        out.push('\n');
        for c in &self.consts {
            match c.annotation {
                Some(a) => {
                    let _ = writeln!(out, "const {}: {a} = {}", c.name, c.value);
                }
                None => {
                    let _ = writeln!(out, "const {} = {}", c.name, c.value);
                }
            }
        }
        for f in &self.fns {
            let _ = writeln!(out, "{}", f.text);
        }
        out.push('\n');
        let standing: Vec<&RuleDecl> = self.rules.iter().filter(|r| r.task.is_none()).collect();
        let mut emitted = vec![false; self.tasks.len()];
        for (i, r) in standing.iter().enumerate() {
            for (ti, task) in self.tasks.iter().enumerate() {
                if task.pos == i && !emitted[ti] {
                    emitted[ti] = true;
                    self.render_task(&mut out, ti);
                }
            }
            render_rule(&mut out, r, "");
        }
        for (ti, done) in emitted.iter().enumerate() {
            if !done {
                self.render_task(&mut out, ti);
            }
        }
        out
    }

    fn render_task(&self, out: &mut String, ti: usize) {
        let task = &self.tasks[ti];
        let kind = if task.breakglass {
            "breakglass"
        } else {
            "task"
        };
        let _ = writeln!(out, "{kind} {} {{", task.name);
        if let Some(ttl) = task.ttl {
            let _ = writeln!(out, "  ttl {ttl}");
        }
        for n in &task.notify {
            let _ = writeln!(out, "  notify {}", quote(n));
        }
        for r in self.rules.iter().filter(|r| r.task == Some(ti)) {
            out.push('\n');
            render_rule(out, r, "  ");
        }
        out.push_str("}\n\n");
    }

    /// The effective lifetimes (µs) of the permits of task `ti`: its ttl and
    /// every shorter `for`.
    pub fn task_lifetimes(&self, ti: usize) -> Vec<i64> {
        let ttl = self.tasks[ti].ttl.map(dur_us);
        let mut out: Vec<i64> = ttl.into_iter().collect();
        for r in &self.rules {
            if r.task == Some(ti) {
                if let Some(f) = r.for_ttl {
                    let f = dur_us(f);
                    out.push(ttl.map_or(f, |t| t.min(f)));
                }
            }
        }
        out
    }
}

fn render_rule(out: &mut String, r: &RuleDecl, indent: &str) {
    if r.doc {
        let _ = writeln!(out, "{indent}/// A generated rule.");
    }
    if let Some(id) = &r.id {
        let _ = writeln!(out, "{indent}@id({})", quote(id));
    }
    if r.standing {
        let _ = writeln!(out, "{indent}@standing(\"generated\")");
    }
    let actions = r.actions.join(", ");
    if r.permit {
        let p = r.principal.unwrap_or("*");
        let res = match r.resource {
            Res::Named(n) => n,
            _ => "*",
        };
        let _ = writeln!(out, "{indent}permit {p} to {actions} on {res}");
    } else {
        match r.resource {
            Res::Omitted => {
                let _ = writeln!(out, "{indent}forbid {actions}");
            }
            Res::Any => {
                let _ = writeln!(out, "{indent}forbid {actions} on *");
            }
            Res::Named(n) => {
                let _ = writeln!(out, "{indent}forbid {actions} on {n}");
            }
        }
    }
    let mut clauses: Vec<String> = Vec::new();
    if let Some(f) = r.for_ttl {
        clauses.push(format!("for {f}"));
    }
    if let Some(w) = &r.when {
        clauses.push(format!("when {}", w.render()));
    }
    if let Some(u) = &r.unless {
        clauses.push(format!("unless {}", u.render()));
    }
    for (e, label) in &r.requires {
        match label {
            Some(l) => clauses.push(format!("require {} else {}", e.render(), quote(l))),
            None => clauses.push(format!("require {}", e.render())),
        }
    }
    if r.reorder {
        clauses.reverse();
    }
    for c in clauses {
        let _ = writeln!(out, "{indent}  {c}");
    }
}

// ---------------------------------------------------------------- policy generation

const ACTION_POOL: &[(&str, &[&str])] = &[
    ("secrets.read", &["Secret"]),
    ("secrets.rotate", &["Secret"]),
    ("secrets.delete", &["Secret"]),
    ("svc.restart", &["Service"]),
    ("svc.deploy", &["Service", "Secret"]),
    ("admin.audit", &["Agent", "Service", "Secret"]),
    ("admin.login", &["Service"]),
];

const SENSITIVITIES: &[Option<&str>] = &[
    None,
    Some("low"),
    Some("medium"),
    Some("high"),
    Some("critical"),
];

fn string_set_literal(rng: &mut Rng, consts: &[ConstDecl], min: usize) -> String {
    let n = rng.range(min, 3);
    let mut items: Vec<String> = Vec::new();
    for _ in 0..n {
        let string_consts: Vec<&ConstDecl> = consts.iter().filter(|c| c.ty == Ty::Str).collect();
        if !string_consts.is_empty() && rng.chance(15) {
            items.push(rng.pick(&string_consts).name.to_string());
        } else {
            items.push(quote(*rng.pick(STRS)));
        }
    }
    format!("[{}]", items.join(", "))
}

fn net_set_literal(rng: &mut Rng) -> String {
    let n = rng.range(1, 3);
    let items: Vec<&str> = (0..n).map(|_| *rng.pick(NETS)).collect();
    format!("[{}]", items.join(", "))
}

fn gen_consts(rng: &mut Rng) -> Vec<ConstDecl> {
    let mut out: Vec<ConstDecl> = Vec::new();
    let n = rng.range(1, 6);
    // Kinds 9 and up fold other constants (arithmetic, methods, sets), so
    // constant folding in the checker is compared with the reference
    // interpreter, which evaluates the expressions itself.
    let mut kinds: Vec<usize> = (0..14).collect();
    rng.shuffle(&mut kinds);
    let mut kinds: Vec<usize> = kinds.into_iter().take(n).collect();
    kinds.sort_unstable();
    for k in kinds {
        let has = |name: &str| out.iter().any(|c: &ConstDecl| c.name == name);
        // `GRACE` may be the largest duration: arithmetic on it would
        // overflow when the policy is checked.
        let small_grace = out
            .iter()
            .any(|c| c.name == "GRACE" && c.value != "106751991d");
        let c = match k {
            0 => ConstDecl {
                name: "LIMIT",
                ty: Ty::Int,
                annotation: None,
                value: rng
                    .pick(&["0", "3", "50", "80", "-5", "9223372036854775807"])
                    .to_string(),
            },
            1 => {
                // Only when it cannot overflow at compile time.
                match out.iter().find(|c| c.name == "LIMIT") {
                    Some(l) if l.value != "9223372036854775807" => ConstDecl {
                        name: "NEXT",
                        ty: Ty::Int,
                        annotation: None,
                        value: "LIMIT + 1".into(),
                    },
                    _ => continue,
                }
            }
            2 => ConstDecl {
                name: "TEAM",
                ty: Ty::Str,
                annotation: Some("String"),
                value: quote(*rng.pick(TEAMS)),
            },
            3 => {
                let v = string_set_literal(rng, &out, 0);
                ConstDecl {
                    name: "ADMINS",
                    ty: Ty::SetStr,
                    annotation: None,
                    value: v,
                }
            }
            4 => ConstDecl {
                name: "CORP",
                ty: Ty::Net,
                annotation: None,
                value: if rng.chance(30) {
                    rng.pick(STD_NETS).to_string()
                } else {
                    rng.pick(NETS).to_string()
                },
            },
            5 => ConstDecl {
                name: "NETS",
                ty: Ty::SetNet,
                annotation: if rng.chance(30) {
                    Some("Set<Net>")
                } else {
                    None
                },
                value: net_set_literal(rng),
            },
            6 => ConstDecl {
                name: "GRACE",
                ty: Ty::Dur,
                annotation: None,
                value: rng.pick(DUR_LITS).to_string(),
            },
            7 => {
                let tt = instant(rng);
                ConstDecl {
                    name: "START",
                    ty: Ty::Time,
                    annotation: None,
                    value: format!("time({})", quote(&time_text(tt))),
                }
            }
            8 => ConstDecl {
                name: "QUIET",
                ty: Ty::Bool,
                annotation: Some("Bool"),
                value: rng.pick(&["true", "false"]).to_string(),
            },
            9 => ConstDecl {
                name: "SPAN",
                ty: Ty::Dur,
                annotation: None,
                value: if small_grace {
                    rng.pick(&["GRACE + GRACE", "GRACE - 30s", "-GRACE", "2h - GRACE"])
                } else {
                    rng.pick(&["1h - 15m", "-(30s + 1m)"])
                }
                .to_string(),
            },
            10 => ConstDecl {
                name: "LATER",
                ty: Ty::Time,
                annotation: None,
                value: match (has("START"), small_grace) {
                    (true, true) => rng.pick(&["START + GRACE", "START - GRACE", "GRACE + START"]),
                    (true, false) => rng.pick(&["START + 1h", "START - 1d"]),
                    _ => continue,
                }
                .to_string(),
            },
            11 => ConstDecl {
                name: "ADMIN_COUNT",
                ty: Ty::Int,
                annotation: Some("Int"),
                value: if has("ADMINS") {
                    rng.pick(&["ADMINS.len()", "ADMINS.len() - 1"])
                } else {
                    r#"["a", "b", "a"].len()"#
                }
                .to_string(),
            },
            12 => ConstDecl {
                name: "STRICT",
                ty: Ty::Bool,
                annotation: None,
                value: if has("TEAM") {
                    rng.pick(&[
                        r#"TEAM == "platform" or TEAM.starts_with("d")"#,
                        r#"TEAM in ["sec", "data"]"#,
                        r#"not TEAM.contains("a")"#,
                    ])
                } else if has("ADMINS") {
                    rng.pick(&[r#"ADMINS.contains("alice")"#, "ADMINS.is_empty()"])
                } else {
                    rng.pick(&[r#""x" in ["x", "y"]"#, "1 + 2 == 3 and not (4 < 3)"])
                }
                .to_string(),
            },
            _ => ConstDecl {
                name: "OFFSET",
                ty: Ty::Int,
                annotation: None,
                value: match out.iter().find(|c| c.name == "LIMIT") {
                    Some(l) if l.value == "9223372036854775807" => "-LIMIT".to_string(),
                    Some(_) => rng
                        .pick(&["LIMIT - 100", "-LIMIT", "100 - LIMIT"])
                        .to_string(),
                    None => "-(3 - 10)".to_string(),
                },
            },
        };
        out.push(c);
    }
    out
}

fn gen_fns(rng: &mut Rng) -> Vec<FnDecl> {
    use Ty::*;
    let n = rng.range(1, 3);
    let mut kinds: Vec<usize> = (0..8).collect();
    rng.shuffle(&mut kinds);
    let mut kinds: Vec<usize> = kinds.into_iter().take(n).collect();
    kinds.sort_unstable();
    let mut out: Vec<FnDecl> = Vec::new();
    for k in kinds {
        let f = match k {
            0 => FnDecl {
                name: "is_team",
                params: vec![Str, Str],
                ret: Bool,
                text: "fn is_team(p: String, t: String) -> Bool = p == t or p.starts_with(t)".into(),
            },
            1 => FnDecl {
                name: "score",
                params: vec![Int, Int],
                ret: Int,
                text: format!("fn score(a: Int, b: Int) -> Int = a + b - {}", rng.pick(&["0", "1", "100", "9223372036854775807"])),
            },
            2 => FnDecl {
                name: "near",
                params: vec![Time, Window],
                ret: Bool,
                text: format!(
                    "fn near(t: Time, w: time.Window) -> Bool = t in w or time.within(t + {}, w)",
                    rng.pick(&["0s", "5m", "1h"])
                ),
            },
            3 if skip("ip-in-net-literal") => continue,
            3 => FnDecl {
                name: "inside",
                params: vec![Ip, Net],
                ret: Bool,
                text: format!("fn inside(ip: Ip, n: Net) -> Bool = ip in [n, {}]", rng.pick(NETS)),
            },
            4 => FnDecl {
                name: "pick_or",
                params: vec![Opt(Box::new(Int)), Int],
                ret: Int,
                text: "fn pick_or(x: Int?, d: Int) -> Int = x ?? d".into(),
            },
            5 => FnDecl {
                name: "tagged",
                params: vec![SetStr, Opt(Box::new(Str))],
                ret: Bool,
                text: format!(
                    "fn tagged(s: Set<String>, t: String?) -> Bool = s.contains(t) or t == {}",
                    quote(*rng.pick(STRS))
                ),
            },
            6 => FnDecl {
                name: "approved",
                params: vec![Opt(Box::new(Ticket))],
                ret: Bool,
                text: format!(
                    "fn approved(t: Ticket?) -> Bool = t?.status == Status.approved and (t?.priority ?? 0) < {}",
                    rng.pick(&["1", "3", "100"])
                ),
            },
            _ => {
                if !out.iter().any(|f| f.name == "approved") {
                    out.push(FnDecl {
                        name: "approved",
                        params: vec![Opt(Box::new(Ticket))],
                        ret: Bool,
                        text: "fn approved(t: Ticket?) -> Bool = t?.status == Status.approved".into(),
                    });
                }
                FnDecl {
                    name: "strict",
                    params: vec![Opt(Box::new(Ticket)), Ip],
                    ret: Bool,
                    text: "fn strict(t: Ticket?, ip: Ip) -> Bool = approved(t) and not net.is_loopback(ip)".into(),
                }
            }
        };
        out.push(f);
    }
    out
}

fn gen_tasks(rng: &mut Rng) -> Vec<TaskDecl> {
    let n = rng.range(1, 3);
    let mut names = vec!["deploy", "rotate", "incident", "migrate"];
    rng.shuffle(&mut names);
    names
        .into_iter()
        .take(n)
        .map(|name| {
            let breakglass = rng.chance(35);
            let ttl = if rng.chance(80) {
                Some(*rng.pick(TTLS))
            } else {
                None
            };
            let channels = ["secops", "oncall", "audit-log"];
            let notify_n = if breakglass && rng.chance(70) {
                rng.range(1, 2)
            } else if rng.chance(20) {
                1
            } else {
                0
            };
            let notify = (0..notify_n).map(|_| *rng.pick(&channels)).collect();
            TaskDecl {
                name,
                breakglass,
                ttl,
                notify,
                pos: rng.below(8),
            }
        })
        .collect()
}

/// The declared actions a rule's action patterns match, filtered by the
/// resource type when one is named (as the checker does).
pub fn matched_actions(actions: &[ActionDecl], patterns: &[String], res: &Res) -> Vec<usize> {
    let mut out = Vec::new();
    for pat in patterns {
        for (i, a) in actions.iter().enumerate() {
            let m = if pat == "*" {
                true
            } else if let Some(ns) = pat.strip_suffix(".*") {
                a.name.starts_with(&format!("{ns}."))
            } else {
                a.name == pat
            };
            let applies = match res {
                Res::Named(r) => a.on.contains(r),
                _ => true,
            };
            if m && applies && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

fn namespace(action: &str) -> &str {
    action.split_once('.').map_or(action, |(ns, _)| ns)
}

fn gen_rule(rng: &mut Rng, p: &Policy, index: usize) -> RuleDecl {
    let permit = rng.chance(65);
    let task = if !p.tasks.is_empty() && rng.chance(60) {
        Some(rng.below(p.tasks.len()))
    } else {
        None
    };
    let principal = if permit {
        match rng.weighted(&[30, 35, 30, 5]) {
            0 => None,
            1 => Some("Agent"),
            2 => Some("Service"),
            _ => Some("Secret"),
        }
    } else {
        None
    };
    let targets: Vec<&'static str> = ENTITIES
        .iter()
        .copied()
        .filter(|e| p.actions.iter().any(|a| a.on.contains(e)))
        .collect();
    let resource = if permit {
        if rng.chance(30) {
            Res::Any
        } else {
            Res::Named(*rng.pick(&targets))
        }
    } else {
        match rng.weighted(&[55, 10, 35]) {
            0 => Res::Omitted,
            1 => Res::Any,
            _ => Res::Named(*rng.pick(&targets)),
        }
    };
    let applicable: Vec<&ActionDecl> = p
        .actions
        .iter()
        .filter(|a| match resource {
            Res::Named(r) => a.on.contains(&r),
            _ => true,
        })
        .collect();
    let mut namespaces: Vec<&str> = applicable.iter().map(|a| namespace(a.name)).collect();
    namespaces.dedup();
    let mut actions: Vec<String> = Vec::new();
    let exact = |rng: &mut Rng, n: usize| -> Vec<String> {
        let mut idx: Vec<usize> = (0..applicable.len()).collect();
        rng.shuffle(&mut idx);
        idx.into_iter()
            .take(n)
            .map(|i| applicable[i].name.to_string())
            .collect()
    };
    match rng.weighted(&[60, 20, 8, 12]) {
        0 => {
            let n = rng.range(1, applicable.len().min(3));
            actions.extend(exact(rng, n));
        }
        1 => actions.push(format!("{}.*", rng.pick(&namespaces))),
        2 => actions.push("*".into()),
        _ => {
            actions.extend(exact(rng, 1));
            let ns = *rng.pick(&namespaces);
            actions.push(format!("{ns}.*"));
            // The checker reports a wildcard after an exact action whose
            // matches were all listed already as matching nothing (E0401,
            // when the resource is named); only write it second when it
            // adds an action.
            let adds = applicable
                .iter()
                .any(|a| namespace(a.name) == ns && a.name != actions[0]);
            if !adds || rng.chance(50) {
                actions.reverse();
            }
        }
    }
    let matched = matched_actions(&p.actions, &actions, &resource);
    let resource_types: Vec<&'static str> = match resource {
        Res::Named(r) => vec![r],
        _ => ENTITIES
            .iter()
            .copied()
            .filter(|e| matched.iter().any(|&i| p.actions[i].on.contains(e)))
            .collect(),
    };
    let principal_types: Vec<&'static str> = match principal {
        Some(pt) => vec![pt],
        None => ENTITIES.to_vec(),
    };
    let mut g = ExprGen::new(
        rng,
        &principal_types,
        &resource_types,
        task.is_some(),
        &p.consts,
        &p.fns,
    );
    let depth = |g: &mut ExprGen<'_>| g.rng.range(1, 4) as u32;
    let for_ttl = if permit && task.is_some() && g.rng.chance(25) {
        let ttl = task.and_then(|ti| p.tasks[ti].ttl).map(dur_us);
        let options: Vec<&'static str> = FORS
            .iter()
            .copied()
            .filter(|f| ttl.is_none_or(|t| dur_us(f) <= t))
            .collect();
        Some(*g.rng.pick(&options))
    } else {
        None
    };
    let when = if g.rng.chance(if permit { 80 } else { 92 }) {
        let d = depth(&mut g);
        Some(g.gen(&Ty::Bool, d))
    } else {
        None
    };
    let unless = if g.rng.chance(20) {
        let d = depth(&mut g);
        Some(g.gen(&Ty::Bool, d))
    } else {
        None
    };
    let mut requires = Vec::new();
    if permit {
        let n = g.rng.weighted(&[45, 25, 18, 12]);
        for _ in 0..n {
            let d = depth(&mut g);
            let e = g.gen(&Ty::Bool, d);
            let label = if g.rng.chance(80) {
                Some(*g.rng.pick(LABELS))
            } else {
                None
            };
            requires.push((e, label));
        }
    }
    RuleDecl {
        permit,
        task,
        id: if rng.chance(15) {
            Some(format!("r{index}"))
        } else {
            None
        },
        standing: permit && task.is_none() && rng.chance(20),
        doc: rng.chance(10),
        principal,
        actions,
        resource,
        for_ttl,
        when,
        unless,
        requires,
        reorder: rng.chance(15),
    }
}

pub fn gen_policy(rng: &mut Rng) -> Policy {
    let n = rng.range(3, 6);
    let mut idx: Vec<usize> = (0..ACTION_POOL.len()).collect();
    rng.shuffle(&mut idx);
    let actions: Vec<ActionDecl> = idx
        .into_iter()
        .take(n)
        .map(|i| ActionDecl {
            name: ACTION_POOL[i].0,
            on: ACTION_POOL[i].1.to_vec(),
            sensitivity: *rng.pick(SENSITIVITIES),
        })
        .collect();
    let consts = gen_consts(rng);
    let fns = gen_fns(rng);
    let tasks = gen_tasks(rng);
    let mut p = Policy {
        actions,
        consts,
        fns,
        tasks,
        rules: Vec::new(),
    };
    let n = rng.range(1, 12);
    for i in 0..n {
        let r = gen_rule(rng, &p, i);
        p.rules.push(r);
    }
    p
}

// ---------------------------------------------------------------- expression generation

/// Types that have optional sources in every scope.
const OPTABLE: &[Ty] = &[
    Ty::Bool,
    Ty::Int,
    Ty::Str,
    Ty::Time,
    Ty::Status,
    Ty::SetStr,
    Ty::Window,
];

pub struct ExprGen<'a> {
    pub rng: &'a mut Rng,
    paths: Vec<(String, Ty)>,
    has_paths: Vec<(String, Ty)>,
    consts: &'a [ConstDecl],
    fns: &'a [FnDecl],
}

fn add_paths(
    out: &mut Vec<(String, Ty)>,
    prefix: &str,
    fields: &[(&'static str, Ty)],
    optional_base: bool,
) {
    for (name, ty) in fields {
        let sep = if optional_base { "?." } else { "." };
        let text = format!("{prefix}{sep}{name}");
        let t = if optional_base { ty.opt() } else { ty.clone() };
        out.push((text.clone(), t));
        if ty.base().is_record() {
            add_paths(
                out,
                &text,
                &record_fields(ty.base()),
                optional_base || ty.is_opt(),
            );
        }
    }
}

impl<'a> ExprGen<'a> {
    pub fn new(
        rng: &'a mut Rng,
        principal: &[&str],
        resource: &[&str],
        in_task: bool,
        consts: &'a [ConstDecl],
        fns: &'a [FnDecl],
    ) -> ExprGen<'a> {
        let mut paths = Vec::new();
        add_paths(&mut paths, "principal", &common_fields(principal), false);
        add_paths(&mut paths, "resource", &common_fields(resource), false);
        add_paths(&mut paths, "context", &context_fields(), false);
        add_paths(&mut paths, "evidence", &evidence_fields(), false);
        let has_paths = paths.iter().filter(|(_, t)| t.is_opt()).cloned().collect();
        paths.push(("now".into(), Ty::Time));
        paths.push(("action".into(), Ty::Str));
        if in_task {
            paths.push(("task.name".into(), Ty::Str));
            paths.push(("task.id".into(), Ty::Str));
            paths.push(("task.started_at".into(), Ty::Time));
            paths.push(("task.approvals".into(), Ty::Int));
            paths.push(("task.approvers".into(), Ty::SetStr));
        }
        ExprGen {
            rng,
            paths,
            has_paths,
            consts,
            fns,
        }
    }

    fn paths_of(&self, ty: &Ty) -> Vec<String> {
        self.paths
            .iter()
            .filter(|(_, t)| t == ty)
            .map(|(p, _)| p.clone())
            .collect()
    }

    fn maybe_opt(&mut self, ty: Ty) -> Ty {
        if OPTABLE.contains(&ty) && self.rng.chance(35) {
            ty.opt()
        } else {
            ty
        }
    }

    /// An expression of exactly type `ty`, at most `d` levels deep.
    pub fn gen(&mut self, ty: &Ty, d: u32) -> E {
        if let Ty::Opt(inner) = ty {
            return self.gen_opt(inner, d);
        }
        if d == 0 || self.rng.chance(25) {
            return self.leaf(ty);
        }
        let d = d - 1;
        match ty {
            Ty::Bool => self.bool_node(d),
            Ty::Int => self.int_node(d),
            Ty::Str => {
                if self.rng.chance(60) {
                    self.default_of(&Ty::Str, d)
                } else {
                    self.leaf(ty)
                }
            }
            Ty::Time => match self.rng.below(5) {
                0 => node(
                    Ty::Time,
                    vec![
                        s(self.gen(&Ty::Time, d)),
                        t(" + "),
                        s(self.gen(&Ty::Dur, d)),
                    ],
                ),
                1 => node(
                    Ty::Time,
                    vec![
                        s(self.gen(&Ty::Time, d)),
                        t(" - "),
                        s(self.gen(&Ty::Dur, d)),
                    ],
                ),
                2 => node(
                    Ty::Time,
                    vec![
                        s(self.gen(&Ty::Dur, d)),
                        t(" + "),
                        s(self.gen(&Ty::Time, d)),
                    ],
                ),
                3 => self.default_of(&Ty::Time, d),
                _ => {
                    let w = self.gen(&Ty::Window, d);
                    let f = if self.rng.chance(50) {
                        ".start"
                    } else {
                        ".end"
                    };
                    node(Ty::Time, vec![s(w), t(f)])
                }
            },
            Ty::Dur => match self.rng.below(4) {
                0 => node(
                    Ty::Dur,
                    vec![
                        s(self.gen(&Ty::Time, d)),
                        t(" - "),
                        s(self.gen(&Ty::Time, d)),
                    ],
                ),
                1 => node(
                    Ty::Dur,
                    vec![s(self.gen(&Ty::Dur, d)), t(" + "), s(self.gen(&Ty::Dur, d))],
                ),
                2 => node(
                    Ty::Dur,
                    vec![s(self.gen(&Ty::Dur, d)), t(" - "), s(self.gen(&Ty::Dur, d))],
                ),
                _ => node(Ty::Dur, vec![t("-("), s(self.gen(&Ty::Dur, d)), t(")")]),
            },
            Ty::Dec => match self.rng.below(6) {
                0 => node(
                    Ty::Dec,
                    vec![s(self.gen(&Ty::Dec, d)), t(" + "), s(self.gen(&Ty::Dec, d))],
                ),
                1 => node(
                    Ty::Dec,
                    vec![s(self.gen(&Ty::Dec, d)), t(" - "), s(self.gen(&Ty::Dec, d))],
                ),
                2 => node(
                    Ty::Dec,
                    vec![
                        t("("),
                        s(self.gen(&Ty::Dec, d)),
                        t(") * "),
                        s(self.gen(&Ty::Int, d)),
                    ],
                ),
                3 => node(
                    Ty::Dec,
                    vec![
                        t("("),
                        s(self.gen(&Ty::Int, d)),
                        t(") * "),
                        s(self.gen(&Ty::Dec, d)),
                    ],
                ),
                4 => node(
                    Ty::Dec,
                    vec![t("decimal("), s(self.gen(&Ty::Int, d)), t(")")],
                ),
                _ => node(Ty::Dec, vec![t("-("), s(self.gen(&Ty::Dec, d)), t(")")]),
            },
            Ty::SetStr | Ty::Status | Ty::Window => {
                if self.rng.chance(50) {
                    self.default_of(ty, d)
                } else {
                    self.leaf(ty)
                }
            }
            _ => self.leaf(ty),
        }
    }

    /// `(x ?? y)` where `x: T?`, `y: T`.
    fn default_of(&mut self, ty: &Ty, d: u32) -> E {
        let a = self.gen_opt(ty, d);
        let b = self.gen(ty, d);
        node(ty.clone(), vec![s(a), t(" ?? "), s(b)])
    }

    /// A leaf of non-optional type `ty`: a path, a constant or a literal.
    fn leaf(&mut self, ty: &Ty) -> E {
        let paths = self.paths_of(ty);
        let consts: Vec<&'static str> = self
            .consts
            .iter()
            .filter(|c| &c.ty == ty)
            .map(|c| c.name)
            .collect();
        let r = self.rng.below(100);
        if r < 50 && !paths.is_empty() {
            return leaf(self.rng.pick(&paths).clone(), ty.clone());
        }
        if r < 62 && !consts.is_empty() {
            return leaf(*self.rng.pick(&consts), ty.clone());
        }
        self.literal(ty)
    }

    fn literal(&mut self, ty: &Ty) -> E {
        let text = match ty {
            Ty::Bool => self.rng.pick(&["true", "false"]).to_string(),
            Ty::Int => self.rng.pick(INT_LITS).to_string(),
            Ty::Str => quote(*self.rng.pick(STRS)),
            Ty::Time => {
                let tt = instant(self.rng);
                format!("time({})", quote(&time_text(tt)))
            }
            Ty::Dur => self.rng.pick(DUR_LITS).to_string(),
            Ty::Dec => self.rng.pick(DEC_LITS).to_string(),
            Ty::Ip => self.rng.pick(IPS).to_string(),
            Ty::Net => {
                if self.rng.chance(15) {
                    self.rng.pick(STD_NETS).to_string()
                } else {
                    self.rng.pick(NETS).to_string()
                }
            }
            Ty::SetStr => string_set_literal(self.rng, self.consts, 0),
            Ty::SetNet => net_set_literal(self.rng),
            Ty::Level => format!("Level.{}", self.rng.pick(&["low", "mid", "high"])),
            Ty::Status => format!("Status.{}", self.rng.pick(&["open", "approved", "closed"])),
            // Records have no literals; every scope has `context.maint`.
            Ty::Window => "context.maint".into(),
            Ty::Ticket | Ty::Change | Ty::Opt(_) => unreachable!("no literal of type {ty:?}"),
        };
        leaf(text, ty.clone())
    }

    /// An expression of type `T?` (exactly optional).
    fn gen_opt(&mut self, inner: &Ty, d: u32) -> E {
        let want = inner.opt();
        let paths = self.paths_of(&want);
        if (d == 0 || self.rng.chance(55)) && !paths.is_empty() {
            return leaf(self.rng.pick(&paths).clone(), want);
        }
        let d = d.saturating_sub(1);
        // Record fields of a computed record.
        let mut options: Vec<(Ty, &'static str)> = Vec::new();
        for rec in [Ty::Ticket, Ty::Change, Ty::Window] {
            for (f, fty) in record_fields(&rec) {
                if fty.base() == inner {
                    options.push((rec.clone(), f));
                }
            }
        }
        let k = self.rng.below(3);
        if k == 0 && !options.is_empty() {
            let (rec, f) = self.rng.pick(&options).clone();
            let base = self.gen_opt(&rec, d);
            return node(want, vec![s(base), t(format!("?.{f}"))]);
        }
        if k == 1 && *inner == Ty::Int {
            let set = self.gen_opt(&Ty::SetStr, d);
            return node(want, vec![s(set), t("?.len()")]);
        }
        if d > 0 || paths.is_empty() {
            let a = self.gen_opt(inner, d);
            let b = self.gen_opt(inner, d);
            return node(want, vec![s(a), t(" ?? "), s(b)]);
        }
        leaf(self.rng.pick(&paths).clone(), want)
    }

    fn int_node(&mut self, d: u32) -> E {
        let int_fns: Vec<FnDecl> = self
            .fns
            .iter()
            .filter(|f| f.ret == Ty::Int)
            .cloned()
            .collect();
        match self
            .rng
            .weighted(&[10, 8, 3, 5, 6, if int_fns.is_empty() { 0 } else { 4 }])
        {
            0 => node(
                Ty::Int,
                vec![s(self.gen(&Ty::Int, d)), t(" + "), s(self.gen(&Ty::Int, d))],
            ),
            1 => node(
                Ty::Int,
                vec![s(self.gen(&Ty::Int, d)), t(" - "), s(self.gen(&Ty::Int, d))],
            ),
            2 => node(Ty::Int, vec![t("-("), s(self.gen(&Ty::Int, d)), t(")")]),
            3 => {
                let set_ty = if self.rng.chance(75) {
                    Ty::SetStr
                } else {
                    Ty::SetNet
                };
                let set = self.gen(&set_ty, d);
                node(Ty::Int, vec![s(set), t(".len()")])
            }
            4 => self.default_of(&Ty::Int, d),
            _ => {
                let f = self.rng.pick(&int_fns).clone();
                self.call(&f, d)
            }
        }
    }

    /// A condition that needs more than 32 stack slots (a right-nested
    /// sum) or more than 32 locals (nested helper calls, when an Int helper
    /// exists).
    fn deep(&mut self) -> E {
        let int_fns: Vec<FnDecl> = self
            .fns
            .iter()
            .filter(|f| f.ret == Ty::Int && f.params.len() == 2)
            .cloned()
            .collect();
        let n = self.rng.range(30, 40);
        let mut e = self.gen(&Ty::Int, 0);
        if !int_fns.is_empty() && self.rng.chance(50) {
            let f = self.rng.pick(&int_fns).clone();
            for _ in 0..n / 2 {
                let x = self.gen(&f.params[0], 0);
                e = node(
                    Ty::Int,
                    vec![t(format!("{}(", f.name)), s(x), t(", "), s(e), t(")")],
                );
            }
        } else {
            for _ in 0..n {
                let x = self.gen(&Ty::Int, 0);
                let op = if self.rng.chance(50) { " + " } else { " - " };
                e = node(Ty::Int, vec![s(x), t(op), s(e)]);
            }
        }
        let op = *self.rng.pick(&[" < ", " >= ", " == ", " != "]);
        let rhs = self.gen(&Ty::Int, 1);
        node(Ty::Bool, vec![s(e), t(op), s(rhs)])
    }

    fn call(&mut self, f: &FnDecl, d: u32) -> E {
        let mut parts = vec![t(format!("{}(", f.name))];
        for (i, p) in f.params.iter().enumerate() {
            if i > 0 {
                parts.push(t(", "));
            }
            let ty = match p {
                // A present value fits an optional parameter.
                Ty::Opt(inner) if self.rng.chance(30) && **inner != Ty::Ticket => (**inner).clone(),
                p => p.clone(),
            };
            parts.push(s(self.gen(&ty, d)));
        }
        parts.push(t(")"));
        node(f.ret.clone(), parts)
    }

    fn bool_node(&mut self, d: u32) -> E {
        let bool_fns: Vec<FnDecl> = self
            .fns
            .iter()
            .filter(|f| f.ret == Ty::Bool)
            .cloned()
            .collect();
        let weights = [
            6,  // not
            10, // and
            8,  // or
            14, // == !=
            10, // < <= > >=
            5,  // in set
            8,  // in literal
            6,  // ip in
            5,  // time in window
            5,  // like
            5,  // has
            5,  // string methods
            6,  // set methods
            if bool_fns.is_empty() { 0 } else { 4 },
            4, // stdlib
            3, // Bool?
            1, // deep: more stack or locals than the VM keeps inline
            8, // a comparison with `now` (which bounds a grant's lifetime)
        ];
        match self.rng.weighted(&weights) {
            0 => node(Ty::Bool, vec![t("not "), s(self.gen(&Ty::Bool, d))]),
            1 => node(
                Ty::Bool,
                vec![
                    s(self.gen(&Ty::Bool, d)),
                    t(" and "),
                    s(self.gen(&Ty::Bool, d)),
                ],
            ),
            2 => node(
                Ty::Bool,
                vec![
                    s(self.gen(&Ty::Bool, d)),
                    t(" or "),
                    s(self.gen(&Ty::Bool, d)),
                ],
            ),
            3 => {
                let base = self
                    .rng
                    .pick(&[
                        Ty::Int,
                        Ty::Str,
                        Ty::Bool,
                        Ty::Time,
                        Ty::Dur,
                        Ty::Dec,
                        Ty::Ip,
                        Ty::Net,
                        Ty::Level,
                        Ty::Status,
                        Ty::SetStr,
                        Ty::SetNet,
                        Ty::Str,
                        Ty::Int,
                    ])
                    .clone();
                let (lt, rt) = (self.maybe_opt(base.clone()), self.maybe_opt(base));
                let op = if self.rng.chance(65) { " == " } else { " != " };
                node(
                    Ty::Bool,
                    vec![s(self.gen(&lt, d)), t(op), s(self.gen(&rt, d))],
                )
            }
            4 => {
                let base = self
                    .rng
                    .pick(&[Ty::Int, Ty::Int, Ty::Time, Ty::Dur, Ty::Dec, Ty::Dec])
                    .clone();
                let (lt, rt) = (self.maybe_opt(base.clone()), self.maybe_opt(base));
                let op = *self.rng.pick(&[" < ", " <= ", " > ", " >= "]);
                node(
                    Ty::Bool,
                    vec![s(self.gen(&lt, d)), t(op), s(self.gen(&rt, d))],
                )
            }
            5 => {
                let (lt, rt) = (self.maybe_opt(Ty::Str), self.maybe_opt(Ty::SetStr));
                node(
                    Ty::Bool,
                    vec![s(self.gen(&lt, d)), t(" in "), s(self.gen(&rt, d))],
                )
            }
            6 => {
                let mut kinds = vec![
                    (Ty::Str, Ty::Str),
                    (Ty::Str, Ty::Str),
                    (Ty::Int, Ty::Int),
                    (Ty::Level, Ty::Level),
                    (Ty::Ip, Ty::Ip),
                    (Ty::Ip, Ty::Net),
                    (Ty::Time, Ty::Time),
                    (Ty::Status, Ty::Status),
                ];
                if skip("ip-in-net-literal") {
                    kinds.retain(|k| *k != (Ty::Ip, Ty::Net));
                }
                let (lhs, item) = self.rng.pick(&kinds).clone();
                let lhs = self.maybe_opt(lhs);
                let n = self.rng.weighted(&[1, 5, 5, 3]);
                let item_depth = if skip("failing-in-literal") { 0 } else { d };
                let mut items: Vec<E> = (0..n).map(|_| self.gen(&item, item_depth)).collect();
                // A set literal of constants is evaluated when the policy
                // compiles, and one that overflows is a compile error: keep
                // those to leaves.
                if !items.iter().any(E::is_open) {
                    items = (0..n).map(|_| self.gen(&item, 0)).collect();
                }
                let mut parts = vec![s(self.gen(&lhs, d)), t(" in [")];
                for (i, it) in items.into_iter().enumerate() {
                    if i > 0 {
                        parts.push(t(", "));
                    }
                    parts.push(s(it));
                }
                parts.push(t("]"));
                node(Ty::Bool, parts)
            }
            7 => {
                let rhs = if self.rng.chance(60) {
                    Ty::Net
                } else {
                    Ty::SetNet
                };
                node(
                    Ty::Bool,
                    vec![s(self.gen(&Ty::Ip, d)), t(" in "), s(self.gen(&rhs, d))],
                )
            }
            8 => {
                let lt = self.maybe_opt(Ty::Time);
                let wt = if self.rng.chance(50) {
                    Ty::Window
                } else {
                    Ty::Window.opt()
                };
                node(
                    Ty::Bool,
                    vec![s(self.gen(&lt, d)), t(" in "), s(self.gen(&wt, d))],
                )
            }
            9 => {
                let lt = self.maybe_opt(Ty::Str);
                let pat = quote(*self.rng.pick(PATTERNS));
                node(
                    Ty::Bool,
                    vec![s(self.gen(&lt, d)), t(format!(" like {pat}"))],
                )
            }
            10 => {
                let (p, ty) = self.rng.pick(&self.has_paths).clone();
                node(Ty::Bool, vec![t("has "), s(leaf(p, ty))])
            }
            11 => {
                let rt = self.maybe_opt(Ty::Str);
                let recv = self.gen(&rt, d);
                let sep = if recv.ty().is_opt() { "?." } else { "." };
                let m = *self.rng.pick(&["starts_with", "ends_with", "contains"]);
                let at = self.maybe_opt(Ty::Str);
                let arg = self.gen(&at, d);
                node(
                    Ty::Bool,
                    vec![s(recv), t(format!("{sep}{m}(")), s(arg), t(")")],
                )
            }
            12 => {
                if self.rng.chance(20) {
                    let recv = self.gen(&Ty::SetNet, d);
                    if self.rng.chance(50) {
                        return node(Ty::Bool, vec![s(recv), t(".is_empty()")]);
                    }
                    let arg = self.gen(&Ty::Net, d);
                    return node(Ty::Bool, vec![s(recv), t(".contains("), s(arg), t(")")]);
                }
                let rt = self.maybe_opt(Ty::SetStr);
                let recv = self.gen(&rt, d);
                let sep = if recv.ty().is_opt() { "?." } else { "." };
                match self.rng.below(4) {
                    0 => {
                        let at = self.maybe_opt(Ty::Str);
                        let arg = self.gen(&at, d);
                        node(
                            Ty::Bool,
                            vec![s(recv), t(format!("{sep}contains(")), s(arg), t(")")],
                        )
                    }
                    1 | 2 => {
                        let m = if self.rng.chance(50) {
                            "contains_any"
                        } else {
                            "contains_all"
                        };
                        let at = self.maybe_opt(Ty::SetStr);
                        let arg = self.gen(&at, d);
                        node(
                            Ty::Bool,
                            vec![s(recv), t(format!("{sep}{m}(")), s(arg), t(")")],
                        )
                    }
                    _ => node(Ty::Bool, vec![s(recv), t(format!("{sep}is_empty()"))]),
                }
            }
            13 => {
                let f = self.rng.pick(&bool_fns).clone();
                self.call(&f, d)
            }
            14 => match self.rng.below(6) {
                0 => node(
                    Ty::Bool,
                    vec![
                        t("time.within("),
                        s(self.gen(&Ty::Time, d)),
                        t(", "),
                        s(self.gen(&Ty::Window, d)),
                        t(")"),
                    ],
                ),
                1 => node(
                    Ty::Bool,
                    vec![
                        t("time.between("),
                        s(self.gen(&Ty::Time, d)),
                        t(", "),
                        s(self.gen(&Ty::Time, d)),
                        t(", "),
                        s(self.gen(&Ty::Time, d)),
                        t(")"),
                    ],
                ),
                2 => node(
                    Ty::Bool,
                    vec![
                        t("time.fresh("),
                        s(self.gen(&Ty::Time, d)),
                        t(", "),
                        s(self.gen(&Ty::Time, d)),
                        t(", "),
                        s(self.gen(&Ty::Dur, d)),
                        t(")"),
                    ],
                ),
                3 => node(
                    Ty::Bool,
                    vec![t("net.is_private("), s(self.gen(&Ty::Ip, d)), t(")")],
                ),
                4 => node(
                    Ty::Bool,
                    vec![t("net.is_loopback("), s(self.gen(&Ty::Ip, d)), t(")")],
                ),
                _ => node(
                    Ty::Bool,
                    vec![
                        t("net.in_any("),
                        s(self.gen(&Ty::Ip, d)),
                        t(", "),
                        s(self.gen(&Ty::SetNet, d)),
                        t(")"),
                    ],
                ),
            },
            16 => self.deep(),
            17 => {
                let now = match self.rng.below(4) {
                    0 => "now".to_string(),
                    1 => format!("(now + {})", self.rng.pick(DUR_LITS)),
                    2 => format!("(now - {})", self.rng.pick(DUR_LITS)),
                    _ => "now".to_string(),
                };
                let other = self.maybe_opt(Ty::Time);
                let x = self.gen(&other, d);
                let op = *self
                    .rng
                    .pick(&[" < ", " <= ", " > ", " >= ", " == ", " != "]);
                match self.rng.below(6) {
                    0 | 1 => node(Ty::Bool, vec![t(now), t(op), s(x)]),
                    2 => node(Ty::Bool, vec![s(x), t(op), t(now)]),
                    3 => node(
                        Ty::Bool,
                        vec![
                            t("time.fresh("),
                            s(self.gen(&Ty::Time, d)),
                            t(", now, "),
                            s(self.gen(&Ty::Dur, d)),
                            t(")"),
                        ],
                    ),
                    4 => node(
                        Ty::Bool,
                        vec![
                            t(format!("{now} - ")),
                            s(self.gen(&Ty::Time, d)),
                            t(op),
                            s(self.gen(&Ty::Dur, d)),
                        ],
                    ),
                    _ => node(
                        Ty::Bool,
                        vec![t(format!("{now} in ")), s(self.gen(&Ty::Window, d))],
                    ),
                }
            }
            _ => {
                let o = self.gen_opt(&Ty::Bool, d);
                if self.rng.chance(50) {
                    node(Ty::Bool, vec![s(o), t(" ?? "), s(self.gen(&Ty::Bool, d))])
                } else {
                    let b = *self.rng.pick(&["true", "false"]);
                    node(Ty::Bool, vec![s(o), t(format!(" == {b}"))])
                }
            }
        }
    }
}

// ---------------------------------------------------------------- requests

fn str_for(rng: &mut Rng, field: &str) -> String {
    let pool: &[&str] = match field {
        "team" => TEAMS,
        "env" => ENVS,
        "path" => PATHS,
        "owner" => IDS,
        _ => STRS,
    };
    if rng.chance(85) {
        rng.pick(pool).to_string()
    } else {
        rng.pick(STRS).to_string()
    }
}

fn string_array(rng: &mut Rng, pool: &[&str]) -> Json {
    let n = rng.weighted(&[2, 4, 3, 2, 1]);
    Json::Array((0..n).map(|_| json!(rng.pick(pool))).collect())
}

fn window_json(rng: &mut Rng) -> Json {
    let start = instant(rng);
    let len = *rng.pick(&[
        0,
        SEC,
        300 * SEC,
        900 * SEC,
        3_600 * SEC,
        86_400 * SEC,
        -300 * SEC,
    ]);
    json!({"start": time_text(start), "end": time_text(start + len)})
}

fn ticket_json(rng: &mut Rng) -> Json {
    let mut m = Map::new();
    m.insert("id".into(), json!(rng.pick(&["CHG-1", "CHG-2", "a"])));
    m.insert(
        "status".into(),
        json!(rng.pick(&["open", "approved", "closed"])),
    );
    m.insert("priority".into(), json!(rng.pick(INT_VALUES)));
    match rng.below(10) {
        0..=5 => {
            let mut c = Map::new();
            c.insert("window".into(), window_json(rng));
            c.insert(
                "approvers".into(),
                string_array(rng, &["alice", "bob", "carol", "deploy-bot"]),
            );
            match rng.below(3) {
                0 => {
                    c.insert("note".into(), json!(rng.pick(STRS)));
                }
                1 => {
                    c.insert("note".into(), Json::Null);
                }
                _ => {}
            }
            m.insert("change".into(), Json::Object(c));
        }
        6 => {
            m.insert("change".into(), Json::Null);
        }
        _ => {}
    }
    Json::Object(m)
}

/// A valid JSON value of `ty` for field `field`.
fn value_json(rng: &mut Rng, field: &str, ty: &Ty) -> Json {
    match ty {
        Ty::Bool => json!(rng.chance(50)),
        Ty::Int => json!(rng.pick(INT_VALUES)),
        Ty::Str => json!(str_for(rng, field)),
        Ty::Time => json!(time_text(instant(rng))),
        Ty::Dur => json!(rng.pick(DUR_VALUES)),
        Ty::Dec => dec_value(rng),
        Ty::Ip => json!(rng.pick(REQ_IPS)),
        Ty::Net => json!(rng.pick(NETS)),
        Ty::SetStr => string_array(
            rng,
            if field == "roles" || field == "tags" {
                ROLES
            } else {
                STRS
            },
        ),
        Ty::SetNet => {
            let n = rng.below(4);
            Json::Array((0..n).map(|_| json!(rng.pick(NETS))).collect())
        }
        Ty::Level => json!(rng.pick(&["low", "mid", "high"])),
        Ty::Status => json!(rng.pick(&["open", "approved", "closed"])),
        Ty::Window => window_json(rng),
        Ty::Ticket => ticket_json(rng),
        Ty::Change | Ty::Opt(_) => Json::Null,
    }
}

/// An object with every field of the list: optional ones present, missing
/// or null.
fn fields_json(rng: &mut Rng, fields: &[(&'static str, Ty)]) -> Json {
    let mut m = Map::new();
    for (name, ty) in fields {
        match ty {
            Ty::Opt(inner) => match rng.weighted(&[60, 25, 15]) {
                0 => {
                    m.insert(name.to_string(), value_json(rng, name, inner));
                }
                1 => {}
                _ => {
                    m.insert(name.to_string(), Json::Null);
                }
            },
            ty => {
                m.insert(name.to_string(), value_json(rng, name, ty));
            }
        }
    }
    Json::Object(m)
}

fn entity_json(rng: &mut Rng, ty: &str, id: &str) -> Json {
    let props = fields_json(rng, &entity_fields(ty));
    json!({"type": ty, "id": id, "properties": props})
}

pub fn gen_request(rng: &mut Rng, p: &Policy) -> Json {
    let mut req = Map::new();
    // Most requests aim at a permit (its principal type, one of its actions,
    // its resource type, its task), so that candidates, grants, step-ups and
    // expiries are common; the rest are arbitrary.
    let permits: Vec<&RuleDecl> = p.rules.iter().filter(|r| r.permit).collect();
    let target: Option<&RuleDecl> = if !permits.is_empty() && rng.chance(60) {
        Some(*rng.pick(&permits))
    } else {
        None
    };
    let stype = match target.and_then(|r| r.principal) {
        Some(pt) if rng.chance(95) => pt,
        _ => ["Agent", "Service", "Secret", "Robot"][rng.weighted(&[45, 40, 12, 1])],
    };
    let sid = *rng.pick(IDS);
    req.insert("subject".into(), entity_json(rng, stype, sid));
    let aimed = target.and_then(|r| {
        let matched = matched_actions(&p.actions, &r.actions, &r.resource);
        if matched.is_empty() {
            return None;
        }
        let a = &p.actions[*rng.pick(&matched)];
        let rtype = match r.resource {
            Res::Named(n) => n,
            _ => *rng.pick(&a.on),
        };
        Some((a.name, rtype))
    });
    let (action, rtype): (&str, &str) = match (aimed, rng.weighted(&[88, 8, 2])) {
        (Some(x), 0) => x,
        (_, 0) => {
            let a = rng.pick(&p.actions);
            (a.name, *rng.pick(&a.on))
        }
        (_, 1) => (rng.pick(&p.actions).name, *rng.pick(&ENTITIES)),
        _ => (
            *rng.pick(&["secrets.list", "svc", "admin.audit"]),
            *rng.pick(&ENTITIES),
        ),
    };
    req.insert("action".into(), json!({ "name": action }));
    let rid = *rng.pick(&["db-password", "api", "svc-1", "alice"]);
    req.insert("resource".into(), entity_json(rng, rtype, rid));
    if rng.chance(98) {
        let c = fields_json(rng, &context_fields());
        req.insert("context".into(), c);
    }
    match rng.weighted(&[50, 5, 45]) {
        0 => {}
        1 => {
            req.insert("evidence".into(), Json::Null);
        }
        _ => {
            let mut ev = fields_json(rng, &evidence_fields());
            if rng.chance(10) {
                if let Json::Object(m) = &mut ev {
                    let at = instant(rng);
                    m.insert(
                        "workload".into(),
                        json!({"issuer": "https://issuer", "subject": "spiffe://x", "audience": ["api"],
                               "issued_at": time_text(at), "expires_at": time_text(at + 3_600 * SEC)}),
                    );
                }
            }
            req.insert("evidence".into(), ev);
        }
    }
    let mut now = instant(rng);
    let task_weights = match target {
        Some(r) if r.task.is_none() => [50, 5, 45],
        Some(_) => [5, 1, 94],
        None => [22, 3, 75],
    };
    match rng.weighted(&task_weights) {
        0 => {}
        1 => {
            req.insert("task".into(), Json::Null);
        }
        _ => {
            let (name, lifetimes) = if rng.chance(96) && !p.tasks.is_empty() {
                let ti = match target.and_then(|r| r.task) {
                    Some(ti) if rng.chance(85) => ti,
                    _ => rng.below(p.tasks.len()),
                };
                (p.tasks[ti].name, p.task_lifetimes(ti))
            } else {
                ("ghost", Vec::new())
            };
            let started = instant(rng);
            let mut task = Map::new();
            task.insert("name".into(), json!(name));
            match rng.weighted(&[80, 10, 10]) {
                0 => {
                    task.insert("id".into(), json!(rng.pick(&["run-1", "run-2", "alice"])));
                }
                1 => {}
                _ => {
                    task.insert("id".into(), Json::Null);
                }
            }
            task.insert("started_at".into(), json!(time_text(started)));
            match rng.weighted(&[85, 5, 10]) {
                0 => {
                    let n = rng.weighted(&[2, 3, 3, 2, 1]);
                    let mut approvals = Vec::new();
                    for _ in 0..n {
                        let by = *rng.pick(&["alice", "bob", "carol", sid, sid, ""]);
                        if rng.chance(15) {
                            approvals.push(json!({"by": by, "at": time_text(instant(rng))}));
                        } else {
                            approvals.push(json!({ "by": by }));
                        }
                    }
                    task.insert("approvals".into(), Json::Array(approvals));
                }
                1 => {
                    task.insert("approvals".into(), Json::Null);
                }
                _ => {}
            }
            req.insert("task".into(), Json::Object(task));
            now = match rng.weighted(&[40, 8, 8, 44]) {
                0 if !lifetimes.is_empty() => {
                    let l = *rng.pick(&lifetimes);
                    started + l + *rng.pick(&[0, 0, 0, -1, 1, -SEC, SEC])
                }
                1 => started + *rng.pick(&[-SEC, -1]),
                2 => started,
                _ => instant(rng),
            };
        }
    }
    req.insert("now".into(), json!(time_text(now)));
    let mut req = Json::Object(req);
    if rng.chance(5) {
        corrupt(rng, &mut req);
    }
    req
}

// ---------------------------------------------------------------- corruption

#[derive(Clone, Debug)]
enum Seg {
    Key(String),
    Idx(usize),
}

fn all_paths(v: &Json, prefix: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    match v {
        Json::Object(m) => {
            for (k, c) in m {
                prefix.push(Seg::Key(k.clone()));
                out.push(prefix.clone());
                all_paths(c, prefix, out);
                prefix.pop();
            }
        }
        Json::Array(items) => {
            for (i, c) in items.iter().enumerate() {
                prefix.push(Seg::Idx(i));
                out.push(prefix.clone());
                all_paths(c, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'v>(v: &'v mut Json, path: &[Seg]) -> Option<&'v mut Json> {
    let mut cur = v;
    for seg in path {
        cur = match (seg, cur) {
            (Seg::Key(k), Json::Object(m)) => m.get_mut(k)?,
            (Seg::Idx(i), Json::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Makes the request (usually) invalid: removes a key, replaces a value with
/// one of another type, or adds an unknown key.
fn corrupt(rng: &mut Rng, req: &mut Json) {
    let mut paths = Vec::new();
    all_paths(req, &mut Vec::new(), &mut paths);
    if paths.is_empty() {
        return;
    }
    let path = rng.pick(&paths).clone();
    match rng.below(3) {
        0 => {
            let (last, parent) = match path.split_last() {
                Some(x) => x,
                None => return,
            };
            if let Some(parent) = at_mut(req, parent) {
                match (last, parent) {
                    (Seg::Key(k), Json::Object(m)) => {
                        m.remove(k);
                    }
                    (Seg::Idx(i), Json::Array(a)) => {
                        a.remove(*i);
                    }
                    _ => {}
                }
            }
        }
        1 => {
            let junk = [
                json!("x"),
                json!(5),
                json!(1.5),
                json!(true),
                Json::Null,
                json!([]),
                json!({}),
                json!(9_223_372_036_854_775_808u64),
                json!(i64::MIN),
                json!("10.0.0.300"),
                json!("10.0.0.1/8"),
                json!("15x"),
                json!("2026-13-01T00:00:00Z"),
                json!("urgent"),
                json!(["a", 1]),
                json!(1e300),
            ];
            if let Some(v) = at_mut(req, &path) {
                *v = rng.pick(&junk).clone();
            }
        }
        _ => {
            let (_, parent) = match path.split_last() {
                Some(x) => x,
                None => return,
            };
            if let Some(Json::Object(m)) = at_mut(req, parent) {
                m.insert("bogus".into(), json!(1));
            }
        }
    }
}
