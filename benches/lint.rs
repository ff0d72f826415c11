//! `jitp lint` on generated policy sets of 10 to 10,000 rules: N
//! task-scoped permits (one per action, with conditions the solver can
//! reason about and a `require`) plus guards, as in the decision
//! benchmark. Checking is excluded; the figure is the analysis alone.
//!
//! Run: `cargo bench --bench lint` (add `-- --quick` for a fast pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use jitp::lint::{lint, Config};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

fn policy(n: usize) -> String {
    let mut s = String::from(
        "package bench\n\nentity Service {\n  team: String\n  env: String\n}\n\nentity Resource {\n  env: String\n  owner: String\n}\n\ncontext {\n  risk: Int\n  ticket_open: Bool\n}\n\n",
    );
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

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("lint");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for n in SIZES {
        let (sources, program, diags) = jitp::driver::check_text("bench.jitp", &policy(n));
        let Some(program) = program else {
            panic!("benchmark policy does not check: {diags:?}");
        };
        let files: Vec<_> = sources.iter().map(|(id, _)| id).take(1).collect();
        let config = Config::default();
        assert!(lint(&program, &sources, &files, &config).is_empty());
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| lint(black_box(&program), &sources, &files, &config).len())
        });
    }
    group.finish();
}

criterion_group!(lint_benches, benches);
criterion_main!(lint_benches);
