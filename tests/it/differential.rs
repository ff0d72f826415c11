//! Differential property test: the bytecode VM must agree with the
//! reference interpreter (`src/reference.rs`, which defines the semantics)
//! on every (policy, request) pair.
//!
//! The generator (`tests/differential/gen.rs`) builds random, well-typed
//! policies over a fixed schema — three entity types with String, Int, Bool,
//! Set<String>, enum, Net and optional fields; a ticket record with an
//! optional nested change record holding a `time.Window`; a context with
//! Int, Ip, Net, Set<Net>, optional records, optional Int, Set<String>,
//! Duration and window fields — with 3–6 actions, 1–3 tasks and break-glass
//! blocks, constants, helper functions and 1–12 random permits and forbids
//! whose conditions are type-directed random expressions. Each policy is
//! rendered to source, checked with `driver::check_text` (a rejection is a
//! generator bug and fails the test with the diagnostics), compiled, sent
//! through `Bundle::to_bytes`/`from_bytes`, and then asked 5–20 random
//! AuthZEN requests (valid, and occasionally ill-typed), comparing the VM's
//! decision with the reference interpreter's. The `error` texts may differ;
//! whether there is one may not.
//!
//! Size: at least 10,000 (policy, request) pairs per run, or about
//! `JITP_DIFF_CASES` pairs. The seed is fixed (see
//! `support::seed`: `JITP_SEED=random` for a fresh one, printed);
//! `JITP_DIFF_SEED` also replays a run. A failure is shrunk structurally (one
//! request, fewer rules, fewer clauses, smaller expressions, smaller JSON)
//! and reported with the policy source and the request JSON.

#[path = "differential/gen.rs"]
pub(crate) mod gen;

use gen::{Policy, Rng, E};
use jitp::driver::check_text;
use jitp::{reference, render};
use jitp_runtime::decision::DecisionRecord;
use proptest::prelude::Rng as _;
use proptest::strategy::{NewTree, Strategy, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use serde_json::Value as Json;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use {jitp::lower::compile, jitp_runtime::Bundle};

/// (policy, request) pairs compared so far (all threads, shrinking included).
static PAIRS: AtomicUsize = AtomicUsize::new(0);

/// How often each (decision, reason) came up, for the summary line.
static OUTCOMES: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());

fn tally(d: &DecisionRecord) {
    let key = format!(
        "{}/{}{}",
        serde_json::to_value(d.decision)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        d.reason.as_str(),
        if d.error.is_some() && d.reason != jitp_runtime::decision::Reason::InvalidRequest {
            "+error"
        } else {
            ""
        }
    );
    if let Ok(mut o) = OUTCOMES.lock() {
        match o.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => o.push((key, 1)),
        }
    }
}

thread_local! {
    /// The same, for this thread.
    static MY_PAIRS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn target_pairs() -> usize {
    std::env::var("JITP_DIFF_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(10_000)
}

fn base_seed() -> u64 {
    std::env::var("JITP_DIFF_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(crate::support::seed)
}

// ---------------------------------------------------------------- cases

/// One policy and the requests asked of it.
#[derive(Clone)]
struct Case {
    seed: u64,
    policy: Policy,
    requests: Vec<Json>,
}

impl Case {
    fn generate(seed: u64) -> Case {
        let mut rng = Rng::new(seed);
        let policy = gen::gen_policy(&mut rng);
        let n = rng.range(5, 20);
        let requests = (0..n)
            .map(|_| gen::gen_request(&mut rng, &policy))
            .collect();
        Case {
            seed,
            policy,
            requests,
        }
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "(generated from case seed {})", self.seed)?;
        writeln!(f, "---- policy.jitp ----")?;
        writeln!(f, "{}", self.policy.render())?;
        for (i, r) in self.requests.iter().enumerate() {
            writeln!(f, "---- request {i} ----")?;
            writeln!(f, "{}", serde_json::to_string_pretty(r).unwrap_or_default())?;
        }
        Ok(())
    }
}

fn decision_text(d: &DecisionRecord) -> String {
    serde_json::to_string(&d.to_json()).unwrap_or_default()
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".into())
}

/// Checks and compiles the policy; `Err` describes why it could not be.
fn build(policy_text: &str) -> Result<(jitp::check::hir::Program, Bundle), String> {
    let (sources, program, diags) = check_text("generated.jitp", policy_text);
    let has_errors = diags.iter().any(|d| d.is_error());
    let program = match program {
        Some(p) if !has_errors => p,
        _ => {
            return Err(format!(
                "generator bug: the generated policy does not type-check\n{}",
                render::terminal(&sources, &diags, false)
            ))
        }
    };
    let bundle = compile(&program, &sources).map_err(|d| {
        format!(
            "the checked policy does not compile (generator or compiler bug)\n{}",
            render::terminal(&sources, &d, false)
        )
    })?;
    let bytes = bundle.to_bytes();
    let bundle = Bundle::from_bytes(&bytes)
        .map_err(|e| format!("a compiled bundle does not load back: {e:?}"))?;
    Ok((program, bundle))
}

/// Runs every request of the case through the VM and the reference.
fn run_case(case: &Case) -> Result<(), TestCaseError> {
    let text = case.policy.render();
    let (program, bundle) = build(&text)
        .map_err(|e| TestCaseError::fail(format!("{e}\n---- policy.jitp ----\n{text}")))?;
    for (i, req) in case.requests.iter().enumerate() {
        PAIRS.fetch_add(1, Ordering::Relaxed);
        MY_PAIRS.with(|c| c.set(c.get() + 1));
        let req_text = serde_json::to_string(req).unwrap_or_default();
        let json: Json = serde_json::from_str(&req_text).unwrap_or(Json::Null);
        let vm = catch_unwind(AssertUnwindSafe(|| bundle.decide_json(&req_text)));
        let rf = catch_unwind(AssertUnwindSafe(|| reference::decide_json(&program, &json)));
        let context = || {
            format!(
                "---- policy.jitp ----\n{text}\n---- request ----\n{}",
                serde_json::to_string_pretty(req).unwrap_or_default()
            )
        };
        let (vm, rf) = match (vm, rf) {
            (Ok(v), Ok(r)) => (v, r),
            (v, r) => {
                let side = |x: &Result<DecisionRecord, Box<dyn std::any::Any + Send>>| match x {
                    Ok(d) => decision_text(d),
                    Err(p) => format!("PANICKED: {}", panic_text(p.as_ref())),
                };
                return Err(TestCaseError::fail(format!(
                    "a panic deciding request {i}\nvm:        {}\nreference: {}\n{}",
                    side(&v),
                    side(&r),
                    context()
                )));
            }
        };
        tally(&rf);
        let (mut a, mut b) = (vm.clone(), rf.clone());
        let (ea, eb) = (a.error.take().is_some(), b.error.take().is_some());
        if a != b || ea != eb {
            return Err(TestCaseError::fail(format!(
                "the VM and the reference disagree on request {i}\nvm:        {}\nreference: {}\n{}",
                decision_text(&vm),
                decision_text(&rf),
                context()
            )));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- proptest glue and shrinking

#[derive(Debug)]
struct CaseStrategy;

impl Strategy for CaseStrategy {
    type Tree = CaseTree;
    type Value = Case;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let seed = runner.rng().next_u64();
        let case = Case::generate(seed);
        Ok(CaseTree {
            base: case.clone(),
            current: case,
            pending: VecDeque::new(),
            valid: HashMap::new(),
        })
    }
}

/// Shrinks by trying one-step simplifications of the last failing case, in
/// order, keeping the first that still fails.
struct CaseTree {
    /// The simplest case known to fail.
    base: Case,
    /// The case under test.
    current: Case,
    /// Simplifications of `base` not yet tried.
    pending: VecDeque<Case>,
    /// Whether a policy text checks and compiles.
    valid: HashMap<String, bool>,
}

impl CaseTree {
    fn advance(&mut self) -> bool {
        while let Some(c) = self.pending.pop_front() {
            let text = c.policy.render();
            let ok = *self
                .valid
                .entry(text)
                .or_insert_with_key(|t| build(t).is_ok());
            if ok {
                self.current = c;
                return true;
            }
        }
        self.current = self.base.clone();
        false
    }
}

impl ValueTree for CaseTree {
    type Value = Case;

    fn current(&self) -> Case {
        self.current.clone()
    }

    fn simplify(&mut self) -> bool {
        // `current` failed: it becomes the base to simplify further.
        self.base = self.current.clone();
        self.pending = candidates(&self.base).into();
        self.advance()
    }

    fn complicate(&mut self) -> bool {
        // `current` passed: try the next simplification of the base.
        self.advance()
    }
}

/// One-step simplifications of a case, most aggressive first. Each is
/// strictly smaller, so shrinking terminates.
fn candidates(c: &Case) -> Vec<Case> {
    let mut out = Vec::new();
    if c.requests.len() > 1 {
        for r in &c.requests {
            out.push(Case {
                requests: vec![r.clone()],
                ..c.clone()
            });
        }
        return out;
    }
    let with = |f: &dyn Fn(&mut Policy)| {
        let mut p = c.policy.clone();
        f(&mut p);
        Case {
            policy: p,
            ..c.clone()
        }
    };
    let p = &c.policy;
    // Whole rules and declarations.
    for i in 0..p.rules.len() {
        out.push(with(&|p| {
            p.rules.remove(i);
        }));
    }
    for i in 0..p.tasks.len() {
        if p.rules.iter().all(|r| r.task != Some(i)) {
            out.push(with(&|p| {
                p.tasks.remove(i);
                for r in &mut p.rules {
                    if let Some(t) = r.task.as_mut() {
                        if *t > i {
                            *t -= 1;
                        }
                    }
                }
            }));
        }
    }
    for i in 0..p.consts.len() {
        out.push(with(&|p| {
            p.consts.remove(i);
        }));
    }
    for i in 0..p.fns.len() {
        out.push(with(&|p| {
            p.fns.remove(i);
        }));
    }
    for i in 0..p.actions.len() {
        out.push(with(&|p| {
            p.actions.remove(i);
        }));
    }
    // Parts of rules.
    for (i, r) in p.rules.iter().enumerate() {
        if r.when.is_some() {
            out.push(with(&|p| p.rules[i].when = None));
        }
        if r.unless.is_some() {
            out.push(with(&|p| p.rules[i].unless = None));
        }
        for j in 0..r.requires.len() {
            out.push(with(&|p| {
                p.rules[i].requires.remove(j);
            }));
        }
        if r.for_ttl.is_some() {
            out.push(with(&|p| p.rules[i].for_ttl = None));
        }
        if r.task.is_some() {
            out.push(with(&|p| p.rules[i].task = None));
        }
        if r.id.is_some() || r.standing || r.doc || r.reorder {
            out.push(with(&|p| {
                let r = &mut p.rules[i];
                r.id = None;
                r.standing = false;
                r.doc = false;
                r.reorder = false;
            }));
        }
        if r.principal.is_some() {
            out.push(with(&|p| p.rules[i].principal = None));
        }
        if r.actions.len() > 1 {
            for j in 0..r.actions.len() {
                out.push(with(&|p| {
                    p.rules[i].actions.remove(j);
                }));
            }
        }
        match r.resource {
            gen::Res::Named(_) if r.permit => {
                out.push(with(&|p| p.rules[i].resource = gen::Res::Any))
            }
            gen::Res::Named(_) | gen::Res::Any if !r.permit => {
                out.push(with(&|p| p.rules[i].resource = gen::Res::Omitted))
            }
            _ => {}
        }
    }
    for (i, t) in p.tasks.iter().enumerate() {
        if t.ttl.is_some() {
            out.push(with(&|p| p.tasks[i].ttl = None));
        }
        if !t.notify.is_empty() {
            out.push(with(&|p| p.tasks[i].notify.clear()));
        }
        if t.breakglass {
            out.push(with(&|p| p.tasks[i].breakglass = false));
        }
    }
    // Expressions.
    for (i, r) in p.rules.iter().enumerate() {
        if let Some(w) = &r.when {
            for e in expr_candidates(w) {
                out.push(with(&|p| p.rules[i].when = Some(e.clone())));
            }
        }
        if let Some(u) = &r.unless {
            for e in expr_candidates(u) {
                out.push(with(&|p| p.rules[i].unless = Some(e.clone())));
            }
        }
        for (j, (q, _)) in r.requires.iter().enumerate() {
            for e in expr_candidates(q) {
                out.push(with(&|p| p.rules[i].requires[j].0 = e.clone()));
            }
        }
    }
    // The request.
    if let Some(req) = c.requests.first() {
        for j in json_candidates(req) {
            out.push(Case {
                requests: vec![j],
                ..c.clone()
            });
        }
    }
    out
}

/// The simplest expression of a type, where there is one.
fn simplest(ty: &gen::Ty) -> Option<&'static str> {
    use gen::Ty::*;
    Some(match ty {
        Bool => "true",
        Int => "0",
        Str => "\"a\"",
        Time => "now",
        Dur => "1m",
        Ip => "10.1.2.3",
        Net => "10.0.0.0/8",
        SetStr => "[]",
        SetNet => "[10.0.0.0/8]",
        Level => "Level.low",
        Status => "Status.open",
        Window => "context.maint",
        _ => return None,
    })
}

fn descendants<'e>(e: &'e E, out: &mut Vec<&'e E>) {
    if let E::Node { parts, .. } = e {
        for p in parts {
            if let gen::Part::Sub(c) = p {
                out.push(c);
                descendants(c, out);
            }
        }
    }
}

/// Smaller expressions of the same type: a node replaced by `true`,
/// `false`, a simplest literal or one of its sub-expressions of its type;
/// `false` replaced by `true`; and the same, recursively, inside.
fn expr_candidates(e: &E) -> Vec<E> {
    let mut out = Vec::new();
    match e {
        E::Leaf { text, ty } => {
            if *ty == gen::Ty::Bool && text != "true" {
                out.push(E::Leaf {
                    text: "true".into(),
                    ty: gen::Ty::Bool,
                });
            }
        }
        E::Node { ty, parts } => {
            if *ty == gen::Ty::Bool {
                for b in ["true", "false"] {
                    out.push(E::Leaf {
                        text: b.into(),
                        ty: gen::Ty::Bool,
                    });
                }
            } else if let Some(lit) = simplest(ty) {
                out.push(E::Leaf {
                    text: lit.into(),
                    ty: ty.clone(),
                });
            }
            let mut ds = Vec::new();
            descendants(e, &mut ds);
            out.extend(ds.into_iter().filter(|d| d.ty() == ty).cloned());
            for (i, p) in parts.iter().enumerate() {
                if let gen::Part::Sub(c) = p {
                    for c2 in expr_candidates(c) {
                        let mut parts2 = parts.clone();
                        parts2[i] = gen::Part::Sub(c2);
                        out.push(E::Node {
                            ty: ty.clone(),
                            parts: parts2,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Smaller JSON documents: a key or array element removed, or a container
/// replaced by null, anywhere.
fn json_candidates(v: &Json) -> Vec<Json> {
    let mut out = Vec::new();
    match v {
        Json::Object(m) => {
            for k in m.keys() {
                let mut m2 = m.clone();
                m2.remove(k);
                out.push(Json::Object(m2));
            }
            for (k, c) in m {
                if matches!(c, Json::Object(_) | Json::Array(_)) {
                    let mut m2 = m.clone();
                    m2.insert(k.clone(), Json::Null);
                    out.push(Json::Object(m2));
                }
                for c2 in json_candidates(c) {
                    let mut m2 = m.clone();
                    m2.insert(k.clone(), c2);
                    out.push(Json::Object(m2));
                }
            }
        }
        Json::Array(items) => {
            for i in 0..items.len() {
                let mut a = items.clone();
                a.remove(i);
                out.push(Json::Array(a));
            }
            for (i, c) in items.iter().enumerate() {
                for c2 in json_candidates(c) {
                    let mut a = items.clone();
                    a[i] = c2;
                    out.push(Json::Array(a));
                }
            }
        }
        _ => {}
    }
    out
}

// ---------------------------------------------------------------- the tests

/// Runs policies from `seed` until `pairs` (policy, request) pairs have been
/// compared by this call.
fn run(base: u64, seed: u64, pairs: usize) {
    let mut done = 0usize;
    let mut round = 0u64;
    while done < pairs {
        let before = MY_PAIRS.with(|c| c.get());
        let remaining = pairs - done;
        // 12.5 requests per policy on average.
        let cases = (remaining * 2).div_ceil(25) as u32 + 1;
        let config = Config {
            cases,
            failure_persistence: None,
            max_shrink_iters: 50_000,
            max_shrink_time: 600_000,
            rng_seed: RngSeed::Fixed(seed.wrapping_add(round.wrapping_mul(0x9E37_79B9))),
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        if let Err(e) = runner.run(&CaseStrategy, |case| run_case(&case)) {
            panic!("differential test failed (JITP_DIFF_SEED={base} replays this run)\n{e}");
        }
        done += MY_PAIRS.with(|c| c.get()) - before;
        round += 1;
    }
}

#[test]
fn vm_agrees_with_reference() {
    let target = target_pairs();
    let seed = base_seed();
    eprintln!("differential: seed {seed} (set JITP_DIFF_SEED to replay), about {target} (policy, request) pairs");
    let start = Instant::now();
    let before = PAIRS.load(Ordering::Relaxed);
    // Two workers: CI machines have two cores.
    let half = target.div_ceil(2);
    let results: Vec<std::thread::Result<()>> = std::thread::scope(|s| {
        let a = s.spawn(|| run(seed, seed, half));
        let b = s.spawn(|| run(seed, seed ^ 0x5DEE_CE66_D1CE_4E5B, target - half));
        vec![a.join(), b.join()]
    });
    for r in results {
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
    }
    let pairs = PAIRS.load(Ordering::Relaxed) - before;
    eprintln!(
        "differential: {pairs} pairs agreed in {:.1?}",
        start.elapsed()
    );
    if let Ok(mut o) = OUTCOMES.lock() {
        o.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let parts: Vec<String> = o.iter().map(|(k, n)| format!("{k} {n}")).collect();
        eprintln!("differential: outcomes: {}", parts.join(", "));
    }
    assert!(
        pairs >= target,
        "only {pairs} of {target} pairs were compared"
    );
}

/// The generator's policies check and compile on their own, whatever the
/// requests (kept separate so a generator bug is reported as such).
#[test]
fn generated_policies_check() {
    let mut rng = Rng::new(base_seed());
    for _ in 0..50 {
        let case = Case::generate(rng.next_u64());
        if let Err(e) = build(&case.policy.render()) {
            panic!("{e}\n{case:?}");
        }
    }
}
