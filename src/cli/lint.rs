//! `jitp lint`: the standing-privilege analyser.

use super::{input_error, plural};
use clap::ValueEnum;
use jitp::diagnostic::{Diagnostic, Severity};
use jitp::lint::run::{Options, RunError};
use jitp::lint::Finding;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
enum LintFormat {
    /// Reports with source excerpts, one per finding.
    Human,
    /// One JSON document (schema in docs/lint.md).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other tools.
    Sarif,
    /// GitHub Actions workflow commands (annotations).
    Github,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
enum FailLevel {
    /// Any finding fails the run.
    Note,
    /// Warnings and errors fail the run.
    Warning,
    /// Only errors fail the run.
    Error,
}

/// The arguments of `jitp lint`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Policy files or directories (default: the current directory).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LintFormat::Human)]
    format: LintFormat,
    /// The lowest level that fails the run (exit 1).
    #[arg(long, value_enum, default_value_t = FailLevel::Error)]
    fail_level: FailLevel,
    /// Configuration file (default: `jitp.toml` beside the policies).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Older policies (files or a directory): report only the findings
    /// the change adds.
    #[arg(long, value_name = "PATH")]
    baseline: Vec<PathBuf>,
    /// Print the documentation of a finding (code or name) and exit.
    #[arg(long, value_name = "CODE", conflicts_with = "rules")]
    explain: Option<String>,
    /// List every finding with its code, name and default level.
    #[arg(long)]
    rules: bool,
}

/// Runs `jitp lint`.
pub fn run(a: Args, color: bool) -> ExitCode {
    if a.rules {
        for l in jitp::lint::registry() {
            let i = l.info();
            outln!(
                "{}  {:<27} {:<8} {}",
                i.code.as_str(),
                i.name,
                i.level.as_str(),
                i.summary
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Some(code) = &a.explain {
        return match jitp::lint::lookup(code) {
            Some(info) => {
                out!("{}", info.doc);
                ExitCode::SUCCESS
            }
            None => {
                let names = jitp::lint::registry()
                    .iter()
                    .flat_map(|l| [l.info().code.as_str(), l.info().name]);
                let hint = jitp::diagnostic::did_you_mean(code, names)
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default();
                input_error(&format!(
                    "no finding `{code}`{hint}; `jitp lint --rules` lists them"
                ))
            }
        };
    }
    let options = Options {
        config: a.config,
        baseline: (!a.baseline.is_empty()).then_some(a.baseline),
    };
    let paths = if a.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        a.paths
    };
    let report = match jitp::lint::run::run(&paths, &options) {
        Ok(r) => r,
        Err(RunError::Input(m)) => return input_error(&m),
        Err(RunError::Diagnostics {
            sources,
            diagnostics,
            what,
        }) => {
            err!("{}", jitp::render::terminal(&sources, &diagnostics, color));
            return input_error(&what);
        }
    };
    let cwd = std::env::current_dir().ok();
    let findings = &report.findings;
    match a.format {
        LintFormat::Human => {
            let diags: Vec<Diagnostic> = findings.iter().map(Finding::for_terminal).collect();
            let rendered = jitp::render::terminal(&report.sources, &diags, color);
            let count = |s: Severity| {
                findings
                    .iter()
                    .filter(|f| f.diagnostic.severity == s)
                    .count()
            };
            let (e, w, n) = (
                count(Severity::Error),
                count(Severity::Warning),
                count(Severity::Note),
            );
            let base = if report.in_baseline > 0 {
                format!(" ({} more already in the baseline)", report.in_baseline)
            } else {
                String::new()
            };
            outln!(
                "{rendered}linted {} policy set{} ({} file{}): {e} error{}, {w} warning{}, {n} note{}{base}",
                report.sets,
                plural(report.sets),
                report.files,
                plural(report.files),
                plural(e),
                plural(w),
                plural(n),
            );
        }
        LintFormat::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&jitp::lint::output::json(&report.sources, findings))
                .unwrap_or_default()
        ),
        LintFormat::Sarif => outln!(
            "{}",
            serde_json::to_string_pretty(&jitp::lint::output::sarif(
                &report.sources,
                findings,
                cwd.as_deref()
            ))
            .unwrap_or_default()
        ),
        LintFormat::Github => out!(
            "{}",
            jitp::lint::output::github(&report.sources, findings, cwd.as_deref())
        ),
    }
    let threshold = match a.fail_level {
        FailLevel::Note => Severity::Note,
        FailLevel::Warning => Severity::Warning,
        FailLevel::Error => Severity::Error,
    };
    if findings.iter().any(|f| f.diagnostic.severity >= threshold) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
