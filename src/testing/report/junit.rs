//! The report as JUnit XML, for CI systems.

use super::{describe_actual, mismatch_lines};
use crate::testing::{package_name, CaseOutcome, Report, SuiteError};
use std::fmt::Write as _;

impl Report {
    /// The report as JUnit XML: one `<testsuite>` per suite file, one
    /// `<testcase>` per case (`<failure>` with the expected and actual
    /// decision and the explanation; `<error>` for a case that could not
    /// run); suite-level errors are a `<testcase name="(suite)">` with an
    /// `<error>`.
    pub fn junit(&self) -> String {
        let t = self.totals();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"jitp\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            t.cases
                + self
                    .sets
                    .iter()
                    .flat_map(|s| &s.suites)
                    .filter(|s| !s.errors.is_empty())
                    .count(),
            t.failed,
            t.errors
        );
        for set in &self.sets {
            let package = package_name(&set.package);
            for suite in &set.suites {
                let failed = suite
                    .cases
                    .iter()
                    .filter(|c| matches!(c.outcome, CaseOutcome::Fail { .. }))
                    .count();
                let errored = suite
                    .cases
                    .iter()
                    .filter(|c| matches!(c.outcome, CaseOutcome::Error(_)))
                    .count()
                    + suite.errors.len();
                let tests = suite.cases.len() + usize::from(!suite.errors.is_empty());
                let classname = format!("{package}.{}", suite.name);
                let _ = writeln!(
                    out,
                    "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failed}\" errors=\"{errored}\" skipped=\"0\" file=\"{}\">",
                    xml(&classname),
                    xml(&suite.file)
                );
                if !suite.errors.is_empty() {
                    let _ = writeln!(
                        out,
                        "    <testcase name=\"(suite)\" classname=\"{}\" file=\"{}\">",
                        xml(&classname),
                        xml(&suite.file)
                    );
                    for e in &suite.errors {
                        junit_error(&mut out, e);
                    }
                    out.push_str("    </testcase>\n");
                }
                for c in &suite.cases {
                    let open = format!(
                        "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\"",
                        xml(&c.name),
                        xml(&classname),
                        xml(&suite.file)
                    );
                    match &c.outcome {
                        CaseOutcome::Pass { .. } => {
                            let _ = writeln!(out, "{open}/>");
                        }
                        CaseOutcome::Fail {
                            expected,
                            actual,
                            mismatches,
                            explanation,
                        } => {
                            let message = format!(
                                "expected {}, got {}",
                                expected.describe(),
                                describe_actual(actual)
                            );
                            let mut body = format!("{} ({})\n", c.name, c.path);
                            mismatch_lines(&mut body, "", expected, actual, mismatches);
                            if let Some(x) = explanation {
                                body.push_str("explanation:\n");
                                body.push_str(&crate::explain_render::render(
                                    &set.sources,
                                    x,
                                    false,
                                ));
                            }
                            let _ = writeln!(
                                out,
                                "{open}>\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>",
                                xml(&message),
                                xml_text(&body)
                            );
                        }
                        CaseOutcome::Error(e) => {
                            let _ = writeln!(out, "{open}>");
                            junit_error(&mut out, e);
                            out.push_str("    </testcase>\n");
                        }
                    }
                }
                out.push_str("  </testsuite>\n");
            }
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// Writes a JUnit `<error>` element for a suite or case error.
fn junit_error(out: &mut String, e: &SuiteError) {
    let text = match &e.help {
        Some(h) => format!("{e}\nhelp: {h}"),
        None => e.to_string(),
    };
    let _ = writeln!(
        out,
        "      <error message=\"{}\" type=\"suite\">{}</error>",
        xml(&e.message),
        xml_text(&text)
    );
}

/// Escapes text for XML attributes and character data. Characters XML 1.0
/// cannot hold (most control characters) become U+FFFD.
pub fn xml(s: &str) -> String {
    escape(s, true)
}

/// Escapes text for XML character data: like [`xml`], but line breaks and
/// tabs stay as they are.
pub fn xml_text(s: &str) -> String {
    escape(s, false)
}

/// [`xml`] when `breaks`, else [`xml_text`].
fn escape(s: &str, breaks: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\r' | '\t' if !breaks => out.push(c),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes() {
        assert_eq!(xml("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;\u{fffd}");
        assert_eq!(xml("a\r\n\tb"), "a&#13;&#10;&#9;b");
        assert_eq!(xml_text("a\r\n\t<&#10;"), "a\r\n\t&lt;&amp;#10;");
    }
}
