//! Policy test suites: `jitp test`.
//!
//! A suite is a JSON file named `*.test.json` in a `tests/` directory
//! beside a policy set's files. It holds cases, each an AuthZEN-shaped
//! request (built from shared fixtures) and the decision it must get. The
//! runner compiles each policy set, checks every request against the
//! policy's schema (a request that does not fit is an error in the suite,
//! not a silent `invalid_request`), decides it, compares the decision with
//! the expectation and records which rules and task outcomes the cases
//! exercised. See `docs/testing.md` for the suite format.
//!
//! ```no_run
//! use std::path::PathBuf;
//! let report = jitp::testing::run(&[PathBuf::from("examples")])?;
//! print!("{}", report.human(false, true, None));
//! std::process::exit(report.status(None).code());
//! # Ok::<(), jitp::testing::RunError>(())
//! ```

use crate::decision::{DecisionRecord, Effect, Obligation, Reason};
use crate::diagnostic::{did_you_mean, Diagnostic, Severity};
use crate::driver::{self, InputError};
use crate::span::SourceMap;
use crate::value::Time;
use crate::vm::{Bundle, Explanation, RuleTrace};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// The file name suffix of test suites.
pub const SUITE_SUFFIX: &str = ".test.json";
/// The directory, beside a policy set's files, that holds its suites.
pub const SUITE_DIR: &str = "tests";
/// Largest suite file accepted, in bytes.
pub const MAX_SUITE_BYTES: u64 = 16 * 1024 * 1024;
/// Deepest chain of fixtures extending fixtures.
const MAX_FIXTURE_DEPTH: usize = 16;

// ---------------------------------------------------------------------------
// Results

/// Why the runner could not run at all.
#[derive(Debug)]
pub enum RunError {
    /// A path could not be read.
    Input(InputError),
    /// A policy set has errors; nothing was run.
    Policy {
        /// The sources, for rendering the diagnostics.
        sources: SourceMap,
        /// Every diagnostic of the policy set (errors and warnings).
        diagnostics: Vec<Diagnostic>,
    },
    /// The paths hold no test suites.
    NoSuites(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Input(e) => write!(f, "{e}"),
            RunError::Policy { diagnostics, .. } => {
                let n = diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .count();
                write!(
                    f,
                    "the policies have {n} error{}; fix them before testing",
                    plural(n)
                )
            }
            RunError::NoSuites(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

/// A problem in a suite file: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuiteError {
    /// The suite file.
    pub file: String,
    /// The JSON path of the offending value, such as
    /// `cases[2].request.context.risk` (empty for the whole file).
    pub path: String,
    /// 1-based line of the offending value, when it could be located.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending value.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// A hint on how to fix it.
    pub help: Option<String>,
}

impl SuiteError {
    /// `file:line:column`, or as much of it as is known.
    pub fn location(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("{}:{l}:{c}", self.file),
            (Some(l), None) => format!("{}:{l}", self.file),
            _ => self.file.clone(),
        }
    }
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.location())?;
        if !self.path.is_empty() {
            write!(f, ": at `{}`", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What a case expects. Fields left out of the suite are not compared.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Expectation {
    /// The expected decision (always compared).
    pub decision: Option<Effect>,
    /// The expected reason.
    pub reason: Option<Reason>,
    /// The expected deciding rule id.
    pub rule: Option<String>,
    /// The expected task of the deciding rule.
    pub task: Option<String>,
    /// The expected missing requirement labels, in order.
    pub needs: Option<Vec<String>>,
    /// The expected expiry: `Some(None)` expects none (`null`).
    pub expires_at: Option<Option<String>>,
    /// The expected obligations, in order.
    pub obligations: Option<Vec<Obligation>>,
}

impl Expectation {
    /// The fields of `actual` that differ from this expectation.
    pub fn mismatches(&self, actual: &DecisionRecord) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.decision.is_some_and(|d| d != actual.decision) {
            out.push("decision");
        }
        if self.reason.is_some_and(|r| r != actual.reason) {
            out.push("reason");
        }
        if self
            .rule
            .as_ref()
            .is_some_and(|r| Some(r) != actual.rule.as_ref())
        {
            out.push("rule");
        }
        if self
            .task
            .as_ref()
            .is_some_and(|t| Some(t) != actual.task.as_ref())
        {
            out.push("task");
        }
        if self.needs.as_ref().is_some_and(|n| *n != actual.needs) {
            out.push("needs");
        }
        if let Some(want) = &self.expires_at {
            let parse = |t: &Option<String>| t.as_deref().map(Time::parse);
            let same = match (parse(want), parse(&actual.expires_at)) {
                (None, None) => true,
                (Some(Ok(a)), Some(Ok(b))) => a == b,
                _ => false,
            };
            if !same {
                out.push("expires_at");
            }
        }
        if self
            .obligations
            .as_ref()
            .is_some_and(|o| *o != actual.obligations)
        {
            out.push("obligations");
        }
        out
    }

    /// The expectation as JSON (only the fields it sets).
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        if let Some(d) = self.decision {
            o.insert("decision".into(), json!(effect_str(d)));
        }
        if let Some(r) = self.reason {
            o.insert("reason".into(), json!(r.as_str()));
        }
        if let Some(r) = &self.rule {
            o.insert("rule".into(), json!(r));
        }
        if let Some(t) = &self.task {
            o.insert("task".into(), json!(t));
        }
        if let Some(n) = &self.needs {
            o.insert("needs".into(), json!(n));
        }
        if let Some(e) = &self.expires_at {
            o.insert("expires_at".into(), json!(e));
        }
        if let Some(ob) = &self.obligations {
            o.insert(
                "obligations".into(),
                serde_json::to_value(ob).unwrap_or(Value::Null),
            );
        }
        Value::Object(o)
    }

    fn describe(&self) -> String {
        let mut s = self.decision.map_or("any decision", effect_str).to_string();
        if let Some(r) = self.reason {
            let _ = write!(s, " ({})", r.as_str());
        }
        if let Some(r) = &self.rule {
            let _ = write!(s, " by rule `{r}`");
        }
        if let Some(t) = &self.task {
            let _ = write!(s, " in task `{t}`");
        }
        if let Some(e) = &self.expires_at {
            match e {
                Some(e) => {
                    let _ = write!(s, ", expires at {e}");
                }
                None => s.push_str(", no expiry"),
            }
        }
        if let Some(n) = &self.needs {
            let _ = write!(s, ", needs [{}]", quoted(n));
        }
        if let Some(o) = &self.obligations {
            let _ = write!(s, ", obligations [{}]", obligations_text(o));
        }
        s
    }
}

/// How one case went.
#[derive(Clone, Debug)]
pub enum CaseOutcome {
    /// The decision matched the expectation.
    Pass {
        /// The decision.
        actual: DecisionRecord,
    },
    /// The decision did not match.
    Fail {
        /// What the case expected.
        expected: Expectation,
        /// What the policy decided.
        actual: DecisionRecord,
        /// The fields that differ (`decision`, `reason`, `rule`, ...).
        mismatches: Vec<&'static str>,
        /// Why the policy decided as it did (absent for an invalid request).
        explanation: Option<Box<Explanation>>,
    },
    /// The case itself is wrong (a typo, a request that does not fit the
    /// schema, an unknown fixture).
    Error(SuiteError),
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// The case name.
    pub name: String,
    /// Its JSON path in the suite (`cases[3]`).
    pub path: String,
    /// How it went.
    pub outcome: CaseOutcome,
}

impl CaseReport {
    /// `pass`, `fail` or `error`.
    pub fn status(&self) -> &'static str {
        match self.outcome {
            CaseOutcome::Pass { .. } => "pass",
            CaseOutcome::Fail { .. } => "fail",
            CaseOutcome::Error(_) => "error",
        }
    }
}

/// One suite file's results.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    /// The suite file, as found.
    pub file: String,
    /// The suite name (its `name`, or the file name without `.test.json`).
    pub name: String,
    /// Problems with the suite as a whole (unreadable, not JSON, bad
    /// fixtures, unknown keys).
    pub errors: Vec<SuiteError>,
    /// The cases, in file order.
    pub cases: Vec<CaseReport>,
}

/// A decision outcome as tracked by coverage.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// allow (granted).
    Allow,
    /// step_up (requirements_missing).
    StepUp,
    /// deny forbidden.
    Forbidden,
    /// deny expired.
    Expired,
    /// deny not_yet_active.
    NotYetActive,
    /// deny no_matching_rule.
    NoMatchingRule,
}

impl Outcome {
    /// The outcome as written in reports: `allow`, `step_up` or the deny reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::StepUp => "step_up",
            Outcome::Forbidden => "forbidden",
            Outcome::Expired => "expired",
            Outcome::NotYetActive => "not_yet_active",
            Outcome::NoMatchingRule => "no_matching_rule",
        }
    }

    fn of(d: &DecisionRecord) -> Option<Outcome> {
        Some(match (d.decision, d.reason) {
            (Effect::Allow, _) => Outcome::Allow,
            (Effect::StepUp, _) => Outcome::StepUp,
            (_, Reason::Forbidden) => Outcome::Forbidden,
            (_, Reason::Expired) => Outcome::Expired,
            (_, Reason::NotYetActive) => Outcome::NotYetActive,
            (_, Reason::NoMatchingRule) => Outcome::NoMatchingRule,
            _ => return None,
        })
    }
}

/// Coverage of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCoverage {
    /// The rule id.
    pub id: String,
    /// `permit` or `forbid`.
    pub kind: &'static str,
    /// The rule's task, if it is task-scoped.
    pub task: Option<String>,
    /// How many cases it decided.
    pub cases: usize,
}

/// Outcome coverage of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskCoverage {
    /// The task name.
    pub task: String,
    /// The outcomes the task's rules can produce.
    pub applicable: Vec<Outcome>,
    /// The applicable outcomes some case saw.
    pub seen: Vec<Outcome>,
}

impl TaskCoverage {
    /// Applicable outcomes no case saw.
    pub fn missing(&self) -> Vec<Outcome> {
        self.applicable
            .iter()
            .copied()
            .filter(|o| !self.seen.contains(o))
            .collect()
    }
}

/// Rule and task-outcome coverage of one policy set.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Coverage {
    /// Every rule, in source order.
    pub rules: Vec<RuleCoverage>,
    /// Every task, in declaration order.
    pub tasks: Vec<TaskCoverage>,
}

impl Coverage {
    /// Rules that decided at least one case.
    pub fn exercised(&self) -> usize {
        self.rules.iter().filter(|r| r.cases > 0).count()
    }
}

/// One policy set's results.
#[derive(Debug)]
pub struct SetReport {
    /// The package name.
    pub package: Option<String>,
    /// The policy files.
    pub files: Vec<String>,
    /// The sources, for rendering explanations.
    pub sources: SourceMap,
    /// Its suites, in path order.
    pub suites: Vec<SuiteReport>,
    /// What the cases exercised.
    pub coverage: Coverage,
}

/// The result of a run.
#[derive(Debug)]
pub struct Report {
    /// One entry per policy set found, in path order.
    pub sets: Vec<SetReport>,
}

/// The overall verdict, which decides the exit code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every case passed (and coverage met its minimum).
    Pass,
    /// Some case failed, or coverage is below the minimum.
    Fail,
    /// Some suite or case could not run.
    Error,
}

impl Status {
    /// The exit code: 0 pass, 1 fail, 2 error.
    pub fn code(self) -> i32 {
        match self {
            Status::Pass => 0,
            Status::Fail => 1,
            Status::Error => 2,
        }
    }
}

/// Counts over a whole report.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Policy sets.
    pub sets: usize,
    /// Suite files.
    pub suites: usize,
    /// Cases.
    pub cases: usize,
    /// Passed cases.
    pub passed: usize,
    /// Failed cases.
    pub failed: usize,
    /// Cases with errors plus suite-level errors.
    pub errors: usize,
    /// Rules in all sets.
    pub rules: usize,
    /// Rules exercised.
    pub exercised: usize,
}

impl Totals {
    /// Rule coverage in percent (100 when there are no rules).
    pub fn percent(&self) -> f64 {
        percent(self.exercised, self.rules)
    }
}

fn percent(n: usize, total: usize) -> f64 {
    if total == 0 {
        100.0
    } else {
        n as f64 * 100.0 / total as f64
    }
}

impl Report {
    /// Counts over every set.
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            sets: self.sets.len(),
            ..Totals::default()
        };
        for s in &self.sets {
            t.rules += s.coverage.rules.len();
            t.exercised += s.coverage.exercised();
            for suite in &s.suites {
                t.suites += 1;
                t.errors += suite.errors.len();
                for c in &suite.cases {
                    t.cases += 1;
                    match c.outcome {
                        CaseOutcome::Pass { .. } => t.passed += 1,
                        CaseOutcome::Fail { .. } => t.failed += 1,
                        CaseOutcome::Error(_) => t.errors += 1,
                    }
                }
            }
        }
        t
    }

    /// Whether rule coverage is at least `min` percent.
    pub fn coverage_met(&self, min: Option<f64>) -> bool {
        let t = self.totals();
        min.is_none_or(|m| (t.exercised as f64) * 100.0 >= m * t.rules as f64 || t.rules == 0)
    }

    /// The verdict: errors first, then failures (including coverage below
    /// `min_coverage` percent).
    pub fn status(&self, min_coverage: Option<f64>) -> Status {
        let t = self.totals();
        if t.errors > 0 {
            Status::Error
        } else if t.failed > 0 || !self.coverage_met(min_coverage) {
            Status::Fail
        } else {
            Status::Pass
        }
    }
}

// ---------------------------------------------------------------------------
// JSON paths and locations

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

type JPath = Vec<Seg>;

fn path_string(p: &[Seg]) -> String {
    let mut s = String::new();
    for seg in p {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => {
                let _ = write!(s, "[{i}]");
            }
        }
    }
    s
}

fn with(p: &[Seg], seg: Seg) -> JPath {
    let mut v = p.to_vec();
    v.push(seg);
    v
}

fn key(p: &[Seg], k: &str) -> JPath {
    with(p, Seg::Key(k.to_string()))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The end (exclusive) of the string starting at `i`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// The end (exclusive) of the value starting at `i`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                j += 1;
            }
            Some(j)
        }
    }
}

/// The byte offset, in well-formed JSON `text`, of the value at `path`
/// (of its key, for an object member).
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    let mut at = i;
    for seg in path {
        i = skip_ws(b, i);
        match (seg, b.get(i)?) {
            (Seg::Key(want), b'{') => {
                i += 1;
                loop {
                    i = skip_ws(b, i);
                    let start = i;
                    let end = skip_string(b, i)?;
                    let k: String = serde_json::from_str(text.get(start..end)?).ok()?;
                    i = skip_ws(b, end);
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i = skip_ws(b, i + 1);
                    if k == *want {
                        at = start;
                        break;
                    }
                    i = skip_ws(b, skip_value(b, i)?);
                    if b.get(i) != Some(&b',') {
                        return None;
                    }
                    i += 1;
                }
            }
            (Seg::Index(n), b'[') => {
                i = skip_ws(b, i + 1);
                for _ in 0..*n {
                    i = skip_ws(b, skip_value(b, i)?);
                    if b.get(i) != Some(&b',') {
                        return None;
                    }
                    i = skip_ws(b, i + 1);
                }
                at = i;
            }
            _ => return None,
        }
    }
    Some(at)
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(text: &str, offset: usize) -> Option<(usize, usize)> {
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..)?.chars().count() + 1;
    Some((line, col))
}

// ---------------------------------------------------------------------------
// Suite parsing

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

/// Where each value of a built request came from, by request path.
type Origins = BTreeMap<String, JPath>;

fn child(req_path: &str, k: &str) -> String {
    if req_path.is_empty() {
        k.to_string()
    } else {
        format!("{req_path}.{k}")
    }
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
struct Problem {
    path: JPath,
    message: String,
    help: Option<String>,
}

fn problem(path: JPath, message: impl Into<String>) -> Problem {
    Problem {
        path,
        message: message.into(),
        help: None,
    }
}

/// A parsed case, ready to run.
struct Case {
    name: String,
    path: JPath,
    request: Value,
    origins: Origins,
    expect: Expectation,
}

/// The suite file, parsed.
struct Suite<'a> {
    file: String,
    text: &'a str,
    root: &'a Map<String, Value>,
    fixtures: BTreeMap<&'static str, &'a Map<String, Value>>,
}

impl Suite<'_> {
    fn error(&self, p: Problem) -> SuiteError {
        let pos = locate(self.text, &p.path).and_then(|o| line_col(self.text, o));
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
        let fixture_path = vec![
            Seg::Key("fixtures".into()),
            Seg::Key(kind.fixtures_key().into()),
            Seg::Key(name.to_string()),
        ];
        let mut base = self.part(kind, fixture, &fixture_path, req_path, origins, depth + 1)?;
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
}

fn check_keys(
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

fn quoted<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn effect_str(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
        Effect::StepUp => "step_up",
    }
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

/// The request path a binding error message is about.
fn request_path_of(message: &str) -> Option<String> {
    if let Some(rest) = message.strip_prefix("unknown request field `") {
        return rest.split('`').next().map(str::to_string);
    }
    if message.starts_with("unknown action `") || message.starts_with("action `") {
        return Some("action.name".into());
    }
    if message.starts_with("unknown task `") {
        return Some("task.name".into());
    }
    const ROOTS: [&str; 7] = [
        "subject", "action", "resource", "context", "task", "evidence", "now",
    ];
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|s| {
            let head = s.split(['.', '[']).next().unwrap_or("");
            ROOTS.contains(&head)
        })
        .map(str::to_string)
}

/// The origin of `req_path` (or its closest recorded ancestor).
fn origin_of(origins: &Origins, req_path: &str) -> Option<JPath> {
    let mut p = req_path.to_string();
    loop {
        if let Some(o) = origins.get(&p) {
            return Some(o.clone());
        }
        let cut = p.rfind(['.', '['])?;
        p.truncate(cut);
    }
}

fn parse_case(
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

// ---------------------------------------------------------------------------
// Running

/// A suite file and the directory whose policies it tests.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SuiteFile {
    path: PathBuf,
    policy_dir: PathBuf,
}

fn is_suite(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(SUITE_SUFFIX))
}

fn policy_dir_of(suite: &Path) -> PathBuf {
    let dir = suite.parent().unwrap_or(Path::new(""));
    if dir.file_name().is_some_and(|n| n == SUITE_DIR) {
        dir.parent().unwrap_or(Path::new("")).to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

fn dir_of(file: &Path) -> PathBuf {
    file.parent().unwrap_or(Path::new("")).to_path_buf()
}

fn list_dir(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let lookup = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(lookup)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && keep(p))
                .map(|p| match p.file_name() {
                    Some(n) => dir.join(n),
                    None => p,
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Finds the policy sets and suites under `paths`, runs every suite and
/// computes coverage.
///
/// Each path is a policy file, a directory (searched recursively for
/// `.jitp` files, as `jitp check` does) or a suite file (`*.test.json`).
/// The suites of a policy file are the `*.test.json` files in the `tests/`
/// directory beside it; a suite file given directly tests the `.jitp`
/// files in the directory above its `tests/` directory.
pub fn run(paths: &[PathBuf]) -> Result<Report, RunError> {
    let mut policy_paths = Vec::new();
    let mut suites: BTreeSet<SuiteFile> = BTreeSet::new();
    let mut extra_files = Vec::new();
    for p in paths {
        if p.is_file() && is_suite(p) {
            let policy_dir = policy_dir_of(p);
            let found = list_dir(&policy_dir, |f| f.extension().is_some_and(|e| e == "jitp"));
            if found.is_empty() {
                return Err(RunError::Input(InputError {
                    path: p.clone(),
                    message: format!(
                        "no `.jitp` files beside the suite (looked in `{}`)",
                        policy_dir.display()
                    ),
                }));
            }
            extra_files.extend(found);
            suites.insert(SuiteFile {
                path: p.clone(),
                policy_dir,
            });
        } else {
            policy_paths.push(p.clone());
        }
    }
    let mut files = driver::collect_files(&policy_paths).map_err(RunError::Input)?;
    for f in &files {
        let dir = dir_of(f);
        for s in list_dir(&dir.join(SUITE_DIR), is_suite) {
            suites.insert(SuiteFile {
                path: s,
                policy_dir: dir.clone(),
            });
        }
    }
    files.extend(extra_files);
    files.sort();
    files.dedup();
    if suites.is_empty() {
        return Err(RunError::NoSuites(
            "no test suites found: a policy's suites are `*.test.json` files in a `tests/` directory beside it".into(),
        ));
    }
    let mut all_sources = SourceMap::new();
    let ids = driver::read_files(&mut all_sources, &files).map_err(RunError::Input)?;
    let groups = driver::group(&all_sources, &ids);

    // Compile every set on its own source map, so explanations render
    // with exactly that set's files.
    let mut compiled = Vec::new();
    for g in &groups {
        let mut sources = SourceMap::new();
        let mut set_files = Vec::new();
        let mut names = Vec::new();
        for f in &g.files {
            if let Some(sf) = all_sources.get(*f) {
                set_files.push(sources.add(sf.name.clone(), sf.text.clone()));
                names.push(sf.name.clone());
            }
        }
        let set = driver::PolicySet {
            package: g.package.clone(),
            files: set_files,
        };
        let (program, mut diags) = driver::check_set(&mut sources, &set);
        let bundle = match program {
            Some(p) => match crate::lower::compile(&p, &sources) {
                Ok(b) => Some(b),
                Err(more) => {
                    diags.extend(more);
                    None
                }
            },
            None => None,
        };
        let has_errors = diags.iter().any(|d| d.severity == Severity::Error);
        match bundle {
            Some(b) if !has_errors => compiled.push((g.package.clone(), names, sources, b)),
            _ => {
                return Err(RunError::Policy {
                    sources,
                    diagnostics: diags,
                })
            }
        }
    }

    let mut reports: Vec<SetReport> = compiled
        .iter()
        .map(|(package, names, _, _)| SetReport {
            package: package.clone(),
            files: names.clone(),
            sources: SourceMap::new(),
            suites: Vec::new(),
            coverage: Coverage::default(),
        })
        .collect();
    let mut observations: Vec<Vec<Observation>> = vec![Vec::new(); compiled.len()];
    for sf in &suites {
        let file = sf.path.display().to_string();
        let text = match read_suite(&sf.path) {
            Ok(t) => t,
            Err(message) => {
                // Attach an unreadable suite to the first set of its directory.
                let idx = sets_in(&compiled, &sf.policy_dir).first().copied();
                push_orphan(&mut reports, idx, &file, message);
                continue;
            }
        };
        let parsed = match serde_json::from_str::<Value>(&text) {
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
        };
        let root = match parsed {
            Ok(o) => o,
            Err((line, column, message)) => {
                let idx = sets_in(&compiled, &sf.policy_dir).first().copied();
                let err = SuiteError {
                    file: file.clone(),
                    path: String::new(),
                    line: Some(line),
                    column: Some(column),
                    message,
                    help: None,
                };
                let name = suite_name(&sf.path, None);
                push_suite(&mut reports, idx, &file, name, vec![err]);
                continue;
            }
        };
        let root = &root;
        let name = suite_name(&sf.path, root.get("name").and_then(Value::as_str));
        let mut suite = Suite {
            file: file.clone(),
            text: &text,
            root,
            fixtures: BTreeMap::new(),
        };
        let mut errors = Vec::new();
        if let Err(p) = check_keys(
            root,
            &[
                "name",
                "description",
                "package",
                "now",
                "fixtures",
                "defaults",
                "cases",
            ],
            &[],
            "a suite",
        ) {
            errors.push(suite.error(p));
        }
        // Which policy set?
        let candidates = sets_in(&compiled, &sf.policy_dir);
        let wanted = root.get("package");
        let chosen: Result<usize, Problem> = match wanted {
            Some(Value::String(p)) => candidates
                .iter()
                .copied()
                .find(|i| compiled.get(*i).and_then(|c| c.0.as_deref()) == Some(p.as_str()))
                .ok_or_else(|| {
                    problem(
                        vec![Seg::Key("package".into())],
                        format!("no policy set `{p}` in `{}`", display_dir(&sf.policy_dir)),
                    )
                }),
            Some(_) => Err(problem(
                vec![Seg::Key("package".into())],
                "`package` must be a string",
            )),
            None => match candidates.as_slice() {
                [one] => Ok(*one),
                [] => Err(problem(
                    Vec::new(),
                    format!("no policy set in `{}`", display_dir(&sf.policy_dir)),
                )),
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .filter_map(|i| compiled.get(*i))
                        .map(|c| c.0.clone().unwrap_or_else(|| "(no package)".into()))
                        .collect();
                    let mut p = problem(
                        Vec::new(),
                        format!(
                            "`{}` holds several policy sets ({})",
                            display_dir(&sf.policy_dir),
                            quoted(&names)
                        ),
                    );
                    p.help = Some("name one with `\"package\"` in the suite".into());
                    Err(p)
                }
            },
        };
        let idx = match chosen {
            Ok(i) => i,
            Err(p) => {
                errors.push(suite.error(p));
                let idx = candidates.first().copied();
                push_suite(&mut reports, idx, &file, name, errors);
                continue;
            }
        };
        let Some((_, _, _, bundle)) = compiled.get(idx) else {
            continue;
        };
        // Fixtures.
        match root.get("fixtures") {
            None => {}
            Some(Value::Object(f)) => {
                let kinds: Vec<&str> = KINDS.iter().map(|k| k.fixtures_key()).collect();
                if let Err(p) = check_keys(f, &kinds, &[Seg::Key("fixtures".into())], "`fixtures`")
                {
                    errors.push(suite.error(p));
                }
                for kind in KINDS {
                    match f.get(kind.fixtures_key()) {
                        None => {}
                        Some(Value::Object(m)) => {
                            for (n, v) in m {
                                if !v.is_object() {
                                    errors.push(suite.error(problem(
                                        vec![
                                            Seg::Key("fixtures".into()),
                                            Seg::Key(kind.fixtures_key().into()),
                                            Seg::Key(n.clone()),
                                        ],
                                        format!("fixture `{n}` must be an object"),
                                    )));
                                }
                            }
                            suite.fixtures.insert(kind.fixtures_key(), m);
                        }
                        Some(_) => errors.push(suite.error(problem(
                            vec![
                                Seg::Key("fixtures".into()),
                                Seg::Key(kind.fixtures_key().into()),
                            ],
                            "must be an object of named fixtures",
                        ))),
                    }
                }
            }
            Some(_) => errors.push(suite.error(problem(
                vec![Seg::Key("fixtures".into())],
                "`fixtures` must be an object",
            ))),
        }
        if root.get("defaults").is_some_and(|d| !d.is_object()) {
            errors.push(suite.error(problem(
                vec![Seg::Key("defaults".into())],
                "`defaults` must be an object (a partial request)",
            )));
        }
        if root.get("now").is_some_and(|n| !n.is_string()) {
            errors.push(suite.error(problem(
                vec![Seg::Key("now".into())],
                "`now` must be an RFC 3339 time string",
            )));
        }
        let cases = match root.get("cases") {
            Some(Value::Array(c)) => c.as_slice(),
            other => {
                errors.push(suite.error(problem(
                    if other.is_some() {
                        vec![Seg::Key("cases".into())]
                    } else {
                        Vec::new()
                    },
                    "a suite needs `cases`, an array of cases",
                )));
                &[]
            }
        };
        let mut names = BTreeSet::new();
        let mut results = Vec::new();
        for (i, v) in cases.iter().enumerate() {
            let case = match parse_case(&suite, i, v, bundle, &mut names) {
                Ok(c) => c,
                Err((name, p)) => {
                    results.push(CaseReport {
                        name,
                        path: format!("cases[{i}]"),
                        outcome: CaseOutcome::Error(suite.error(p)),
                    });
                    continue;
                }
            };
            let (report, obs) = run_case(&suite, &case, bundle);
            if let (Some(o), Some(list)) = (obs, observations.get_mut(idx)) {
                list.push(o);
            }
            results.push(report);
        }
        if let Some(r) = reports.get_mut(idx) {
            r.suites.push(SuiteReport {
                file,
                name,
                errors,
                cases: results,
            });
        }
    }
    for ((r, (_, _, sources, bundle)), obs) in reports.iter_mut().zip(compiled).zip(observations) {
        r.coverage = coverage(&bundle, &obs);
        r.sources = sources;
    }
    Ok(Report { sets: reports })
}

fn display_dir(d: &Path) -> String {
    if d.as_os_str().is_empty() {
        ".".into()
    } else {
        d.display().to_string()
    }
}

fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

fn suite_name(path: &Path, given: Option<&str>) -> String {
    given.map(str::to_string).unwrap_or_else(|| {
        let n = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        n.strip_suffix(SUITE_SUFFIX).unwrap_or(n).to_string()
    })
}

fn read_suite(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string().to_lowercase())?;
    if meta.len() > MAX_SUITE_BYTES {
        return Err(format!(
            "the suite is larger than {} MiB",
            MAX_SUITE_BYTES / 1024 / 1024
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string().to_lowercase())?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the suite is not valid UTF-8 (at byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

type Compiled = (Option<String>, Vec<String>, SourceMap, Bundle);

/// Indexes of the compiled sets with a file directly in `dir`.
fn sets_in(compiled: &[Compiled], dir: &Path) -> Vec<usize> {
    compiled
        .iter()
        .enumerate()
        .filter(|(_, c)| c.1.iter().any(|f| dir_of(Path::new(f)) == dir))
        .map(|(i, _)| i)
        .collect()
}

fn push_suite(
    reports: &mut [SetReport],
    idx: Option<usize>,
    file: &str,
    name: String,
    errors: Vec<SuiteError>,
) {
    let i = idx.filter(|i| *i < reports.len()).unwrap_or(0);
    if let Some(r) = reports.get_mut(i) {
        r.suites.push(SuiteReport {
            file: file.to_string(),
            name,
            errors,
            cases: Vec::new(),
        });
    }
}

fn push_orphan(reports: &mut [SetReport], idx: Option<usize>, file: &str, message: String) {
    let err = SuiteError {
        file: file.to_string(),
        path: String::new(),
        line: None,
        column: None,
        message: format!("cannot read the suite: {message}"),
        help: None,
    };
    let name = suite_name(Path::new(file), None);
    push_suite(reports, idx, file, name, vec![err]);
}

/// What one decided case tells coverage.
#[derive(Clone, Debug)]
struct Observation {
    rule: Option<String>,
    request_task: Option<String>,
    rule_task: Option<String>,
    outcome: Option<Outcome>,
}

fn run_case(suite: &Suite<'_>, case: &Case, bundle: &Bundle) -> (CaseReport, Option<Observation>) {
    let name = case.name.clone();
    let path = path_string(&case.path);
    let expects_invalid = case.expect.decision == Some(Effect::Deny)
        && case.expect.reason == Some(Reason::InvalidRequest);
    let (actual, explanation) = match bundle.bind(&case.request) {
        Ok(bound) => {
            let e = bundle.explain(&bound);
            (e.decision.clone(), Some(Box::new(e)))
        }
        Err(err) if expects_invalid => (DecisionRecord::invalid(err.to_string()), None),
        Err(err) => {
            let origin = request_path_of(err.message())
                .and_then(|p| origin_of(&case.origins, &p))
                .unwrap_or_else(|| key(&case.path, "request"));
            let mut p = problem(
                origin,
                format!(
                    "case `{}`: the request does not fit the policy: {}",
                    case.name, err
                ),
            );
            p.help = Some(
                "to test that such a request is refused, expect `{\"decision\": \"deny\", \"reason\": \"invalid_request\"}`"
                    .into(),
            );
            return (
                CaseReport {
                    name,
                    path,
                    outcome: CaseOutcome::Error(suite.error(p)),
                },
                None,
            );
        }
    };
    let obs = Observation {
        rule: actual.rule.clone(),
        request_task: case
            .request
            .get("task")
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string),
        rule_task: actual.task.clone(),
        outcome: Outcome::of(&actual),
    };
    let mismatches = case.expect.mismatches(&actual);
    let outcome = if mismatches.is_empty() {
        CaseOutcome::Pass { actual }
    } else {
        CaseOutcome::Fail {
            expected: case.expect.clone(),
            actual,
            mismatches,
            explanation,
        }
    };
    (
        CaseReport {
            name,
            path,
            outcome,
        },
        Some(obs),
    )
}

fn coverage(bundle: &Bundle, obs: &[Observation]) -> Coverage {
    let bundle = bundle.image();
    let task_name = |t: Option<u32>| {
        t.and_then(|t| bundle.tasks.get(t as usize))
            .map(|t| bundle.string(t.name).to_string())
    };
    let rules = bundle
        .rules
        .iter()
        .map(|r| {
            let id = bundle.string(r.id).to_string();
            RuleCoverage {
                cases: obs
                    .iter()
                    .filter(|o| o.rule.as_deref() == Some(id.as_str()))
                    .count(),
                id,
                kind: if r.forbid { "forbid" } else { "permit" },
                task: task_name(r.task),
            }
        })
        .collect();
    let has_global_guard = bundle.rules.iter().any(|r| r.forbid && r.task.is_none());
    let tasks = bundle
        .tasks
        .iter()
        .enumerate()
        .map(|(ti, t)| {
            let name = bundle.string(t.name).to_string();
            let own = || {
                bundle
                    .rules
                    .iter()
                    .filter(move |r| r.task == u32::try_from(ti).ok())
            };
            let permits = own().any(|r| !r.forbid);
            let mut applicable = Vec::new();
            if permits {
                applicable.push(Outcome::Allow);
            }
            if own().any(|r| !r.forbid && !r.requires.is_empty()) {
                applicable.push(Outcome::StepUp);
            }
            if has_global_guard || own().any(|r| r.forbid) {
                applicable.push(Outcome::Forbidden);
            }
            if own().any(|r| !r.forbid && (r.ttl.is_some() || t.ttl.is_some())) {
                applicable.push(Outcome::Expired);
            }
            if permits {
                applicable.push(Outcome::NotYetActive);
            }
            applicable.push(Outcome::NoMatchingRule);
            let mut seen: Vec<Outcome> = obs
                .iter()
                .filter(|o| o.request_task.as_deref() == Some(name.as_str()))
                .filter_map(|o| {
                    let out = o.outcome?;
                    let by_own = o.rule_task.as_deref() == Some(name.as_str());
                    match out {
                        Outcome::Allow
                        | Outcome::StepUp
                        | Outcome::Expired
                        | Outcome::NotYetActive => by_own.then_some(out),
                        Outcome::Forbidden | Outcome::NoMatchingRule => Some(out),
                    }
                })
                .filter(|o| applicable.contains(o))
                .collect();
            seen.sort();
            seen.dedup();
            TaskCoverage {
                task: name,
                applicable,
                seen,
            }
        })
        .collect();
    Coverage { rules, tasks }
}

// ---------------------------------------------------------------------------
// Rendering

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn obligations_text(o: &[Obligation]) -> String {
    o.iter()
        .map(|o| format!("{} `{}`", o.kind, o.target))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_actual(d: &DecisionRecord) -> String {
    let mut s = format!("{} ({})", effect_str(d.decision), d.reason.as_str());
    if let Some(r) = &d.rule {
        let _ = write!(s, " by rule `{r}`");
    }
    if let Some(t) = &d.task {
        let _ = write!(s, " in task `{t}`");
    }
    if let Some(e) = &d.expires_at {
        let _ = write!(s, ", expires at {e}");
    } else if d.decision == Effect::Allow {
        s.push_str(", no expiry");
    }
    if !d.needs.is_empty() {
        let _ = write!(s, ", needs [{}]", quoted(&d.needs));
    }
    if !d.obligations.is_empty() {
        let _ = write!(s, ", obligations [{}]", obligations_text(&d.obligations));
    }
    if let Some(e) = &d.error {
        let _ = write!(s, ": {e}");
    }
    s
}

fn package_name(p: &Option<String>) -> String {
    p.clone().unwrap_or_else(|| "(no package)".into())
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31;1", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33;1", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

fn render_error(out: &mut String, e: &SuiteError, paint: &Paint) {
    let _ = writeln!(out, "{}: {e}", paint.red("error"));
    if let Some(h) = &e.help {
        let _ = writeln!(out, "  help: {h}");
    }
}

impl Report {
    /// The human-readable report: one line per case, then the details of
    /// every failure (expected, actual, and the explanation as
    /// `jitp eval --explain` renders it), every error, the coverage (with
    /// `coverage`) and a summary line.
    pub fn human(&self, color: bool, coverage: bool, min_coverage: Option<f64>) -> String {
        let paint = Paint(color);
        let mut out = String::new();
        for set in &self.sets {
            if set.suites.is_empty() {
                let _ = writeln!(
                    out,
                    "{}: no test suites (add `{SUITE_DIR}/*{SUITE_SUFFIX}` beside {})\n",
                    package_name(&set.package),
                    quoted(&set.files)
                );
            }
            for suite in &set.suites {
                let _ = writeln!(
                    out,
                    "{} {} ({}, {} case{})",
                    paint.bold("suite"),
                    suite.file,
                    package_name(&set.package),
                    suite.cases.len(),
                    plural(suite.cases.len())
                );
                for c in &suite.cases {
                    let tag = match c.outcome {
                        CaseOutcome::Pass { .. } => paint.green("pass "),
                        CaseOutcome::Fail { .. } => paint.red("FAIL "),
                        CaseOutcome::Error(_) => paint.red("ERROR"),
                    };
                    let _ = writeln!(out, "  {tag} {}", c.name);
                }
                out.push('\n');
            }
        }
        let mut failures = String::new();
        let mut errors = String::new();
        for set in &self.sets {
            for suite in &set.suites {
                for e in &suite.errors {
                    render_error(&mut errors, e, &paint);
                }
                for c in &suite.cases {
                    match &c.outcome {
                        CaseOutcome::Pass { .. } => {}
                        CaseOutcome::Error(e) => render_error(&mut errors, e, &paint),
                        CaseOutcome::Fail {
                            expected,
                            actual,
                            mismatches,
                            explanation,
                        } => {
                            let _ = writeln!(
                                failures,
                                "{} `{}` ({}, {})",
                                paint.red("FAIL"),
                                c.name,
                                suite.file,
                                c.path
                            );
                            let _ = writeln!(failures, "  expected: {}", expected.describe());
                            let _ = writeln!(failures, "  actual:   {}", describe_actual(actual));
                            let _ = writeln!(failures, "  differs in: {}", mismatches.join(", "));
                            if let Some(x) = explanation {
                                failures.push_str("  explanation:\n");
                                let text = crate::explain_render::render(&set.sources, x, color);
                                for line in text.lines() {
                                    if line.is_empty() {
                                        failures.push('\n');
                                    } else {
                                        let _ = writeln!(failures, "    {line}");
                                    }
                                }
                            }
                            failures.push('\n');
                        }
                    }
                }
            }
        }
        if !failures.is_empty() {
            let _ = writeln!(out, "{}\n", paint.bold("failures:"));
            out.push_str(&failures);
        }
        if !errors.is_empty() {
            let _ = writeln!(out, "{}\n", paint.bold("errors in the suites:"));
            out.push_str(&errors);
            out.push('\n');
        }
        let t = self.totals();
        if coverage {
            let _ = writeln!(out, "{}\n", paint.bold("coverage:"));
            for set in &self.sets {
                let c = &set.coverage;
                let _ = writeln!(
                    out,
                    "{}: {}/{} rule{} exercised ({:.1}%)",
                    package_name(&set.package),
                    c.exercised(),
                    c.rules.len(),
                    plural(c.rules.len()),
                    percent(c.exercised(), c.rules.len())
                );
                let missing: Vec<&str> = c
                    .rules
                    .iter()
                    .filter(|r| r.cases == 0)
                    .map(|r| r.id.as_str())
                    .collect();
                if !missing.is_empty() {
                    let _ = writeln!(out, "  rules never deciding a case: {}", quoted(&missing));
                }
                for task in &c.tasks {
                    let m = task.missing();
                    if m.is_empty() {
                        let _ = writeln!(out, "  task `{}`: every outcome seen", task.task);
                    } else {
                        let names: Vec<&str> = m.iter().map(|o| o.as_str()).collect();
                        let _ = writeln!(
                            out,
                            "  task `{}`: never seen {}",
                            task.task,
                            names.join(", ")
                        );
                    }
                }
            }
            out.push('\n');
        }
        let status = self.status(min_coverage);
        let verdict = match status {
            Status::Pass => paint.green("ok"),
            Status::Fail => paint.red("FAILED"),
            Status::Error => paint.red("ERROR"),
        };
        let _ = write!(
            out,
            "test result: {verdict}. {} passed, {} failed, {} error{} ({} case{} in {} suite{}, {} policy set{}); rule coverage {:.1}% ({}/{})",
            t.passed,
            t.failed,
            t.errors,
            plural(t.errors),
            t.cases,
            plural(t.cases),
            t.suites,
            plural(t.suites),
            t.sets,
            plural(t.sets),
            t.percent(),
            t.exercised,
            t.rules
        );
        if let Some(m) = min_coverage {
            if self.coverage_met(Some(m)) {
                let _ = write!(out, ", minimum {m}% met");
            } else {
                let _ = write!(
                    out,
                    ", {}",
                    paint.yellow(&format!("below the minimum {m}%"))
                );
            }
        }
        out.push('\n');
        out
    }

    /// The report as one JSON document (schema in `docs/testing.md`).
    pub fn json(&self, min_coverage: Option<f64>) -> Value {
        let t = self.totals();
        let err_json = |e: &SuiteError| {
            json!({
                "file": e.file,
                "path": e.path,
                "line": e.line,
                "column": e.column,
                "message": e.message,
                "help": e.help,
            })
        };
        let sets: Vec<Value> = self
            .sets
            .iter()
            .map(|s| {
                let suites: Vec<Value> = s
                    .suites
                    .iter()
                    .map(|suite| {
                        let cases: Vec<Value> = suite
                            .cases
                            .iter()
                            .map(|c| {
                                let mut o = Map::new();
                                o.insert("name".into(), json!(c.name));
                                o.insert("path".into(), json!(c.path));
                                o.insert("status".into(), json!(c.status()));
                                match &c.outcome {
                                    CaseOutcome::Pass { actual } => {
                                        o.insert("actual".into(), actual.to_json());
                                    }
                                    CaseOutcome::Fail {
                                        expected,
                                        actual,
                                        mismatches,
                                        explanation,
                                    } => {
                                        o.insert("expected".into(), expected.to_json());
                                        o.insert("actual".into(), actual.to_json());
                                        o.insert("mismatches".into(), json!(mismatches));
                                        let rules: &[RuleTrace] =
                                            explanation.as_ref().map_or(&[], |x| &x.rules);
                                        o.insert(
                                            "explanation".into(),
                                            serde_json::to_value(rules).unwrap_or(Value::Null),
                                        );
                                    }
                                    CaseOutcome::Error(e) => {
                                        o.insert("error".into(), err_json(e));
                                    }
                                }
                                Value::Object(o)
                            })
                            .collect();
                        json!({
                            "file": suite.file,
                            "name": suite.name,
                            "errors": suite.errors.iter().map(err_json).collect::<Vec<_>>(),
                            "cases": cases,
                        })
                    })
                    .collect();
                let c = &s.coverage;
                json!({
                    "package": s.package,
                    "files": s.files,
                    "suites": suites,
                    "coverage": {
                        "rules_total": c.rules.len(),
                        "rules_exercised": c.exercised(),
                        "percent": round1(percent(c.exercised(), c.rules.len())),
                        "rules": c.rules.iter().map(|r| json!({
                            "id": r.id,
                            "kind": r.kind,
                            "task": r.task,
                            "cases": r.cases,
                        })).collect::<Vec<_>>(),
                        "tasks": c.tasks.iter().map(|t| json!({
                            "task": t.task,
                            "applicable": t.applicable.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                            "seen": t.seen.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                            "missing": t.missing().iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                        })).collect::<Vec<_>>(),
                    },
                })
            })
            .collect();
        let status = match self.status(min_coverage) {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
        };
        json!({
            "version": 1,
            "status": status,
            "summary": {
                "policy_sets": t.sets,
                "suites": t.suites,
                "cases": t.cases,
                "passed": t.passed,
                "failed": t.failed,
                "errors": t.errors,
            },
            "coverage": {
                "rules_total": t.rules,
                "rules_exercised": t.exercised,
                "percent": round1(t.percent()),
                "min": min_coverage,
                "met": self.coverage_met(min_coverage),
            },
            "policy_sets": sets,
        })
    }

    /// The report as JUnit XML: one `<testsuite>` per suite file, one
    /// `<testcase>` per case (`<failure>` with the expected and actual
    /// decision and the explanation; `<error>` for a case that could not
    /// run); suite-level errors are a `<testcase name="(suite)">` with an
    /// `<error>`.
    pub fn junit(&self) -> String {
        let t = self.totals();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"jitp\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            t.cases
                + self
                    .sets
                    .iter()
                    .flat_map(|s| &s.suites)
                    .filter(|s| !s.errors.is_empty())
                    .count(),
            t.failed,
            t.errors
        );
        for set in &self.sets {
            let package = package_name(&set.package);
            for suite in &set.suites {
                let failed = suite
                    .cases
                    .iter()
                    .filter(|c| matches!(c.outcome, CaseOutcome::Fail { .. }))
                    .count();
                let errored = suite
                    .cases
                    .iter()
                    .filter(|c| matches!(c.outcome, CaseOutcome::Error(_)))
                    .count()
                    + suite.errors.len();
                let tests = suite.cases.len() + usize::from(!suite.errors.is_empty());
                let classname = format!("{package}.{}", suite.name);
                let _ = writeln!(
                    out,
                    "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failed}\" errors=\"{errored}\" skipped=\"0\" file=\"{}\">",
                    xml(&classname),
                    xml(&suite.file)
                );
                if !suite.errors.is_empty() {
                    let _ = writeln!(
                        out,
                        "    <testcase name=\"(suite)\" classname=\"{}\" file=\"{}\">",
                        xml(&classname),
                        xml(&suite.file)
                    );
                    for e in &suite.errors {
                        junit_error(&mut out, e);
                    }
                    out.push_str("    </testcase>\n");
                }
                for c in &suite.cases {
                    let open = format!(
                        "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\"",
                        xml(&c.name),
                        xml(&classname),
                        xml(&suite.file)
                    );
                    match &c.outcome {
                        CaseOutcome::Pass { .. } => {
                            let _ = writeln!(out, "{open}/>");
                        }
                        CaseOutcome::Fail {
                            expected,
                            actual,
                            mismatches,
                            explanation,
                        } => {
                            let message = format!(
                                "expected {}, got {}",
                                expected.describe(),
                                describe_actual(actual)
                            );
                            let mut body = format!(
                                "{} ({})\nexpected: {}\nactual:   {}\ndiffers in: {}\n",
                                c.name,
                                c.path,
                                expected.describe(),
                                describe_actual(actual),
                                mismatches.join(", ")
                            );
                            if let Some(x) = explanation {
                                body.push_str("explanation:\n");
                                body.push_str(&crate::explain_render::render(
                                    &set.sources,
                                    x,
                                    false,
                                ));
                            }
                            let _ = writeln!(
                                out,
                                "{open}>\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>",
                                xml(&message),
                                xml_text(&body)
                            );
                        }
                        CaseOutcome::Error(e) => {
                            let _ = writeln!(out, "{open}>");
                            junit_error(&mut out, e);
                            out.push_str("    </testcase>\n");
                        }
                    }
                }
                out.push_str("  </testsuite>\n");
            }
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Writes a JUnit `<error>` element for a suite or case error.
fn junit_error(out: &mut String, e: &SuiteError) {
    let text = match &e.help {
        Some(h) => format!("{e}\nhelp: {h}"),
        None => e.to_string(),
    };
    let _ = writeln!(
        out,
        "      <error message=\"{}\" type=\"suite\">{}</error>",
        xml(&e.message),
        xml_text(&text)
    );
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Escapes text for XML attributes and character data. Characters XML 1.0
/// cannot hold (most control characters) become U+FFFD.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text for XML character data: like [`xml`], but line breaks and
/// tabs stay as they are.
pub fn xml_text(s: &str) -> String {
    xml(s)
        .replace("&#10;", "\n")
        .replace("&#13;", "\r")
        .replace("&#9;", "\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_nested_values() {
        let text = "{\n  \"a\": [1, {\"b\": \"x\"}],\n  \"c\": {\"d\": 2}\n}";
        let p = vec![Seg::Key("a".into()), Seg::Index(1), Seg::Key("b".into())];
        let off = locate(text, &p).unwrap();
        assert_eq!(line_col(text, off), Some((2, 13)));
        let p = vec![Seg::Key("c".into()), Seg::Key("d".into())];
        assert_eq!(line_col(text, locate(text, &p).unwrap()), Some((3, 9)));
        assert_eq!(locate(text, &[Seg::Key("zz".into())]), None);
    }

    #[test]
    fn request_paths_from_binding_errors() {
        assert_eq!(
            request_path_of("unknown request field `contxt`").as_deref(),
            Some("contxt")
        );
        assert_eq!(
            request_path_of("`context.risk` must be an integer").as_deref(),
            Some("context.risk")
        );
        assert_eq!(
            request_path_of("unknown entity type `Foo` in `subject.type`").as_deref(),
            Some("subject.type")
        );
        assert_eq!(
            request_path_of("unknown action `x.y`").as_deref(),
            Some("action.name")
        );
    }

    #[test]
    fn xml_escapes() {
        assert_eq!(xml("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;\u{fffd}");
    }
}
