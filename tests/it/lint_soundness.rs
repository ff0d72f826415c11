//! Soundness of the analyser's condition solver: generated conditions
//! that the solver calls always true, never true, or implied by another,
//! are checked against the reference interpreter on generated requests.
//! A wrong claim is a finding that lies, so every claim is tested.
//!
//! `JITP_SOLVER_CASES=N` raises the number of generated conditions;
//! `JITP_SOLVER_SEED=S` replays a run.

use jitp::check::hir::Program;
use jitp::driver::check_text;
use jitp::lint::solver::{classify, implies, implies_or_fails, Answer, Formula, Verdict};
use serde_json::{json, Value};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

// Both entity types have the same fields: a `forbid *` sees principals
// and resources of every type.
const SCHEMA: &str = r#"package s

entity P {
  team: String
  level: Int
  admin: Bool
  env: String
}
entity R {
  team: String
  level: Int
  admin: Bool
  env: String
}
enum Tier { gold, silver, bronze }
context {
  risk: Int
  tier: Tier
  flag: Bool
  note: String?
}
action a.do on R sensitivity low
const LIMIT = 2
const WARM = [Tier.gold, Tier.silver]
const SMALL = [0, 1, LIMIT]
"#;

const OPS: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];

fn atom(r: &mut Rng) -> String {
    let int = |r: &mut Rng| {
        let k = *r.pick(&["-1", "0", "1", "2", "3", "LIMIT"]);
        k.to_string()
    };
    match r.below(12) {
        0 => format!("context.risk {} {}", r.pick(&OPS), int(r)),
        1 => format!("{} {} context.risk", int(r), r.pick(&OPS)),
        2 => format!("principal.level {} {}", r.pick(&OPS), int(r)),
        3 => format!(
            "principal.team {} {:?}",
            r.pick(&["==", "!="]),
            r.pick(&["a", "b"])
        ),
        4 => format!(
            "context.tier {} Tier.{}",
            r.pick(&["==", "!="]),
            r.pick(&["gold", "silver", "bronze"])
        ),
        5 => r
            .pick(&[
                "context.tier in [Tier.gold, Tier.silver]",
                "context.tier in WARM",
                "context.risk in SMALL",
            ])
            .to_string(),
        6 => format!("context.risk in [{}, {}]", int(r), int(r)),
        7 => r.pick(&["context.flag", "principal.admin"]).to_string(),
        8 => r.pick(&["true", "false"]).to_string(),
        9 => "principal.team.starts_with(\"a\")".into(),
        10 => "(context.note ?? \"\") == \"x\"".into(),
        _ => format!("resource.env == {:?}", r.pick(&["prod", "dev"])),
    }
}

fn expr(r: &mut Rng, depth: usize) -> String {
    if depth == 0 || r.below(3) == 0 {
        return atom(r);
    }
    match r.below(3) {
        0 => format!("not ({})", expr(r, depth - 1)),
        1 => format!("({} and {})", expr(r, depth - 1), expr(r, depth - 1)),
        _ => format!("({} or {})", expr(r, depth - 1), expr(r, depth - 1)),
    }
}

fn program(rules: &str) -> Program {
    let text = format!("{SCHEMA}\ntask t {{\n  ttl 1h\n{rules}}}\n");
    let (sources, program, diags) = check_text("s.jitp", &text);
    match program {
        Some(p) => p,
        None => panic!(
            "generated policy does not check:\n{text}\n{}",
            jitp::render::terminal(&sources, &diags, false)
        ),
    }
}

fn permit(when: &str) -> String {
    format!("  permit P to a.do on R\n    when {when}\n")
}

/// Requests over small domains around the constants the generator uses.
fn request(r: &mut Rng) -> Value {
    let mut ctx = json!({
        "risk": r.below(7) as i64 - 2,
        "tier": *r.pick(&["gold", "silver", "bronze"]),
        "flag": r.below(2) == 0,
    });
    if let Some(note) = *r.pick(&[None, Some("x"), Some("y")]) {
        ctx["note"] = json!(note);
    }
    json!({
        "subject": {"type": "P", "id": "p1", "properties": {
            "team": *r.pick(&["a", "b", "c", "ab"]),
            "level": r.below(7) as i64 - 2,
            "admin": r.below(2) == 0,
            "env": "prod",
        }},
        "action": {"name": "a.do"},
        "resource": {"type": "R", "id": "r1", "properties": {
            "team": "a", "level": 0, "admin": false, "env": *r.pick(&["prod", "dev", "qa"]),
        }},
        "context": ctx,
        "task": {"name": "t", "id": "run", "started_at": "2026-01-01T00:00:00Z", "approvals": []},
        "now": "2026-01-01T00:10:00Z",
    })
}

fn allowed(p: &Program, req: &Value) -> bool {
    let d = jitp::reference::decide_json(p, req);
    assert_ne!(
        d.reason,
        jitp_runtime::decision::Reason::InvalidRequest,
        "generated request is invalid: {req}"
    );
    d.is_allow()
}

fn cases() -> usize {
    std::env::var("JITP_SOLVER_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
}

#[test]
fn solver_claims_hold_on_the_reference_interpreter() {
    let seed = std::env::var("JITP_SOLVER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1e57);
    eprintln!("JITP_SOLVER_SEED={seed}");
    let mut r = Rng(seed);
    let (mut decided, mut claims) = (0usize, 0usize);
    for _ in 0..cases() {
        let (a, b) = (expr(&mut r, 3), expr(&mut r, 3));
        let pa = program(&permit(&a));
        let pb = program(&permit(&b));
        let guarded = program(&format!("{}  forbid * when {b}\n", permit(&a)));
        let ga = Formula::guard(&pa, &pa.rules[0]);
        let gb = Formula::guard(&pb, &pb.rules[0]);
        let verdict = classify(&ga);
        let implication = implies(&ga, &gb);
        let overridden = implies_or_fails(&ga, &gb);
        if verdict != Verdict::Unknown {
            decided += 1;
        }
        let reqs: Vec<Value> = (0..96).map(|_| request(&mut r)).collect();
        for req in &reqs {
            let (in_a, in_b) = (allowed(&pa, req), allowed(&pb, req));
            match &verdict {
                Verdict::Always => assert!(in_a, "claimed always true: `{a}`\nrequest: {req}"),
                Verdict::Never => assert!(!in_a, "claimed never true: `{a}`\nrequest: {req}"),
                _ => {}
            }
            if implication == Answer::Yes {
                assert!(!in_a || in_b, "claimed `{a}` implies `{b}`\nrequest: {req}");
            }
            if overridden {
                assert!(
                    !allowed(&guarded, req),
                    "claimed `forbid * when {b}` overrides `{a}`\nrequest: {req}"
                );
            }
        }
        claims += usize::from(matches!(verdict, Verdict::Always | Verdict::Never))
            + usize::from(implication == Answer::Yes)
            + usize::from(overridden);
    }
    eprintln!(
        "{} conditions, {decided} decided, {claims} claims checked",
        cases()
    );
    // The test must not pass by the solver saying nothing.
    assert!(
        decided * 2 > cases(),
        "the solver decided only {decided} of {} conditions",
        cases()
    );
    assert!(claims * 20 > cases(), "only {claims} claims were tested");
}
