//! `jitp build`: one policy set to a bundle file.

use super::{input_error, plural};
use jitp::driver;
use jitp_runtime::Bundle;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `jitp build`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories holding the policy set.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Where to write the bundle.
    #[arg(short, long, value_name = "FILE.jitb")]
    output: PathBuf,
    /// Which package to build when the paths hold several.
    #[arg(long)]
    package: Option<String>,
}

/// Runs `jitp build`.
pub fn run(args: Args, color: bool) -> ExitCode {
    let bundle = match compile_paths(&args.paths, args.package.as_deref(), color) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let bytes = bundle.to_bytes();
    if let Err(e) = std::fs::write(&args.output, &bytes) {
        return input_error(&format!(
            "cannot write `{}`: {}",
            args.output.display(),
            e.to_string().to_lowercase()
        ));
    }
    errln!(
        "wrote {} ({} rule{}, {} action{}, {} bytes)",
        args.output.display(),
        bundle.rule_count(),
        plural(bundle.rule_count()),
        bundle.action_count(),
        plural(bundle.action_count()),
        bytes.len()
    );
    ExitCode::SUCCESS
}

/// Loads `paths`, selects one policy set and takes it through the
/// pipeline; diagnostics go to standard error. On failure, the exit code
/// to return.
pub fn compile_paths(
    paths: &[PathBuf],
    package: Option<&str>,
    color: bool,
) -> Result<Bundle, ExitCode> {
    let mut loaded = driver::load(paths).map_err(|e| input_error(&e))?;
    let set = loaded.select(package).map_err(|e| input_error(&e))?.clone();
    let built = driver::check_and_build(&mut loaded.sources, &set);
    if !built.diagnostics.is_empty() {
        err!(
            "{}",
            jitp::render::terminal(&loaded.sources, &built.diagnostics, color)
        );
    }
    built.bundle.ok_or(ExitCode::from(1))
}
