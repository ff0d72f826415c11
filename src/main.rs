//! The `jitp` command: check, build and evaluate just-in-time authorisation
//! policies.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand, ValueEnum};
use jitp::diagnostic::{Diagnostic, Severity};
use jitp::driver;
use jitp::span::SourceMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// jitp: just-in-time authorisation policies.
///
/// Policies are `.jitp` files. Files given together are grouped by their
/// `package` line; each package is one policy set.
///
/// Exit codes: 0 success; 1 the policies have errors; 2 usage or input
/// errors (missing file, unreadable input).
#[derive(Parser, Debug)]
#[command(name = "jitp", version, about, long_about, propagate_version = true)]
struct Cli {
    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum ColorChoice {
    /// Colour when writing to a terminal and `NO_COLOR` is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

#[derive(Copy, Clone, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Human-readable reports with source excerpts.
    Human,
    /// One JSON document on stdout.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and type-check policies, reporting every problem at once.
    ///
    /// Each PATH is a `.jitp` file or a directory searched recursively for
    /// `.jitp` files. Exit status 0 when every policy set is free of errors
    /// (warnings allowed), 1 when any has errors, 2 when an input cannot be
    /// read.
    Check {
        /// Files or directories to check.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match cli.command {
        Command::Check { paths, format } => check(&paths, format, color),
    }
}

/// Prints an input or usage error and returns exit code 2.
fn input_error(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

fn load(paths: &[PathBuf]) -> Result<(SourceMap, Vec<driver::PolicySet>), driver::InputError> {
    let files = driver::collect_files(paths)?;
    let mut sources = SourceMap::new();
    let ids = driver::read_files(&mut sources, &files)?;
    let sets = driver::group(&sources, &ids);
    Ok((sources, sets))
}

fn check(paths: &[PathBuf], format: Format, color: bool) -> ExitCode {
    let (mut sources, sets) = match load(paths) {
        Ok(x) => x,
        Err(e) => return input_error(&e),
    };
    let mut all: Vec<Diagnostic> = Vec::new();
    let mut summaries = Vec::new();
    for set in &sets {
        let (_, diags) = driver::check_set(&mut sources, set);
        let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
        summaries.push(serde_json::json!({
            "package": set.package,
            "files": set.files.iter().filter_map(|f| sources.get(*f).map(|s| s.name.clone())).collect::<Vec<_>>(),
            "errors": errors,
            "warnings": diags.iter().filter(|d| d.severity == Severity::Warning).count(),
        }));
        all.extend(diags);
    }
    let errors = all.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = all.iter().filter(|d| d.severity == Severity::Warning).count();
    match format {
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
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
