//! Counters and the latency histogram, rendered in the Prometheus text
//! format at `/metrics`.

use jitp_runtime::{Effect, Reason};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const EFFECTS: [Effect; 3] = [Effect::Allow, Effect::Deny, Effect::StepUp];
const REASONS: [Reason; 9] = [
    Reason::Granted,
    Reason::RequirementsMissing,
    Reason::InvalidRequest,
    Reason::Forbidden,
    Reason::Expired,
    Reason::NotYetActive,
    Reason::NoMatchingRule,
    Reason::AuditUnavailable,
    Reason::TaskEnded,
];
/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 1.0,
];

/// The server's counters. All updates are relaxed atomics.
#[derive(Default)]
pub struct Metrics {
    decisions: [[AtomicU64; REASONS.len()]; 3],
    buckets: [AtomicU64; 12],
    latency_count: AtomicU64,
    latency_sum_ns: AtomicU64,
    /// Bundle reloads that succeeded.
    pub reloads: AtomicU64,
    /// Bundle reloads that were refused.
    pub reload_failures: AtomicU64,
    /// Requests answered with an error status.
    pub errors: AtomicU64,
    /// Task transitions committed to the task store.
    pub task_transitions: AtomicU64,
}

fn effect_index(e: Effect) -> usize {
    EFFECTS.iter().position(|x| *x == e).unwrap_or(1)
}

fn reason_index(r: Reason) -> usize {
    REASONS.iter().position(|x| *x == r).unwrap_or(2)
}

fn effect_str(e: Effect) -> &'static str {
    match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
        Effect::StepUp => "step_up",
    }
}

impl Metrics {
    /// Counts one decision and how long it took.
    pub fn decision(&self, effect: Effect, reason: Reason, nanos: u64) {
        if let Some(c) = self
            .decisions
            .get(effect_index(effect))
            .and_then(|row| row.get(reason_index(reason)))
        {
            c.fetch_add(1, Relaxed);
        }
        let secs = nanos as f64 / 1e9;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            if let Some(b) = self.buckets.get(i) {
                b.fetch_add(1, Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_ns.fetch_add(nanos, Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, package: &str, revision: &str) -> String {
        let mut s = String::new();
        s.push_str("# HELP jitp_decisions_total Decisions made, by outcome and reason.\n");
        s.push_str("# TYPE jitp_decisions_total counter\n");
        for (i, e) in EFFECTS.iter().enumerate() {
            for (j, r) in REASONS.iter().enumerate() {
                let n = self
                    .decisions
                    .get(i)
                    .and_then(|row| row.get(j))
                    .map_or(0, |c| c.load(Relaxed));
                let _ = writeln!(
                    s,
                    "jitp_decisions_total{{decision=\"{}\",reason=\"{}\"}} {n}",
                    effect_str(*e),
                    r.as_str()
                );
            }
        }
        s.push_str("# HELP jitp_decision_duration_seconds Time to decide one evaluation.\n");
        s.push_str("# TYPE jitp_decision_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(
                s,
                "jitp_decision_duration_seconds_bucket{{le=\"{b}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Relaxed);
        let _ = writeln!(
            s,
            "jitp_decision_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            s,
            "jitp_decision_duration_seconds_sum {}",
            self.latency_sum_ns.load(Relaxed) as f64 / 1e9
        );
        let _ = writeln!(s, "jitp_decision_duration_seconds_count {count}");
        for (name, help, v) in [
            (
                "jitp_reloads_total",
                "Bundle reloads swapped in.",
                &self.reloads,
            ),
            (
                "jitp_reload_failures_total",
                "Bundle reloads refused (the old bundle kept serving).",
                &self.reload_failures,
            ),
            (
                "jitp_http_errors_total",
                "Requests answered with an error status.",
                &self.errors,
            ),
            (
                "jitp_task_transitions_total",
                "Task transitions committed to the task store.",
                &self.task_transitions,
            ),
        ] {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter");
            let _ = writeln!(s, "{name} {}", v.load(Relaxed));
        }
        s.push_str("# HELP jitp_bundle_info The bundle being served.\n");
        s.push_str("# TYPE jitp_bundle_info gauge\n");
        let _ = writeln!(
            s,
            "jitp_bundle_info{{package=\"{}\",revision=\"{revision}\"}} 1",
            package.replace('\\', "\\\\").replace('"', "\\\"")
        );
        s
    }
}
