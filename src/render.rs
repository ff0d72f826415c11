//! Renderings of [`Diagnostic`]s: ariadne reports for terminals and a
//! stable JSON form for tools.

use crate::diagnostic::{Diagnostic, Severity};
use crate::span::{SourceMap, Span};
use ariadne::{Color, Config, IndexType, Label, Report, ReportKind};
use serde::Serialize;

/// Renders diagnostics as terminal reports, with colour only if `color`.
pub fn terminal(sources: &SourceMap, diags: &[Diagnostic], color: bool) -> String {
    let mut out = Vec::new();
    // One cache for every report: its line index is built once per file,
    // so rendering stays linear in the number of diagnostics.
    let mut cache = ariadne::sources(
        sources
            .iter()
            .map(|(_, f)| (f.name.clone(), f.text.clone())),
    );
    for d in diags {
        write_report(sources, &mut cache, d, color, &mut out);
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn file_name(sources: &SourceMap, span: Span) -> String {
    sources
        .get(span.file)
        .map_or_else(|| "<unknown>".to_string(), |f| f.name.clone())
}

/// The byte range of `span`, inside its file and on character boundaries
/// (widened to whole characters): spans from a bundle are data, and a
/// hostile or stale one must not make rendering slice inside a character.
fn clamp(sources: &SourceMap, span: Span) -> std::ops::Range<usize> {
    let text = sources.get(span.file).map_or("", |f| f.text.as_str());
    let mut start = (span.start as usize).min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (span.end as usize).clamp(start, text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}

/// Lines longer than this are not excerpted: a report quotes whole lines,
/// and a policy made of one enormous line would be echoed once per
/// diagnostic.
const MAX_EXCERPT_LINE: usize = 400;

/// Whether every line a label of `d` touches is short enough to quote.
fn excerptable(sources: &SourceMap, d: &Diagnostic) -> bool {
    std::iter::once(&d.primary).chain(&d.secondary).all(|l| {
        let Some(file) = sources.get(l.span.file) else {
            return true;
        };
        let range = clamp(sources, l.span);
        let (first, _) = sources.line_col(l.span.file, range.start as u32);
        let (last, _) = sources.line_col(l.span.file, range.end as u32);
        (first..=last).all(|n| file.line(n).is_none_or(|t| t.len() <= MAX_EXCERPT_LINE))
    })
}

/// A report without source excerpts: the code, the message, each label
/// with its position, the help and the notes.
fn write_compact(sources: &SourceMap, d: &Diagnostic, out: &mut Vec<u8>) {
    use std::fmt::Write as _;
    let mut text = String::new();
    let kind = match d.severity {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
        Severity::Note => "Advice",
    };
    let _ = writeln!(text, "[{}] {kind}: {}", d.code.as_str(), d.message);
    for l in std::iter::once(&d.primary).chain(&d.secondary) {
        let (line, col) = sources.line_col(l.span.file, l.span.start);
        let _ = write!(text, "   ─[ {}:{line}:{col} ]", file_name(sources, l.span));
        if !l.message.is_empty() {
            let _ = write!(text, " {}", l.message);
        }
        text.push('\n');
    }
    let _ = writeln!(text, "   (the line is too long to quote)");
    if let Some(h) = &d.help {
        let _ = writeln!(text, "   Help: {h}");
    }
    for n in &d.notes {
        let _ = writeln!(text, "   Note: {n}");
    }
    out.extend_from_slice(text.as_bytes());
}

fn write_report(
    sources: &SourceMap,
    cache: &mut impl ariadne::Cache<String>,
    d: &Diagnostic,
    color: bool,
    out: &mut Vec<u8>,
) {
    if !excerptable(sources, d) {
        write_compact(sources, d, out);
        return;
    }
    let kind = match d.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
        Severity::Note => ReportKind::Advice,
    };
    let primary_color = match d.severity {
        Severity::Error => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Note => Color::Cyan,
    };
    let pfile = file_name(sources, d.primary.span);
    let prange = clamp(sources, d.primary.span);
    let mut report = Report::build(kind, (pfile, prange))
        .with_config(
            Config::default()
                .with_color(color)
                .with_index_type(IndexType::Byte),
        )
        .with_code(d.code.as_str())
        .with_message(&d.message);
    // Labels are ordered by position so labels in one file render as one
    // excerpt under a correct header.
    let mut order: Vec<(Span, usize)> = d
        .secondary
        .iter()
        .enumerate()
        .map(|(i, l)| (l.span, i))
        .collect();
    order.push((d.primary.span, usize::MAX));
    order.sort();
    let rank = |i: usize| order.iter().position(|(_, j)| *j == i).unwrap_or(0) as i32;
    report = report.with_label(
        Label::new((
            file_name(sources, d.primary.span),
            clamp(sources, d.primary.span),
        ))
        .with_message(&d.primary.message)
        .with_color(primary_color)
        .with_order(rank(usize::MAX)),
    );
    for (i, l) in d.secondary.iter().enumerate() {
        let mut label = Label::new((file_name(sources, l.span), clamp(sources, l.span)))
            .with_color(Color::Blue)
            .with_order(rank(i));
        if !l.message.is_empty() {
            label = label.with_message(&l.message);
        }
        report = report.with_label(label);
    }
    if let Some(h) = &d.help {
        report = report.with_help(h);
    }
    for n in &d.notes {
        report = report.with_note(n);
    }
    if report.finish().write(cache, &mut *out).is_err() {
        out.extend_from_slice(format!("{}: {}\n", d.code.as_str(), d.message).as_bytes());
    }
}

/// Renders a plain annotated source excerpt (not a diagnostic): a `kind`
/// tag such as `rule`, a title, and one labelled span. Used to explain
/// decisions.
pub fn annotation(
    sources: &SourceMap,
    kind: &str,
    title: &str,
    span: Span,
    label: &str,
    color: bool,
) -> String {
    let file = file_name(sources, span);
    let range = clamp(sources, span);
    let mut out = Vec::new();
    let report = Report::build(
        ReportKind::Custom(kind, Color::Cyan),
        (file.clone(), range.clone()),
    )
    .with_config(
        Config::default()
            .with_color(color)
            .with_index_type(IndexType::Byte),
    )
    .with_message(title)
    .with_label(
        Label::new((file, range))
            .with_message(label)
            .with_color(Color::Cyan),
    );
    let cache = ariadne::sources(
        sources
            .iter()
            .map(|(_, f)| (f.name.clone(), f.text.clone())),
    );
    if report.finish().write(cache, &mut out).is_err() {
        return format!("{kind}: {title}\n");
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    if color {
        text
    } else {
        strip_ansi(&text)
    }
}

/// Removes ANSI colour sequences (ariadne colours custom report kinds even
/// when colour is off).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A location in the JSON rendering: file, byte offsets and 1-based
/// line/column of both ends.
#[derive(Serialize, Debug, Clone)]
pub struct JsonLocation {
    /// File name as given on the command line.
    pub file: String,
    /// Start byte offset.
    pub start: u32,
    /// End byte offset (exclusive).
    pub end: u32,
    /// 1-based start line.
    pub line: usize,
    /// 1-based start column (characters).
    pub column: usize,
    /// 1-based end line.
    pub end_line: usize,
    /// 1-based end column (characters, exclusive).
    pub end_column: usize,
}

impl JsonLocation {
    /// The location of `span`.
    pub fn new(sources: &SourceMap, span: Span) -> JsonLocation {
        let (line, column) = sources.line_col(span.file, span.start);
        let (end_line, end_column) = sources.line_col(span.file, span.end);
        JsonLocation {
            file: file_name(sources, span),
            start: span.start,
            end: span.end,
            line,
            column,
            end_line,
            end_column,
        }
    }
}

/// A labelled location in the JSON rendering.
#[derive(Serialize, Debug, Clone)]
pub struct JsonLabel {
    /// Where.
    #[serde(flatten)]
    pub location: JsonLocation,
    /// What the label says.
    pub message: String,
}

/// The JSON form of one diagnostic (stable; documented in `docs/diagnostics.md`).
#[derive(Serialize, Debug, Clone)]
pub struct JsonDiagnostic {
    /// Stable code, e.g. `E0203`.
    pub code: &'static str,
    /// `error`, `warning` or `note`.
    pub severity: Severity,
    /// The message.
    pub message: String,
    /// The primary location.
    pub primary: JsonLabel,
    /// Secondary locations.
    pub secondary: Vec<JsonLabel>,
    /// Help, if any.
    pub help: Option<String>,
    /// Notes.
    pub notes: Vec<String>,
}

/// Converts diagnostics to their JSON form.
pub fn json(sources: &SourceMap, diags: &[Diagnostic]) -> Vec<JsonDiagnostic> {
    let label = |l: &crate::diagnostic::Label| JsonLabel {
        location: JsonLocation::new(sources, l.span),
        message: l.message.clone(),
    };
    diags
        .iter()
        .map(|d| JsonDiagnostic {
            code: d.code.as_str(),
            severity: d.severity,
            message: d.message.clone(),
            primary: label(&d.primary),
            secondary: d.secondary.iter().map(label).collect(),
            help: d.help.clone(),
            notes: d.notes.clone(),
        })
        .collect()
}
