//! `jitp lint` on generated policy sets of 10 to 10,000 rules. Checking
//! is excluded; the figures are the analysis alone. Shapes:
//!
//! - `workload`: N task-scoped permits (one per action, with conditions
//!   the solver can reason about and a `require`) plus guards, as in the
//!   decision benchmark;
//! - `one_action`: one task with N permits on one action, none implied by
//!   another (every pair is a JIT006 candidate);
//! - `thresholds`: one task with N permits on one action whose conditions
//!   are nested thresholds (each implied by the next: N JIT006 findings);
//! - `guards_permits`: N/2 guards and N/2 permits on one action (every pair
//!   a JIT007 candidate);
//! - `self_renewing`: N permits of one task to an action that grants the
//!   task again (the privilege graph);
//! - `wide`: N permits with 8-way `or` and `and` conditions.
//!
//! Run: `cargo bench --bench lint` (add `-- --quick` for a fast pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use jitp::lint::{lint, Config};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

const HEADER: &str = "package bench\n\nentity Service {\n  team: String\n  env: String\n}\n\nentity Resource {\n  env: String\n  owner: String\n}\n\ncontext {\n  risk: Int\n  ticket_open: Bool\n  zone: String\n}\n\n";

fn workload(n: usize) -> String {
    let mut s = String::from(HEADER);
    for i in 0..n {
        let sensitivity = ["low", "medium", "high", "critical"][i % 4];
        s.push_str(&format!(
            "action app.op{i} on Resource sensitivity {sensitivity}\n"
        ));
    }
    s.push_str("\ntask deploy {\n  ttl 1h\n");
    for i in 0..n {
        s.push_str(&format!(
            "  permit Service to app.op{i} on Resource\n    when principal.team == \"team{}\" and resource.env == principal.env and context.risk < {}\n    require task.approvals >= 1 else \"approval\"\n",
            i % 7,
            20 + i % 50
        ));
    }
    s.push_str("}\n\nforbid * when context.risk >= 80\nforbid * when not context.ticket_open\n");
    s
}

fn one_action(n: usize, thresholds: bool) -> String {
    let mut s = String::from(HEADER);
    s.push_str("action app.deploy on Resource sensitivity medium\n\nforbid * when context.risk >= 1000000\n\ntask deploy {\n  ttl 1h\n");
    for i in 0..n {
        let when = if thresholds {
            format!("context.risk < {} and context.ticket_open", n - i)
        } else {
            format!("context.risk == {i} and context.ticket_open")
        };
        s.push_str(&format!(
            "  permit Service to app.deploy on Resource\n    when {when}\n"
        ));
    }
    s.push_str("}\n");
    s
}

fn guards_permits(n: usize) -> String {
    let mut s = String::from(HEADER);
    s.push_str("action app.deploy on Resource sensitivity medium\n\n");
    for i in 0..n / 2 {
        s.push_str(&format!("forbid app.deploy when context.risk == {i}\n"));
    }
    s.push_str("\ntask deploy {\n  ttl 1h\n");
    for i in 0..n / 2 {
        s.push_str(&format!(
            "  permit Service to app.deploy on Resource\n    when context.risk == {} and context.ticket_open\n",
            n + i
        ));
    }
    s.push_str("}\n");
    s
}

fn self_renewing(n: usize) -> String {
    let mut s = String::from(HEADER);
    s.push_str("action tasks.renew on Resource sensitivity medium grants renew\n\nforbid * when context.risk >= 80\n\ntask renew {\n  ttl 1h\n");
    for i in 0..n {
        s.push_str(&format!(
            "  permit Service to tasks.renew on Resource\n    when context.zone == \"z{i}\"\n"
        ));
    }
    s.push_str("}\n");
    s
}

fn wide(n: usize) -> String {
    let mut s = String::from(HEADER);
    s.push_str("action app.deploy on Resource sensitivity medium\n\nforbid * when context.risk >= 80\n\ntask deploy {\n  ttl 1h\n");
    for i in 0..n {
        let ors: Vec<String> = (0..8)
            .map(|k| format!("context.zone == \"z{}\"", i * 8 + k))
            .collect();
        let ands: Vec<String> = (0..8)
            .map(|k| format!("context.risk != {}", i * 8 + k))
            .collect();
        s.push_str(&format!(
            "  permit Service to app.deploy on Resource\n    when ({}) and {}\n",
            ors.join(" or "),
            ands.join(" and ")
        ));
    }
    s.push_str("}\n");
    s
}

fn benches(c: &mut Criterion) {
    type Shape = (&'static str, fn(usize) -> String);
    let shapes: [Shape; 6] = [
        ("workload", workload),
        ("one_action", |n| one_action(n, false)),
        ("thresholds", |n| one_action(n, true)),
        ("guards_permits", guards_permits),
        ("self_renewing", self_renewing),
        ("wide", wide),
    ];
    for (name, make) in shapes {
        let mut group = c.benchmark_group(format!("lint/{name}"));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(10));
        for n in SIZES {
            let (sources, program, diags) = jitp::driver::check_text("bench.jitp", &make(n));
            let Some(program) = program else {
                panic!("benchmark policy `{name}` does not check: {diags:?}");
            };
            let files: Vec<_> = sources.iter().map(|(id, _)| id).take(1).collect();
            let config = Config::default();
            if name == "workload" {
                assert!(lint(&program, &sources, &files, &config).is_empty());
            }
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
                b.iter(|| lint(black_box(&program), &sources, &files, &config).len())
            });
        }
        group.finish();
    }
}

criterion_group!(lint_benches, benches);
criterion_main!(lint_benches);
