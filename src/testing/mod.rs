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
//!
//! The runner's parts, one module each:
//!
//! - `discovery`: finding the policy files and the suites beside them;
//! - `suite`: reading suite files, resolving fixtures and building requests;
//! - `json_pos`: JSON paths and their line and column in a suite's text;
//! - `coverage`: rule and task-outcome coverage;
//! - `report`: the human, JSON and JUnit formats of a [`Report`].
//!
//! This module holds the entry point, [`run`], and the result types.

use crate::diagnostic::{Diagnostic, Severity};
use crate::driver::{self, InputError};
use crate::span::SourceMap;
use jitp_runtime::decision::{DecisionRecord, Effect, Obligation, Reason};
use jitp_runtime::value::Time;
use jitp_runtime::{Bundle, Explanation};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

mod coverage;
mod discovery;
mod json_pos;
mod report;
mod suite;

pub use coverage::{Coverage, Outcome, RuleCoverage, TaskCoverage};
pub use report::junit::{xml, xml_text};

use coverage::{coverage, Observation};
use discovery::{dir_of, discover, display_dir, SuiteFile};
use json_pos::{key, path_string, Seg};
use suite::{
    check_keys, origin_of, parse_case, parse_suite, problem, read_suite, suite_name, Case, Problem,
    Suite, SUITE_KEYS,
};

/// The file name suffix of test suites.
pub const SUITE_SUFFIX: &str = ".test.json";
/// The directory, beside a policy set's files, that holds its suites.
pub const SUITE_DIR: &str = "tests";
/// Largest suite file accepted, in bytes.
pub const MAX_SUITE_BYTES: u64 = 16 * 1024 * 1024;

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
// Running

/// Finds the policy sets and suites under `paths`, runs every suite and
/// computes coverage.
///
/// Each path is a policy file, a directory (searched recursively for
/// `.jitp` files, as `jitp check` does) or a suite file (`*.test.json`).
/// The suites of a policy file are the `*.test.json` files in the `tests/`
/// directory beside it; a suite file given directly tests the `.jitp`
/// files in the directory above its `tests/` directory.
pub fn run(paths: &[PathBuf]) -> Result<Report, RunError> {
    let (files, suites) = discover(paths)?;
    let compiled = compile_sets(&files)?;
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
        run_suite(sf, &compiled, &mut reports, &mut observations);
    }
    for ((r, (_, _, sources, bundle)), obs) in reports.iter_mut().zip(compiled).zip(observations) {
        r.coverage = coverage(&bundle, &obs);
        r.sources = sources;
    }
    Ok(Report { sets: reports })
}

/// Reads `files`, groups them into policy sets and takes each through the
/// pipeline ([`driver::check_and_build`]). The first set with an error
/// stops the run with every diagnostic of that set.
fn compile_sets(files: &[PathBuf]) -> Result<Vec<Compiled>, RunError> {
    let mut all_sources = SourceMap::new();
    let ids = driver::read_files(&mut all_sources, files).map_err(RunError::Input)?;
    let groups = driver::group(&all_sources, &ids);
    let mut compiled = Vec::new();
    for set in &groups {
        let names = set
            .files
            .iter()
            .filter_map(|f| all_sources.get(*f).map(|sf| sf.name.clone()))
            .collect();
        let built = driver::check_and_build(&mut all_sources, set);
        match built.bundle {
            // Explanations render from the bundle's own files, which its
            // spans number.
            Some(bundle) => compiled.push((
                set.package.clone(),
                names,
                SourceMap::of_bundle(&bundle),
                bundle,
            )),
            None => {
                return Err(RunError::Policy {
                    sources: all_sources,
                    diagnostics: built.diagnostics,
                })
            }
        }
    }
    Ok(compiled)
}

/// Runs one suite file: adds its report to the set it tests (or, when it
/// cannot run, to the first set of its directory) and what its cases
/// exercised to that set's `observations`.
fn run_suite(
    sf: &SuiteFile,
    compiled: &[Compiled],
    reports: &mut [SetReport],
    observations: &mut [Vec<Observation>],
) {
    let file = sf.path.display().to_string();
    let text = match read_suite(&sf.path) {
        Ok(t) => t,
        Err(message) => {
            // Attach an unreadable suite to the first set of its directory.
            let idx = sets_in(compiled, &sf.policy_dir).first().copied();
            push_orphan(reports, idx, &file, message);
            return;
        }
    };
    let root = match parse_suite(&text) {
        Ok(o) => o,
        Err((line, column, message)) => {
            let idx = sets_in(compiled, &sf.policy_dir).first().copied();
            let err = SuiteError {
                file: file.clone(),
                path: String::new(),
                line: Some(line),
                column: Some(column),
                message,
                help: None,
            };
            let name = suite_name(&sf.path, None);
            push_suite(reports, idx, &file, name, vec![err]);
            return;
        }
    };
    let root = &root;
    let name = suite_name(&sf.path, root.get("name").and_then(Value::as_str));
    let mut suite = Suite {
        positions: Default::default(),
        file: file.clone(),
        text: &text,
        root,
        fixtures: BTreeMap::new(),
    };
    let mut errors = Vec::new();
    if let Err(p) = check_keys(root, &SUITE_KEYS, &[], "a suite") {
        errors.push(suite.error(p));
    }
    let candidates = sets_in(compiled, &sf.policy_dir);
    let idx = match choose_set(root.get("package"), &candidates, compiled, &sf.policy_dir) {
        Ok(i) => i,
        Err(p) => {
            errors.push(suite.error(p));
            let idx = candidates.first().copied();
            push_suite(reports, idx, &file, name, errors);
            return;
        }
    };
    let Some((_, _, _, bundle)) = compiled.get(idx) else {
        return;
    };
    let cases = suite.read_body(&mut errors);
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

/// The index in `compiled` of the set a suite tests: the one of
/// `candidates` (the sets in the suite's policy directory `dir`) that its
/// `package` names, or the only one when it names none.
fn choose_set(
    wanted: Option<&Value>,
    candidates: &[usize],
    compiled: &[Compiled],
    dir: &Path,
) -> Result<usize, Problem> {
    match wanted {
        Some(Value::String(p)) => candidates
            .iter()
            .copied()
            .find(|i| compiled.get(*i).and_then(|c| c.0.as_deref()) == Some(p.as_str()))
            .ok_or_else(|| {
                problem(
                    vec![Seg::Key("package".into())],
                    format!("no policy set `{p}` in `{}`", display_dir(dir)),
                )
            }),
        Some(_) => Err(problem(
            vec![Seg::Key("package".into())],
            "`package` must be a string",
        )),
        None => match candidates {
            [one] => Ok(*one),
            [] => Err(problem(
                Vec::new(),
                format!("no policy set in `{}`", display_dir(dir)),
            )),
            many => {
                let names: Vec<String> = many
                    .iter()
                    .filter_map(|i| compiled.get(*i))
                    .map(|c| package_name(&c.0))
                    .collect();
                let mut p = problem(
                    Vec::new(),
                    format!(
                        "`{}` holds several policy sets ({})",
                        display_dir(dir),
                        quoted(&names)
                    ),
                );
                p.help = Some("name one with `\"package\"` in the suite".into());
                Err(p)
            }
        },
    }
}

/// A built policy set: its package, its file names, its own source map
/// and its bundle.
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

/// Adds a suite that runs no case (with `errors`) to set `idx`, or to the
/// first set when there is none.
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

/// Adds a suite that cannot be read to set `idx` (see [`push_suite`]).
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

/// Decides one case and compares the decision with its expectation: its
/// report, and what it tells coverage when the request could be decided.
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
            let origin = Some(err.path.as_str())
                .filter(|p| !p.is_empty())
                .and_then(|p| origin_of(&case.origins, p))
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

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn package_name(p: &Option<String>) -> String {
    p.clone().unwrap_or_else(|| "(no package)".into())
}
