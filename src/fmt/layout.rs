//! Layout: the document for each item, clause and expression of a parsed
//! file, with the comments placed by the cursor.

use super::comments::{internal, Builder, Entry, R};
use super::doc::{align, cat, group, if_break, nest, text, Doc};
use crate::span::Node;
use crate::syntax::ast::*;

impl<'a> Builder<'a> {
    // -------------------------------------------------------------- blocks

    /// Lays out a sequence of entries (items, fields, task items) one per
    /// line, with the comments before and among them, keeping at most one
    /// blank line where the source had any. `entries` are (start, doc
    /// builder) pairs; `end` is where the block ends.
    fn block(&mut self, entries: Vec<Entry<'_, 'a>>, end: usize, top: bool) -> R<Doc> {
        let mut v: Vec<Doc> = Vec::new();
        let mut first = true;
        let lines = |b: &mut Self, v: &mut Vec<Doc>, first: &mut bool, pos: usize| {
            while let Some(c) = b.comments.get(b.next) {
                if c.start >= pos {
                    break;
                }
                if c.trailing && !(*first && top) {
                    v.push(Doc::Comment {
                        text: c.text.clone(),
                        trailing: true,
                    });
                } else {
                    if !(*first && top) {
                        v.push(Doc::HardLine);
                    }
                    if c.blank_before && !*first {
                        v.push(Doc::HardLine);
                    }
                    v.push(Doc::Comment {
                        text: c.text.clone(),
                        trailing: false,
                    });
                    *first = false;
                }
                b.next += 1;
            }
        };
        for (pos, build) in entries {
            lines(self, &mut v, &mut first, pos);
            if !(first && top) {
                v.push(Doc::HardLine);
            }
            if !first && self.blank_before(pos) {
                v.push(Doc::HardLine);
            }
            first = false;
            v.push(build(self)?);
        }
        lines(self, &mut v, &mut first, end);
        Ok(cat(v))
    }

    /// `{ entries }` as a block indented by two, or `{}` when empty.
    fn braced(&mut self, entries: Vec<Entry<'_, 'a>>, end: usize) -> R<Doc> {
        let empty =
            entries.is_empty() && self.comments.get(self.next).is_none_or(|c| c.start >= end);
        if empty {
            return Ok(text("{}"));
        }
        let inner = self.block(entries, end, false)?;
        Ok(cat(vec![
            text("{"),
            nest(2, inner),
            Doc::HardLine,
            text("}"),
        ]))
    }

    // -------------------------------------------------------------- items

    pub(super) fn file(&mut self, f: &File) -> R<Doc> {
        let items = &f.items;
        let aligned = self.action_runs(items);
        let mut entries: Vec<Entry<'_, 'a>> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let pre = aligned.get(i).cloned().flatten();
            entries.push((
                item.span.start as usize,
                Box::new(move |b: &mut Self| match pre {
                    Some(line) => Ok(text(line)),
                    None => b.item(item),
                }),
            ));
        }
        let end = self.src.len();
        self.block(entries, end, true)
    }

    /// For runs of two or more consecutive one-line `action` declarations
    /// (no comments in or between them, no blank line between them), the
    /// lines with their `on` and attribute columns aligned.
    fn action_runs(&self, items: &[Node<Item>]) -> Vec<Option<String>> {
        let mut out: Vec<Option<String>> = vec![None; items.len()];
        let alignable = |it: &Node<Item>| {
            matches!(it.node, Item::Action(_))
                && !self.has_comment_in(it.span.start as usize, it.span.end as usize)
        };
        let mut i = 0;
        while i < items.len() {
            let mut j = i;
            while items.get(j).is_some_and(alignable) {
                let next = j + 1;
                let joined = match (items.get(j), items.get(next)) {
                    (Some(a), Some(b)) if alignable(b) => {
                        !self.has_comment_in(a.span.end as usize, b.span.start as usize)
                            && !self.blank_before(b.span.start as usize)
                    }
                    _ => false,
                };
                j = next;
                if !joined {
                    break;
                }
            }
            if j - i >= 2 {
                let run: Vec<(String, String, String)> = items
                    .get(i..j)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|it| match &it.node {
                        Item::Action(a) => Some(action_parts(a)),
                        _ => None,
                    })
                    .collect();
                let nw = run.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
                let ow = run
                    .iter()
                    .filter(|r| !r.2.is_empty())
                    .map(|r| r.1.chars().count())
                    .max()
                    .unwrap_or(0);
                for (k, (n, on, attrs)) in run.into_iter().enumerate() {
                    let line = format!("action {n:<nw$} on {on:<ow$} {attrs}");
                    if let Some(slot) = out.get_mut(i + k) {
                        *slot = Some(line.trim_end().to_string());
                    }
                }
            }
            i = j.max(i + 1);
        }
        out
    }

    fn item(&mut self, item: &Node<Item>) -> R<Doc> {
        let start = item.span.start as usize;
        let close = (item.span.end as usize).saturating_sub(1);
        Ok(match &item.node {
            Item::Package(_, p) => cat(vec![self.tok(start, "package "), self.path(&p.node)]),
            Item::Use(p) => cat(vec![self.tok(start, "use "), self.path(&p.node)]),
            Item::Entity(d) | Item::Record(d) => {
                let kw = if matches!(item.node, Item::Entity(_)) {
                    "entity "
                } else {
                    "record "
                };
                let head = cat(vec![
                    self.tok(start, kw),
                    self.tok(d.name.span.start as usize, d.name.node.clone()),
                    text(" "),
                ]);
                let body = self.fields_block(&d.fields, close)?;
                cat(vec![head, body])
            }
            Item::Evidence(_, fields) => {
                let head = self.tok(start, "evidence ");
                let body = self.fields_block(fields, close)?;
                cat(vec![head, body])
            }
            Item::Context(_, fields) => {
                let head = self.tok(start, "context ");
                let body = self.fields_block(fields, close)?;
                cat(vec![head, body])
            }
            Item::Enum(e) => {
                let head = cat(vec![
                    self.tok(start, "enum "),
                    self.tok(e.name.span.start as usize, e.name.node.clone()),
                    text(" "),
                ]);
                let body = self.enum_body(&e.variants, close);
                cat(vec![head, body])
            }
            Item::Action(a) => self.action(start, a),
            Item::Const(c) => {
                let mut head = vec![
                    self.tok(start, "const "),
                    self.tok(c.name.span.start as usize, c.name.node.clone()),
                ];
                if let Some(t) = &c.ty {
                    head.push(text(": "));
                    head.push(self.ty(t));
                }
                head.push(text(" ="));
                let value = self.expr(&c.value, true)?;
                after_equals(cat(head), value)
            }
            Item::Fn(f) => {
                let mut head = vec![
                    self.tok(start, "fn "),
                    self.tok(f.name.span.start as usize, f.name.node.clone()),
                    text("("),
                ];
                let mut params = Vec::new();
                for (i, p) in f.params.iter().enumerate() {
                    if i > 0 {
                        params.push(text(","));
                        params.push(Doc::Line);
                    }
                    params.push(self.field(p));
                }
                let close_paren = self.find_token(
                    f.params.last().map_or(f.name.span.end, |p| p.ty.span.end) as usize,
                    ")",
                );
                let tail = close_paren.map_or_else(|| cat(vec![]), |p| self.flush(p));
                head.push(group(cat(vec![
                    nest(
                        2,
                        cat(vec![
                            Doc::SoftLine,
                            cat(params),
                            if_break(text(if f.params.is_empty() { "" } else { "," }), text("")),
                            tail,
                        ]),
                    ),
                    Doc::SoftLine,
                ])));
                head.push(text(") -> "));
                head.push(self.ty(&f.ret));
                head.push(text(" ="));
                let body = self.expr(&f.body, true)?;
                after_equals(cat(head), body)
            }
            Item::Task(t) => {
                let kw = match t.kind {
                    TaskKind::Task => "task ",
                    TaskKind::Breakglass => "breakglass ",
                };
                let head = cat(vec![
                    self.tok(start, kw),
                    self.tok(t.name.span.start as usize, t.name.node.clone()),
                    text(" "),
                ]);
                let mut entries: Vec<Entry<'_, 'a>> = Vec::new();
                for ti in &t.items {
                    entries.push((
                        ti.span.start as usize,
                        Box::new(move |b: &mut Self| b.task_item(ti)),
                    ));
                }
                let body = self.braced(entries, close)?;
                cat(vec![head, body])
            }
            Item::Rule(r) => self.rule(r)?,
            Item::Error => return internal("error node"),
        })
    }

    fn task_item(&mut self, ti: &Node<TaskItem>) -> R<Doc> {
        let start = ti.span.start as usize;
        Ok(match &ti.node {
            TaskItem::Ttl(d) => cat(vec![self.tok(start, "ttl "), self.literal(d.span)]),
            TaskItem::Notify(s) => cat(vec![self.tok(start, "notify "), self.literal(s.span)]),
            TaskItem::Unknown(key) => {
                let value_pos = key.span.end as usize;
                let value = match self.token_from(value_pos) {
                    Some((s, _)) => s,
                    None => return internal("task setting"),
                };
                let v = self.token_text(value_pos).to_string();
                cat(vec![
                    self.tok(start, key.node.clone()),
                    text(" "),
                    self.tok(value, v),
                ])
            }
            TaskItem::Params(fields) => {
                let close = (ti.span.end as usize).saturating_sub(1);
                let head = self.tok(start, "params ");
                let body = self.fields_block(fields, close)?;
                cat(vec![head, body])
            }
            TaskItem::Rule(r) => self.rule(r)?,
            TaskItem::Error => return internal("error node"),
        })
    }

    fn fields_block(&mut self, fields: &[Field], close: usize) -> R<Doc> {
        let mut entries: Vec<Entry<'_, 'a>> = Vec::new();
        for f in fields {
            entries.push((
                f.name.span.start as usize,
                Box::new(move |b: &mut Self| Ok(b.field(f))),
            ));
        }
        self.braced(entries, close)
    }

    fn field(&mut self, f: &Field) -> Doc {
        cat(vec![
            self.tok(f.name.span.start as usize, f.name.node.clone()),
            text(": "),
            self.ty(&f.ty),
        ])
    }

    fn enum_body(&mut self, variants: &[Ident], close: usize) -> Doc {
        if variants.is_empty() && self.comment_pos() >= close {
            return text("{}");
        }
        let mut inner = Vec::new();
        for (i, v) in variants.iter().enumerate() {
            let pos = v.span.start as usize;
            if i > 0 {
                inner.push(if_break(text(""), text(",")));
            }
            inner.push(self.flush(pos));
            inner.push(Doc::Line);
            inner.push(text(v.node.clone()));
        }
        inner.push(self.flush(close));
        group(cat(vec![
            text("{"),
            nest(2, cat(inner)),
            Doc::Line,
            text("}"),
        ]))
    }

    fn comment_pos(&self) -> usize {
        self.comments.get(self.next).map_or(usize::MAX, |c| c.start)
    }

    fn action(&mut self, start: usize, a: &ActionDecl) -> Doc {
        let mut v = vec![self.tok(start, "action "), self.path_node(&a.name)];
        for (i, p) in a.on.iter().enumerate() {
            v.push(text(if i == 0 { " on " } else { ", " }));
            v.push(self.path_node(p));
        }
        for attr in &a.attrs {
            let (k, val) = match &attr.node {
                ActionAttr::Sensitivity(s) => ("sensitivity ", s),
                ActionAttr::Grants(t) => ("grants ", t),
            };
            v.push(text(" "));
            v.push(self.tok(attr.span.start as usize, k));
            v.push(self.tok(val.span.start as usize, val.node.clone()));
        }
        cat(v)
    }

    fn path(&mut self, p: &Path) -> Doc {
        let mut v = Vec::new();
        for (i, seg) in p.0.iter().enumerate() {
            if i > 0 {
                v.push(text("."));
            }
            v.push(self.tok(seg.span.start as usize, seg.node.clone()));
        }
        cat(v)
    }

    fn path_node(&mut self, p: &Node<Path>) -> Doc {
        self.path(&p.node)
    }

    fn ty(&mut self, t: &Node<TypeExpr>) -> Doc {
        match &t.node {
            TypeExpr::Named(p) => self.path(p),
            TypeExpr::Set(inner) => {
                let head = self.tok(t.span.start as usize, "Set<");
                let inner = self.ty(inner);
                cat(vec![head, inner, text(">")])
            }
            TypeExpr::Optional(inner) => {
                // `T??` would read as the `??` operator.
                let sep = if matches!(inner.node, TypeExpr::Optional(_)) {
                    " ?"
                } else {
                    "?"
                };
                cat(vec![self.ty(inner), text(sep)])
            }
        }
    }

    // -------------------------------------------------------------- rules

    fn rule(&mut self, r: &Rule) -> R<Doc> {
        let mut v = Vec::new();
        for a in &r.annotations {
            let name = a.name.span.start as usize;
            let at = self.token_before(name).unwrap_or(name);
            v.push(self.tok(at, "@"));
            v.push(self.tok(name, a.name.node.clone()));
            let open = self
                .find_token(a.name.span.end as usize, "(")
                .unwrap_or(name);
            v.push(self.tok(open, "("));
            v.push(self.literal(a.arg.span));
            v.push(text(")"));
            v.push(Doc::HardLine);
        }
        let mut head = Vec::new();
        match r.effect.node {
            Effect::Permit => head.push(self.tok(r.effect.span.start as usize, "permit ")),
            Effect::Forbid => head.push(self.tok(r.effect.span.start as usize, "forbid ")),
        }
        if let Some(p) = &r.principal {
            head.push(self.type_pattern(p));
            head.push(text(" to "));
        }
        let mut acts = Vec::new();
        for (i, a) in r.actions.iter().enumerate() {
            if i > 0 {
                acts.push(text(","));
                acts.push(Doc::Line);
            }
            acts.push(match &a.node {
                ActionPattern::Any => self.tok(a.span.start as usize, "*"),
                ActionPattern::Exact(p) => self.path(p),
                ActionPattern::Namespace(p) => cat(vec![self.path(p), text(".*")]),
            });
        }
        head.push(group(nest(4, cat(acts))));
        if let Some(res) = &r.resource {
            head.push(text(" on "));
            head.push(self.type_pattern(res));
        }
        v.push(cat(head));
        let inline = r.effect.node == Effect::Forbid
            && r.clauses.len() == 1
            && !r
                .clauses
                .iter()
                .any(|c| self.has_comment_in(r.head.end as usize, c.span.start as usize))
            && r.clauses
                .iter()
                .all(|c| matches!(c.node, Clause::When(_) | Clause::Unless(_)));
        let mut clauses = Vec::new();
        for c in &r.clauses {
            clauses.push(if inline { Doc::Line } else { Doc::HardLine });
            clauses.push(self.clause(c)?);
        }
        // A lone `when`/`unless` of a `forbid` stays on the head line when
        // the whole rule fits there.
        let body = nest(2, cat(clauses));
        v.push(if inline { group(body) } else { body });
        Ok(cat(v))
    }

    fn type_pattern(&mut self, p: &Node<TypePattern>) -> Doc {
        match &p.node {
            TypePattern::Any => self.tok(p.span.start as usize, "*"),
            TypePattern::Named(paths) => {
                let mut v = Vec::new();
                for (i, path) in paths.iter().enumerate() {
                    if i > 0 {
                        v.push(text(", "));
                    }
                    v.push(self.path(&path.node));
                }
                cat(v)
            }
        }
    }

    fn clause(&mut self, c: &Node<Clause>) -> R<Doc> {
        let start = c.span.start as usize;
        Ok(match &c.node {
            Clause::For(d) => cat(vec![self.tok(start, "for "), self.literal(d.span)]),
            Clause::When(e) => cat(vec![self.tok(start, "when "), self.top_expr(e)?]),
            Clause::Unless(e) => cat(vec![self.tok(start, "unless "), self.top_expr(e)?]),
            Clause::Require(e, label) => {
                let kw = self.tok(start, "require ");
                let cond = self.top_expr(e)?;
                match label {
                    None => cat(vec![kw, cond]),
                    Some(l) => {
                        let else_pos = self
                            .find_token(e.span.end as usize, "else")
                            .unwrap_or(l.span.start as usize);
                        let before = self.flush(else_pos);
                        let lit = self.literal(l.span);
                        group(cat(vec![
                            kw,
                            cond,
                            before,
                            nest(2, cat(vec![Doc::Line, text("else "), lit])),
                        ]))
                    }
                }
            }
        })
    }

    // -------------------------------------------------------------- expressions

    /// An expression in a position of its own (a clause, a value, a body).
    fn top_expr(&mut self, e: &Node<Expr>) -> R<Doc> {
        self.expr(e, false)
    }

    /// `nested`: the expression is an operand of an `or` chain, so a broken
    /// `and` chain hangs instead of aligning with the `or`.
    fn expr(&mut self, e: &Node<Expr>, nested: bool) -> R<Doc> {
        let pos = e.span.start as usize;
        Ok(match &e.node {
            Expr::Bool(_)
            | Expr::Int(_)
            | Expr::Str(_)
            | Expr::Duration(_)
            | Expr::Decimal(_)
            | Expr::Ip(_)
            | Expr::Net(_) => self.literal(e.span),
            Expr::Name(n) => self.tok(n.span.start as usize, n.node.clone()),
            Expr::Set(items) => {
                let close = self
                    .find_token(items.last().map_or(pos, |i| i.span.end as usize), "]")
                    .unwrap_or(e.span.end as usize);
                self.list("[", items, "]", close)?
            }
            Expr::Field {
                base,
                name,
                optional,
            } => {
                let b = self.child(base, 9, nested)?;
                let dot = if *optional { "?." } else { "." };
                cat(vec![
                    b,
                    self.tok(name.span.start as usize, format!("{dot}{}", name.node)),
                ])
            }
            Expr::Call { callee, args } => {
                let c = self.child(callee, 9, nested)?;
                let after = args
                    .last()
                    .map_or(callee.span.end as usize, |a| a.span.end as usize);
                let close = self.find_token(after, ")").unwrap_or(e.span.end as usize);
                let l = match args.as_slice() {
                    // `f([a, b])`: a lone set argument hugs the parentheses.
                    [one] if matches!(&one.node, Expr::Set(items) if !items.is_empty()) => {
                        let set = self.expr(one, false)?;
                        let end = self.flush(close);
                        cat(vec![text("("), set, end, text(")")])
                    }
                    _ => self.list("(", args, ")", close)?,
                };
                cat(vec![c, l])
            }
            Expr::Unary(UnOp::Not, x) => {
                let kw = self.tok(pos, "not ");
                // `not (a == b)` and `not (a ?? b)`: clearer than without.
                let min = match prec(&x.node) {
                    4 | 5 => 6,
                    _ => 3,
                };
                cat(vec![kw, self.child(x, min, nested)?])
            }
            Expr::Unary(UnOp::Neg, x) => {
                let kw = self.tok(pos, "-");
                cat(vec![kw, self.child(x, 8, nested)?])
            }
            Expr::Has(x) => {
                let kw = self.tok(pos, "has ");
                cat(vec![kw, self.child(x, 9, nested)?])
            }
            Expr::Like(x, pat) => {
                // `(a ?? b) like ...`: clearer than `a ?? b like ...`.
                let l = self.child(x, 6, nested)?;
                let like = self.find_token(x.span.end as usize, "like").unwrap_or(pos);
                let kw = self.tok(like, " like ");
                let p = self.literal(pat.span);
                cat(vec![l, kw, p])
            }
            Expr::Binary(op @ (BinOp::Or | BinOp::And), _, _) => self.chain(e, *op, nested)?,
            Expr::Binary(op, l, r) => {
                let (lmin, rmin) = match op {
                    BinOp::Default => (6, 5),
                    BinOp::Add | BinOp::Sub => (6, 7),
                    BinOp::Mul => (7, 8),
                    // Comparisons: `(a ?? b) == c` is clearer than `a ?? b == c`.
                    _ => (6, 6),
                };
                let ld = self.child(l, lmin, nested)?;
                let op_pos = self
                    .find_token(l.span.end as usize, op.as_str())
                    .unwrap_or(r.span.start as usize);
                let od = self.tok(op_pos, format!(" {} ", op.as_str()));
                let rd = self.child(r, rmin, nested)?;
                cat(vec![ld, od, rd])
            }
            Expr::Error => return internal("error node"),
        })
    }

    /// An operand, parenthesised when its precedence is below `min`.
    fn child(&mut self, e: &Node<Expr>, min: u8, nested: bool) -> R<Doc> {
        if prec(&e.node) >= min {
            return self.expr(e, nested);
        }
        let open = self.tok(e.span.start as usize, "(");
        let inner = self.expr(e, false)?;
        Ok(cat(vec![open, inner, text(")")]))
    }

    /// A left-leaning chain of `and` or `or`: flat when it fits, else one
    /// operand per line with the operators right-aligned before them (or
    /// hanging by two when the chain is itself an operand of `or`).
    fn chain(&mut self, e: &Node<Expr>, op: BinOp, nested: bool) -> R<Doc> {
        let mut operands: Vec<&Node<Expr>> = Vec::new();
        let mut cur = e;
        while let Expr::Binary(o, l, r) = &cur.node {
            if *o != op {
                break;
            }
            operands.push(r);
            cur = l;
        }
        operands.push(cur);
        operands.reverse();
        let (min_first, min_rest) = match op {
            BinOp::Or => (1, 2),
            _ => (2, 3),
        };
        // `a and (b ?? false)`: clearer than `a and b ?? false`.
        let min = |x: &Node<Expr>, m: u8| if prec(&x.node) == 5 { 6 } else { m };
        let word = op.as_str();
        let offset = -(word.len() as i32 + 1);
        let mut v = Vec::new();
        let mut prev_end = 0usize;
        for (i, x) in operands.iter().enumerate() {
            let inner_nested = op == BinOp::Or;
            if i == 0 {
                v.push(self.child(x, min(x, min_first), inner_nested)?);
            } else {
                let op_pos = self
                    .find_token(prev_end, word)
                    .unwrap_or(x.span.start as usize);
                v.push(self.flush(op_pos));
                v.push(if nested {
                    nest(2, Doc::Line)
                } else {
                    nest(offset, Doc::Line)
                });
                v.push(text(format!("{word} ")));
                v.push(self.child(x, min(x, min_rest), inner_nested)?);
            }
            prev_end = x.span.end as usize;
        }
        Ok(group(align(cat(v))))
    }

    /// `open items close` on one line when it fits, else one item per line
    /// with a trailing comma.
    fn list(&mut self, open: &str, items: &[Node<Expr>], close: &str, close_pos: usize) -> R<Doc> {
        if items.is_empty() {
            let c = self.flush(close_pos);
            return Ok(cat(vec![text(open), nest(2, c), text(close)]));
        }
        let mut inner = Vec::new();
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                inner.push(text(","));
            }
            // Comments inside parentheses around an item come before it, as
            // they will once the parentheses are gone.
            inner.push(self.flush(self.content_start(x.span)));
            inner.push(if i == 0 { Doc::SoftLine } else { Doc::Line });
            inner.push(self.expr(x, false)?);
        }
        inner.push(if_break(text(","), text("")));
        inner.push(self.flush(close_pos));
        Ok(group(cat(vec![
            text(open),
            nest(2, cat(inner)),
            Doc::SoftLine,
            text(close),
        ])))
    }
}

/// `head = value`: the value on the head line when it fits there or holds
/// comments (which break it anyway), else on the next line indented by two.
fn after_equals(head: Doc, value: Doc) -> Doc {
    if value.forces() {
        cat(vec![head, text(" "), value])
    } else {
        group(cat(vec![head, nest(2, cat(vec![Doc::Line, value]))]))
    }
}

/// The pieces of a one-line action declaration: name, `on` list, attributes.
fn action_parts(a: &ActionDecl) -> (String, String, String) {
    let on: Vec<String> = a.on.iter().map(|p| p.node.text()).collect();
    let attrs: Vec<String> = a
        .attrs
        .iter()
        .map(|at| match &at.node {
            ActionAttr::Sensitivity(s) => format!("sensitivity {}", s.node),
            ActionAttr::Grants(t) => format!("grants {}", t.node),
        })
        .collect();
    (a.name.node.text(), on.join(", "), attrs.join(" "))
}

/// Binding strength, from 1 (`or`) to 10 (atoms); see the language reference §8.1.
fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Binary(BinOp::Or, ..) => 1,
        Expr::Binary(BinOp::And, ..) => 2,
        Expr::Unary(UnOp::Not, _) => 3,
        Expr::Binary(BinOp::Default, ..) => 5,
        Expr::Binary(BinOp::Add | BinOp::Sub, ..) => 6,
        Expr::Binary(BinOp::Mul, ..) => 7,
        Expr::Binary(..) | Expr::Like(..) => 4,
        Expr::Unary(UnOp::Neg, _) | Expr::Has(_) => 8,
        Expr::Field { .. } | Expr::Call { .. } => 9,
        _ => 10,
    }
}
