//! The `jitp` command: check, build and evaluate just-in-time authorisation
//! policies.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]

use clap::{Parser, Subcommand, ValueEnum};
use jitp::diagnostic::{Diagnostic, Severity};
use jitp::driver;
use jitp::span::SourceMap;
use jitp_runtime::Bundle;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// jitp: just-in-time authorisation policies.
///
/// Policies are `.jitp` files. Files given together are grouped by their
/// `package` line; each package is one policy set. `check` reports every
/// problem at once; `build` compiles one policy set to a bundle (`.jitb`);
/// `eval` decides a request against a bundle or policies; `disasm` shows a
/// bundle's bytecode.
///
/// Exit codes: 0 success (for `eval`, any decision, deny included); 1 the
/// policies have errors; 2 usage or input errors (missing file, unreadable
/// or corrupt input).
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
    /// Compile one policy set to a bundle file.
    ///
    /// The paths must hold exactly one policy set (one `package`), or name
    /// one with `--package`.
    Build {
        /// Files or directories holding the policy set.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Where to write the bundle.
        #[arg(short, long, value_name = "FILE.jitb")]
        output: PathBuf,
        /// Which package to build when the paths hold several.
        #[arg(long)]
        package: Option<String>,
    },
    /// Decide one request and print the decision as JSON.
    ///
    /// The request is AuthZEN-shaped JSON (`subject`, `action`, `resource`,
    /// `context`, `task`, `evidence`, `now`). A request without `now` is
    /// decided at the current time, and a note says so. A deny is a
    /// successful evaluation (exit 0).
    Eval {
        /// A compiled bundle.
        #[arg(
            long,
            value_name = "FILE.jitb",
            conflicts_with = "policy",
            required_unless_present = "policy"
        )]
        bundle: Option<PathBuf>,
        /// Policy files or directories, compiled on the fly.
        #[arg(long, value_name = "PATH", num_args = 1..)]
        policy: Vec<PathBuf>,
        /// Which package to use when the policies hold several.
        #[arg(long)]
        package: Option<String>,
        /// The request file, or `-` for standard input.
        #[arg(long, short, value_name = "FILE")]
        request: PathBuf,
        /// Explain the decision: what each candidate rule did, and where.
        #[arg(long)]
        explain: bool,
        /// Output format of `--explain`.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run policy test suites and report rule coverage.
    ///
    /// Each PATH is a policy file or directory (searched as `check` does)
    /// or a suite file. A policy's suites are the `*.test.json` files in
    /// the `tests/` directory beside it: JSON with fixtures, a pinned
    /// `now` and cases, each an AuthZEN-shaped request and the decision it
    /// must get (see docs/testing.md). A request that does not fit the
    /// policy's schema is an error in the suite, unless the case expects
    /// `deny` with reason `invalid_request`.
    ///
    /// A rule is exercised when it is the deciding rule of some case.
    /// `--coverage` lists the rules no case exercised and, per task, the
    /// outcomes (allow, step_up, forbidden, expired, not_yet_active,
    /// no_matching_rule) no case produced.
    ///
    /// Exit status 0 when every case passes (and coverage meets
    /// `--min-coverage`), 1 when a case fails or coverage is too low, 2
    /// when the tests cannot run: a malformed suite or case, policy errors,
    /// or an unreadable path.
    Test {
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
    },
    /// Find standing privilege: the analyser CI runs on every policy change.
    ///
    /// Each PATH is a policy file or a directory searched recursively for
    /// `.jitp` files. Every policy set is checked, then analysed for the
    /// findings JIT001-JIT017 (see `--rules`, `--explain CODE` and
    /// docs/lint.md). Settings come from `jitp.toml` beside the policies
    /// (`max_ttl`, `max_breakglass_ttl`, per-finding `[levels]`); a
    /// `// jitp-allow(JIT008): reason` comment on the line before a rule
    /// suppresses a finding there.
    ///
    /// Exit status 0 when no finding reaches `--fail-level`, 1 when one
    /// does, 2 when the policies do not compile or the command is misused.
    Lint(LintArgs),
    /// Print a bundle's bytecode, schema layout and rule index.
    Disasm {
        /// The bundle.
        #[arg(value_name = "FILE.jitb")]
        bundle: PathBuf,
    },
    /// Format policy files in the one canonical layout.
    ///
    /// Each PATH is a `.jitp` file or a directory searched recursively for
    /// `.jitp` files; `-` reads standard input and writes the formatted text
    /// to standard output. Files are rewritten in place unless `--check` or
    /// `--diff` is given. Every comment and doc comment is kept where it
    /// was written; see docs/fmt.md for the layout rules.
    ///
    /// Before a file is written, the formatted text is parsed again and
    /// must give the same syntax tree and the same comments; if it does
    /// not, the file is left untouched and an internal error names it. A
    /// file with syntax errors is not formatted: its diagnostics are shown.
    ///
    /// Exit status 0 when all went well, 1 when a file has syntax errors
    /// or (with `--check`) would change, 2 on usage, I/O or internal
    /// errors.
    Fmt {
        /// Files or directories to format, or `-` for standard input.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that would change (on standard
        /// output) and exit 1 if there are any.
        #[arg(long)]
        check: bool,
        /// Change nothing: print a unified diff of what would change.
        #[arg(long)]
        diff: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
    };
    match cli.command {
        Command::Check { paths, format } => check(&paths, format, color),
        Command::Build {
            paths,
            output,
            package,
        } => build(&paths, &output, package.as_deref(), color),
        Command::Eval {
            bundle,
            policy,
            package,
            request,
            explain,
            format,
        } => eval(
            bundle.as_deref(),
            &policy,
            package.as_deref(),
            &request,
            explain,
            format,
            color,
        ),
        Command::Disasm { bundle } => disasm(&bundle),
        Command::Lint(args) => lint(args, color),
        Command::Fmt { paths, check, diff } => fmt(&paths, check, diff, color),
        Command::Test {
            paths,
            format,
            coverage,
            min_coverage,
        } => test(&paths, format, coverage, min_coverage, color),
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
        let (program, mut diags) = driver::check_set(&mut sources, set);
        // The compiler's own limits (layout size, condition size) are
        // reported here too, so a set that checks clean also builds.
        if let Some(program) = program {
            if let Err(more) = jitp::lower::compile(&program, &sources) {
                diags.extend(more);
            }
        }
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

/// Checks and compiles the one policy set selected from `paths`; on
/// failure, the exit code to return.
fn compile_paths(
    paths: &[PathBuf],
    package: Option<&str>,
    color: bool,
) -> Result<(SourceMap, Bundle), ExitCode> {
    let (mut sources, sets) = load(paths).map_err(|e| input_error(&e))?;
    let chosen: Vec<&driver::PolicySet> = sets
        .iter()
        .filter(|s| package.is_none_or(|p| s.package.as_deref() == Some(p)))
        .collect();
    let set = match chosen.as_slice() {
        [one] => (*one).clone(),
        [] => {
            let names: Vec<String> = sets
                .iter()
                .map(|s| format!("`{}`", s.package.as_deref().unwrap_or("(no package)")))
                .collect();
            return Err(input_error(&format!(
                "no policy set named `{}`; the paths hold {}",
                package.unwrap_or(""),
                names.join(", ")
            )));
        }
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|s| format!("`{}`", s.package.as_deref().unwrap_or("(no package)")))
                .collect();
            return Err(input_error(&format!(
                "the paths hold {} policy sets ({}); choose one with `--package`",
                many.len(),
                names.join(", ")
            )));
        }
    };
    let (program, diags) = driver::check_set(&mut sources, &set);
    if !diags.is_empty() {
        eprint!("{}", jitp::render::terminal(&sources, &diags, color));
    }
    let Some(program) = program else {
        return Err(ExitCode::from(1));
    };
    match jitp::lower::compile(&program, &sources) {
        Ok(bundle) => Ok((sources, bundle)),
        Err(diags) => {
            eprint!("{}", jitp::render::terminal(&sources, &diags, color));
            Err(ExitCode::from(1))
        }
    }
}

fn build(
    paths: &[PathBuf],
    output: &std::path::Path,
    package: Option<&str>,
    color: bool,
) -> ExitCode {
    let (_, bundle) = match compile_paths(paths, package, color) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let bytes = bundle.to_bytes();
    if let Err(e) = std::fs::write(output, &bytes) {
        return input_error(&format!(
            "cannot write `{}`: {}",
            output.display(),
            e.to_string().to_lowercase()
        ));
    }
    eprintln!(
        "wrote {} ({} rule{}, {} action{}, {} bytes)",
        output.display(),
        bundle.rule_count(),
        plural(bundle.rule_count()),
        bundle.action_count(),
        plural(bundle.action_count()),
        bytes.len()
    );
    ExitCode::SUCCESS
}

fn read_request(path: &std::path::Path) -> Result<String, String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(jitp_runtime::MAX_REQUEST_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the request from standard input: {e}"))?;
    } else {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("`{}`: {}", path.display(), e.to_string().to_lowercase()))?;
        if meta.len() > jitp_runtime::MAX_REQUEST_BYTES as u64 {
            return Err(format!(
                "`{}`: the request is larger than {} bytes",
                path.display(),
                jitp_runtime::MAX_REQUEST_BYTES
            ));
        }
        text = std::fs::read_to_string(path)
            .map_err(|e| format!("`{}`: {}", path.display(), e.to_string().to_lowercase()))?;
    }
    Ok(text)
}

/// Adds `now` (the current time) to a request object that lacks it.
fn default_now(text: &str) -> String {
    let Ok(serde_json::Value::Object(mut obj)) = serde_json::from_str::<serde_json::Value>(text)
    else {
        return text.to_string();
    };
    if obj.contains_key("now") {
        return text.to_string();
    }
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    eprintln!("note: the request has no `now`; deciding at the current time {now}");
    obj.insert("now".into(), serde_json::Value::String(now));
    serde_json::Value::Object(obj).to_string()
}

#[allow(clippy::too_many_arguments)]
fn eval(
    bundle_path: Option<&std::path::Path>,
    policy: &[PathBuf],
    package: Option<&str>,
    request: &std::path::Path,
    explain: bool,
    format: Format,
    color: bool,
) -> ExitCode {
    let (sources, bundle) = match bundle_path {
        Some(path) => match Bundle::from_file(path) {
            Ok(b) => (None, b),
            Err(e) => return input_error(&e),
        },
        None => match compile_paths(policy, package, color) {
            Ok((s, b)) => (Some(s), b),
            Err(code) => return code,
        },
    };
    let text = match read_request(request) {
        Ok(t) => default_now(&t),
        Err(e) => return input_error(&e),
    };
    let bound = match bundle.bind_str(&text) {
        Ok(b) => b,
        Err(e) => {
            let d = jitp_runtime::decision::DecisionRecord::invalid(e.to_string());
            println!(
                "{}",
                serde_json::to_string_pretty(&d.to_json()).unwrap_or_default()
            );
            return ExitCode::SUCCESS;
        }
    };
    if !explain {
        let d = bundle.decide(&bound);
        println!(
            "{}",
            serde_json::to_string_pretty(&d.to_json()).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let explanation = bundle.explain(&bound);
    match format {
        Format::Json => {
            let mut doc = explanation.decision.to_json();
            if let serde_json::Value::Object(o) = &mut doc {
                o.insert(
                    "explanation".into(),
                    serde_json::to_value(&explanation.rules).unwrap_or_default(),
                );
            }
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Human => {
            let sources = sources.unwrap_or_else(|| jitp::span::SourceMap::of_bundle(&bundle));
            print!(
                "{}",
                jitp::explain_render::render(
                    &sources,
                    &explanation,
                    color && std::io::stdout().is_terminal()
                )
            );
        }
    }
    ExitCode::SUCCESS
}

/// `jitp fmt`: formats files in place, or only reports with `--check`
/// and `--diff`.
fn fmt(paths: &[PathBuf], check: bool, diff: bool, color: bool) -> ExitCode {
    use jitp::fmt::{format_source, unified_diff, FmtError};
    let stdin = paths.iter().any(|p| p.as_os_str() == "-");
    let files: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    let mut sources = SourceMap::new();
    let mut ids = Vec::new();
    if stdin {
        let mut text = String::new();
        if let Err(e) = std::io::stdin()
            .take(driver::MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
        {
            return input_error(&format!(
                "cannot read standard input: {}",
                e.to_string().to_lowercase()
            ));
        }
        if text.len() as u64 > driver::MAX_FILE_BYTES {
            return input_error(&format!(
                "standard input is larger than {} MiB",
                driver::MAX_FILE_BYTES / 1024 / 1024
            ));
        }
        ids.push((None, sources.add("<stdin>", text)));
    }
    if !files.is_empty() {
        let found = match driver::collect_files(&files) {
            Ok(f) => f,
            Err(e) => return input_error(&e),
        };
        let read = match driver::read_files(&mut sources, &found) {
            Ok(ids) => ids,
            Err(e) => return input_error(&e),
        };
        ids.extend(found.into_iter().map(Some).zip(read));
    }
    let (mut syntax, mut failed, mut changed, mut total) = (false, false, 0usize, 0usize);
    let mut out = std::io::stdout().lock();
    for (path, id) in ids {
        let Some(file) = sources.get(id) else {
            continue;
        };
        let (name, text) = (file.name.clone(), file.text.clone());
        total += 1;
        let formatted = match format_source(id, &text) {
            Ok(f) => f,
            Err(FmtError::Syntax(diags)) => {
                eprint!("{}", jitp::render::terminal(&sources, &diags, color));
                eprintln!("error: `{name}` has syntax errors and was not formatted");
                syntax = true;
                continue;
            }
            Err(FmtError::Internal(m)) => {
                eprintln!("error: internal formatter error in `{name}`, left unchanged: {m}");
                failed = true;
                continue;
            }
        };
        let differs = formatted != text;
        if differs {
            changed += 1;
        }
        if diff && differs {
            let _ = out.write_all(unified_diff(&name, &text, &formatted).as_bytes());
        }
        if check && differs {
            let _ = writeln!(out, "{name}");
        }
        if check || diff {
            continue;
        }
        match path {
            None => {
                let _ = out.write_all(formatted.as_bytes());
            }
            Some(p) if differs => {
                if let Err(e) = replace_file(&p, &formatted) {
                    eprintln!(
                        "error: cannot write `{}`: {}",
                        p.display(),
                        e.to_string().to_lowercase()
                    );
                    failed = true;
                }
            }
            Some(_) => {}
        }
    }
    let _ = out.flush();
    let verb = if check || diff {
        "would be reformatted"
    } else {
        "reformatted"
    };
    // Plain `jitp fmt -` is a filter: its only output is the text.
    let filter = stdin && total == 1 && !check && !diff;
    if !filter {
        eprintln!("{changed} of {total} file{} {verb}", plural(total));
    }
    if failed {
        ExitCode::from(2)
    } else if syntax || (check && changed > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Replaces the contents of `path` without ever leaving it half written:
/// the text goes to a temporary file beside it (with the original's
/// permissions), which is then renamed over the original.
fn replace_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        ".{}.jitp-fmt-{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, text)
        .and_then(|()| std::fs::metadata(path))
        .and_then(|meta| std::fs::set_permissions(&tmp, meta.permissions()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn disasm(path: &std::path::Path) -> ExitCode {
    let bundle = match Bundle::from_file(path) {
        Ok(b) => b,
        Err(e) => return input_error(&e),
    };
    let sources = jitp::span::SourceMap::of_bundle(&bundle);
    let lookup = |file: u32| {
        sources
            .get(jitp::span::FileId(file))
            .map(|f| f.text.clone())
            .filter(|t| !t.is_empty())
    };
    print!("{}", bundle.disassemble(Some(&lookup)));
    ExitCode::SUCCESS
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

fn test(
    paths: &[PathBuf],
    format: TestFormat,
    coverage: bool,
    min_coverage: Option<f64>,
    color: bool,
) -> ExitCode {
    let report = match jitp::testing::run(paths) {
        Ok(r) => r,
        Err(jitp::testing::RunError::Policy {
            sources,
            diagnostics,
        }) => {
            eprint!("{}", jitp::render::terminal(&sources, &diagnostics, color));
            return input_error(&"the policies have errors; fix them before testing");
        }
        Err(e) => return input_error(&e),
    };
    match format {
        TestFormat::Human => {
            let color = color && std::io::stdout().is_terminal();
            print!(
                "{}",
                report.human(color, coverage || min_coverage.is_some(), min_coverage)
            );
        }
        TestFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.json(min_coverage)).unwrap_or_default()
        ),
        TestFormat::Junit => print!("{}", report.junit()),
    }
    let code = report.status(min_coverage).code();
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

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
struct LintArgs {
    /// Policy files or directories.
    #[arg(value_name = "PATH", required_unless_present_any = ["explain", "rules"])]
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

fn lint(a: LintArgs, color: bool) -> ExitCode {
    use jitp::lint::run::{run, Options, RunError};
    use jitp::lint::Finding;
    if a.rules {
        for l in jitp::lint::registry() {
            let i = l.info();
            println!(
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
                print!("{}", info.doc);
                ExitCode::SUCCESS
            }
            None => {
                let names = jitp::lint::registry()
                    .iter()
                    .flat_map(|l| [l.info().code.as_str(), l.info().name]);
                let hint = jitp::diagnostic::did_you_mean(code, names)
                    .map(|s| format!(" (did you mean `{s}`?)"))
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
    let report = match run(&a.paths, &options) {
        Ok(r) => r,
        Err(RunError::Input(m)) => return input_error(&m),
        Err(RunError::Diagnostics {
            sources,
            diagnostics,
            what,
        }) => {
            eprint!("{}", jitp::render::terminal(&sources, &diagnostics, color));
            return input_error(&what);
        }
    };
    let cwd = std::env::current_dir().ok();
    let findings = &report.findings;
    match a.format {
        LintFormat::Human => {
            let diags: Vec<Diagnostic> = findings.iter().map(Finding::for_terminal).collect();
            let mut out = std::io::stdout().lock();
            let _ =
                out.write_all(jitp::render::terminal(&report.sources, &diags, color).as_bytes());
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
            let _ = writeln!(
                out,
                "linted {} policy set{} ({} file{}): {e} error{}, {w} warning{}, {n} note{}{base}",
                report.sets,
                plural(report.sets),
                report.files,
                plural(report.files),
                plural(e),
                plural(w),
                plural(n),
            );
        }
        LintFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&jitp::lint::output::json(&report.sources, findings))
                .unwrap_or_default()
        ),
        LintFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&jitp::lint::output::sarif(
                &report.sources,
                findings,
                cwd.as_deref()
            ))
            .unwrap_or_default()
        ),
        LintFormat::Github => print!(
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
