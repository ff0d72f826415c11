//! The human-readable report.

use super::mismatch_lines;
use crate::testing::{
    package_name, percent, plural, quoted, CaseOutcome, Outcome, Report, Status, SuiteError,
    SUITE_DIR, SUITE_SUFFIX,
};
use std::fmt::Write as _;

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31;1", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33;1", s)
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

fn render_error(out: &mut String, e: &SuiteError, paint: &Paint) {
    let _ = writeln!(out, "{}: {e}", paint.red("error"));
    if let Some(h) = &e.help {
        let _ = writeln!(out, "  help: {h}");
    }
}

impl Report {
    /// The human-readable report: one line per case, then the details of
    /// every failure (expected, actual, and the explanation as
    /// `jitp eval --explain` renders it), every error, the coverage (with
    /// `coverage`) and a summary line.
    pub fn human(&self, color: bool, coverage: bool, min_coverage: Option<f64>) -> String {
        let paint = Paint(color);
        let mut out = String::new();
        for set in &self.sets {
            if set.suites.is_empty() {
                let _ = writeln!(
                    out,
                    "{}: no test suites (add `{SUITE_DIR}/*{SUITE_SUFFIX}` beside {})\n",
                    package_name(&set.package),
                    quoted(&set.files)
                );
            }
            for suite in &set.suites {
                let _ = writeln!(
                    out,
                    "{} {} ({}, {} case{})",
                    paint.bold("suite"),
                    suite.file,
                    package_name(&set.package),
                    suite.cases.len(),
                    plural(suite.cases.len())
                );
                for c in &suite.cases {
                    let tag = match c.outcome {
                        CaseOutcome::Pass { .. } => paint.green("pass "),
                        CaseOutcome::Fail { .. } => paint.red("FAIL "),
                        CaseOutcome::Error(_) => paint.red("ERROR"),
                    };
                    let _ = writeln!(out, "  {tag} {}", c.name);
                }
                out.push('\n');
            }
        }
        let mut failures = String::new();
        let mut errors = String::new();
        for set in &self.sets {
            for suite in &set.suites {
                for e in &suite.errors {
                    render_error(&mut errors, e, &paint);
                }
                for c in &suite.cases {
                    match &c.outcome {
                        CaseOutcome::Pass { .. } => {}
                        CaseOutcome::Error(e) => render_error(&mut errors, e, &paint),
                        CaseOutcome::Fail {
                            expected,
                            actual,
                            mismatches,
                            explanation,
                        } => {
                            let _ = writeln!(
                                failures,
                                "{} `{}` ({}, {})",
                                paint.red("FAIL"),
                                c.name,
                                suite.file,
                                c.path
                            );
                            mismatch_lines(&mut failures, "  ", expected, actual, mismatches);
                            if let Some(x) = explanation {
                                failures.push_str("  explanation:\n");
                                let text = crate::explain_render::render(&set.sources, x, color);
                                for line in text.lines() {
                                    if line.is_empty() {
                                        failures.push('\n');
                                    } else {
                                        let _ = writeln!(failures, "    {line}");
                                    }
                                }
                            }
                            failures.push('\n');
                        }
                    }
                }
            }
        }
        if !failures.is_empty() {
            let _ = writeln!(out, "{}\n", paint.bold("failures:"));
            out.push_str(&failures);
        }
        if !errors.is_empty() {
            let _ = writeln!(out, "{}\n", paint.bold("errors in the suites:"));
            out.push_str(&errors);
            out.push('\n');
        }
        let t = self.totals();
        if coverage {
            let _ = writeln!(out, "{}\n", paint.bold("coverage:"));
            for set in &self.sets {
                let c = &set.coverage;
                let _ = writeln!(
                    out,
                    "{}: {}/{} rule{} exercised ({:.1}%)",
                    package_name(&set.package),
                    c.exercised(),
                    c.rules.len(),
                    plural(c.rules.len()),
                    percent(c.exercised(), c.rules.len())
                );
                let missing: Vec<&str> = c
                    .rules
                    .iter()
                    .filter(|r| r.cases == 0)
                    .map(|r| r.id.as_str())
                    .collect();
                if !missing.is_empty() {
                    let _ = writeln!(out, "  rules never deciding a case: {}", quoted(&missing));
                }
                for task in &c.tasks {
                    let m = task.missing();
                    if m.is_empty() {
                        let _ = writeln!(out, "  task `{}`: every outcome seen", task.task);
                    } else {
                        let names = Outcome::names(&m);
                        let _ = writeln!(
                            out,
                            "  task `{}`: never seen {}",
                            task.task,
                            names.join(", ")
                        );
                    }
                }
            }
            out.push('\n');
        }
        let status = self.status(min_coverage);
        let verdict = match status {
            Status::Pass => paint.green("ok"),
            Status::Fail => paint.red("FAILED"),
            Status::Error => paint.red("ERROR"),
        };
        let _ = write!(
            out,
            "test result: {verdict}. {} passed, {} failed, {} error{} ({} case{} in {} suite{}, {} policy set{}); rule coverage {:.1}% ({}/{})",
            t.passed,
            t.failed,
            t.errors,
            plural(t.errors),
            t.cases,
            plural(t.cases),
            t.suites,
            plural(t.suites),
            t.sets,
            plural(t.sets),
            t.percent(),
            t.exercised,
            t.rules
        );
        if let Some(m) = min_coverage {
            if self.coverage_met(Some(m)) {
                let _ = write!(out, ", minimum {m}% met");
            } else {
                let _ = write!(
                    out,
                    ", {}",
                    paint.yellow(&format!("below the minimum {m}%"))
                );
            }
        }
        out.push('\n');
        out
    }
}
