//! `jitp serve`: the AuthZEN decision service (see docs/server.md).

use super::input_error;
use jitp::driver;
use jitp_runtime::Bundle;
use jitp_server::{Config, Loader};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The arguments of `jitp serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A compiled bundle to serve; reloaded when it changes.
    #[arg(long, value_name = "FILE.jitb", conflicts_with = "policy")]
    bundle: Option<PathBuf>,
    /// Policy files or directories, compiled at start and on every reload.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    policy: Vec<PathBuf>,
    /// Which package to serve when the policies hold several.
    #[arg(long)]
    package: Option<String>,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Entity data (JSON: attributes per entity type and id).
    #[arg(long, value_name = "FILE")]
    entities: Option<PathBuf>,
    /// Trusted issuers of workload tokens (TOML, see docs/identity.md):
    /// the server verifies `evidence.workload_token` itself.
    #[arg(long, value_name = "FILE")]
    issuers: Option<PathBuf>,
    /// Bearer tokens callers must present, one per line.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// TLS certificate chain (PEM); needs `--tls-key`.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept a request's `now` (replaying recorded requests). Never in
    /// production: the caller then chooses the time.
    #[arg(long)]
    replay: bool,
    /// Namespace of action names sent without one (`todo`: an AuthZEN
    /// `can_read_user` is decided as `todo.can_read_user`).
    #[arg(long, value_name = "NS")]
    action_namespace: Option<String>,
    /// Settings file; flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// `jitp-server.toml`: the same settings as the flags.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bundle: Option<PathBuf>,
    policy: Option<Vec<PathBuf>>,
    package: Option<String>,
    listen: Option<SocketAddr>,
    entities: Option<PathBuf>,
    issuers: Option<PathBuf>,
    tokens: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    replay: Option<bool>,
    action_namespace: Option<String>,
    max_body_bytes: Option<usize>,
    max_batch: Option<usize>,
    max_connections: Option<usize>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
}

fn read_config(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read `{}`: {}",
            path.display(),
            driver::io_message(&e)
        )
    })?;
    toml::from_str(&text).map_err(|e| format!("`{}`: {}", path.display(), e.message()))
}

/// Runs `jitp serve`.
pub fn run(args: Args) -> ExitCode {
    let file = match &args.config {
        Some(p) => match read_config(p) {
            Ok(c) => c,
            Err(e) => return input_error(&e),
        },
        None => FileConfig::default(),
    };
    // Paths in the settings file are relative to it.
    let base = args
        .config
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let rel = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let bundle = args.bundle.or(file.bundle.map(rel));
    let policy = if args.policy.is_empty() {
        file.policy
            .unwrap_or_default()
            .into_iter()
            .map(rel)
            .collect()
    } else {
        args.policy
    };
    let package = args.package.or(file.package);
    let mut config = Config::default();
    if let Some(l) = args.listen.or(file.listen) {
        config.listen = l;
    }
    config.entities = args.entities.or(file.entities.map(rel));
    config.tokens = args.tokens.or(file.tokens.map(rel));
    config.issuers = args.issuers.or(file.issuers.map(rel));
    config.action_namespace = args.action_namespace.or(file.action_namespace);
    config.replay = args.replay || file.replay.unwrap_or(false);
    let cert = args.tls_cert.or(file.tls_cert.map(rel));
    let key = args.tls_key.or(file.tls_key.map(rel));
    config.tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return input_error(&"TLS needs both `tls_cert` and `tls_key`"),
    };
    if let Some(n) = file.max_body_bytes {
        config.max_body_bytes = n;
    }
    if let Some(n) = file.max_batch {
        config.max_batch = n;
    }
    if let Some(n) = file.max_connections {
        config.max_connections = n.max(1);
    }
    if let Some(ms) = file.header_timeout_ms {
        config.header_timeout = std::time::Duration::from_millis(ms.max(1));
    }
    if let Some(ms) = file.body_timeout_ms {
        config.body_timeout = std::time::Duration::from_millis(ms.max(1));
    }
    let loader: Loader = match (bundle, policy) {
        (Some(path), p) if p.is_empty() => {
            config.watch = vec![path.clone()];
            Arc::new(move || Bundle::from_file(&path).map_err(|e| e.to_string()))
        }
        (None, paths) if !paths.is_empty() => {
            config.watch = paths.clone();
            Arc::new(move || compile(&paths, package.as_deref()))
        }
        (None, _) => {
            return input_error(
                &"nothing to serve\nhelp: give `--bundle FILE.jitb` or `--policy PATH...`",
            )
        }
        (Some(_), _) => return input_error(&"give either a bundle or policies, not both"),
    };
    if config.replay {
        errln!("warning: replay mode: requests choose their own `now`; never use it in production");
    }
    match jitp_server::run(config, loader) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => input_error(&e),
    }
}

/// Compiles a policy set; the error carries the diagnostics as text.
fn compile(paths: &[PathBuf], package: Option<&str>) -> Result<Bundle, String> {
    let mut loaded = driver::load(paths).map_err(|e| e.to_string())?;
    let set = loaded.select(package).map_err(|e| e.to_string())?.clone();
    let built = driver::check_and_build(&mut loaded.sources, &set);
    match built.bundle {
        Some(b) => Ok(b),
        None => Err(format!(
            "the policies do not compile:\n{}",
            jitp::render::terminal(&loaded.sources, &built.diagnostics, false)
        )),
    }
}
