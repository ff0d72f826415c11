//! Renderings of findings: JSON (a stable schema), SARIF 2.1.0 for code
//! scanning, and GitHub workflow-command annotations. The terminal
//! rendering is [`crate::render::terminal`] on the findings' diagnostics.

use super::{registry, Finding, Level};
use crate::diagnostic::Severity;
use crate::render::JsonLocation;
use crate::span::{SourceMap, Span};
use serde_json::{json, Value};

/// The version of the JSON schema below; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

fn level_str(s: Severity) -> &'static str {
    match s {
        Severity::Note => "note",
        Severity::Warning => "warning",
        Severity::Error => "error",
    }
}

/// The JSON document of a lint run (schema in `docs/lint.md`).
pub fn json(sources: &SourceMap, findings: &[Finding]) -> Value {
    let count = |s: Severity| {
        findings
            .iter()
            .filter(|f| f.diagnostic.severity == s)
            .count()
    };
    let items: Vec<Value> = findings
        .iter()
        .map(|f| {
            let d = &f.diagnostic;
            let loc = JsonLocation::new(sources, d.primary.span);
            json!({
                "code": d.code.as_str(),
                "name": f.name,
                "level": level_str(d.severity),
                "message": d.message,
                "file": loc.file,
                "line": loc.line,
                "column": loc.column,
                "end_line": loc.end_line,
                "end_column": loc.end_column,
                "label": d.primary.message,
                "related": d.secondary.iter().map(|l| {
                    let r = JsonLocation::new(sources, l.span);
                    json!({"file": r.file, "line": r.line, "column": r.column,
                           "end_line": r.end_line, "end_column": r.end_column, "message": l.message})
                }).collect::<Vec<_>>(),
                "help": d.help,
                "notes": d.notes,
                "fingerprint": f.fingerprint,
            })
        })
        .collect();
    json!({
        "version": JSON_VERSION,
        "tool": "jitp",
        "summary": {
            "errors": count(Severity::Error),
            "warnings": count(Severity::Warning),
            "notes": count(Severity::Note),
        },
        "findings": items,
    })
}

/// A file name as a URI reference relative to the working directory
/// (`cwd`), with `/` separators and reserved characters percent-encoded.
pub fn relative_uri(name: &str, cwd: Option<&std::path::Path>) -> String {
    let path = std::path::Path::new(name);
    let rel = match cwd {
        Some(c) if path.is_absolute() => path.strip_prefix(c).unwrap_or(path),
        _ => path,
    };
    let text = rel.to_string_lossy().replace('\\', "/");
    let text = text.strip_prefix("./").unwrap_or(&text).to_string();
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn region(sources: &SourceMap, span: Span) -> Value {
    let loc = JsonLocation::new(sources, span);
    json!({
        "startLine": loc.line,
        "startColumn": loc.column,
        "endLine": loc.end_line,
        "endColumn": loc.end_column.max(1),
    })
}

fn physical(sources: &SourceMap, span: Span, cwd: Option<&std::path::Path>) -> Value {
    let name = sources
        .get(span.file)
        .map_or("<unknown>", |f| f.name.as_str());
    json!({
        "artifactLocation": {"uri": relative_uri(name, cwd), "uriBaseId": "%SRCROOT%"},
        "region": region(sources, span),
    })
}

/// The SARIF 2.1.0 log of a lint run. File URIs are relative to `cwd`
/// (the working directory), as code scanning expects.
pub fn sarif(sources: &SourceMap, findings: &[Finding], cwd: Option<&std::path::Path>) -> Value {
    let rules: Vec<Value> = registry()
        .iter()
        .map(|l| {
            let i = l.info();
            json!({
                "id": i.code.as_str(),
                "name": i.name,
                "shortDescription": {"text": i.summary},
                "fullDescription": {"text": first_section(i.doc)},
                "help": {"text": i.doc, "markdown": i.doc},
                "defaultConfiguration": {"level": match i.level {
                    Level::Off => "none",
                    Level::Note => "note",
                    Level::Warning => "warning",
                    Level::Error => "error",
                }},
                "properties": {"tags": ["security", "standing-privilege"]},
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let d = &f.diagnostic;
            let index = registry().iter().position(|l| l.info().code == d.code);
            let related: Vec<Value> = d
                .secondary
                .iter()
                .enumerate()
                .map(|(k, l)| {
                    json!({
                        "id": k,
                        "physicalLocation": physical(sources, l.span, cwd),
                        "message": {"text": l.message},
                    })
                })
                .collect();
            let mut text = format!("{}: {}", d.message, d.primary.message);
            for n in &d.notes {
                text.push_str(&format!("\nnote: {n}"));
            }
            if let Some(h) = &d.help {
                text.push_str(&format!("\nhelp: {h}"));
            }
            let mut r = json!({
                "ruleId": d.code.as_str(),
                "level": level_str(d.severity),
                "message": {"text": text},
                "locations": [{"physicalLocation": physical(sources, d.primary.span, cwd)}],
                "partialFingerprints": {"jitpFinding/v1": f.fingerprint},
            });
            if let (Some(i), Some(obj)) = (index, r.as_object_mut()) {
                obj.insert("ruleIndex".into(), json!(i));
                if !related.is_empty() {
                    obj.insert("relatedLocations".into(), Value::Array(related));
                }
            }
            r
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "jitp",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the working directory of the run"}}},
            "results": results,
        }],
    })
}

/// The "What it catches" section of a finding's documentation.
fn first_section(doc: &str) -> String {
    let body = doc
        .split("## ")
        .nth(1)
        .and_then(|s| s.split_once('\n'))
        .map_or(doc, |(_, b)| b);
    body.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Escapes a workflow-command message (`%`, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow-command property (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub Actions workflow commands, one annotation per finding.
pub fn github(sources: &SourceMap, findings: &[Finding], cwd: Option<&std::path::Path>) -> String {
    let mut out = String::new();
    for f in findings {
        let d = &f.diagnostic;
        let loc = JsonLocation::new(sources, d.primary.span);
        let kind = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let file = relative_uri(&loc.file, cwd);
        let mut message = format!("{} ({})", d.message, d.primary.message);
        if let Some(h) = &d.help {
            message.push_str(&format!("\nhelp: {h}"));
        }
        out.push_str(&format!(
            "::{kind} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
            escape_property(&file),
            loc.line,
            loc.column,
            loc.end_line,
            loc.end_column,
            escape_property(&format!("{} {}", d.code.as_str(), f.name)),
            escape_data(&message)
        ));
    }
    out
}
