//! `Bundle::decide` allocates nothing: a counting global allocator watches
//! the current thread while bound requests are decided.
//!
//! Installing a global allocator takes `unsafe`; this test crate alone
//! allows it (the library and binary forbid it). The allocator only
//! counts and forwards to `System`.
#![allow(unsafe_code)]

use jitp_runtime::decision::{Effect, Reason};
use jitp_runtime::{BoundRequest, Bundle};
use serde_json::{json, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

// ------------------------------------------------------------------ the allocator

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: never panic inside the allocator (e.g. during thread teardown)
    let armed = ARMED.try_with(Cell::get).unwrap_or(false);
    if armed {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations,
/// reallocations and frees it made on this thread.
fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let out = f();
    ARMED.with(|a| a.set(false));
    (out, COUNT.with(Cell::get))
}

// ------------------------------------------------------------------ fixtures

fn example(name: &str) -> (Bundle, Vec<(String, String)>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text = std::fs::read_to_string(dir.join("policy.jitp")).expect("policy readable");
    let bundle =
        jitp::driver::compile_text(&format!("{name}/policy.jitp"), &text).expect("compiles");
    let bundle = Bundle::from_bytes(&bundle.to_bytes()).expect("loads");
    let mut files: Vec<_> = std::fs::read_dir(dir.join("requests"))
        .expect("requests")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let reqs = files
        .into_iter()
        .map(|f| {
            let name = f
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            (name, std::fs::read_to_string(f).expect("readable"))
        })
        .collect();
    (bundle, reqs)
}

fn assert_no_alloc(bundle: &Bundle, bound: &BoundRequest, what: &str) -> (Effect, Reason) {
    // warm up (nothing lazy should exist, but be fair to one-time caches)
    let _ = bundle.decide(bound);
    let ((effect, reason, rule_len, needs, obligations, expires), n) = count(|| {
        let d = bundle.decide(bound);
        let rule_len = d.rule_id().map_or(0, str::len);
        let needs = d.needs().map(str::len).sum::<usize>();
        let obligations = d
            .obligations()
            .map(|(k, t)| k.len() + t.len())
            .sum::<usize>();
        let expires = d.expires_at().map_or(0, |t| t.0);
        (d.effect, d.reason, rule_len, needs, obligations, expires)
    });
    assert_eq!(
        n, 0,
        "{what}: decide + rule_id + needs + obligations + expires_at made {n} allocations"
    );
    let _ = (rule_len, needs, obligations, expires);
    // deciding many times in a row does not allocate either
    let (_, n) = count(|| {
        for _ in 0..100 {
            std::hint::black_box(bundle.decide(std::hint::black_box(bound)));
        }
    });
    assert_eq!(n, 0, "{what}: repeated decisions allocated {n} times");
    (effect, reason)
}

#[test]
fn the_counter_counts() {
    let (v, n) = count(|| vec![1u8, 2, 3]);
    assert!(n >= 1, "the allocator does not see allocations");
    drop(v);
    let (_, n) = count(|| 1 + 1);
    assert_eq!(n, 0);
    // other threads are not counted
    let (_, n) =
        count(|| std::thread::scope(|s| s.spawn(|| vec![0u8; 10]).join().map(|v| v.len())));
    assert!(
        n < 10,
        "allocations of other threads leak into the count ({n})"
    );
}

#[test]
fn deciding_the_examples_allocates_nothing() {
    let mut seen = std::collections::BTreeSet::new();
    for name in [
        "rotate_secrets",
        "ai_agent",
        "backup_job",
        "breakglass",
        "ci_release",
        "db_migration",
        "guards",
        "token_exchange",
    ] {
        let (bundle, reqs) = example(name);
        for (file, text) in reqs {
            let Ok(bound) = bundle.bind_str(&text) else {
                continue;
            };
            let (effect, reason) = assert_no_alloc(&bundle, &bound, &format!("{name}/{file}"));
            seen.insert(format!("{effect:?}/{reason:?}"));
        }
    }
    // every path of the decision procedure was exercised
    for path in [
        "Allow/Granted",
        "StepUp/RequirementsMissing",
        "Deny/Forbidden",
        "Deny/Expired",
        "Deny/NotYetActive",
        "Deny/NoMatchingRule",
    ] {
        assert!(
            seen.contains(path),
            "no request took the {path} path: {seen:?}"
        );
    }
}

#[test]
fn rotate_secrets_every_path_allocates_nothing() {
    let (bundle, reqs) = example("rotate_secrets");
    let mut paths = Vec::new();
    for (file, text) in &reqs {
        if file.contains("invalid_request") {
            continue;
        }
        let bound = bundle.bind_str(text).expect("binds");
        paths.push(assert_no_alloc(&bundle, &bound, file));
    }
    assert!(paths.contains(&(Effect::Allow, Reason::Granted)));
    assert!(paths.contains(&(Effect::StepUp, Reason::RequirementsMissing)));
    assert!(paths.contains(&(Effect::Deny, Reason::Forbidden)));
    assert!(paths.contains(&(Effect::Deny, Reason::Expired)));
    assert!(paths.contains(&(Effect::Deny, Reason::NotYetActive)));
    // no_matching_rule: a request outside any task
    let mut v: Value = serde_json::from_str(
        &reqs
            .iter()
            .find(|(f, _)| f.starts_with("allow-"))
            .expect("allow")
            .1,
    )
    .expect("json");
    v.as_object_mut().expect("object").remove("task");
    let bound = bundle.bind_str(&v.to_string()).expect("binds");
    assert_eq!(
        assert_no_alloc(&bundle, &bound, "no task"),
        (Effect::Deny, Reason::NoMatchingRule)
    );
    // a guard that fails to evaluate is not in this policy; a request bound to another bundle
    let (other, _) = example("guards");
    assert_eq!(
        assert_no_alloc(&other, &bound, "foreign request"),
        (Effect::Deny, Reason::InvalidRequest)
    );
}

/// A generated policy of 1,000 rules: 960 task permits over 8 actions
/// and 6 tasks, string/set/`like`/function conditions, 40 guards.
fn generated_policy() -> String {
    let mut s = String::from(
        r#"package gen.thousand
use std.time

entity Svc { team: String  roles: Set<String>  level: Int }
entity Doc { path: String  tags: Set<String>  owner: String }
record Change { id: String  window: time.Window }
context { change: Change?  risk: Int  note: String? }
"#,
    );
    for a in 0..8 {
        s.push_str(&format!("action doc.a{a} on Doc sensitivity medium\n"));
    }
    s.push_str("fn team_ok(t: String, n: Int) -> Bool = t like \"team-*\" and n >= 0\n");
    for t in 0..6 {
        s.push_str(&format!(
            "task t{t} {{\n  ttl {}m\n  notify \"ch{t}\"\n",
            30 + t
        ));
        for r in 0..160 {
            let a = r % 8;
            s.push_str(&format!(
                "  @id(\"t{t}-r{r}\")\n  permit Svc to doc.a{a} on Doc\n    when team_ok(principal.team, principal.level) and principal.level >= {}\n     and resource.path.starts_with(\"/d{}\") and now in context.change?.window\n    unless resource.tags.contains_any([\"hold\", \"x{r}\"])\n    require context.risk < {} else \"risk {r}\"\n    require principal.roles.contains(\"role{}\") else \"role {r}\"\n    require (context.note ?? \"\") != \"\" else \"note\"\n",
                r % 5,
                r % 3,
                20 + r % 50,
                r % 4
            ));
        }
        s.push_str("}\n");
    }
    for g in 0..40 {
        s.push_str(&format!("@id(\"g{g}\")\nforbid doc.a{} when resource.owner == \"blocked-{g}\" or context.risk >= {}\n", g % 8, 90 + g % 10));
    }
    s
}

fn generated_request(
    task: Option<&str>,
    now: &str,
    risk: i64,
    roles: &[&str],
    note: Option<&str>,
    owner: &str,
) -> String {
    let mut ctx = json!({
        "risk": risk,
        "change": {"id": "c", "window": {"start": "2026-11-22T09:00:00Z", "end": "2026-11-22T12:00:00Z"}}
    });
    if let Some(n) = note {
        ctx["note"] = json!(n);
    }
    let mut v = json!({
        "subject": {"type": "Svc", "id": "bot", "properties": {"team": "team-x", "roles": roles, "level": 9}},
        "action": {"name": "doc.a3"},
        "resource": {"type": "Doc", "id": "d", "properties": {"path": "/d0/x", "tags": ["t1", "t2"], "owner": owner}},
        "context": ctx,
        "now": now
    });
    if let Some(t) = task {
        v["task"] = json!({"name": t, "id": "run", "started_at": "2026-11-22T10:00:00Z", "approvals": [{"by": "a"}, {"by": "b"}]});
    }
    v.to_string()
}

#[test]
fn a_thousand_rule_policy_decides_without_allocating() {
    let text = generated_policy();
    assert_eq!(
        text.matches("permit ").count() + text.matches("forbid ").count(),
        1000
    );
    let bundle = jitp::driver::compile_text("gen.jitp", &text).expect("compiles");
    let bundle = Bundle::from_bytes(&bundle.to_bytes()).expect("loads");
    assert_eq!(bundle.rule_count(), 1000);
    let all = ["role0", "role1", "role2", "role3"];
    let cases = [
        (
            generated_request(Some("t2"), "2026-11-22T10:05:00Z", 0, &all, Some("n"), "o"),
            (Effect::Allow, Reason::Granted),
        ),
        (
            generated_request(Some("t2"), "2026-11-22T10:05:00Z", 0, &[], Some("n"), "o"),
            (Effect::StepUp, Reason::RequirementsMissing),
        ),
        (
            generated_request(Some("t2"), "2026-11-22T10:05:00Z", 0, &all, None, "o"),
            (Effect::StepUp, Reason::RequirementsMissing),
        ),
        (
            generated_request(
                Some("t2"),
                "2026-11-22T10:05:00Z",
                0,
                &all,
                Some("n"),
                "blocked-3",
            ),
            (Effect::Deny, Reason::Forbidden),
        ),
        (
            generated_request(Some("t2"), "2026-11-22T10:05:00Z", 99, &all, Some("n"), "o"),
            (Effect::Deny, Reason::Forbidden),
        ),
        (
            generated_request(Some("t2"), "2026-11-22T11:00:00Z", 0, &all, Some("n"), "o"),
            (Effect::Deny, Reason::Expired),
        ),
        (
            generated_request(Some("t2"), "2026-11-22T09:59:00Z", 0, &all, Some("n"), "o"),
            (Effect::Deny, Reason::NotYetActive),
        ),
        (
            generated_request(None, "2026-11-22T10:05:00Z", 0, &all, Some("n"), "o"),
            (Effect::Deny, Reason::NoMatchingRule),
        ),
        (
            generated_request(Some("t5"), "2026-11-22T12:30:00Z", 0, &all, Some("n"), "o"),
            (Effect::Deny, Reason::NoMatchingRule),
        ),
    ];
    for (i, (req, expected)) in cases.iter().enumerate() {
        let bound = bundle
            .bind_str(req)
            .unwrap_or_else(|e| panic!("case {i}: {e}"));
        let got = assert_no_alloc(&bundle, &bound, &format!("generated case {i}"));
        assert_eq!(got, *expected, "generated case {i}");
    }
}

#[test]
fn needs_and_rule_id_iteration_allocate_nothing() {
    let (bundle, reqs) = example("ai_agent");
    let (_, text) = reqs
        .iter()
        .find(|(f, _)| f.starts_with("step_up-"))
        .expect("a step_up request");
    let bound = bundle.bind_str(text).expect("binds");
    let d = bundle.decide(&bound);
    assert_eq!(d.effect, Effect::StepUp);
    let ((labels, id, task), n) = count(|| {
        let mut labels = [""; 4];
        for (i, l) in d.needs().enumerate().take(4) {
            labels[i] = l;
        }
        (labels, d.rule_id(), d.task())
    });
    assert_eq!(n, 0, "needs()/rule_id()/task() allocated {n} times");
    assert_eq!(&labels[..2], ["approval", "justification"]);
    assert_eq!(
        (id, task),
        (Some("agent-security-logs"), Some("agent_investigation"))
    );
    let (_, text) = reqs
        .iter()
        .find(|(f, _)| f.starts_with("allow-payment"))
        .expect("an allow request");
    let bound = bundle.bind_str(text).expect("binds");
    let d = bundle.decide(&bound);
    let ((first, count_ob), n) = count(|| (d.obligations().next(), d.obligations().count()));
    assert_eq!(n, 0, "obligations() allocated {n} times");
    assert_eq!((first, count_ob), (Some(("notify", "ai-oversight")), 1));
}
