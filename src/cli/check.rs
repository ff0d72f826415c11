//! `jitp check`: every problem of every policy set, at once.

use super::{input_error, plural, Format};
use jitp::diagnostic::{Diagnostic, Severity};
use jitp::driver;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `jitp check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories to check.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// Runs `jitp check`.
pub fn run(args: Args, color: bool) -> ExitCode {
    let driver::Loaded { mut sources, sets } = match driver::load(&args.paths) {
        Ok(x) => x,
        Err(e) => return input_error(&e),
    };
    let mut all: Vec<Diagnostic> = Vec::new();
    let mut summaries = Vec::new();
    for set in &sets {
        // Every static rule is the checker's: a set that checks clean builds.
        let (_, diags) = driver::check_set(&mut sources, set);
        let errors = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        summaries.push(serde_json::json!({
            "package": set.package,
            "files": set.files.iter().filter_map(|f| sources.get(*f).map(|s| s.name.clone())).collect::<Vec<_>>(),
            "errors": errors,
            "warnings": diags.iter().filter(|d| d.severity == Severity::Warning).count(),
        }));
        all.extend(diags);
    }
    let errors = all.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = all
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    match args.format {
        Format::Human => {
            let text = jitp::render::terminal(&sources, &all, color);
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
            let files: usize = sets.iter().map(|s| s.files.len()).sum();
            let _ = writeln!(
                err,
                "checked {} policy set{} ({} file{}): {} error{}, {} warning{}",
                sets.len(),
                plural(sets.len()),
                files,
                plural(files),
                errors,
                plural(errors),
                warnings,
                plural(warnings)
            );
        }
        Format::Json => {
            let doc = serde_json::json!({
                "policy_sets": summaries,
                "diagnostics": jitp::render::json(&sources, &all),
                "errors": errors,
                "warnings": warnings,
            });
            outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
