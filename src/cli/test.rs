//! `jitp test`: policy test suites, with rule and task-outcome coverage.

use super::input_error;
use clap::ValueEnum;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `jitp test`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy files, directories or suite files (`*.test.json`).
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format; `json` and `junit` go to standard output.
    #[arg(long, value_enum, default_value_t = TestFormat::Human)]
    format: TestFormat,
    /// Print rule and task-outcome coverage.
    #[arg(long)]
    coverage: bool,
    /// Fail (exit 1) when fewer than N percent of the rules are
    /// exercised.
    #[arg(long, value_name = "N", value_parser = parse_percent)]
    min_coverage: Option<f64>,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
enum TestFormat {
    /// A readable report: one line per case, failures with their
    /// explanation, a summary line.
    Human,
    /// One JSON document (schema in docs/testing.md).
    Json,
    /// JUnit XML, for CI systems.
    Junit,
}

/// Parses a coverage percentage between 0 and 100.
fn parse_percent(s: &str) -> Result<f64, String> {
    let n: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=100.0).contains(&n) {
        Ok(n)
    } else {
        Err(format!("`{s}` is not between 0 and 100"))
    }
}

/// Runs `jitp test`.
pub fn run(args: Args, color: bool) -> ExitCode {
    let Args {
        paths,
        format,
        coverage,
        min_coverage,
    } = args;
    let report = match jitp::testing::run(&paths) {
        Ok(r) => r,
        Err(jitp::testing::RunError::Policy {
            sources,
            diagnostics,
        }) => {
            err!("{}", jitp::render::terminal(&sources, &diagnostics, color));
            return input_error(&"the policies have errors; fix them before testing");
        }
        Err(e) => return input_error(&e),
    };
    match format {
        TestFormat::Human => {
            let color = color && std::io::stdout().is_terminal();
            out!(
                "{}",
                report.human(color, coverage || min_coverage.is_some(), min_coverage)
            );
        }
        TestFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&report.json(min_coverage)).unwrap_or_default()
        ),
        TestFormat::Junit => out!("{}", report.junit()),
    }
    let code = report.status(min_coverage).code();
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}
