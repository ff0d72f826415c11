//! `jitp task`: a thin client of a running server's task API
//! (`/v1/tasks`, see docs/tasks.md).

use super::input_error;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The arguments of `jitp task`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The server (`jitp serve --tasks ...`); `JITP_SERVER` when unset,
    /// else `http://127.0.0.1:8180`.
    #[arg(long, value_name = "URL", global = true)]
    server: Option<String>,
    /// A file whose first line is the bearer token; `JITP_TOKEN` when
    /// unset.
    #[arg(long, value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TaskCommand {
    /// Request a task for a principal; prints the task (with its id).
    Request(RequestArgs),
    /// Approve a task as the caller the token identifies.
    Approve(ActArgs),
    /// End a task (its principal, or someone who may approve it).
    End(ActArgs),
    /// Show one task.
    Show(IdArgs),
    /// List the active tasks, oldest first.
    List(ListArgs),
}

#[derive(clap::Args, Debug)]
struct RequestArgs {
    /// The task's name in the policy.
    name: String,
    /// Whom the task is for, as `TYPE:ID` (`Operator:sre-ana`).
    #[arg(long, value_name = "TYPE:ID")]
    principal: String,
    /// Why the task is needed.
    #[arg(long, value_name = "TEXT")]
    justification: String,
    /// A ticket reference.
    #[arg(long, value_name = "ID")]
    ticket: Option<String>,
}

#[derive(clap::Args, Debug)]
struct ActArgs {
    /// The task's id.
    id: String,
    /// The approval decision's `context` (JSON, or `@FILE`).
    #[arg(long, value_name = "JSON|@FILE")]
    context: Option<String>,
    /// The approval decision's `evidence` (JSON, or `@FILE`).
    #[arg(long, value_name = "JSON|@FILE")]
    evidence: Option<String>,
}

#[derive(clap::Args, Debug)]
struct IdArgs {
    /// The task's id.
    id: String,
}

#[derive(clap::Args, Debug)]
struct ListArgs {
    /// List at most this many tasks.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What went wrong talking to the server.
enum Failure {
    /// The server refused: its status and message (exit status 1).
    Refused(u16, String),
    /// The request could not be made (exit status 2).
    Unusable(String),
}

struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

impl Client {
    fn call(&self, path: &str, body: Option<&Value>) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match body {
            Some(b) => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("content-type", "application/json");
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.send(b.to_string())
            }
            None => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("authorization", a);
                }
                r.call()
            }
        };
        let mut resp = result.map_err(|e| {
            Failure::Unusable(format!("cannot reach the server at `{}`: {e}", self.base))
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| Failure::Unusable(format!("cannot read the server's answer: {e}")))?;
        let doc: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            let message = doc
                .pointer("/error/message")
                .and_then(Value::as_str)
                .map_or_else(
                    || format!("the server answered status {status}"),
                    str::to_string,
                );
            return Err(Failure::Refused(status, message));
        }
        Ok(doc)
    }
}

fn token(args: &Args) -> Result<Option<String>, String> {
    if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the token file `{}`: {}",
                path.display(),
                jitp::driver::io_message(&e)
            )
        })?;
        let first = text.lines().next().unwrap_or_default().trim();
        // A tokens-file line (`TOKEN TYPE ID`) works too: the token is its
        // first word.
        let t = first.split_whitespace().next().unwrap_or_default();
        if t.is_empty() {
            return Err(format!("the token file `{}` is empty", path.display()));
        }
        return Ok(Some(t.to_string()));
    }
    Ok(std::env::var("JITP_TOKEN").ok().filter(|t| !t.is_empty()))
}

/// Reads `--context` / `--evidence`: JSON text, or `@FILE`.
fn json_arg(flag: &str, v: &str) -> Result<Value, String> {
    let (text, from) = match v.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "cannot read `{path}` (for `--{flag}`): {}",
                    jitp::driver::io_message(&e)
                )
            })?,
            format!("`{path}`"),
        ),
        None => (v.to_string(), format!("`--{flag}`")),
    };
    let doc = jitp_runtime::parse_unique(&text, &from).map_err(|e| format!("{from}: {e}"))?;
    if !doc.is_object() {
        return Err(format!("{from} must be a JSON object"));
    }
    Ok(doc)
}

/// Runs `jitp task`.
pub fn run(args: Args) -> ExitCode {
    let token = match token(&args) {
        Ok(t) => t,
        Err(e) => return input_error(&e),
    };
    let base = args
        .server
        .clone()
        .or_else(|| std::env::var("JITP_SERVER").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "http://127.0.0.1:8180".into());
    let client = Client {
        agent: ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into(),
        base: base.trim_end_matches('/').to_string(),
        token,
    };
    let result = match &args.command {
        TaskCommand::Request(r) => {
            let Some((ty, id)) = r.principal.split_once(':') else {
                return input_error(&format!(
                    "`--principal {}` is not `TYPE:ID`\nhelp: write the entity type and id, as in `--principal Operator:sre-ana`",
                    r.principal
                ));
            };
            let mut body = json!({
                "name": r.name,
                "principal": {"type": ty, "id": id},
                "justification": r.justification,
            });
            if let (Some(t), Value::Object(o)) = (&r.ticket, &mut body) {
                o.insert("ticket".into(), t.clone().into());
            }
            client.call("/v1/tasks", Some(&body))
        }
        TaskCommand::Approve(a) | TaskCommand::End(a) => {
            let mut body = serde_json::Map::new();
            for (flag, v) in [("context", &a.context), ("evidence", &a.evidence)] {
                if let Some(v) = v {
                    match json_arg(flag, v) {
                        Ok(doc) => {
                            body.insert(flag.into(), doc);
                        }
                        Err(e) => return input_error(&e),
                    }
                }
            }
            let verb = if matches!(args.command, TaskCommand::Approve(_)) {
                "approve"
            } else {
                "end"
            };
            client.call(
                &format!("/v1/tasks/{}/{verb}", encode(&a.id)),
                Some(&Value::Object(body)),
            )
        }
        TaskCommand::Show(s) => client.call(&format!("/v1/tasks/{}", encode(&s.id)), None),
        TaskCommand::List(l) => {
            let path = match l.limit {
                Some(n) => format!("/v1/tasks?limit={n}"),
                None => "/v1/tasks".into(),
            };
            match client.call(&path, None) {
                Ok(doc) if !l.json => {
                    outln!("{}", table(&doc));
                    return ExitCode::SUCCESS;
                }
                other => other,
            }
        }
    };
    match result {
        Ok(doc) => {
            outln!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(Failure::Refused(status, message)) => {
            errln!("error: the server refused ({status}): {message}");
            ExitCode::from(1)
        }
        Err(Failure::Unusable(e)) => input_error(&e),
    }
}

/// A path segment with everything but unreserved characters escaped.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The active tasks as a table.
fn table(doc: &Value) -> String {
    let empty = Vec::new();
    let tasks = doc.get("tasks").and_then(Value::as_array).unwrap_or(&empty);
    if tasks.is_empty() {
        return "no active tasks".into();
    }
    let s = |t: &Value, p: &str| {
        t.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string()
    };
    let mut rows = vec![[
        "ID".to_string(),
        "NAME".into(),
        "PRINCIPAL".into(),
        "STATE".into(),
        "APPROVALS".into(),
        "EXPIRES".into(),
    ]];
    for t in tasks {
        let approvals = t
            .get("approvals")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let needed = t.get("needed").and_then(Value::as_u64).unwrap_or(0);
        rows.push([
            s(t, "/id"),
            s(t, "/name"),
            format!("{}:{}", s(t, "/principal/type"), s(t, "/principal/id")),
            s(t, "/state"),
            format!("{approvals}/{needed}"),
            s(t, "/expires_at"),
        ]);
    }
    let mut widths = [0usize; 6];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_string()
        })
        .collect();
    lines.join("\n")
}
