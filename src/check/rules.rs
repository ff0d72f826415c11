//! Checking of rules: heads (principal, actions, resource), clauses and
//! annotations, standing or inside a task.

use super::expr::Cx;
use super::hir::*;
use super::Checker;
use crate::diagnostic::{Code, Diagnostic};
use crate::span::{Node, Span};
use crate::syntax::ast::{self, ActionPattern, Clause, Effect, Item, TaskItem, TypePattern};
use jitp_runtime::value::Duration;
use std::collections::HashMap;

/// A rule's resolved head.
struct Head {
    /// Principal types; `None` means any.
    principal: Option<Vec<EntityId>>,
    /// The named resource types, with the pattern's span.
    resource: Option<(Vec<EntityId>, Span)>,
    /// The actions covered, in pattern order.
    actions: Vec<ActionId>,
    /// Whether an action pattern was a wildcard.
    wildcard: bool,
    /// Whether the head resolved without errors.
    ok: bool,
}

/// A rule's checked clauses, each with its span.
#[derive(Default)]
struct Clauses {
    when: Option<(Expr, Span)>,
    unless: Option<(Expr, Span)>,
    for_ttl: Option<(Duration, Span)>,
    requires: Vec<Require>,
}

impl Checker<'_> {
    pub(super) fn check_rules(&mut self) {
        let items = std::mem::take(&mut self.modules[0].items);
        let mut ids: HashMap<String, Span> = HashMap::new();
        let mut counters: HashMap<(Option<TaskId>, Effect), usize> = HashMap::new();
        for item in &items {
            match &item.node {
                Item::Rule(r) => self.check_rule(r, item.span, None, &mut ids, &mut counters),
                Item::Task(t) => {
                    let Some(tid) = self.task_ids.get(&t.name.node).copied() else {
                        continue;
                    };
                    if self.program.task(tid).span != t.name.span {
                        continue; // a duplicate task, already reported
                    }
                    for ti in &t.items {
                        if let TaskItem::Rule(r) = &ti.node {
                            self.check_rule(r, ti.span, Some(tid), &mut ids, &mut counters);
                        }
                    }
                }
                _ => {}
            }
        }
        self.modules[0].items = items;
        // Generated ids (`task.permit1`) must not collide with explicit ones.
        let mut seen: HashMap<&str, Span> = HashMap::new();
        let mut clashes = Vec::new();
        for r in &self.program.rules {
            match seen.get(r.id.as_str()) {
                Some(first) => clashes.push((r.id.clone(), r.head, *first)),
                None => {
                    seen.insert(&r.id, r.head);
                }
            }
        }
        for (id, span, first) in clashes {
            self.error(
                Diagnostic::error(Code::E0201, span, format!("rule id `{id}` is used twice"), "this rule's id")
                    .with_label(first, "the other rule with this id")
                    .with_help("rules without `@id` are named `<task>.<permit|forbid><n>` (`global` outside tasks); pick an `@id` that differs"),
            );
        }
    }

    fn check_rule(
        &mut self,
        r: &ast::Rule,
        span: Span,
        task: Option<TaskId>,
        ids: &mut HashMap<String, Span>,
        counters: &mut HashMap<(Option<TaskId>, Effect), usize>,
    ) {
        let effect = r.effect.node;
        let (id, standing_reason) = self.rule_annotations(r, task, ids);
        let generated = self.generated_rule_id(task, effect, counters);
        let id = id.unwrap_or(generated);
        let head = self.rule_head(r);
        let mut cx = self.condition_scope(&head, task);
        let clauses = self.rule_clauses(r, effect, &mut cx);
        self.check_for_clause(task, clauses.for_ttl);
        let task_ttl = task.and_then(|t| self.program.tasks[t.index()].ttl);
        let ttl = match (task_ttl, clauses.for_ttl) {
            (Some(t), Some((f, _))) => Some(t.min(f)),
            (None, Some((f, _))) if task.is_some() => Some(f),
            (t, _) => t,
        };
        self.program.rules.push(Rule {
            id,
            effect,
            task,
            principal: head.principal,
            actions: head.actions,
            wildcard_action: head.wildcard,
            resource: head.resource.map(|(r, _)| r),
            for_ttl: clauses.for_ttl.map(|(d, _)| d),
            ttl,
            when: clauses.when.map(|(e, _)| e),
            unless: clauses.unless.map(|(e, _)| e),
            requires: clauses.requires,
            standing_reason,
            doc: r.doc.as_ref().map(|d| d.node.clone()),
            span,
            head: r.head,
        });
    }

    /// Checks a rule's annotations; returns its `@id` and `@standing`
    /// reason, if given and valid.
    fn rule_annotations(
        &mut self,
        r: &ast::Rule,
        task: Option<TaskId>,
        ids: &mut HashMap<String, Span>,
    ) -> (Option<String>, Option<String>) {
        let effect = r.effect.node;
        let mut id: Option<String> = None;
        let mut standing_reason: Option<String> = None;
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for a in &r.annotations {
            let name = a.name.node.as_str();
            if let Some(first) = seen.get(name) {
                self.error(
                    Diagnostic::error(
                        Code::E0104,
                        a.name.span,
                        format!("`@{name}` is given twice"),
                        "second annotation",
                    )
                    .with_label(*first, "first given here"),
                );
                continue;
            }
            seen.insert(name, a.name.span);
            match name {
                "id" => id = self.id_annotation(a, ids).or(id),
                "standing" => {
                    standing_reason = self
                        .standing_annotation(a, effect, task)
                        .or(standing_reason);
                }
                other => {
                    self.error(
                        Diagnostic::error(
                            Code::E0103,
                            a.name.span,
                            format!("unknown annotation `@{other}`"),
                            "not an annotation jitp knows",
                        )
                        .with_help_opt(self.suggestions.did_you_mean(other, ["id", "standing"]))
                        .with_note("annotations on rules: `@id(\"...\")`, `@standing(\"reason\")`"),
                    );
                }
            }
        }
        (id, standing_reason)
    }

    /// Checks `@id("...")`: non-empty, no spaces, not used by another rule.
    fn id_annotation(
        &mut self,
        a: &ast::Annotation,
        ids: &mut HashMap<String, Span>,
    ) -> Option<String> {
        let text = a.arg.node.trim();
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            self.error(
                Diagnostic::error(
                    Code::E0307,
                    a.arg.span,
                    "a rule id must be non-empty and contain no spaces",
                    "invalid id",
                )
                .with_help("use a short slug such as `rotate-prod-secrets`"),
            );
            None
        } else if let Some(first) = ids.get(text) {
            self.error(
                Diagnostic::error(
                    Code::E0201,
                    a.arg.span,
                    format!("rule id `{text}` is used twice"),
                    "duplicate id",
                )
                .with_label(*first, "first used here"),
            );
            None
        } else {
            ids.insert(text.to_string(), a.arg.span);
            Some(text.to_string())
        }
    }

    /// Checks `@standing("reason")`: only on a permit outside any task, with
    /// a reason.
    fn standing_annotation(
        &mut self,
        a: &ast::Annotation,
        effect: Effect,
        task: Option<TaskId>,
    ) -> Option<String> {
        if effect == Effect::Forbid || task.is_some() {
            self.error(
                Diagnostic::error(
                    Code::E0104,
                    a.name.span,
                    "`@standing` marks a permit outside any task",
                    if task.is_some() {
                        "this rule belongs to a task"
                    } else {
                        "this rule is a guard"
                    },
                )
                .with_help("remove the annotation"),
            );
            None
        } else if a.arg.node.trim().is_empty() {
            self.error(
                Diagnostic::error(Code::E0307, a.arg.span, "`@standing` needs a reason", "empty reason")
                    .with_help("say why this grant may outlive any task, e.g. `@standing(\"public catalogue reads\")`"),
            );
            None
        } else {
            Some(a.arg.node.clone())
        }
    }

    /// The id of a rule without `@id`: `<task>.<permit|forbid><n>`, counting
    /// every rule of the scope and effect (`global` outside tasks).
    fn generated_rule_id(
        &self,
        task: Option<TaskId>,
        effect: Effect,
        counters: &mut HashMap<(Option<TaskId>, Effect), usize>,
    ) -> String {
        let n = counters.entry((task, effect)).or_insert(0);
        *n += 1;
        let scope = task.map_or("global", |t| self.program.tasks[t.index()].name.as_str());
        let effect_name = if effect == Effect::Permit {
            "permit"
        } else {
            "forbid"
        };
        format!("{scope}.{effect_name}{n}")
    }

    /// Resolves a rule's head: principal and resource types and the actions
    /// (wildcards expanded, restricted to those that apply to the named
    /// resource type).
    fn rule_head(&mut self, r: &ast::Rule) -> Head {
        let principal = match &r.principal {
            None
            | Some(Node {
                node: TypePattern::Any,
                ..
            }) => None,
            Some(Node {
                node: TypePattern::Named(ps),
                ..
            }) => self.entity_patterns(ps, "principal"),
        };
        let (resource, resource_given) = match &r.resource {
            Some(Node {
                node: TypePattern::Named(ps),
                span,
            }) => (
                self.entity_patterns(ps, "resource").map(|v| (v, *span)),
                true,
            ),
            _ => (None, false),
        };
        let mut head = Head {
            principal,
            ok: !resource_given || resource.is_some(),
            resource,
            actions: Vec::new(),
            wildcard: false,
        };
        for pat in &r.actions {
            let matched = self.action_pattern(pat, &mut head);
            let kept = self.applicable_actions(pat, matched, &mut head);
            head.actions.extend(kept);
        }
        head
    }

    /// The declared actions an action pattern names.
    fn action_pattern(&mut self, pat: &Node<ActionPattern>, head: &mut Head) -> Vec<ActionId> {
        match &pat.node {
            ActionPattern::Any => {
                head.wildcard = true;
                (0..self.program.actions.len() as u32)
                    .map(ActionId)
                    .collect()
            }
            ActionPattern::Namespace(ns) => {
                head.wildcard = true;
                let prefix = format!("{}.", ns.text());
                let found: Vec<ActionId> = self
                    .program
                    .actions
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.name.starts_with(&prefix))
                    .map(|(i, _)| ActionId(i as u32))
                    .collect();
                if found.is_empty() {
                    let namespaces: Vec<String> = self
                        .program
                        .actions
                        .iter()
                        .filter_map(|a| a.name.rsplit_once('.').map(|(ns, _)| ns.to_string()))
                        .collect();
                    self.error(
                        Diagnostic::error(
                            Code::E0405,
                            pat.span,
                            format!("no declared action matches `{}.*`", ns.text()),
                            "matches nothing",
                        )
                        .with_help_opt(
                            self.suggestions
                                .did_you_mean(&ns.text(), namespaces.iter().map(String::as_str)),
                        ),
                    );
                    head.ok = false;
                }
                found
            }
            ActionPattern::Exact(p) => {
                let name = p.text();
                match self.action_ids.get(&name).copied() {
                    Some(a) => vec![a],
                    None => {
                        let names: Vec<&str> = self
                            .program
                            .actions
                            .iter()
                            .map(|a| a.name.as_str())
                            .collect();
                        let d = Diagnostic::error(
                            Code::E0206,
                            pat.span,
                            format!("unknown action `{name}`"),
                            "not declared",
                        )
                        .with_help_opt(self.suggestions.did_you_mean(&name, names))
                        .with_note("declare it with `action ns.verb on Type`");
                        self.error(d);
                        head.ok = false;
                        vec![]
                    }
                }
            }
        }
    }

    /// Of the actions a pattern matched, those that apply to the named
    /// resource type and are not in the head yet. An exact action that does
    /// not apply is an error, and so is a wildcard that keeps nothing.
    fn applicable_actions(
        &mut self,
        pat: &Node<ActionPattern>,
        matched: Vec<ActionId>,
        head: &mut Head,
    ) -> Vec<ActionId> {
        let mut kept = Vec::new();
        for a in matched {
            if let Some((res, res_span)) = &head.resource {
                let def = &self.program.actions[a.index()];
                let applies = res.iter().all(|r| def.on.contains(r));
                if !applies {
                    if matches!(pat.node, ActionPattern::Exact(_)) {
                        let on: Vec<&str> = def
                            .on
                            .iter()
                            .map(|e| self.program.entities[e.index()].name.as_str())
                            .collect();
                        let rname = self.program.type_name(&Type::Entity(res.clone()));
                        let d = Diagnostic::error(
                            Code::E0401,
                            pat.span,
                            format!("action `{}` does not apply to `{rname}`", def.name),
                            format!("`{}` is declared on {}", def.name, on.join(", ")),
                        )
                        .with_label(*res_span, format!("the resource is `{rname}`"))
                        .with_label(def.span, "action declared here")
                        .with_help(format!("add `{rname}` to the action's `on` list, or use a resource type it applies to"));
                        self.error(d);
                        head.ok = false;
                    }
                    continue;
                }
            }
            if !head.actions.contains(&a) {
                kept.push(a);
            }
        }
        if kept.is_empty()
            && !matches!(pat.node, ActionPattern::Exact(_))
            && head.resource.is_some()
            && head.ok
        {
            let rname = head
                .resource
                .as_ref()
                .map(|(r, _)| self.program.type_name(&Type::Entity(r.clone())))
                .unwrap_or_default();
            self.error(Diagnostic::error(
                Code::E0401,
                pat.span,
                format!("no action matched by this pattern applies to `{rname}`"),
                "matches no action on this resource type",
            ));
            head.ok = false;
        }
        kept
    }

    /// What the rule's conditions see: the principal and resource types
    /// (every type the head allows; `{unknown}` after a head error) and
    /// whether `task` exists.
    fn condition_scope(&self, head: &Head, task: Option<TaskId>) -> Cx {
        let resource_types: Vec<EntityId> = match &head.resource {
            Some((r, _)) => r.clone(),
            None => {
                let mut all: Vec<EntityId> = Vec::new();
                for a in &head.actions {
                    for e in &self.program.actions[a.index()].on {
                        if !all.contains(e) {
                            all.push(*e);
                        }
                    }
                }
                all.sort();
                all
            }
        };
        let principal_types: Vec<EntityId> = match &head.principal {
            Some(p) => p.clone(),
            None => (0..self.program.entities.len() as u32)
                .map(EntityId)
                .collect(),
        };
        let principal_ty = if head.ok || head.principal.is_some() {
            Type::Entity(principal_types)
        } else {
            Type::Error
        };
        let resource_ty = if head.ok {
            Type::Entity(resource_types)
        } else {
            Type::Error
        };
        Cx::rule(principal_ty, resource_ty, task)
    }

    /// Checks a rule's clauses in source order.
    fn rule_clauses(&mut self, r: &ast::Rule, effect: Effect, cx: &mut Cx) -> Clauses {
        let mut out = Clauses::default();
        for c in &r.clauses {
            match &c.node {
                Clause::When(e) | Clause::Unless(e) => {
                    let is_when = matches!(c.node, Clause::When(_));
                    self.when_or_unless(cx, e, c.span, is_when, &mut out);
                }
                Clause::For(d) => self.for_clause(d.node, c.span, effect, &mut out),
                Clause::Require(e, label) => {
                    let x = self.check_condition(cx, e);
                    if effect == Effect::Forbid {
                        self.error(
                            Diagnostic::error(
                                Code::E0105,
                                c.span,
                                "a `forbid` takes no `require` clause",
                                "not allowed on a guard",
                            )
                            .with_help(
                                "a guard denies when its `when` holds; put the condition there",
                            ),
                        );
                        continue;
                    }
                    let label = self.require_label(label.as_ref(), e.span);
                    out.requires.push(Require {
                        cond: x,
                        label,
                        span: c.span,
                    });
                }
            }
        }
        out
    }

    /// A `when` or `unless` clause: at most one of each.
    fn when_or_unless(
        &mut self,
        cx: &mut Cx,
        e: &Node<ast::Expr>,
        span: Span,
        is_when: bool,
        out: &mut Clauses,
    ) {
        let x = self.check_condition(cx, e);
        let slot = if is_when {
            &mut out.when
        } else {
            &mut out.unless
        };
        if let Some((_, first)) = slot {
            let kw = if is_when { "when" } else { "unless" };
            let first = *first;
            self.error(
                Diagnostic::error(
                    Code::E0105,
                    span,
                    format!("`{kw}` is given twice"),
                    "second clause",
                )
                .with_label(first, "first clause")
                .with_help(format!(
                    "combine the conditions with `{}`",
                    if is_when { "and" } else { "or" }
                )),
            );
        } else {
            *slot = Some((x, span));
        }
    }

    /// A `for` clause: on a permit, at most once.
    fn for_clause(&mut self, d: Duration, span: Span, effect: Effect, out: &mut Clauses) {
        if effect == Effect::Forbid {
            self.error(Diagnostic::error(
                Code::E0105,
                span,
                "a `forbid` takes no `for` clause",
                "not allowed on a guard",
            ));
        } else if let Some((_, first)) = out.for_ttl {
            self.error(
                Diagnostic::error(Code::E0105, span, "`for` is given twice", "second clause")
                    .with_label(first, "first clause"),
            );
        } else {
            out.for_ttl = Some((d, span));
        }
    }

    /// A `require` clause's label: as given (not empty), or the condition's
    /// source text with its whitespace collapsed.
    fn require_label(&mut self, label: Option<&Node<String>>, cond: Span) -> String {
        match label {
            Some(l) if l.node.trim().is_empty() => {
                self.error(Diagnostic::error(
                    Code::E0307,
                    l.span,
                    "a `require` label must not be empty",
                    "empty label",
                ));
                String::new()
            }
            Some(l) => l.node.clone(),
            None => self
                .sources
                .snippet(cond)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// `for` needs a task, must be positive, and may only shorten the
    /// task's ttl.
    fn check_for_clause(&mut self, task: Option<TaskId>, for_ttl: Option<(Duration, Span)>) {
        let Some((d, fspan)) = for_ttl else {
            return;
        };
        let Some(t) = task else {
            self.error(
                Diagnostic::error(
                    Code::E0402,
                    fspan,
                    "`for` limits a task's grant, and this rule is not in a task",
                    "no task to shorten",
                )
                .with_help("move the rule into a `task` block with a `ttl`"),
            );
            return;
        };
        let task_ttl = self.program.tasks[t.index()].ttl;
        if d.0 <= 0 {
            self.error(Diagnostic::error(
                Code::E0402,
                fspan,
                "`for` must be longer than zero",
                "zero duration",
            ));
        } else if let Some(ttl) = task_ttl.filter(|ttl| d > *ttl) {
            let tname = self.program.tasks[t.index()].name.clone();
            let tspan = self.program.tasks[t.index()].span;
            self.error(
                Diagnostic::error(
                    Code::E0402,
                    fspan,
                    format!("`for {d}` is longer than the ttl of task `{tname}` ({ttl})"),
                    "cannot outlive the task",
                )
                .with_label(tspan, format!("`{tname}` lives {ttl}"))
                .with_help(
                    "`for` can only shorten a grant; raise the task's ttl or shorten this one",
                ),
            );
        }
    }

    /// Resolves the principal or resource types of a rule head (one or
    /// more names) to entity ids, refusing a type listed twice. `None` if
    /// any name did not resolve.
    fn entity_patterns(&mut self, ps: &[Node<ast::Path>], role: &str) -> Option<Vec<EntityId>> {
        let mut out: Vec<EntityId> = Vec::new();
        let mut firsts: Vec<Span> = Vec::new();
        let mut ok = true;
        for p in ps {
            let Some(ids) = self.entity_pattern(&p.node, p.span, role) else {
                ok = false;
                continue;
            };
            for id in ids {
                if let Some(i) = out.iter().position(|e| *e == id) {
                    let first = firsts.get(i).copied().unwrap_or(p.span);
                    self.error(
                        Diagnostic::error(
                            Code::E0201,
                            p.span,
                            format!("`{}` is listed twice", p.node.text()),
                            format!("duplicate {role} type"),
                        )
                        .with_label(first, "first listed here"),
                    );
                } else {
                    out.push(id);
                    firsts.push(p.span);
                }
            }
        }
        ok.then_some(out)
    }

    /// Resolves a principal or resource type name to entity ids.
    fn entity_pattern(&mut self, p: &ast::Path, span: Span, role: &str) -> Option<Vec<EntityId>> {
        match self.lookup_type(0, p)? {
            Type::Entity(ids) => Some(ids),
            other => {
                let tn = self.program.type_name(&other);
                self.error(
                    Diagnostic::error(
                        Code::E0404,
                        span,
                        format!("the {role} must be an entity type, and `{tn}` is not one"),
                        "not an entity type",
                    )
                    .with_help("declare it with `entity`, or use `*`"),
                );
                None
            }
        }
    }
}
