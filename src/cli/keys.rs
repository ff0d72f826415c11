//! `jitp keygen` and `jitp verify`: signing keys and signed bundles.

use super::input_error;
use jitp_runtime::{Bundle, BundleErrorKind, PublicKey};
use jitp_server::keys::SecretKey;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `jitp keygen`.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Writes `NAME.key` (secret, mode 0600) and `NAME.pub`.
    #[arg(short, long, value_name = "NAME")]
    output: PathBuf,
}

/// Runs `jitp keygen`.
pub fn keygen(args: KeygenArgs) -> ExitCode {
    let key = match SecretKey::generate() {
        Ok(k) => k,
        Err(e) => return input_error(&e),
    };
    match key.write_pair(&args.output) {
        Ok((secret, public)) => {
            errln!(
                "wrote {} (secret) and {} (public); key id {}",
                secret.display(),
                public.display(),
                key.id()
            );
            ExitCode::SUCCESS
        }
        Err(e) => input_error(&e),
    }
}

/// The arguments of `jitp verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The signed bundle.
    #[arg(value_name = "FILE.jitb")]
    bundle: PathBuf,
    /// A trusted public key (`NAME.pub`); repeat for several.
    #[arg(long = "key", value_name = "PUB", required = true)]
    keys: Vec<PathBuf>,
}

/// Reads public key files.
pub fn read_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>, String> {
    paths
        .iter()
        .map(|p| PublicKey::from_file(p).map_err(|e| format!("cannot use the key {e}")))
        .collect()
}

/// Runs `jitp verify`.
pub fn verify(args: VerifyArgs) -> ExitCode {
    let keys = match read_keys(&args.keys) {
        Ok(k) => k,
        Err(e) => return input_error(&e),
    };
    match Bundle::from_file_verified(&args.bundle, &keys) {
        Ok(b) => {
            let signer = b.signer().map(|k| k.to_string()).unwrap_or_default();
            outln!(
                "{}: signed by key {signer}, revision {}, {} rule{}",
                args.bundle.display(),
                b.revision(),
                b.rule_count(),
                super::plural(b.rule_count())
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.kind == BundleErrorKind::Io => input_error(&e),
        Err(e) => {
            errln!("error: `{}`: {e}", args.bundle.display());
            ExitCode::from(1)
        }
    }
}
