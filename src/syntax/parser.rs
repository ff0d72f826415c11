//! The parser front door: lex, parse with recovery, attach doc comments.
//!
//! **Parsing never fails**: it returns a tree (with [`Item::Error`] where it
//! recovered) and every problem it met as a diagnostic.

use super::ast::*;
use super::grammar::FileParser;
use super::lexer::{lex, LexError, Tok};
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{FileId, Node, Span};
use lalrpop_util::{ErrorRecovery, ParseError};

/// State the grammar's actions write into while parsing.
#[derive(Default)]
pub struct Ctx<'input> {
    /// Errors the parser recovered from.
    pub errors: Vec<ErrorRecovery<usize, Tok<'input>, LexError>>,
    /// `Foo<T>` written with a name other than `Set`: span and name.
    pub generic_misuse: Vec<(Span, String)>,
    /// Unknown action attribute keywords.
    pub bad_keywords: Vec<Ident>,
    /// Unknown `name { ... }` blocks, with the names allowed there.
    pub bad_blocks: Vec<(Ident, &'static [&'static str])>,
}

/// The result of parsing one file.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The tree (possibly with error nodes).
    pub file: File,
    /// Plain `//` comments with their spans, for the analyser's suppressions.
    pub comments: Vec<(Span, String)>,
    /// Lexical and syntax diagnostics.
    pub diagnostics: Vec<Diagnostic>,
}

/// Deepest nesting of expressions and types accepted. Deeper input is
/// reported (E0107) and dropped, so no later stage recurses without bound.
pub const MAX_NESTING: usize = 1024;

/// Tokens that start an item or a rule: after a syntax error, the parser's
/// further complaints up to the next of these are usually echoes of the first.
fn starts_item(t: &Tok<'_>) -> bool {
    matches!(
        t,
        Tok::Package
            | Tok::Use
            | Tok::Entity
            | Tok::Record
            | Tok::Enum
            | Tok::Context
            | Tok::Evidence
            | Tok::Action
            | Tok::Const
            | Tok::Fn
            | Tok::Task
            | Tok::Breakglass
            | Tok::Permit
            | Tok::Forbid
            | Tok::At
    )
}

/// Parses the text of `file`.
pub fn parse(file: FileId, text: &str) -> Parsed {
    let lexed = lex(file, text);
    let mut diagnostics = lexed.diagnostics;
    let mut ctx = Ctx::default();
    let segment_starts: Vec<usize> = lexed
        .tokens
        .iter()
        .filter(|(_, t, _)| starts_item(t))
        .map(|(l, _, _)| *l)
        .collect();
    let tokens = lexed.tokens.into_iter().map(Ok::<_, LexError>);
    let parsed = FileParser::new().parse(file, &mut ctx, tokens);
    let mut tree = match parsed {
        Ok(tree) => tree,
        Err(e) => {
            diagnostics.push(syntax_error(file, text, e));
            File::default()
        }
    };
    // One syntax error per item or rule: later ones in the same stretch are
    // nearly always consequences of the first.
    let mut reported_segments: Vec<usize> = Vec::new();
    for rec in ctx.errors {
        let d = syntax_error(file, text, rec.error);
        let at = d.primary.span.start as usize;
        let segment = segment_starts.partition_point(|s| *s <= at);
        if reported_segments.contains(&segment) {
            continue;
        }
        reported_segments.push(segment);
        diagnostics.push(d);
    }
    limit_nesting(&mut tree, &mut diagnostics);
    for (span, name) in ctx.generic_misuse {
        diagnostics.push(
            Diagnostic::error(
                Code::E0203,
                span,
                format!("`{name}` takes no type parameter"),
                "only `Set` is generic",
            )
            .with_help("write a set as `Set<T>`"),
        );
    }
    for key in ctx.bad_keywords {
        let d = Diagnostic::error(
            Code::E0101,
            key.span,
            format!("unknown action attribute `{}`", key.node),
            "expected `sensitivity` or `grants`",
        )
        .with_help_opt(crate::diagnostic::did_you_mean(
            &key.node,
            ["sensitivity", "grants"],
        ));
        diagnostics.push(d);
    }
    for (key, allowed) in ctx.bad_blocks {
        let list: Vec<String> = allowed.iter().map(|a| format!("`{a}`")).collect();
        let d = Diagnostic::error(
            Code::E0101,
            key.span,
            format!("unknown block `{}`", key.node),
            format!("expected {}", list.join(" or ")),
        )
        .with_help_opt(crate::diagnostic::did_you_mean(
            &key.node,
            allowed.iter().copied(),
        ));
        diagnostics.push(d);
    }
    attach_docs(text, &lexed.docs, &mut tree, &mut diagnostics);
    Parsed {
        file: tree,
        comments: lexed
            .comments
            .into_iter()
            .map(|(s, c)| (s, c.to_string()))
            .collect(),
        diagnostics,
    }
}

fn syntax_error(file: FileId, text: &str, e: ParseError<usize, Tok<'_>, LexError>) -> Diagnostic {
    match e {
        ParseError::InvalidToken { location } => Diagnostic::error(
            Code::E0101,
            Span::new(file, location..location + 1),
            "invalid token",
            "not understood",
        ),
        ParseError::UnrecognizedEof { location, expected } => {
            let end = text.len();
            let start = location.min(end);
            Diagnostic::error(
                Code::E0102,
                Span::new(file, start..end),
                "unexpected end of file",
                format!("expected {} after this", describe_expected(&expected)),
            )
        }
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            let d = Diagnostic::error(
                Code::E0101,
                Span::new(file, l..r),
                format!("unexpected {tok}"),
                format!("expected {}", describe_expected(&expected)),
            );
            match tok {
                Tok::Ident(s) if ["rule", "allow", "deny", "grant"].contains(&s) => {
                    d.with_help("rules start with `permit` or `forbid`")
                }
                Tok::Assign if expected.iter().any(|e| e == "\"==\"") => d.with_help(
                    "compare with `==`; `=` only introduces a constant's or function's value",
                ),
                _ => d,
            }
        }
        ParseError::ExtraToken { token: (l, tok, r) } => Diagnostic::error(
            Code::E0101,
            Span::new(file, l..r),
            format!("unexpected {tok}"),
            "extra token",
        ),
        ParseError::User { error } => Diagnostic::error(
            Code::E0101,
            Span::new(file, 0..0),
            format!("lexical error {error:?}"),
            "here",
        ),
    }
}

/// Turns lalrpop's list of expected terminals into readable text.
fn describe_expected(expected: &[String]) -> String {
    let mut names: Vec<String> = expected
        .iter()
        .map(|e| {
            let bare = e.trim_matches('"');
            match bare {
                "ident" => "a name".to_string(),
                "string" => "a string".to_string(),
                "int" => "an integer".to_string(),
                "duration" => "a duration".to_string(),
                "ip" => "an ip address".to_string(),
                "net" => "a network".to_string(),
                other => format!("`{}`", other.replace("\\\"", "\"")),
            }
        })
        .collect();
    names.sort();
    names.dedup();
    const MAX: usize = 6;
    match names.len() {
        0 => "something else".to_string(),
        1 => names.remove(0),
        n if n <= MAX => {
            let last = names.pop().unwrap_or_default();
            format!("{} or {last}", names.join(", "))
        }
        n => format!("one of {} and {} more", names[..MAX].join(", "), n - MAX),
    }
}

/// Attaches each `///` block to the item or rule that starts right after it.
fn attach_docs(text: &str, docs: &[(Span, &str)], tree: &mut File, diags: &mut Vec<Diagnostic>) {
    // Group consecutive doc lines into blocks.
    let mut blocks: Vec<(Span, String)> = Vec::new();
    for (span, line) in docs {
        match blocks.last_mut() {
            Some((bspan, btext))
                if text
                    .get(bspan.end as usize..span.start as usize)
                    .is_some_and(|gap| gap.trim().is_empty()) =>
            {
                *bspan = bspan.to(*span);
                btext.push('\n');
                btext.push_str(line);
            }
            _ => blocks.push((*span, line.to_string())),
        }
    }
    let mut used = vec![false; blocks.len()];
    let mut find = |start: u32| -> Option<Node<String>> {
        blocks.iter().enumerate().find_map(|(i, (span, body))| {
            let adjacent = span.end <= start
                && text
                    .get(span.end as usize..start as usize)
                    .is_some_and(|gap| gap.trim().is_empty());
            if adjacent {
                if let Some(u) = used.get_mut(i) {
                    *u = true;
                }
                Some(Node::new(body.clone(), *span))
            } else {
                None
            }
        })
    };
    let fields = |fields: &mut Vec<Field>, find: &mut dyn FnMut(u32) -> Option<Node<String>>| {
        for f in fields {
            f.doc = find(f.name.span.start);
        }
    };
    for item in &mut tree.items {
        let start = item.span.start;
        match &mut item.node {
            Item::Package(doc, _) => *doc = find(start),
            Item::Context(doc, fs) | Item::Evidence(doc, fs) => {
                *doc = find(start);
                fields(fs, &mut find);
            }
            Item::Entity(d) | Item::Record(d) => {
                d.doc = find(start);
                fields(&mut d.fields, &mut find);
            }
            Item::Enum(d) => d.doc = find(start),
            Item::Action(d) => d.doc = find(start),
            Item::Const(d) => d.doc = find(start),
            Item::Fn(d) => {
                d.doc = find(start);
                fields(&mut d.params, &mut find);
            }
            Item::Task(t) => {
                t.doc = find(start);
                for ti in &mut t.items {
                    match &mut ti.node {
                        TaskItem::Rule(r) => r.doc = find(ti.span.start),
                        TaskItem::Params(fs) => fields(fs, &mut find),
                        _ => {}
                    }
                }
            }
            Item::Rule(r) => r.doc = find(start),
            Item::Use(_) | Item::Error => {}
        }
    }
    for ((span, _), used) in blocks.iter().zip(used) {
        if !used {
            diags.push(
                Diagnostic::warning(
                    Code::W0001,
                    *span,
                    "doc comment documents nothing",
                    "no declaration or rule follows this comment",
                )
                .with_help(
                    "use `//` for a plain comment, or move it right above what it documents",
                ),
            );
        }
    }
}

/// Nesting depth of an expression, computed without recursion.
fn expr_depth(e: &Node<Expr>) -> usize {
    let mut max = 0;
    let mut stack = vec![(e, 1usize)];
    while let Some((e, d)) = stack.pop() {
        max = max.max(d);
        if d > MAX_NESTING {
            break;
        }
        for child in expr_children(&e.node) {
            stack.push((child, d + 1));
        }
    }
    max
}

fn expr_children(e: &Expr) -> Vec<&Node<Expr>> {
    match e {
        Expr::Set(items) => items.iter().collect(),
        Expr::Field { base, .. } => vec![base],
        Expr::Call { callee, args } => std::iter::once(&**callee).chain(args.iter()).collect(),
        Expr::Unary(_, x) | Expr::Has(x) | Expr::Like(x, _) => vec![x],
        Expr::Binary(_, a, b) => vec![a, b],
        _ => Vec::new(),
    }
}

/// Drops an expression tree without recursion.
fn dismantle(e: Node<Expr>) {
    let mut stack = vec![e];
    while let Some(mut n) = stack.pop() {
        let hole = || Node::new(Expr::Error, Span::default());
        match &mut n.node {
            Expr::Set(items) => stack.append(items),
            Expr::Field { base, .. } => stack.push(std::mem::replace(&mut **base, hole())),
            Expr::Call { callee, args } => {
                stack.push(std::mem::replace(&mut **callee, hole()));
                stack.append(args);
            }
            Expr::Unary(_, x) | Expr::Has(x) | Expr::Like(x, _) => {
                stack.push(std::mem::replace(&mut **x, hole()))
            }
            Expr::Binary(_, a, b) => {
                stack.push(std::mem::replace(&mut **a, hole()));
                stack.push(std::mem::replace(&mut **b, hole()));
            }
            _ => {}
        }
    }
}

fn type_depth(t: &Node<TypeExpr>) -> usize {
    let mut d = 1;
    let mut cur = t;
    while let TypeExpr::Set(inner) | TypeExpr::Optional(inner) = &cur.node {
        d += 1;
        cur = inner;
    }
    d
}

/// Drops a type without recursion.
fn dismantle_type(t: Node<TypeExpr>) {
    let mut cur = t;
    loop {
        let next = match &mut cur.node {
            TypeExpr::Set(inner) | TypeExpr::Optional(inner) => std::mem::replace(
                &mut **inner,
                Node::new(TypeExpr::Named(Path(Vec::new())), Span::default()),
            ),
            TypeExpr::Named(_) => return,
        };
        drop(cur);
        cur = next;
    }
}

/// Replaces every expression and type nested deeper than [`MAX_NESTING`]
/// with an error node, reporting each.
fn limit_nesting(tree: &mut File, diags: &mut Vec<Diagnostic>) {
    let mut exprs: Vec<&mut Node<Expr>> = Vec::new();
    let mut types: Vec<&mut Node<TypeExpr>> = Vec::new();
    fn rule_exprs<'a>(r: &'a mut Rule, out: &mut Vec<&'a mut Node<Expr>>) {
        for c in &mut r.clauses {
            match &mut c.node {
                Clause::When(e) | Clause::Unless(e) | Clause::Require(e, _) => out.push(e),
                Clause::For(_) => {}
            }
        }
    }
    for item in &mut tree.items {
        match &mut item.node {
            Item::Const(c) => {
                exprs.push(&mut c.value);
                if let Some(t) = &mut c.ty {
                    types.push(t);
                }
            }
            Item::Fn(f) => {
                exprs.push(&mut f.body);
                types.push(&mut f.ret);
                types.extend(f.params.iter_mut().map(|p| &mut p.ty));
            }
            Item::Entity(d) | Item::Record(d) => {
                types.extend(d.fields.iter_mut().map(|f| &mut f.ty))
            }
            Item::Context(_, fields) | Item::Evidence(_, fields) => {
                types.extend(fields.iter_mut().map(|f| &mut f.ty))
            }
            Item::Rule(r) => rule_exprs(r, &mut exprs),
            Item::Task(t) => {
                for ti in &mut t.items {
                    match &mut ti.node {
                        TaskItem::Rule(r) => rule_exprs(r, &mut exprs),
                        TaskItem::Params(fs) => types.extend(fs.iter_mut().map(|f| &mut f.ty)),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let too_deep = |span: Span, what: &str| {
        Diagnostic::error(Code::E0107, span, format!("{what} nested more than {MAX_NESTING} levels deep"), "too deeply nested")
            .with_help("split it with `const` or `fn` declarations, or use a set and `in` instead of long `or` chains")
    };
    for e in exprs {
        if expr_depth(e) > MAX_NESTING {
            let span = e.span;
            diags.push(too_deep(span, "expression"));
            dismantle(std::mem::replace(e, Node::new(Expr::Error, span)));
        }
    }
    for t in types {
        if type_depth(t) > MAX_NESTING {
            let span = t.span;
            diags.push(too_deep(span, "type"));
            dismantle_type(std::mem::replace(
                t,
                Node::new(TypeExpr::Named(Path(Vec::new())), span),
            ));
        }
    }
}
