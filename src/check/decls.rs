//! Declarations of the policy set: tasks and actions.

use super::hir::*;
use super::Checker;
use crate::diagnostic::{did_you_mean, Code, Diagnostic};
use crate::span::{Node, Span};
use crate::syntax::ast::{self, Item};

impl Checker<'_> {
    /// Declares the policy set's tasks and checks their settings (`ttl`,
    /// `notify`).
    pub(super) fn declare_tasks(&mut self) {
        let items = std::mem::take(&mut self.modules[0].items);
        for item in &items {
            let Item::Task(t) = &item.node else { continue };
            if let Some(prev) = self.task_ids.get(&t.name.node) {
                let first = self.program.tasks[prev.index()].span;
                self.error(
                    Diagnostic::error(
                        Code::E0201,
                        t.name.span,
                        format!("task `{}` is declared twice", t.name.node),
                        "redeclared here",
                    )
                    .with_label(first, "first declared here"),
                );
            }
            let mut ttl: Option<Node<jitp_runtime::value::Duration>> = None;
            let mut notify = Vec::new();
            let mut params: Option<(RecordId, Span)> = None;
            for ti in &t.items {
                match &ti.node {
                    ast::TaskItem::Ttl(d) => {
                        if let Some(first) = &ttl {
                            self.error(
                                Diagnostic::error(
                                    Code::E0403,
                                    ti.span,
                                    "`ttl` is given twice",
                                    "second ttl",
                                )
                                .with_label(first.span, "first ttl"),
                            );
                        } else if d.node.0 <= 0 {
                            self.error(Diagnostic::error(
                                Code::E0403,
                                d.span,
                                "`ttl` must be longer than zero",
                                "zero ttl",
                            ));
                        } else {
                            ttl = Some(d.clone());
                        }
                    }
                    ast::TaskItem::Notify(s) => {
                        if s.node.trim().is_empty() {
                            self.error(Diagnostic::error(
                                Code::E0307,
                                s.span,
                                "`notify` needs a channel name",
                                "empty channel",
                            ));
                        }
                        notify.push(s.node.clone());
                    }
                    ast::TaskItem::Unknown(key) => {
                        self.error(
                            Diagnostic::error(
                                Code::E0101,
                                key.span,
                                format!("unknown task setting `{}`", key.node),
                                "expected `ttl`, `notify`, `params` or a rule",
                            )
                            .with_help_opt(did_you_mean(&key.node, ["ttl", "notify"])),
                        );
                    }
                    ast::TaskItem::Params(fields) => {
                        let kw = Span::new(
                            ti.span.file,
                            ti.span.start as usize..ti.span.start as usize + 6,
                        );
                        if let Some((_, first)) = params {
                            self.error(
                                Diagnostic::error(
                                    Code::E0211,
                                    kw,
                                    "a task has one `params` block",
                                    "second params block",
                                )
                                .with_label(first, "first params block")
                                .with_help("merge the parameters into one block"),
                            );
                            continue;
                        }
                        let fields = self.resolve_fields(0, fields, false);
                        let rec = RecordId(self.program.records.len() as u32);
                        self.program.records.push(RecordDef {
                            name: format!("{}.params", t.name.node),
                            fields,
                            span: kw,
                            doc: None,
                        });
                        params = Some((rec, kw));
                    }
                    ast::TaskItem::Rule(_) | ast::TaskItem::Error => {}
                }
            }
            self.task_ids
                .entry(t.name.node.clone())
                .or_insert(TaskId(self.program.tasks.len() as u32));
            self.program.tasks.push(TaskDef {
                name: t.name.node.clone(),
                kind: t.kind,
                ttl: ttl.map(|t| t.node),
                notify,
                params: params.map(|p| p.0),
                span: t.name.span,
                doc: t.doc.as_ref().map(|d| d.node.clone()),
            });
        }
        self.modules[0].items = items;
    }

    /// Declares the policy set's actions: their resource types,
    /// sensitivity and the task they grant.
    pub(super) fn declare_actions(&mut self) {
        let items = std::mem::take(&mut self.modules[0].items);
        for item in &items {
            let Item::Action(a) = &item.node else {
                continue;
            };
            let name = a.name.node.text();
            if a.name.node.0.len() < 2 {
                self.error(
                    Diagnostic::error(
                        Code::E0306,
                        a.name.span,
                        format!("action `{name}` needs a namespace"),
                        "expected `namespace.verb`",
                    )
                    .with_help(format!("for example `app.{name}`")),
                );
            }
            if let Some(prev) = self.action_ids.get(&name) {
                let first = self.program.actions[prev.index()].span;
                self.error(
                    Diagnostic::error(
                        Code::E0201,
                        a.name.span,
                        format!("action `{name}` is declared twice"),
                        "redeclared here",
                    )
                    .with_label(first, "first declared here"),
                );
                continue;
            }
            let mut on = Vec::new();
            for ty in &a.on {
                match self.lookup_type(0, &ty.node) {
                    Some(Type::Entity(ids)) => {
                        for id in ids {
                            if on.contains(&id) {
                                self.error(Diagnostic::error(
                                    Code::E0201,
                                    ty.span,
                                    format!("`{}` is listed twice", ty.node.text()),
                                    "duplicate resource type",
                                ));
                            } else {
                                on.push(id);
                            }
                        }
                    }
                    Some(other) => {
                        let tn = self.program.type_name(&other);
                        self.error(
                            Diagnostic::error(
                                Code::E0404,
                                ty.span,
                                format!("actions apply to entity types, and `{tn}` is not one"),
                                "not an entity type",
                            )
                            .with_help("declare the resource with `entity`"),
                        );
                    }
                    None => {}
                }
            }
            let mut sensitivity: Option<(ast::Sensitivity, Span)> = None;
            let mut grants: Option<(TaskId, Span)> = None;
            for attr in &a.attrs {
                match &attr.node {
                    ast::ActionAttr::Sensitivity(level) => {
                        let parsed = match level.node.as_str() {
                            "low" => Some(ast::Sensitivity::Low),
                            "medium" => Some(ast::Sensitivity::Medium),
                            "high" => Some(ast::Sensitivity::High),
                            "critical" => Some(ast::Sensitivity::Critical),
                            _ => None,
                        };
                        match (parsed, sensitivity) {
                            (_, Some((_, first))) => self.error(
                                Diagnostic::error(
                                    Code::E0201,
                                    attr.span,
                                    "sensitivity is given twice",
                                    "second sensitivity",
                                )
                                .with_label(first, "first given here"),
                            ),
                            (Some(s), None) => sensitivity = Some((s, attr.span)),
                            (None, None) => self.error(
                                Diagnostic::error(
                                    Code::E0202,
                                    level.span,
                                    format!("unknown sensitivity `{}`", level.node),
                                    "expected `low`, `medium`, `high` or `critical`",
                                )
                                .with_help_opt(did_you_mean(
                                    &level.node,
                                    ["low", "medium", "high", "critical"],
                                )),
                            ),
                        }
                    }
                    ast::ActionAttr::Grants(task) => {
                        if let Some((_, first)) = grants {
                            self.error(
                                Diagnostic::error(
                                    Code::E0201,
                                    attr.span,
                                    "`grants` is given twice",
                                    "second grants",
                                )
                                .with_label(first, "first given here"),
                            );
                            continue;
                        }
                        match self.task_ids.get(&task.node).copied() {
                            Some(t) => grants = Some((t, attr.span)),
                            None => {
                                let names: Vec<&str> =
                                    self.program.tasks.iter().map(|t| t.name.as_str()).collect();
                                let d = Diagnostic::error(
                                    Code::E0212,
                                    task.span,
                                    format!("unknown task `{}`", task.node),
                                    "no task of this name",
                                )
                                .with_help_opt(did_you_mean(&task.node, names));
                                self.error(d);
                            }
                        }
                    }
                }
            }
            self.action_ids
                .insert(name.clone(), ActionId(self.program.actions.len() as u32));
            self.program.actions.push(ActionDef {
                name,
                on,
                sensitivity: sensitivity.map_or(ast::Sensitivity::Medium, |s| s.0),
                grants: grants.map(|g| g.0),
                span: a.name.span,
                doc: a.doc.as_ref().map(|d| d.node.clone()),
            });
        }
        self.modules[0].items = items;
    }
}
