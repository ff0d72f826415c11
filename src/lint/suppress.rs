//! In-source suppressions: `// jitp-allow(JIT008, JIT009): reason` on the
//! line before a rule (or task, or declaration). Blank lines, other
//! comments, doc comments and annotations may sit between the suppression
//! and what it applies to. A suppression without a reason, naming an
//! unknown code, or suppressing nothing is itself a finding (JIT016,
//! JIT017), which cannot be suppressed.

use super::{draft, rules, Context, Draft, Key};
use crate::diagnostic::Code;
use crate::span::{FileId, Span};
use crate::syntax::lexer::lex;

const MARKER: &str = "jitp-allow";

struct Suppression {
    codes: Vec<Code>,
    span: Span,
    /// Lines (1-based) of subjects it applies to: from the line after the
    /// comment to the first line that is not blank, a comment or an
    /// annotation.
    lines: std::ops::RangeInclusive<usize>,
    used: bool,
}

/// Drops suppressed drafts and adds findings for bad or unused
/// suppressions.
pub(super) fn apply(cx: &Context<'_>, drafts: Vec<Draft>) -> Vec<Draft> {
    let mut sups = Vec::new();
    let mut problems = Vec::new();
    let mut files: Vec<FileId> = cx.files.iter().copied().collect();
    files.sort();
    for file in files {
        collect(cx, file, &mut sups, &mut problems);
    }
    let mut kept = Vec::new();
    for d in drafts {
        let (line, _) = cx.sources.line_col(d.subject.file, d.subject.start);
        let hit = sups.iter_mut().find(|s| {
            s.span.file == d.subject.file
                && s.lines.contains(&line)
                && s.codes.contains(&d.diagnostic.code)
        });
        match hit {
            Some(s) => s.used = true,
            None => kept.push(d),
        }
    }
    for s in sups.iter().filter(|s| !s.used) {
        let codes: Vec<&str> = s.codes.iter().map(|c| c.as_str()).collect();
        problems.push(Draft {
            diagnostic: draft(
                &rules::jit017_unused_suppression::UnusedSuppression::INFO,
                s.span,
                format!(
                    "this suppression of {} suppresses nothing",
                    codes.join(", ")
                ),
                "nothing to suppress here",
            )
            .with_help("remove it, or move it to the line before the rule it is meant for"),
            subject: s.span,
            key: Key::suppression(cx.sources.snippet(s.span).trim()),
        });
    }
    kept.extend(problems);
    kept
}

fn collect(cx: &Context<'_>, file: FileId, sups: &mut Vec<Suppression>, problems: &mut Vec<Draft>) {
    let Some(src) = cx.sources.get(file) else {
        return;
    };
    let text = src.text.as_str();
    let lexed = lex(file, text);
    for (span, body) in &lexed.comments {
        let body = body.trim();
        let Some(rest) = body.strip_prefix(MARKER) else {
            continue;
        };
        let invalid = |message: String, help: &str| Draft {
            diagnostic: draft(
                &rules::jit016_invalid_suppression::InvalidSuppression::INFO,
                *span,
                message,
                "invalid suppression",
            )
            .with_help(help.to_string()),
            subject: *span,
            key: Key::suppression(body),
        };
        let form = "write `// jitp-allow(JIT008): why this is acceptable`";
        let Some(inner) = rest.strip_prefix('(').and_then(|r| r.split_once(')')) else {
            problems.push(invalid(
                "a suppression names its codes in parentheses".into(),
                form,
            ));
            continue;
        };
        let (list, after) = inner;
        let mut codes = Vec::new();
        let mut bad = None;
        for c in list.split(',').map(str::trim) {
            match super::lookup(c) {
                Some(info) if !matches!(info.code, Code::JIT016 | Code::JIT017) => {
                    codes.push(info.code)
                }
                _ => {
                    bad = Some(c.to_string());
                    break;
                }
            }
        }
        if let Some(c) = bad {
            problems.push(invalid(
                format!("`{c}` is not a finding that can be suppressed"),
                "name findings by code (`JIT008`) or name (`wildcard-action`); `jitp lint --explain` lists them",
            ));
            continue;
        }
        let reason = after.trim_start().strip_prefix(':').map(str::trim);
        if reason.is_none_or(str::is_empty) {
            problems.push(invalid(
                "a suppression needs a reason".into(),
                "say why the finding is acceptable here: `// jitp-allow(JIT008): read-only catalogue`",
            ));
            continue;
        }
        let (line, _) = cx.sources.line_col(file, span.start);
        let mut last = line + 1;
        while let Some(l) = src.line(last) {
            let t = l.trim_start();
            if t.is_empty() || t.starts_with("//") || t.starts_with('@') {
                last += 1;
            } else {
                break;
            }
        }
        sups.push(Suppression {
            codes,
            span: *span,
            lines: (line + 1)..=last,
            used: false,
        });
    }
}
