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
    /// Sign the bundle with this secret key (`NAME.key` from `jitp keygen`).
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
}

/// Runs `jitp build`.
pub fn run(args: Args, color: bool) -> ExitCode {
    let key = match args
        .sign
        .as_deref()
        .map(jitp_server::keys::SecretKey::from_file)
    {
        Some(Err(e)) => return input_error(&format!("cannot sign with {e}")),
        Some(Ok(k)) => Some(k),
        None => None,
    };
    let bundle = match compile_paths(&args.paths, args.package.as_deref(), color) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let mut bytes = bundle.to_bytes();
    if let Some(k) = &key {
        bytes = k.sign_bundle(&bytes);
    }
    if let Err(e) = std::fs::write(&args.output, &bytes) {
        return input_error(&format!(
            "cannot write `{}`: {}",
            args.output.display(),
            e.to_string().to_lowercase()
        ));
    }
    let signed = key
        .map(|k| format!(", signed by key {}", k.id()))
        .unwrap_or_default();
    errln!(
        "wrote {} ({} rule{}, {} action{}, {} bytes{signed})",
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
