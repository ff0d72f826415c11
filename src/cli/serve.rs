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
    /// Bearer tokens callers must present, one per line: `TOKEN`, or
    /// `TOKEN TYPE ID` to give its caller an identity (who approves and
    /// ends tasks).
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// Hold tasks in this store: `sqlite:PATH` (one file) or
    /// `postgres://USER@HOST/DB` (shared by replicas). Requests then name a
    /// held task by id and the server supplies its facts (docs/tasks.md).
    #[arg(long, value_name = "STORE")]
    tasks: Option<String>,
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
    /// Serve only bundles signed by this public key (`NAME.pub`), at
    /// start and at every reload; repeat to trust several (key rotation).
    #[arg(long = "trust-key", value_name = "PUB")]
    trust_keys: Vec<PathBuf>,
    /// Write every decision to a hash-chained, signed log: a directory of
    /// rotated files, or `-` for standard output. Needs `--log-key`.
    #[arg(long, value_name = "DIR|-", requires = "log_key")]
    log: Option<PathBuf>,
    /// The secret key that signs the decision log (`NAME.key`).
    #[arg(long, value_name = "KEY")]
    log_key: Option<PathBuf>,
    /// Request fields logged as `"[redacted]"`, comma-separated dotted
    /// paths (`context.secret,subject.properties.email`); an array on the
    /// way stands for each of its elements (`task.approvals.by`).
    #[arg(long, value_name = "PATHS", value_delimiter = ',')]
    log_redact: Vec<String>,
    /// Rotate a log file before it would grow past this many bytes.
    #[arg(long, value_name = "BYTES")]
    log_max_bytes: Option<u64>,
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
    tasks: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    replay: Option<bool>,
    action_namespace: Option<String>,
    max_body_bytes: Option<usize>,
    max_batch: Option<usize>,
    max_connections: Option<usize>,
    header_timeout_ms: Option<u64>,
    body_timeout_ms: Option<u64>,
    trust_keys: Option<Vec<PathBuf>>,
    log: Option<PathBuf>,
    log_key: Option<PathBuf>,
    log_redact: Option<Vec<String>>,
    log_max_bytes: Option<u64>,
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
    // A relative `sqlite:` path in the settings file is relative to it.
    config.tasks = args
        .tasks
        .or(file.tasks.map(|t| match t.strip_prefix("sqlite:") {
            Some(p) if !p.is_empty() => format!("sqlite:{}", rel(PathBuf::from(p)).display()),
            _ => t,
        }));
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
    let trust = if args.trust_keys.is_empty() {
        file.trust_keys
            .unwrap_or_default()
            .into_iter()
            .map(rel)
            .collect()
    } else {
        args.trust_keys
    };
    let trusted = match super::keys::read_keys(&trust) {
        Ok(k) => k,
        Err(e) => return input_error(&e),
    };
    let log = args.log.or(file
        .log
        .map(|p| if p.as_os_str() == "-" { p } else { rel(p) }));
    let log_key = args.log_key.or(file.log_key.map(rel));
    match (log, log_key) {
        (Some(target), Some(key)) => {
            let key = match jitp_server::keys::SecretKey::from_file(&key) {
                Ok(k) => k,
                Err(e) => return input_error(&format!("cannot use the log key {e}")),
            };
            let redact = if args.log_redact.is_empty() {
                file.log_redact.unwrap_or_default()
            } else {
                args.log_redact
            };
            if let Some(bad) = redact
                .iter()
                .find(|p| p.is_empty() || p.split('.').any(str::is_empty))
            {
                return input_error(&format!(
                    "`{bad}` is not a field path\nhelp: write dotted paths such as `context.secret`"
                ));
            }
            config.log = Some(jitp_server::log::LogConfig {
                target: if target.as_os_str() == "-" {
                    jitp_server::log::Target::Stdout
                } else {
                    jitp_server::log::Target::Dir(target)
                },
                key: Arc::new(key),
                redact,
                max_bytes: args
                    .log_max_bytes
                    .or(file.log_max_bytes)
                    .unwrap_or(64 << 20)
                    .max(1),
            });
        }
        (Some(_), None) => {
            return input_error(&"the decision log needs a signing key\nhelp: give `--log-key NAME.key` (see `jitp keygen`)")
        }
        (None, Some(_)) => return input_error(&"`log_key` is set but `log` is not"),
        (None, None) => {}
    }
    if !trusted.is_empty() && bundle.is_none() {
        return input_error(
            &"`--trust-key` needs `--bundle`: policies compiled at start are not signed\nhelp: build and sign a bundle with `jitp build --sign KEY`",
        );
    }
    let loader: Loader = match (bundle, policy) {
        (Some(path), p) if p.is_empty() && !trusted.is_empty() => {
            config.watch = vec![path.clone()];
            Arc::new(move || {
                Bundle::from_file_verified(&path, &trusted)
                    .map_err(|e| format!("`{}`: {e}", path.display()))
            })
        }
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
