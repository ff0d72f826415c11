//! `jitp eval`: decide one request, optionally explained rule by rule.

use super::build::compile_paths;
use super::{input_error, Format};
use jitp::span::SourceMap;
use jitp_runtime::{Bundle, DecisionRecord, RequestErrorKind};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The arguments of `jitp eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
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
    /// Trusted issuers of workload tokens (TOML, see docs/identity.md):
    /// verify `evidence.workload_token` at the request's `now` and fill
    /// `evidence.workload` from it.
    #[arg(long, value_name = "FILE")]
    issuers: Option<PathBuf>,
    /// Output format of `--explain`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

/// Runs `jitp eval`.
pub fn run(args: Args, color: bool) -> ExitCode {
    let bundle = match &args.bundle {
        Some(path) => match Bundle::from_file(path) {
            Ok(b) => b,
            Err(e) => return input_error(&e),
        },
        None => match compile_paths(&args.policy, args.package.as_deref(), color) {
            Ok(b) => b,
            Err(code) => return code,
        },
    };
    let text = match read_request(&args.request) {
        Ok(t) => default_now(&t),
        Err(e) => return input_error(&e),
    };
    let verifier = match &args.issuers {
        Some(path) => match jitp_identity::Verifier::load(path) {
            Ok(v) => Some(v),
            Err(e) => return input_error(&e),
        },
        None => None,
    };
    let (bound, workload) = match &verifier {
        None => (bundle.bind_str(&text), None),
        Some(v) => match verify_identity(v, &text, &args.request) {
            Ok((request, workload)) => (bundle.bind(&request), workload),
            Err(e) => return input_error(&e),
        },
    };
    let with_workload = |mut doc: serde_json::Value| {
        if let (Some(w), serde_json::Value::Object(o)) = (&workload, &mut doc) {
            o.insert("workload_identity".into(), w.clone());
        }
        doc
    };
    let bound = match bound {
        Ok(b) => b,
        // A file that is not JSON at all is an input error, like an
        // unreadable one; a JSON request that does not fit the schema is
        // decided (deny, `invalid_request`).
        Err(e) if matches!(e.kind, RequestErrorKind::Syntax { .. }) => {
            return input_error(&format!("`{}`: {e}", args.request.display()));
        }
        Err(e) => {
            let d = DecisionRecord::invalid(e.to_string());
            outln!(
                "{}",
                serde_json::to_string_pretty(&with_workload(d.to_json())).unwrap_or_default()
            );
            return ExitCode::SUCCESS;
        }
    };
    if !args.explain {
        let d = bundle.decide(&bound);
        outln!(
            "{}",
            serde_json::to_string_pretty(&with_workload(d.to_json())).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let explanation = bundle.explain(&bound);
    match args.format {
        Format::Json => {
            let mut doc = with_workload(explanation.decision.to_json());
            if let serde_json::Value::Object(o) = &mut doc {
                o.insert(
                    "explanation".into(),
                    serde_json::to_value(&explanation.rules).unwrap_or_default(),
                );
            }
            outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Human => {
            if let Some(w) = &workload {
                errln!("note: workload identity: {w}");
            }
            // The bundle's spans number its own files.
            let sources = SourceMap::of_bundle(&bundle);
            out!(
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

/// The embedded identity step: parses the request (repeated keys refused),
/// verifies `evidence.workload_token` at the request's `now` and returns the
/// request to bind with the outcome to report.
fn verify_identity(
    verifier: &jitp_identity::Verifier,
    text: &str,
    path: &Path,
) -> Result<(serde_json::Value, Option<serde_json::Value>), String> {
    let mut request = jitp_runtime::parse_unique(text, "request")
        .map_err(|e| format!("`{}`: {e}", path.display()))?;
    let now = request
        .get("now")
        .and_then(serde_json::Value::as_str)
        .and_then(jitp_identity::unix_seconds);
    let Some(now) = now else {
        return Err(format!(
            "`{}`: `now` must be an RFC 3339 time to verify a workload token",
            path.display()
        ));
    };
    let outcome = jitp_identity::prepare(verifier, &mut request, now)
        .map_err(|e| format!("`{}`: {e}", path.display()))?;
    Ok((request, outcome.to_json()))
}

/// Reads the request text from a regular file or standard input, refusing
/// more than the runtime accepts.
fn read_request(path: &Path) -> Result<String, String> {
    let limit = jitp_runtime::MAX_REQUEST_BYTES as u64;
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                format!(
                    "cannot read the request from standard input: {}",
                    jitp::driver::io_message(&e)
                )
            })?;
        if bytes.len() as u64 > limit {
            return Err(format!(
                "the request on standard input is larger than {limit} bytes"
            ));
        }
        bytes
    } else {
        jitp::driver::read_capped(path, limit).map_err(|e| e.to_string())?
    };
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{}`: the request is not valid UTF-8 (at byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
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
    errln!("note: the request has no `now`; deciding at the current time {now}");
    let now = serde_json::Value::String(now);
    // Into the text, not a re-serialised `Value`: that would drop a
    // repeated key the runtime must see (and refuse).
    match text.trim_start().strip_prefix('{') {
        Some(rest) if !obj.is_empty() => format!("{{\"now\": {now}, {rest}"),
        _ => {
            obj.insert("now".into(), now);
            serde_json::Value::Object(obj).to_string()
        }
    }
}
