//! The workload of the architecture brief: N task-scoped permits (one per
//! action) plus a risk guard; each request matches exactly one rule.
//!
//! Run: `cargo bench --bench decide` (add `-- --quick` for a fast pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use jitp_runtime::Bundle;
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

/// A policy with `n` actions, one task-scoped permit per action, and a guard.
fn policy(n: usize) -> String {
    let mut s = String::from(
        "package bench\n\nentity Service {\n  team: String\n  env: String\n}\n\nentity Resource {\n  env: String\n  owner: String\n}\n\ncontext {\n  risk: Int\n}\n\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "action app.op{i} on Resource sensitivity medium\n"
        ));
    }
    s.push_str("\ntask deploy {\n  ttl 1h\n");
    for i in 0..n {
        s.push_str(&format!(
            "  permit Service to app.op{i} on Resource\n    when principal.team == \"team{}\" and resource.env == principal.env\n    require task.approvals >= 1 else \"approval\"\n",
            i % 7
        ));
    }
    s.push_str("}\n\nforbid * when context.risk >= 80\n");
    s
}

/// A request that matches the rule for action `i`.
fn request(i: usize) -> String {
    format!(
        r#"{{"subject": {{"type": "Service", "id": "deployer", "properties": {{"team": "team{}", "env": "prod"}}}},
  "action": {{"name": "app.op{i}"}},
  "resource": {{"type": "Resource", "id": "db", "properties": {{"env": "prod", "owner": "payments"}}}},
  "context": {{"risk": 10}},
  "task": {{"name": "deploy", "id": "run-1", "started_at": "2026-11-22T10:00:00Z", "approvals": [{{"by": "alice"}}]}},
  "now": "2026-11-22T10:05:00Z"}}"#,
        i % 7
    )
}

fn compile(text: &str) -> Bundle {
    match jitp::driver::compile_text("bench.jitp", text) {
        Ok(b) => b,
        Err(e) => panic!("benchmark policy does not compile:\n{e}"),
    }
}

fn benches(c: &mut Criterion) {
    let mut decide = c.benchmark_group("decide_bound");
    for n in SIZES {
        let bundle = compile(&policy(n));
        let bound = bundle.bind_str(&request(n / 2)).expect("request binds");
        assert!(bundle.decide(&bound).is_allow());
        decide.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| bundle.decide(black_box(&bound)).is_allow())
        });
    }
    decide.finish();

    let mut json = c.benchmark_group("json_to_decision");
    for n in SIZES {
        let bundle = compile(&policy(n));
        let text = request(n / 2);
        json.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| match bundle.bind_str(black_box(&text)) {
                Ok(bound) => bundle.decide(&bound).is_allow(),
                Err(_) => false,
            })
        });
    }
    json.finish();

    let mut build = c.benchmark_group("compile");
    build
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for n in SIZES {
        let text = policy(n);
        build.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| compile(black_box(&text)))
        });
    }
    build.finish();

    let mut load = c.benchmark_group("load");
    load.sample_size(20);
    for n in SIZES {
        let bytes = compile(&policy(n)).to_bytes();
        load.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| Bundle::from_bytes(black_box(&bytes)).is_ok())
        });
    }
    load.finish();
}

criterion_group!(decide_benches, benches);
criterion_main!(decide_benches);
