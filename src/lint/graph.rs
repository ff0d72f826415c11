//! The privilege graph: principal types → permits → actions → granted
//! tasks → their permits → … (petgraph). An action declared
//! `grants task_x` activates that task for whoever performs it, so a path
//! through the graph is a way to obtain further rights.

use crate::check::hir::{ActionId, EntityId, Program, Rule, RuleId, TaskId};
use crate::span::Span;
use crate::syntax::ast::Effect;
use petgraph::graphmap::DiGraphMap;

/// A node of the privilege graph.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    /// A principal type.
    Principal(EntityId),
    /// A permit.
    Permit(RuleId),
    /// An action.
    Action(ActionId),
    /// A task.
    Task(TaskId),
}

/// One step of a grant chain: the action performed (declared `grants`),
/// the task it activates, and the permit of that task the holder gets.
pub type Step = (ActionId, TaskId, RuleId);

/// One hop of a path, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// Where the hop is declared.
    pub span: Span,
    /// What the hop does.
    pub label: String,
}

/// The graph of one program.
pub struct PrivilegeGraph<'p> {
    program: &'p Program,
    /// The graph itself.
    pub graph: DiGraphMap<Node, ()>,
}

/// Whether a permit applies to principal type `t`.
fn applies_to(rule: &Rule, t: EntityId) -> bool {
    rule.principal.as_ref().is_none_or(|ps| ps.contains(&t))
}

impl<'p> PrivilegeGraph<'p> {
    /// Builds the graph of `program`.
    pub fn new(program: &'p Program) -> PrivilegeGraph<'p> {
        let mut graph = DiGraphMap::new();
        for (i, r) in program.rules.iter().enumerate() {
            if r.effect != Effect::Permit {
                continue;
            }
            let p = Node::Permit(RuleId(i as u32));
            for t in (0..program.entities.len() as u32).map(EntityId) {
                if applies_to(r, t) {
                    graph.add_edge(Node::Principal(t), p, ());
                }
            }
            for a in super::rules::actions_of(program, r) {
                graph.add_edge(p, Node::Action(a), ());
            }
            if let Some(t) = r.task {
                graph.add_edge(Node::Task(t), p, ());
            }
        }
        for (i, a) in program.actions.iter().enumerate() {
            if let Some(t) = a.grants {
                graph.add_edge(Node::Action(ActionId(i as u32)), Node::Task(t), ());
            }
        }
        PrivilegeGraph { program, graph }
    }

    /// For a permit held by principal type `who`, every chain of grants
    /// the holder can follow: permit → action (`grants T`) → task `T` →
    /// a permit of `T` that also applies to `who` → … Each chain is the
    /// list of permits along it (starting with `start`), without
    /// revisiting a task. At most `limit` chains.
    pub fn chains(&self, start: RuleId, who: EntityId, limit: usize) -> Vec<Vec<Step>> {
        let mut out = Vec::new();
        let mut stack: Vec<(RuleId, Vec<Step>)> = vec![(start, Vec::new())];
        while let Some((permit, path)) = stack.pop() {
            if out.len() >= limit {
                break;
            }
            for action in self.graph.neighbors(Node::Permit(permit)) {
                let Node::Action(a) = action else { continue };
                for task in self.graph.neighbors(action) {
                    let Node::Task(t) = task else { continue };
                    if path.iter().any(|(_, seen, _)| *seen == t) {
                        continue;
                    }
                    for next in self.graph.neighbors(task) {
                        let Node::Permit(q) = next else { continue };
                        let applies = self
                            .program
                            .rules
                            .get(q.index())
                            .is_some_and(|r| applies_to(r, who));
                        if !applies {
                            continue;
                        }
                        let mut p = path.clone();
                        p.push((a, t, q));
                        out.push(p.clone());
                        if p.len() < 8 {
                            stack.push((q, p));
                        }
                    }
                }
            }
        }
        out
    }

    /// For principal type `who`, the shortest chains of grants, computed
    /// once for the whole graph (linear in its size): see [`Chains`].
    pub fn shortest(&self, who: EntityId) -> Chains {
        let p = self.program;
        let tasks = p.tasks.len();
        // Per task, the permits of it that apply to `who`, and the edges
        // permit → action (`grants T'`) → task `T'`.
        let mut first_permit: Vec<Option<RuleId>> = vec![None; tasks];
        let mut sensitive: Vec<Option<RuleId>> = vec![None; tasks];
        let mut into: Vec<Vec<(usize, Step)>> = vec![Vec::new(); tasks];
        for (i, r) in p.rules.iter().enumerate() {
            let (Some(t), true) = (r.task, r.effect == Effect::Permit && applies_to(r, who)) else {
                continue;
            };
            let q = RuleId(i as u32);
            if let Some(slot) = first_permit.get_mut(t.index()) {
                slot.get_or_insert(q);
            }
            let top = crate::lint::rules::most_sensitive(p, &r.actions);
            if top.is_some_and(|(s, _)| crate::lint::rules::is_sensitive(s)) {
                if let Some(slot) = sensitive.get_mut(t.index()) {
                    slot.get_or_insert(q);
                }
            }
            for a in &r.actions {
                let Some(next) = p.actions.get(a.index()).and_then(|d| d.grants) else {
                    continue;
                };
                // Entering `next` from `t` through `q`'s action `a`.
                if let Some(v) = into.get_mut(next.index()) {
                    v.push((t.index(), (*a, next, q)));
                }
            }
        }
        // Backwards from the tasks with a sensitive permit: for each task,
        // the next step towards the nearest one.
        let mut next: Vec<Option<Step>> = vec![None; tasks];
        let mut reached = vec![false; tasks];
        let mut queue = std::collections::VecDeque::new();
        for (t, s) in sensitive.iter().enumerate() {
            if s.is_some() {
                if let Some(r) = reached.get_mut(t) {
                    *r = true;
                }
                queue.push_back(t);
            }
        }
        while let Some(t) = queue.pop_front() {
            for (from, step) in into.get(t).into_iter().flatten() {
                if reached.get(*from).copied().unwrap_or(true) {
                    continue;
                }
                if let Some(r) = reached.get_mut(*from) {
                    *r = true;
                }
                if let Some(n) = next.get_mut(*from) {
                    *n = Some(*step);
                }
                queue.push_back(*from);
            }
        }
        Chains {
            first_permit,
            sensitive,
            next,
        }
    }

    /// The hops of a chain starting at permit `start`, as labelled spans.
    pub fn hops(&self, start: RuleId, who: EntityId, chain: &[Step]) -> Vec<Hop> {
        let p = self.program;
        let who_name = p.entities.get(who.index()).map_or("?", |e| e.name.as_str());
        let mut hops = Vec::new();
        if let Some(r) = p.rules.get(start.index()) {
            hops.push(Hop {
                span: r.head,
                label: format!("1. `{who_name}` holds `{}`", r.id),
            });
        }
        for (k, (a, t, q)) in chain.iter().enumerate() {
            let (Some(ad), Some(td), Some(qd)) = (
                p.actions.get(a.index()),
                p.tasks.get(t.index()),
                p.rules.get(q.index()),
            ) else {
                continue;
            };
            let n = 2 + 3 * k;
            hops.push(Hop {
                span: ad.span,
                label: format!("{n}. `{}` grants task `{}`", ad.name, td.name),
            });
            hops.push(Hop {
                span: td.span,
                label: format!("{}. task `{}` is activated", n + 1, td.name),
            });
            hops.push(Hop {
                span: qd.head,
                label: format!("{}. its `{}` applies to `{who_name}`", n + 2, qd.id),
            });
        }
        hops
    }
}

/// The shortest chains of grants for one principal type.
pub struct Chains {
    first_permit: Vec<Option<RuleId>>,
    sensitive: Vec<Option<RuleId>>,
    next: Vec<Option<Step>>,
}

impl Chains {
    /// The one-step chain by which performing `action` (declared
    /// `grants T`) gives the holder a permit of `T`, if `T` has one for it.
    pub fn self_approval(&self, program: &Program, action: ActionId) -> Option<Vec<Step>> {
        let t = program.actions.get(action.index())?.grants?;
        let q = (*self.first_permit.get(t.index())?)?;
        Some(vec![(action, t, q)])
    }

    /// The shortest chain from performing `action` to a permit of a high
    /// or critical action, without revisiting a task.
    pub fn to_sensitive(&self, program: &Program, action: ActionId) -> Option<Vec<Step>> {
        let mut t = program.actions.get(action.index())?.grants?;
        let mut a = action;
        let mut chain = Vec::new();
        loop {
            if chain.len() > self.next.len() {
                return None;
            }
            if let Some(q) = *self.sensitive.get(t.index())? {
                chain.push((a, t, q));
                return Some(chain);
            }
            let (a2, t2, q) = (*self.next.get(t.index())?)?;
            chain.push((a, t, q));
            a = a2;
            t = t2;
        }
    }
}
