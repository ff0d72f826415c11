//! Soundness of the analyser: generated conditions that the solver calls
//! always true, never true, or implied by another, and its example
//! requests, are checked against the reference interpreter on generated
//! requests; every permit a JIT006 or JIT007 finding says can be deleted
//! is deleted and decisions compared; every zero-approval example of
//! JIT011 is decided. A wrong claim is a finding that lies, so every claim
//! is tested. Completeness: inside the fragment the solver never answers
//! "unknown".
//!
//! `JITP_SOLVER_CASES=N` raises the number of generated cases;
//! `JITP_SOLVER_SEED=S` replays a run.

use jitp::check::hir::Program;
use jitp::driver::check_text;
use jitp::lint::solver::{
    classify, exact_example, implies, implies_or_fails, Answer, Formula, Verdict, Witness,
};
use jitp::span::FileId;
use serde_json::{json, Value};

use crate::differential::gen::Rng;

// Both entity types have the same fields: a `forbid *` sees principals
// and resources of every type. The actions span two namespaces and two
// resource types, so wildcards (`a.*`, `*` on a type) cover some of them.
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
entity Q {
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
  level: Int?
  big: Int
}
action a.do on R sensitivity low
action a.undo on R, Q sensitivity low
action b.do on R sensitivity low
action b.get on Q sensitivity low
const LIMIT = 2
const TWO = 1 + 1
const NEG = 0 - 1
const WARM = [Tier.gold, Tier.silver]
const SMALL = [0, 1, LIMIT]
"#;

/// (action, resource type) pairs a request may carry.
const TARGETS: [(&str, &str); 5] = [
    ("a.do", "R"),
    ("a.undo", "R"),
    ("a.undo", "Q"),
    ("b.do", "R"),
    ("b.get", "Q"),
];

/// Rule heads after the principal: exact actions and wildcards.
const HEADS: [&str; 7] = [
    "a.do on R",
    "a.* on R",
    "a.* on *",
    "b.* on *",
    "* on R",
    "* on Q",
    "* on *",
];

const OPS: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];

fn atom(r: &mut Rng) -> String {
    let int = |r: &mut Rng| {
        let k = *r.pick(&["-1", "0", "1", "2", "3", "LIMIT", "TWO", "NEG", "-2"]);
        k.to_string()
    };
    match r.below(22) {
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
        // Opaque, and identical wherever it occurs.
        9 => "principal.team.starts_with(\"a\")".into(),
        10 => format!("(context.note ?? {:?}) == \"x\"", r.pick(&["", "x"])),
        11 => format!("resource.env == {:?}", r.pick(&["prod", "dev"])),
        // Optionals: comparisons and `in` are false when absent.
        12 => format!("context.level {} {}", r.pick(&OPS), int(r)),
        13 => format!(
            "context.note {} {:?}",
            r.pick(&["==", "!="]),
            r.pick(&["x", "y"])
        ),
        14 => r
            .pick(&["has context.note", "has context.level"])
            .to_string(),
        15 => format!("(context.level ?? {}) {} {}", int(r), r.pick(&OPS), int(r)),
        16 => format!("context.level in [{}, {}]", int(r), int(r)),
        // Paths compared with each other.
        17 => r
            .pick(&[
                "principal.team == resource.team",
                "principal.team != resource.team",
                "principal.level == context.risk",
                "principal.level != context.risk",
                "resource.team == principal.env",
            ])
            .to_string(),
        18 => format!(
            "{} {} {}",
            r.pick(&["context.flag", "principal.admin"]),
            r.pick(&["==", "!="]),
            r.pick(&["true", "false"])
        ),
        19 => format!("task.name {} \"t\"", r.pick(&["==", "!="])),
        // Arithmetic can fail (overflow): `big` may be the largest Int.
        20 => format!("context.big + 1 {} {}", r.pick(&OPS), int(r)),
        _ => format!("context.risk + principal.level {} {}", r.pick(&OPS), int(r)),
    }
}

/// An atom of the fragment: no opaque ones (string methods, arithmetic).
fn fragment_atom(r: &mut Rng) -> String {
    loop {
        let a = atom(r);
        if !a.contains("starts_with") && !a.contains('+') {
            return a;
        }
    }
}

fn fragment_expr(r: &mut Rng, depth: usize) -> String {
    if depth == 0 || r.below(3) == 0 {
        return fragment_atom(r);
    }
    match r.below(3) {
        0 => format!("not ({})", fragment_expr(r, depth - 1)),
        1 => format!(
            "({} and {})",
            fragment_expr(r, depth - 1),
            fragment_expr(r, depth - 1)
        ),
        _ => format!(
            "({} or {})",
            fragment_expr(r, depth - 1),
            fragment_expr(r, depth - 1)
        ),
    }
}

/// Inside the fragment the solver always answers: generated conditions
/// are classified, and implications and overridings decided, without
/// "unknown" (the soundness tests check the answers).
#[test]
fn the_solver_decides_everything_inside_the_fragment() {
    let mut r = Rng::new(seed() ^ 0xc0);
    for _ in 0..cases() {
        let (a, b) = (fragment_expr(&mut r, 3), fragment_expr(&mut r, 3));
        let pa = program(&permit(&a));
        let pb = program(&permit(&b));
        let ga = Formula::guard(&pa, &pa.rules[0]);
        let gb = Formula::guard(&pb, &pb.rules[0]);
        assert_ne!(classify(&ga), Verdict::Unknown, "undecided: `{a}`");
        assert_ne!(
            implies(&ga, &gb),
            Answer::Unknown,
            "undecided: `{a}` implies `{b}`"
        );
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
        "big": *r.pick(&[0, 1, i64::MAX]),
    });
    if let Some(note) = *r.pick(&[None, Some("x"), Some("y")]) {
        ctx["note"] = json!(note);
    }
    if r.below(3) > 0 {
        ctx["level"] = json!(r.below(7) as i64 - 2);
    }
    let (action, rtype) = *r.pick(&TARGETS);
    let approvals: Vec<Value> = (0..r.below(3))
        .map(|i| json!({"by": format!("approver{i}")}))
        .collect();
    json!({
        "subject": {"type": "P", "id": "p1", "properties": {
            "team": *r.pick(&["a", "b", "c", "ab"]),
            "level": r.below(7) as i64 - 2,
            "admin": r.below(2) == 0,
            "env": *r.pick(&["prod", "a"]),
        }},
        "action": {"name": action},
        "resource": {"type": rtype, "id": "r1", "properties": {
            "team": *r.pick(&["a", "b"]), "level": 0, "admin": false,
            "env": *r.pick(&["prod", "dev", "qa"]),
        }},
        "context": ctx,
        "task": {"name": "t", "id": "run", "started_at": "2026-01-01T00:00:00Z", "approvals": approvals},
        "now": "2026-01-01T00:10:00Z",
    })
}

/// `req` with the values of a solver witness written in (`a.do` on `R`).
fn with_witness(req: &Value, w: &Witness) -> Value {
    let mut req = req.clone();
    req["action"] = json!({"name": "a.do"});
    req["resource"]["type"] = json!("R");
    for (path, value) in &w.0 {
        let absent = value.starts_with('\u{0}');
        let v: Value = if absent {
            Value::Null
        } else if let Ok(v) = serde_json::from_str::<Value>(value) {
            v
        } else {
            // An enum variant, by name.
            json!(value)
        };
        if path == "task.approvals" {
            let n = v.as_u64().unwrap_or(0);
            req["task"]["approvals"] = json!((0..n)
                .map(|i| json!({"by": format!("w{i}")}))
                .collect::<Vec<_>>());
            continue;
        }
        let (root, field) = path.split_once('.').expect("witness paths are dotted");
        let slot = match root {
            "context" => &mut req["context"],
            "principal" => &mut req["subject"]["properties"],
            "resource" => &mut req["resource"]["properties"],
            other => panic!("unexpected witness path root `{other}`"),
        };
        match slot.as_object_mut() {
            Some(o) if absent => {
                o.remove(field);
            }
            Some(o) => {
                o.insert(field.to_string(), v);
            }
            None => panic!("no object for `{path}`"),
        }
    }
    req
}

fn allowed(p: &Program, req: &Value) -> bool {
    decision(p, req) == "Allow"
}

/// The decision's effect, for comparing two policies.
fn decision(p: &Program, req: &Value) -> String {
    let d = jitp::reference::decide_json(p, req);
    assert_ne!(
        d.reason,
        jitp_runtime::decision::Reason::InvalidRequest,
        "generated request is invalid: {req}"
    );
    format!("{:?}", d.decision)
}

fn cases() -> usize {
    std::env::var("JITP_SOLVER_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
}

fn seed() -> u64 {
    let seed = std::env::var("JITP_SOLVER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1e57);
    eprintln!("JITP_SOLVER_SEED={seed}");
    seed
}

#[test]
fn solver_claims_hold_on_the_reference_interpreter() {
    let mut r = Rng::new(seed());
    let (mut decided, mut claims, mut examples) = (0usize, 0usize, 0usize);
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
        let witness = exact_example(&ga).map(|w| (w.clone(), with_witness(&request(&mut r), &w)));
        if verdict != Verdict::Unknown {
            decided += 1;
        }
        if let Some((w, req)) = &witness {
            examples += 1;
            assert!(
                allowed(&pa, req),
                "claimed {w} makes `{a}` true\nrequest: {req}"
            );
        }
        let reqs: Vec<Value> = (0..96).map(|_| request(&mut r)).collect();
        for req in &reqs {
            let (in_a, in_b) = (allowed(&pa, req), allowed(&pb, req));
            let target = req["action"]["name"] == "a.do" && req["resource"]["type"] == "R";
            match &verdict {
                Verdict::Always if target => {
                    assert!(in_a, "claimed always true: `{a}`\nrequest: {req}")
                }
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
        "{} conditions, {decided} decided, {claims} claims and {examples} examples checked",
        cases()
    );
    // The test must not pass by the solver saying nothing.
    assert!(
        decided * 2 > cases(),
        "the solver decided only {decided} of {} conditions",
        cases()
    );
    assert!(claims * 20 > cases(), "only {claims} claims were tested");
    assert!(
        examples * 10 > cases(),
        "only {examples} examples were tested"
    );
}

/// A generated rule: its id, text and parts.
struct GenRule {
    id: String,
    text: String,
    head: String,
    when: String,
    requires: Vec<String>,
}

/// A rule; half the time derived from `base` (the same or a narrower
/// head, a stronger `when` for a permit or a weaker one for a forbid, the
/// same or more `require`s), so that shadowing and overriding are common.
fn gen_rule(r: &mut Rng, id: &str, forbid: bool, base: Option<&GenRule>) -> GenRule {
    let derived = base.filter(|_| r.below(2) == 0);
    let head = match derived {
        Some(b) if r.below(2) == 0 => b.head.clone(),
        _ => r.pick(&HEADS).to_string(),
    };
    let when = match derived {
        Some(b) if forbid => format!("({}) or {}", b.when, atom(r)),
        Some(b) => format!("({}) and {}", b.when, atom(r)),
        None => expr(r, 2),
    };
    let mut requires: Vec<String> = match derived {
        Some(b) if !forbid => b.requires.clone(),
        _ => Vec::new(),
    };
    if !forbid {
        for _ in 0..r.below(3) {
            requires.push(if r.below(2) == 0 {
                format!("task.approvals >= {}", r.below(3))
            } else {
                expr(r, 1)
            });
        }
    }
    let text = if forbid {
        format!("  @id({id:?})\n  forbid {head} when {when}\n")
    } else {
        let mut t = format!("  @id({id:?})\n  permit P to {head}\n    when {when}\n");
        for (k, cond) in requires.iter().enumerate() {
            t.push_str(&format!("    require {cond} else \"need{k}\"\n"));
        }
        t
    };
    GenRule {
        id: id.to_string(),
        text,
        head,
        when,
        requires,
    }
}

fn policy(rules: &[&GenRule], breakglass: bool) -> (String, Option<Program>) {
    let body: String = rules.iter().map(|g| g.text.as_str()).collect();
    let text = if breakglass {
        format!("{SCHEMA}\nbreakglass t {{\n  ttl 1h\n  notify \"secops\"\n{body}}}\n")
    } else {
        format!("{SCHEMA}\ntask t {{\n  ttl 1h\n{body}}}\n")
    };
    let (_, program, _) = check_text("s.jitp", &text);
    (text, program)
}

fn findings(text: &str) -> Vec<jitp::lint::Finding> {
    let (sources, program, diags) = check_text("s.jitp", text);
    let program = program.unwrap_or_else(|| panic!("{text}\n{diags:?}"));
    let files: Vec<FileId> = sources
        .iter()
        .filter(|(_, f)| f.name == "s.jitp")
        .map(|(id, _)| id)
        .collect();
    jitp::lint::lint(&program, &sources, &files, &jitp::lint::Config::default())
}

/// The rule ids a finding's message names, in order.
fn named(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|w| w.strip_prefix("permit ").or(Some(w)))
        .map(str::to_string)
        .collect()
}

/// Every JIT006 and JIT007 finding says a permit can be deleted without
/// changing a decision: the permit is deleted and generated requests over
/// every action and resource type (wildcards included) are decided by
/// both policies. Every JIT011 example of a request with no approval is
/// decided too.
#[test]
fn findings_that_say_a_rule_can_go_are_true() {
    let mut r = Rng::new(seed() ^ 0xde1e7e);
    let (mut deletions, mut zero) = (0usize, 0usize);
    for case in 0..cases() {
        let x = gen_rule(&mut r, "x", false, None);
        let y = gen_rule(&mut r, "y", false, Some(&x));
        let z = gen_rule(&mut r, "z", case % 2 == 0, Some(&x));
        let rules = [x, y, z];
        let all: Vec<&GenRule> = rules.iter().collect();
        let (text, Some(full)) = policy(&all, false) else {
            panic!(
                "generated policy does not check:\n{}",
                policy(&all, false).0
            );
        };
        let reqs: Vec<Value> = (0..64).map(|_| request(&mut r)).collect();
        for f in findings(&text) {
            let code = f.diagnostic.code.as_str();
            if code != "JIT006" && code != "JIT007" {
                continue;
            }
            let victim = named(&f.diagnostic.message)
                .into_iter()
                .next()
                .expect("the finding names its permit");
            let kept: Vec<&GenRule> = rules.iter().filter(|g| g.id != victim).collect();
            assert_eq!(kept.len(), 2, "{victim} is not one of the rules\n{text}");
            let (_, Some(without)) = policy(&kept, false) else {
                panic!("the policy without `{victim}` does not check");
            };
            deletions += 1;
            for req in &reqs {
                assert_eq!(
                    decision(&full, req),
                    decision(&without, req),
                    "{code} says `{victim}` can be deleted, but a decision changes\n{text}\nrequest: {req}"
                );
            }
        }
        // Break-glass: the example of an allow with no approval is one.
        let one = [&rules[0]];
        let (text, Some(p)) = policy(&one, true) else {
            panic!("generated policy does not check:\n{}", policy(&one, true).0);
        };
        let rule = &p.rules[0];
        let none = Formula::allow(&p, rule).and(&Formula::no_approvals());
        if let Some(w) = exact_example(&none) {
            let heads_a_do = p.actions.iter().position(|a| a.name == "a.do");
            if heads_a_do.is_some_and(|a| rule.actions.iter().any(|x| x.index() == a)) {
                zero += 1;
                let req = with_witness(&request(&mut r), &w);
                assert!(
                    allowed(&p, &req),
                    "claimed {w} is allowed with no approval\n{text}\nrequest: {req}"
                );
            }
        }
    }
    eprintln!("{deletions} deletions and {zero} zero-approval examples checked");
    assert!(
        deletions * 20 > cases(),
        "only {deletions} deletions were tested"
    );
    assert!(
        zero * 20 > cases(),
        "only {zero} zero-approval examples were tested"
    );
}
