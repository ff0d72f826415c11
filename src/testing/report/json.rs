//! The report as one JSON document (schema in `docs/testing.md`).

use crate::testing::{percent, CaseOutcome, Outcome, Report, Status, SuiteError};
use jitp_runtime::RuleTrace;
use serde_json::{json, Map, Value};

impl Report {
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
                            "applicable": Outcome::names(&t.applicable),
                            "seen": Outcome::names(&t.seen),
                            "missing": Outcome::names(&t.missing()),
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
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
