//! `jitp disasm`: a bundle's schema layout, rule index and bytecode.

use super::input_error;
use jitp::span::{FileId, SourceMap};
use jitp_runtime::Bundle;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `jitp disasm`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The bundle.
    #[arg(value_name = "FILE.jitb")]
    bundle: PathBuf,
}

/// Runs `jitp disasm`.
pub fn run(args: Args) -> ExitCode {
    let bundle = match Bundle::from_file(&args.bundle) {
        Ok(b) => b,
        Err(e) => return input_error(&e),
    };
    let sources = SourceMap::of_bundle(&bundle);
    let lookup = |file: u32| {
        sources
            .get(FileId(file))
            .map(|f| f.text.clone())
            .filter(|t| !t.is_empty())
    };
    out!("{}", bundle.disassemble(Some(&lookup)));
    ExitCode::SUCCESS
}
