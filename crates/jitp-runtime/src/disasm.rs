//! Human-readable disassembly of a bundle: schema slots, constants, rules
//! and their code with the source span of each instruction.

use crate::bundle::{Bundle, SrcSpan, TypeDesc, MAX_SLOTS};
use crate::bytecode::{cmp, method, Instr};
use crate::val::{Arena, Val};
use std::fmt::Write as _;

impl Bundle {
    fn show_val(&self, v: &Val) -> String {
        match *v {
            Val::Absent => "absent".into(),
            Val::Present => "present".into(),
            Val::Bool(b) => b.to_string(),
            Val::Int(i) => i.to_string(),
            Val::Str(s) => format!("{:?}", self.string(s)),
            Val::Time(t) => crate::value::Time(t).to_string(),
            Val::Dur(d) => crate::value::Duration(d).to_string(),
            Val::Dec(d) => crate::value::Decimal(d).to_string(),
            Val::Ip(ip) => ip.to_string(),
            Val::Net(n) => n.to_string(),
            Val::Enum(e) => format!("variant {e}"),
            Val::Set(s) => {
                let items: Vec<String> = match s.arena {
                    Arena::Const => self
                        .img
                        .const_sets
                        .get(s.start as usize..s.start.saturating_add(s.len) as usize)
                        .unwrap_or(&[])
                        .iter()
                        .map(|v| self.show_val(v))
                        .collect(),
                    Arena::Request => vec!["request set".into()],
                };
                format!("[{}]", items.join(", "))
            }
            Val::Rec(r) => format!("record @{r}"),
        }
    }

    fn show_type(&self, t: &TypeDesc) -> String {
        match t {
            TypeDesc::Bool => "Bool".into(),
            TypeDesc::Int => "Int".into(),
            TypeDesc::String => "String".into(),
            TypeDesc::Time => "Time".into(),
            TypeDesc::Duration => "Duration".into(),
            TypeDesc::Decimal => "Decimal".into(),
            TypeDesc::Ip => "Ip".into(),
            TypeDesc::Net => "Net".into(),
            TypeDesc::Enum(e) => self
                .img
                .schema
                .enums
                .get(*e as usize)
                .map_or("?".into(), |(n, _)| self.string(*n).to_string()),
            TypeDesc::Set(i) => format!("Set<{}>", self.show_type(i)),
            TypeDesc::Optional(i) => format!("{}?", self.show_type(i)),
            TypeDesc::Record(r) => self
                .img
                .schema
                .records
                .get(*r as usize)
                .map_or("?".into(), |r| self.string(r.name).to_string()),
        }
    }

    fn show_span(&self, s: &SrcSpan) -> String {
        let file = self
            .img
            .files
            .get(s.file as usize)
            .map_or("?", String::as_str);
        format!("{file}:{}:{}", s.line, s.col)
    }

    /// The disassembly. With `source`, each instruction also shows the text
    /// its span covers (looked up by file index).
    pub fn disassemble(&self, source: Option<&dyn Fn(u32) -> Option<String>>) -> String {
        let mut out = String::new();
        let name = if self.img.name.is_empty() {
            "(unnamed)"
        } else {
            &self.img.name
        };
        let _ = writeln!(
            out,
            "bundle {name}: {} rules, {} actions, {} tasks, {} slots, {} instructions",
            self.img.rules.len(),
            self.img.actions.len(),
            self.img.tasks.len(),
            self.img.schema.slot_count,
            self.img.code.len()
        );
        let _ = writeln!(out, "\nslots:");
        let sp = &self.img.schema.special;
        for (n, s) in [
            ("now", sp.now),
            ("action", sp.action),
            ("task.name", sp.task_name),
            ("task.id", sp.task_id),
            ("task.started_at", sp.task_started_at),
            ("task.approvals", sp.task_approvals),
            ("task.approvers", sp.task_approvers),
        ] {
            let _ = writeln!(out, "  @{s:<4} {n}");
        }
        let mut lines: Vec<(u32, String)> = Vec::new();
        let record = |lines: &mut Vec<(u32, String)>, prefix: &str, rec: u32, base: u32| {
            // Bounded: an unverified bundle may nest a record in itself. A
            // verified layout only nests records of lower index, so no path
            // is deeper than the number of records.
            let records = &self.img.schema.records;
            let mut stack = vec![(prefix.to_string(), rec, base, 0usize)];
            let mut budget = MAX_SLOTS;
            while let Some((prefix, rec, base, depth)) = stack.pop() {
                let Some(r) = records.get(rec as usize) else {
                    continue;
                };
                if depth > records.len() {
                    continue;
                }
                budget = budget.saturating_sub(1 + r.fields.len() as u32);
                if budget == 0 {
                    break;
                }
                lines.push((base, format!("{prefix} (record {})", self.string(r.name))));
                for f in r.fields.iter().rev() {
                    let path = format!("{prefix}.{}", self.string(f.name));
                    let at = base.saturating_add(f.slot);
                    match f.ty.clone() {
                        TypeDesc::Record(inner) => stack.push((path, inner, at, depth + 1)),
                        TypeDesc::Optional(inner) if matches!(*inner, TypeDesc::Record(_)) => {
                            if let TypeDesc::Record(i) = *inner {
                                stack.push((format!("{path}?"), i, at, depth + 1));
                            }
                        }
                        ty => lines.push((at, format!("{path}: {}", self.show_type(&ty)))),
                    }
                }
            }
        };
        record(
            &mut lines,
            "context",
            self.img.schema.context.0,
            self.img.schema.context.1,
        );
        record(
            &mut lines,
            "evidence",
            self.img.schema.evidence.0,
            self.img.schema.evidence.1,
        );
        for e in &self.img.schema.entities {
            let en = self.string(e.name);
            for (role, fields) in [("principal", &e.as_principal), ("resource", &e.as_resource)] {
                for f in fields {
                    lines.push((
                        f.slot,
                        format!(
                            "{role}<{en}>.{}: {}",
                            self.string(f.name),
                            self.show_type(&f.ty)
                        ),
                    ));
                }
            }
        }
        lines.sort();
        for (slot, text) in lines {
            let _ = writeln!(out, "  @{slot:<4} {text}");
        }
        if !self.img.consts.is_empty() {
            let _ = writeln!(out, "\nconstants:");
            for (i, c) in self.img.consts.iter().enumerate() {
                let _ = writeln!(out, "  k{i:<4} {}", self.show_val(c));
            }
        }
        let _ = writeln!(out, "\nindex:");
        for e in &self.img.index {
            let scope = if e.scope == 0 {
                "global".to_string()
            } else {
                self.img
                    .tasks
                    .get(e.scope as usize - 1)
                    .map_or("?".into(), |t| self.string(t.name).to_string())
            };
            let action = self
                .img
                .actions
                .get(e.action as usize)
                .map_or("?", |a| self.string(a.name));
            let ids = |r: (u32, u32)| {
                self.index_slice(r)
                    .iter()
                    .map(|i| format!("#{i}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let _ = writeln!(
                out,
                "  ({scope}, {action}) guards [{}] permits [{}]",
                ids(e.guards),
                ids(e.permits)
            );
        }
        for (ri, r) in self.img.rules.iter().enumerate() {
            let kind = if r.forbid { "forbid" } else { "permit" };
            let task = r
                .task
                .and_then(|t| self.img.tasks.get(t as usize))
                .map_or("standing".to_string(), |t| {
                    format!("task {}", self.string(t.name))
                });
            let ttl = r.ttl.map_or(String::new(), |t| {
                format!(", ttl {}", crate::value::Duration(t))
            });
            let _ = writeln!(
                out,
                "\nrule #{ri} {} ({kind}, {task}{ttl}) at {}",
                self.string(r.id),
                self.show_span(&r.span)
            );
            let mut blocks: Vec<(String, crate::bundle::Block)> = Vec::new();
            if let Some(b) = r.when {
                blocks.push(("when".into(), b));
            }
            if let Some(b) = r.unless {
                blocks.push(("unless".into(), b));
            }
            for (b, label) in &r.requires {
                blocks.push((format!("require {:?}", self.string(*label)), *b));
            }
            for (title, b) in blocks {
                let _ = writeln!(out, "  {title}:");
                let end = b
                    .start
                    .saturating_add(b.len)
                    .min(self.img.code.len() as u32);
                for pc in b.start..end {
                    let Some(instr) = self.img.code.get(pc as usize) else {
                        continue;
                    };
                    let text = instr.disassemble(&|i, name, v| self.describe(i, name, v));
                    let span = self.img.spans.get(pc as usize).copied().unwrap_or_default();
                    let src = source
                        .and_then(|f| f(span.file))
                        .and_then(|t| {
                            t.get(span.start as usize..span.end as usize)
                                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                        })
                        .map(|s| {
                            if s.chars().count() > 40 {
                                format!("{}…", s.chars().take(39).collect::<String>())
                            } else {
                                s
                            }
                        })
                        .map_or(String::new(), |s| format!("  `{s}`"));
                    let _ = writeln!(
                        out,
                        "    {:>4}  {text:<56} ; {}:{}{src}",
                        pc - b.start,
                        span.line,
                        span.col
                    );
                }
            }
        }
        out
    }

    fn describe(&self, instr: &Instr, name: &str, v: u32) -> Option<String> {
        match (instr, name) {
            (_, "k") => self.img.consts.get(v as usize).map(|c| self.show_val(c)),
            (Instr::Cmp { .. } | Instr::CmpSlotConst { .. }, "op") => {
                cmp::SYMBOLS.get(v as usize).map(|s| s.to_string())
            }
            (Instr::Method { .. }, "m") => method::NAMES.get(v as usize).map(|s| s.to_string()),
            (Instr::Like { .. }, "p") => self
                .img
                .patterns
                .get(v as usize)
                .map(|p| {
                    p.iter()
                        .map(|s| self.string(*s))
                        .collect::<Vec<_>>()
                        .join("*")
                })
                .map(|s| format!("{s:?}")),
            (_, "off") if instr.jump().is_some() => None,
            _ => None,
        }
    }
}
